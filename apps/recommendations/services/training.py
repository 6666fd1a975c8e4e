"""Writes of the model registry: train a new version, promote (automatically or by hand), roll back.

Manual promotion and rollback need a reason (recorded in ``ModelEvent`` and the audit trail); owners, admins and
leads may do them (the ``models`` change row of ``apps.access.policy``). A version that fails the skill gate cannot
be promoted: it could not serve predictions."""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from apps.audit.services import audit_security_event
from apps.recommendations import dataset
from apps.recommendations.choices import ModelAction, ModelStatus, RunKind, RunReason, RunStatus
from apps.recommendations.ml.predict import serialize, serialize_training_data
from apps.recommendations.ml.training import TrainingConfig, compare_forward, config_with, train
from apps.recommendations.models import ModelEvent, SuccessModel, TrainingRun
from apps.recommendations.services.runs import RunOutcome, run_request
from maestro.events import emit
from maestro.observability.metrics import record_model_training, set_active_model

logger = logging.getLogger("maestro.recommendations")


@contextmanager
def _training_lock():
    """A session-level PostgreSQL advisory lock per tenant schema: trainings of one tenant run one at a time, in any
    process. (Session-level, not transaction-level, so the run's status updates commit while it is held; the lock
    is released in ``finally`` or when the connection closes.)"""
    key = f"{connection.schema_name}:train"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(hashtext('maestro.recommendations'), hashtext(%s))", [key])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(hashtext('maestro.recommendations'), hashtext(%s))", [key])


def training_config() -> TrainingConfig:
    return TrainingConfig(
        num_threads=settings.RECOMMENDATIONS_TRAIN_THREADS,
        min_target_samples=settings.RECOMMENDATIONS_MIN_COMPLETED_PROJECTS,
        skill_margin=settings.RECOMMENDATIONS_SKILL_MARGIN,
        skill_alpha=settings.RECOMMENDATIONS_SKILL_ALPHA,
        search_seconds=settings.RECOMMENDATIONS_SEARCH_SECONDS,
    )


def training_request(*, user=None, reason: str = RunReason.MANUAL, force: bool = False) -> TrainingRun:
    """Queue a retraining of the tenant's models (or return the one already queued)."""
    return run_request(kind=RunKind.TRAIN, reason=reason, user=user, params={"force": True} if force else {})


def model_train(run: TrainingRun) -> RunOutcome:
    """Body of a ``retrain`` run. Idempotent: when the training data is unchanged since the latest version, no new
    version is created (unless the run was requested with ``force``); concurrent runs serialise on the lock, so two
    concurrent retrains produce one new version. The version is keyed by its run (``training_run``, unique): a run
    executed again after its worker died between writing the version and recording the outcome finds that version
    instead of training a second one.

    Every training (not the skipped cases) is counted with its outcome and duration in the business metrics, and
    on success the active model's CV MAE and training time are published (``maestro.observability.metrics``)."""
    needed = settings.RECOMMENDATIONS_MIN_COMPLETED_PROJECTS
    with _training_lock():
        written = SuccessModel.objects.filter(training_run=run).first()
        if written is not None:
            return _trained(written, promoted=written.events.filter(action=ModelAction.AUTO_PROMOTED).exists())
        ts = dataset.training_set()
        if len(ts) < needed:
            return RunOutcome(
                RunStatus.SKIPPED,
                detail=f"Insufficient data: {len(ts)} completed projects with a success score, {needed} needed.",
                result={"status": "insufficient_data", "have": len(ts), "needed": needed},
            )
        fingerprint = dataset.fingerprint(ts)
        latest = SuccessModel.objects.order_by("-version").first()
        if latest is not None and latest.data_fingerprint == fingerprint and not run.params.get("force"):
            return RunOutcome(
                RunStatus.SKIPPED,
                detail=f"Training data unchanged since model v{latest.version}; no new version.",
                model=latest,
                result={"status": "unchanged", "version": latest.version},
            )
        started = time.perf_counter()
        try:
            model, promoted = _train_version(run, ts, fingerprint)
        except Exception:
            record_model_training(duration_seconds=time.perf_counter() - started, succeeded=False)
            raise
        active = SuccessModel.objects.filter(status=ModelStatus.ACTIVE).first()
        record_model_training(
            duration_seconds=time.perf_counter() - started,
            succeeded=True,
            cv_mae=active.cv_mae if active else None,
            trained_at=active.trained_at if active else None,
        )
    logger.info("ml_model_trained", extra={"version": model.version, "promoted": promoted, "n": len(ts)})
    return _trained(model, promoted=promoted)


def _trained(model: SuccessModel, *, promoted: bool) -> RunOutcome:
    return RunOutcome(
        RunStatus.SUCCEEDED,
        detail=f"Model v{model.version} trained on {model.n_samples} projects; "
        + ("promoted." if promoted else "not promoted."),
        model=model,
        result={"version": model.version, "promoted": promoted, "cv_mae": model.cv_mae, "n_samples": model.n_samples},
    )


def _train_version(run: TrainingRun, ts, fingerprint: str) -> tuple[SuccessModel, bool]:
    """Train on ``ts``, compare with the active version on the same forward evaluation, store the new version
    (keyed by ``run``) and promote it if it passes the skill gate and is not worse (``_auto_promote``)."""
    bundle = train(ts, training_config())
    cfg = config_with(training_config(), bundle.metadata)  # the settings the search chose
    active = SuccessModel.objects.filter(status=ModelStatus.ACTIVE).only("id", "version", "params").first()
    if active is not None:
        comparison = compare_forward(ts, bundle, cfg, config_with(cfg, active.params or {}))
        bundle.validation["promotion"] = comparison | {"active_version": active.version, "active_id": active.pk}
    success = bundle.targets["success"]
    with transaction.atomic():
        version = (SuccessModel.objects.aggregate(v=Max("version"))["v"] or 0) + 1
        model = SuccessModel.objects.create(
            version=version,
            trained_at=timezone.now(),
            n_samples=len(ts),
            features=bundle.space.names,
            cv_metrics={name: t.cv for name, t in bundle.targets.items()} | bundle.skipped_targets,
            cv_mae=float(success.cv["mae"]),
            feature_importances=bundle.importances,
            booster=serialize(bundle),
            training_seconds=bundle.training_seconds,
            data_fingerprint=fingerprint,
            params={k: v for k, v in bundle.metadata.items() if not isinstance(v, dict)},
            validation=bundle.validation,
            training_data=serialize_training_data(bundle.training_data),
            training_run=run,
        )
        emit(
            "model.trained",
            payload={
                "model": {"version": model.version, "cv_mae": model.cv_mae, "n_samples": model.n_samples},
                "training_run_id": run.pk,
            },
        )
        return model, _auto_promote(model)


def _active_for_update() -> SuccessModel | None:
    return SuccessModel.objects.select_for_update().filter(status=ModelStatus.ACTIVE).first()


def _activate(model: SuccessModel, previous: SuccessModel | None, *, event: str, automatic: bool, reason: str) -> None:
    """Make ``model`` the active version (retiring ``previous``) and record the security event (its actor is the
    current request's user or token, or the system in a task)."""
    if previous is not None:
        previous.status = ModelStatus.RETIRED
        previous.save(update_fields=["status"])
    model.status = ModelStatus.ACTIVE
    model.promoted_at = timezone.now()
    model.save(update_fields=["status", "promoted_at"])
    cv_mae, trained_at, schema = model.cv_mae, model.trained_at, connection.schema_name
    transaction.on_commit(lambda: set_active_model(cv_mae=cv_mae, trained_at=trained_at, tenant=schema))
    emit(
        event,
        payload={
            "from_version": previous.version if previous else None,
            "to_version": model.version,
            "automatic": automatic,
            "reason": reason,
        },
    )
    audit_security_event(
        event,
        obj=model,
        object_type="recommendations.model",
        extra={
            "from_version": previous.version if previous is not None else None,
            "to_version": model.version,
            "automatic": automatic,
            "reason": reason,
        },
    )


def _gate_text(model: SuccessModel) -> str:
    gate = model.gate
    if not gate:
        return f"v{model.version} has no skill-gate result (trained before the gate existed)"
    if gate.get("mae") is None:
        return f"too few projects ({gate['n']}) to evaluate forward in time"
    return (
        f"{gate['evaluation']} MAE {gate['mae']:.3f} vs baseline {gate['baseline_mae']:.3f} "
        f"(skill {gate['skill']:.3f}, p = {gate['p_value']:.3g}, needed: skill > {gate['margin']:g} at "
        f"p < {gate['alpha']:g})"
    )


def _auto_promote(model: SuccessModel) -> bool:
    """Promote a new version when it passes the skill gate and, compared with the active version on the same
    forward evaluation (the active version's settings refitted on the same history, ``ml.training.compare_forward``),
    its error is not higher — strictly lower when the training data did not change. A version that fails the gate is
    kept as a candidate; an active version that fails it (or predates it) is replaced by any version that passes."""
    active = _active_for_update()
    if not model.passes_gate:
        reason = f"Fails the skill gate: {_gate_text(model)}; predictions answer insufficient_skill."
        ModelEvent.objects.create(model=model, action=ModelAction.KEPT, previous_active=active, reason=reason)
        return False
    gate = f" Passes the skill gate: {_gate_text(model)}."
    comparison = (model.validation or {}).get("promotion", {})
    if active is None or not active.passes_gate:
        reason = "No active model." if active is None else f"Active v{active.version} does not pass the skill gate."
        return _promote_automatically(model, active, reason + gate)
    if comparison.get("active_id") != active.pk or comparison.get("candidate_mae") is None:
        reason = f"No forward comparison with active v{active.version} (it changed during training); not promoted."
        ModelEvent.objects.create(model=model, action=ModelAction.KEPT, previous_active=active, reason=reason)
        return False
    mine, theirs = comparison["candidate_mae"], comparison["active_mae"]
    figures = (
        f"forward MAE {mine:.3f} vs {theirs:.3f} for v{active.version}'s settings refitted on the same history "
        f"({comparison['n']} projects, p = {comparison['p_value']:.2g})"
    )
    new_data = model.data_fingerprint != active.data_fingerprint
    if mine < theirs - 1e-9 or (new_data and mine <= theirs + 1e-9):
        why = "better" if mine < theirs - 1e-9 else "as good, on newer data"
        return _promote_automatically(model, active, f"Forward evaluation {why}: {figures}.{gate}")
    reason = f"Not better on the same forward evaluation: {figures}."
    ModelEvent.objects.create(model=model, action=ModelAction.KEPT, previous_active=active, reason=reason)
    return False


def _promote_automatically(model: SuccessModel, active: SuccessModel | None, reason: str) -> bool:
    _activate(model, active, event="model.promoted", automatic=True, reason=reason)
    ModelEvent.objects.create(model=model, action=ModelAction.AUTO_PROMOTED, previous_active=active, reason=reason)
    return True


def _require_reason(reason: str) -> None:
    if not (reason or "").strip():
        raise ValidationError({"reason": "Say why: the reason is recorded in the audit trail."})


@transaction.atomic
def model_promote(*, model: SuccessModel, user, reason: str) -> SuccessModel:
    """Make ``model`` the active version by hand (audited in ModelEvent); impact is recomputed with it."""
    _require_reason(reason)
    active = _active_for_update()
    if active is not None and active.pk == model.pk:
        raise ValidationError({"model": f"Model v{model.version} is already active."})
    if not model.passes_gate:
        raise ValidationError(
            {
                "model": f"Model v{model.version} fails the skill gate ({_gate_text(model)}); "
                "it cannot serve predictions."
            }
        )
    _activate(model, active, event="model.promoted", automatic=False, reason=reason)
    ModelEvent.objects.create(
        model=model, action=ModelAction.PROMOTED, previous_active=active, actor=user, reason=reason
    )
    run_request(kind=RunKind.IMPACT, reason=RunReason.AFTER_TRAINING, user=user)
    return model


@transaction.atomic
def model_rollback(*, model: SuccessModel, user, reason: str) -> SuccessModel:
    """Deactivate the active ``model`` and reactivate the version that was active before it was promoted.

    Returns the model that is active afterwards."""
    _require_reason(reason)
    active = _active_for_update()
    if active is None or active.pk != model.pk:
        raise ValidationError({"model": f"Model v{model.version} is not the active model; only it can be rolled back."})
    promotion = (
        ModelEvent.objects.filter(
            model=model, action__in=[ModelAction.AUTO_PROMOTED, ModelAction.PROMOTED], previous_active__isnull=False
        )
        .select_related("previous_active")
        .order_by("-created_at", "-id")
        .first()
    )
    if promotion is None:
        raise ValidationError({"model": f"Model v{model.version} has no previously active version to roll back to."})
    previous = SuccessModel.objects.select_for_update().get(pk=promotion.previous_active_id)
    _activate(previous, model, event="model.rolled_back", automatic=False, reason=reason)
    ModelEvent.objects.create(
        model=previous, action=ModelAction.ROLLED_BACK, previous_active=model, actor=user, reason=reason
    )
    run_request(kind=RunKind.IMPACT, reason=RunReason.AFTER_TRAINING, user=user)
    return previous
