from django.urls import re_path

from apps.metrics.api.views import MetricHistoryManyView, RunViewSet
from maestro.api.routers import ApiRouter

router = ApiRouter()
router.register("runs", RunViewSet, basename="run")

urlpatterns = [
    re_path(r"^metrics/history/?$", MetricHistoryManyView.as_view(), name="metric-history-many"),
    *router.urls,
]
