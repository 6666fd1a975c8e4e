"""Reads of the model registry: registered models and their versions by MLflow name, aliases, the latest version per
stage, searches with MLflow's filters, and the JSON MLflow clients parse.

Every entry point takes the acting ``user`` and goes through the permission gate (``apps.access.selectors.scope``
with the ``registered_models`` / ``model_versions`` rows, which follow the library artifact each registered model
is). Names are looked up inside the tenant's schema only, so another tenant's registered model of the same name is
simply not there.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import CharField, Exists, F, OuterRef, QuerySet, Value, Window
from django.db.models.functions import Cast, Replace, RowNumber

from apps.access.selectors import scope
from apps.accounts.models import User
from apps.metrics.search.grammar import BoolOp, Not
from apps.mlflow_api.filters import INT, TIME, Attribute, FilterSpec, compile_filter, parse, parse_order
from apps.mlflow_api.models import (
    ModelVersion,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelAlias,
    RegisteredModelTag,
)
from apps.mlflow_api.protocol import MlflowError, not_found, offset_token, parse_offset_token
from apps.mlflow_api.registry_protocol import (
    LATEST_ALIAS,
    check_alias,
    check_model_name,
    model_version_json,
    parse_version,
    registered_model_json,
)

SEARCH_REGISTERED_MODELS_DEFAULT = 100  # SEARCH_REGISTERED_MODEL_MAX_RESULTS_DEFAULT
SEARCH_REGISTERED_MODELS_MAX = 1000
SEARCH_MODEL_VERSIONS_DEFAULT = 200_000  # SearchModelVersions.max_results default in the proto
SEARCH_MODEL_VERSIONS_MAX = 200_000


def registered_model_list(*, user: User) -> QuerySet[RegisteredModel]:
    """Registered models ``user`` may see, by name."""
    return (
        scope(RegisteredModel.objects.all(), user=user, resource="registered_models")
        .select_related("artifact", "artifact__owner")
        .order_by("artifact__name", "pk")
    )


def registered_model_get(*, user: User, name: str) -> RegisteredModel:
    """A visible registered model by name, or MLflow's RESOURCE_DOES_NOT_EXIST."""
    check_model_name(name)
    found = registered_model_list(user=user).filter(artifact__name=name).first()
    if found is None:
        raise not_found(f"Registered Model with name={name} not found")
    return found


def model_version_list(*, user: User) -> QuerySet[ModelVersion]:
    """Model versions ``user`` may see, with what their JSON needs joined."""
    return (
        scope(ModelVersion.objects.all(), user=user, resource="model_versions")
        .select_related("registered_model__artifact", "artifact_version", "run", "created_by", "logged_model")
        .order_by("registered_model_id", "-version")
    )


def model_version_get(*, user: User, name: str, version) -> ModelVersion:
    """Version ``version`` of registered model ``name``, or RESOURCE_DOES_NOT_EXIST (an unparseable version is
    INVALID_PARAMETER_VALUE, as MLflow answers)."""
    check_model_name(name)
    number = parse_version(version)
    found = None
    if 0 < number < 2**31:
        found = model_version_list(user=user).filter(registered_model__artifact__name=name, version=number).first()
    if found is None:
        raise not_found(f"Model Version (name={name}, version={number}) not found")
    return found


def model_version_by_alias(*, user: User, name: str, alias: str) -> ModelVersion:
    """The version ``alias`` points at (``latest``: the highest version), as MLflow's get-model-version-by-alias."""
    registered = registered_model_get(user=user, name=name)
    check_alias(alias, for_write=False)
    versions = model_version_list(user=user).filter(registered_model=registered)
    if alias.lower() == LATEST_ALIAS:
        found = versions.order_by("-version").first()
        if found is None:
            raise not_found(f"Latest version not found for model {name}.")
        return found
    found = versions.filter(aliases__alias=alias).first()
    if found is None:
        raise MlflowError(f"Registered model alias {alias} not found.")
    return found


# ---------------------------------------------------------------------------------------------- representations


def _tags_by(model, field: str, ids: Sequence[int]) -> dict[int, list]:
    found: dict[int, list] = defaultdict(list)
    for tag in model.objects.filter(**{f"{field}__in": list(ids)}).order_by(field, "key"):
        found[getattr(tag, f"{field}_id")].append(tag)
    return found


def _aliases_by_version(version_ids: Sequence[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = defaultdict(list)
    rows = RegisteredModelAlias.objects.filter(version_id__in=list(version_ids)).order_by("alias")
    for version_id, alias in rows.values_list("version_id", "alias"):
        found[version_id].append(alias)
    return found


def model_version_payloads(versions: Sequence[ModelVersion]) -> list[dict]:
    """``versions`` (from ``model_version_list``) in MLflow's JSON shape, in order (two queries: tags, aliases)."""
    ids = [v.pk for v in versions]
    tags, aliases = _tags_by(ModelVersionTag, "version", ids), _aliases_by_version(ids)
    return [
        model_version_json(
            v,
            name=v.registered_model.artifact.name,
            description=v.artifact_version.changelog,
            tags=tags.get(v.pk, []),
            aliases=aliases.get(v.pk, []),
        )
        for v in versions
    ]


def latest_versions(registered_ids: Sequence[int], stages: Sequence[str] | None = None) -> dict[int, list]:
    """The highest version of each stage per registered model (optionally only ``stages``), one query."""
    ranked = (
        ModelVersion.objects.filter(registered_model_id__in=list(registered_ids))
        .annotate(
            rank=Window(RowNumber(), partition_by=[F("registered_model_id"), F("stage")], order_by=F("version").desc())
        )
        .select_related("registered_model__artifact", "artifact_version", "run", "created_by", "logged_model")
    )
    ranked = ranked.filter(rank=1)
    if stages is not None:
        ranked = ranked.filter(stage__in=list(stages))
    found: dict[int, list] = defaultdict(list)
    for version in ranked.order_by("registered_model_id", "version"):
        found[version.registered_model_id].append(version)
    return found


def registered_model_payloads(registered: Sequence[RegisteredModel]) -> list[dict]:
    """``registered`` (from ``registered_model_list``) in MLflow's JSON shape: latest version per stage, tags and
    aliases (four queries for any number of models)."""
    ids = [r.pk for r in registered]
    latest = latest_versions(ids)
    latest_json = dict(
        zip(
            [v.pk for versions in latest.values() for v in versions],
            model_version_payloads([v for versions in latest.values() for v in versions]),
            strict=True,
        )
    )
    tags = _tags_by(RegisteredModelTag, "registered_model", ids)
    aliases: dict[int, list] = defaultdict(list)
    rows = RegisteredModelAlias.objects.filter(registered_model_id__in=ids).order_by("alias")
    for registered_id, alias, number in rows.values_list("registered_model_id", "alias", "version__version"):
        aliases[registered_id].append((alias, number))
    return [
        registered_model_json(
            r,
            name=r.artifact.name,
            description=r.artifact.description,
            created=r.artifact.created_at,
            tags=tags.get(r.pk, []),
            aliases=aliases.get(r.pk, []),
            latest=[latest_json[v.pk] for v in latest.get(r.pk, [])],
        )
        for r in registered
    ]


# ---------------------------------------------------------------------------------------------- search

REGISTERED_MODEL_FILTERS = FilterSpec(
    entity="registered models",
    attributes={"name": Attribute("artifact__name")},
    related={"tag": lambda key: RegisteredModelTag.objects.filter(registered_model=OuterRef("pk"), key=key)},
    string_ops=frozenset({"=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"}),
)
_REGISTERED_MODEL_ORDER = {
    "name": "artifact__name",
    "timestamp": "updated_at",
    "last_updated_timestamp": "updated_at",
    "creation_timestamp": "artifact__created_at",
}

MODEL_VERSION_FILTERS = FilterSpec(
    entity="model versions",
    attributes={
        "name": Attribute("registered_model__artifact__name"),
        "version_number": Attribute("version", INT),
        "run_id": Attribute("_run_hex"),
        "source_path": Attribute("source"),
        "creation_timestamp": Attribute("created_at", TIME),
        "last_updated_timestamp": Attribute("updated_at", TIME),
    },
    related={"tag": lambda key: ModelVersionTag.objects.filter(version=OuterRef("pk"), key=key)},
    string_ops=frozenset({"=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"}),
)
_MODEL_VERSION_ORDER = {
    "name": "registered_model__artifact__name",
    "version_number": "version",
    "creation_timestamp": "created_at",
    "last_updated_timestamp": "updated_at",
}


IS_PROMPT_TAG = "mlflow.prompt.is_prompt"  # MLflow's prompt registry keeps prompts as registered models with it


def _asks_for_prompts(node) -> bool:
    """Whether a filter selects prompts (``tags.`mlflow.prompt.is_prompt` = 'true'``, or ``!= 'false'``): MLflow's
    searches leave prompts out otherwise."""
    if node is None:
        return False
    if isinstance(node, BoolOp):
        return any(_asks_for_prompts(child) for child in node.children)
    if isinstance(node, Not):
        return _asks_for_prompts(node.child)
    if node.entity.kind != "tag" or node.entity.key != IS_PROMPT_TAG or not node.values:
        return False
    value = str(node.values[0].value).lower()
    return (node.op == "=" and value == "true") or (node.op == "!=" and value == "false")


def _without_prompts(queryset: QuerySet, tag_model, owner: str, tree) -> QuerySet:
    if _asks_for_prompts(tree):
        return queryset
    prompt = tag_model.objects.filter(**{owner: OuterRef("pk")}, key=IS_PROMPT_TAG, value__iexact="true")
    return queryset.exclude(Exists(prompt))


@dataclass
class Page:
    items: list
    next_page_token: str | None


def _ordering(items, fields: dict[str, str]) -> tuple[list, set[str]]:
    ordering, seen = [], set()
    for item in parse_order(items):
        key = item.entity.key
        if item.entity.kind != "attribute" or key not in fields:
            raise MlflowError(f"Invalid order by key '{item.entity}' specified. Valid keys are {sorted(fields)}")
        if fields[key] in seen:
            raise MlflowError(f"`order_by` contains duplicate fields: {items}")
        seen.add(fields[key])
        ordering.append(F(fields[key]).desc() if item.descending else F(fields[key]).asc())
    return ordering, seen


def _page(queryset: QuerySet, ordering: list, max_results: int, page_token: str | None) -> Page:
    offset = parse_offset_token(page_token)
    rows = list(queryset.order_by(*ordering)[offset : offset + max_results + 1])
    token = offset_token(offset + max_results) if len(rows) > max_results else None
    return Page(rows[:max_results], token)


def registered_model_search(
    *, user: User, filter_text: str, max_results: int | None, order_by: list[str], page_token: str | None
) -> Page:
    """MLflow's search-registered-models: filter on ``name`` and ``tags.<key>``, order by name or time (then by
    name), offset page tokens; prompts (MLflow's prompt registry) only when the filter asks for them."""
    max_results = SEARCH_REGISTERED_MODELS_DEFAULT if max_results is None else max_results
    if not 1 <= max_results <= SEARCH_REGISTERED_MODELS_MAX:
        raise MlflowError(
            "Invalid value for request parameter max_results. It must be a positive integer not greater than "
            f"{SEARCH_REGISTERED_MODELS_MAX}, but got value {max_results}"
        )
    models = registered_model_list(user=user)
    tree = parse(filter_text)
    if tree is not None:
        models = models.filter(compile_filter(tree, REGISTERED_MODEL_FILTERS))
    models = _without_prompts(models, RegisteredModelTag, "registered_model", tree)
    ordering, seen = _ordering(order_by, _REGISTERED_MODEL_ORDER)
    if "artifact__name" not in seen:
        ordering.append(F("artifact__name").asc())
    return _page(models, ordering, max_results, page_token)


def model_version_search(
    *, user: User, filter_text: str, max_results: int | None, order_by: list[str], page_token: str | None
) -> Page:
    """MLflow's search-model-versions: filter on ``name``, ``version_number``, ``run_id``, ``source_path`` and
    ``tags.<key>``; default order newest change first, then name, then version descending."""
    max_results = SEARCH_MODEL_VERSIONS_DEFAULT if max_results is None else max_results
    if not 1 <= max_results <= SEARCH_MODEL_VERSIONS_MAX:
        raise MlflowError(
            "Invalid value for max_results. It must be a positive integer not greater than "
            f"{SEARCH_MODEL_VERSIONS_MAX}, but got {max_results}"
        )
    versions = model_version_list(user=user).annotate(
        _run_hex=Replace(Cast("run__uuid", output_field=CharField()), Value("-"), Value(""))
    )
    tree = parse(filter_text)
    if tree is not None:
        versions = versions.filter(compile_filter(tree, MODEL_VERSION_FILTERS))
    versions = _without_prompts(versions, ModelVersionTag, "version", tree)
    ordering, seen = _ordering(
        order_by or ["last_updated_timestamp DESC", "name ASC", "version_number DESC"], _MODEL_VERSION_ORDER
    )
    if "registered_model__artifact__name" not in seen:
        ordering.append(F("registered_model__artifact__name").asc())
    if "version" not in seen:
        ordering.append(F("version").desc())
    return _page(versions, ordering, max_results, page_token)
