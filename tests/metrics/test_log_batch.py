"""POST /api/v1/runs/{id}/log-batch: all-or-nothing, idempotent retries, NaN/Infinity round trip, limits."""

import json
import math
import random
import re
import struct

import orjson
import pytest

from apps.metrics.models import LatestMetric, MetricPoint, RunParam, RunTag
from maestro.api.limits import MAX_BATCH_BODY_BYTES
from maestro.observability.metrics import metric_batches_rejected
from tests.metrics.factories import points

pytestmark = pytest.mark.django_db


def post_raw(api, run_id: int, body: str | bytes):
    return api.post(f"/api/v1/runs/{run_id}/log-batch", data=body, content_type="application/json")


def post(api, run_id: int, payload: dict):
    return post_raw(api, run_id, json.dumps(payload))


def stored(ctx, run_id: int) -> dict:
    with ctx.context():
        return {
            "points": sorted(
                MetricPoint.objects.filter(run_id=run_id).values_list("key", "step", "timestamp", "value"),
                key=lambda p: (p[0], p[1], p[2]),
            ),
            "latest": {m.key: (m.value, m.step, m.timestamp) for m in LatestMetric.objects.filter(run_id=run_id)},
            "params": dict(RunParam.objects.filter(run_id=run_id).values_list("key", "value")),
            "tags": dict(RunTag.objects.filter(run_id=run_id).values_list("key", "value")),
        }


def test_batch_writes_points_params_tags_and_latest_values(api_a, run_a, tenant_a):
    payload = {
        "metrics": [*points("loss", [0.9, 0.5, 0.7]), {"key": "acc", "value": 0.8, "timestamp": 5}],
        "params": [{"key": "lr", "value": "0.01"}],
        "tags": [{"key": "team", "value": "vision"}],
    }
    response = post(api_a, run_a["id"], payload)
    assert response.status_code == 200, response.content
    assert response.json() == {
        "metrics_received": 4,
        "metrics_written": 4,
        "params_written": 1,
        "tags_written": 1,
        "latest_updated": 2,
    }
    data = stored(tenant_a, run_a["id"])
    assert [p[:2] for p in data["points"]] == [("acc", 0), ("loss", 0), ("loss", 1), ("loss", 2)]
    assert data["latest"] == {"loss": (0.7, 2, 1_700_000_000_002), "acc": (0.8, 0, 5)}
    assert data["params"] == {"lr": "0.01"} and data["tags"] == {"team": "vision"}
    run = api_a.get(f"/api/v1/runs/{run_a['id']}").json()
    assert run["metrics"]["loss"] == {"value": 0.7, "step": 2, "timestamp": 1_700_000_000_002}


def test_retrying_the_same_batch_writes_nothing_new(api_a, run_a, tenant_a):
    payload = {
        "metrics": points("loss", [3.0, 2.0, math.nan, 1.0]),
        "params": [{"key": "epochs", "value": "10"}],
        "tags": [{"key": "stage", "value": "train"}],
    }
    assert post(api_a, run_a["id"], payload).json()["metrics_written"] == 4
    before = stored(tenant_a, run_a["id"])
    retry = post(api_a, run_a["id"], payload)
    assert retry.status_code == 200
    assert retry.json() == {
        "metrics_received": 4,
        "metrics_written": 0,
        "params_written": 0,
        "tags_written": 0,
        "latest_updated": 0,
    }
    after = stored(tenant_a, run_a["id"])
    assert len(after["points"]) == 4  # the NaN point deduplicates too
    assert after["latest"] == before["latest"] and after["params"] == before["params"]


def test_latest_value_is_the_highest_step_even_when_logged_out_of_order(api_a, run_a, tenant_a):
    post(api_a, run_a["id"], {"metrics": [{"key": "loss", "value": 0.1, "step": 100, "timestamp": 1}]})
    response = post(api_a, run_a["id"], {"metrics": [{"key": "loss", "value": 0.9, "step": 5, "timestamp": 99}]})
    assert response.json()["latest_updated"] == 0
    assert stored(tenant_a, run_a["id"])["latest"]["loss"] == (0.1, 100, 1)
    post(api_a, run_a["id"], {"metrics": [{"key": "loss", "value": 0.05, "step": 100, "timestamp": 2}]})
    assert stored(tenant_a, run_a["id"])["latest"]["loss"] == (0.05, 100, 2)


def test_batch_with_one_bad_point_writes_nothing(api_a, run_a, tenant_a):
    payload = {
        "metrics": [*points("loss", [1.0] * 10), {"key": "loss", "value": "oops", "step": 11, "timestamp": 1}],
        "params": [{"key": "lr", "value": "0.1"}],
        "tags": [{"key": "t", "value": "x"}],
    }
    response = post(api_a, run_a["id"], payload)
    assert response.status_code == 400
    body = response.json()
    assert body["errors"] == [
        {
            "field": "metrics[10].value",
            "code": "invalid",
            "message": 'A number is required (or one of the strings "NaN", "Infinity", "-Infinity").',
        }
    ]
    assert body["detail"].startswith("metrics[10].value:")
    assert stored(tenant_a, run_a["id"]) == {"points": [], "latest": {}, "params": {}, "tags": {}}


def test_param_conflict_with_stored_value_rolls_back_metrics_and_tags(api_a, run_a, tenant_a):
    assert post(api_a, run_a["id"], {"params": [{"key": "lr", "value": "0.1"}]}).status_code == 200
    payload = {
        "metrics": points("loss", [1.0, 2.0]),
        "params": [{"key": "batch", "value": "32"}, {"key": "lr", "value": "0.2"}],
        "tags": [{"key": "t", "value": "x"}],
    }
    response = post(api_a, run_a["id"], payload)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "params[1].value"
    assert "'lr'" in response.json()["errors"][0]["message"]
    assert stored(tenant_a, run_a["id"]) == {"points": [], "latest": {}, "params": {"lr": "0.1"}, "tags": {}}


def test_same_param_value_again_is_a_no_op(api_a, run_a, tenant_a):
    post(api_a, run_a["id"], {"params": [{"key": "lr", "value": "0.1"}]})
    response = post(api_a, run_a["id"], {"params": [{"key": "lr", "value": "0.1"}, {"key": "wd", "value": "0"}]})
    assert response.status_code == 200 and response.json()["params_written"] == 1
    assert stored(tenant_a, run_a["id"])["params"] == {"lr": "0.1", "wd": "0"}


def test_tags_in_a_batch_last_write_wins(api_a, run_a, tenant_a):
    post(api_a, run_a["id"], {"tags": [{"key": "stage", "value": "a"}]})
    response = post(api_a, run_a["id"], {"tags": [{"key": "stage", "value": "b"}, {"key": "stage", "value": "c"}]})
    assert response.json()["tags_written"] == 1
    assert stored(tenant_a, run_a["id"])["tags"] == {"stage": "c"}


def test_nan_and_infinities_round_trip_in_every_accepted_spelling(api_a, run_a, tenant_a):
    body = (
        '{"metrics": ['
        '{"key": "v", "value": NaN, "step": 0, "timestamp": 1},'
        '{"key": "v", "value": Infinity, "step": 1, "timestamp": 1},'
        '{"key": "v", "value": -Infinity, "step": 2, "timestamp": 1},'
        '{"key": "v", "value": "NaN", "step": 3, "timestamp": 1},'
        '{"key": "v", "value": "Infinity", "step": 4, "timestamp": 1},'
        '{"key": "v", "value": "-Infinity", "step": 5, "timestamp": 1},'
        '{"key": "v", "value": 0.1, "step": 6, "timestamp": 1},'
        '{"key": "v", "value": 5e-324, "step": 7, "timestamp": 1},'
        '{"key": "v", "value": 1.7976931348623157e308, "step": 8, "timestamp": 1}'
        "]}"
    )
    assert post_raw(api_a, run_a["id"], body).json()["metrics_written"] == 9
    with tenant_a.context():
        values = list(MetricPoint.objects.filter(run_id=run_a["id"]).order_by("step").values_list("value", flat=True))
    assert math.isnan(values[0]) and values[1:3] == [math.inf, -math.inf] and math.isnan(values[3])
    assert values[4:] == [math.inf, -math.inf, 0.1, 5e-324, 1.7976931348623157e308]

    history = api_a.get(f"/api/v1/runs/{run_a['id']}/metrics/v/history")
    parsed = json.loads(history.content, parse_constant=lambda c: pytest.fail(f"bare {c} in JSON"))
    assert parsed["values"] == [
        "NaN", "Infinity", "-Infinity", "NaN", "Infinity", "-Infinity", 0.1, 5e-324, 1.7976931348623157e308,
    ]  # fmt: skip
    run = json.loads(api_a.get(f"/api/v1/runs/{run_a['id']}").content, parse_constant=lambda c: pytest.fail(c))
    assert run["metrics"]["v"]["value"] == 1.7976931348623157e308


def test_numbers_beyond_float64_and_int64_are_400_naming_the_item(api_a, run_a, tenant_a):
    body = (
        '{"metrics": [{"key": "a", "value": 1, "timestamp": 1}, {"key": "a", "value": 1e400, "timestamp": 2},'
        ' {"key": "a", "value": 1, "step": 99999999999999999999, "timestamp": 3},'
        ' {"key": "a", "value": ' + "9" * 400 + ', "timestamp": 4}]}'
    )
    response = post_raw(api_a, run_a["id"], body)
    assert response.status_code == 400
    fields = [error["field"] for error in response.json()["errors"]]
    assert fields == ["metrics[1].value", "metrics[2].step", "metrics[3].value"]
    assert stored(tenant_a, run_a["id"])["points"] == []


def test_body_over_one_megabyte_is_413(api_a, run_a, tenant_a):
    """The API's one PayloadTooLarge (maestro.api.limits): code too_large naming the batch limit, counted as a
    too_large rejection (the metrics app's own class used to be counted as "other")."""
    rejected = metric_batches_rejected.labels(reason="too_large")
    before = rejected._value.get()
    filler = "x" * 5500
    payload = {"tags": [{"key": f"t{i}", "value": filler} for i in range(100)]}
    payload["params"] = [{"key": f"p{i}", "value": filler} for i in range(100)]
    body = json.dumps(payload)
    assert len(body) > MAX_BATCH_BODY_BYTES
    response = post_raw(api_a, run_a["id"], body)
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    assert str(MAX_BATCH_BODY_BYTES) in response.json()["detail"]
    assert rejected._value.get() == before + 1
    assert stored(tenant_a, run_a["id"])["tags"] == {}


def test_malformed_json_and_empty_batch(api_a, run_a):
    response = post_raw(api_a, run_a["id"], '{"metrics": [')
    assert response.status_code == 400 and "JSON parse error" in response.json()["detail"]
    assert post_raw(api_a, run_a["id"], b"\xff\xfe").status_code == 400
    assert post_raw(api_a, run_a["id"], "[" * 100_000 + "]" * 100_000).status_code == 400
    empty = post(api_a, run_a["id"], {})
    assert empty.status_code == 200 and empty.json()["metrics_written"] == 0


def test_thousand_points_in_one_batch(api_a, run_a, tenant_a):
    payload = {"metrics": [{"key": f"m{i % 10}", "value": i / 7, "step": i // 10, "timestamp": i} for i in range(1000)]}
    response = post(api_a, run_a["id"], payload)
    assert response.json()["metrics_written"] == 1000 and response.json()["latest_updated"] == 10
    data = stored(tenant_a, run_a["id"])
    assert len(data["points"]) == 1000
    assert data["latest"]["m3"] == (993 / 7, 99, 993)


def test_every_double_and_int64_is_stored_exactly(api_a, run_a, tenant_a):
    """The batch's numbers travel to PostgreSQL as text (orjson's shortest round-trip form): any finite double —
    subnormal, negative zero, the extremes — and any int64 step or timestamp is stored bit for bit."""
    rng = random.Random(24)
    values = [struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0] for _ in range(1200)]
    values = [v for v in values if math.isfinite(v)][:990]
    values += [0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 1e16, 1e-7, 0.1, 1 / 3]
    int64 = [-(2**63), 2**63 - 1, -1, 0]
    metrics = [
        {"key": "x", "value": v, "step": i if i >= 4 else int64[i], "timestamp": int64[-1 - i] if i < 4 else i}
        for i, v in enumerate(values)
    ]
    response = post_raw(api_a, run_a["id"], orjson.dumps({"metrics": metrics}))
    assert response.status_code == 200 and response.json()["metrics_written"] == 1000, response.content
    with tenant_a.context():
        rows = MetricPoint.objects.filter(run_id=run_a["id"]).values_list("step", "timestamp", "value")
    got = {(step, timestamp): struct.pack("<d", value) for step, timestamp, value in rows}
    sent = {(m["step"], m["timestamp"]): struct.pack("<d", m["value"]) for m in metrics}
    assert got == sent


def test_batch_for_another_tenants_run_is_404_and_writes_nothing(api_a, api_b, run_a, tenant_a):
    response = post(api_b, run_a["id"], {"metrics": points("loss", [1.0])})
    assert response.status_code == 404
    assert stored(tenant_a, run_a["id"])["points"] == []


@pytest.mark.parametrize("step", ["99999999999999999999999", "18446744073709551615", "-9223372036854775809"])
def test_step_beyond_int64_in_plain_json_is_400(api_a, run_a, tenant_a, step):
    body = '{"metrics": [{"key": "a", "value": 1, "step": STEP, "timestamp": 1}]}'.replace("STEP", step)
    response = post_raw(api_a, run_a["id"], body)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "metrics[0].step"
    assert stored(tenant_a, run_a["id"])["points"] == []


def _metrics_statements(trace_file) -> list[str]:
    """The metric-writing statements the client sent, from libpq's own trace: one entry per protocol message, each
    starting with its time and direction (a statement's text keeps its line breaks)."""
    messages = re.split(r"\n(?=\d{4}-\d\d-\d\d [\d:.]+\t[FB]\t)", trace_file.read_text())
    return [m for m in messages if "\tF\t" in m.split("\n", 1)[0] and "INSERT INTO metrics_metricpoint" in m]


def test_new_points_take_the_plain_insert_and_a_retry_writes_again_skipping_stored_points(
    api_a, run_a, tenant_a, tmp_path
):
    """New points are inserted without ``ON CONFLICT`` (cheaper for PostgreSQL); a batch with a stored point fails
    that insert on the primary key, rolls it back and is written again with ``ON CONFLICT DO NOTHING``."""
    from django.db import connection

    def traced_post(name: str, payload: dict):
        trace = tmp_path / f"{name}.trace"
        connection.ensure_connection()
        with trace.open("w") as out:
            connection.connection.pgconn.trace(out.fileno())
            try:
                response = post(api_a, run_a["id"], payload)
            finally:
                connection.connection.pgconn.untrace()
        assert response.status_code == 200, response.content
        return response.json(), _metrics_statements(trace), trace.read_text()

    first, sent, _ = traced_post("first", {"metrics": points("loss", [3.0, 2.0])})
    assert first["metrics_written"] == 2
    assert len(sent) == 1 and "ON CONFLICT DO NOTHING" not in sent[0]

    overlapping = {"metrics": points("loss", [3.0, 2.0, 1.0, 0.5])}  # steps 0-1 stored, 2-3 new
    retry, sent, trace = traced_post("retry", overlapping)
    assert retry["metrics_written"] == 2 and retry["metrics_received"] == 4
    assert len(sent) == 2
    assert "ON CONFLICT DO NOTHING" not in sent[0] and "ON CONFLICT DO NOTHING" in sent[1]
    assert "metrics_metricpoint_pkey" in trace  # the plain insert's error, before the rollback
    data = stored(tenant_a, run_a["id"])
    assert [p[1:] for p in data["points"]] == [
        (0, 1_700_000_000_000, 3.0),
        (1, 1_700_000_000_001, 2.0),
        (2, 1_700_000_000_002, 1.0),
        (3, 1_700_000_000_003, 0.5),
    ]
    assert data["latest"] == {"loss": (0.5, 3, 1_700_000_000_003)}


def test_a_point_repeated_within_one_batch_is_stored_once(api_a, run_a, tenant_a):
    point = {"key": "acc", "value": 0.5, "step": 7, "timestamp": 70}
    response = post(api_a, run_a["id"], {"metrics": [point, {**point, "value": 0.25}, point]})
    assert response.status_code == 200, response.content
    assert response.json()["metrics_written"] == 2  # (step 7, 0.5) twice, (step 7, 0.25) once
    data = stored(tenant_a, run_a["id"])
    assert [p[1:] for p in data["points"]] in ([(7, 70, 0.25), (7, 70, 0.5)], [(7, 70, 0.5), (7, 70, 0.25)])
    assert data["latest"] == {"acc": (0.5, 7, 70)}
