from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from django.utils import timezone
from rest_framework import serializers

from apps.integrations.choices import Provider
from apps.integrations.models import Integration, WebhookDelivery

MAX_PERIOD_DAYS = 731
DEFAULT_PERIOD_DAYS = 90


class IntegrationSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    webhook_url = serializers.SerializerMethodField()

    class Meta:
        model = Integration
        fields = [
            "id",
            "project",
            "provider",
            "name",
            "webhook_id",
            "webhook_url",
            "is_active",
            "created_by",
            "created_at",
            "last_delivery_at",
            "secret_rotated_at",
        ]
        read_only_fields = fields

    def get_webhook_url(self, obj) -> str:
        return self.context["webhook_url"](obj)


class IntegrationCreateSerializer(serializers.Serializer):
    provider = serializers.ChoiceField(choices=Provider.choices)
    name = serializers.CharField(max_length=100)


class IntegrationUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    is_active = serializers.BooleanField(required=False)


class IntegrationWithSecretSerializer(IntegrationSerializer):
    secret = serializers.CharField(
        read_only=True,
        help_text="The webhook secret (GitHub) or secret token (GitLab). Shown only in this response.",
    )

    class Meta(IntegrationSerializer.Meta):
        fields = [*IntegrationSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class WebhookDeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "delivery_id",
            "event",
            "action",
            "status",
            "detail",
            "body_size",
            "body_sha256",
            "received_at",
            "processed_at",
        ]
        read_only_fields = fields


class ReprocessQueuedSerializer(serializers.Serializer):
    status = serializers.CharField()
    integration = serializers.IntegerField()


class WebhookAnswerSerializer(serializers.Serializer):
    status = serializers.CharField(help_text="'processed', 'ignored' or 'duplicate'.")
    delivery = serializers.CharField()
    reason = serializers.CharField(required=False)
    commits = serializers.IntegerField(required=False)
    pull_requests = serializers.IntegerField(required=False)
    reviews = serializers.IntegerField(required=False)
    ci_runs = serializers.IntegerField(required=False)


# ---------------------------------------------------------------------------------------------- delivery metrics
METRIC_STATUS_HELP = "'ok', or 'insufficient_data' (values null, see reason)."


class MetricSerializer(serializers.Serializer):
    status = serializers.CharField(help_text=METRIC_STATUS_HELP)
    value = serializers.FloatField(required=False, allow_null=True)
    p50 = serializers.FloatField(required=False, allow_null=True)
    p90 = serializers.FloatField(required=False, allow_null=True)
    unit = serializers.CharField()
    n = serializers.IntegerField(help_text="Sample size the value was computed from.")
    reason = serializers.CharField(required=False, help_text="Why the metric could not be computed.")


# "from" is a Python keyword, so serializers with such a field are built with type().
CoverageSerializer = type(
    "CoverageSerializer",
    (serializers.Serializer,),
    {
        "__module__": __name__,
        "__doc__": "The part of the period the project's integrations observed.",
        "observed_since": serializers.DateTimeField(),
        "from": serializers.DateTimeField(allow_null=True),
        "to": serializers.DateTimeField(allow_null=True),
        "days": serializers.FloatField(),
    },
)


class SeriesSerializer(serializers.Serializer):
    weeks = serializers.ListField(child=serializers.DateField(), help_text="Mondays of the covered weeks.")
    commits = serializers.ListField(child=serializers.IntegerField())
    merged_pull_requests = serializers.ListField(child=serializers.IntegerField())
    ci_success = serializers.ListField(child=serializers.IntegerField())
    ci_failure = serializers.ListField(child=serializers.IntegerField())
    ci_pass_rate = serializers.ListField(child=serializers.FloatField(allow_null=True))


DeliveryMetricsSerializer = type(
    "DeliveryMetricsSerializer",
    (serializers.Serializer,),
    {
        "__module__": __name__,
        "__doc__": "Delivery metrics of a project for a period (definitions in apps.integrations.metrics).",
        "project": serializers.IntegerField(),
        "from": serializers.DateField(),
        "to": serializers.DateField(),
        "status": serializers.CharField(help_text=METRIC_STATUS_HELP),
        "reason": serializers.CharField(allow_null=True),
        "integrations": serializers.IntegerField(),
        "coverage": CoverageSerializer(allow_null=True),
        "metrics": serializers.DictField(child=MetricSerializer()),
        "series": SeriesSerializer(),
    },
)


def parse_period(query) -> tuple[date, date]:
    """``from``/``to`` (inclusive ISO dates) from query parameters; the last 90 days by default."""
    errors: dict[str, str] = {}
    values: dict[str, date | None] = {}
    for name in ("from", "to"):
        raw = (query.get(name) or "").strip()
        if not raw:
            values[name] = None
            continue
        try:
            values[name] = date.fromisoformat(raw)
        except ValueError:
            errors[name] = f"'{raw[:40]}' is not a date; use YYYY-MM-DD."
    if errors:
        raise serializers.ValidationError(errors)
    end = values["to"] or timezone.now().date()
    start = values["from"] or end - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    if start > end:
        raise serializers.ValidationError({"to": f"must not be before from ({start.isoformat()})."})
    if (end - start).days + 1 > MAX_PERIOD_DAYS:
        raise serializers.ValidationError({"to": f"the period may span at most {MAX_PERIOD_DAYS} days."})
    return start, end


def period_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00 UTC, the day after end 00:00 UTC)."""
    return datetime.combine(start, time.min, tzinfo=UTC), datetime.combine(end + timedelta(days=1), time.min, UTC)
