"""The real MLflow client (pinned mlflow-skinny), unmodified, against a live Maestro (gunicorn on the test database),
configured only with MLFLOW_TRACKING_URI (the platform host) and MLFLOW_TRACKING_TOKEN (a Maestro token, which
routes the requests to its tenant). Then the same data is read back through Maestro's native API."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests

from apps.audit.models import AuditEvent
from apps.metrics.models import Run
from apps.projects.models import Project
from tests.dashboard.helpers import json_script, signed_in, text

SCRIPT = Path(__file__).with_name("client_script.py")


def run_client(env: dict, flow: str, name: str) -> dict:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), flow, name], env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_mlflow_client_logs_searches_and_reads_back_and_maestro_sees_the_same_data(mlflow_env):
    alpha, env, token, server = mlflow_env
    name = f"churn-{uuid.uuid4().hex[:8]}"
    out = run_client(env, "main", name)

    assert out["same_experiment"] is True
    assert [point[:2] for point in out["history"]] == [[s, 1.0 / (s + 1)] for s in range(5)]
    assert all(point[2] for point in out["history"])
    assert out["status"] == "FINISHED" and out["end_time_set"] and out["run_name"] == "baseline"
    assert out["other_status"] == "FAILED"
    assert out["params"] == {"lr": "0.01", "optimizer": "adam", "epochs": "3"}
    assert out["tags"]["stage"] == "prod" and out["tags"]["team"] == "vision"
    assert out["tags"]["mlflow.runName"] == "baseline"
    assert out["metrics"] == {"loss": 0.2, "accuracy": 0.91, "f1": 0.88, "diverged": None}
    assert out["search_ids"] == [out["run_id"]] and out["search_accuracy"] == [0.91]
    assert out["ordered_ids"] == [out["run_id"], out["other_run_id"]]
    assert out["page_sizes"] == [1, 1] and out["pages_differ"]
    assert "team" not in out["tags_after_delete"] and "stage" in out["tags_after_delete"]

    with alpha.context():
        project = Project.objects.get(pk=int(out["experiment_id"]))
        assert project.name == name
        run = Run.objects.get(uuid=uuid.UUID(out["run_id"]))
        assert run.project_id == project.pk and run.status == "finished" and run.end_time is not None
        assert AuditEvent.objects.filter(action="metrics.ingested", object_id=str(run.pk)).count() >= 5
        assert AuditEvent.objects.filter(action="project.created", object_id=str(project.pk)).exists()

    native = requests.Session()
    native.headers["Authorization"] = f"Bearer {token}"
    base = f"http://127.0.0.1:{server.port}/api/v1"
    listed = native.get(f"{base}/runs", params={"project": project.pk, "ordering": "start_time"}).json()
    assert [r["name"] for r in listed["results"]] == ["baseline", "second"]
    detail = native.get(f"{base}/runs/{run.pk}").json()
    assert detail["params"] == {"epochs": "3", "lr": "0.01", "optimizer": "adam"}
    assert detail["metrics"]["accuracy"]["value"] == 0.91 and detail["metrics"]["diverged"]["value"] == "NaN"
    series = native.get(f"{base}/runs/{run.pk}/metrics/loss/history").json()
    assert series["steps"] == [0, 1, 2, 3, 4] and series["values"][4] == 0.2


def test_mlflow_client_errors_are_the_exceptions_mlflow_raises(mlflow_env):
    _alpha, env, _token, _server = mlflow_env
    name = f"errors-{uuid.uuid4().hex[:8]}"
    out = run_client(env, "errors", name)

    duplicate = out["duplicate_param"]
    assert duplicate["type"] == "MlflowException" and duplicate["error_code"] == "INVALID_PARAMETER_VALUE"
    assert (
        "Changing param values is not allowed. Param with key='depth' was already logged with value='3'"
        in (duplicate["message"])
    )
    assert out["same_param_again"] is None
    too_many = out["batch_1001"]
    assert too_many["type"] == "RestException" and too_many["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "A batch logging request can contain at most 1000 metrics. Got 1001 metrics." in too_many["message"]
    assert out["batch_1000"] is None and out["history_1000"] == 1000
    assert out["bad_key"]["error_code"] == "INVALID_PARAMETER_VALUE" and "bad;key" in out["bad_key"]["message"]
    assert out["unknown_run"]["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert out["unknown_experiment"]["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert out["duplicate_experiment"]["error_code"] == "RESOURCE_ALREADY_EXISTS"
    assert out["delete_missing_tag"]["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert out["bad_filter"]["error_code"] == "INVALID_PARAMETER_VALUE"
    assert out["log_to_deleted"]["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "must be in the 'active' state" in out["log_to_deleted"]["message"]
    assert (out["deleted_stage"], out["restored_stage"]) == ("deleted", "active")


def test_mlflow_client_manages_experiments(mlflow_env):
    alpha, env, _token, _server = mlflow_env
    name = f"exp-{uuid.uuid4().hex[:8]}"
    out = run_client(env, "experiments", name)
    assert out["found_id"] == out["experiment_id"] and out["listed"] == [out["experiment_id"]]
    assert out["tags"] == {"owner": "ml-team", "purpose": "compat test"}
    assert out["deleted_stage"] == "deleted" and out["active_after_delete"] == 0
    assert out["rename_deleted"]["error_code"] == "INVALID_STATE"
    assert out["restored_stage"] == "active" and out["missing_by_name"] is True
    with alpha.context():
        assert Project.objects.get(pk=int(out["experiment_id"])).name == f"{name}-renamed"


def test_run_logged_by_the_mlflow_client_shows_on_the_dashboard_run_pages(mlflow_env):
    alpha, env, _token, _server = mlflow_env
    out = run_client(env, "dashboard", f"dash-{uuid.uuid4().hex[:8]}")
    with alpha.context():
        run = Run.objects.get(uuid=uuid.UUID(out["run_id"]))
    person = signed_in(alpha)
    try:
        listing = person.client.get(f"/runs/?project={out['experiment_id']}").content.decode()
        table = listing.split('data-testid="run-table"', 1)[1]
        assert re.findall(r'<a href="/runs/(\d+)/">([^<]+)</a>', table) == [(str(run.pk), "dashboard-run")]
        header = table.split("<thead", 1)[1].split("</thead>", 1)[0]
        assert re.findall(r'class="sort" href="[^"]*">([^<]+)<', header) == [
            "Run", "Status", "Started", "lr", "optimizer", "val_loss"
        ]  # fmt: skip
        row = text(table.split(f'value="{run.pk}"', 1)[1].split("</tr>", 1)[0])
        assert row.endswith("0.003 adamw 0.2000 ★ best on this page")  # the only run is the best val_loss

        detail = person.client.get(f"/runs/{run.pk}/").content.decode()
        params = detail.split('data-testid="params"', 1)[1].split("</table>", 1)[0]
        assert re.findall(r'<th scope="row" class="mono">([^<]+)</th><td class="mono">([^<]+)</td>', params) == [
            ("lr", "0.003"), ("optimizer", "adamw")
        ]  # fmt: skip
        charts = dict(re.findall(r'data-metric-key="([^"]+)">.*?data-chart="([^"]+)"', detail, re.S))
        assert list(charts) == ["val_loss"]
        drawn = json_script(detail, charts["val_loss"])["data"]["datasets"][0]["data"]
        assert [point["x"] for point in drawn] == [0, 1, 2, 3]
        assert [point["y"] for point in drawn] == pytest.approx([0.8, 0.6, 0.4, 0.2])
        assert "review" in text(detail)
    finally:
        person.client.logout()  # the session row is committed: remove it
