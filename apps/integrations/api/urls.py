from django.urls import re_path

from apps.integrations.api.views import DeliveryMetricsView, IntegrationViewSet, WebhookView
from maestro.api.routers import ApiRouter

router = ApiRouter()
router.register(r"projects/(?P<project_pk>\d+)/integrations", IntegrationViewSet, basename="integration")

urlpatterns = [
    re_path(
        r"^projects/(?P<project_pk>\d+)/delivery-metrics/?$", DeliveryMetricsView.as_view(), name="delivery-metrics"
    ),
    re_path(r"^webhooks/(?P<webhook_id>[^/]+)/?$", WebhookView.as_view(), name="integration-webhook"),
    *router.urls,
]
