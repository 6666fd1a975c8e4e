"""The log-batch validator on its own: every problem named by item path, limits, number ranges."""

import json
import math

import pytest
from django.core.exceptions import ValidationError

from apps.metrics.services import latest_points
from apps.metrics.validation import (
    MAX_REPORTED_ERRORS,
    float64_to_json,
    key_problem,
    parse_json_float,
    parse_log_batch,
)


def errors_of(data) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        parse_log_batch(data)
    return caught.value.message_dict


def test_valid_batch_becomes_columns_with_step_default_and_deduplicated_tags():
    batch = parse_log_batch(
        {
            "metrics": [
                {"key": "loss", "value": 0.5, "timestamp": 10},
                {"key": "loss", "value": 3, "step": 7, "timestamp": 11},
                {"key": "acc", "value": "NaN", "step": 1, "timestamp": 12},
            ],
            "params": [{"key": "lr", "value": "0.1"}, {"key": "lr", "value": "0.1"}],
            "tags": [{"key": "team", "value": "a"}, {"key": "team", "value": "b"}],
        }
    )
    assert batch.metric_keys == ["loss", "loss", "acc"]
    assert batch.metric_values[:2] == [0.5, 3.0] and math.isnan(batch.metric_values[2])
    assert batch.metric_steps == [0, 7, 1]
    assert batch.metric_timestamps == [10, 11, 12]
    assert batch.params == {"lr": (0, "0.1")}
    assert batch.tags == {"team": "b"}


@pytest.mark.parametrize(
    ("item", "field", "fragment"),
    [
        ({"key": "a", "value": "high", "timestamp": 1}, "value", "number is required"),
        ({"key": "a", "value": True, "timestamp": 1}, "value", "number is required"),
        ({"key": "a", "value": None, "timestamp": 1}, "value", "number is required"),
        ({"key": "a", "value": 10**400, "timestamp": 1}, "value", "float64 range"),
        ({"key": "a", "value": 1.0, "step": 2**63, "timestamp": 1}, "step", "int64 range"),
        ({"key": "a", "value": 1.0, "step": -(2**63) - 1, "timestamp": 1}, "step", "int64 range"),
        ({"key": "a", "value": 1.0, "step": 1.5, "timestamp": 1}, "step", "integer is required"),
        ({"key": "a", "value": 1.0, "timestamp": 2**64}, "timestamp", "int64 range"),
        ({"key": "a", "value": 1.0}, "timestamp", "Required"),
        ({"key": "a", "value": 1.0, "timestamp": "now"}, "timestamp", "integer is required"),
        ({"key": "", "value": 1.0, "timestamp": 1}, "key", "empty"),
        ({"key": "a" * 251, "value": 1.0, "timestamp": 1}, "key", "at most 250"),
        ({"key": "loss;drop", "value": 1.0, "timestamp": 1}, "key", "May contain only"),
        ({"key": "/abs", "value": 1.0, "timestamp": 1}, "key", "relative path"),
        ({"key": "a//b", "value": 1.0, "timestamp": 1}, "key", "relative path"),
        ({"key": "a/../b", "value": 1.0, "timestamp": 1}, "key", "relative path"),
        ({"key": ["a"], "value": 1.0, "timestamp": 1}, "key", "string"),
        ({"key": "a", "value": 1.0, "timestamp": 1, "extra": 1}, "extra", "Unknown field"),
    ],
)
def test_bad_metric_is_named_by_index_and_field(item, field, fragment):
    good = {"key": "ok", "value": 1.0, "timestamp": 1}
    errors = errors_of({"metrics": [good, good, good, item]})
    assert list(errors) == [f"metrics[3].{field}"]
    assert fragment in errors[f"metrics[3].{field}"][0]


def test_every_bad_item_is_reported_not_only_the_first():
    errors = errors_of(
        {
            "metrics": [{"key": "a", "value": "x", "timestamp": 1}, {"key": "b", "value": 1.0}],
            "params": [{"key": "p", "value": 5}],
            "tags": [{"key": "t t?", "value": "v"}, "not an object"],
        }
    )
    assert set(errors) == {"metrics[0].value", "metrics[1].timestamp", "params[0].value", "tags[0].key", "tags[1]"}


def test_limits_follow_mlflow():
    point = {"key": "a", "value": 1.0, "timestamp": 1}
    assert "At most 1000" in errors_of({"metrics": [point] * 1001})["metrics"][0]
    assert "At most 100" in errors_of({"params": [{"key": f"p{i}", "value": "v"} for i in range(101)]})["params"][0]
    assert "At most 100" in errors_of({"tags": [{"key": f"t{i}", "value": "v"} for i in range(101)]})["tags"][0]
    assert "6000" in errors_of({"params": [{"key": "p", "value": "x" * 6001}]})["params[0].value"][0]
    assert "8000" in errors_of({"tags": [{"key": "t", "value": "x" * 8001}]})["tags[0].value"][0]
    assert parse_log_batch({"params": [{"key": "p", "value": "x" * 6000}]}).params["p"][1] == "x" * 6000
    assert len(parse_log_batch({"metrics": [point] * 1000}).metric_keys) == 1000


def test_same_param_twice_in_one_batch_with_different_values_is_refused():
    errors = errors_of({"params": [{"key": "lr", "value": "0.1"}, {"key": "lr", "value": "0.2"}]})
    assert "params[1].value" in errors and "params[0]" in errors["params[1].value"][0]


def test_shape_errors():
    assert "JSON object" in errors_of([1, 2])["__all__"][0]
    assert errors_of({"metrics": {"key": "a"}})["metrics"] == ["Must be a list."]
    assert "Unknown field" in errors_of({"metric": []})["metric"][0]


def test_error_list_is_capped():
    errors = errors_of({"metrics": [{"key": "a", "value": "x", "timestamp": 1}] * 1000})
    assert len(errors) == MAX_REPORTED_ERRORS + 1
    assert "1000 problems in total" in errors["__all__"][0]


def test_non_finite_spellings_and_json_literals():
    data = json.loads(
        '{"metrics": [{"key": "a", "value": NaN, "timestamp": 1}, {"key": "a", "value": -Infinity, "timestamp": 2},'
        ' {"key": "a", "value": "Infinity", "timestamp": 3}, {"key": "a", "value": "-inf", "timestamp": 4}]}',
        parse_float=parse_json_float,
    )
    values = parse_log_batch(data).metric_values
    assert math.isnan(values[0]) and values[1:] == [-math.inf, math.inf, -math.inf]
    assert [float64_to_json(v) for v in values] == ["NaN", "-Infinity", "Infinity", "-Infinity"]


def test_float_literal_beyond_float64_is_an_error_not_infinity():
    data = json.loads('{"metrics": [{"key": "a", "value": 1e400, "timestamp": 1}]}', parse_float=parse_json_float)
    assert "float64 range (1e400)" in errors_of(data)["metrics[0].value"][0]


def test_key_rules():
    for key in ["loss", "train/loss", "val.acc-top 5", "Ünïcode_ok", "a" * 250]:
        assert key_problem(key) is None, key
    for key in ["a,b", "a\nb", "a/", ".", "x/./y", 5, None]:
        assert key_problem(key) is not None, key


def test_latest_point_per_key_uses_postgres_float_order():
    batch = parse_log_batch(
        {
            "metrics": [
                {"key": "b", "value": 1.0, "step": 3, "timestamp": 5},
                {"key": "b", "value": 9.0, "step": 2, "timestamp": 9},
                {"key": "a", "value": 1.0, "step": 1, "timestamp": 1},
                {"key": "a", "value": "NaN", "step": 1, "timestamp": 1},
                {"key": "a", "value": 2.0, "step": 1, "timestamp": 1},
            ]
        }
    )
    latest = latest_points(batch)
    assert [point[0] for point in latest] == ["a", "b"]
    assert math.isnan(latest[0][1])  # NaN sorts above every number on a (step, timestamp) tie, as in PostgreSQL
    assert latest[1] == ("b", 1.0, 3, 5)


@pytest.mark.parametrize(
    ("data", "expected"),
    [(0.5, 0.5), (3, 3.0), ("NaN", math.nan), ("Infinity", math.inf), ("-infinity", -math.inf)],
)
def test_float64_field_reads_input_like_the_log_batch_parser(data, expected):
    from apps.metrics.api.serializers import Float64Field

    value = Float64Field().run_validation(data)
    assert (math.isnan(value) and math.isnan(expected)) or value == expected


@pytest.mark.parametrize("data", ["abc", True, [1.0], {"v": 1}, 10**400])
def test_float64_field_refuses_what_the_log_batch_parser_refuses(data):
    from rest_framework.exceptions import ValidationError

    from apps.metrics.api.serializers import Float64Field

    with pytest.raises(ValidationError):
        Float64Field().run_validation(data)


def test_batch_metric_serializer_validates_a_metric_item():
    from apps.metrics.api.serializers import _BatchMetricSerializer

    ok = _BatchMetricSerializer(data={"key": "loss", "value": "NaN", "timestamp": 5})
    assert ok.is_valid(), ok.errors
    assert math.isnan(ok.validated_data["value"]) and ok.validated_data["step"] == 0
    bad = _BatchMetricSerializer(data={"key": "loss", "value": "high", "timestamp": 5})
    assert not bad.is_valid() and "value" in bad.errors
