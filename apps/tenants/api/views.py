from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.tenants.api.serializers import TenantSettingsSerializer
from apps.tenants.services import tenant_rename


class TenantSettingsView(APIView):
    """The organisation this request is served for: name, plan, limits and effective rate limits. Owners and admins
    may rename it; the plan and limits are set by platform operators."""

    access_resource = "tenant_settings"

    @extend_schema(responses=TenantSettingsSerializer)
    def get(self, request):
        return Response(TenantSettingsSerializer(request.tenant).data)

    @extend_schema(request=TenantSettingsSerializer, responses=TenantSettingsSerializer)
    def patch(self, request):
        payload = TenantSettingsSerializer(request.tenant, data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        tenant = tenant_rename(tenant=request.tenant, name=payload.validated_data.get("name", request.tenant.name))
        return Response(TenantSettingsSerializer(tenant).data)
