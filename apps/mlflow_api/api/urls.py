"""MLflow's tracking endpoints, served twice as MLflow's server does: under ``/api/2.0/mlflow/`` (clients) and
``/ajax-api/2.0/mlflow/`` (MLflow's web UI); the artifact proxy likewise under ``/api/2.0/mlflow-artifacts/`` and
``/ajax-api/2.0/mlflow-artifacts/``; and ``/api/3.0/mlflow/server-info``. Route names are prefixed per mount so
each can be reversed."""

from django.urls import re_path
from django.views.decorators.csrf import csrf_exempt

from apps.mlflow_api.api import artifacts, views
from apps.mlflow_api.api.handling import json_response
from apps.mlflow_api.protocol import ENDPOINT_NOT_FOUND, error_body

ENDPOINTS = [
    ("experiments/create", views.ExperimentCreateView, "experiments-create"),
    ("experiments/get", views.ExperimentGetView, "experiments-get"),
    ("experiments/get-by-name", views.ExperimentGetByNameView, "experiments-get-by-name"),
    ("experiments/search", views.ExperimentSearchView, "experiments-search"),
    ("experiments/update", views.ExperimentUpdateView, "experiments-update"),
    ("experiments/delete", views.ExperimentDeleteView, "experiments-delete"),
    ("experiments/restore", views.ExperimentRestoreView, "experiments-restore"),
    ("experiments/set-experiment-tag", views.ExperimentSetTagView, "experiments-set-tag"),
    ("experiments/delete-experiment-tag", views.ExperimentDeleteTagView, "experiments-delete-tag"),
    ("runs/create", views.RunCreateView, "runs-create"),
    ("runs/get", views.RunGetView, "runs-get"),
    ("runs/update", views.RunUpdateView, "runs-update"),
    ("runs/delete", views.RunDeleteView, "runs-delete"),
    ("runs/restore", views.RunRestoreView, "runs-restore"),
    ("runs/search", views.RunSearchView, "runs-search"),
    ("runs/log-metric", views.LogMetricView, "runs-log-metric"),
    ("runs/log-parameter", views.LogParamView, "runs-log-parameter"),
    ("runs/log-batch", views.LogBatchView, "runs-log-batch"),
    ("runs/set-tag", views.SetTagView, "runs-set-tag"),
    ("runs/delete-tag", views.DeleteTagView, "runs-delete-tag"),
    ("metrics/get-history", views.MetricHistoryView, "metrics-get-history"),
    ("metrics/get-history-bulk-interval", views.MetricHistoryBulkIntervalView, "metrics-get-history-bulk-interval"),
    ("artifacts/list", artifacts.RunArtifactListView, "artifacts-list"),
]

# /api/2.0/mlflow-artifacts/…: <artifact_path> is everything after the prefix (checked by artifact_roots).
ARTIFACT_ENDPOINTS = [
    (r"^artifacts/?$", artifacts.ArtifactListView, "list"),
    (r"^artifacts/(?P<artifact_path>.+)$", artifacts.ArtifactView, "file"),
    (r"^mpu/create/(?P<artifact_path>.+)$", artifacts.MultipartCreateView, "mpu-create"),
    (r"^mpu/complete/(?P<artifact_path>.+)$", artifacts.MultipartCompleteView, "mpu-complete"),
    (r"^mpu/abort/(?P<artifact_path>.+)$", artifacts.MultipartAbortView, "mpu-abort"),
]
V3_ENDPOINTS = [(r"^server-info/?$", artifacts.ServerInfoView, "server-info")]


@csrf_exempt  # API clients POST without a CSRF token; they must get MLflow's 404, not Django's CSRF page
def endpoint_not_found(request, rest: str = ""):
    """Every other path under the prefix (model registry, traces, …): MLflow's 404 for an endpoint it does not
    serve. A plain view: it reads nothing and writes nothing, so it needs no access declaration."""
    return json_response(error_body(ENDPOINT_NOT_FOUND, f"Maestro does not serve the MLflow endpoint '{rest}'."),
                         status=404)  # fmt: skip


def patterns(name_prefix: str) -> list:
    served = [re_path(rf"^{path}/?$", view.as_view(), name=f"{name_prefix}{name}") for path, view, name in ENDPOINTS]
    return [*served, re_path(r"^(?P<rest>.*)$", endpoint_not_found)]


def regex_patterns(endpoints, name_prefix: str) -> list:
    served = [re_path(regex, view.as_view(), name=f"{name_prefix}{name}") for regex, view, name in endpoints]
    return [*served, re_path(r"^(?P<rest>.*)$", endpoint_not_found)]


api_urlpatterns = patterns("mlflow-")
ajax_urlpatterns = patterns("mlflow-ajax-")
artifacts_api_urlpatterns = regex_patterns(ARTIFACT_ENDPOINTS, "mlflow-artifacts-")
artifacts_ajax_urlpatterns = regex_patterns(ARTIFACT_ENDPOINTS, "mlflow-artifacts-ajax-")
v3_api_urlpatterns = regex_patterns(V3_ENDPOINTS, "mlflow-v3-")
v3_ajax_urlpatterns = regex_patterns(V3_ENDPOINTS, "mlflow-v3-ajax-")
