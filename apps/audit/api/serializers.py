"""Audit events as the API and the CSV export show them: the append-only row merged with its erasable identity and
detail (``apps.audit.models``), so an erased user reads ``erased user #<id>`` and has no address or agent."""

from rest_framework import serializers

from apps.audit.models import SHOWN_FIELDS, AuditEvent

FIELDS = list(SHOWN_FIELDS)


class AuditEventSerializer(serializers.ModelSerializer):
    object_repr = serializers.CharField(source="display_repr", read_only=True)
    actor_id = serializers.IntegerField(read_only=True, allow_null=True, help_text="The acting user's id.")
    actor_username = serializers.CharField(
        read_only=True, help_text="The actor's name; 'erased user #<id>' after a privacy erasure."
    )
    changes = serializers.JSONField(source="display_changes", read_only=True)
    extra = serializers.JSONField(source="display_extra", read_only=True)
    ip = serializers.IPAddressField(read_only=True, allow_null=True)
    user_agent = serializers.CharField(read_only=True)

    class Meta:
        model = AuditEvent
        fields = FIELDS
        read_only_fields = FIELDS
