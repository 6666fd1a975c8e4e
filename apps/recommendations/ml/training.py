"""Training the success model: LightGBM point and quantile models per target, with K-fold cross-validation.

Targets: ``success`` (success_score, 0–100; every training project has it), ``duration_days`` (completion − start,
where both dates are known) and ``compute_cost`` (where known; modelled as log1p(cost) because costs are
heavy-tailed, reported in currency units). A target with fewer than ``min_target_samples`` known values gets no model.

For each target three boosters are trained on the same features (``ml.features``): the point model (L2 loss) and
the 10 % and 90 % quantile models (pinball loss), which give an 80 % prediction interval.

Cross-validation (K folds, shuffled, fixed seed) is nested around the ``neighbor_success`` feature: inside each
fold the feature of the fold's training rows is computed out of fold *within those training rows*, and the
validation rows only see the fold's training rows (``ml.neighbors``). CV reports, on the pooled out-of-fold
predictions: MAE, R², the MAE of the mean baseline (predicting the training fold's mean), and for ``success`` the
share of actual values inside the raw [10 %, 90 %] interval. Quantile boosters trained on a few hundred projects
tend to give too narrow intervals, so the success interval is calibrated on those out-of-fold predictions by
conformalized quantile regression (``conformal_adjustment``); the adjustment is stored with the model and applied to
every prediction.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
from sklearn.metrics import mean_absolute_error, r2_score

from apps.recommendations.ml import neighbors as nb
from apps.recommendations.ml.features import LEVELS, FeatureSpace, ProjectInput

TARGETS = ("success", "duration_days", "compute_cost")
TRANSFORMS = {"success": "identity", "duration_days": "identity", "compute_cost": "log1p"}
QUANTILES = (0.1, 0.9)
FORMAT_VERSION = 1


@dataclass
class TrainingConfig:
    folds: int = 5
    seed: int = 20240601
    k_neighbors: int = nb.DEFAULT_K
    num_threads: int = 1
    num_boost_round: int = 400
    learning_rate: float = 0.04
    num_leaves: int = 6
    min_target_samples: int = 30
    max_indicator_artifacts: int = 40
    min_indicator_usage: int = 5

    def lgb_params(self, n_rows: int, objective: str = "regression", alpha: float | None = None) -> dict:
        params = {
            "objective": objective,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": int(max(3, min(20, n_rows // 20))),
            "min_data_per_group": int(max(3, min(20, n_rows // 20))),
            "cat_smooth": 5.0,
            "feature_fraction": 0.9,
            "bagging_fraction": 0.9,
            "bagging_freq": 1,
            "lambda_l2": 1.0,
            "max_bin": 63,
            "seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": self.num_threads,
            "verbose": -1,
        }
        if alpha is not None:
            params["alpha"] = alpha
        return params


@dataclass
class TrainingSet:
    """Completed projects with their features' raw inputs, spec embeddings and targets (aligned arrays)."""

    project_ids: np.ndarray
    inputs: list[ProjectInput]
    embeddings: np.ndarray
    has_embedding: np.ndarray
    success: np.ndarray
    duration_days: np.ndarray
    compute_cost: np.ndarray
    delivery_names: tuple[str, ...] = ()  # optional delivery feature columns, in order (see ml.features)

    def __len__(self) -> int:
        return len(self.project_ids)

    def target(self, name: str) -> np.ndarray:
        return {"success": self.success, "duration_days": self.duration_days, "compute_cost": self.compute_cost}[name]

    def fingerprint_parts(self) -> list[np.ndarray]:
        return [self.project_ids, self.success, self.duration_days, self.compute_cost, self.has_embedding]


@dataclass
class TargetModel:
    name: str
    n_samples: int
    transform: str
    point: str
    lower: str
    upper: str
    cv: dict
    interval_adjustment: float = 0.0


@dataclass
class TrainedBundle:
    space: FeatureSpace
    targets: dict[str, TargetModel]
    importances: dict[str, float]
    metadata: dict
    pool_ids: np.ndarray
    pool_success: np.ndarray
    pool_artifacts: list[list[int]] = field(default_factory=list)
    skipped_targets: dict[str, dict] = field(default_factory=dict)
    training_seconds: float = 0.0

    def to_dict(self) -> dict:
        return {
            "format": FORMAT_VERSION,
            "space": self.space.to_dict(),
            "targets": {
                name: {
                    "n_samples": t.n_samples, "transform": t.transform, "point": t.point, "lower": t.lower,
                    "upper": t.upper, "cv": t.cv, "interval_adjustment": t.interval_adjustment,
                }
                for name, t in self.targets.items()
            },
            "skipped_targets": self.skipped_targets,
            "metadata": self.metadata,
            "pool_ids": [int(i) for i in self.pool_ids],
            "pool_success": [float(v) for v in self.pool_success],
            "pool_artifacts": self.pool_artifacts,
        }  # fmt: skip


def _forward(values: np.ndarray, transform: str) -> np.ndarray:
    return np.log1p(values) if transform == "log1p" else values


def inverse(values: np.ndarray, transform: str) -> np.ndarray:
    return np.expm1(values) if transform == "log1p" else values


def _fit(X, y, cfg: TrainingConfig, space: FeatureSpace, objective="regression", alpha=None) -> lgb.Booster:
    data = lgb.Dataset(
        X, label=y, feature_name=space.names, categorical_feature=space.categorical_cols, free_raw_data=True,
        params={"max_bin": 63, "verbose": -1},
    )  # fmt: skip
    return lgb.train(cfg.lgb_params(len(y), objective, alpha), data, num_boost_round=cfg.num_boost_round)


def _predict(booster: lgb.Booster, X: np.ndarray) -> np.ndarray:
    return booster.predict(X, num_threads=1)


def _neighbor_column(ts: TrainingSet, rows, pool_mask, groups, cfg, cands) -> np.ndarray:
    return nb.neighbor_success(
        ts.embeddings, ts.has_embedding, ts.success, rows=rows, pool=pool_mask, groups=groups, k=cfg.k_neighbors,
        cands=cands,
    )  # fmt: skip


def cross_validate(ts: TrainingSet, space: FeatureSpace, X_base: np.ndarray, cfg: TrainingConfig, cands) -> dict:
    """Nested out-of-fold CV for every target; returns {target: metrics}."""
    n = len(ts)
    outer = nb.oof_groups(n, cfg.folds, cfg.seed)
    oof = {t: np.full(n, np.nan) for t in TARGETS}
    base = {t: np.full(n, np.nan) for t in TARGETS}
    lower = np.full(n, np.nan)
    upper = np.full(n, np.nan)
    fold_mae: dict[str, list[float]] = {t: [] for t in TARGETS}
    # A fold trains on (folds - 1) / folds of the data, so it needs the same share of the final model's minimum:
    # with exactly min_target_samples known values every fold still gets a model and the CV has a result.
    fold_minimum = max(2, (cfg.min_target_samples * (cfg.folds - 1)) // cfg.folds)
    for fold in range(cfg.folds):
        train = np.flatnonzero(outer != fold)
        valid = np.flatnonzero(outer == fold)
        if len(valid) == 0:
            continue
        train_mask = np.zeros(n, dtype=bool)
        train_mask[train] = True
        inner = np.full(n, -1, dtype=np.int64)
        inner[train] = nb.oof_groups(len(train), cfg.folds, cfg.seed + 1 + fold)
        X = X_base.copy()
        X[train, space.neighbor_col] = _neighbor_column(ts, train, train_mask, inner, cfg, cands)
        X[valid, space.neighbor_col] = _neighbor_column(ts, valid, train_mask, None, cfg, cands)
        for target in TARGETS:
            y = ts.target(target)
            known_train = train[~np.isnan(y[train])]
            known_valid = valid[~np.isnan(y[valid])]
            if len(known_train) < fold_minimum or len(known_valid) == 0:
                continue
            transform = TRANSFORMS[target]
            y_fit = _forward(y[known_train], transform)
            booster = _fit(X[known_train], y_fit, cfg, space)
            oof[target][known_valid] = inverse(_predict(booster, X[known_valid]), transform)
            base[target][known_valid] = float(np.mean(y[known_train]))
            fold_mae[target].append(float(mean_absolute_error(y[known_valid], oof[target][known_valid])))
            if target == "success":
                lo = _fit(X[known_train], y_fit, cfg, space, "quantile", QUANTILES[0])
                hi = _fit(X[known_train], y_fit, cfg, space, "quantile", QUANTILES[1])
                lower[known_valid] = _predict(lo, X[known_valid])
                upper[known_valid] = _predict(hi, X[known_valid])
    metrics = {}
    for target in TARGETS:
        y = ts.target(target)
        done = ~np.isnan(oof[target]) & ~np.isnan(y)
        if done.sum() < 2:
            continue
        entry = {
            "folds": cfg.folds,
            "n": int(done.sum()),
            "mae": float(mean_absolute_error(y[done], oof[target][done])),
            "r2": float(r2_score(y[done], oof[target][done])),
            "baseline_mae": float(mean_absolute_error(y[done], base[target][done])),
            "fold_mae": fold_mae[target],
        }
        entry["mae_vs_baseline"] = entry["mae"] / entry["baseline_mae"] if entry["baseline_mae"] > 0 else None
        if target == "success":
            lo = np.minimum(lower[done], oof[target][done])
            hi = np.maximum(upper[done], oof[target][done])
            nominal = QUANTILES[1] - QUANTILES[0]
            adjustment = conformal_adjustment(y[done], lo, hi, nominal)
            entry["interval_nominal"] = nominal
            entry["interval_coverage_raw"] = float(np.mean((y[done] >= lo) & (y[done] <= hi)))
            entry["interval_adjustment"] = adjustment
            entry["interval_mean_width"] = float(np.mean(hi - lo) + 2 * adjustment)
        metrics[target] = entry
    return metrics


def conformal_adjustment(y: np.ndarray, lower: np.ndarray, upper: np.ndarray, nominal: float) -> float:
    """Conformalized quantile regression (Romano, Patterson & Candès, 2019): widen (or narrow) the quantile
    interval by the ⌈nominal·(n+1)⌉-th smallest out-of-fold conformity score max(lower − y, y − upper), so the
    calibrated interval [lower − a, upper + a] covers ``nominal`` of new outcomes."""
    scores = np.maximum(lower - y, y - upper)
    level = min(1.0, nominal * (1 + 1 / len(scores)))
    return float(np.quantile(scores, level, method="higher"))


def train(ts: TrainingSet, cfg: TrainingConfig | None = None) -> TrainedBundle:
    """Train every target's boosters on ``ts`` after cross-validating them."""
    cfg = cfg or TrainingConfig()
    started = time.perf_counter()
    n = len(ts)
    if n < max(cfg.folds, 2):
        raise ValueError(f"need at least {max(cfg.folds, 2)} training projects, have {n}")
    space = FeatureSpace.fit(
        ts.inputs, max_indicator_artifacts=cfg.max_indicator_artifacts, min_indicator_usage=cfg.min_indicator_usage,
        delivery_names=ts.delivery_names,
    )  # fmt: skip
    X = space.matrix(ts.inputs)
    cands = nb.candidates(ts.embeddings, ts.has_embedding)
    cv = cross_validate(ts, space, X, cfg, cands)

    groups = nb.oof_groups(n, cfg.folds, cfg.seed + 1000)
    X[:, space.neighbor_col] = _neighbor_column(ts, np.arange(n), np.ones(n, dtype=bool), groups, cfg, cands)
    targets: dict[str, TargetModel] = {}
    skipped: dict[str, dict] = {}
    importances: dict[str, float] = {}
    for target in TARGETS:
        y = ts.target(target)
        known = np.flatnonzero(~np.isnan(y))
        if len(known) < cfg.min_target_samples:
            skipped[target] = {"status": "insufficient_data", "have": len(known), "needed": cfg.min_target_samples}
            continue
        transform = TRANSFORMS[target]
        y_fit = _forward(y[known], transform)
        point = _fit(X[known], y_fit, cfg, space)
        lo = _fit(X[known], y_fit, cfg, space, "quantile", QUANTILES[0])
        hi = _fit(X[known], y_fit, cfg, space, "quantile", QUANTILES[1])
        targets[target] = TargetModel(
            name=target, n_samples=len(known), transform=transform, point=point.model_to_string(),
            lower=lo.model_to_string(), upper=hi.model_to_string(), cv=cv.get(target, {}),
            interval_adjustment=float(cv.get(target, {}).get("interval_adjustment", 0.0)),
        )  # fmt: skip
        if target == "success":
            gain = point.feature_importance(importance_type="gain")
            total = float(gain.sum()) or 1.0
            importances = {name: float(g) / total for name, g in zip(space.names, gain, strict=True)}

    metadata = _metadata(ts, cfg)
    return TrainedBundle(
        space=space, targets=targets, importances=importances, metadata=metadata, pool_ids=ts.project_ids.copy(),
        pool_success=ts.success.copy(), pool_artifacts=[sorted({a for a, _ in p.artifacts}) for p in ts.inputs],
        skipped_targets=skipped, training_seconds=time.perf_counter() - started,
    )  # fmt: skip


def _metadata(ts: TrainingSet, cfg: TrainingConfig) -> dict:
    """Statistics the predictor and the team search need: reference interval width, typical members."""
    q10, q90 = np.quantile(ts.success, [0.1, 0.9])
    members = [m for p in ts.inputs for m in p.members]
    years_by_level = {}
    for level in LEVELS:
        years = [m.years for m in members if m.level == level]
        years_by_level[level] = float(np.median(years)) if years else None
    hours = [m.hours for m in members]
    return {
        "n_samples": len(ts),
        "success_mean": float(np.mean(ts.success)),
        "success_q10": float(q10),
        "success_q90": float(q90),
        "reference_interval_width": float(max(q90 - q10, 1e-6)),
        "years_by_level": years_by_level,
        "median_member_hours": float(np.median(hours)) if hours else 0.0,
        "k_neighbors": cfg.k_neighbors,
        "folds": cfg.folds,
        "seed": cfg.seed,
        "num_boost_round": cfg.num_boost_round,
        "learning_rate": cfg.learning_rate,
        "num_leaves": cfg.num_leaves,
    }
