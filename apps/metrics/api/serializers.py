"""Serializers for runs. Run output reads the plain dicts that ``selectors.run_data_attach`` put on ``run.data``.

float64 values are JSON numbers when finite and the strings "NaN", "Infinity", "-Infinity" otherwise (JSON has no
literal for them), everywhere in the API.
"""

from datetime import UTC, datetime

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.metrics.choices import RunStatus
from apps.metrics.models import KEY_MAX_LENGTH
from apps.metrics.search.compiler import MAX_RESULTS_LIMIT
from apps.metrics.validation import (
    INT64_MAX,
    MAX_METRICS_PER_BATCH,
    MAX_PARAMS_PER_BATCH,
    MAX_TAGS_PER_BATCH,
    float64_or_problem,
    float64_to_json,
)

FLOAT64_SCHEMA = {
    "oneOf": [{"type": "number", "format": "double"}, {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}],
    "description": 'float64: a number, or "NaN", "Infinity", "-Infinity" for the non-finite values.',
}


def _iso(value: datetime | None) -> str | None:
    """Like DRF's DateTimeField output with USE_TZ: ISO 8601 in UTC with a Z suffix."""
    if value is None:
        return None
    text = value.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


@extend_schema_field(FLOAT64_SCHEMA)
class Float64Field(serializers.Field):
    def to_representation(self, value):
        return float64_to_json(value)

    def to_internal_value(self, data):
        # the same rule as the hand-written log-batch parser: a number, or "NaN" / "Infinity" / "-Infinity"
        value, problem = float64_or_problem(data)
        if problem:
            raise serializers.ValidationError(problem)
        return value


class LatestMetricSerializer(serializers.Serializer):
    value = Float64Field()
    step = serializers.IntegerField()
    timestamp = serializers.IntegerField(help_text="Milliseconds since the epoch.")


class RunSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    uuid = serializers.SerializerMethodField(help_text="MLflow-style run id (32 hex characters).")
    project = serializers.IntegerField(source="project_id", read_only=True)
    name = serializers.CharField(read_only=True)
    status = serializers.ChoiceField(choices=RunStatus.choices, read_only=True)
    start_time = serializers.DateTimeField(read_only=True)
    end_time = serializers.DateTimeField(read_only=True, allow_null=True)
    created_by = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField(read_only=True)
    params = serializers.SerializerMethodField(help_text="key → value (immutable once logged).")
    tags = serializers.SerializerMethodField(help_text="key → value (last write wins).")
    metrics = serializers.SerializerMethodField(help_text="key → latest point (highest step, then timestamp).")

    def to_representation(self, run):
        """The declared fields, built directly: DRF's per-field machinery costs ~0.1 ms per run, which dominated a
        search page of 100 runs. ``test_run_representation_matches_declared_fields`` keeps the two in step."""
        return {
            "id": run.pk,
            "uuid": run.uuid.hex,
            "project": run.project_id,
            "name": run.name,
            "status": run.status,
            "start_time": _iso(run.start_time),
            "end_time": _iso(run.end_time),
            "created_by": self.get_created_by(run),
            "created_at": _iso(run.created_at),
            "params": run.data.params,
            "tags": run.data.tags,
            "metrics": self.get_metrics(run),
        }

    def get_uuid(self, run) -> str:
        return run.uuid.hex

    def get_created_by(self, run) -> str | None:
        return run.data.created_by

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "string"}})
    def get_params(self, run):
        return run.data.params

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "string"}})
    def get_tags(self, run):
        return run.data.tags

    @extend_schema_field(
        {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "properties": {
                    "value": FLOAT64_SCHEMA,
                    "step": {"type": "integer", "format": "int64"},
                    "timestamp": {"type": "integer", "format": "int64"},
                },
            },
        }
    )
    def get_metrics(self, run):
        return {
            key: {"value": float64_to_json(value), "step": step, "timestamp": timestamp}
            for key, (value, step, timestamp) in run.data.metrics.items()
        }


class RunCreateSerializer(serializers.Serializer):
    project = serializers.IntegerField(min_value=1, max_value=INT64_MAX)
    name = serializers.CharField(max_length=250, allow_blank=True, required=False, default="")
    status = serializers.ChoiceField(choices=RunStatus.choices, default=RunStatus.RUNNING)
    start_time = serializers.DateTimeField(required=False, allow_null=True, help_text="Default: now.")
    end_time = serializers.DateTimeField(required=False, allow_null=True)
    params = serializers.DictField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False), required=False, default=dict
    )
    tags = serializers.DictField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False), required=False, default=dict
    )


class RunUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=250, allow_blank=True, required=False)
    status = serializers.ChoiceField(choices=RunStatus.choices, required=False)
    end_time = serializers.DateTimeField(required=False, allow_null=True)


class KeyValueSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=KEY_MAX_LENGTH, trim_whitespace=False)
    value = serializers.CharField(allow_blank=True, trim_whitespace=False)


class KeyValueResultSerializer(KeyValueSerializer):
    created = serializers.BooleanField(help_text="False when the key already existed.")


class _BatchMetricSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=KEY_MAX_LENGTH)
    value = Float64Field()
    step = serializers.IntegerField(required=False, default=0, help_text="int64, default 0.")
    timestamp = serializers.IntegerField(help_text="Milliseconds since the epoch (int64); required.")


class LogBatchRequestSerializer(serializers.Serializer):
    """Documentation of the log-batch body. (The body is validated by ``apps.metrics.validation``, not by DRF.)"""

    metrics = _BatchMetricSerializer(many=True, required=False, help_text=f"At most {MAX_METRICS_PER_BATCH}.")
    params = KeyValueSerializer(many=True, required=False, help_text=f"At most {MAX_PARAMS_PER_BATCH}.")
    tags = KeyValueSerializer(many=True, required=False, help_text=f"At most {MAX_TAGS_PER_BATCH}.")


class LogBatchResultSerializer(serializers.Serializer):
    metrics_received = serializers.IntegerField()
    metrics_written = serializers.IntegerField(help_text="New points; 0 when the batch is a retry.")
    params_written = serializers.IntegerField()
    tags_written = serializers.IntegerField()
    latest_updated = serializers.IntegerField(help_text="Keys whose latest value changed.")


class MetricSeriesSerializer(serializers.Serializer):
    """One series in columns: point i is (steps[i], timestamps[i], values[i]), in step order."""

    run_id = serializers.IntegerField()
    key = serializers.CharField()
    total_points = serializers.IntegerField(help_text="Points stored for this run and key.")
    returned_points = serializers.IntegerField()
    downsampled = serializers.BooleanField()
    steps = serializers.ListField(child=serializers.IntegerField())
    timestamps = serializers.ListField(child=serializers.IntegerField())
    values = serializers.ListField(child=Float64Field())


class MetricHistoryManySerializer(serializers.Serializer):
    key = serializers.CharField()
    series = MetricSeriesSerializer(many=True)


class RunSearchRequestSerializer(serializers.Serializer):
    filter = serializers.CharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        trim_whitespace=False,
        help_text="e.g. metrics.accuracy > 0.9 AND (params.optimizer = 'adam' OR tags.`team name` LIKE 'vision%')",
    )
    order_by = serializers.ListField(
        child=serializers.CharField(trim_whitespace=False),
        required=False,
        default=list,
        help_text='e.g. ["metrics.accuracy DESC", "start_time ASC"]',
    )
    max_results = serializers.IntegerField(min_value=1, max_value=MAX_RESULTS_LIMIT, default=100)
    page_token = serializers.CharField(required=False, allow_blank=True, allow_null=True)


class RunSearchResultSerializer(serializers.Serializer):
    runs = RunSerializer(many=True)
    next_page_token = serializers.CharField(allow_null=True)
