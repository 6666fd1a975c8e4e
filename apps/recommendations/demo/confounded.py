"""Synthetic projects with confounded artifact use and known effects (pure NumPy; no database).

Senior teams succeed for their own reasons (+6 points per senior of three members) and are also the ones most
likely to use both artifacts (P(use) = logistic(−2.2 + 1.4 · seniors)). ``NULL`` has no effect at all; ``HELPFUL``
adds ``help_effect`` points. A method that does not adjust for the team credits ``NULL`` with the seniors' success.
Used by ``tests/recommendations/test_effects.py`` and ``bench/effects_coverage.py``.
"""

from __future__ import annotations

import numpy as np

from apps.recommendations.ml.features import Member, ProjectInput

NULL, HELPFUL = 1, 2  # artifact ids
ARTIFACTS = ((NULL, "dataset"), (HELPFUL, "feature_pipeline"))
NOISE_SD = 4.0


def generate(rng: np.random.Generator, n: int = 400, help_effect: float = 6.0) -> tuple[list[ProjectInput], np.ndarray]:
    inputs, success = [], []
    for _ in range(n):
        seniors = int(rng.integers(0, 4))
        members = (Member("ml_engineer", "senior", 8, 100),) * seniors + (Member("analyst", "junior", 1, 100),) * (
            3 - seniors
        )
        p = 1 / (1 + np.exp(-(-2.2 + 1.4 * seniors)))
        artifacts = tuple((aid, atype) for aid, atype in ARTIFACTS if rng.random() < p)
        inputs.append(ProjectInput("classification", float(rng.integers(10, 90)), 100.0, members, artifacts))
        helped = any(a == HELPFUL for a, _ in artifacts)
        success.append(50 + 6 * seniors + (help_effect if helped else 0.0) + rng.normal(0, NOISE_SD))
    return inputs, np.array(success)
