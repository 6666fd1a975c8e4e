"""MLflow 3 logged models, dataset inputs, run outputs, MLflow 2's log-model and metrics naming a model: the
endpoints the pinned client calls for ``log_model``, ``log_input`` and ``autolog``, with MLflow's shapes and codes,
permissions and tenant isolation."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from rest_framework.test import APIClient

from apps.audit.models import AuditEvent
from apps.metrics.models import MetricPoint, Run
from apps.mlflow_api.models import Dataset, LoggedModel, LoggedModelMetric, RunInput
from tests.mlflow_api.conftest import Mlflow, error_of
from tests.support.access import make_principal

pytestmark = pytest.mark.django_db

T0 = 1767225600000
DATASET = {"name": "train", "digest": "3ca3a078", "source_type": "code", "source": '{"tags": {}}',
           "schema": '{"mlflow_colspec": []}', "profile": '{"num_rows": 331}'}  # fmt: skip


def _model(mlflow: Mlflow, exp: str, **extra) -> dict:
    return mlflow.ok("post", "logged-models", {"experiment_id": exp, **extra})["model"]


def test_logged_model_lifecycle_has_mlflows_shapes(tenant_a, mlflow_a):
    exp = mlflow_a.experiment("lm")
    run_id = mlflow_a.run(exp)["info"]["run_id"]
    params, tags = [{"key": "alpha", "value": "0.5"}], [{"key": "mlflow.user", "value": "me"}]
    created = _model(mlflow_a, exp, name="model", source_run_id=run_id, model_type="sklearn", params=params, tags=tags)
    info = created["info"]
    model_id = info["model_id"]
    assert re.fullmatch(r"m-[0-9a-f]{32}", model_id)
    assert info["artifact_uri"] == f"mlflow-artifacts:/{exp}/models/{model_id}/artifacts"
    assert info["status"] == "LOGGED_MODEL_PENDING" and info["source_run_id"] == run_id
    assert info["experiment_id"] == exp and info["name"] == "model" and info["model_type"] == "sklearn"
    assert info["tags"] == [{"key": "mlflow.user", "value": "me"}]
    assert created["data"] == {"params": [{"key": "alpha", "value": "0.5"}]}

    finalized = mlflow_a.patch(f"logged-models/{model_id}", {"model_id": model_id, "status": 2})
    assert finalized.status_code == 200 and finalized.json()["model"]["info"]["status"] == "LOGGED_MODEL_READY"
    mlflow_a.patch(f"logged-models/{model_id}/tags", {"tags": [{"key": "team", "value": "vision"}]})
    assert (
        mlflow_a.post(f"logged-models/{model_id}/params", {"params": [{"key": "depth", "value": "3"}]}).status_code
        == 200
    )
    same = mlflow_a.post(f"logged-models/{model_id}/params", {"params": [{"key": "depth", "value": "3"}]})
    assert same.status_code == 200
    changed = mlflow_a.post(f"logged-models/{model_id}/params", {"params": [{"key": "depth", "value": "4"}]})
    assert "Changing param values is not allowed" in error_of(changed, 400, "INVALID_PARAMETER_VALUE")
    got = mlflow_a.ok("get", f"logged-models/{model_id}")["model"]
    assert {t["key"]: t["value"] for t in got["info"]["tags"]} == {"mlflow.user": "me", "team": "vision"}
    assert [p["key"] for p in got["data"]["params"]] == ["alpha", "depth"]
    assert mlflow_a.delete(f"logged-models/{model_id}/tags/team").status_code == 200
    missing_tag = mlflow_a.delete(f"logged-models/{model_id}/tags/team")
    assert "No tag with key 'team'" in error_of(missing_tag, 404, "RESOURCE_DOES_NOT_EXIST")

    assert mlflow_a.delete(f"logged-models/{model_id}").status_code == 200
    gone = mlflow_a.get(f"logged-models/{model_id}")
    assert error_of(gone, 404, "RESOURCE_DOES_NOT_EXIST") == f"Logged model with ID '{model_id}' not found."
    kept = mlflow_a.ok("get", f"logged-models/{model_id}", {"allow_deleted": "true"})
    assert kept["model"]["info"]["model_id"] == model_id
    with tenant_a.context():
        actions = set(AuditEvent.objects.filter(object_id=str(LoggedModel.objects.get(model_id=model_id).pk))
                      .values_list("action", flat=True))  # fmt: skip
    assert {"logged_model.created", "logged_model.updated"} <= actions


def test_logged_model_requests_are_validated_like_mlflows(mlflow_a):
    exp = mlflow_a.experiment("lm-bad")
    assert error_of(mlflow_a.post("logged-models", {}), 400, "INVALID_PARAMETER_VALUE").startswith(
        "Missing value for required parameter 'experiment_id'"
    )
    bad_name = mlflow_a.post("logged-models", {"experiment_id": exp, "name": "a/b"})
    assert "Invalid model name" in error_of(bad_name, 400, "INVALID_PARAMETER_VALUE")
    unknown_run = mlflow_a.post("logged-models", {"experiment_id": exp, "source_run_id": "0" * 32})
    error_of(unknown_run, 404, "RESOURCE_DOES_NOT_EXIST")
    bad_param = mlflow_a.post("logged-models", {"experiment_id": exp, "params": [{"key": "../x", "value": "1"}]})
    assert "params[0].key" in error_of(bad_param, 400, "INVALID_PARAMETER_VALUE")
    model_id = _model(mlflow_a, exp)["info"]["model_id"]
    bad_status = mlflow_a.patch(f"logged-models/{model_id}", {"model_id": model_id, "status": "DONE"})
    assert "status" in error_of(bad_status, 400, "INVALID_PARAMETER_VALUE")
    error_of(mlflow_a.get("logged-models/m-" + "0" * 32), 404, "RESOURCE_DOES_NOT_EXIST")
    mlflow_a.ok("post", "experiments/delete", {"experiment_id": exp})
    in_deleted = mlflow_a.post("logged-models", {"experiment_id": exp})
    assert "must be in the 'active' state" in error_of(in_deleted, 400, "INVALID_PARAMETER_VALUE")


def test_search_logged_models_filters_orders_and_pages(mlflow_a):
    exp = mlflow_a.experiment("lm-search")
    run_id = mlflow_a.run(exp)["info"]["run_id"]
    made = {}
    for name, acc in (("a", 0.7), ("b", 0.9), ("c", 0.8)):
        model_id = _model(mlflow_a, exp, name=name, source_run_id=run_id if name != "c" else "",
                          params=[{"key": "size", "value": name}])["info"]["model_id"]  # fmt: skip
        mlflow_a.ok("post", "runs/log-batch", {"run_id": run_id, "metrics": [
            {"key": "acc", "value": acc, "timestamp": T0, "step": 0, "model_id": model_id,
             "dataset_name": "val", "dataset_digest": "d1"}]})  # fmt: skip
        made[name] = model_id

    def names(**body):
        found = mlflow_a.ok("post", "logged-models/search", {"experiment_ids": [exp], **body})
        return [m["info"]["name"] for m in found.get("models", [])]

    assert names() == ["c", "b", "a"]  # newest first
    assert names(filter=f"source_run_id = '{run_id}'") == ["b", "a"]
    assert names(filter="metrics.acc >= 0.8", order_by=[{"field_name": "metrics.acc", "ascending": False}]) == [
        "b", "c"
    ]  # fmt: skip
    assert names(filter="params.size = 'a'") == ["a"]
    assert names(filter="name LIKE '%b%'") == ["b"]
    assert names(datasets=[{"dataset_name": "val"}], order_by=[{"field_name": "name"}]) == ["a", "b", "c"]
    assert names(datasets=[{"dataset_name": "test"}]) == []
    first = mlflow_a.ok("post", "logged-models/search", {"experiment_ids": [exp], "max_results": 2})
    assert len(first["models"]) == 2 and first["next_page_token"]
    second = mlflow_a.ok("post", "logged-models/search", {"experiment_ids": [exp], "max_results": 2,
                                                        "page_token": first["next_page_token"]})  # fmt: skip
    assert [m["info"]["name"] for m in second["models"]] == ["a"] and "next_page_token" not in second
    other_search = mlflow_a.post("logged-models/search", {"experiment_ids": [exp], "filter": "name = 'a'",
                                                         "page_token": first["next_page_token"]})  # fmt: skip
    assert "Filter string in the page token" in error_of(other_search, 400, "INVALID_PARAMETER_VALUE")
    bad = mlflow_a.post("logged-models/search", {"experiment_ids": [exp], "filter": "nope.x = 1"})
    error_of(bad, 400, "INVALID_PARAMETER_VALUE")
    unknown_attr = mlflow_a.post("logged-models/search", {"experiment_ids": [exp], "filter": "colour = 'red'"})
    assert "Invalid attribute key 'colour'" in error_of(unknown_attr, 400, "INVALID_PARAMETER_VALUE")
    error_of(mlflow_a.post("logged-models/search", {}), 400, "INVALID_PARAMETER_VALUE")


def test_metrics_naming_a_model_are_stored_for_it_and_in_the_runs_history(tenant_a, mlflow_a):
    exp = mlflow_a.experiment("lm-metrics")
    run_id = mlflow_a.run(exp)["info"]["run_id"]
    model_id = _model(mlflow_a, exp, source_run_id=run_id)["info"]["model_id"]
    metrics = [
        {"key": "rmse", "value": 54.5, "timestamp": T0, "step": 0, "model_id": model_id, "dataset_name": "train",
         "dataset_digest": "0dce2649", "run_id": run_id},
        {"key": "plain", "value": 1.0, "timestamp": T0, "step": 0},
    ]  # fmt: skip
    mlflow_a.ok("post", "runs/log-batch", {"run_id": run_id, "metrics": metrics})
    mlflow_a.ok("post", "runs/log-batch", {"run_id": run_id, "metrics": metrics})  # a retry stores nothing twice
    mlflow_a.ok("post", "runs/log-metric", {"run_id": run_id, "key": "mae", "value": 45.2, "timestamp": T0,
                                           "model_id": model_id})  # fmt: skip
    data = mlflow_a.ok("get", f"logged-models/{model_id}")["model"]["data"]
    assert data["metrics"] == [
        {"key": "mae", "value": 45.2, "timestamp": T0, "step": 0, "model_id": model_id, "run_id": run_id},
        {"key": "rmse", "value": 54.5, "timestamp": T0, "step": 0, "dataset_name": "train",
         "dataset_digest": "0dce2649", "model_id": model_id, "run_id": run_id},
    ]  # fmt: skip
    run = mlflow_a.ok("get", "runs/get", {"run_id": run_id})["run"]
    assert {m["key"] for m in run["data"]["metrics"]} == {"rmse", "plain", "mae"}
    with tenant_a.context():
        assert LoggedModelMetric.objects.filter(model__model_id=model_id).count() == 2
        points_before = MetricPoint.objects.filter(run__uuid=uuid.UUID(run_id)).count()
    unknown = dict(metrics[0], model_id="m-" + "0" * 32, key="other")
    refused = mlflow_a.post("runs/log-batch", {"run_id": run_id, "metrics": [unknown, metrics[1]]})
    error_of(refused, 404, "RESOURCE_DOES_NOT_EXIST")
    with tenant_a.context():  # all or nothing
        assert MetricPoint.objects.filter(run__uuid=uuid.UUID(run_id)).count() == points_before
    bad_dataset = dict(metrics[0], dataset_digest=7)
    assert "dataset_digest" in error_of(mlflow_a.post("runs/log-batch", {"run_id": run_id, "metrics": [bad_dataset]}),
                                        400, "INVALID_PARAMETER_VALUE")  # fmt: skip


def test_log_inputs_outputs_and_log_model_show_on_the_run(tenant_a, mlflow_a):
    exp = mlflow_a.experiment("lm-inputs")
    run_id = mlflow_a.run(exp)["info"]["run_id"]
    other_run = mlflow_a.run(exp)["info"]["run_id"]
    model_id = _model(mlflow_a, exp, source_run_id=run_id)["info"]["model_id"]
    tags = [{"key": "mlflow.data.context", "value": "training"}]
    mlflow_a.ok("post", "runs/log-inputs", {"run_id": run_id, "datasets": [{"tags": tags, "dataset": DATASET}],
                                           "models": [{"model_id": model_id}]})  # fmt: skip
    again = {"run_id": run_id, "datasets": [{"tags": [], "dataset": dict(DATASET, source="changed")}]}
    mlflow_a.ok("post", "runs/log-inputs", again)  # the same dataset again: kept as first logged
    mlflow_a.ok("post", "runs/log-inputs", {"run_id": other_run, "datasets": [{"dataset": DATASET}]})
    mlflow_a.ok("post", "runs/outputs", {"run_id": run_id, "models": [{"model_id": model_id, "step": 3}]})
    model_json = json.dumps({"artifact_path": "model", "run_id": run_id, "utc_time_created": "2026-01-01",
                             "model_uuid": "abc", "flavors": {"sklearn": {"pickled_model": "model.pkl",
                                                                          "config": {"x": 1}}}})  # fmt: skip
    mlflow_a.ok("post", "runs/log-model", {"run_id": run_id, "model_json": model_json})

    run = mlflow_a.ok("get", "runs/get", {"run_id": run_id})["run"]
    assert run["inputs"] == {"dataset_inputs": [{"tags": tags, "dataset": DATASET}],
                             "model_inputs": [{"model_id": model_id}]}  # fmt: skip
    assert run["outputs"] == {"model_outputs": [{"model_id": model_id, "step": 3}]}
    history = json.loads({t["key"]: t["value"] for t in run["data"]["tags"]}["mlflow.log-model.history"])
    assert history == [{"run_id": run_id, "utc_time_created": "2026-01-01", "artifact_path": "model",
                        "model_uuid": "abc", "flavors": {"sklearn": {"pickled_model": "model.pkl"}}}]  # fmt: skip
    searched = mlflow_a.ok("post", "runs/search", {"experiment_ids": [exp], "order_by": ["start_time ASC"]})["runs"]
    by_id = {r["info"]["run_id"]: r for r in searched}
    assert by_id[run_id]["inputs"] == run["inputs"] and by_id[run_id]["outputs"] == run["outputs"]
    assert by_id[other_run]["inputs"]["dataset_inputs"][0]["dataset"]["name"] == "train"
    assert by_id[other_run]["outputs"] == {}
    with tenant_a.context():
        assert Dataset.objects.filter(project_id=int(exp)).count() == 1  # once per experiment
        assert RunInput.objects.filter(run__uuid=uuid.UUID(run_id)).count() == 1
        assert AuditEvent.objects.filter(action="run_input.bulk_created").exists()

    no_name = mlflow_a.post("runs/log-inputs", {"run_id": run_id, "datasets": [{"dataset": {"digest": "x"}}]})
    assert "datasets[0].dataset.name" in error_of(no_name, 400, "INVALID_PARAMETER_VALUE")
    long_tag = {"run_id": run_id, "datasets": [{"dataset": DATASET, "tags": [{"key": "k", "value": "v" * 501}]}]}
    assert "500" in error_of(mlflow_a.post("runs/log-inputs", long_tag), 400, "INVALID_PARAMETER_VALUE")
    bad_json = mlflow_a.post("runs/log-model", {"run_id": run_id, "model_json": "{"})
    assert "Malformed model info" in error_of(bad_json, 400, "INVALID_PARAMETER_VALUE")
    incomplete = mlflow_a.post("runs/log-model", {"run_id": run_id, "model_json": "{}"})
    assert "mandatory fields" in error_of(incomplete, 400, "INVALID_PARAMETER_VALUE")
    unknown = mlflow_a.post("runs/outputs", {"run_id": run_id, "models": [{"model_id": "m-nope"}]})
    error_of(unknown, 404, "RESOURCE_DOES_NOT_EXIST")


def test_get_history_bulk_returns_each_runs_points_in_run_order(mlflow_a):
    exp = mlflow_a.experiment("bulk")
    runs = sorted(mlflow_a.run(exp)["info"]["run_id"] for _ in range(2))
    for offset, run_id in enumerate(runs):
        mlflow_a.ok("post", "runs/log-batch", {"run_id": run_id, "metrics": [
            {"key": "loss", "value": 1.0 / (step + 1 + offset), "timestamp": T0 + step, "step": step}
            for step in range(3)]})  # fmt: skip
    answer = mlflow_a.api.get("/ajax-api/2.0/mlflow/metrics/get-history-bulk",
                              {"run_id": [runs[1], runs[0], "0" * 32], "metric_key": "loss"})  # fmt: skip
    assert answer.status_code == 200
    points = answer.json()["metrics"]
    assert [(p["run_id"], p["step"]) for p in points] == [(r, s) for r in runs for s in range(3)]
    assert points[0] == {"key": "loss", "value": 1.0, "timestamp": T0, "step": 0, "run_id": runs[0]}
    capped = mlflow_a.api.get("/ajax-api/2.0/mlflow/metrics/get-history-bulk",
                              {"run_id": runs, "metric_key": "loss", "max_results": 4}).json()  # fmt: skip
    assert [(p["run_id"], p["step"]) for p in capped["metrics"]] == [*((runs[0], s) for s in range(3)), (runs[1], 0)]
    unknown_key = mlflow_a.api.get("/ajax-api/2.0/mlflow/metrics/get-history-bulk", {"run_id": runs, "metric_key": "x"})
    assert unknown_key.json() == {"metrics": []}
    none = mlflow_a.api.get("/ajax-api/2.0/mlflow/metrics/get-history-bulk", {"metric_key": "loss"})
    assert "at least one run_id" in error_of(none, 400, "INVALID_PARAMETER_VALUE")


def test_logged_models_follow_project_permissions(tenant_a, mlflow_a):
    exp = mlflow_a.experiment("lm-access")
    model_id = _model(mlflow_a, exp)["info"]["model_id"]
    viewer = Mlflow(tenant_a, make_principal(tenant_a, "viewer").token)
    assert viewer.ok("get", f"logged-models/{model_id}")["model"]["info"]["model_id"] == model_id
    assert error_of(viewer.post("logged-models", {"experiment_id": exp}), 403, "PERMISSION_DENIED")
    assert error_of(viewer.patch(f"logged-models/{model_id}/tags", {"tags": []}), 403, "PERMISSION_DENIED")
    member = Mlflow(tenant_a, make_principal(tenant_a, "member").token)
    refused = member.patch(f"logged-models/{model_id}", {"model_id": model_id, "status": "LOGGED_MODEL_READY"})
    assert "change" in error_of(refused, 403, "PERMISSION_DENIED")
    read_token = Mlflow(tenant_a, make_principal(tenant_a, "owner", scope="read").token)
    assert "scope" in error_of(read_token.delete(f"logged-models/{model_id}"), 403, "PERMISSION_DENIED")


def test_another_tenant_cannot_reach_logged_models_by_id(tenant_a, tenant_b, mlflow_a, mlflow_b):
    exp_a = mlflow_a.experiment("lm-tenant-a")
    run_a = mlflow_a.run(exp_a)["info"]["run_id"]
    model_id = _model(mlflow_a, exp_a, source_run_id=run_a)["info"]["model_id"]
    exp_b = mlflow_b.experiment("lm-tenant-b")
    run_b = mlflow_b.run(exp_b)["info"]["run_id"]
    for response in (
        mlflow_b.get(f"logged-models/{model_id}"),
        mlflow_b.get(f"logged-models/{model_id}", {"allow_deleted": "true"}),
        mlflow_b.patch(f"logged-models/{model_id}", {"model_id": model_id, "status": 2}),
        mlflow_b.patch(f"logged-models/{model_id}/tags", {"tags": [{"key": "x", "value": "y"}]}),
        mlflow_b.post(f"logged-models/{model_id}/params", {"params": [{"key": "x", "value": "y"}]}),
        mlflow_b.delete(f"logged-models/{model_id}"),
        mlflow_b.post(
            "runs/log-batch",
            {"run_id": run_b, "metrics": [{"key": "m", "value": 1.0, "timestamp": T0, "model_id": model_id}]},
        ),
        mlflow_b.post("runs/log-inputs", {"run_id": run_b, "models": [{"model_id": model_id}]}),
        mlflow_b.post("runs/outputs", {"run_id": run_b, "models": [{"model_id": model_id}]}),
        mlflow_b.post("logged-models", {"experiment_id": exp_a}),
        mlflow_b.post("logged-models", {"experiment_id": exp_b, "source_run_id": run_a}),
    ):
        error_of(response, 404, "RESOURCE_DOES_NOT_EXIST")
    assert mlflow_b.ok("post", "logged-models/search", {"experiment_ids": [exp_a]}) == {}
    with tenant_a.context():
        model = LoggedModel.objects.get(model_id=model_id)
        assert model.status == "LOGGED_MODEL_PENDING" and model.lifecycle_stage == "active"
        assert not model.tags.exists() and not model.params.exists()
    with tenant_b.context():
        assert not Run.objects.get(uuid=uuid.UUID(run_b)).mlflow_model_links.exists()
        assert not MetricPoint.objects.filter(run__uuid=uuid.UUID(run_b)).exists()


def test_a_post_to_an_endpoint_maestro_does_not_serve_is_mlflows_json_404(tenant_a, mlflow_a):
    """Before logged models were served, `POST logged-models` met Django's CSRF check (403 HTML) in the catch-all;
    MLflow's clients expect JSON, and the 404 ENDPOINT_NOT_FOUND is what they report."""
    client = APIClient(enforce_csrf_checks=True, HTTP_HOST=tenant_a.host)
    client.credentials(HTTP_AUTHORIZATION=mlflow_a.api._credentials["HTTP_AUTHORIZATION"])
    for path in ("traces", "webhooks", "no/such/endpoint"):
        response = client.post(f"/api/2.0/mlflow/{path}", {}, format="json")
        assert response.json()["error_code"] == "ENDPOINT_NOT_FOUND" and response.status_code == 404
    served = client.post("/api/2.0/mlflow/logged-models", {"experiment_id": mlflow_a.experiment("csrf")}, format="json")
    assert served.status_code == 200 and served.json()["model"]["info"]["status"] == "LOGGED_MODEL_PENDING"


def test_a_logged_models_artifact_directories_list_its_stored_files(tenant_a, mlflow_a):
    exp = mlflow_a.experiment("lm-files")
    model_id = _model(mlflow_a, exp)["info"]["model_id"]
    root = f"mlflow/{exp}/models/{model_id}/artifacts"
    with tenant_a.context():
        default_storage.save(f"{root}/MLmodel", ContentFile(b"flavors: {}\n"))
        default_storage.save(f"{root}/data/model.pkl", ContentFile(b"\x80\x04" * 10))
    top = mlflow_a.ok("get", f"logged-models/{model_id}/artifacts/directories")
    assert top == {"root_uri": f"mlflow-artifacts:/{exp}/models/{model_id}/artifacts",
                   "files": [{"path": "data", "is_dir": True},
                             {"path": "MLmodel", "is_dir": False, "file_size": 12}]}  # fmt: skip
    inner = mlflow_a.ok("get", f"logged-models/{model_id}/artifacts/directories", {"artifact_directory_path": "data"})
    assert inner["files"] == [{"path": "data/model.pkl", "is_dir": False, "file_size": 20}]
    escape = mlflow_a.get(f"logged-models/{model_id}/artifacts/directories", {"artifact_directory_path": "../.."})
    error_of(escape, 400, "INVALID_PARAMETER_VALUE")
