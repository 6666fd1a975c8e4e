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

Every training also evaluates the success model forward in time and applies the skill gate to that evaluation
(``validate``; method in ``ml.evaluation``). The bundle keeps the training matrix with the per-project out-of-sample
predictions of both evaluations (``TrainedBundle.training_data``) so users can check the model themselves.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import lightgbm as lgb
import numpy as np
from scipy import stats
from sklearn.metrics import mean_absolute_error, r2_score

from apps.recommendations.ml import evaluation as ev
from apps.recommendations.ml import neighbors as nb
from apps.recommendations.ml.features import LEVELS, FeatureSpace, ProjectInput

TARGETS = ("success", "duration_days", "compute_cost")
HYPERPARAMETERS = ("num_boost_round", "learning_rate", "num_leaves")  # what a version's recipe stores in its params
# The hyperparameter search (``search``): these settings, in this order (the default first, so a search cut short by
# its time limit still has it), each scored by the forward evaluation of the success point model.
SEARCH_GRID: tuple[dict, ...] = (
    {"num_leaves": 6, "learning_rate": 0.04, "num_boost_round": 400},
    {"num_leaves": 4, "learning_rate": 0.05, "num_boost_round": 300},
    {"num_leaves": 12, "learning_rate": 0.04, "num_boost_round": 300},
    {"num_leaves": 6, "learning_rate": 0.08, "num_boost_round": 200},
    {"num_leaves": 16, "learning_rate": 0.03, "num_boost_round": 400},
    {"num_leaves": 3, "learning_rate": 0.06, "num_boost_round": 300},
)
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
    forward_blocks: int = 3
    forward_fraction: float = 0.5
    skill_margin: float = ev.SKILL_MARGIN
    skill_alpha: float = ev.SKILL_ALPHA
    learning_curve_points: int = 4
    learning_curve_max_rows: int = 2000  # the curve's largest training size (it matters for small tenants)
    search_seconds: float = 0.0  # time limit of the hyperparameter search; 0: no search (the settings above)

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
    completed_on: np.ndarray | None = None  # completion day per project (ordinal; NaN unknown), for forward splits
    attribute_defs: tuple = ()  # tenant-defined project attributes: (key, kind, choices) (see ml.features)

    def __len__(self) -> int:
        return len(self.project_ids)

    def completed_days(self) -> np.ndarray:
        """Completion days; without them the row order stands in for time (the forward splits need an order)."""
        if self.completed_on is None:
            return np.arange(len(self), dtype=np.float64)
        return np.asarray(self.completed_on, dtype=np.float64)

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
    validation: dict = field(default_factory=dict)  # forward figures, skill gates, learning curve (ml.evaluation)
    fold_models: list[str] = field(default_factory=list)  # success point boosters of the K CV folds (refits)
    training_data: dict = field(default_factory=dict)  # the matrix and per-project out-of-sample predictions

    @property
    def gate(self) -> dict:
        return self.validation.get("gate", {})

    def to_dict(self) -> dict:
        return {
            "format": FORMAT_VERSION,
            "space": self.space.to_dict(),
            "targets": {
                name: {
                    "n_samples": t.n_samples,
                    "transform": t.transform,
                    "point": t.point,
                    "lower": t.lower,
                    "upper": t.upper,
                    "cv": t.cv,
                    "interval_adjustment": t.interval_adjustment,
                }
                for name, t in self.targets.items()
            },
            "skipped_targets": self.skipped_targets,
            "metadata": self.metadata,
            "validation": self.validation,
            "fold_models": self.fold_models,
            "pool_ids": [int(i) for i in self.pool_ids],
            "pool_success": [float(v) for v in self.pool_success],
            "pool_artifacts": self.pool_artifacts,
        }


def _forward(values: np.ndarray, transform: str) -> np.ndarray:
    return np.log1p(values) if transform == "log1p" else values


def inverse(values: np.ndarray, transform: str) -> np.ndarray:
    return np.expm1(values) if transform == "log1p" else values


def _fit(X, y, cfg: TrainingConfig, space: FeatureSpace, objective="regression", alpha=None) -> lgb.Booster:
    data = lgb.Dataset(
        X,
        label=y,
        feature_name=space.names,
        categorical_feature=space.categorical_cols,
        free_raw_data=True,
        params={"max_bin": 63, "verbose": -1},
    )
    return lgb.train(cfg.lgb_params(len(y), objective, alpha), data, num_boost_round=cfg.num_boost_round)


def _predict(booster: lgb.Booster, X: np.ndarray) -> np.ndarray:
    return booster.predict(X, num_threads=1)


def outcome_fitter(space: FeatureSpace, cfg: TrainingConfig):
    """``fit(X, y) -> predict`` with the success model's settings (the outcome nuisance of ``ml.effects``)."""

    def fit(X: np.ndarray, y: np.ndarray):
        booster = _fit(X, y, cfg, space)
        return lambda Z: _predict(booster, Z)

    return fit


def _neighbor_column(ts: TrainingSet, rows, pool_mask, groups, cfg, cands) -> np.ndarray:
    return nb.neighbor_success(
        ts.embeddings,
        ts.has_embedding,
        ts.success,
        rows=rows,
        pool=pool_mask,
        groups=groups,
        k=cfg.k_neighbors,
        cands=cands,
    )


def _split_predictions(
    ts, space, X_base, cfg, cands, splits, targets, quantiles: bool, keep: list | None = None
) -> dict:
    """Out-of-sample predictions of every target over ``splits`` ((train rows, test rows) pairs), with the
    ``neighbor_success`` feature nested inside each split: the split's training rows get it out of fold within
    themselves and its test rows see only the split's training rows (``ml.neighbors``)."""
    n = len(ts)
    out = {t: np.full(n, np.nan) for t in targets}
    base = {t: np.full(n, np.nan) for t in targets}
    lower, upper = np.full(n, np.nan), np.full(n, np.nan)
    split_mae: dict[str, list[float]] = {t: [] for t in targets}
    # A fold trains on (folds - 1) / folds of the data, so it needs the same share of the final model's minimum:
    # with exactly min_target_samples known values every fold still gets a model and the CV has a result.
    fold_minimum = max(2, (cfg.min_target_samples * (cfg.folds - 1)) // cfg.folds)
    for number, (train, valid) in enumerate(splits):
        if len(valid) == 0:
            continue
        train_mask = np.zeros(n, dtype=bool)
        train_mask[train] = True
        inner = np.full(n, -1, dtype=np.int64)
        inner[train] = nb.oof_groups(len(train), cfg.folds, cfg.seed + 1 + number)
        X = X_base.copy()
        X[train, space.neighbor_col] = _neighbor_column(ts, train, train_mask, inner, cfg, cands)
        X[valid, space.neighbor_col] = _neighbor_column(ts, valid, train_mask, None, cfg, cands)
        for target in targets:
            y = ts.target(target)
            known_train = train[~np.isnan(y[train])]
            known_valid = valid[~np.isnan(y[valid])]
            if len(known_train) < min(fold_minimum, len(train)) or len(known_train) < 2 or len(known_valid) == 0:
                continue
            transform = TRANSFORMS[target]
            y_fit = _forward(y[known_train], transform)
            booster = _fit(X[known_train], y_fit, cfg, space)
            if keep is not None and target == "success":
                keep.append(booster.model_to_string())
            out[target][known_valid] = inverse(_predict(booster, X[known_valid]), transform)
            base[target][known_valid] = float(np.mean(y[known_train]))
            split_mae[target].append(float(mean_absolute_error(y[known_valid], out[target][known_valid])))
            if target == "success" and quantiles:
                lo = _fit(X[known_train], y_fit, cfg, space, "quantile", QUANTILES[0])
                hi = _fit(X[known_train], y_fit, cfg, space, "quantile", QUANTILES[1])
                lower[known_valid] = _predict(lo, X[known_valid])
                upper[known_valid] = _predict(hi, X[known_valid])
    return {"pred": out, "base": base, "lower": lower, "upper": upper, "split_mae": split_mae}


def _summary(y: np.ndarray, pred: np.ndarray, base: np.ndarray) -> dict | None:
    done = ~np.isnan(pred) & ~np.isnan(y)
    if done.sum() < 2:
        return None
    entry = {
        "n": int(done.sum()),
        "mae": float(mean_absolute_error(y[done], pred[done])),
        "r2": float(r2_score(y[done], pred[done])),
        "baseline_mae": float(mean_absolute_error(y[done], base[done])),
    }
    entry["mae_vs_baseline"] = entry["mae"] / entry["baseline_mae"] if entry["baseline_mae"] > 0 else None
    return entry


def cross_validate(
    ts: TrainingSet, space: FeatureSpace, X_base: np.ndarray, cfg: TrainingConfig, cands, oof: dict | None = None
) -> dict:
    """Nested out-of-fold CV (shuffled K folds) for every target; returns {target: metrics}. ``oof``, when given,
    receives the per-project predictions and baselines (for the gate and the training-data export)."""
    n = len(ts)
    outer = nb.oof_groups(n, cfg.folds, cfg.seed)
    splits = [(np.flatnonzero(outer != fold), np.flatnonzero(outer == fold)) for fold in range(cfg.folds)]
    keep: list[str] = []
    result = _split_predictions(ts, space, X_base, cfg, cands, splits, TARGETS, quantiles=True, keep=keep)
    if oof is not None:
        oof.update(result, fold_models=keep)
    metrics = {}
    for target in TARGETS:
        y = ts.target(target)
        entry = _summary(y, result["pred"][target], result["base"][target])
        if entry is None:
            continue
        entry = {"folds": cfg.folds, **entry, "fold_mae": result["split_mae"][target]}
        if target == "success":
            done = ~np.isnan(result["pred"][target]) & ~np.isnan(y)
            lo = np.minimum(result["lower"][done], result["pred"][target][done])
            hi = np.maximum(result["upper"][done], result["pred"][target][done])
            nominal = QUANTILES[1] - QUANTILES[0]
            adjustment = conformal_adjustment(y[done], lo, hi, nominal)
            entry["interval_nominal"] = nominal
            entry["interval_coverage_raw"] = float(np.mean((y[done] >= lo) & (y[done] <= hi)))
            entry["interval_adjustment"] = adjustment
            entry["interval_mean_width"] = float(np.mean(hi - lo) + 2 * adjustment)
        metrics[target] = entry
    return metrics


def forward_evaluate(ts: TrainingSet, space: FeatureSpace, X_base: np.ndarray, cfg: TrainingConfig, cands) -> dict:
    """Success forward in time (``ml.evaluation.forward_splits``): summary metrics and per-project predictions."""
    splits = ev.forward_splits(ts.completed_days(), blocks=cfg.forward_blocks, fraction=cfg.forward_fraction)
    result = _split_predictions(ts, space, X_base, cfg, cands, splits, ("success",), quantiles=False)
    pred, base = result["pred"]["success"], result["base"]["success"]
    summary = _summary(ts.success, pred, base) or {"n": 0}
    summary |= {"blocks": len(splits), "block_mae": result["split_mae"]["success"]}
    return {"summary": summary, "pred": pred, "base": base, "splits": splits}


def config_with(cfg: TrainingConfig, params: dict) -> TrainingConfig:
    """``cfg`` with the hyperparameters a stored version used (``HYPERPARAMETERS`` present in ``params``)."""
    return replace(cfg, **{name: type(getattr(cfg, name))(params[name]) for name in HYPERPARAMETERS if name in params})


def same_recipe(a: TrainingConfig, b: TrainingConfig) -> bool:
    return all(getattr(a, name) == getattr(b, name) for name in HYPERPARAMETERS)


def compare_forward(ts: TrainingSet, bundle: TrainedBundle, cfg: TrainingConfig, other: TrainingConfig) -> dict:
    """The candidate (``bundle``, trained with ``cfg``) against another recipe (the active version's settings)
    re-evaluated forward in time on the same data and the same splits, so both are scored on identical projects
    with models trained on identical history. The paired t-test is two-sided, on per-project absolute errors."""
    mine = bundle.training_data["forward_predicted"]
    if same_recipe(cfg, other):
        theirs = mine  # deterministic training: the same settings on the same data give the same predictions
    else:
        X = bundle.space.matrix(ts.inputs)
        cands = nb.candidates(ts.embeddings, ts.has_embedding)
        theirs = forward_evaluate(ts, bundle.space, X, other, cands)["pred"]
    both = ~np.isnan(mine) & ~np.isnan(theirs) & ~np.isnan(ts.success)
    if both.sum() < 2:
        return {"n": int(both.sum()), "candidate_mae": None, "active_mae": None, "p_value": None}
    e_mine, e_theirs = np.abs(ts.success[both] - mine[both]), np.abs(ts.success[both] - theirs[both])
    d = e_theirs - e_mine
    p_value = 1.0 if np.allclose(d, 0) else float(stats.ttest_1samp(d, 0.0).pvalue)
    return {
        "n": int(both.sum()),
        "candidate_mae": float(e_mine.mean()),
        "active_mae": float(e_theirs.mean()),
        "p_value": p_value,
        "active_settings": {name: getattr(other, name) for name in HYPERPARAMETERS},
    }


def learning_curve(ts, space, X_base, cfg, cands, split) -> list[dict]:
    """Validated error against training size on one forward split (``ml.evaluation``); success point model only."""
    train, test = split
    rng = np.random.default_rng(cfg.seed + 7)
    curve = []
    for size in ev.learning_curve_sizes(min(len(train), cfg.learning_curve_max_rows), cfg.learning_curve_points):
        subset = np.sort(rng.choice(train, size=size, replace=False)) if size < len(train) else train
        result = _split_predictions(ts, space, X_base, cfg, cands, [(subset, test)], ("success",), quantiles=False)
        entry = _summary(ts.success, result["pred"]["success"], result["base"]["success"])
        if entry is not None:
            skill = 1 - entry["mae"] / entry["baseline_mae"] if entry["baseline_mae"] > 0 else None
            curve.append({"size": size, "mae": entry["mae"], "baseline_mae": entry["baseline_mae"], "skill": skill})
    return curve


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
        ts.inputs,
        max_indicator_artifacts=cfg.max_indicator_artifacts,
        min_indicator_usage=cfg.min_indicator_usage,
        delivery_names=ts.delivery_names,
        attribute_defs=ts.attribute_defs,
    )
    X = space.matrix(ts.inputs)
    cands = nb.candidates(ts.embeddings, ts.has_embedding)
    searched = search(ts, space, X, cfg, cands) if cfg.search_seconds > 0 else None
    if searched is not None:
        cfg = config_with(cfg, searched["chosen"])
    oof: dict = {}
    cv = cross_validate(ts, space, X, cfg, cands, oof=oof)
    validation = validate(ts, space, X, cfg, cands, oof, forward=searched["forward"] if searched else None)
    if searched is not None:
        validation["search"] = searched["record"]

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
            name=target,
            n_samples=len(known),
            transform=transform,
            point=point.model_to_string(),
            lower=lo.model_to_string(),
            upper=hi.model_to_string(),
            cv=cv.get(target, {}),
            interval_adjustment=float(cv.get(target, {}).get("interval_adjustment", 0.0)),
        )
        if target == "success":
            gain = point.feature_importance(importance_type="gain")
            total = float(gain.sum()) or 1.0
            importances = {name: float(g) / total for name, g in zip(space.names, gain, strict=True)}

    metadata = _metadata(ts, cfg) | {"skill": validation["gate"]["skill"]}
    training_data = {
        "project_ids": ts.project_ids.copy(),
        "X": X,
        "success": ts.success.copy(),
        "cv_predicted": oof["pred"]["success"],
        "cv_baseline": oof["base"]["success"],
        "forward_predicted": validation.pop("_forward_pred"),
        "forward_baseline": validation.pop("_forward_base"),
    }
    return TrainedBundle(
        space=space,
        targets=targets,
        importances=importances,
        metadata=metadata,
        pool_ids=ts.project_ids.copy(),
        pool_success=ts.success.copy(),
        pool_artifacts=[sorted({a for a, _ in p.artifacts}) for p in ts.inputs],
        skipped_targets=skipped,
        training_seconds=time.perf_counter() - started,
        validation=validation,
        training_data=training_data,
        fold_models=oof["fold_models"],
    )


def search(ts: TrainingSet, space: FeatureSpace, X: np.ndarray, cfg: TrainingConfig, cands) -> dict:
    """Small hyperparameter search: ``SEARCH_GRID`` in order, each setting scored by the forward MAE of success
    (``forward_evaluate``), within ``cfg.search_seconds`` (checked before each setting after the first; the record
    says whether the grid was completed). The lowest forward MAE wins (ties: the earlier setting). Deterministic
    for a given grid: the seed is fixed and only the time limit can shorten it."""
    started = time.perf_counter()
    results, best = [], None
    for params in SEARCH_GRID:
        if results and time.perf_counter() - started > cfg.search_seconds:
            break
        forward = forward_evaluate(ts, space, X, config_with(cfg, params), cands)
        mae = forward["summary"].get("mae")
        results.append({"params": dict(params), "forward_mae": mae, "n": forward["summary"].get("n", 0)})
        if mae is not None and (best is None or mae < best[0] - 1e-12):
            best = (mae, params, forward)
    if best is None:
        best = (None, SEARCH_GRID[0], forward_evaluate(ts, space, X, config_with(cfg, SEARCH_GRID[0]), cands))
    record = {
        "method": "grid, scored by forward MAE",
        "results": results,
        "chosen": dict(best[1]),
        "completed": len(results) == len(SEARCH_GRID),
        "time_limit_seconds": cfg.search_seconds,
        "seconds": time.perf_counter() - started,
    }
    return {"chosen": best[1], "forward": best[2], "record": record}


def validate(
    ts: TrainingSet,
    space: FeatureSpace,
    X: np.ndarray,
    cfg: TrainingConfig,
    cands,
    oof: dict,
    forward: dict | None = None,
) -> dict:
    """Forward evaluation (``forward``, when the search already computed it for ``cfg``), the skill gate on it (and,
    for comparison, on the shuffled CV), the learning curve and the estimate of how many more projects would change
    the gate (``ml.evaluation``)."""
    forward = forward if forward is not None else forward_evaluate(ts, space, X, cfg, cands)
    gate_args = {"margin": cfg.skill_margin, "alpha": cfg.skill_alpha}
    gate = ev.skill_gate(ts.success, forward["pred"], forward["base"], evaluation="forward", **gate_args)
    cv_gate = ev.skill_gate(ts.success, oof["pred"]["success"], oof["base"]["success"], evaluation="cv", **gate_args)
    curve = learning_curve(ts, space, X, cfg, cands, forward["splits"][-1]) if forward["splits"] else []
    n_train = len(forward["splits"][-1][0]) if forward["splits"] else 0
    return {
        "forward": forward["summary"],
        "gate": gate.to_dict(),
        "cv_gate": cv_gate.to_dict(),
        "learning_curve": curve,
        "projects_needed": ev.projects_needed(
            curve, gate.to_dict(), n_total=len(ts), n_train=n_train, fraction=cfg.forward_fraction
        ),
        "_forward_pred": forward["pred"],
        "_forward_base": forward["base"],
    }


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
        "forward_blocks": cfg.forward_blocks,
        "forward_fraction": cfg.forward_fraction,
    }
