"""How well a trained success model validated, and whether that is good enough to serve it (the skill gate).

Two evaluations, both out of sample:

* **Shuffled K-fold** (``ml.training.cross_validate``): every project is predicted by a model trained on the other
  folds. It says how well the model interpolates within the history it has.
* **Forward in time** (``forward_splits``): projects are ordered by completion date; the latest
  ``forward_fraction`` of them are cut into ``forward_blocks`` consecutive blocks, and each block is predicted by a
  model trained only on projects completed *before* the block's first completion date. This is how the model is
  used — trained on the past, asked about the future — so drift over time shows up here and not in shuffled folds.
  The gate, promotion and the hyperparameter search use the forward figures.

**Skill gate.** For the evaluated projects i, with the model's prediction p_i and the baseline's b_i (the mean
success of the projects the model was trained on), let

    d_i = (1 − m) · |y_i − b_i| − |y_i − p_i|,    m = ``margin`` (0.05)

A model is served only when mean(d) > 0 with a one-sided paired t-test at level ``alpha`` (0.05): its validated
MAE is significantly below (1 − m) × the baseline's MAE on the same projects (a Diebold–Mariano-style comparison of
per-project absolute errors, without an autocorrelation correction because the errors belong to different
projects). ``skill = 1 − MAE / baseline MAE`` is reported with it and enters the confidence of every prediction.

**Learning curve.** On the last forward split, models are trained on seeded random subsets of growing size of the
projects before the split, and scored on the projects after it. A least-squares line of skill against
log(training size), with the noise of the per-project comparison, extrapolates how many completed projects the gate
would probably need (``projects_needed``) — a rough indication, and none when the curve does not rise.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

SKILL_MARGIN = 0.05
SKILL_ALPHA = 0.05


@dataclass(frozen=True)
class Gate:
    evaluation: str  # "forward" or "cv"
    n: int
    mae: float
    baseline_mae: float
    skill: float
    p_value: float
    margin: float
    alpha: float
    passed: bool
    spread: float = float("nan")  # sd of d_i / baseline MAE: how noisy the per-project comparison is

    def to_dict(self) -> dict:
        """JSON-ready (PostgreSQL's jsonb has no NaN: unknown figures are None)."""
        return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in asdict(self).items()}


def skill_gate(
    y: np.ndarray,
    predicted: np.ndarray,
    baseline: np.ndarray,
    *,
    evaluation: str,
    margin: float = SKILL_MARGIN,
    alpha: float = SKILL_ALPHA,
) -> Gate:
    """The gate on the projects where all three arrays are known (see the module docstring)."""
    y, predicted, baseline = (np.asarray(a, dtype=np.float64) for a in (y, predicted, baseline))
    known = ~(np.isnan(y) | np.isnan(predicted) | np.isnan(baseline))
    y, predicted, baseline = y[known], predicted[known], baseline[known]
    n = len(y)
    if n < 3:
        return Gate(evaluation, n, float("nan"), float("nan"), 0.0, 1.0, margin, alpha, False)
    model_err, base_err = np.abs(y - predicted), np.abs(y - baseline)
    mae, base_mae = float(model_err.mean()), float(base_err.mean())
    d = (1 - margin) * base_err - model_err
    if np.allclose(d, d[0]):
        p_value = 0.0 if d[0] > 0 else 1.0
    else:
        p_value = float(stats.ttest_1samp(d, 0.0, alternative="greater").pvalue)
    skill = 1 - mae / base_mae if base_mae > 0 else 0.0
    spread = float(d.std(ddof=1) / base_mae) if base_mae > 0 else float("nan")
    return Gate(evaluation, n, mae, base_mae, float(skill), p_value, margin, alpha, bool(p_value < alpha), spread)


def forward_splits(
    completed_on: np.ndarray, *, blocks: int = 3, fraction: float = 0.5, min_train: int = 10
) -> list[tuple]:
    """(train rows, test rows) per forward block; rows ordered by completion day (unknown days last, then by row).

    A block's training rows are those completed strictly before the block's first day, so two projects completed
    the same day are never on both sides. Blocks with fewer than ``min_train`` earlier projects are left out."""
    n = len(completed_on)
    day = np.where(np.isnan(completed_on), np.inf, completed_on)
    order = np.lexsort((np.arange(n), day))
    start = round(n * (1 - fraction))
    bounds = np.linspace(start, n, blocks + 1).round().astype(int)
    splits = []
    for lo, hi in itertools.pairwise(bounds):
        test = order[lo:hi]
        if len(test) == 0:
            continue
        first = day[test].min()
        train = np.flatnonzero(day < first) if np.isfinite(first) else order[:lo]
        if len(train) >= min_train:
            splits.append((np.sort(train), np.sort(test)))
    return splits


def learning_curve_sizes(n_train: int, points: int = 4, minimum: int = 15) -> list[int]:
    """Training sizes for the learning curve: ``points`` sizes from a quarter of the history up to all of it."""
    if n_train < minimum:
        return [n_train] if n_train >= 2 else []
    sizes = np.unique(np.linspace(max(minimum, n_train // 4), n_train, points).round().astype(int))
    return [int(s) for s in sizes]


def projects_needed(curve: list[dict], gate: dict, *, n_total: int, n_train: int, fraction: float) -> dict:
    """How many more completed projects would probably let the model pass the gate.

    The learning curve gives skill(s) ≈ a + b·log s for s training projects. With N completed projects the last
    forward split trains on about N·(n_train / n_total) of them and the forward evaluation tests about N·fraction,
    so the gate's t-statistic is about (skill − margin) / spread · √(N·fraction). The answer is the smallest N that
    brings it to the one-sided critical value (searched up to 20 × today's projects). Returns ``{"more_projects":
    int | None, "reason": str}``; 0 when the gate is passed; None with the reason when the curve does not rise or
    the estimate is beyond 20 ×. A rough guide, not a promise."""
    if gate.get("passed"):
        return {"more_projects": 0, "reason": "the model passes the skill gate"}
    points = [(c["size"], c["skill"]) for c in curve if c.get("skill") is not None and np.isfinite(c["skill"])]
    spread = gate.get("spread")
    if len(points) < 2 or spread is None or not np.isfinite(spread) or spread <= 0:
        return {"more_projects": None, "reason": "too few points on the learning curve to extrapolate"}
    sizes, skills = np.array(points, dtype=float).T
    b, a = np.polyfit(np.log(sizes), skills, 1)
    margin, alpha = gate.get("margin", SKILL_MARGIN), gate.get("alpha", SKILL_ALPHA)
    critical = stats.norm.ppf(1 - alpha)
    share = n_train / max(n_total, 1)
    for total in np.unique(np.geomspace(n_total + 1, 20 * max(n_total, 1), 200).round().astype(int)):
        skill = a + b * np.log(max(total * share, 1.0))
        if (skill - margin) / spread * np.sqrt(total * fraction) >= critical:
            return {
                "more_projects": int(total - n_total),
                "reason": "extrapolated from the learning curve (skill against log of training size); a rough guide",
            }
    if b <= 1e-6:
        return {"more_projects": None, "reason": "validated skill does not rise with more training projects"}
    return {"more_projects": None, "reason": "more than 20 times today's completed projects, by the learning curve"}
