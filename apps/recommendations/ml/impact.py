"""Artifact impact: how much using an artifact moves predicted success, and what the data shows directly.

For an artifact a of type T, and a training project p that used it, the artifact's contribution to p's predicted
success is

    c_a(p) = φ_p[artifact_a] + φ_p[artifacts_T] / n_T(p)

where φ_p are the success model's per-feature SHAP contributions for p (LightGBM ``pred_contrib``),
``artifact_a`` is a's indicator feature (present only for the tenant's most-used artifacts) and ``artifacts_T`` the
count of type-T artifacts p used, shared equally among its n_T(p) artifacts of that type.

* ``impact`` = mean of c_a(p) over the n projects that used a, with a 95 % bootstrap confidence interval
  (percentile method, ``scipy.stats.bootstrap``, 2,000 resamples, seeded from the artifact id so reruns agree).
  The interval describes how the contribution varies across the using projects (the model held fixed), not the
  model's own uncertainty; ``observed_lift`` is the model-free check.
* ``observed_lift`` = the success difference between users and *comparable* non-users: within each problem class
  that has both, mean(success | used) − mean(success | not used), averaged with the users per class as weights.
  ``comparable_n`` counts the non-users in those classes. Its 95 % interval is a stratified bootstrap (users and
  non-users resampled separately within each class that has at least two of each).
* With fewer than ``min_usage`` using projects there is no number: status ``insufficient_usage``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from apps.recommendations.ml.features import FeatureSpace, ProjectInput

BOOTSTRAP_RESAMPLES = 2000
CONFIDENCE_LEVEL = 0.95


@dataclass
class ImpactResult:
    artifact_id: int
    status: str  # "ok" | "insufficient_usage"
    n_projects: int
    impact: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    observed_lift: float | None = None
    lift_ci_low: float | None = None
    lift_ci_high: float | None = None
    comparable_n: int = 0
    has_indicator: bool = False


@dataclass
class Usage:
    """Who used what, computed once for all artifacts: rows per artifact, per-row counts per type, strata."""

    rows_of: dict[int, np.ndarray]
    type_count: dict[str, np.ndarray]
    strata: np.ndarray

    @classmethod
    def of(cls, inputs: list[ProjectInput]) -> Usage:
        rows_of: dict[int, list[int]] = {}
        type_count: dict[str, np.ndarray] = {}
        for r, p in enumerate(inputs):
            for aid, atype in dict(p.artifacts).items():
                rows_of.setdefault(aid, []).append(r)
                type_count.setdefault(atype, np.zeros(len(inputs)))[r] += 1
        return cls(
            rows_of={a: np.asarray(rows, dtype=np.int64) for a, rows in rows_of.items()},
            type_count=type_count,
            strata=np.array([p.problem_class for p in inputs]),
        )


def contributions_for(
    space: FeatureSpace, usage: Usage, contribs: np.ndarray, artifact_id: int, artifact_type: str
) -> tuple[np.ndarray, np.ndarray]:
    """(rows of projects using the artifact, c_a(p) for each of them)."""
    rows = usage.rows_of.get(artifact_id, np.zeros(0, dtype=np.int64))
    values = np.zeros(len(rows))
    ind = space.indicator_col(artifact_id)
    tcol = space.type_col(artifact_type)
    if ind is not None:
        values += contribs[rows, ind]
    if tcol is not None and len(rows):
        values += contribs[rows, tcol] / np.maximum(usage.type_count[artifact_type][rows], 1)
    return rows, values


def bootstrap_ci(values: np.ndarray, seed: int) -> tuple[float, float]:
    if len(values) < 2 or np.allclose(values, values[0]):
        v = float(values[0]) if len(values) else float("nan")
        return v, v
    result = stats.bootstrap(
        (values,),
        np.mean,
        confidence_level=CONFIDENCE_LEVEL,
        n_resamples=BOOTSTRAP_RESAMPLES,
        method="percentile",
        rng=np.random.default_rng(seed),
        vectorized=True,
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def lift_ci(success: np.ndarray, used: np.ndarray, strata: np.ndarray, seed: int) -> tuple[float | None, float | None]:
    samples, weights = [], []
    for s in np.unique(strata):
        users, others = success[(strata == s) & used], success[(strata == s) & ~used]
        if len(users) >= 2 and len(others) >= 2:
            samples += [users, others]
            weights.append(len(users))
    if not samples:
        return None, None
    w = np.asarray(weights, dtype=float) / sum(weights)

    def statistic(*groups, axis=-1):
        diffs = [groups[2 * i].mean(axis=axis) - groups[2 * i + 1].mean(axis=axis) for i in range(len(w))]
        return sum(wi * d for wi, d in zip(w, diffs, strict=True))

    result = stats.bootstrap(
        tuple(samples),
        statistic,
        confidence_level=CONFIDENCE_LEVEL,
        n_resamples=BOOTSTRAP_RESAMPLES,
        method="percentile",
        rng=np.random.default_rng(seed),
        vectorized=True,
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def observed_lift(success: np.ndarray, used: np.ndarray, strata: np.ndarray) -> tuple[float | None, int]:
    diffs, weights, comparable = [], [], 0
    for s in np.unique(strata):
        in_s = strata == s
        users, others = success[in_s & used], success[in_s & ~used]
        if len(users) and len(others):
            diffs.append(users.mean() - others.mean())
            weights.append(len(users))
            comparable += len(others)
    if not diffs:
        return None, 0
    return float(np.average(diffs, weights=weights)), comparable


def artifact_impact(
    *,
    space: FeatureSpace,
    inputs: list[ProjectInput],
    contribs: np.ndarray,
    success: np.ndarray,
    artifact_id: int,
    artifact_type: str,
    min_usage: int,
    usage: Usage | None = None,
) -> ImpactResult:
    usage = usage or Usage.of(inputs)
    rows, values = contributions_for(space, usage, contribs, artifact_id, artifact_type)
    result = ImpactResult(
        artifact_id=artifact_id,
        status="insufficient_usage",
        n_projects=len(rows),
        has_indicator=space.indicator_col(artifact_id) is not None,
    )
    if len(rows) < min_usage:
        return result
    used = np.zeros(len(inputs), dtype=bool)
    used[rows] = True
    strata = usage.strata
    result.status = "ok"
    result.impact = float(values.mean())
    result.ci_low, result.ci_high = bootstrap_ci(values, seed=artifact_id)
    result.observed_lift, result.comparable_n = observed_lift(success, used, strata)
    result.lift_ci_low, result.lift_ci_high = lift_ci(success, used, strata, seed=artifact_id)
    return result
