"""The ``prediction.accuracy_dropped`` rule: the active model predicts worse in practice than validation promised.

**Rule.** Take the active model's last ``RECOMMENDATIONS_ACCURACY_WINDOW`` (N, default 20) *scored* predictions —
predictions it made (``model_version``) before their project completed, whose actual success is now recorded,
ordered by when the outcome was recorded — and their mean absolute error (rolling MAE). The accuracy has dropped
when that MAE exceeds the model's cross-validated MAE (``SuccessModel.cv_mae``, what promotion compared) times
``RECOMMENDATIONS_ACCURACY_DROP_RATIO`` (R, default 1.5). Fewer than N scored predictions: no judgement.

**Once per crossing.** The rule is evaluated each time outcomes are recorded (a project completed, or reconciliation
caught one up): the window ending with the newly recorded outcomes against the window ending just before them. The
event is emitted only when the new window is over the threshold and the previous one was not (or was too short), so
a model that stays bad is announced once, and again only after it has recovered and dropped again. Nothing is stored
for it: the two windows are recomputed from the predictions. Recording is serialised per tenant (a transaction-level
advisory lock, taken before the outcome time is read), so outcome times follow commit order and two completions at
once cannot both claim the crossing.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import connection

from apps.recommendations.choices import ModelStatus, PredictionStatus
from apps.recommendations.models import Prediction, SuccessModel
from maestro.events import emit


def outcome_recording_lock() -> None:
    """Serialise outcome recording of this tenant until the current transaction ends."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtext('maestro.recommendations'), hashtext(%s))",
            [f"{connection.schema_name}:outcomes"],
        )


def _window_mae(version: int, *, before: datetime | None, size: int) -> tuple[float | None, int]:
    scored = Prediction.objects.filter(
        status=PredictionStatus.OK,
        model_version=version,
        project_completed_before=False,
        predicted_success__isnull=False,
        actual_success__isnull=False,
        outcome_recorded_at__isnull=False,
    )
    if before is not None:
        scored = scored.filter(outcome_recorded_at__lt=before)
    pairs = list(
        scored.order_by("-outcome_recorded_at", "-id").values_list("predicted_success", "actual_success")[:size]
    )
    if not pairs:
        return None, 0
    return sum(abs(predicted - actual) for predicted, actual in pairs) / len(pairs), len(pairs)


def accuracy_check(*, recorded_at: datetime) -> bool:
    """Apply the rule after outcomes were recorded at ``recorded_at``; emit the event on a crossing. Returns whether
    it was emitted."""
    active = SuccessModel.objects.filter(status=ModelStatus.ACTIVE).only("version", "cv_mae").first()
    if active is None or active.cv_mae is None:
        return False
    size, ratio = settings.RECOMMENDATIONS_ACCURACY_WINDOW, settings.RECOMMENDATIONS_ACCURACY_DROP_RATIO
    threshold = active.cv_mae * ratio
    after, n_after = _window_mae(active.version, before=None, size=size)
    if n_after < size or after is None or after <= threshold:
        return False
    before, n_before = _window_mae(active.version, before=recorded_at, size=size)
    if n_before >= size and before is not None and before > threshold:
        return False  # already over the threshold before these outcomes: announced at the crossing
    emit(
        "prediction.accuracy_dropped",
        payload={
            "model_version": active.version,
            "window": size,
            "rolling_mae": round(after, 4),
            "previous_rolling_mae": None if before is None or n_before < size else round(before, 4),
            "cv_mae": round(active.cv_mae, 4),
            "ratio": ratio,
            "threshold": round(threshold, 4),
        },
    )
    return True
