"""Effects of using an artifact on success, adjusted for the other features, with an honest interval.

These are **observational estimates**: computed from which projects happened to use what, not from an experiment.
They adjust for everything the model sees (team, seniority, complexity, problem class, other artifacts, similar
projects' success, tenant attributes); a reason for success the data does not record can still bias them.

Method: double machine learning, partially linear model (Chernozhukov et al., 2018, "partialling out"). For an
artifact a with treatment T (1 when the project used it) and covariates W (every other feature: a's own indicator is
removed and its type count reduced by T), the model is y = θ·T + g(W) + ε. With K-fold cross-fitting (every
nuisance prediction for a project comes from models fitted without its fold):

* outcome: one LightGBM model ĝ(T, W) of success on all features per fold, evaluated with a's use switched on and
  off, gives m̂(W) = ê(W)·ĝ(1, W) + (1 − ê(W))·ĝ(0, W), an estimate of E[y | W];
* propensity: ê(W) = P(T = 1 | W), a regularised logistic regression per artifact and fold, clipped to
  [0.02, 0.98];
* θ̂ = Σ (T − ê)(y − m̂) / Σ (T − ê)², with the standard error from its influence function
  ψ = (y − m̂ − θ̂(T − ê))(T − ê) / mean((T − ê)²): SE = sd(ψ) / √n, 95 % interval θ̂ ± 1.96 · SE.

An artifact whose interval includes zero has **no clear effect**: it is not suggested. The interval's coverage is
checked on repeated synthetic datasets with a known effect (``tests/recommendations/test_effects.py``;
full strength in ``bench/effects_coverage.py``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats
from sklearn.linear_model import LogisticRegression

Z_95 = 1.959963984540054
PROPENSITY_CLIP = 0.02
OBSERVATIONAL = "observational estimate"


@dataclass
class Effect:
    artifact_id: int
    status: str  # "ok" | "insufficient_usage"
    n: int
    n_treated: int
    estimate: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    se: float | None = None
    verdict: str = "no clear effect"  # "helps" | "hurts" | "no clear effect"
    method: str = "double machine learning (partially linear, cross-fitted)"
    label: str = OBSERVATIONAL

    def to_dict(self) -> dict:
        return asdict(self)


def verdict(ci_low: float | None, ci_high: float | None) -> str:
    if ci_low is not None and ci_low > 0:
        return "helps"
    if ci_high is not None and ci_high < 0:
        return "hurts"
    return "no clear effect"


def _design(W: np.ndarray, categorical: list[int]) -> np.ndarray:
    """Covariates for the logistic propensity: missing values mean-filled with a missing flag, categorical columns
    one-hot, everything standardised."""
    parts = []
    for j in range(W.shape[1]):
        col = W[:, j]
        missing = np.isnan(col)
        if j in categorical:
            codes = np.where(missing, -1, col).astype(int)
            parts += [(codes == c).astype(float)[:, None] for c in np.unique(codes)]
            continue
        filled = np.where(missing, np.nanmean(col) if (~missing).any() else 0.0, col)
        parts.append(filled[:, None])
        if missing.any() and not missing.all():
            parts.append(missing.astype(float)[:, None])
    Z = np.hstack(parts) if parts else np.zeros((W.shape[0], 1))
    sd = Z.std(axis=0)
    keep = sd > 1e-12
    Z = Z[:, keep]
    return (Z - Z.mean(axis=0)) / Z.std(axis=0) if Z.shape[1] else np.zeros((W.shape[0], 1))


def plr(y: np.ndarray, t: np.ndarray, m_hat: np.ndarray, e_hat: np.ndarray) -> tuple[float, float]:
    """(θ̂, SE) of the partially linear model from cross-fitted nuisances."""
    t_res = t - e_hat
    y_res = y - m_hat
    j = float(np.mean(t_res**2))
    theta = float(np.sum(t_res * y_res) / np.sum(t_res**2))
    psi = (y_res - theta * t_res) * t_res / j
    return theta, float(np.std(psi, ddof=1) / np.sqrt(len(y)))


@dataclass
class Treatment:
    """How using artifact ``artifact_id`` shows in the feature matrix."""

    artifact_id: int
    used: np.ndarray  # bool per row
    indicator_col: int | None
    type_col: int | None


def switched(X: np.ndarray, tr: Treatment, value: int, used: np.ndarray | None = None) -> np.ndarray:
    """``X`` with the artifact's use set to ``value`` for every row (indicator and type count); ``used``: the
    treatment of ``X``'s rows when ``X`` is a subset of the rows."""
    used = tr.used if used is None else used
    out = X.copy()
    if tr.indicator_col is not None:
        out[:, tr.indicator_col] = value
    if tr.type_col is not None:
        out[:, tr.type_col] = X[:, tr.type_col] - used + value
    return out


def covariates(X: np.ndarray, tr: Treatment) -> np.ndarray:
    """W: every feature but the artifact's own indicator, with its type count not counting it."""
    W = switched(X, tr, 0)
    return np.delete(W, tr.indicator_col, axis=1) if tr.indicator_col is not None else W


def estimate_effects(
    X: np.ndarray,
    y: np.ndarray,
    treatments: list[Treatment],
    *,
    fit_outcome,
    categorical: list[int],
    folds: int = 5,
    seed: int = 0,
    min_usage: int = 5,
) -> list[Effect]:
    """Cross-fitted PLR effect of each treatment (module docstring). ``fit_outcome(X, y) -> predict(X)`` fits the
    outcome model on the full feature matrix (the success model's settings). Treatments used by fewer than
    ``min_usage`` projects, or by all but fewer than ``min_usage``, get ``insufficient_usage``."""
    n = len(y)
    rng = np.random.default_rng(seed)
    fold_of = np.empty(n, dtype=np.int64)
    fold_of[rng.permutation(n)] = np.arange(n) % folds
    measurable = [tr for tr in treatments if min_usage <= int(tr.used.sum()) <= n - min_usage]
    g1 = {tr.artifact_id: np.full(n, np.nan) for tr in measurable}
    g0 = {tr.artifact_id: np.full(n, np.nan) for tr in measurable}
    e_hat = {tr.artifact_id: np.full(n, np.nan) for tr in measurable}
    categorical_w = {tr.artifact_id: _categorical_after(categorical, tr.indicator_col) for tr in measurable}
    designs = {tr.artifact_id: _design(covariates(X, tr), categorical_w[tr.artifact_id]) for tr in measurable}
    for k in range(folds):
        train, test = fold_of != k, fold_of == k
        if not measurable or train.sum() < 2 or test.sum() == 0:
            continue
        predict = fit_outcome(X[train], y[train])
        for tr in measurable:
            aid = tr.artifact_id
            g1[aid][test] = predict(switched(X[test], tr, 1, tr.used[test]))
            g0[aid][test] = predict(switched(X[test], tr, 0, tr.used[test]))
            t_train = tr.used[train]
            if t_train.all() or not t_train.any():
                e_hat[aid][test] = float(t_train.mean())
                continue
            model = LogisticRegression(C=1.0, max_iter=500)
            model.fit(designs[aid][train], t_train)
            e_hat[aid][test] = model.predict_proba(designs[aid][test])[:, 1]
    out = []
    for tr in treatments:
        aid, n_treated = tr.artifact_id, int(tr.used.sum())
        if tr not in measurable:
            out.append(Effect(aid, "insufficient_usage", n, n_treated))
            continue
        e = np.clip(e_hat[aid], PROPENSITY_CLIP, 1 - PROPENSITY_CLIP)
        m = e * g1[aid] + (1 - e) * g0[aid]
        theta, se = plr(y, tr.used.astype(float), m, e)
        low, high = theta - Z_95 * se, theta + Z_95 * se
        out.append(Effect(aid, "ok", n, n_treated, theta, low, high, se, verdict(low, high)))
    return out


def _categorical_after(categorical: list[int], removed: int | None) -> list[int]:
    if removed is None:
        return list(categorical)
    return [c - 1 if c > removed else c for c in categorical if c != removed]


def refit_interval(full: float, refits: list[float], level: float = 0.95) -> tuple[float, float] | None:
    """A confidence interval for a model-based difference (e.g. a suggested team against the proposed one) from the
    same difference under the K cross-validation refits of the model (each on all but one fold): the delete-a-group
    jackknife variance (K − 1)/K · Σ (θ_k − θ̄)², and ``full`` ± t(K − 1) · its square root. None without refits."""
    k = len(refits)
    if k < 2:
        return None
    values = np.asarray(refits, dtype=np.float64)
    se = float(np.sqrt((k - 1) / k * np.sum((values - values.mean()) ** 2)))
    half = float(stats.t.ppf(0.5 + level / 2, k - 1)) * se
    return full - half, full + half
