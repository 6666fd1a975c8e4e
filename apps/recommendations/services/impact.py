"""Writes of artifact impact: ``ArtifactImpact`` rows and ``Artifact.impact_score`` / ``impact_updated_at``."""

from __future__ import annotations

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.artifacts.models import Artifact
from apps.audit.services import audit_bulk
from apps.recommendations import caches, dataset
from apps.recommendations.choices import ModelStatus, RunStatus
from apps.recommendations.ml import effects as fx
from apps.recommendations.ml import neighbors as nb
from apps.recommendations.ml.impact import Usage, artifact_impact
from apps.recommendations.ml.training import config_with, outcome_fitter
from apps.recommendations.models import ArtifactImpact, SuccessModel, TrainingRun
from apps.recommendations.services.runs import RunOutcome
from apps.recommendations.services.training import training_config


def impact_recompute(run: TrainingRun | None = None) -> RunOutcome:
    """Compute every artifact's effect on success over the tenant's completed projects, adjusted for the other
    features of the active model's feature space (``ml.effects``: cross-fitted double machine learning with the
    active version's settings), plus the descriptive mean SHAP contribution and the unadjusted lift (``ml.impact``).
    The ``neighbor_success`` feature of those projects is computed out of fold, as in training, so no project's
    features include its own outcome."""
    model = SuccessModel.objects.filter(status=ModelStatus.ACTIVE).first()
    if model is None:
        return RunOutcome(RunStatus.SKIPPED, detail="No active model.")
    predictor = caches.predictor_for(model.pk, model.version)
    ts = dataset.training_set()
    min_usage = settings.RECOMMENDATIONS_IMPACT_MIN_USAGE
    n = len(ts)
    X = predictor.space.matrix(ts.inputs)
    if n:
        groups = nb.oof_groups(n, int(predictor.metadata.get("folds", 5)), int(predictor.metadata.get("seed", 0)))
        X[:, predictor.space.neighbor_col] = nb.neighbor_success(
            ts.embeddings,
            ts.has_embedding,
            ts.success,
            rows=np.arange(n),
            pool=np.ones(n, dtype=bool),
            groups=groups,
            k=predictor.k,
        )
        contribs = np.array([c.values for c in predictor.contributions(X)])
    else:
        contribs = np.zeros((0, predictor.space.n_features))
    now = timezone.now()
    artifacts = list(Artifact.objects.order_by("pk").values_list("pk", "type"))
    rows, scores = [], []
    counts = {"ok": 0, "insufficient_usage": 0}
    usage = Usage.of(ts.inputs)
    effects = _effects(predictor, model, ts, X, usage, artifacts, min_usage) if n else {}
    for artifact_id, artifact_type in artifacts:
        result = artifact_impact(
            space=predictor.space,
            inputs=ts.inputs,
            contribs=contribs,
            success=ts.success,
            artifact_id=artifact_id,
            artifact_type=artifact_type,
            min_usage=min_usage,
            usage=usage,
        )
        effect = effects.get(artifact_id)
        status = "ok" if effect is not None and effect.status == "ok" else "insufficient_usage"
        counts[status] += 1
        estimate = effect.estimate if status == "ok" else None
        rows.append(
            ArtifactImpact(
                artifact_id=artifact_id,
                model=model,
                model_version=model.version,
                status=status,
                n_projects=result.n_projects,
                min_usage=min_usage,
                impact=estimate,
                ci_low=effect.ci_low if status == "ok" else None,
                ci_high=effect.ci_high if status == "ok" else None,
                se=effect.se if status == "ok" else None,
                verdict=effect.verdict if status == "ok" else "",
                method=effect.method if status == "ok" else "",
                model_contribution=result.impact,
                observed_lift=result.observed_lift,
                observed_lift_ci_low=result.lift_ci_low,
                observed_lift_ci_high=result.lift_ci_high,
                comparable_n=result.comparable_n,
                has_indicator=result.has_indicator,
                computed_at=now,
            )
        )
        scores.append(Artifact(pk=artifact_id, impact_score=estimate, impact_updated_at=now))
    with transaction.atomic():
        present = set(Artifact.objects.filter(pk__in=[a for a, _ in artifacts]).values_list("pk", flat=True))
        rows = [r for r in rows if r.artifact_id in present]
        scores = [s for s in scores if s.pk in present]
        ArtifactImpact.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["artifact"],
            update_fields=[
                "model",
                "model_version",
                "status",
                "n_projects",
                "min_usage",
                "impact",
                "ci_low",
                "ci_high",
                "se",
                "verdict",
                "method",
                "model_contribution",
                "observed_lift",
                "observed_lift_ci_low",
                "observed_lift_ci_high",
                "comparable_n",
                "has_indicator",
                "computed_at",
            ],
        )
        Artifact.objects.bulk_update(scores, ["impact_score", "impact_updated_at"], batch_size=500)
        audit_bulk(
            model=Artifact,
            verb="updated",
            ids=[a.pk for a in scores],
            changes={"impact_score": {"before": "previous computation", "after": f"model v{model.version}"}},
            extra={"model_version": model.version, "projects": n},
        )
    return RunOutcome(
        RunStatus.SUCCEEDED,
        detail=f"Impact of {len(artifacts)} artifacts with model v{model.version} over {n} projects.",
        model=model,
        result={"artifacts": len(artifacts), "projects": n, "model_version": model.version} | counts,
    )


def _effects(predictor, model, ts, X, usage: Usage, artifacts, min_usage: int) -> dict[int, fx.Effect]:
    """Adjusted effects (``ml.effects``) of every artifact, keyed by id, with the active version's settings."""
    space = predictor.space
    treatments = []
    for artifact_id, artifact_type in artifacts:
        used = np.zeros(len(ts), dtype=bool)
        used[usage.rows_of.get(artifact_id, np.zeros(0, dtype=np.int64))] = True
        treatments.append(
            fx.Treatment(artifact_id, used, space.indicator_col(artifact_id), space.type_col(artifact_type))
        )
    cfg = config_with(training_config(), model.params or {})
    found = fx.estimate_effects(
        X,
        ts.success,
        treatments,
        fit_outcome=outcome_fitter(space, cfg),
        categorical=space.categorical_cols,
        folds=int(predictor.metadata.get("folds", 5)),
        seed=int(predictor.metadata.get("seed", 0)),
        min_usage=min_usage,
    )
    return {e.artifact_id: e for e in found}
