"""What the engine adds to the project and artifact pages, registered in ``maestro.ui.panels`` at start-up.

Those pages belong to apps below the engine in the layer map and may not import it; they ask the panel registry for
their slot's context instead (see ``maestro.ui.panels``). The figures come from the selectors; this module only
shapes them for the templates (``templates/projects/detail.html``, ``templates/artifacts/detail.html``).
"""

from __future__ import annotations

from django.conf import settings

from apps.recommendations import selectors


def interval_positions(prediction: dict, actual: float | None = None) -> dict | None:
    """Positions (0–100 %) of an interval, its point and an optional actual on the 0–100 success scale."""
    if prediction.get("predicted") is None:
        return None

    def clamp(value):
        return None if value is None else max(0.0, min(100.0, float(value)))

    low, high = clamp(prediction.get("lower")), clamp(prediction.get("upper"))
    return {
        "low": low,
        "width": (high - low) if low is not None and high is not None else 0,
        "point": clamp(prediction["predicted"]),
        "actual": clamp(actual),
    }


def project_prediction(*, user, obj) -> dict:
    """``prediction``: the latest prediction made for the project before it completed, with the actual outcome when
    known (inside the interval or not, actual − predicted), or None."""
    prediction = selectors.prediction_latest_before_completion(user=user, project=obj)
    if prediction is None:
        return {"prediction": None}
    interval = interval_positions(
        {"predicted": prediction.predicted_success, "lower": prediction.lower, "upper": prediction.upper},
        prediction.actual_success,
    )
    inside = error = None
    if prediction.actual_success is not None:
        error = prediction.actual_success - prediction.predicted_success
        if prediction.lower is not None and prediction.upper is not None:
            inside = prediction.lower <= prediction.actual_success <= prediction.upper
    return {"prediction": {"prediction": prediction, "interval": interval, "inside": inside, "error": error}}


def impact_reading(impact) -> dict:
    """How to read an artifact's two impact figures in plain words: whether the model's estimate is exactly zero (the
    model gives the artifact no weight at all) and whether the model's and the observed 95 % intervals overlap (None
    when there is no observed figure)."""
    if impact is None or impact.status != "ok":
        return {}
    zero = round(impact.impact, 1) == round(impact.ci_low, 1) == round(impact.ci_high, 1) == 0
    agree = None
    if impact.observed_lift is not None and impact.observed_lift_ci_low is not None:
        agree = impact.ci_low <= impact.observed_lift_ci_high and impact.observed_lift_ci_low <= impact.ci_high
    return {"model_zero": zero, "agree": agree}


def artifact_impact(*, user, obj) -> dict:
    """``impact`` (the artifact's ArtifactImpact row or None), ``impact_reading`` and the usage it needs."""
    impact = selectors.artifact_impact_get(user=user, artifact_id=obj.pk)["impact"]
    return {
        "impact": impact,
        "impact_reading": impact_reading(impact),
        "impact_min_usage": settings.RECOMMENDATIONS_IMPACT_MIN_USAGE,
    }
