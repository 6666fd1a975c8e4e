"""Time of one training (``ml.training.train``: point and quantile boosters, K-fold CV, forward evaluation, skill
gate, learning curve, hyperparameter search) on demo projects, without the database or the embedding model (random
unit vectors stand in for the spec embeddings; the neighbour search costs the same).

    .venv/bin/python bench/training_time.py [--projects 10000] [--search-seconds 8]

It measures the part of a retraining that issue 21 made heavier; bench/recommendations.py measures the whole run.
For the code before a change, run it with ``PYTHONPATH`` pointing at an export of the older ``apps/`` (it adapts to
the older ``TrainingSet``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import fields
from pathlib import Path

if not os.environ.get("PYTHONPATH"):  # with it set (an older apps/ export), measure that code instead
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from apps.recommendations.demo.generate import CATALOG, generate
from apps.recommendations.ml.features import Member, ProjectInput
from apps.recommendations.ml.training import TrainingConfig, TrainingSet, train


def training_set(n: int) -> TrainingSet:
    projects = [p for p in generate(int(n * 1.3), seed=5) if p.status == "completed"][:n]
    inputs = [
        ProjectInput(p.problem_class, float(p.complexity), float((p.target_end_date - p.start_date).days),
                     tuple(Member(m.role, m.level, m.years, m.hours) for m in p.members),
                     tuple((a + 1, CATALOG[a].type) for a, _ in p.artifacts))
        for p in projects
    ]  # fmt: skip
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(len(projects), 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    m = len(projects)
    extra = {}
    if "completed_on" in {f.name for f in fields(TrainingSet)}:  # absent before issue 21 (for --before runs)
        extra["completed_on"] = np.array([p.completion_date.toordinal() for p in projects], float)
    return TrainingSet(
        project_ids=np.arange(1, m + 1), inputs=inputs, embeddings=vectors, has_embedding=np.ones(m, bool),
        success=np.array([p.success for p in projects]), duration_days=np.full(m, np.nan),
        compute_cost=np.array([p.compute_cost for p in projects]), **extra,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--projects", type=int, default=10000)
    parser.add_argument("--search-seconds", type=float, default=8.0)
    args = parser.parse_args()
    ts = training_set(args.projects)
    started = time.perf_counter()
    cfg = TrainingConfig(search_seconds=args.search_seconds) if hasattr(TrainingConfig, "search_seconds") else None
    bundle = train(ts, cfg or TrainingConfig())
    total = time.perf_counter() - started
    validation = getattr(bundle, "validation", {})
    search = validation.get("search", {})
    print(f"command: python bench/training_time.py --projects {args.projects} --search-seconds {args.search_seconds}")
    print(f"host: {os.cpu_count()} CPUs, load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("| projects | train() s | of which search s | settings tried | grid completed | forward MAE | gate |")
    print("|---|---|---|---|---|---|---|")
    gate = validation.get("gate")
    shown = f"{gate['mae']:.2f} | {'passed' if gate['passed'] else 'failed'}" if gate else "— | — (no gate)"
    print(f"| {len(ts)} | {total:.1f} | {search.get('seconds', 0):.1f} | {len(search.get('results', []))} | "
          f"{search.get('completed', '—')} | {shown} |")  # fmt: skip


if __name__ == "__main__":
    main()
