"""URLs served on a tenant's host (and for API requests routed by token)."""

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from apps.access.views import PasswordChangeView
from apps.mlflow_api.api import urls as mlflow_urls
from apps.sso import views as sso_views

api_v1 = [
    path("", include("apps.accounts.api.urls")),
    # before the projects routes: /projects/overlap and /projects/<id>/similar are served here
    path("", include("apps.recommendations.api.urls")),
    path("", include("apps.projects.api.urls")),
    path("", include("apps.artifacts.api.urls")),
    path("", include("apps.access.api.urls")),
    path("", include("apps.audit.api.urls")),
    path("", include("apps.tenants.api.urls")),
    path("", include("apps.integrations.api.urls")),
    path("", include("apps.metrics.api.urls")),
    path("", include("apps.webhooks.api.urls")),
]

urlpatterns = [
    # The API first: Django tries patterns in order, and every request of a script is an API call. No page route
    # can match an ``api/`` or ``ajax-api/`` path (the page includes hold no converter-led or empty-but-root routes;
    # tests/access/test_routes.py checks), so the order changes no answer, only the patterns tried per call.
    path("api/v1/", include(api_v1)),
    path("api/2.0/mlflow/", include(mlflow_urls.api_urlpatterns)),
    path("ajax-api/2.0/mlflow/", include(mlflow_urls.ajax_urlpatterns)),
    path("api/2.0/mlflow-artifacts/", include(mlflow_urls.artifacts_urlpatterns)),
    path("ajax-api/2.0/mlflow-artifacts/", include(mlflow_urls.ajax_artifacts_urlpatterns)),
    path("api/3.0/mlflow/", include(mlflow_urls.v3_urlpatterns)),
    path("ajax-api/3.0/mlflow/", include(mlflow_urls.ajax_v3_urlpatterns)),
    path("", include("apps.dashboard.urls")),
    path("", include("apps.integrations.urls")),
    path("", include("apps.projects.urls")),
    path("", include("apps.artifacts.urls")),
    path("", include("apps.metrics.urls")),
    path("", include("apps.accounts.urls")),
    path("", include("apps.access.urls")),
    path("", include("apps.audit.urls")),
    path("", include("apps.recommendations.urls")),
    path("", include("apps.mlflow_api.urls")),
    path("", include("apps.webhooks.urls")),
    path("", include("apps.sso.urls")),
    path("accounts/login/", sso_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", sso_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("admin/", admin.site.urls),
    # Pages without their own icon link (admin, API docs) make browsers ask for /favicon.ico.
    path("favicon.ico", RedirectView.as_view(url=f"{settings.STATIC_URL}favicon.svg", permanent=True)),
    path("api/schema/", SpectacularAPIView.as_view(urlconf="maestro.urls"), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
]

# API paths get the shared error shape from Django's own error views too (maestro/api/errors.py).
handler400 = "maestro.api.errors.bad_request"
handler403 = "maestro.api.errors.permission_denied"
handler404 = "maestro.api.errors.page_not_found"
handler500 = "maestro.api.errors.server_error"
