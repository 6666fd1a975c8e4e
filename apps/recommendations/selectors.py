"""Reads with rules: which projects a user may see in similarity results, model registry, runs, accuracy, impact."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from django.conf import settings
from django.db.models import (
    Avg,
    Case,
    Count,
    Exists,
    F,
    FloatField,
    Max,
    Min,
    OuterRef,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Abs, Trunc
from django.http import Http404

from apps.access.selectors import can
from apps.access.selectors import scope as access_scope
from apps.artifacts.models import Artifact
from apps.projects.choices import ProjectStatus
from apps.projects.models import Project
from apps.recommendations import caches, dataset
from apps.recommendations.choices import ModelAction, ModelStatus, PredictionStatus
from apps.recommendations.exports import PREDICTION_COLUMNS
from apps.recommendations.ml import embeddings as emb
from apps.recommendations.ml import overlap as ov
from apps.recommendations.ml.predict import deserialize_training_data
from apps.recommendations.models import (
    ArtifactImpact,
    ModelEvent,
    Prediction,
    ProjectEmbedding,
    SuccessModel,
    TrainingRun,
)

PROJECT_FIELDS = (
    "id",
    "name",
    "slug",
    "status",
    "problem_class",
    "complexity_score",
    "visibility",
    "owner_id",
    "start_date",
    "completion_date",
    "success_score",
    "model_performance",
    "business_impact",
    "compute_cost",
)


def visible_projects(user) -> QuerySet[Project]:
    """Projects ``user`` may see (the one permission gate, ``apps.access.selectors.scope``)."""
    return access_scope(Project.objects.all(), user=user)


def project_get_visible(*, user, pk: int) -> Project:
    project = visible_projects(user).filter(pk=pk).first()
    if project is None:
        raise Http404("No such project.")
    return project


def _project_payload(row: dict, similarity: float) -> dict:
    duration = None
    if row["start_date"] and row["completion_date"]:
        duration = (row["completion_date"] - row["start_date"]).days
    return {
        "project_id": row["id"],
        "name": row["name"],
        "slug": row["slug"],
        "status": row["status"],
        "problem_class": row["problem_class"],
        "complexity_score": row["complexity_score"],
        "similarity": round(float(similarity), 4),
        "success_score": row["success_score"],
        "model_performance": row["model_performance"],
        "business_impact": row["business_impact"],
        "compute_cost": None if row["compute_cost"] is None else float(row["compute_cost"]),
        "completion_date": row["completion_date"],
        "duration_days": duration,
    }


def similar_projects(
    *,
    user,
    vector: np.ndarray,
    k: int = 10,
    min_similarity: float = 0.0,
    exclude_ids: Iterable[int] = (),
    completed_only: bool = False,
) -> list[dict]:
    """The ``k`` projects most similar to ``vector`` that ``user`` may see, best first, with their outcomes.

    Exact cosine top-k over the tenant's in-memory index; candidates are over-fetched and filtered by visibility
    (and completion), doubling the candidate count until k are found or the index is exhausted."""
    index = caches.tenant_index()
    exclude = {int(i) for i in exclude_ids}
    fetch = max(2 * k + 10, 20)
    while True:
        hits = [h for h in index.search(vector, fetch, exclude=exclude) if h.similarity >= min_similarity]
        ids = [h.id for h in hits]
        rows = {r["id"]: r for r in visible_projects(user).filter(pk__in=ids).values(*PROJECT_FIELDS)}
        unseen = [i for i in ids if i not in rows]
        if unseen:  # hidden from this user, or deleted since the index was loaded
            present = set(Project.objects.filter(pk__in=unseen).values_list("pk", flat=True))
            caches.forget_projects([i for i in unseen if i not in present])
        out = [
            _project_payload(rows[h.id], h.similarity)
            for h in hits
            if h.id in rows and (not completed_only or rows[h.id]["status"] == ProjectStatus.COMPLETED)
        ]
        exhausted = fetch >= len(index) + len(exclude) or len(hits) < fetch
        if len(out) >= k or exhausted:
            return out[:k]
        fetch *= 4


def project_vector(project: Project) -> np.ndarray | None:
    """The stored embedding of ``project`` when it matches the current spec; otherwise the spec is embedded now
    (the stored one is refreshed by the background task)."""
    if emb.is_blank(project.spec):
        return None
    stored = (
        ProjectEmbedding.objects.filter(project=project, dim=emb.DIMENSION, model_name=emb.MODEL_NAME)
        .values_list("vector", "text_sha256")
        .first()
    )
    if stored is not None and stored[1] == emb.text_sha256(project.spec):
        return emb.from_bytes(stored[0])
    return caches.text_vector(project.spec)


def projects_overlap(*, a: Project, b: Project, min_similarity: float) -> dict:
    """Requirement-level overlap of two specs (method in ``ml.overlap``)."""
    sentences_a, sentences_b = ov.split_requirements(a.spec), ov.split_requirements(b.spec)
    vectors = emb.encode(sentences_a + sentences_b)
    emb_a, emb_b = vectors[: len(sentences_a)], vectors[len(sentences_a) :]
    matches = ov.match(emb_a, emb_b, min_similarity)
    matched_a = {m.a for m in matches}
    matched_b = {m.b for m in matches}
    return {
        "project_a": {"project_id": a.pk, "name": a.name, "requirements": len(sentences_a)},
        "project_b": {"project_id": b.pk, "name": b.name, "requirements": len(sentences_b)},
        "overlap_score": round(ov.overlap_score(matches, len(sentences_a), len(sentences_b)), 4),
        "min_similarity": min_similarity,
        "matched_pairs": [
            {"requirement_a": sentences_a[m.a], "requirement_b": sentences_b[m.b], "similarity": round(m.similarity, 4)}
            for m in matches
        ],
        "only_in_a": [s for i, s in enumerate(sentences_a) if i not in matched_a],
        "only_in_b": [s for i, s in enumerate(sentences_b) if i not in matched_b],
    }


def baseline() -> dict:
    """The tenant's historical mean success (the baseline quoted when there is no model)."""
    agg = dataset.completed_projects().aggregate(mean=Avg("success_score"), n=Count("pk"))
    return {
        "historical_mean": None if agg["mean"] is None else round(float(agg["mean"]), 3),
        "n_completed": agg["n"],
    }


def team_size_range() -> tuple[int, int] | None:
    """(smallest, largest) team of the completed projects with a score (what the model learns from); None without
    any. A proposal outside it asks the model to extrapolate, which the what-if page says."""
    agg = (
        dataset.completed_projects()
        .annotate(size=Count("team_members"))
        .aggregate(low=Min("size"), high=Max("size"), n=Count("pk"))
    )
    return None if not agg["n"] else (agg["low"], agg["high"])


MODEL_STATE_FIELDS = ("id", "version", "trained_at", "cv_mae", "n_samples", "status", "params", "validation")


def active_model() -> SuccessModel | None:
    return SuccessModel.objects.filter(status=ModelStatus.ACTIVE).only(*MODEL_STATE_FIELDS).first()


def latest_model() -> SuccessModel | None:
    return SuccessModel.objects.order_by("-version").only(*MODEL_STATE_FIELDS).first()


def validation_figures(model: SuccessModel) -> dict:
    """What a tenant sees of a version's validation when it is not served: the gate, both evaluations, the learning
    curve and the estimate of how many more completed projects would change the answer."""
    validation = model.validation or {}
    return {
        "model_version": model.version,
        "n_samples": model.n_samples,
        "gate": validation.get("gate", {}),
        "forward": validation.get("forward", {}),
        "cv_gate": validation.get("cv_gate", {}),
        "learning_curve": validation.get("learning_curve", []),
        "projects_needed": validation.get("projects_needed", {}),
        "cv_mae": model.cv_mae,
    }


def model_state(*, base: dict | None = None, versions: list[SuccessModel] | None = None) -> dict:
    """The tenant's recommendation state, as predictions answer it: ``ok`` (an active version passed the skill gate),
    ``insufficient_skill`` (the serving or latest version does not beat the historical mean), ``no_model`` or
    ``insufficient_data`` (fewer completed projects than the minimum), with the figures behind it. ``base`` and
    ``versions`` (newest first), when the caller has them, save their queries."""
    if versions is None:
        active, latest = active_model(), None
    else:
        active = next((m for m in versions if m.status == ModelStatus.ACTIVE), None)
        latest = versions[0] if versions else None
    if active is not None and active.passes_gate and base is None:
        # The serving path: the answer quotes the mean of the projects the model was trained on (kept with the
        # version), so no aggregate query runs per request; ``have`` is then that training set's size.
        mean = active.params.get("success_mean")
        base = {"historical_mean": None if mean is None else round(float(mean), 3), "n_completed": active.n_samples}
    needed = settings.RECOMMENDATIONS_MIN_COMPLETED_PROJECTS
    base = base if base is not None else baseline()
    state = {"have": base["n_completed"], "needed": needed, "baseline": base, "model": None}
    if active is not None and active.passes_gate:
        return state | {"status": PredictionStatus.OK, "model": active}
    if active is not None:  # it fails the gate, or predates it
        return state | {"status": PredictionStatus.INSUFFICIENT_SKILL, "model": active}
    latest = latest if versions is not None else latest_model()
    if latest is not None and latest.validation and not latest.passes_gate:
        return state | {"status": PredictionStatus.INSUFFICIENT_SKILL, "model": latest}
    if base["n_completed"] < needed:
        return state | {"status": PredictionStatus.INSUFFICIENT_DATA}
    return state | {"status": PredictionStatus.NO_MODEL}


def model_list() -> QuerySet[SuccessModel]:
    return SuccessModel.objects.defer("booster", "training_data").order_by("-version")


def latest_model_summary() -> dict | None:
    """The newest model version and its success CV error against the mean baseline (for the home page)."""
    model = model_list().first()
    if model is None:
        return None
    success = (model.cv_metrics or {}).get("success", {})
    return {
        "model": model,
        "mae": success.get("mae"),
        "baseline_mae": success.get("baseline_mae"),
        "r2": success.get("r2"),
    }


def has_rollback() -> Exists:
    """Annotation for a model queryset: whether the version replaced another when promoted, so a roll back has
    somewhere to go (the first version ever promoted has not). In the same query as the versions themselves."""
    promoted = (ModelAction.AUTO_PROMOTED, ModelAction.PROMOTED)
    return Exists(ModelEvent.objects.filter(model=OuterRef("pk"), action__in=promoted, previous_active__isnull=False))


def model_events(model: SuccessModel) -> QuerySet[ModelEvent]:
    return model.events.select_related("actor", "previous_active").order_by("-created_at", "-id")


def training_run_list() -> QuerySet[TrainingRun]:
    return TrainingRun.objects.select_related("model", "requested_by").order_by("-created_at", "-id")


def prediction_list() -> QuerySet[Prediction]:
    return Prediction.objects.select_related("created_by").order_by("-created_at", "-id")


def prediction_latest_before_completion(*, user, project: Project) -> Prediction | None:
    """The latest successful prediction made for ``project`` before it completed (the one its page compares with
    the actual outcome); None when there is none or ``user`` may not read predictions (the "models" resource)."""
    if not can(user, "models", "read"):
        return None
    return (
        prediction_list()
        .filter(project=project, status="ok", project_completed_before=False)
        .order_by("-created_at", "-id")
        .first()
    )


def prediction_accuracy(*, bucket: str = "month") -> dict:
    """Predicted vs actual success of predictions made before their project completed, per period and overall."""
    scored = Prediction.objects.filter(
        status=PredictionStatus.OK,
        actual_success__isnull=False,
        predicted_success__isnull=False,
        project_completed_before=False,
    )
    inside = Case(
        When(actual_success__gte=F("lower"), actual_success__lte=F("upper"), then=Value(1.0)),
        default=Value(0.0),
        output_field=FloatField(),
    )
    metrics = {
        "n": Count("pk"),
        "mae": Avg(Abs(F("predicted_success") - F("actual_success"))),
        "mean_error": Avg(F("predicted_success") - F("actual_success")),
        "interval_coverage": Avg(inside),
    }
    periods = (
        scored.annotate(period=Trunc("created_at", bucket))
        .values("period", "model_version")
        .annotate(**metrics)
        .order_by("period", "model_version")
    )
    overall = scored.aggregate(**metrics)

    def clean(entry: dict) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in entry.items()}

    models = list(model_list().values("id", "version", "status", "cv_mae", "trained_at", "n_samples"))
    return {
        "bucket": bucket,
        "overall": clean(overall),
        "periods": [clean(p) for p in periods],
        "models": models,
        "pending_outcomes": Prediction.objects.filter(
            status=PredictionStatus.OK, actual_success__isnull=True, project__isnull=False
        ).count(),
    }


def artifact_impact_get(*, user, artifact_id: int) -> dict:
    artifact = (
        access_scope(Artifact.objects.all(), user=user)
        .filter(pk=artifact_id)
        .values("id", "name", "type", "usage_count")
        .first()
    )
    if artifact is None:
        raise Http404("No such artifact.")
    impact = ArtifactImpact.objects.filter(artifact_id=artifact_id).first()
    return {"artifact": artifact, "impact": impact}


def artifact_impact_list(*, user) -> QuerySet[ArtifactImpact]:
    visible = access_scope(Artifact.objects.all(), user=user)
    return ArtifactImpact.objects.filter(artifact__in=visible).select_related("artifact").order_by("artifact_id")


def training_data(*, user, model_id: int) -> dict:
    """The stored training matrix of a version with its out-of-sample predictions, restricted to the projects
    ``user`` may see (rows of others are left out and counted). 404 for an unknown version; ``None`` arrays when the
    version predates stored training data."""
    model = SuccessModel.objects.filter(pk=model_id).only("id", "version", "features", "training_data").first()
    if model is None:
        raise Http404("No such model version.")
    if model.training_data is None:
        return {"model": model, "columns": None}
    data = deserialize_training_data(model.training_data)
    ids = data["project_ids"].astype(np.int64)
    visible = set(visible_projects(user).filter(pk__in=[int(i) for i in ids]).values_list("pk", flat=True))
    keep = np.array([int(i) in visible for i in ids], dtype=bool)
    values = np.column_stack([data[name].astype(np.float64) for name in PREDICTION_COLUMNS] + [data["X"]])
    return {
        "model": model,
        "columns": [*PREDICTION_COLUMNS, *model.features],
        "ids": ids[keep],
        "values": values[keep],
        "withheld": int((~keep).sum()),
    }
