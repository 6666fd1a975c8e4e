from __future__ import annotations

from rest_framework import serializers

from apps.webhooks import payloads
from apps.webhooks.choices import PayloadFormat
from apps.webhooks.models import Delivery, Event, Subscription
from apps.webhooks.services import MAX_OVERLAP_SECONDS
from maestro.events import EVENT_TYPES

EVENT_TYPE_CHOICES = [(name, name) for name in EVENT_TYPES]


class SubscriptionSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Subscription
        fields = [
            "id",
            "uuid",
            "name",
            "url",
            "event_types",
            "payload_format",
            "is_active",
            "created_by",
            "created_at",
            "updated_at",
            "secret_rotated_at",
            "previous_secret_expires_at",
        ]
        read_only_fields = fields


class SubscriptionWithSecretSerializer(SubscriptionSerializer):
    secret = serializers.CharField(
        read_only=True, help_text="The signing secret (mwhsec_…). Shown only in this response: store it now."
    )

    class Meta(SubscriptionSerializer.Meta):
        fields = [*SubscriptionSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class SubscriptionWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    url = serializers.CharField(
        max_length=2000, help_text="http(s) URL of the receiver; it must resolve to public addresses only."
    )
    event_types = serializers.ListField(child=serializers.ChoiceField(choices=EVENT_TYPE_CHOICES), min_length=1)
    payload_format = serializers.ChoiceField(choices=PayloadFormat.choices, default=PayloadFormat.MAESTRO)
    is_active = serializers.BooleanField(default=True)


class SubscriptionUpdateSerializer(SubscriptionWriteSerializer):
    name = serializers.CharField(max_length=100, required=False)
    url = serializers.CharField(max_length=2000, required=False)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_TYPE_CHOICES), min_length=1, required=False
    )
    payload_format = serializers.ChoiceField(choices=PayloadFormat.choices, required=False)
    is_active = serializers.BooleanField(required=False)


class RotateSecretSerializer(serializers.Serializer):
    overlap_seconds = serializers.IntegerField(
        min_value=0,
        max_value=MAX_OVERLAP_SECONDS,
        required=False,
        help_text="How long the old secret keeps signing beside the new one (default WEBHOOKS_SECRET_OVERLAP_SECONDS;"
        " 0 = retire it now).",
    )


class DeliverySerializer(serializers.ModelSerializer):
    event = serializers.UUIDField(source="event.uuid", read_only=True)
    event_type = serializers.CharField(source="event.type", read_only=True)
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "uuid",
            "subscription",
            "event",
            "event_type",
            "idempotency_key",
            "resend_of",
            "requested_by",
            "status",
            "attempts",
            "next_attempt_at",
            "last_attempt_at",
            "response_status",
            "response_excerpt",
            "error",
            "duration_ms",
            "delivered_at",
            "created_at",
        ]
        read_only_fields = fields


class NotificationSerializer(serializers.ModelSerializer):
    summary = serializers.SerializerMethodField()
    unread = serializers.SerializerMethodField()
    data = serializers.JSONField(source="payload", read_only=True)

    class Meta:
        model = Event
        fields = ["id", "uuid", "type", "summary", "project_id", "data", "created_at", "unread"]
        read_only_fields = fields

    def get_summary(self, obj) -> str:
        return payloads.summary(obj.type, obj.payload)

    def get_unread(self, obj) -> bool:
        return obj.pk > self.context["read_mark"]


class NotificationsReadSerializer(serializers.Serializer):
    up_to = serializers.IntegerField(
        min_value=0, required=False, help_text="Mark events up to this id read (default: all of them)."
    )


class NotificationsStateSerializer(serializers.Serializer):
    last_read_event_id = serializers.IntegerField()
    unread = serializers.IntegerField(help_text="Unread notifications, counted up to 100.")
