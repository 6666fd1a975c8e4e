"""Runs, params, tags, metric batches and histories through the MLflow REST API (Django test client)."""

from __future__ import annotations

import json
import uuid

import pytest

from apps.audit.models import AuditEvent
from apps.metrics.models import MetricPoint, Run, RunParam, RunTag
from apps.mlflow_api.protocol import offset_token
from maestro.api.limits import MAX_BATCH_BODY_BYTES
from maestro.observability.metrics import metric_batches_rejected, metric_points_ingested
from tests.mlflow_api.conftest import error_of

pytestmark = pytest.mark.django_db

T0 = 1767225600000


def _batch(mlflow, run_id: str, **body):
    return mlflow.post("runs/log-batch", {"run_id": run_id, **body})


def _points(n: int, key: str = "loss", start: int = 0) -> list[dict]:
    return [{"key": key, "value": float(i) / 10, "timestamp": T0 + i, "step": start + i} for i in range(n)]


def test_create_run_reports_mlflow_fields_and_names_it(mlflow_a):
    exp = mlflow_a.experiment("runs-basic")
    run = mlflow_a.run(exp, run_name="baseline", tags=[{"key": "team", "value": "vision"}])
    info = run["info"]
    assert info["run_id"] == info["run_uuid"] and len(info["run_id"]) == 32 and int(info["run_id"], 16) >= 0
    assert info["experiment_id"] == exp and info["status"] == "RUNNING" and info["lifecycle_stage"] == "active"
    assert info["start_time"] == T0 and "end_time" not in info and info["user_id"] == "admin"
    assert info["artifact_uri"] == f"mlflow-artifacts:/{exp}/{info['run_id']}/artifacts"
    assert {t["key"]: t["value"] for t in run["data"]["tags"]} == {"team": "vision", "mlflow.runName": "baseline"}
    unnamed = mlflow_a.run(exp)["info"]
    assert unnamed["run_name"] == f"run-{unnamed['run_id'][:8]}"
    conflict = mlflow_a.post(
        "runs/create", {"experiment_id": exp, "run_name": "a", "tags": [{"key": "mlflow.runName", "value": "b"}]}
    )
    assert "different values" in error_of(conflict, 400, "INVALID_PARAMETER_VALUE")


def test_update_run_sets_status_end_time_and_name_tag(mlflow_a, tenant_a):
    run_id = mlflow_a.run(mlflow_a.experiment("runs-update"))["info"]["run_id"]
    info = mlflow_a.ok(
        "post", "runs/update", {"run_id": run_id, "status": "KILLED", "end_time": T0 + 5000, "run_name": "renamed"}
    )["run_info"]
    assert (info["status"], info["end_time"], info["run_name"]) == ("KILLED", T0 + 5000, "renamed")
    with tenant_a.context():
        run = Run.objects.get(uuid=uuid.UUID(run_id))
        assert run.status == "killed" and run.name == "renamed"
        assert RunTag.objects.get(run=run, key="mlflow.runName").value == "renamed"
    bad = mlflow_a.post("runs/update", {"run_id": run_id, "status": "DONE"})
    assert "status" in error_of(bad, 400, "INVALID_PARAMETER_VALUE")
    mlflow_a.ok("post", "runs/set-tag", {"run_id": run_id, "key": "mlflow.runName", "value": "by-tag"})
    assert mlflow_a.ok("get", "runs/get", {"run_id": run_id})["run"]["info"]["run_name"] == "by-tag"


def test_log_batch_writes_everything_and_a_retry_writes_nothing(mlflow_a, tenant_a, django_capture_on_commit_callbacks):
    run_id = mlflow_a.run(mlflow_a.experiment("batch"))["info"]["run_id"]
    body = {
        "metrics": _points(997),  # + 1 param + 2 tags = MLflow's 1000 entities per batch
        "params": [{"key": "lr", "value": "0.01"}],
        "tags": [{"key": "stage", "value": "a"}, {"key": "stage", "value": "b"}],
    }
    ingested = metric_points_ingested.labels(tenant=tenant_a.schema)
    before = ingested._value.get()
    with django_capture_on_commit_callbacks(execute=True):
        assert _batch(mlflow_a, run_id, **body).json() == {}
    assert ingested._value.get() == before + 997
    assert _batch(mlflow_a, run_id, **body).status_code == 200
    with tenant_a.context():
        run = Run.objects.get(uuid=uuid.UUID(run_id))
        assert MetricPoint.objects.filter(run=run).count() == 997
        assert RunTag.objects.get(run=run, key="stage").value == "b"
        events = AuditEvent.objects.filter(
            action="metrics.ingested", object_id=str(run.pk), extra__has_key="metrics_received"
        ).order_by("id")
        assert [e.extra["metrics"] for e in events] == [997, 0]
    data = mlflow_a.ok("get", "runs/get", {"run_id": run_id})["run"]["data"]
    assert data["metrics"] == [{"key": "loss", "value": 99.6, "timestamp": T0 + 996, "step": 996}]
    assert data["params"] == [{"key": "lr", "value": "0.01"}]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"metrics": _points(1001)}, "at most 1000 metrics. Got 1001 metrics"),
        ({"params": [{"key": f"p{i}", "value": "1"} for i in range(101)]}, "at most 100 params. Got 101"),
        ({"tags": [{"key": f"t{i}", "value": "1"} for i in range(101)]}, "at most 100 tags. Got 101"),
        (
            {"metrics": _points(950), "params": [{"key": f"p{i}", "value": "1"} for i in range(51)]},
            "at most 1000 metrics, params, and tags. Got 1001",
        ),
        ({"params": [{"key": "a", "value": "1"}, {"key": "a", "value": "1"}]}, "Duplicate parameter keys"),
        ({"metrics": [{"key": "x", "value": 1.0, "timestamp": -1}]}, "metrics[0].timestamp"),
        ({"metrics": [{"key": "x", "value": "high", "timestamp": 1}]}, "metrics[0].value"),
        ({"metrics": [{"key": "x", "value": 1.0}]}, "'metrics[0].timestamp'"),
        ({"metrics": [*_points(3), {"key": "a//b", "value": 1.0, "timestamp": 1}]}, 'Invalid value "a//b"'),
        ({"params": [{"value": "1"}]}, "'params[0].key'"),
        ({"metrics": "loss"}, "'metrics'"),
    ],
)
def test_invalid_batches_write_nothing_and_name_the_problem(mlflow_a, tenant_a, body, message):
    run_id = mlflow_a.run(mlflow_a.experiment("bad-batch"))["info"]["run_id"]
    rejected = metric_batches_rejected.labels(reason="validation")
    before = rejected._value.get()
    assert message in error_of(_batch(mlflow_a, run_id, **body), 400, "INVALID_PARAMETER_VALUE")
    assert rejected._value.get() == before + 1
    with tenant_a.context():
        run = Run.objects.get(uuid=uuid.UUID(run_id))
        assert not MetricPoint.objects.filter(run=run).exists() and not RunParam.objects.filter(run=run).exists()


def test_param_conflict_in_a_batch_fails_the_whole_batch_with_mlflows_message(mlflow_a, tenant_a):
    run_id = mlflow_a.run(mlflow_a.experiment("conflict"))["info"]["run_id"]
    mlflow_a.ok("post", "runs/log-parameter", {"run_id": run_id, "key": "lr", "value": "0.1"})
    mlflow_a.ok("post", "runs/log-parameter", {"run_id": run_id, "key": "lr", "value": "0.1"})
    single = mlflow_a.post("runs/log-parameter", {"run_id": run_id, "key": "lr", "value": "0.2"})
    assert f"was already logged with value='0.1' for run ID='{run_id}'" in error_of(
        single, 400, "INVALID_PARAMETER_VALUE"
    )
    batch = _batch(mlflow_a, run_id, metrics=_points(5), params=[{"key": "lr", "value": "0.3"}])
    message = error_of(batch, 400, "INVALID_PARAMETER_VALUE")
    assert "Changing param values is not allowed" in message and "'old_value': '0.1', 'new_value': '0.3'" in message
    with tenant_a.context():
        assert not MetricPoint.objects.filter(run__uuid=uuid.UUID(run_id)).exists()


def test_long_param_and_tag_values_are_truncated_as_mlflow_does(mlflow_a, tenant_a):
    run_id = mlflow_a.run(mlflow_a.experiment("truncate"))["info"]["run_id"]
    mlflow_a.ok("post", "runs/log-parameter", {"run_id": run_id, "key": "long", "value": "x" * 7000})
    mlflow_a.ok("post", "runs/set-tag", {"run_id": run_id, "key": "note", "value": "y" * 9000})
    with tenant_a.context():
        assert len(RunParam.objects.get(run__uuid=uuid.UUID(run_id), key="long").value) == 6000
        assert len(RunTag.objects.get(run__uuid=uuid.UUID(run_id), key="note").value) == 8000


def test_body_over_one_megabyte_is_refused(mlflow_a):
    """MLflow's answer (400, its message) to the API's one PayloadTooLarge, with the native log-batch's limit,
    counted as a too_large rejection as on the native endpoint (it used to be counted as "validation")."""
    rejected = metric_batches_rejected.labels(reason="too_large")
    before = rejected._value.get()
    run_id = mlflow_a.run(mlflow_a.experiment("big"))["info"]["run_id"]
    body = json.dumps({"run_id": run_id, "tags": [{"key": "t", "value": "v" * 1_000_001}]})
    response = mlflow_a.api.post("/api/2.0/mlflow/runs/log-batch", body, content_type="application/json")
    assert "at most 1000000 bytes" in error_of(response, 400, "INVALID_PARAMETER_VALUE")
    assert MAX_BATCH_BODY_BYTES == 1_000_000  # MLflow's MAX_BATCH_LOG_REQUEST_SIZE, for both surfaces
    assert rejected._value.get() == before + 1


def test_non_finite_values_round_trip_as_protobuf_json_strings(mlflow_a):
    run_id = mlflow_a.run(mlflow_a.experiment("nan"))["info"]["run_id"]
    metrics = [
        {"key": "v", "value": "NaN", "timestamp": T0, "step": 0},
        {"key": "v", "value": "Infinity", "timestamp": T0 + 1, "step": 1},
        {"key": "v", "value": "-Infinity", "timestamp": T0 + 2, "step": 2},
        {"key": "v", "value": 1.5, "timestamp": T0 + 3, "step": 3},
    ]
    mlflow_a.ok("post", "runs/log-batch", {"run_id": run_id, "metrics": metrics})
    mlflow_a.ok("post", "runs/log-metric", {"run_id": run_id, "key": "w", "value": "NaN", "timestamp": T0})
    history = mlflow_a.ok("get", "metrics/get-history", {"run_id": run_id, "metric_key": "v"})["metrics"]
    assert [m["value"] for m in history] == ["NaN", "Infinity", "-Infinity", 1.5]
    latest = mlflow_a.ok("get", "runs/get", {"run_id": run_id})["run"]["data"]["metrics"]
    assert {m["key"]: m["value"] for m in latest} == {"v": 1.5, "w": "NaN"}


def test_history_is_in_mlflows_order_and_pages_with_tokens(mlflow_a):
    run_id = mlflow_a.run(mlflow_a.experiment("history"))["info"]["run_id"]
    metrics = [{"key": "loss", "value": float(s), "timestamp": T0 + 10 - s, "step": s} for s in range(10)]
    mlflow_a.ok("post", "runs/log-batch", {"run_id": run_id, "metrics": metrics})
    history = mlflow_a.ok("get", "metrics/get-history", {"run_id": run_id, "metric_key": "loss"})["metrics"]
    assert [m["step"] for m in history] == list(range(9, -1, -1))  # timestamp order first, as MLflow sorts
    assert history[0] == {"key": "loss", "value": 9.0, "timestamp": T0 + 1, "step": 9}
    steps, token = [], None
    while True:
        params = {"run_id": run_id, "metric_key": "loss", "max_results": 4, **({"page_token": token} if token else {})}
        page = mlflow_a.ok("get", "metrics/get-history", params)
        steps += [m["step"] for m in page["metrics"]]
        token = page.get("next_page_token")
        if not token:
            break
    assert steps == list(range(9, -1, -1))
    assert mlflow_a.ok("get", "metrics/get-history", {"run_id": run_id, "metric_key": "nope"}) == {}
    bad = mlflow_a.get("metrics/get-history", {"run_id": run_id, "metric_key": "loss", "max_results": 0})
    assert "positive integer" in error_of(bad, 400, "INVALID_PARAMETER_VALUE")
    for key in ("loss", "bad/../key"):  # a key no point can have still gets its page token checked
        bad_token = {"run_id": run_id, "metric_key": key, "max_results": 4, "page_token": "not-a-token"}
        assert "Invalid page token" in error_of(
            mlflow_a.get("metrics/get-history", bad_token), 400, "INVALID_PARAMETER_VALUE"
        )
    beyond = {"run_id": run_id, "metric_key": "loss", "max_results": 4, "page_token": offset_token(50)}
    assert mlflow_a.ok("get", "metrics/get-history", beyond) == {}


def test_bulk_interval_samples_like_mlflow(mlflow_a):
    exp = mlflow_a.experiment("bulk")
    first = mlflow_a.run(exp)["info"]["run_id"]
    second = mlflow_a.run(exp)["info"]["run_id"]
    mlflow_a.ok("post", "runs/log-batch", {"run_id": first, "metrics": _points(100)})
    mlflow_a.ok("post", "runs/log-batch", {"run_id": second, "metrics": _points(3)})
    params = {"run_ids": [first, second], "metric_key": "loss", "max_results": 10}
    metrics = mlflow_a.ok("get", "metrics/get-history-bulk-interval", params)["metrics"]
    by_run = {run_id: [m["step"] for m in metrics if m["run_id"] == run_id] for run_id in (first, second)}
    assert by_run[first] == [0, 10, 20, 30, 40, 50, 60, 70, 80, 99] and by_run[second] == [0, 1, 2]
    window = mlflow_a.ok("get", "metrics/get-history-bulk-interval", {**params, "start_step": 10, "end_step": 19})
    assert [m["step"] for m in window["metrics"] if m["run_id"] == first] == list(range(10, 20))
    one = mlflow_a.ok("get", "metrics/get-history-bulk-interval", {**params, "max_results": 1})["metrics"]
    assert [m["step"] for m in one] == [99, 2]
    half = mlflow_a.get("metrics/get-history-bulk-interval", {**params, "start_step": 3})
    assert "both must be specified" in error_of(half, 400, "INVALID_PARAMETER_VALUE")
    too_many = mlflow_a.get("metrics/get-history-bulk-interval", {**params, "max_results": 2501})
    assert "between 1 and 2500" in error_of(too_many, 400, "INVALID_PARAMETER_VALUE")


def test_delete_and_restore_run_and_deleted_runs_refuse_data(mlflow_a, tenant_a):
    run_id = mlflow_a.run(mlflow_a.experiment("trash"))["info"]["run_id"]
    mlflow_a.ok("post", "runs/delete", {"run_id": run_id})
    assert mlflow_a.ok("get", "runs/get", {"run_id": run_id})["run"]["info"]["lifecycle_stage"] == "deleted"
    refused = _batch(mlflow_a, run_id, metrics=_points(2))
    assert "must be in the 'active' state. Current state is deleted." in error_of(
        refused, 400, "INVALID_PARAMETER_VALUE"
    )
    with tenant_a.context():
        run = Run.objects.get(uuid=uuid.UUID(run_id))
        assert run.lifecycle_stage == "deleted"
        assert AuditEvent.objects.filter(action="run.updated", object_id=str(run.pk)).exists()
    mlflow_a.ok("post", "runs/restore", {"run_id": run_id})
    mlflow_a.ok("post", "runs/log-batch", {"run_id": run_id, "metrics": _points(2)})
    assert error_of(mlflow_a.post("runs/delete-tag", {"run_id": run_id, "key": "x"}), 404, "RESOURCE_DOES_NOT_EXIST")


def test_request_field_errors_follow_mlflows_messages(mlflow_a):
    missing = mlflow_a.get("runs/get")
    assert error_of(missing, 400, "INVALID_PARAMETER_VALUE") == (
        "Missing value for required parameter 'run_id'. See the API docs for more information about request parameters."
    )
    wrong = mlflow_a.post("experiments/create", {"name": 5})
    assert "Hint: Value was of type 'int'" in error_of(wrong, 400, "INVALID_PARAMETER_VALUE")
    garbage = mlflow_a.api.post("/api/2.0/mlflow/runs/log-batch", "{not json", content_type="application/json")
    assert "Malformed JSON" in error_of(garbage, 400, "INVALID_PARAMETER_VALUE")
    unknown = mlflow_a.get("runs/get", {"run_id": "not-a-run"})
    assert error_of(unknown, 404, "RESOURCE_DOES_NOT_EXIST") == "Run with id=not-a-run not found"
    artifacts = mlflow_a.get("artifacts/list", {"run_id": "x"})  # served since issue 19: the run is unknown
    assert error_of(artifacts, 404, "RESOURCE_DOES_NOT_EXIST") == "Run with id=x not found"
    unserved = mlflow_a.get("no-such/endpoint", {"run_id": "x"})
    assert "no-such/endpoint" in error_of(unserved, 404, "ENDPOINT_NOT_FOUND")
    wrong_method = mlflow_a.get("runs/log-batch")
    assert wrong_method.status_code == 405 and wrong_method.json()["error_code"] == "BAD_REQUEST"


def test_log_metric_single_point_and_ajax_api_path(mlflow_a, tenant_a):
    run_id = mlflow_a.run(mlflow_a.experiment("single"))["info"]["run_id"]
    body = {"run_id": run_id, "key": "acc", "value": 0.5, "timestamp": T0, "step": 3}
    assert mlflow_a.post("runs/log-metric", body, prefix="/ajax-api/2.0/mlflow/").status_code == 200
    with tenant_a.context():
        point = MetricPoint.objects.get(run__uuid=uuid.UUID(run_id), key="acc")
        assert (point.value, point.step, point.timestamp) == (0.5, 3, T0)
    missing = mlflow_a.post("runs/log-metric", {"run_id": run_id, "key": "acc", "timestamp": T0})
    assert "'value'" in error_of(missing, 400, "INVALID_PARAMETER_VALUE")


def test_body_text_postgresql_cannot_store_is_refused_naming_its_place(mlflow_a):
    """NUL and lone surrogates arrive only as JSON escapes; a lone surrogate echoed in an error message could not
    even be rendered (a 500)."""
    for body, place in (
        ('{"experiment_id": "\\ud800"}', "experiment_id"),
        ('{"name": "a\\u0000b"}', "name"),
        ('{"experiment_id": "1", "tags": [{"key": "k", "value": "\\udfff"}]}', "tags[0].value"),
    ):
        for path in ("experiments/delete", "experiments/create", "runs/create"):
            response = mlflow_a.api.post("/api/2.0/mlflow/" + path, body, content_type="application/json")
            assert error_of(response, 400, "INVALID_PARAMETER_VALUE").startswith(f"{place}: "), (path, body)
    emoji = mlflow_a.api.post("/api/2.0/mlflow/experiments/create", '{"name": "\\ud83d\\ude00 run"}',
                              content_type="application/json")  # fmt: skip
    assert emoji.status_code == 200, emoji.content  # a surrogate pair is a character like any other
