from rest_framework import serializers

from apps.tenants.models import Tenant
from maestro.api.throttling import plan_limits


class TenantSettingsSerializer(serializers.ModelSerializer):
    slug = serializers.CharField(source="schema_name", read_only=True)
    effective_rate_limits = serializers.SerializerMethodField(
        help_text="Per scope (read, write, ingest): requests allowed per user and per organisation."
    )

    class Meta:
        model = Tenant
        fields = [
            "slug",
            "name",
            "plan",
            "max_users",
            "max_projects",
            "max_artifacts",
            "max_storage_mb",
            "effective_rate_limits",
        ]
        read_only_fields = ["slug", "plan", "max_users", "max_projects", "max_artifacts", "max_storage_mb"]

    def get_effective_rate_limits(self, obj) -> dict:
        return plan_limits(obj)
