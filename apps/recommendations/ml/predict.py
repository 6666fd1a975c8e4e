"""Predictions from a trained bundle: point + interval per target, confidence, per-feature contributions.

LightGBM predicts with one thread (``num_threads=1``): requests are tiny (one to a few hundred rows) and web
workers already run in parallel, so extra threads only add contention.

The interval is [q10 − a, q90 + a] with a the conformal adjustment learnt in cross-validation (``ml.training``;
0 for targets without one). Quantile models are trained independently and can cross, so the reported interval is
[min(lower, point), max(upper, point)] and always contains the point prediction. Success predictions are clipped
to the score's 0–100 range, durations and costs to ≥ 0.
"""

from __future__ import annotations

import io
import json
import zlib
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np

from apps.recommendations.ml import neighbors as nb
from apps.recommendations.ml.confidence import confidence
from apps.recommendations.ml.effects import refit_interval
from apps.recommendations.ml.features import FeatureSpace, ProjectInput
from apps.recommendations.ml.training import FORMAT_VERSION, TrainedBundle, inverse

CLIP = {"success": (0.0, 100.0), "duration_days": (0.0, None), "compute_cost": (0.0, None)}


def serialize(bundle: TrainedBundle) -> bytes:
    """A trained bundle → compressed JSON (booster model strings and metadata; no pickle)."""
    return zlib.compress(json.dumps(bundle.to_dict()).encode("utf-8"), level=6)


def deserialize(blob: bytes) -> dict:
    data = json.loads(zlib.decompress(bytes(blob)).decode("utf-8"))
    if data.get("format") != FORMAT_VERSION:
        raise ValueError(f"unsupported model format {data.get('format')!r}")
    return data


def serialize_training_data(arrays: dict[str, np.ndarray]) -> bytes:
    """The training matrix and per-project predictions → compressed NumPy ``.npz`` bytes (no pickle)."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{name: np.asarray(value) for name, value in arrays.items()})
    return buffer.getvalue()


def deserialize_training_data(blob: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(bytes(blob)), allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


@dataclass
class TargetPrediction:
    point: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


@dataclass
class Contributions:
    base_value: float
    values: np.ndarray  # aligned with FeatureSpace.names


class Predictor:
    """A loaded model: boosters per target plus the neighbour pool (training projects' embeddings and success)."""

    def __init__(self, data: dict, pool_embeddings: np.ndarray, pool_has_embedding: np.ndarray):
        self.space = FeatureSpace.from_dict(data["space"])
        self.metadata = data["metadata"]
        self.skipped_targets = data.get("skipped_targets", {})
        self.validation = data.get("validation", {})
        self.fold_boosters = [lgb.Booster(model_str=m) for m in data.get("fold_models", [])]
        self.targets = {}
        for name, t in data["targets"].items():
            self.targets[name] = {
                "transform": t["transform"],
                "n_samples": t["n_samples"],
                "point": lgb.Booster(model_str=t["point"]),
                "lower": lgb.Booster(model_str=t["lower"]),
                "upper": lgb.Booster(model_str=t["upper"]),
                "adjustment": float(t.get("interval_adjustment", 0.0)),
            }
        self.pool_ids = np.asarray(data["pool_ids"], dtype=np.int64)
        success = np.asarray(data["pool_success"], dtype=np.float64)
        keep = np.asarray(pool_has_embedding, dtype=bool)
        self.pool_embedding_ids = self.pool_ids[keep]
        self.pool_embeddings = np.ascontiguousarray(pool_embeddings[keep], dtype=np.float32)
        self.pool_embedded_success = success[keep]
        self._pool_pos = {int(pid): i for i, pid in enumerate(self.pool_embedding_ids)}
        self.pool_artifacts = {
            int(pid): frozenset(arts) for pid, arts in zip(self.pool_ids, data.get("pool_artifacts", []), strict=False)
        }

    @property
    def k(self) -> int:
        return int(self.metadata.get("k_neighbors", nb.DEFAULT_K))

    def neighbors(self, query: np.ndarray | None, exclude_project_id: int | None = None) -> nb.QueryNeighbors:
        exclude = None
        if exclude_project_id is not None and int(exclude_project_id) in self._pool_pos:
            exclude = [self._pool_pos[int(exclude_project_id)]]
        return nb.query_neighbor_success(
            query, self.pool_embeddings, self.pool_embedded_success, k=self.k, exclude=exclude
        )

    def neighbor_project_ids(self, found: nb.QueryNeighbors) -> list[int]:
        return [int(self.pool_embedding_ids[p]) for p in found.positions]

    def rows(self, projects: list[ProjectInput], neighbor_value: float) -> np.ndarray:
        return self.space.matrix(projects, np.full(len(projects), neighbor_value))

    def predict(self, X: np.ndarray, target: str = "success", *, interval: bool = True) -> TargetPrediction | None:
        model = self.targets.get(target)
        if model is None:
            return None
        transform = model["transform"]
        low_clip, high_clip = CLIP[target]
        point = np.clip(inverse(model["point"].predict(X, num_threads=1), transform), low_clip, high_clip)
        if not interval:
            return TargetPrediction(point, point, point)
        adjustment = model["adjustment"]
        lower = inverse(model["lower"].predict(X, num_threads=1) - adjustment, transform)
        upper = inverse(model["upper"].predict(X, num_threads=1) + adjustment, transform)
        lower, upper = np.clip(lower, low_clip, high_clip), np.clip(upper, low_clip, high_clip)
        return TargetPrediction(point, np.minimum(lower, point), np.maximum(upper, point))

    def predict_success(self, X: np.ndarray) -> np.ndarray:
        return self.predict(X, "success", interval=False).point

    def contributions(self, X: np.ndarray, target: str = "success") -> list[Contributions]:
        """Per-feature contributions (SHAP values from LightGBM ``pred_contrib``) in the model's output units.

        For ``success`` they add up, with ``base_value``, to the unclipped point prediction.
        """
        raw = self.targets[target]["point"].predict(X, pred_contrib=True, num_threads=1)
        return [Contributions(float(r[-1]), np.asarray(r[:-1])) for r in np.atleast_2d(raw)]

    def difference_interval(self, X_a: np.ndarray, X_b: np.ndarray) -> tuple[float, float] | None:
        """95 % interval of predicted success of row ``X_a`` minus row ``X_b`` from the K cross-validation refits
        (``ml.effects.refit_interval``); None for versions trained before the refits were kept."""
        full = float(self.predict_success(X_a)[0] - self.predict_success(X_b)[0])
        refits = [
            float(b.predict(X_a, num_threads=1)[0] - b.predict(X_b, num_threads=1)[0]) for b in self.fold_boosters
        ]
        return refit_interval(full, refits)

    def confidence(self, lower: float, upper: float, found: nb.QueryNeighbors) -> dict:
        return confidence(
            lower=lower,
            upper=upper,
            reference_width=float(self.metadata["reference_interval_width"]),
            neighbor_similarities=found.similarities,
            k=self.k,
            skill=float(self.validation.get("gate", {}).get("skill", 0.0)),
        )
