"""Bulk reads that turn the tenant's projects into the ML layer's dataclasses (a fixed number of queries).

**As of the decision.** A recommendation is asked for when a project is proposed, so every training row holds only
what was known at its start date:

* delivery features (Git/CI integrations) are measured over the window *before the start date* (a project without a
  start date gets none) — never over the project's own delivery;
* an artifact usage counts when it was recorded by the start date — or, for a project recorded after it had already
  started (a historical record entered later), by the day the project was recorded; usages added on later days
  were adopted during the work and are left out;
* team, hours, complexity, problem class and planned duration are read as recorded: Maestro keeps no history of
  them, so a team changed after the start is seen as it is now (the documented approximation; record the team as
  planned, e.g. through the bulk import, for exact training rows).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable

import numpy as np
from django.utils import timezone

from apps.artifacts.models import ArtifactUsage
from apps.integrations.features import DELIVERY_FEATURE_NAMES, delivery_features
from apps.integrations.models import Integration
from apps.projects.choices import ProjectStatus
from apps.projects.models import Project, ProjectAttribute, TeamMember
from apps.recommendations.ml import embeddings as emb
from apps.recommendations.ml.features import Member, ProjectInput
from apps.recommendations.ml.training import TrainingSet
from apps.recommendations.models import ProjectEmbedding


def _days(start, end) -> float | None:
    if start is None or end is None:
        return None
    return float((end - start).days)


def members_by_project(project_ids: Iterable[int]) -> dict[int, list[Member]]:
    out: dict[int, list[Member]] = defaultdict(list)
    rows = TeamMember.objects.filter(project_id__in=list(project_ids)).order_by("project_id", "id")
    for pid, role, level, years, hours in rows.values_list(
        "project_id", "role", "experience_level", "years_experience", "contribution_hours"
    ):
        out[pid].append(Member(role, level, float(years or 0.0), float(hours or 0.0)))
    return out


def artifacts_by_project(project_ids: Iterable[int], as_of: dict | None = None) -> dict[int, list[tuple[int, str]]]:
    """(artifact id, type) per project; several versions of one artifact count once. With ``as_of`` (project id →
    date or None), only usages recorded on or before that day count (None: all)."""
    out: dict[int, dict[int, str]] = defaultdict(dict)
    rows = ArtifactUsage.objects.filter(project_id__in=list(project_ids)).order_by("project_id", "artifact_id")
    for pid, aid, atype, used_at in rows.values_list("project_id", "artifact_id", "artifact__type", "used_at"):
        cutoff = as_of.get(pid) if as_of is not None else None
        if cutoff is None or timezone.localdate(used_at) <= cutoff:
            out[pid][aid] = atype
    return {pid: sorted(arts.items()) for pid, arts in out.items()}


def decision_dates(project_ids: Iterable[int]) -> tuple[dict, dict]:
    """(start date per project, the day artifact usages are counted up to) — see the module docstring."""
    starts, usage_cutoff = {}, {}
    for pid, start, created in Project.objects.filter(pk__in=list(project_ids)).values_list(
        "id", "start_date", "created_at"
    ):
        starts[pid] = start
        usage_cutoff[pid] = None if start is None else max(start, timezone.localdate(created))
    return starts, usage_cutoff


def delivery_by_project(project_ids: Iterable[int], as_of=None) -> dict[int, tuple[tuple[str, float], ...]]:
    """Known delivery features (``apps.integrations.features``) of the projects that have an integration, as
    (name, value) pairs in ``DELIVERY_FEATURE_NAMES`` order; ``as_of`` as in ``delivery_features``. Projects without
    an integration cost one query in total, so tenants without integrations pay (almost) nothing."""
    ids = list(project_ids)
    integrated = sorted(
        set(Integration.objects.filter(project_id__in=ids).values_list("project_id", flat=True).order_by())
    )
    if not integrated:
        return {}
    if isinstance(as_of, dict):
        as_of = {pid: as_of.get(pid) for pid in integrated}
    found = delivery_features(integrated, as_of=as_of)
    return {
        pid: tuple((name, values[name]) for name in DELIVERY_FEATURE_NAMES if name in values)
        for pid, values in found.items()
    }


def project_inputs(project_ids: list[int], *, delivery: dict | None = None) -> dict[int, ProjectInput]:
    """The model inputs of ``project_ids`` as of their start (module docstring); ``delivery`` (from
    ``delivery_by_project``) adds delivery features."""
    members = members_by_project(project_ids)
    _starts, usage_cutoff = decision_dates(project_ids)
    artifacts = artifacts_by_project(project_ids, as_of=usage_cutoff)
    delivery = delivery or {}
    out = {}
    for pid, pclass, complexity, start, target_end, attributes in Project.objects.filter(
        pk__in=project_ids
    ).values_list("id", "problem_class", "complexity_score", "start_date", "target_end_date", "attributes"):
        out[pid] = ProjectInput(
            problem_class=pclass,
            complexity=float(complexity),
            planned_duration_days=_days(start, target_end),
            members=tuple(members.get(pid, ())),
            artifacts=tuple(artifacts.get(pid, ())),
            delivery=delivery.get(pid, ()),
            attributes=tuple(sorted((attributes or {}).items())),
        )
    return out


def attribute_defs() -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    """The tenant's project attribute definitions as the feature space takes them: (key, kind, choices)."""
    return tuple(
        (key, kind, tuple(choices or ()))
        for key, kind, choices in ProjectAttribute.objects.order_by("key").values_list("key", "kind", "choices")
    )


def embeddings_for(project_ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(matrix aligned with ``project_ids``, mask of rows that have an embedding)."""
    position = {pid: i for i, pid in enumerate(project_ids)}
    matrix = np.zeros((len(project_ids), emb.DIMENSION), dtype=np.float32)
    has = np.zeros(len(project_ids), dtype=bool)
    rows = ProjectEmbedding.objects.filter(project_id__in=project_ids, model_name=emb.MODEL_NAME, dim=emb.DIMENSION)
    for pid, vector in rows.values_list("project_id", "vector").iterator(chunk_size=2000):
        i = position[pid]
        matrix[i] = emb.from_bytes(vector)
        has[i] = True
    return matrix, has


def completed_projects():
    """Completed projects with a success score: the training population."""
    return Project.objects.filter(status=ProjectStatus.COMPLETED, success_score__isnull=False)


def delivery_as_of_start(project_ids: list[int], starts: dict) -> dict:
    """Delivery features over the window before each project's start date; none for a project without one."""
    dated = [pid for pid in project_ids if starts.get(pid) is not None]
    return delivery_by_project(dated, as_of={pid: starts[pid] for pid in dated}) if dated else {}


def training_set() -> TrainingSet:
    """The training population with its inputs as of each project's start (see the module docstring)."""
    rows = list(
        completed_projects()
        .order_by("id")
        .values_list("id", "success_score", "start_date", "completion_date", "compute_cost")
    )
    ids = [r[0] for r in rows]
    inputs = project_inputs(ids, delivery=delivery_as_of_start(ids, {r[0]: r[2] for r in rows}))
    matrix, has = embeddings_for(ids)
    return TrainingSet(
        project_ids=np.asarray(ids, dtype=np.int64),
        inputs=[inputs[pid] for pid in ids],
        embeddings=matrix,
        has_embedding=has,
        success=np.asarray([float(r[1]) for r in rows], dtype=np.float64),
        duration_days=np.asarray([np.nan if (d := _days(r[2], r[3])) is None else d for r in rows], dtype=np.float64),
        compute_cost=np.asarray([np.nan if r[4] is None else float(r[4]) for r in rows], dtype=np.float64),
        delivery_names=DELIVERY_FEATURE_NAMES,
        completed_on=np.asarray([np.nan if r[3] is None else float(r[3].toordinal()) for r in rows], dtype=np.float64),
        attribute_defs=attribute_defs(),
    )


def fingerprint(ts: TrainingSet) -> str:
    """Identifies the training data: projects, targets, feature inputs and which specs have embeddings."""
    digest = hashlib.sha256()
    for part in ts.fingerprint_parts():
        digest.update(np.ascontiguousarray(part).tobytes())
    for p in ts.inputs:
        digest.update(repr((p.problem_class, p.complexity, p.planned_duration_days, p.members, p.artifacts)).encode())
        if p.delivery:  # only when present: fingerprints of tenants without integrations stay as they were
            digest.update(repr(p.delivery).encode())
        if p.attributes:
            digest.update(repr(p.attributes).encode())
    if ts.attribute_defs:
        digest.update(repr(ts.attribute_defs).encode())
    digest.update(np.ascontiguousarray(ts.embeddings[ts.has_embedding]).tobytes())
    return digest.hexdigest()
