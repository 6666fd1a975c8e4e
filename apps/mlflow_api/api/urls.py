"""MLflow's tracking endpoints, served twice as MLflow's server does: under ``/api/2.0/mlflow/`` (clients) and
``/ajax-api/2.0/mlflow/`` (MLflow's web UI); MLflow's other prefixes (``protocol.PREFIXES``) are mounted too, each
ending in the ENDPOINT_NOT_FOUND view. Route names are prefixed per mount so each can be reversed."""

from django.urls import re_path

from apps.mlflow_api.api import views

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
]


def patterns(name_prefix: str, endpoints=ENDPOINTS) -> list:
    """The served ``endpoints`` under one mount, then the ENDPOINT_NOT_FOUND view for every other path under it
    (last, so it never shadows a served route: add new endpoints to the list, not after this)."""
    served = [re_path(rf"^{path}/?$", view.as_view(), name=f"{name_prefix}{name}") for path, view, name in endpoints]
    return [*served, re_path(r"^.*$", views.EndpointNotFoundView.as_view(), name=f"{name_prefix}not-served")]


api_urlpatterns = patterns("mlflow-")
ajax_urlpatterns = patterns("mlflow-ajax-")
# MLflow's artifact service (``/api/2.0/mlflow-artifacts/``) and tracking API v3 (``/api/3.0/mlflow/``: traces,
# logged models): no endpoint served yet, so every path answers ENDPOINT_NOT_FOUND.
ARTIFACT_ENDPOINTS: list = []
artifacts_urlpatterns = patterns("mlflow-artifacts-", ARTIFACT_ENDPOINTS)
ajax_artifacts_urlpatterns = patterns("mlflow-ajax-artifacts-", ARTIFACT_ENDPOINTS)
v3_urlpatterns = patterns("mlflow-v3-", [])
ajax_v3_urlpatterns = patterns("mlflow-ajax-v3-", [])
