"""Bulk import of historical projects (``POST /api/v1/projects/import`` and the dashboard upload).

Why here and not in ``apps.projects``: an import writes projects, their teams *and* artifact usages (by artifact name
and version), and its purpose is onboarding a tenant's history for the recommender; the engine layer may use both
domain apps, which may not use each other.

Contract: every row is validated first — the same rules as the projects API (``projects.services.project_prepare``:
fields, dates, completion rule and success score, tenant attributes), team members as ``TeamMember.full_clean``,
usages resolved to existing, active artifact versions — and **every** error is reported as ``{row, field,
message}`` (row = 1-based position of the project in the file). When any row fails, nothing is written. A dry run
validates and writes nothing. Otherwise everything is written in one transaction with bulk inserts (one audit event
per table instead of one per row; the importer gets *manage* on every new project in one grant), the projects quota
is checked for all rows at once, and the specs are queued for embedding. The request counts as one write for the
rate limits. Speed: ``bench/projects_import.py``.

Formats (``format``: ``jsonl`` or ``csv``):

* JSON lines — one project object per line with the project fields of the API plus ``team_members`` (list of
  ``{display_name, role, experience_level, years_experience, contribution_hours, performance_score}``) and
  ``artifact_usages`` (list of ``{artifact, version, used_at}``, ``artifact`` by name);
* CSV with a header — the scalar project fields as columns, ``tags`` separated by ``;``, ``team_members`` as
  ``role/level/years/hours`` items separated by ``;``, ``artifact_usages`` as ``name@version`` items separated by
  ``;`` (used at the start date), and ``attr.<key>`` columns for the tenant's attributes.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils.text import slugify
from rest_framework.exceptions import ValidationError as DRFValidationError

from apps.access.services import grant_creator_bulk
from apps.artifacts.models import Artifact, ArtifactUsage, ArtifactVersion
from apps.audit.services import audited_bulk_create
from apps.projects.choices import AttributeKind, ExperienceLevel, MemberRole, ProjectStatus
from apps.projects.models import Project, ProjectAttribute, TeamMember
from apps.projects.services import PROJECT_FIELDS, project_prepare, scoring_weights
from apps.recommendations.choices import RunKind, RunReason
from apps.recommendations.services.runs import run_request
from apps.tenants.quotas import quota_check
from maestro.api.parsers import check_json

MAX_ROWS = 5000
MAX_BYTES = 20 * 1024 * 1024
ROW_FIELDS = PROJECT_FIELDS - {"owner", "slug"} | {"team_members", "artifact_usages"}
MEMBER_FIELDS = (
    "display_name",
    "role",
    "experience_level",
    "years_experience",
    "contribution_hours",
    "performance_score",
)
SLUG_MAX = Project._meta.get_field("slug").max_length


@dataclass
class ImportResult:
    rows: int
    dry_run: bool
    errors: list[dict] = field(default_factory=list)
    project_ids: list[int] = field(default_factory=list)
    team_members: int = 0
    artifact_usages: int = 0
    embedding_run_id: int | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


class ImportRejected(Exception):
    """The file could not be read at all (format, size): one error for the whole file."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


# ---------------------------------------------------------------------------------------------- parsing
def parse(content: bytes, fmt: str) -> list[dict]:
    """The rows of a JSON-lines or CSV file as dicts in the API's shape."""
    if len(content) > MAX_BYTES:
        raise ImportRejected("file", f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB; split it.")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRejected("file", "The file is not UTF-8 text.") from None
    if "\x00" in text:
        raise ImportRejected("file", "The file contains NUL characters, which cannot be stored.")
    if fmt == "jsonl":
        rows = _parse_jsonl(text)
    elif fmt == "csv":
        try:
            rows = _parse_csv(text)
        except csv.Error as exc:
            raise ImportRejected("file", f"Not a readable CSV file: {exc}.") from None
    else:
        raise ImportRejected("format", "Use jsonl or csv.")
    if not rows:
        raise ImportRejected("file", "The file holds no project.")
    if len(rows) > MAX_ROWS:
        raise ImportRejected("file", f"At most {MAX_ROWS} projects per import; this file has {len(rows)}.")
    return rows


def _parse_jsonl(text: str) -> list[dict]:
    rows = []
    for number, line in enumerate((line for line in text.splitlines() if line.strip()), start=1):
        try:
            value = json.loads(line)
        except (ValueError, RecursionError) as exc:
            where = f" (column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
            value = {"__error__": f"Not valid JSON{where}."}
        if not isinstance(value, dict):
            value = {"__error__": "Each line must be one JSON object (a project)."}
        try:
            check_json(value)  # what PostgreSQL could not store (NUL, lone surrogates) or absurd nesting
        except DRFValidationError as exc:
            field_name, messages = next(iter(exc.detail.items()))
            value = {"__error__": f"{field_name}: {messages[0]}"}
        rows.append(value)
        if number > MAX_ROWS:
            break
    return rows


def _split(value: str) -> list[str]:
    return [part.strip() for part in (value or "").split(";") if part.strip()]


def _parse_csv(text: str) -> list[dict]:
    reader = csv.DictReader(io.StringIO(text))
    rows = []
    for raw in reader:
        row: dict = {}
        for key, value in raw.items():
            if key is None:
                row["__error__"] = "The row has more cells than the header."
                continue
            key, value = key.strip(), (value or "").strip()
            if value == "":
                continue
            if key == "tags":
                row["tags"] = _split(value)
            elif key == "team_members":
                row["team_members"] = [_csv_member(item) for item in _split(value)]
            elif key == "artifact_usages":
                row["artifact_usages"] = [_csv_usage(item) for item in _split(value)]
            elif key.startswith("attr."):
                row.setdefault("attributes", {})[key[5:]] = value
            else:
                row[key] = value
        rows.append(row)
        if len(rows) > MAX_ROWS:
            break
    return rows


def _csv_member(item: str) -> dict:
    parts = [p.strip() for p in item.split("/")]
    keys = ("role", "experience_level", "years_experience", "contribution_hours")
    return {k: v for k, v in zip(keys, parts, strict=False) if v != ""} | (
        {"__error__": f"'{item}': use role/level/years/hours."} if len(parts) > 4 else {}
    )


def _csv_usage(item: str) -> dict:
    name, _, version = item.rpartition("@")
    return {"artifact": name.strip(), "version": version.strip()} if name else {"artifact": item, "version": ""}


# ---------------------------------------------------------------------------------------------- validation
def _typed_attributes(values: dict, definitions: dict[str, ProjectAttribute]) -> dict:
    """CSV cells are text: numbers and yes/no become typed values before the attribute rules apply."""
    out = {}
    for key, value in values.items():
        attribute = definitions.get(key)
        if isinstance(value, str) and attribute is not None:
            if attribute.kind == AttributeKind.NUMBER:
                with contextlib.suppress(ValueError):
                    value = float(value)
            elif attribute.kind == AttributeKind.BOOLEAN and value.lower() in ("true", "false", "yes", "no", "1", "0"):
                value = value.lower() in ("true", "yes", "1")
        out[key] = value
    return out


NUMBERS = {
    "complexity_score": int,
    "model_performance": float,
    "business_impact": float,
    "success_score": float,
    "compute_cost": Decimal,
}


def _coerce_numbers(data: dict) -> list[tuple[str, str]]:
    """Numbers given as text (CSV) become numbers; a value that is not one is dropped and reported."""
    problems = []
    for name, kind in NUMBERS.items():
        value = data.get(name)
        if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
            continue
        try:
            if isinstance(value, bool) or not isinstance(value, str):
                raise ValueError
            data[name] = kind(value) if kind is not int else int(float(value))
        except (ValueError, ArithmeticError):
            problems.append((name, "Must be a number."))
            data.pop(name)
    return problems


def _errors_of(exc: ValidationError, prefix: str = "") -> list[tuple[str, str]]:
    if hasattr(exc, "error_dict"):
        return [(f"{prefix}{name}", m) for name, errs in exc.error_dict.items() for e in errs for m in e.messages]
    return [(prefix.rstrip(".") or "project", m) for m in exc.messages]


class _Validated:
    def __init__(self):
        self.projects: list[Project] = []
        self.members: list[list[TeamMember]] = []
        self.usages: list[list[tuple[ArtifactVersion, datetime]]] = []


def _allocate_slugs(names: list[str]) -> list[str]:
    """Free slugs for the new projects: unique against the database and each other (one query)."""
    bases = [slugify(name)[: SLUG_MAX - 8].strip("-") or "project" for name in names]
    taken: set[str] = set()
    distinct = sorted(set(bases))
    for start in range(0, len(distinct), 200):
        query = Q()
        for base in distinct[start : start + 200]:
            query |= Q(slug=base) | Q(slug__startswith=f"{base}-")
        taken |= set(Project.objects.filter(query).values_list("slug", flat=True))
    out = []
    for base in bases:
        slug, n = base, 1
        while slug in taken:
            n += 1
            slug = f"{base}-{n}"
        taken.add(slug)
        out.append(slug)
    return out


def _validate(rows: list[dict], *, user) -> tuple[_Validated, list[dict]]:
    errors: list[dict] = []
    valid = _Validated()
    attribute_list = list(ProjectAttribute.objects.all())
    definitions = {a.key: a for a in attribute_list}
    weights = scoring_weights()
    wanted = {
        (u.get("artifact"), u.get("version"))
        for row in rows
        for u in _items(row.get("artifact_usages"))
        if isinstance(u, dict) and isinstance(u.get("artifact"), str)
    }
    names = {a for a, _v in wanted}
    versions = {
        (v.artifact.name, v.version): v
        for v in ArtifactVersion.objects.filter(artifact__name__in=names).select_related("artifact")
    }
    slugs = _allocate_slugs([str(row.get("name") or "project") for row in rows])
    roles, levels = set(MemberRole.values), set(ExperienceLevel.values)
    for index, (row, slug) in enumerate(zip(rows, slugs, strict=True), start=1):

        def fail(field_name: str, message: str, index=index) -> None:
            errors.append({"row": index, "field": field_name, "message": message})

        if "__error__" in row:
            fail("row", row["__error__"])
            continue
        unknown = sorted(set(row) - ROW_FIELDS)
        for name in unknown:
            fail(name, "Unknown field.")
        data = {k: v for k, v in row.items() if k in PROJECT_FIELDS}
        data.setdefault("status", ProjectStatus.COMPLETED)
        for name, problem in _coerce_numbers(data):
            fail(name, problem)
        if "attributes" in data and isinstance(data["attributes"], dict):
            data["attributes"] = _typed_attributes(data["attributes"], definitions)
        project = None
        try:
            project, _generated = project_prepare(
                project=None,
                data={**data, "owner": user, "slug": slug},
                attributes=attribute_list,
                check_constraints=False,
                weights=weights,
            )
        except ValidationError as exc:
            for name, message in _errors_of(exc):
                fail(name, message)
        except (TypeError, ValueError, ArithmeticError) as exc:
            fail("row", f"Invalid value: {exc}")
        for name in ("team_members", "artifact_usages"):
            if row.get(name) is not None and not isinstance(row[name], list):
                fail(name, "Must be a list.")
        members = []
        for m_index, member in enumerate(_items(row.get("team_members"))):
            prefix = f"team_members[{m_index}]."
            if not isinstance(member, dict):
                fail(prefix.rstrip("."), "Must be an object.")
                continue
            if "__error__" in member:
                fail(prefix.rstrip("."), member.pop("__error__"))
            for name in sorted(set(member) - set(MEMBER_FIELDS)):
                fail(prefix + name, "Unknown field.")
            if member.get("role") not in roles:
                fail(prefix + "role", f"Use one of {', '.join(sorted(roles))}.")
                continue
            if member.get("experience_level") not in levels:
                fail(prefix + "experience_level", f"Use one of {', '.join(sorted(levels))}.")
                continue
            fields = {k: member[k] for k in MEMBER_FIELDS if k in member}
            fields.setdefault("display_name", f"{member['role'].replace('_', ' ')} {m_index + 1}")
            try:
                tm = TeamMember(**fields)
                # the ranges are the fields' validators; the CheckConstraints repeating them would cost a query each
                tm.full_clean(exclude=["project", "user"], validate_constraints=False)
                members.append(tm)
            except ValidationError as exc:
                for name, message in _errors_of(exc, prefix):
                    fail(name, message)
            except (TypeError, ValueError) as exc:
                fail(prefix.rstrip("."), f"Invalid value: {exc}")
        usages = []
        seen: set[int] = set()
        for u_index, usage in enumerate(_items(row.get("artifact_usages"))):
            prefix = f"artifact_usages[{u_index}]"
            key = (usage.get("artifact"), usage.get("version")) if isinstance(usage, dict) else None
            version = versions.get(key) if key else None
            if version is None:
                fail(prefix, f"No artifact version {key[0]!r} {key[1]!r} in the library." if key else "Not an object.")
                continue
            if not version.artifact.is_active:
                fail(prefix, f"'{version.artifact.name}' is inactive and cannot be used.")
                continue
            if version.pk in seen:
                fail(prefix, f"{version.artifact.name} {version.version} is listed twice.")
                continue
            seen.add(version.pk)
            used_at = _used_at(usage.get("used_at"), project)
            if used_at is None:
                fail(prefix + ".used_at", "Use an ISO date or date-time.")
                continue
            usages.append((version, used_at))
        if project is not None:
            valid.projects.append(project)
            valid.members.append(members)
            valid.usages.append(usages)
    return valid, errors


def _items(value) -> list:
    return value if isinstance(value, list) else []


def _used_at(value, project: Project | None) -> datetime | None:
    """The usage's time: given, else the project's start (the artifact was planned), else now."""
    if value in (None, ""):
        start = project.start_date if project is not None else None
        return datetime.combine(start, time(9), tzinfo=UTC) if start else datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    if parsed.year < 1900:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# ---------------------------------------------------------------------------------------------- writing
def projects_import(*, user, content: bytes, fmt: str, dry_run: bool) -> ImportResult:
    """Validate every row; write all of them in one transaction, or none (see the module docstring)."""
    rows = parse(content, fmt)
    with transaction.atomic():
        valid, errors = _validate(rows, user=user)
        result = ImportResult(rows=len(rows), dry_run=dry_run, errors=errors)
        if errors or dry_run:
            result.team_members = sum(len(m) for m in valid.members)
            result.artifact_usages = sum(len(u) for u in valid.usages)
            return result
        quota_check("projects", adding=len(valid.projects))
        try:
            with transaction.atomic():
                created = audited_bulk_create(Project, valid.projects, batch_size=1000)
        except IntegrityError:  # a slug allocated above was taken by a concurrent write
            raise ImportRejected(
                "file", "Projects were created meanwhile with the same names; send it again."
            ) from None
        members, usages = [], []
        per_artifact: Counter[int] = Counter()
        for project, team, used in zip(created, valid.members, valid.usages, strict=True):
            for member in team:
                member.project = project
                members.append(member)
            for version, used_at in used:
                usages.append(
                    ArtifactUsage(
                        project=project,
                        artifact_version=version,
                        artifact_id=version.artifact_id,
                        used_at=used_at,
                        used_by=user,
                        context="import",
                    )
                )
                per_artifact[version.artifact_id] += 1
        audited_bulk_create(TeamMember, members, batch_size=2000)
        audited_bulk_create(ArtifactUsage, usages, batch_size=2000)
        for artifact_id, count in sorted(per_artifact.items()):  # a fixed lock order, as project_delete
            Artifact.objects.filter(pk=artifact_id).update(usage_count=F("usage_count") + count)
        grant_creator_bulk(user=user, objs=created)
        ids = [p.pk for p in created]
        run = run_request(kind=RunKind.EMBEDDINGS, reason=RunReason.BACKFILL, user=user, params={"project_ids": ids})
        result.project_ids = ids
        result.team_members, result.artifact_usages = len(members), len(usages)
        result.embedding_run_id = run.pk
    return result
