"""Writes on projects, their teams and the tenant's scoring settings.

Completion rule (the only cross-field logic here): when a project is, or becomes, ``completed``, its success_score is
computed from the outcome fields with the tenant's :class:`ScoringSettings` — unless the client gives success_score
explicitly (source ``explicit``). A computed score follows later edits of the outcome fields; an explicit one stays
until the client clears it (``success_score: null`` recomputes). Leaving ``completed`` clears success_score and
completion_date (the outcome fields are kept). Completing without enough outcome data is a ValidationError naming
the missing fields.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import date
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.text import slugify

from apps.access.services import grant_creator
from apps.accounts.models import User
from apps.artifacts.models import Artifact, ArtifactUsage
from apps.audit.services import audit_bulk
from apps.metrics.services import project_runs_delete
from apps.projects import scoring
from apps.projects.choices import AttributeKind, ProjectStatus, SuccessScoreSource
from apps.projects.models import MAX_PROJECT_ATTRIBUTES, Project, ProjectAttribute, ScoringSettings, TeamMember
from apps.projects.signals import project_written
from apps.tenants.models import Tenant
from apps.tenants.quotas import quota_check
from maestro.events import emit

PROJECT_FIELDS = frozenset(
    {
        "name",
        "slug",
        "spec",
        "problem_class",
        "complexity_score",
        "status",
        "start_date",
        "target_end_date",
        "completion_date",
        "tags",
        "owner",
        "visibility",
        "model_performance",
        "business_impact",
        "compute_cost",
        "success_score",
        "attributes",
    }
)
OUTCOME_FIELDS = ("model_performance", "business_impact", "compute_cost")
TEAM_MEMBER_FIELDS = frozenset(
    {"user", "display_name", "role", "experience_level", "years_experience", "contribution_hours", "performance_score"}
)
SCORING_FIELDS = frozenset(
    {"w_model_performance", "w_business_impact", "w_cost_efficiency", "cost_reference", "min_components", "cost_unit"}
)
SLUG_MAX = Project._meta.get_field("slug").max_length
TAG_MAX = 50


# ---------------------------------------------------------------------------------------------- helpers
def normalize_tags(tags: Any, *, field: str = "tags") -> list[str]:
    """Tags are trimmed, lower-cased, de-duplicated (first occurrence wins) strings of 1–50 characters."""
    if tags is None:
        return []
    if isinstance(tags, str) or not isinstance(tags, (list, tuple)):
        raise ValidationError({field: "Tags must be a list of strings."})
    out: list[str] = []
    for index, tag in enumerate(tags):
        if not isinstance(tag, str) or not tag.strip():
            raise ValidationError({field: f"Tag {index} must be a non-empty string."})
        tag = tag.strip().lower()
        if len(tag) > TAG_MAX:
            raise ValidationError({field: f"Tag {index} is longer than {TAG_MAX} characters."})
        if tag not in out:
            out.append(tag)
    return out


def reject_unknown_fields(data: dict[str, Any], allowed: frozenset[str]) -> None:
    """Services take model fields as a dict; a key outside ``allowed`` is a ValidationError naming it."""
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValidationError({name: "This field cannot be written." for name in unknown})


def current_tenant():
    """The tenant whose schema the connection uses (plan limits live on it); None for the public schema."""
    return Tenant.objects.filter(schema_name=connection.schema_name).first()


def unique_project_slug(name: str, *, exclude_pk: int | None = None) -> str:
    """A free slug derived from ``name``: ``base``, else ``base-2``, ``base-3``, …

    Hand-rolled (a dozen lines) instead of django-autoslug: the service owns the retry on a concurrent insert, which
    a model field cannot do, and nothing else needs the dependency.
    """
    base = slugify(name)[: SLUG_MAX - 8].strip("-") or "project"
    taken = Project.objects.filter(slug__regex=rf"^{re.escape(base)}(-[0-9]+)?$")
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    taken_slugs = set(taken.values_list("slug", flat=True))
    if base not in taken_slugs:
        return base
    suffixes = [
        int(slug.rsplit("-", 1)[1]) for slug in taken_slugs if slug != base and slug[len(base) + 1 :].isdecimal()
    ]
    return f"{base}-{max([1, *suffixes]) + 1}"


def scoring_weights() -> scoring.ScoringWeights:
    row = ScoringSettings.objects.filter(pk=1).first()
    return row.as_weights() if row else scoring.ScoringWeights()


OUTCOME_LABELS = {
    "model_performance": "model performance",
    "business_impact": "business impact",
    "compute_cost": "compute cost",
}


def _insufficient_error(exc: scoring.InsufficientOutcome) -> ValidationError:
    """Completing without enough outcome: one explanation, on the success score, in plain words; each missing
    outcome field gets a short note of its own (the API reports every field; the form shows each note once)."""
    missing = [OUTCOME_LABELS.get(field, field.replace("_", " ")) for field in exc.missing]
    listed = " or ".join(missing) if len(missing) <= 2 else f"{', '.join(missing[:-1])} or {missing[-1]}"
    explanation = (
        f"To complete the project, enter its success score, or {exc.needed - exc.given} more of the outcome "
        f"({listed}) so the score can be computed from {exc.needed} of them ({exc.given} given)."
    )
    errors = {field: "Needed to compute the success score." for field in exc.missing}
    errors["success_score"] = explanation
    return ValidationError(errors)


def _apply_completion(
    project: Project, data: dict[str, Any], previous_status: str | None, weights: scoring.ScoringWeights | None = None
) -> None:
    completed = project.status == ProjectStatus.COMPLETED
    if not completed:
        if previous_status == ProjectStatus.COMPLETED:
            project.success_score = None
            project.success_score_source = ""
            if "completion_date" not in data:
                project.completion_date = None
        return
    completing = previous_status != ProjectStatus.COMPLETED
    if completing and project.completion_date is None:
        project.completion_date = timezone.localdate()
    if data.get("success_score") is not None:
        project.success_score_source = SuccessScoreSource.EXPLICIT
        return
    explicit_kept = project.success_score_source == SuccessScoreSource.EXPLICIT and "success_score" not in data
    outcome_changed = any(field in data for field in OUTCOME_FIELDS)
    if explicit_kept or not (completing or outcome_changed or "success_score" in data):
        return
    try:
        project.success_score = scoring.success_score(
            model_performance=project.model_performance,
            business_impact=project.business_impact,
            compute_cost=project.compute_cost,
            weights=weights or scoring_weights(),
        )
    except scoring.InsufficientOutcome as exc:
        raise _insufficient_error(exc) from None
    project.success_score_source = SuccessScoreSource.COMPUTED


def _save_project(project: Project, *, slug_generated: bool) -> Project:
    """Save a prepared project; a generated slug taken concurrently between check and insert is regenerated."""
    for _attempt in range(5):
        try:
            with transaction.atomic():
                project.save()
            return project
        except IntegrityError:
            if not Project.objects.filter(slug=project.slug).exclude(pk=project.pk).exists():
                raise
            if not slug_generated:
                raise ValidationError({"slug": f"The slug '{project.slug}' is taken."}) from None
            project.slug = unique_project_slug(project.name, exclude_pk=project.pk)
    raise ValidationError({"slug": "Could not find a free slug; give one explicitly."})


def _after_write(project: Project, *, previous_status: str | None) -> None:
    """Announce the write (``signals.project_written``) for the apps that keep derived state about projects: the
    recommendation engine re-embeds a changed spec (queued, sent on commit) and records the actual outcome on the
    project's predictions once it is completed (after commit); its periodic reconciliation repairs both if either is
    lost (e.g. Redis down). An explicit event sent here, by the service, not a model save hook. A project that has
    just become completed is announced (``project.completed``, maestro.events)."""
    completed = project.status == ProjectStatus.COMPLETED
    project_written.send(sender=Project, project_id=project.pk, completed=completed)
    if completed and previous_status != ProjectStatus.COMPLETED:
        emit("project.completed", payload={"project": _completed_payload(project)}, project_id=project.pk)


def _completed_payload(project: Project) -> dict[str, Any]:
    return {
        "id": project.pk,
        "name": project.name,
        "slug": project.slug,
        "status": project.status,
        "success_score": project.success_score,
        "completion_date": project.completion_date,
        "model_performance": project.model_performance,
        "business_impact": project.business_impact,
        "compute_cost": project.compute_cost,
    }


def attribute_values_clean(
    values: Any, *, definitions: list[ProjectAttribute] | None = None, field: str = "attributes"
) -> dict[str, Any]:
    """Validate tenant-defined attribute values (``ProjectAttribute``): a dict by key; a null value removes the key.
    Errors name ``attributes.<key>``. Numbers become floats, yes/no booleans, categories one of the choices."""
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ValidationError({field: "Must be an object of attribute values by key."})
    definitions = definitions if definitions is not None else list(ProjectAttribute.objects.all())
    by_key = {a.key: a for a in definitions}
    errors, out = {}, {}
    for key, value in values.items():
        attribute = by_key.get(key)
        name = f"{field}.{key}"
        if attribute is None:
            errors[name] = "No such project attribute; an admin defines them (/api/v1/project-attributes)."
            continue
        if value is None:
            continue
        if attribute.kind == AttributeKind.NUMBER:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
                errors[name] = "Must be a number."
            elif attribute.min_value is not None and value < attribute.min_value:
                errors[name] = f"Must be at least {attribute.min_value:g}."
            elif attribute.max_value is not None and value > attribute.max_value:
                errors[name] = f"Must be at most {attribute.max_value:g}."
            else:
                out[key] = float(value)
        elif attribute.kind == AttributeKind.BOOLEAN:
            if not isinstance(value, bool):
                errors[name] = "Must be true or false."
            else:
                out[key] = value
        elif value not in attribute.choices:
            errors[name] = f"Must be one of: {', '.join(attribute.choices)}."
        else:
            out[key] = value
    if errors:
        raise ValidationError(errors)
    return out


def _set_fields(project: Project, data: dict[str, Any], attributes: list[ProjectAttribute] | None = None) -> bool:
    """Copy ``data`` onto ``project``; return whether the slug must be generated from the name."""
    for field, value in data.items():
        if field == "attributes":
            value = attribute_values_clean(value, definitions=attributes)
        elif field == "tags":
            value = normalize_tags(value)
        elif field == "compute_cost" and value is not None and not isinstance(value, Decimal):
            value = Decimal(str(value))
        elif field in ("spec", "slug") and value is None:
            value = ""
        setattr(project, field, value)
    if data.get("slug"):
        project.slug = data["slug"]
        return False
    return not project.slug or ("slug" in data and not data["slug"])


# ---------------------------------------------------------------------------------------------- projects
def project_prepare(
    *,
    project: Project | None,
    data: dict[str, Any],
    attributes: list[ProjectAttribute] | None = None,
    check_constraints: bool = True,
    weights: scoring.ScoringWeights | None = None,
) -> tuple[Project, bool]:
    """Apply ``data`` to ``project`` (a new one when None) in memory, with the slug and completion rules, and validate
    it. Returns the unsaved project and whether its slug was generated. Shared by the API and the admin form.

    For many projects at once (the bulk import): ``attributes`` (the definitions) and ``weights`` (the scoring
    settings) read once instead of per project, and ``check_constraints=False`` skips Django's per-constraint queries
    — each CheckConstraint repeats a field validator that ``full_clean`` runs anyway, and the database enforces them
    again on insert."""
    reject_unknown_fields(data, PROJECT_FIELDS)
    previous_status = project.status if project is not None and project.pk else None
    project = project if project is not None else Project()
    creating = project.pk is None
    slug_generated = _set_fields(project, data, attributes=attributes)
    if not creating:
        slug_generated = slug_generated and "slug" in data
    if slug_generated:
        project.slug = unique_project_slug(project.name or "", exclude_pk=project.pk)
    _apply_completion(project, data, previous_status=previous_status, weights=weights)
    project.full_clean(validate_unique=not slug_generated, validate_constraints=check_constraints)
    return project, slug_generated


@transaction.atomic
def project_create(*, user: User | None, data: dict[str, Any]) -> Project:
    """Create a project. ``data`` holds model fields; the owner defaults to ``user``, the slug to one made from the
    name (collision-safe); creating it as ``completed`` applies the completion rule."""
    reject_unknown_fields(data, PROJECT_FIELDS)
    quota_check("projects")
    project, slug_generated = project_prepare(project=None, data={"owner": user, **data})
    project = _save_project(project, slug_generated=slug_generated)
    grant_creator(user=user, obj=project)
    _after_write(project, previous_status=None)
    return project


@transaction.atomic
def project_update(*, project: Project, user: User | None, data: dict[str, Any]) -> Project:
    """Change some fields of a project (``data`` holds only the changed ones). Setting ``status`` to ``completed``
    completes it exactly like :func:`project_complete`; an empty ``slug`` regenerates it from the name."""
    locked = Project.objects.select_for_update().get(pk=project.pk)
    previous_status = locked.status
    project, slug_generated = project_prepare(project=locked, data=data)
    project = _save_project(project, slug_generated=slug_generated)
    _after_write(project, previous_status=previous_status)
    return project


@transaction.atomic
def project_complete(
    *,
    project: Project,
    user: User | None,
    model_performance: float | None = None,
    business_impact: float | None = None,
    compute_cost: Decimal | float | None = None,
    success_score: float | None = None,
    completion_date: date | None = None,
) -> Project:
    """Mark a planned or active project completed with its outcome. Outcome fields given here override the stored
    ones; success_score is computed from them (tenant weights) unless given."""
    project = Project.objects.select_for_update().get(pk=project.pk)
    if project.status not in (ProjectStatus.PLANNED, ProjectStatus.ACTIVE):
        raise ValidationError(
            {"status": f"Only planned or active projects can be completed; this one is {project.status}."}
        )
    data: dict[str, Any] = {"status": ProjectStatus.COMPLETED}
    given = {
        "model_performance": model_performance,
        "business_impact": business_impact,
        "compute_cost": compute_cost,
        "success_score": success_score,
        "completion_date": completion_date,
    }
    data.update({field: value for field, value in given.items() if value is not None})
    return project_update(project=project, user=user, data=data)


@transaction.atomic
def project_delete(*, project: Project, user: User | None) -> None:
    """Delete a project with its team, usages and runs (with the runs' metric history, through
    ``apps.metrics.services.project_runs_delete``), keeping every used artifact's usage_count exact."""
    per_artifact = Counter(
        ArtifactUsage.objects.filter(project=project).values_list("artifact_id", flat=True).iterator()
    )
    for artifact_id, count in sorted(per_artifact.items()):  # a fixed lock order
        Artifact.objects.filter(pk=artifact_id).update(usage_count=F("usage_count") - count)
    ArtifactUsage.objects.filter(project=project).delete()
    project_runs_delete(project=project)
    project.delete()


# ---------------------------------------------------------------------------------------------- team members
def _default_display_name(member: TeamMember) -> None:
    if not (member.display_name or "").strip():
        if member.user is None:
            raise ValidationError({"display_name": "A display name is required when no user is linked."})
        member.display_name = member.user.get_full_name() or member.user.username


@transaction.atomic
def team_member_create(*, project: Project, data: dict[str, Any]) -> TeamMember:
    """Add a person to a project's team; every range (years 0–60, hours ≥ 0, performance 0–100) is validated."""
    reject_unknown_fields(data, TEAM_MEMBER_FIELDS)
    member = TeamMember(project=project, **data)
    _default_display_name(member)
    member.full_clean()
    member.save()
    return member


@transaction.atomic
def team_member_update(*, member: TeamMember, data: dict[str, Any]) -> TeamMember:
    reject_unknown_fields(data, TEAM_MEMBER_FIELDS)
    for field, value in data.items():
        setattr(member, field, value)
    _default_display_name(member)
    member.full_clean()
    member.save()
    return member


@transaction.atomic
def team_member_delete(*, member: TeamMember) -> None:
    member.delete()


# ---------------------------------------------------------------------------------------------- scoring settings
@transaction.atomic
def scoring_settings_update(*, user: User | None, data: dict[str, Any]) -> ScoringSettings:
    """Change the tenant's success_score weights. Scores already stored are not recomputed: they record what the
    weights were at completion."""
    reject_unknown_fields(data, SCORING_FIELDS)
    row, _created = ScoringSettings.objects.select_for_update().get_or_create(pk=1)
    for field, value in data.items():
        setattr(row, field, value)
    row.full_clean()
    row.save()
    return row


# ---------------------------------------------------------------------------------------------- project attributes
ATTRIBUTE_FIELDS = frozenset({"key", "label", "kind", "choices", "min_value", "max_value", "help_text"})


@transaction.atomic
def project_attribute_create(*, data: dict[str, Any]) -> ProjectAttribute:
    """Define a project attribute (at most ``MAX_PROJECT_ATTRIBUTES`` per tenant)."""
    reject_unknown_fields(data, ATTRIBUTE_FIELDS)
    if ProjectAttribute.objects.select_for_update().count() >= MAX_PROJECT_ATTRIBUTES:
        raise ValidationError({"key": f"At most {MAX_PROJECT_ATTRIBUTES} project attributes per organisation."})
    attribute = ProjectAttribute(**{"choices": [], **data})
    attribute.full_clean()
    attribute.save()
    return attribute


@transaction.atomic
def project_attribute_update(*, attribute: ProjectAttribute, data: dict[str, Any]) -> ProjectAttribute:
    """Change a definition; the key and kind are fixed once defined."""
    reject_unknown_fields(data, ATTRIBUTE_FIELDS)
    for field in ("key", "kind"):
        if field in data and data[field] != getattr(attribute, field):
            raise ValidationError({field: "Cannot be changed; define a new attribute instead."})
    for field, value in data.items():
        setattr(attribute, field, value)
    attribute.full_clean()
    attribute.save()
    return attribute


@transaction.atomic
def project_attribute_delete(*, attribute: ProjectAttribute) -> int:
    """Delete a definition and its values from every project; returns how many projects had one."""
    key = attribute.key
    ids = list(Project.objects.filter(attributes__has_key=key).values_list("pk", flat=True))
    if ids:
        with connection.cursor() as cursor:
            cursor.execute("UPDATE projects_project SET attributes = attributes - %s WHERE id = ANY(%s)", [key, ids])
        audit_bulk(model=Project, verb="updated", ids=ids, changes={"attributes": {"before": key, "after": None}})
    attribute.delete()
    return len(ids)
