"""MLflow's tracking endpoints, served twice as MLflow's server does: under ``/api/2.0/mlflow/`` (clients) and
``/ajax-api/2.0/mlflow/`` (MLflow's web UI); the artifact proxy likewise under ``/api/2.0/mlflow-artifacts/`` and
``/ajax-api/2.0/mlflow-artifacts/``; and ``/api/3.0/mlflow/server-info``. MLflow's other prefixes
(``protocol.PREFIXES``) are mounted too; each mount ends in the ENDPOINT_NOT_FOUND view. Route names are prefixed per
mount so each can be reversed."""

from django.urls import re_path

from apps.mlflow_api.api import artifacts, model_views, registry_views, views

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
    (
        rf"logged-models/{_MODEL_ID}/tags/(?P<tag_key>.+?)",
        model_views.LoggedModelTagDeleteView,
        "logged-models-tag-delete",
    ),
    (rf"logged-models/{_MODEL_ID}/params", model_views.LoggedModelParamsView, "logged-models-params"),
    (
        rf"logged-models/{_MODEL_ID}/artifacts/directories",
        model_views.LoggedModelArtifactsView,
        "logged-models-artifacts",
    ),
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


def not_served(name_prefix: str):
    """The ENDPOINT_NOT_FOUND view for every path under a mount not served before it (mount it last)."""
    return re_path(r"^.*$", views.EndpointNotFoundView.as_view(), name=f"{name_prefix}not-served")


def patterns(name_prefix: str, endpoints=ENDPOINTS) -> list:
    """The served ``endpoints`` under one mount, then the ENDPOINT_NOT_FOUND view for every other path under it
    (last, so it never shadows a served route: add new endpoints to the list, not after this)."""
    served = [re_path(rf"^{path}/?$", view.as_view(), name=f"{name_prefix}{name}") for path, view, name in endpoints]
    return [*served, not_served(name_prefix)]


def regex_patterns(endpoints, name_prefix: str) -> list:
    """As ``patterns``, for endpoints given as regular expressions (paths with a trailing ``<artifact_path>``)."""
    served = [re_path(regex, view.as_view(), name=f"{name_prefix}{name}") for regex, view, name in endpoints]
    return [*served, not_served(name_prefix)]


api_urlpatterns = patterns("mlflow-")
ajax_urlpatterns = patterns("mlflow-ajax-")
artifacts_urlpatterns = regex_patterns(ARTIFACT_ENDPOINTS, "mlflow-artifacts-")
ajax_artifacts_urlpatterns = regex_patterns(ARTIFACT_ENDPOINTS, "mlflow-ajax-artifacts-")
v3_urlpatterns = regex_patterns(V3_ENDPOINTS, "mlflow-v3-")
ajax_v3_urlpatterns = regex_patterns(V3_ENDPOINTS, "mlflow-ajax-v3-")
