"""MLflow's tracking endpoints, served twice as MLflow's server does: under ``/api/2.0/mlflow/`` (clients) and
``/ajax-api/2.0/mlflow/`` (MLflow's web UI). Route names are prefixed per mount so both can be reversed."""

from django.urls import re_path
from django.views.decorators.csrf import csrf_exempt

from apps.mlflow_api.api import model_views, registry_views, views
from apps.mlflow_api.api.handling import json_response
from apps.mlflow_api.protocol import ENDPOINT_NOT_FOUND, error_body

_MODEL_ID = r"(?P<model_id>[^/]+)"

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
    ("runs/log-inputs", model_views.LogInputsView, "runs-log-inputs"),
    ("runs/outputs", model_views.LogOutputsView, "runs-log-outputs"),
    ("runs/log-model", model_views.LogModelView, "runs-log-model"),
    ("metrics/get-history", views.MetricHistoryView, "metrics-get-history"),
    ("metrics/get-history-bulk-interval", views.MetricHistoryBulkIntervalView, "metrics-get-history-bulk-interval"),
    ("metrics/get-history-bulk", model_views.MetricHistoryBulkView, "metrics-get-history-bulk"),
    # MLflow 3 logged models (search before the <model_id> routes)
    ("logged-models", model_views.LoggedModelCreateView, "logged-models-create"),
    ("logged-models/search", model_views.LoggedModelSearchView, "logged-models-search"),
    (rf"logged-models/{_MODEL_ID}", model_views.LoggedModelView, "logged-models-detail"),
    (rf"logged-models/{_MODEL_ID}/tags", model_views.LoggedModelTagsView, "logged-models-tags"),
    (rf"logged-models/{_MODEL_ID}/tags/(?P<tag_key>.+?)", model_views.LoggedModelTagDeleteView,
     "logged-models-tag-delete"),
    (rf"logged-models/{_MODEL_ID}/params", model_views.LoggedModelParamsView, "logged-models-params"),
    (rf"logged-models/{_MODEL_ID}/artifacts/directories", model_views.LoggedModelArtifactsView,
     "logged-models-artifacts"),
    # the model registry
    ("registered-models/create", registry_views.RegisteredModelCreateView, "registered-models-create"),
    ("registered-models/get", registry_views.RegisteredModelGetView, "registered-models-get"),
    ("registered-models/rename", registry_views.RegisteredModelRenameView, "registered-models-rename"),
    ("registered-models/update", registry_views.RegisteredModelUpdateView, "registered-models-update"),
    ("registered-models/delete", registry_views.RegisteredModelDeleteView, "registered-models-delete"),
    ("registered-models/search", registry_views.RegisteredModelSearchView, "registered-models-search"),
    ("registered-models/get-latest-versions", registry_views.LatestVersionsView, "registered-models-latest"),
    ("registered-models/set-tag", registry_views.RegisteredModelSetTagView, "registered-models-set-tag"),
    ("registered-models/delete-tag", registry_views.RegisteredModelDeleteTagView, "registered-models-delete-tag"),
    ("registered-models/alias", registry_views.AliasView, "registered-models-alias"),
    ("model-versions/create", registry_views.ModelVersionCreateView, "model-versions-create"),
    ("model-versions/get", registry_views.ModelVersionGetView, "model-versions-get"),
    ("model-versions/update", registry_views.ModelVersionUpdateView, "model-versions-update"),
    ("model-versions/delete", registry_views.ModelVersionDeleteView, "model-versions-delete"),
    ("model-versions/search", registry_views.ModelVersionSearchView, "model-versions-search"),
    ("model-versions/transition-stage", registry_views.ModelVersionTransitionView, "model-versions-transition"),
    ("model-versions/get-download-uri", registry_views.ModelVersionDownloadUriView, "model-versions-download-uri"),
    ("model-versions/set-tag", registry_views.ModelVersionSetTagView, "model-versions-set-tag"),
    ("model-versions/delete-tag", registry_views.ModelVersionDeleteTagView, "model-versions-delete-tag"),
]  # fmt: skip


@csrf_exempt  # a POST to an unknown endpoint gets MLflow's JSON 404, not Django's CSRF page
def endpoint_not_found(request, rest: str = ""):
    """Every other path under the prefix (traces, webhooks, prompts, …): MLflow's 404 for an endpoint it does not
    serve. A plain view: it reads nothing and writes nothing, so it needs no access declaration."""
    return json_response(error_body(ENDPOINT_NOT_FOUND, f"Maestro does not serve the MLflow endpoint '{rest}'."),
                         status=404)  # fmt: skip


def patterns(name_prefix: str) -> list:
    served = [re_path(rf"^{path}/?$", view.as_view(), name=f"{name_prefix}{name}") for path, view, name in ENDPOINTS]
    return [*served, re_path(r"^(?P<rest>.*)$", endpoint_not_found)]


api_urlpatterns = patterns("mlflow-")
ajax_urlpatterns = patterns("mlflow-ajax-")
