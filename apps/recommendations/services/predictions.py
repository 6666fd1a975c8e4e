"""Recommendations for a proposed project (stored as a Prediction) and recording what actually happened."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from django.db import transaction
from django.utils import timezone

from apps.artifacts.models import Artifact
from apps.projects.choices import ProjectStatus
from apps.projects.models import Project
from apps.recommendations import caches, dataset, selectors
from apps.recommendations.choices import PredictionStatus, RunKind, RunReason, RunStatus
from apps.recommendations.ml import embeddings as emb
from apps.recommendations.ml.effects import OBSERVATIONAL
from apps.recommendations.ml.features import Member, ProjectInput
from apps.recommendations.ml.predict import Predictor
from apps.recommendations.ml.team import TeamConstraints, TeamSearch
from apps.recommendations.models import ArtifactImpact, Prediction, TrainingRun
from apps.recommendations.services.accuracy import accuracy_check, outcome_recording_lock
from apps.recommendations.services.runs import run_request
from maestro.observability.metrics import record_prediction_insufficient_data, time_recommendation


@dataclass
class Proposal:
    """A proposed project as the recommendations API receives it (validated)."""

    spec: str
    problem_class: str
    complexity: int
    planned_duration_days: float | None = None
    members: list[Member] = field(default_factory=list)
    artifact_ids: list[int] = field(default_factory=list)
    attributes: dict = field(default_factory=dict)
    project: Project | None = None
    constraints: TeamConstraints = field(default_factory=TeamConstraints)
    similar_k: int = 5
    max_artifacts: int = 10


def _round(value, digits: int = 3):
    return (
        None if value is None or (isinstance(value, float) and not np.isfinite(value)) else round(float(value), digits)
    )


def _target(predictor: Predictor, X: np.ndarray, target: str) -> dict:
    pred = predictor.predict(X, target)
    if pred is None:
        return dict(predictor.skipped_targets.get(target, {"status": "insufficient_data"}))
    return {
        "status": "ok",
        "predicted": _round(pred.point[0], 2),
        "lower": _round(pred.lower[0], 2),
        "upper": _round(pred.upper[0], 2),
        "n_training_samples": predictor.targets[target]["n_samples"],
    }


def _suggest_artifacts(
    predictor: Predictor,
    proposal: Proposal,
    inp: ProjectInput,
    neighbor_value: float,
    neighbor_ids: list[int],
    neighbor_success: list[float],
    library: list[tuple[int, str, str, bool]],
    model,
) -> list[dict]:
    """Library artifacts not yet in the proposal whose adjusted effect (``ml.effects``, computed for the serving
    version) is clearly positive — the 95 % interval above zero — ranked by the effect. An artifact with no clear
    effect is not suggested, however its model uplift looks. Each carries its interval, the observational-estimate
    label, the model's uplift for this proposal (prediction with it − without) and how many similar successful
    projects used it."""
    used = set(proposal.artifact_ids)
    helps = {
        row["artifact_id"]: row
        for row in ArtifactImpact.objects.filter(model_version=model.version, status="ok", verdict="helps").values(
            "artifact_id", "impact", "ci_low", "ci_high"
        )
    }
    candidates = [
        (aid, name, atype) for aid, name, atype, active in library if active and aid not in used and aid in helps
    ]
    if not candidates:
        return []
    X = predictor.rows([inp, *(inp.with_artifact(aid, atype) for aid, _name, atype in candidates)], neighbor_value)
    predicted = predictor.predict_success(X)
    threshold = float(predictor.metadata.get("success_mean", 0.0))
    successful = [pid for pid, s in zip(neighbor_ids, neighbor_success, strict=True) if s >= threshold]
    users: dict[int, set[int]] = {}  # artifacts the similar successful training projects used (kept with the model)
    for pid in successful:
        for aid in predictor.pool_artifacts.get(pid, ()):
            users.setdefault(aid, set()).add(pid)
    out = []
    for (aid, name, atype), value in zip(candidates, predicted[1:] - predicted[0], strict=True):
        effect = helps[aid]
        out.append(
            {
                "artifact_id": aid,
                "name": name,
                "type": atype,
                "effect": round(effect["impact"], 3),
                "effect_ci_low": round(effect["ci_low"], 3),
                "effect_ci_high": round(effect["ci_high"], 3),
                "label": OBSERVATIONAL,
                "uplift": round(float(value), 3),
                "specific": predictor.space.indicator_col(aid) is not None,
                "used_by_similar_successful": {
                    "count": len(users.get(aid, ())),
                    "of": len(successful),
                    "project_ids": sorted(users.get(aid, ())),
                },
            }
        )
    out.sort(key=lambda a: (-a["effect"], -a["used_by_similar_successful"]["count"], a["artifact_id"]))
    return out[: proposal.max_artifacts]


def _suggest_team(predictor: Predictor, proposal: Proposal, X: np.ndarray, proposed_success: float) -> dict:
    meta = predictor.metadata
    search = TeamSearch(
        predictor.space,
        X[0],
        predictor.predict_success,
        proposal.constraints,
        meta.get("years_by_level", {}),
        float(meta.get("median_member_hours", 0.0)),
    )
    result = search.run(proposed=proposal.members)
    c = proposal.constraints
    own = predictor.predict(result.row[None, :], "success") if result.row is not None else None
    counts = search.counts_of(
        [search.typical_member(role, level) for role, level, count in result.members for _ in range(count)]
    )
    interval = predictor.difference_interval(search.rows(counts[None, :]), X[:1]) if counts is not None else None
    improvement = result.predicted_success - proposed_success
    clear = interval is not None and interval[0] > 0
    return {
        "members": [
            {
                "role": role,
                "level": level,
                "count": count,
                "years_experience": round(search.typical_member(role, level).years, 1),
                "contribution_hours": round(search.typical_member(role, level).hours, 1),
            }
            for role, level, count in result.members
        ],
        "team_size": result.size,
        "predicted_success": _round(result.predicted_success, 2),
        # the suggested team's own 80 % interval, from the same quantile models as the proposal's
        "lower": _round(own.lower[0], 2) if own is not None else None,
        "upper": _round(own.upper[0], 2) if own is not None else None,
        "proposed_team_predicted_success": _round(proposed_success, 2),
        "improvement": _round(improvement, 2),
        "improvement_ci_low": _round(interval[0], 2) if interval else None,
        "improvement_ci_high": _round(interval[1], 2) if interval else None,
        "verdict": "clear improvement" if clear else "no clear effect",
        "candidates_evaluated": result.evaluated,
        "label": OBSERVATIONAL,
        "constraints": {
            "min_team_size": c.min_size,
            "max_team_size": c.max_size,
            "allowed_roles": list(c.roles),
            "allowed_levels": list(c.levels),
            "max_per_role": dict(c.max_per_role),
            "max_per_level": dict(c.max_per_level),
            "min_per_role": dict(c.min_per_role),
        },
    }


def _contributions(predictor: Predictor, X: np.ndarray) -> dict:
    contrib = predictor.contributions(X)[0]
    items = [
        {"feature": name, "value": _round(X[0, i], 4), "contribution": round(float(contrib.values[i]), 4)}
        for i, name in enumerate(predictor.space.names)
    ]
    items.sort(key=lambda c: -abs(c["contribution"]))
    return {"base_value": round(contrib.base_value, 4), "features": items}


def _save(*, user, proposal: Proposal, request_data: dict, response: dict, status: str, model=None) -> Prediction:
    success = response.get("success") or {}
    duration = response.get("duration_days") or {}
    cost = response.get("compute_cost") or {}
    prediction = Prediction.objects.create(
        project=proposal.project,
        model=model,
        model_version=getattr(model, "version", None),
        status=status,
        request=request_data,
        response=response,
        predicted_success=success.get("predicted"),
        lower=success.get("lower"),
        upper=success.get("upper"),
        confidence=success.get("confidence"),
        predicted_duration_days=duration.get("predicted"),
        predicted_cost=cost.get("predicted"),
        project_completed_before=bool(proposal.project and proposal.project.status == ProjectStatus.COMPLETED),
        created_by=user if getattr(user, "pk", None) else None,
    )
    if prediction.project_completed_before:
        prediction_record_outcome(proposal.project.pk)
    return prediction


def _vector(proposal: Proposal) -> np.ndarray | None:
    if emb.is_blank(proposal.spec):
        return None
    if proposal.project is not None and proposal.spec == proposal.project.spec:
        return selectors.project_vector(proposal.project)  # the stored embedding when it is current
    return caches.text_vector(proposal.spec)


def _delivery(predictor: Predictor, proposal: Proposal) -> tuple[tuple[str, float], ...]:
    """Delivery features of an existing project, when the model uses them: over the window before its start date,
    as in training (``dataset``). A proposed project has none, so its delivery columns are missing (NaN)."""
    project = proposal.project
    if project is None or not predictor.space.delivery_features:
        return ()
    return dataset.delivery_as_of_start([project.pk], {project.pk: project.start_date}).get(project.pk, ())


def _without_model(
    *, user, proposal: Proposal, request_data: dict, similar: list[dict], state: dict, store: bool
) -> dict:
    """The explicit answer when no model may predict: too few completed projects, none trained yet, or the trained
    one does not beat the historical mean (skill gate) — always with the baseline."""
    needed, have, baseline = state["needed"], state["have"], state["baseline"]
    body: dict = {
        "status": state["status"],
        "have": have,
        "needed": needed,
        "baseline": baseline,
        "similar_projects": similar,
    }
    if state["status"] == PredictionStatus.INSUFFICIENT_DATA:
        body["detail"] = (
            f"{have} completed projects with a success score; the model needs {needed}. "
            "The tenant's historical mean is given as a baseline."
        )
    elif state["status"] == PredictionStatus.INSUFFICIENT_SKILL:
        model = state["model"]
        figures = selectors.validation_figures(model)
        gate = figures["gate"]
        body["validation"] = figures
        if gate and gate.get("mae") is not None:
            body["detail"] = (
                f"Model v{model.version} does not predict reliably better than the historical mean on projects it "
                f"had not seen ({gate['evaluation']} evaluation: MAE {gate['mae']:.2f} vs {gate['baseline_mae']:.2f} "
                f"for the mean, skill {gate['skill']:.2f}, p = {gate['p_value']:.2g}). Use the historical mean."
            )
        elif gate:
            body["detail"] = f"Model v{model.version} had too few projects to evaluate forward in time."
        else:
            body["detail"] = f"Model v{model.version} was trained before the skill gate existed; retrain it."
    else:
        run = TrainingRun.objects.filter(kind=RunKind.TRAIN, status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).first()
        run = run or run_request(kind=RunKind.TRAIN, reason=RunReason.RECONCILE, user=user)
        body["detail"] = f"No model is trained yet; training run {run.pk} is {run.status}."
        body["training_run_id"] = run.pk
    if body["status"] == PredictionStatus.INSUFFICIENT_DATA:
        record_prediction_insufficient_data()
    if not store:
        return body
    prediction = _save(user=user, proposal=proposal, request_data=request_data, response=body, status=body["status"])
    return {"prediction_id": prediction.pk} | body


def recommendation_create(*, user, proposal: Proposal, request_data: dict, store: bool = True) -> dict:
    """Predict success (interval, confidence), duration and cost for ``proposal``; suggest artifacts and a team; list
    similar past projects and per-feature contributions. Stored as a Prediction; returns the response body.

    Without a servable model the answer is ``insufficient_data`` (fewer completed projects than
    RECOMMENDATIONS_MIN_COMPLETED_PROJECTS, also counted in ``maestro_predictions_insufficient_data_total``),
    ``insufficient_skill`` (the model fails the skill gate; its validation figures are included) or ``no_model`` (a
    training is queued), with the historical mean (``selectors.model_state``). Every answer is counted and timed in
    ``maestro_recommendations_served_total`` / ``maestro_recommendation_latency_seconds`` (label: the schema).

    ``store=False`` answers without keeping a Prediction (no ``prediction_id``): the what-if page's live preview,
    which recomputes on every edit; the lead's explicit **Predict** and the API store."""
    with time_recommendation():
        return _recommendation(user=user, proposal=proposal, request_data=request_data, store=store)


def _recommendation(*, user, proposal: Proposal, request_data: dict, store: bool) -> dict:
    vector = _vector(proposal)
    exclude = [proposal.project.pk] if proposal.project else []
    similar = (
        selectors.similar_projects(
            user=user, vector=vector, k=proposal.similar_k, exclude_ids=exclude, completed_only=True
        )
        if vector is not None
        else []
    )
    state = selectors.model_state()
    if state["status"] != PredictionStatus.OK:
        return _without_model(
            user=user, proposal=proposal, request_data=request_data, similar=similar, state=state, store=store
        )
    model = state["model"]

    predictor = caches.predictor_for(model.pk, model.version)
    found = predictor.neighbors(vector, exclude_project_id=proposal.project.pk if proposal.project else None)
    library = list(Artifact.objects.order_by("pk").values_list("pk", "name", "type", "is_active"))
    types = {aid: atype for aid, _name, atype, _active in library}
    inp = ProjectInput(
        problem_class=proposal.problem_class,
        complexity=float(proposal.complexity),
        planned_duration_days=proposal.planned_duration_days,
        members=tuple(proposal.members),
        artifacts=tuple((aid, types[aid]) for aid in proposal.artifact_ids if aid in types),
        delivery=_delivery(predictor, proposal),
        attributes=tuple(sorted(proposal.attributes.items())),
    )
    X = predictor.rows([inp], found.value)
    success = _target(predictor, X, "success")
    conf = predictor.confidence(success["lower"], success["upper"], found)
    success |= {
        "confidence": round(conf["confidence"], 4),
        "confidence_components": {k: round(v, 4) for k, v in conf.items() if k != "confidence"},
        "interval_coverage": 0.8,
    }
    neighbor_ids = predictor.neighbor_project_ids(found)
    neighbor_success = [float(predictor.pool_embedded_success[p]) for p in found.positions]
    body = {
        "status": PredictionStatus.OK,
        "model": {
            "id": model.pk,
            "version": model.version,
            "trained_at": model.trained_at,
            "n_samples": model.n_samples,
            "cv_mae": round(model.cv_mae, 4),
            "skill": _round(model.gate.get("skill"), 4),
            "forward_mae": _round(model.gate.get("mae"), 4),
        },
        "success": success,
        "duration_days": _target(predictor, X, "duration_days"),
        "compute_cost": _target(predictor, X, "compute_cost"),
        "neighbor_success": {
            "value": _round(found.value, 3),
            "neighbors": [
                {"project_id": pid, "similarity": round(float(s), 4), "success_score": round(y, 2)}
                for pid, s, y in zip(neighbor_ids, found.similarities, neighbor_success, strict=True)
            ],
        },
        "suggested_artifacts": _suggest_artifacts(
            predictor, proposal, inp, found.value, neighbor_ids, neighbor_success, library, model
        ),
        "suggested_team": _suggest_team(predictor, proposal, X, success["predicted"]),
        "similar_projects": similar,
        "feature_contributions": _contributions(predictor, X),
        # The mean of the training projects' success: what the model was fitted on (no extra query per request).
        "baseline": state["baseline"],
    }
    if not store:
        return body
    prediction = _save(
        user=user, proposal=proposal, request_data=request_data, response=body, status=PredictionStatus.OK, model=model
    )
    return {"prediction_id": prediction.pk} | body


def prediction_record_outcome(project_id: int) -> int:
    """Record the actual outcome on every open Prediction of a completed project; returns how many were updated.

    Call it after a project is completed (``receivers`` does, after commit); reconciliation also calls it for
    any completed project whose predictions still lack an actual, so nothing depends on that call alone."""
    row = (
        Project.objects.filter(pk=project_id, status=ProjectStatus.COMPLETED, success_score__isnull=False)
        .values("success_score", "start_date", "completion_date", "compute_cost")
        .first()
    )
    if row is None:
        return 0
    duration = None
    if row["start_date"] and row["completion_date"]:
        duration = float((row["completion_date"] - row["start_date"]).days)
    with transaction.atomic():
        outcome_recording_lock()  # the accuracy rule compares windows by recording time (services/accuracy.py)
        recorded_at = timezone.now()
        updated = Prediction.objects.filter(project_id=project_id, actual_success__isnull=True).update(
            actual_success=row["success_score"],
            actual_duration_days=duration,
            actual_cost=None if row["compute_cost"] is None else float(row["compute_cost"]),
            outcome_recorded_at=recorded_at,
        )
        if updated:
            accuracy_check(recorded_at=recorded_at)
    return updated


def predictions_reconcile_outcomes() -> int:
    """Record outcomes for every completed project that has predictions without an actual."""
    project_ids = (
        Prediction.objects.filter(
            actual_success__isnull=True, project__status=ProjectStatus.COMPLETED, project__success_score__isnull=False
        )
        .values_list("project_id", flat=True)
        .distinct()
        .order_by("project_id")
    )
    return sum(prediction_record_outcome(pid) for pid in project_ids)
