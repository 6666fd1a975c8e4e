"""MLflow 3's logged-model endpoints and what runs read and produce (``runs/log-inputs``, ``runs/outputs``,
``runs/log-model``), plus ``metrics/get-history-bulk`` (MLflow's web UI). Each view parses the request as MLflow's
server does, calls one selector or service, and renders MLflow's response shape."""

from __future__ import annotations

from django.core.files.storage import default_storage

from apps.metrics.validation import key_problem
from apps.mlflow_api import model_selectors, model_services, registry_services, selectors
from apps.mlflow_api.api.handling import MlflowView, json_response
from apps.mlflow_api.api.views import _ensure_default, history_json, metrics_response
from apps.mlflow_api.protocol import Fields, MlflowError, invalid_value, missing, wrong_type
from apps.mlflow_api.registry_protocol import has_relative_parts

GET_HISTORY_BULK_MAX_RUNS = 100
GET_HISTORY_BULK_MAX_RESULTS = 25000


def _ok():
    return json_response({})


def key_value_items(fields: Fields, name: str) -> list[model_services.KeyValue]:
    """A list of ``{"key", "value"}`` objects (key required, value a string, empty when absent)."""
    raw = fields.raw(name)
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise wrong_type(name, raw)
    items = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or item.get("key") in (None, ""):
            raise missing(f"{name}[{index}].key")
        key, value = item["key"], item.get("value")
        value = "" if value is None else value
        if not isinstance(key, str):
            raise MlflowError(invalid_value(f"{name}[{index}].key", key))
        if not isinstance(value, str):
            raise MlflowError(invalid_value(f"{name}[{index}].value", value))
        items.append(model_services.KeyValue(key, value))
    return items


def _object_list(fields: Fields, name: str, *, required: bool = False) -> list[dict]:
    raw = fields.raw(name)
    if raw is None:
        if required:
            raise missing(name)
        return []
    if not isinstance(raw, list):
        raise wrong_type(name, raw)
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise MlflowError(invalid_value(f"{name}[{index}]", item, "Expected an object."))
    return raw


def _string_of(item: dict, name: str, path: str, *, required: bool = True) -> str:
    value = item.get(name)
    if value in (None, ""):
        if required:
            raise missing(f"{path}.{name}")
        return ""
    if not isinstance(value, str):
        raise MlflowError(invalid_value(f"{path}.{name}", value, "Expected a string."))
    return value


def _model_payload(model) -> dict:
    return model_selectors.logged_model_payloads([model])[0]


# ---------------------------------------------------------------------------------------------- logged models


class LoggedModelCreateView(MlflowView):
    access_resource = "logged_models"

    def post(self, request):
        fields = Fields(self.body())
        raw_id = fields.string("experiment_id", required=True)
        if raw_id == selectors.DEFAULT_EXPERIMENT_ID:
            _ensure_default(request)
        project = selectors.experiment_get(user=request.user, experiment_id=raw_id)
        source_run_id = fields.string("source_run_id")
        source_run = selectors.run_get(user=request.user, run_id=source_run_id) if source_run_id else None
        model = model_services.logged_model_create(
            user=request.user,
            project=project,
            name=fields.string("name"),
            model_type=fields.string("model_type"),
            source_run=source_run,
            params=key_value_items(fields, "params"),
            tags=key_value_items(fields, "tags"),
        )
        return json_response({"model": _model_payload(model)})


class LoggedModelView(MlflowView):
    """``logged-models/<model_id>``: GET reads, PATCH finalizes, DELETE deletes (softly)."""

    access_resource = "logged_models"

    def get(self, request, model_id: str):
        allow_deleted = (request.query_params.get("allow_deleted") or "false").lower() == "true"
        model = model_selectors.logged_model_get(user=request.user, model_id=model_id, allow_deleted=allow_deleted)
        return json_response({"model": _model_payload(model)})

    def patch(self, request, model_id: str):
        fields = Fields(self.body())
        raw = fields.raw("status")
        if raw in (None, ""):
            raise missing("status")
        status = model_services.parse_status(raw)
        model = model_selectors.logged_model_get(user=request.user, model_id=model_id, allow_deleted=True)
        model = model_services.logged_model_finalize(user=request.user, model=model, status=status)
        return json_response({"model": _model_payload(model)})

    def delete(self, request, model_id: str):
        model = model_selectors.logged_model_get(user=request.user, model_id=model_id, allow_deleted=True)
        model_services.logged_model_delete(user=request.user, model=model)
        return _ok()


class LoggedModelTagsView(MlflowView):
    access_resource = "logged_models"

    def patch(self, request, model_id: str):
        tags = key_value_items(Fields(self.body()), "tags")
        model = model_selectors.logged_model_get(user=request.user, model_id=model_id, allow_deleted=True)
        model_services.logged_model_set_tags(user=request.user, model=model, tags=tags)
        return _ok()


class LoggedModelTagDeleteView(MlflowView):
    access_resource = "logged_models"
    access_actions = {"delete": "change"}

    def delete(self, request, model_id: str, tag_key: str):
        model = model_selectors.logged_model_get(user=request.user, model_id=model_id, allow_deleted=True)
        model_services.logged_model_delete_tag(user=request.user, model=model, key=tag_key)
        return _ok()


class LoggedModelParamsView(MlflowView):
    access_resource = "logged_models"
    access_actions = {"post": "change"}

    def post(self, request, model_id: str):
        params = key_value_items(Fields(self.body()), "params")
        model = model_selectors.logged_model_get(user=request.user, model_id=model_id, allow_deleted=True)
        model_services.logged_model_log_params(user=request.user, model=model, params=params)
        return _ok()


class LoggedModelSearchView(MlflowView):
    access_resource = "logged_models"
    access_actions = {"post": "read"}

    def post(self, request):
        fields = Fields(self.body())
        experiment_ids = fields.string_list("experiment_ids")
        if not experiment_ids:
            raise missing("experiment_ids")
        project_ids = []
        for raw in experiment_ids:
            if raw == selectors.DEFAULT_EXPERIMENT_ID:
                default = selectors.default_project(user=request.user)
                if default is not None:
                    project_ids.append(default.pk)
                continue
            project_id = selectors.parse_experiment_id(raw)
            if 0 < project_id < 2**63:
                project_ids.append(project_id)
        datasets = []
        for index, item in enumerate(_object_list(fields, "datasets")):
            datasets.append(
                {
                    "dataset_name": _string_of(item, "dataset_name", f"datasets[{index}]", required=False),
                    "dataset_digest": _string_of(item, "dataset_digest", f"datasets[{index}]", required=False),
                }
            )
        order_by = []
        for index, item in enumerate(_object_list(fields, "order_by")):
            ascending = item.get("ascending", True)
            if not isinstance(ascending, bool):
                raise MlflowError(invalid_value(f"order_by[{index}].ascending", ascending, "Expected a boolean."))
            entry = {"field_name": _string_of(item, "field_name", f"order_by[{index}]"), "ascending": ascending}
            for name in ("dataset_name", "dataset_digest"):
                if value := _string_of(item, name, f"order_by[{index}]", required=False):
                    entry[name] = value
            order_by.append(entry)
        page = model_selectors.logged_model_search(
            user=request.user,
            project_ids=project_ids,
            experiment_ids=experiment_ids,
            filter_text=fields.string("filter") or None,
            datasets=datasets,
            max_results=fields.integer("max_results"),
            order_by=order_by or None,
            page_token=fields.string("page_token") or None,
        )
        body: dict = {"models": model_selectors.logged_model_payloads(page.models)} if page.models else {}
        if page.next_page_token:
            body["next_page_token"] = page.next_page_token
        return json_response(body)


class LoggedModelArtifactsView(MlflowView):
    """The files and folders of a logged model's artifact root (``artifact_directory_path`` within it), as MLflow's
    ``ListLoggedModelArtifacts`` lists them from the server's artifact storage."""

    access_resource = "logged_models"

    def get(self, request, model_id: str):
        fields = Fields(None, query=request.query_params)
        path = fields.string("artifact_directory_path").strip("/")
        if path and has_relative_parts(f"/{path}"):
            raise MlflowError(invalid_value("artifact_directory_path", path, "Invalid path."))
        model = model_selectors.logged_model_get(user=request.user, model_id=model_id)
        root = registry_services.storage_key_of(model.artifact_location)
        files = []
        if root:
            folder = f"{root}/{path}" if path else root
            dirs, names = default_storage.listdir(folder) if default_storage.exists(folder) else ([], [])
            prefix = f"{path}/" if path else ""
            files = [{"path": f"{prefix}{name}", "is_dir": True} for name in sorted(dirs)] + [
                {"path": f"{prefix}{name}", "is_dir": False, "file_size": default_storage.size(f"{folder}/{name}")}
                for name in sorted(names)
            ]
        body: dict = {"root_uri": model.artifact_location}
        if files:
            body["files"] = files
        return json_response(body)


# ---------------------------------------------------------------------------------------------- runs


class LogInputsView(MlflowView):
    access_resource = "runs"

    def post(self, request):
        fields = Fields(self.body())
        run = selectors.run_get(user=request.user, run_id=fields.run_id())
        datasets = []
        for index, item in enumerate(_object_list(fields, "datasets")):
            dataset = item.get("dataset")
            if not isinstance(dataset, dict):
                raise MlflowError(f"Dataset cannot be None (datasets[{index}].dataset).")
            path = f"datasets[{index}].dataset"
            tags = []
            for tag_index, tag in enumerate(_object_list(Fields(item), "tags")):
                tag_path = f"datasets[{index}].tags[{tag_index}]"
                tags.append((_string_of(tag, "key", tag_path), _string_of(tag, "value", tag_path, required=False)))
            datasets.append(
                model_services.DatasetInput(
                    name=_string_of(dataset, "name", path),
                    digest=_string_of(dataset, "digest", path),
                    source_type=_string_of(dataset, "source_type", path),
                    source=_string_of(dataset, "source", path),
                    schema=_string_of(dataset, "schema", path, required=False),
                    profile=_string_of(dataset, "profile", path, required=False),
                    tags=tuple(tags),
                )
            )
        model_ids = [
            _string_of(item, "model_id", f"models[{index}]")
            for index, item in enumerate(_object_list(fields, "models"))
        ]
        model_services.run_log_inputs(user=request.user, run=run, datasets=datasets, model_ids=model_ids)
        return _ok()


class LogOutputsView(MlflowView):
    access_resource = "runs"

    def post(self, request):
        fields = Fields(self.body())
        run = selectors.run_get(user=request.user, run_id=fields.run_id())
        outputs = []
        for index, item in enumerate(_object_list(fields, "models", required=True)):
            step = Fields(item).integer("step") or 0
            outputs.append((_string_of(item, "model_id", f"models[{index}]"), step))
        model_services.run_log_outputs(user=request.user, run=run, outputs=outputs)
        return _ok()


class LogModelView(MlflowView):
    access_resource = "runs"

    def post(self, request):
        fields = Fields(self.body())
        run = selectors.run_get(user=request.user, run_id=fields.run_id())
        model_json = fields.string("model_json", required=True)
        model_services.run_log_model(user=request.user, run=run, model_json=model_json)
        return _ok()


class MetricHistoryBulkView(MlflowView):
    """MLflow's web UI's ``metrics/get-history-bulk``: the full history of one metric for up to 100 runs, in run
    id order, then timestamp, step and value; at most ``max_results`` (25,000) points in all."""

    access_resource = "metrics"

    def get(self, request):
        run_ids = request.query_params.getlist("run_id")
        if not run_ids:
            raise MlflowError("GetMetricHistoryBulk request must specify at least one run_id.")
        if len(run_ids) > GET_HISTORY_BULK_MAX_RUNS:
            raise MlflowError(
                f"GetMetricHistoryBulk request cannot specify more than {GET_HISTORY_BULK_MAX_RUNS} run_ids. "
                f"Received {len(run_ids)} run_ids."
            )
        key = request.query_params.get("metric_key")
        if key is None:
            raise MlflowError("GetMetricHistoryBulk request must specify a metric_key.")
        max_results = Fields(None, query=request.query_params).integer("max_results")
        max_results = (
            GET_HISTORY_BULK_MAX_RESULTS if max_results is None else min(max_results, GET_HISTORY_BULK_MAX_RESULTS)
        )
        if max_results < 1:
            raise MlflowError(f"Invalid value {max_results} for parameter 'max_results' supplied.")
        pieces, remaining = [], max_results
        for run_id in sorted(set(run_ids)):
            try:
                run = selectors.run_get(user=request.user, run_id=run_id)
            except MlflowError:  # MLflow leaves out runs it does not know
                continue
            if key_problem(key):
                continue
            history = selectors.metric_history(user=request.user, run=run, key=key)
            pieces.append(history_json(key, history, run.uuid.hex, stop=remaining))
            remaining -= min(len(history.values), remaining)
            if not remaining:
                break
        return metrics_response(pieces, always=True)
