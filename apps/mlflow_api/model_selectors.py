"""Reads of MLflow 3 logged models and of what runs read and produced (datasets, model inputs and outputs).

Every entry point takes the acting ``user``; logged models are scoped by their project through the permission
matrix (``logged_models``), so a model in a project the user cannot see answers exactly like one that does not
exist (RESOURCE_DOES_NOT_EXIST), also when its id is guessed.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import CharField, F, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast, Replace

from apps.access.selectors import scope
from apps.accounts.models import User
from apps.metrics.choices import LifecycleStage
from apps.metrics.models import Run
from apps.mlflow_api.artifact_roots import ArtifactRoot
from apps.mlflow_api.choices import ModelLinkKind
from apps.mlflow_api.filters import TIME, Attribute, FilterSpec, compile_filter, parse
from apps.mlflow_api.models import (
    LoggedModel,
    LoggedModelMetric,
    LoggedModelParam,
    LoggedModelTag,
)
from apps.mlflow_api.protocol import MlflowError, not_found
from apps.mlflow_api.registry_protocol import dataset_input_json, logged_model_json

SEARCH_LOGGED_MODELS_DEFAULT = 50  # SearchLoggedModels.max_results default in the proto (what the server uses)
SEARCH_LOGGED_MODELS_MAX = 1000


def _hex(path: str):
    """A run's uuid as MLflow's 32-hex run id (for filters on ``source_run_id``)."""
    return Replace(Cast(path, output_field=CharField()), Value("-"), Value(""))


def logged_model_list(*, user: User, include_deleted: bool = False) -> QuerySet[LoggedModel]:
    """Logged models ``user`` may see (active ones unless ``include_deleted``), newest first."""
    models = scope(LoggedModel.objects.all(), user=user).select_related("source_run", "project")
    if not include_deleted:
        models = models.filter(lifecycle_stage=LifecycleStage.ACTIVE)
    return models.order_by("-created_at", "model_id")


def logged_model_get(*, user: User, model_id: str, allow_deleted: bool = False) -> LoggedModel:
    """One visible logged model by its id, or MLflow's RESOURCE_DOES_NOT_EXIST."""
    model = None
    if isinstance(model_id, str) and 0 < len(model_id) <= 36:
        model = logged_model_list(user=user, include_deleted=allow_deleted).filter(model_id=model_id).first()
    if model is None:
        raise not_found(f"Logged model with ID '{model_id}' not found.")
    return model


@dataclass
class ModelDetails:
    tags: list
    params: list
    metrics: list


def logged_model_details(models: Sequence[LoggedModel]) -> dict[int, ModelDetails]:
    """Tags, params and metrics of ``models`` (three queries, whatever the number of models)."""
    found = {model.pk: ModelDetails([], [], []) for model in models}
    ids = list(found)
    for tag in LoggedModelTag.objects.filter(model_id__in=ids).order_by("model_id", "key"):
        found[tag.model_id].tags.append(tag)
    for param in LoggedModelParam.objects.filter(model_id__in=ids).order_by("model_id", "key"):
        found[param.model_id].params.append(param)
    metrics = LoggedModelMetric.objects.filter(model_id__in=ids).select_related("model", "run")
    for metric in metrics.order_by("model_id", "key", "step", "timestamp", "id"):
        found[metric.model_id].metrics.append(metric)
    return found


def logged_model_payloads(models: Sequence[LoggedModel]) -> list[dict]:
    """``models`` in MLflow's JSON shape, in the given order."""
    details = logged_model_details(models)
    return [logged_model_json(m, details[m.pk].tags, details[m.pk].params, details[m.pk].metrics) for m in models]


# ---------------------------------------------------------------------------------------------- search

_LOGGED_MODEL_ATTRIBUTES = {
    "name": Attribute("name"),
    "model_id": Attribute("model_id"),
    "model_type": Attribute("model_type"),
    "status": Attribute("status"),
    "source_run_id": Attribute("_source_run_hex"),
    "creation_timestamp": Attribute("created_at", TIME),
    "creation_time": Attribute("created_at", TIME),
    "creation_timestamp_ms": Attribute("created_at", TIME),
    "last_updated_timestamp": Attribute("updated_at", TIME),
    "last_updated_timestamp_ms": Attribute("updated_at", TIME),
}
_ORDER_FIELDS = {
    "name": "name",
    "model_id": "model_id",
    "model_type": "model_type",
    "status": "status",
    "source_run_id": "_source_run_hex",
    "creation_timestamp": "created_at",
    "creation_time": "created_at",
    "creation_timestamp_ms": "created_at",
    "last_updated_timestamp": "updated_at",
    "last_updated_timestamp_ms": "updated_at",
}


def _dataset_q(datasets: Sequence[dict]) -> Q | None:
    """Metric rows computed on one of ``datasets`` ({"dataset_name", "dataset_digest"?}), or None for any."""
    if not datasets:
        return None
    q = Q(pk__in=[])
    for dataset in datasets:
        one = Q(dataset_name=dataset["dataset_name"])
        if dataset.get("dataset_digest"):
            one &= Q(dataset_digest=dataset["dataset_digest"])
        q |= one
    return q


def _logged_model_filters(dataset_q: Q | None) -> FilterSpec:
    def metric_rows(key: str):
        rows = LoggedModelMetric.objects.filter(model=OuterRef("pk"), key=key)
        return rows.filter(dataset_q) if dataset_q is not None else rows

    return FilterSpec(
        entity="logged models",
        attributes=_LOGGED_MODEL_ATTRIBUTES,
        related={
            "tag": lambda key: LoggedModelTag.objects.filter(model=OuterRef("pk"), key=key),
            "param": lambda key: LoggedModelParam.objects.filter(model=OuterRef("pk"), key=key),
            "metric": metric_rows,
        },
    )


def _page_token(experiment_ids: list[str], filter_text: str | None, order_by: list | None, offset: int) -> str:
    payload = {"experiment_ids": experiment_ids, "filter_string": filter_text, "order_by": order_by, "offset": offset}
    return base64.b64encode(json.dumps(payload).encode()).decode()


def _offset_from_token(token: str, experiment_ids: list[str], filter_text: str | None, order_by: list | None) -> int:
    """MLflow's ``SearchLoggedModelsPaginationToken``: the token must belong to the same search."""
    try:
        parsed = json.loads(base64.b64decode(token, validate=True))
        offset = int(parsed.get("offset") or 0)
    except (binascii.Error, ValueError, TypeError, AttributeError, UnicodeDecodeError):
        raise MlflowError(f"Invalid page token: {token[:100]}.") from None
    if parsed.get("experiment_ids") != experiment_ids:
        raise MlflowError(
            "Experiment IDs in the page token do not match the requested experiment IDs. "
            f"Expected: {experiment_ids}. Found: {parsed.get('experiment_ids')}"
        )
    if (parsed.get("filter_string") or None) != filter_text:
        raise MlflowError(
            "Filter string in the page token does not match the requested filter string. "
            f"Expected: {filter_text}. Found: {parsed.get('filter_string')}"
        )
    if (parsed.get("order_by") or None) != order_by:
        raise MlflowError(
            f"Order by in the page token does not match the requested order by. Expected: {order_by}. "
            f"Found: {parsed.get('order_by')}"
        )
    if not 0 <= offset < 2**31:
        raise MlflowError(f"Invalid page token: {token[:100]}.")
    return offset


@dataclass
class LoggedModelPage:
    models: list[LoggedModel]
    next_page_token: str | None


def logged_model_search(
    *,
    user: User,
    project_ids: list[int],
    experiment_ids: list[str],
    filter_text: str | None,
    datasets: list[dict],
    max_results: int | None,
    order_by: list[dict] | None,
    page_token: str | None,
) -> LoggedModelPage:
    """MLflow's search-logged-models: active models of the given experiments matching the filter (attributes,
    ``tags.``, ``params.``, ``metrics.`` — metrics optionally only those computed on ``datasets``), ordered by
    attributes or a metric's latest value (then newest first, then model id), with offset page tokens bound to
    the search."""
    if datasets and not all(isinstance(d, dict) and d.get("dataset_name") for d in datasets):
        raise MlflowError("`dataset_name` in the `datasets` clause must be specified.")
    offset = _offset_from_token(page_token, experiment_ids, filter_text, order_by) if page_token else 0
    max_results = max_results or SEARCH_LOGGED_MODELS_DEFAULT
    if not 1 <= max_results <= SEARCH_LOGGED_MODELS_MAX:
        raise MlflowError(
            f"Invalid value {max_results} for parameter 'max_results' supplied. It must be between 1 and "
            f"{SEARCH_LOGGED_MODELS_MAX}."
        )
    dataset_q = _dataset_q(datasets)
    models = (
        logged_model_list(user=user)
        .filter(project_id__in=project_ids)
        .annotate(_source_run_hex=_hex("source_run__uuid"))
    )
    tree = parse(filter_text)
    if tree is not None:
        models = models.filter(compile_filter(tree, _logged_model_filters(dataset_q)))
    if dataset_q is not None and not _has_metric_comparison(tree):
        models = models.filter(pk__in=LoggedModelMetric.objects.filter(dataset_q).values("model_id"))
    ordering, seen = [], set()
    for index, item in enumerate(order_by or []):
        if not isinstance(item, dict) or not isinstance(item.get("field_name"), str):
            raise MlflowError(f"Invalid order_by[{index}]: expected an object with a 'field_name' string.")
        field_name, ascending = item["field_name"], item.get("ascending", True) is not False
        if field_name.startswith("metrics."):
            rows = LoggedModelMetric.objects.filter(model=OuterRef("pk"), key=field_name[len("metrics.") :])
            if item.get("dataset_name"):
                rows = rows.filter(dataset_name=item["dataset_name"])
            if item.get("dataset_digest"):
                rows = rows.filter(dataset_digest=item["dataset_digest"])
            alias = f"_order_{index}"
            latest = rows.order_by("-timestamp", "-step", "run__uuid").values("value")[:1]
            models = models.annotate(**{alias: Subquery(latest)})
            expression = F(alias)
        elif "." in field_name or field_name not in _ORDER_FIELDS:
            raise MlflowError(
                f"Invalid order by field name: {field_name}"
                + (". Only metrics are supported." if "." in field_name else "")
            )
        else:
            seen.add(_ORDER_FIELDS[field_name])
            expression = F(_ORDER_FIELDS[field_name])
        ordering.append(expression.asc(nulls_last=True) if ascending else expression.desc(nulls_last=True))
    if "created_at" not in seen:
        ordering.append(F("created_at").desc())
    if "model_id" not in seen:
        ordering.append(F("model_id").asc())
    page = list(models.order_by(*ordering)[offset : offset + max_results + 1])
    token = None
    if len(page) > max_results:
        token = _page_token(experiment_ids, filter_text, order_by, offset + max_results)
    return LoggedModelPage(page[:max_results], token)


def _has_metric_comparison(node) -> bool:
    if node is None:
        return False
    if hasattr(node, "children"):
        return any(_has_metric_comparison(child) for child in node.children)
    if hasattr(node, "child"):
        return _has_metric_comparison(node.child)
    return node.entity.kind == "metric"


# ---------------------------------------------------------------------------------------------- run inputs/outputs


# One JSON document per run — its dataset inputs and model links — computed inside the run query itself (a run
# search page needs no statement of its own for it: the page's runs are already sorted and limited when PostgreSQL
# evaluates it). Two index lookups per run; runs without inputs or outputs give {"d": null, "l": null}.
_RUN_IO_SQL = """(SELECT json_build_object(
    'd', (SELECT json_agg(json_build_array(i.tags, d.name, d.digest, d.source_type, d.source, d.schema, d.profile)
                          ORDER BY i.id)
          FROM mlflow_api_runinput i JOIN mlflow_api_dataset d ON d.id = i.dataset_id
          WHERE i.run_id = "metrics_run"."id"),
    'l', (SELECT json_agg(json_build_array(l.kind, m.model_id, l.step) ORDER BY l.id)
          FROM mlflow_api_runmodellink l JOIN mlflow_api_loggedmodel m ON m.id = l.model_id
          WHERE l.run_id = "metrics_run"."id")))"""


def run_io_annotation() -> RawSQL:
    """A run annotation (for ``run_search(annotations=…)`` or any run queryset) holding what ``run_io_of`` reads."""
    return RawSQL(_RUN_IO_SQL, ())  # noqa: S611 (fixed SQL, no input)


@dataclass(frozen=True)
class _Dataset:
    name: str
    digest: str
    source_type: str
    source: str
    schema: str
    profile: str


@dataclass(frozen=True)
class _Input:
    tags: list
    dataset: _Dataset


def run_io_of(document: dict | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """MLflow's ``inputs`` (dataset and model inputs) and ``outputs`` (model outputs) objects of one run from its
    ``run_io_annotation`` value; empty objects when it has none."""
    inputs: dict[str, list] = {}
    outputs: dict[str, list] = {}
    for tags, *fields in (document or {}).get("d") or []:
        inputs.setdefault("dataset_inputs", []).append(dataset_input_json(_Input(tags or [], _Dataset(*fields))))
    for kind, model_id, step in (document or {}).get("l") or []:
        if kind == ModelLinkKind.INPUT:
            inputs.setdefault("model_inputs", []).append({"model_id": model_id})
        else:
            outputs.setdefault("model_outputs", []).append({"model_id": model_id, "step": step})
    return inputs, outputs


def run_io(run: Run) -> tuple[dict[str, Any], dict[str, Any]]:
    """``run_io_of`` for one run (one query)."""
    document = Run.objects.filter(pk=run.pk).annotate(_io=run_io_annotation()).values_list("_io", flat=True).first()
    return run_io_of(document)


# ---------------------------------------------------------------------------------------------- artifact roots

MODELS_KIND, ROOT_MARKER = "models", "artifacts"


def logged_model_root_of(project, segments: Sequence[str]) -> tuple[str, LoggedModel] | None:
    """For the MLflow artifact proxy: the root a path ``<exp>/models/<model id>/artifacts/…`` lies in — its path and
    the logged model of ``project`` owning it (in any lifecycle stage, as a deleted run's files stay reachable) —
    or None when ``project`` has no such model. The proxy has already authorised the experiment; the model id is
    only looked up inside it, so a model of another experiment (or tenant) is never matched."""
    if len(segments) < 4 or segments[1] != MODELS_KIND or segments[3] != ROOT_MARKER or len(segments[2]) > 36:
        return None
    model = LoggedModel.objects.filter(project=project, model_id=segments[2]).first()
    return None if model is None else ("/".join(segments[:4]), model)


def logged_model_artifact_root(project, segments: Sequence[str]) -> ArtifactRoot | None:
    """The artifact proxy's resolver for ``<exp>/models/<model id>/artifacts/…`` (registered in ``AppConfig.ready``)."""
    found = logged_model_root_of(project, segments)
    return None if found is None else ArtifactRoot(project, *found)
