"""URLs served on the platform host (public schema): the operators' admin and a landing page."""

from django.urls import path
from django.views.generic import TemplateView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from maestro.admin import platform_admin_site

# The schema and its docs page hold no tenant data, and no tenant's token can be verified here (tokens live in their
# tenant's schema; this host serves the public one): they read no credentials, so a client that sends its token on
# every request gets the schema instead of 401 "Invalid token". Tenant hosts keep the default authentication.
urlpatterns = [
    path("", TemplateView.as_view(template_name="platform/index.html"), name="platform-index"),
    path("admin/", platform_admin_site.urls),
    path("api/schema/", SpectacularAPIView.as_view(urlconf="maestro.urls", authentication_classes=[]), name="schema"),
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="schema", authentication_classes=[]),
        name="swagger-ui",
    ),
]

# API paths get the shared error shape from Django's own error views too (maestro/api/errors.py).
handler400 = "maestro.api.errors.bad_request"
handler403 = "maestro.api.errors.permission_denied"
handler404 = "maestro.api.errors.page_not_found"
handler500 = "maestro.api.errors.server_error"
