"""Benchmark: delivery metrics computed from plain rows (apps.integrations.metrics.compute), the code path behind
GET /api/v1/projects/{id}/delivery-metrics and delivery_features(), without the database.

    .venv/bin/python bench/integrations_metrics.py [--repeat 5]

Prints one row per data size: commits, pull requests and CI runs in a 90-day period, and the median time of
compute() over --repeat runs. Synthetic data from a seeded generator (a benchmark, not a computation claim).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from apps.integrations.metrics import CiRunRow, CommitRow, MetricConfig, ProjectData, PullRequestRow, compute

START = datetime(2026, 1, 5, tzinfo=UTC)
PERIOD = timedelta(days=90)


def synthetic(commits: int, prs: int, runs: int, seed: int = 7) -> ProjectData:
    rng = random.Random(seed)
    files = [f"src/module_{i}.py" for i in range(max(commits // 20, 10))]
    authors = [f"dev{i}@acme.test" for i in range(12)]

    def moment():
        return (
            START
            - timedelta(days=21)
            + timedelta(seconds=rng.uniform(0, (PERIOD + timedelta(days=21)).total_seconds()))
        )

    rows = [
        CommitRow(
            sha=f"{i:040x}", author_key=rng.choice(authors), author_name="Dev", authored_at=moment(),
            added=tuple(rng.sample(files, 1)) if rng.random() < 0.2 else (),
            modified=tuple(rng.sample(files, rng.randint(1, 4))), is_revert=rng.random() < 0.02,
        )
        for i in range(commits)
    ]  # fmt: skip
    pulls = []
    for _ in range(prs):
        opened = moment()
        pulls.append(
            PullRequestRow(
                opened, opened + timedelta(hours=rng.uniform(1, 200)), opened + timedelta(hours=rng.uniform(0.2, 48))
            )
        )
    ci = [
        CiRunRow("success" if rng.random() < 0.8 else "failure", moment(), rng.uniform(60, 1800)) for _ in range(runs)
    ]
    return ProjectData(observed_since=START - timedelta(days=365), commits=rows, pull_requests=pulls, ci_runs=ci)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"{'commits':>8} {'PRs':>6} {'CI runs':>8} {'median ms':>10} {'max ms':>8}")
    for commits, prs, runs in [(500, 50, 200), (5_000, 500, 2_000), (50_000, 5_000, 20_000)]:
        data = synthetic(commits, prs, runs)
        timings = []
        for _ in range(args.repeat):
            began = time.perf_counter()
            compute(data, start=START, end=START + PERIOD, now=START + PERIOD, config=MetricConfig())
            timings.append((time.perf_counter() - began) * 1000)
        print(f"{commits:>8} {prs:>6} {runs:>8} {statistics.median(timings):>10.1f} {max(timings):>8.1f}", flush=True)


if __name__ == "__main__":
    main()
