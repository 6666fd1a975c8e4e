"""Metric history: step order, downsampling through the API, the multi-run variant, tenant isolation."""

import json
import math

import pytest

from tests.metrics.factories import points

pytestmark = pytest.mark.django_db


def log(api, run_id, metrics):
    for start in range(0, len(metrics), 1000):
        body = json.dumps({"metrics": metrics[start : start + 1000]})  # Python's json writes NaN/Infinity literals
        response = api.post(f"/api/v1/runs/{run_id}/log-batch", data=body, content_type="application/json")
        assert response.status_code == 200, response.content


def history(api, run_id, key, query=""):
    response = api.get(f"/api/v1/runs/{run_id}/metrics/{key}/history{query}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    return json.loads(response.content, parse_constant=lambda c: pytest.fail(f"bare {c} in JSON"))


def test_history_is_in_step_order_whatever_the_logging_order(api_a, run_a):
    log(
        api_a,
        run_a["id"],
        [
            {"key": "train/loss", "value": 0.3, "step": 3, "timestamp": 30},
            {"key": "train/loss", "value": 0.9, "step": 1, "timestamp": 10},
            {"key": "train/loss", "value": 0.5, "step": 2, "timestamp": 21},
            {"key": "train/loss", "value": 0.6, "step": 2, "timestamp": 20},
            {"key": "other", "value": 1.0, "step": 0, "timestamp": 1},
        ],
    )
    body = history(api_a, run_a["id"], "train/loss")
    assert body == {
        "run_id": run_a["id"],
        "key": "train/loss",
        "total_points": 4,
        "returned_points": 4,
        "downsampled": False,
        "steps": [1, 2, 2, 3],
        "timestamps": [10, 20, 21, 30],
        "values": [0.9, 0.6, 0.5, 0.3],
    }


def test_unknown_key_is_an_empty_series_and_bad_max_points_is_400(api_a, run_a):
    body = history(api_a, run_a["id"], "never-logged")
    assert body["total_points"] == 0 and body["steps"] == [] and body["values"] == []
    for bad in ["3", "0", "-5", "abc", "100001", "99999999999999999999999"]:
        response = api_a.get(f"/api/v1/runs/{run_a['id']}/metrics/loss/history?max_points={bad}")
        assert response.status_code == 400 and response.json()["errors"][0]["field"] == "max_points"
    assert api_a.get(f"/api/v1/runs/{run_a['id']}/metrics/a//b/history").status_code == 404


def test_downsampled_history_keeps_first_last_and_extremes(api_a, run_a):
    values = [math.sin(i / 50) + i / 1000 for i in range(5000)]
    values[1234] = 40.0  # a spike
    values[3210] = -40.0  # a dip
    log(api_a, run_a["id"], points("loss", values))
    full = history(api_a, run_a["id"], "loss")
    assert full["returned_points"] == 5000 and full["values"] == values
    small = history(api_a, run_a["id"], "loss", "?max_points=200")
    assert small["downsampled"] is True and small["total_points"] == 5000
    assert small["returned_points"] == len(small["steps"]) == len(small["values"]) <= 200
    assert small["steps"][0] == 0 and small["steps"][-1] == 4999
    assert small["steps"] == sorted(small["steps"])
    assert 1234 in small["steps"] and 3210 in small["steps"]
    assert max(small["values"]) == 40.0 and min(small["values"]) == -40.0
    # Every returned point is a real point of the series.
    assert all(values[step] == value for step, value in zip(small["steps"], small["values"], strict=True))
    assert history(api_a, run_a["id"], "loss", "?max_points=5000")["downsampled"] is False


def test_downsampling_with_non_finite_values(api_a, run_a):
    values = [1.0] * 1000
    values[10] = math.inf
    values[500:600] = [math.nan] * 100
    log(api_a, run_a["id"], points("loss", values))
    body = history(api_a, run_a["id"], "loss", "?max_points=50")
    assert "Infinity" in body["values"] and "NaN" in body["values"]
    assert body["returned_points"] <= 50


def test_multi_run_history_for_comparison_charts(api_a, project_a, run_a):
    other = api_a.post("/api/v1/runs", {"project": project_a.pk, "name": "other"}, format="json").json()
    log(api_a, run_a["id"], points("acc", [0.1, 0.2, 0.3]))
    log(api_a, other["id"], points("acc", [float(i) for i in range(2000)]))
    response = api_a.get(f"/api/v1/metrics/history?runs={other['id']},{run_a['id']}&key=acc&max_points=100")
    assert response.status_code == 200
    body = response.json()
    assert body["key"] == "acc"
    assert [s["run_id"] for s in body["series"]] == [other["id"], run_a["id"]]
    assert body["series"][0]["total_points"] == 2000 and body["series"][0]["returned_points"] <= 100
    assert body["series"][0]["values"][0] == 0.0 and body["series"][0]["values"][-1] == 1999.0
    assert body["series"][1]["values"] == [0.1, 0.2, 0.3]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("key=acc", "runs"),
        ("runs=1,x&key=acc", "runs"),
        ("runs=99999999999999999999999&key=acc", "runs"),
        ("runs=" + ",".join(str(i) for i in range(1, 52)) + "&key=acc", "runs"),
        ("runs=1", "key"),
        ("runs=1&key=a;b", "key"),
        ("runs=1&key=acc&max_points=2", "max_points"),
        # "³" is a digit to str.isdigit() but not to int(): found by schemathesis as a 500
        ("runs=%C2%B3&key=acc", "runs"),
        ("runs=1&key=acc&max_points=%C2%B3", "max_points"),
    ],
)
def test_multi_run_history_validation(api_a, run_a, query, field):
    response = api_a.get(f"/api/v1/metrics/history?{query}")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field


def test_history_of_tenant_a_is_invisible_to_tenant_b(api_a, api_b, run_a, project_b):
    log(api_a, run_a["id"], points("loss", [1.0, 2.0]))
    assert api_b.get(f"/api/v1/runs/{run_a['id']}/metrics/loss/history").status_code == 404
    response = api_b.get(f"/api/v1/metrics/history?runs={run_a['id']}&key=loss")
    assert response.status_code == 404
    assert str(run_a["id"]) in response.json()["detail"]
    # B's own run with the same id space sees only its own (empty) data.
    own = api_b.post("/api/v1/runs", {"project": project_b.pk}, format="json").json()
    body = api_b.get(f"/api/v1/metrics/history?runs={own['id']}&key=loss").json()
    assert body["series"][0]["total_points"] == 0


def test_keys_with_slashes_spaces_and_dots_work_in_the_path(api_a, run_a):
    key = "eval/top 5.acc"
    log(api_a, run_a["id"], points(key, [0.5, 0.6]))
    body = history(api_a, run_a["id"], "eval/top%205.acc")
    assert body["key"] == key and body["values"] == [0.5, 0.6]
    many = api_a.get(f"/api/v1/metrics/history?runs={run_a['id']}&key=eval/top%205.acc").json()
    assert many["series"][0]["values"] == [0.5, 0.6]
