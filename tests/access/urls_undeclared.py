"""The real tenant URL conf plus routes nobody declared, of every kind the route check must catch: a plain Django
view on the dashboard, under /api/ and under /ajax-api/, a DRF view without AccessPolicy, a class-based Django view,
and the admin of a model the matrix assigns no resource."""

from django.http import HttpResponse, JsonResponse
from django.urls import path, re_path
from django.views import View
from guardian.models import UserObjectPermission
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.access.admin_site import TenantAdminSite
from maestro.urls import handler403  # noqa: F401  (the shared error shape for API paths)
from maestro.urls import urlpatterns as real_patterns

SECRET = "should never be served"


def dashboard_page(request):
    return HttpResponse(SECRET)


def api_function(request):
    return JsonResponse({"secret": SECRET})


class PlainClassView(View):
    def get(self, request):
        return HttpResponse(SECRET)


class NoPolicyApiView(APIView):
    permission_classes = [IsAuthenticated]
    access_resource = "me"

    def get(self, request):
        return Response({"secret": SECRET})


extra_site = TenantAdminSite(name="extra_admin")
extra_site.register(UserObjectPermission)  # guardian's rows: no resource of the matrix governs them

urlpatterns = [
    path("undeclared/page", dashboard_page, name="undeclared-page"),
    path("undeclared/class", PlainClassView.as_view(), name="undeclared-class"),
    re_path(r"^api/v1/undeclared-function/?$", api_function, name="undeclared-api-function"),
    re_path(r"^ajax-api/2.0/mlflow/undeclared/?$", api_function, name="undeclared-ajax"),
    re_path(r"^api/v1/undeclared-no-policy/?$", NoPolicyApiView.as_view(), name="undeclared-no-policy"),
    path("extra-admin/", extra_site.urls),
    *real_patterns,
]
