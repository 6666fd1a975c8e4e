from rest_framework import serializers

from apps.audit.models import AuditEvent

FIELDS = [
    "id", "occurred_at", "category", "action", "object_type", "object_id", "object_repr", "actor_type", "actor_id",
    "actor_username", "actor_token", "source", "changes", "extra", "ip", "user_agent", "request_id",
]  # fmt: skip


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = FIELDS
        read_only_fields = FIELDS
