"""MLflow tracking REST endpoints (``/api/2.0/mlflow/…`` and ``/ajax-api/2.0/mlflow/…``). Each view parses the
request as MLflow's server does, calls one selector or service, and renders MLflow's response shape."""

from __future__ import annotations

import orjson
from django.http import HttpResponse

from apps.access.permissions import token_scope
from apps.access.policy import rule_for, scope_allows
from apps.accounts.authentication import BearerTokenAuthentication
from apps.metrics.rejections import batch_rejection_reason
from apps.metrics.search.compiler import SearchError
from apps.metrics.selectors import run_data_attach, run_search
from apps.metrics.validation import key_problem
from apps.mlflow_api import model_selectors, selectors, services
from apps.mlflow_api.api.handling import MAX_BATCH_BODY_BYTES, MlflowView, json_response
from apps.mlflow_api.protocol import (
    ENDPOINT_NOT_FOUND,
    STAGES,
    Fields,
    MlflowError,
    experiment_json,
    invalid_value,
    metric_points_json,
    not_found,
    offset_token,
    parse_offset_token,
    run_info,
    run_json,
    view_type,
)
from apps.mlflow_api.selectors import ACTIVE, DELETED
from maestro.observability.metrics import record_batch_rejected

SEARCH_RUNS_DEFAULT_MAX_RESULTS = 1000  # the proto default of SearchRuns.max_results
SEARCH_RUNS_MAX_RESULTS = 50000  # MLflow's server limit
SEARCH_EXPERIMENTS_DEFAULT_MAX_RESULTS = 1000
BULK_INTERVAL_MAX_RUNS = 100
BULK_INTERVAL_MAX_RESULTS = 2500


def _ok():
    return json_response({})


def _may_create_experiments(request) -> bool:
    """Whether the request may create a project: the role's matrix cell and the token's scope (the Default
    experiment is created on first use, also by a read such as get-experiment "0")."""
    return scope_allows(token_scope(request), rule_for("projects", "create").scope)


def _ensure_default(request) -> None:
    if _may_create_experiments(request):
        services.default_experiment_ensure(user=request.user)


def _experiment_payload(project) -> dict:
    return experiment_json(project, selectors.state_of(project), selectors.tags_of([project.pk]).get(project.pk, []))


def _experiment_for_write(request, fields: Fields, stages=(ACTIVE, DELETED)):
    return selectors.experiment_get(
        user=request.user, experiment_id=fields.string("experiment_id", required=True), stages=stages
    )


# ---------------------------------------------------------------------------------------------- experiments


class ExperimentCreateView(MlflowView):
    access_resource = "projects"

    def post(self, request):
        fields = Fields(self.body())
        name = fields.string("name", required=True)
        tags = _tag_pairs(fields, "tags")
        project = services.experiment_create(
            user=request.user,
            name=name,
            artifact_location=fields.string("artifact_location"),
            tags=tags,
        )
        return json_response({"experiment_id": str(project.pk)})


def _tag_pairs(fields: Fields, name: str) -> list[tuple[str, str]]:
    raw = fields.raw(name)
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise MlflowError(invalid_value(name, raw, " Hint: Value was of type '" + type(raw).__name__ + "'."))
    pairs = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("key"), str) or not item.get("key"):
            raise MlflowError(f"Missing value for required parameter '{name}[{index}].key'.")
        value = item.get("value", "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise MlflowError(invalid_value(f"{name}[{index}].value", value))
        pairs.append((item["key"], value))
    return pairs


class ExperimentGetView(MlflowView):
    access_resource = "projects"

    def get(self, request):
        fields = Fields(None, query=request.query_params)
        raw_id = fields.string("experiment_id", required=True)
        if raw_id == selectors.DEFAULT_EXPERIMENT_ID:
            _ensure_default(request)
        project = selectors.experiment_get(user=request.user, experiment_id=raw_id)
        return json_response({"experiment": _experiment_payload(project)})


class ExperimentGetByNameView(MlflowView):
    access_resource = "projects"

    def get(self, request):
        name = Fields(None, query=request.query_params).string("experiment_name", required=True)
        project = selectors.experiment_get_by_name(user=request.user, name=name)
        if project is None and name == selectors.DEFAULT_EXPERIMENT_NAME and _may_create_experiments(request):
            project = services.default_experiment_ensure(user=request.user)
        if project is None:
            raise not_found(f"Could not find experiment with name '{name}'")
        return json_response({"experiment": _experiment_payload(project)})


class ExperimentSearchView(MlflowView):
    access_resource = "projects"
    access_actions = {"post": "read"}

    def get(self, request):
        return self._search(Fields(None, query=request.query_params))

    def post(self, request):
        return self._search(Fields(self.body()))

    def _search(self, fields: Fields):
        max_results = fields.integer("max_results")
        page = selectors.experiment_search(
            user=self.request.user,
            stages=STAGES[view_type(fields, "view_type")],
            max_results=SEARCH_EXPERIMENTS_DEFAULT_MAX_RESULTS if max_results is None else max_results,
            filter_text=fields.string("filter"),
            order_by=fields.string_list("order_by"),
            page_token=fields.string("page_token") or None,
        )
        body = {
            "experiments": [experiment_json(p, selectors.state_of(p), page.tags.get(p.pk, [])) for p in page.projects]
        }
        if page.next_page_token:
            body["next_page_token"] = page.next_page_token
        return json_response(body)


class ExperimentUpdateView(MlflowView):
    access_resource = "projects"
    access_actions = {"post": "change"}

    def post(self, request):
        fields = Fields(self.body())
        project = _experiment_for_write(request, fields)
        new_name = fields.string("new_name", required=True)
        services.experiment_rename(user=request.user, project=project, new_name=new_name)
        return _ok()


class ExperimentDeleteView(MlflowView):
    access_resource = "projects"
    access_actions = {"post": "delete"}
    stage = DELETED

    def post(self, request):
        project = _experiment_for_write(request, Fields(self.body()))
        services.experiment_set_lifecycle(user=request.user, project=project, stage=self.stage)
        return _ok()


class ExperimentRestoreView(ExperimentDeleteView):
    stage = ACTIVE


class ExperimentSetTagView(MlflowView):
    access_resource = "projects"
    access_actions = {"post": "change"}

    def post(self, request):
        fields = Fields(self.body())
        project = _experiment_for_write(request, fields)
        key = fields.string("key", required=True)
        services.experiment_set_tag(user=request.user, project=project, key=key, value=fields.string("value"))
        return _ok()


class ExperimentDeleteTagView(MlflowView):
    access_resource = "projects"
    access_actions = {"post": "change"}

    def post(self, request):
        fields = Fields(self.body())
        project = _experiment_for_write(request, fields)
        services.experiment_delete_tag(user=request.user, project=project, key=fields.string("key", required=True))
        return _ok()


# ---------------------------------------------------------------------------------------------- runs


def _run_payload(run) -> dict:
    run_data_attach([run])
    location = selectors.artifact_locations([run.project_id])[run.project_id]
    return run_json(run, location, *model_selectors.run_io(run))


class RunCreateView(MlflowView):
    access_resource = "runs"

    def post(self, request):
        fields = Fields(self.body())
        # MLflow's client always names the experiment ("0" when none was set); an empty id is refused rather than
        # read as "0", so a request that names nothing never lands in a shared experiment.
        raw_id = fields.string("experiment_id", required=True)
        if raw_id == selectors.DEFAULT_EXPERIMENT_ID:
            _ensure_default(request)
        project = selectors.experiment_get(user=request.user, experiment_id=raw_id)
        run = services.run_create(
            user=request.user,
            project=project,
            start_time=fields.integer("start_time"),
            tags=_tag_pairs(fields, "tags"),
            run_name=fields.string("run_name"),
        )
        return json_response({"run": _run_payload(run)})


class RunGetView(MlflowView):
    access_resource = "runs"

    def get(self, request):
        run = selectors.run_get(user=request.user, run_id=Fields(None, query=request.query_params).run_id())
        return json_response({"run": _run_payload(run)})


class RunUpdateView(MlflowView):
    access_resource = "runs"
    access_actions = {"post": "change"}

    def post(self, request):
        fields = Fields(self.body())
        run = selectors.run_get(user=request.user, run_id=fields.run_id())
        run = services.run_update(
            user=request.user,
            run=run,
            status=fields.string("status") or None,
            end_time=fields.integer("end_time"),
            run_name=fields.string("run_name") or None,
        )
        run_data_attach([run])
        location = selectors.artifact_locations([run.project_id])[run.project_id]
        return json_response({"run_info": run_info(run, location)})


class RunDeleteView(MlflowView):
    access_resource = "runs"
    access_actions = {"post": "delete"}
    stage = DELETED

    def post(self, request):
        run = selectors.run_get(user=request.user, run_id=Fields(self.body()).run_id())
        services.run_set_lifecycle(user=request.user, run=run, stage=self.stage)
        return _ok()


class RunRestoreView(RunDeleteView):
    stage = ACTIVE


class RunSearchView(MlflowView):
    access_resource = "runs"
    access_actions = {"post": "read"}

    def post(self, request):
        fields = Fields(self.body())
        experiment_ids = fields.string_list("experiment_ids")
        project_ids = []
        for raw in experiment_ids:
            if raw == selectors.DEFAULT_EXPERIMENT_ID:
                default = selectors.default_project(user=request.user)
                if default is not None:
                    project_ids.append(default.pk)
                continue
            project_id = selectors.parse_experiment_id(raw)
            if 0 < project_id < 2**63:  # other ids cannot exist
                project_ids.append(project_id)
        max_results = fields.integer("max_results")
        max_results = SEARCH_RUNS_DEFAULT_MAX_RESULTS if max_results is None else max_results
        if max_results > SEARCH_RUNS_MAX_RESULTS:
            raise MlflowError(
                f"Invalid value {max_results} for parameter 'max_results' supplied. It must be at most "
                f"{SEARCH_RUNS_MAX_RESULTS}."
            )
        try:
            page = run_search(
                user=request.user,
                filter_text=fields.string("filter") or None,
                order_by=fields.string_list("order_by"),
                max_results=max_results,
                page_token=fields.string("page_token") or None,
                project_ids=project_ids,
                lifecycle_stages=STAGES[view_type(fields, "run_view_type")],
                max_results_limit=SEARCH_RUNS_MAX_RESULTS,
                annotations={
                    "stored_artifact_location": selectors.stored_artifact_location(),
                    "mlflow_io": model_selectors.run_io_annotation(),
                },
            )
        except SearchError as exc:
            if exc.field == "max_results":
                raise MlflowError(
                    f"Invalid value {max_results} for parameter 'max_results' supplied. It must be a positive integer."
                ) from None
            raise
        body = {
            "runs": [
                run_json(run, selectors.artifact_location_of(run), *model_selectors.run_io_of(run.mlflow_io))
                for run in page.runs
            ]
        }
        if page.next_page_token:
            body["next_page_token"] = page.next_page_token
        return json_response(body)


def _writable_run(request, fields: Fields):
    return selectors.run_get(user=request.user, run_id=fields.run_id())


class LogParamView(MlflowView):
    access_resource = "runs"

    def post(self, request):
        fields = Fields(self.body())
        run = _writable_run(request, fields)
        key = fields.string("key", required=True)
        services.log_param(user=request.user, run=run, key=key, value=fields.string("value"))
        return _ok()


class SetTagView(MlflowView):
    access_resource = "runs"

    def post(self, request):
        fields = Fields(self.body())
        run = _writable_run(request, fields)
        key = fields.string("key", required=True)
        services.set_tag(user=request.user, run=run, key=key, value=fields.string("value"))
        return _ok()


class DeleteTagView(MlflowView):
    access_resource = "runs"
    access_actions = {"post": "change"}

    def post(self, request):
        fields = Fields(self.body())
        run = _writable_run(request, fields)
        services.delete_tag(user=request.user, run=run, key=fields.string("key", required=True))
        return _ok()


def _rejection_reason(exc: Exception) -> str:
    """The bounded ``reason`` label of a refused batch (maestro.observability.metrics.BATCH_REJECT_REASONS)."""
    if not isinstance(exc, MlflowError):
        return batch_rejection_reason(exc)
    if exc.code == "RESOURCE_DOES_NOT_EXIST":
        return "unknown_run"
    if exc.message.startswith("Changing param values"):
        return "conflict"
    if exc.message.startswith("The run ") and "'active' state" in exc.message:
        return "inactive_run"
    return "validation"


class _IngestView(MlflowView):
    """Metric logging: the ``ingest`` rate-limit scope, and refused batches counted by reason."""

    access_resource = "metrics"
    throttle_scope = "ingest"

    def post(self, request):
        try:
            self.ingest(request, self.body())
        except Exception as exc:
            record_batch_rejected(_rejection_reason(exc))
            raise
        return _ok()


class LogBatchView(_IngestView):
    max_body_bytes = MAX_BATCH_BODY_BYTES

    def ingest(self, request, body: dict) -> None:
        run = selectors.run_for_logging(user=request.user, run_id=Fields(body).run_id())
        batch = services.BatchRequest(
            metrics=_list_field(body, "metrics"), params=_list_field(body, "params"), tags=_list_field(body, "tags")
        )
        services.log_batch(user=request.user, run=run, batch=batch)


def _list_field(body: dict, name: str) -> list:
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise MlflowError(invalid_value(name, value, f" Hint: Value was of type '{type(value).__name__}'."))
    return value


class LogMetricView(_IngestView):
    def ingest(self, request, body: dict) -> None:
        fields = Fields(body)
        run = selectors.run_for_logging(user=request.user, run_id=fields.run_id())
        key = fields.string("key", required=True)
        if body.get("value") in (None, ""):
            raise MlflowError("Missing value for required parameter 'value'.")
        timestamp = fields.integer("timestamp", required=True)
        step = fields.integer("step") or 0
        model = {name: body[name] for name in ("model_id", "dataset_name", "dataset_digest") if body.get(name)}
        services.log_metric(
            user=request.user, run=run, key=key, value=body["value"], timestamp=timestamp, step=step, model=model
        )


# ---------------------------------------------------------------------------------------------- metric history


def history_json(key: str, history, run_id: str | None = None, start: int = 0, stop: int | None = None) -> bytes:
    """The points ``start:stop`` of a ``selectors.History`` as MLflow's Metric objects (``metric_points_json``)."""
    return metric_points_json(
        key, history.timestamps[start:stop], history.steps[start:stop], history.values[start:stop], run_id
    )


def metrics_response(pieces: list[bytes], *, always: bool = False, page_token: str | None = None) -> HttpResponse:
    """``{"metrics": [...]}`` from ``history_json`` pieces, then ``next_page_token`` when given. Without points the
    ``metrics`` field is left out, as MLflow leaves out an empty repeated field, unless ``always``."""
    points = b",".join(piece for piece in pieces if piece)
    fields = [b'"metrics":[' + points + b"]"] if points or always else []
    if page_token is not None:
        fields.append(b'"next_page_token":' + orjson.dumps(page_token))
    return HttpResponse(b"{" + b",".join(fields) + b"}", content_type="application/json")


class MetricHistoryView(MlflowView):
    access_resource = "metrics"

    def get(self, request):
        fields = Fields(None, query=request.query_params)
        run = selectors.run_get(user=request.user, run_id=fields.run_id())
        key = fields.string("metric_key", required=True)
        max_results = fields.integer("max_results") if fields.present("max_results") else None
        if max_results is not None and max_results <= 0:
            raise MlflowError(
                f"Invalid value {max_results} for parameter 'max_results' supplied. It must be a positive integer."
            )
        history = selectors.metric_history(user=request.user, run=run, key=key) if not key_problem(key) else None
        total = len(history.values) if history is not None else 0
        start, stop, page_token = 0, None, None
        if max_results is not None:  # the page token is checked even when no point can match, as MLflow checks it
            offset = parse_offset_token(fields.string("page_token") or None)
            start, stop = min(offset, total), min(offset + max_results, total)
            if offset + max_results < total:
                page_token = offset_token(offset + max_results)
        pieces = [history_json(key, history, start=start, stop=stop)] if history is not None else []
        return metrics_response(pieces, page_token=page_token)


class MetricHistoryBulkIntervalView(MlflowView):
    access_resource = "metrics"

    def get(self, request):
        fields = Fields(None, query=request.query_params)
        run_ids = fields.string_list("run_ids")
        if not run_ids:
            raise MlflowError("Missing value for required parameter 'run_ids'.")
        if len(run_ids) > BULK_INTERVAL_MAX_RUNS:
            raise MlflowError(
                f"GetMetricHistoryBulkInterval request must specify at most {BULK_INTERVAL_MAX_RUNS} run_ids. "
                f"Received {len(run_ids)} run_ids."
            )
        key = fields.string("metric_key", required=True)
        max_results = fields.integer("max_results")
        max_results = BULK_INTERVAL_MAX_RESULTS if max_results is None else max_results
        if not 1 <= max_results <= BULK_INTERVAL_MAX_RESULTS:
            raise MlflowError(f"max_results must be between 1 and {BULK_INTERVAL_MAX_RESULTS}.")
        start_step, end_step = fields.integer("start_step"), fields.integer("end_step")
        if (start_step is None) != (end_step is None):
            raise MlflowError("If either start step or end step are specified, both must be specified.")
        if start_step is not None and start_step > end_step:
            raise MlflowError(
                f"end_step must be greater than start_step. Found start_step={start_step} and end_step={end_step}."
            )
        runs = [selectors.run_get(user=request.user, run_id=run_id) for run_id in run_ids]
        pieces = []
        for run in runs:
            history = selectors.metric_history_sampled(
                user=request.user, run=run, key=key, max_results=max_results, start_step=start_step, end_step=end_step
            )
            pieces.append(history_json(key, history, run.uuid.hex))
        return metrics_response(pieces)


# ---------------------------------------------------------------------------------------------- not served


class EndpointNotFoundView(MlflowView):
    """Every other path under an MLflow prefix (model registry, traces, logged models, artifacts, …), for every
    method: MLflow's 404 ``ENDPOINT_NOT_FOUND``, which its clients report as such (and on which some fall back to an
    older API). Mounted after the served endpoints of each prefix (``api/urls.py``).

    It reads and writes nothing, so it has no row in the permission matrix (``PUBLIC_VIEWS``) and no session
    authentication — hence no CSRF check, which answered a POST here with Django's HTML 403 page while this was a
    plain Django view. A Bearer token is still verified: a bad one answers 401 as on every MLflow endpoint, a good
    one counts against its user's rate limit rather than the anonymous one."""

    authentication_classes = [BearerTokenAuthentication]
    permission_classes = []
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options", "trace"]

    def not_served(self, request, *args, **kwargs):
        raise MlflowError(
            f"Maestro does not serve the MLflow endpoint '{request.method} {request.path}'.", ENDPOINT_NOT_FOUND
        )

    get = post = put = patch = delete = head = options = trace = not_served
