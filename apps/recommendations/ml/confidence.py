"""Confidence of a success prediction, in [0, 1].

    sharpness  = clip(1 − (upper − lower) / W, 0, 1)
    support    = (1/k) · Σ_{j=1..k} max(s_j, 0)
    skill      = clip(1 − MAE / baseline MAE, 0, 1)   of the model, validated forward in time (``ml.evaluation``)
    confidence = ∛(sharpness · support · skill)

* ``upper − lower`` is the width of the model's 80 % interval (10 % and 90 % quantile models) for this input and
  W the width of the unconditional 80 % range of the training targets (their 90th − 10th percentile). An interval
  as wide as simply quoting the historical spread gives sharpness 0; a point-like interval gives 1.
* s_j are the cosine similarities between this spec and the k most similar training specs (k = the model's
  neighbour count, 10); missing neighbours count as 0. It is 1 only when k near-identical past projects exist and
  near 0 when nothing similar was ever done — however narrow the interval, the model then extrapolates.
* ``skill`` is how much better than the historical mean the model predicted projects it had not seen (forward in
  time). The same input therefore gets a lower confidence from a weaker model, however narrow its interval.
* The geometric mean is high only when all three are high.
"""

from __future__ import annotations

import numpy as np


def confidence(
    *, lower: float, upper: float, reference_width: float, neighbor_similarities: np.ndarray, k: int, skill: float
) -> dict:
    width = max(float(upper) - float(lower), 0.0)
    sharpness = float(np.clip(1.0 - width / reference_width, 0.0, 1.0)) if reference_width > 0 else 0.0
    sims = np.maximum(np.asarray(neighbor_similarities, dtype=np.float64)[:k], 0.0)
    support = float(sims.sum() / k) if k > 0 else 0.0
    skill = float(np.clip(skill, 0.0, 1.0)) if np.isfinite(skill) else 0.0
    return {
        "confidence": float(np.cbrt(sharpness * support * skill)),
        "sharpness": sharpness,
        "support": support,
        "skill": skill,
        "interval_width": width,
        "reference_width": float(reference_width),
    }
