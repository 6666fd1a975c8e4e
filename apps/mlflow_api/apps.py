from django.apps import AppConfig


class MlflowApiConfig(AppConfig):
    name = "apps.mlflow_api"
    label = "mlflow_api"
    verbose_name = "MLflow compatibility"

    def ready(self):
        # Imported here, not at module level: apps.py is loaded before the app registry is ready.
        from apps.mlflow_api.artifact_roots import register_artifact_root
        from apps.mlflow_api.model_selectors import MODELS_KIND, logged_model_artifact_root
        from apps.mlflow_api.models import ArtifactFile
        from apps.mlflow_api.protocol import PREFIXES, error_body_for_status
        from apps.tenants.quotas import register_quota_sum
        from maestro.api.errors import register_error_shape

        # Errors answered before or outside the MLflow views (routing, middleware, Django's handlers) under
        # MLflow's paths take MLflow's shape, which its clients parse.
        register_error_shape(PREFIXES, error_body_for_status)
        register_quota_sum("storage", "mlflow artifacts", ArtifactFile.objects.all())
        # Logged models keep their files under <experiment>/models/<model id>/artifacts (as mlflow server does).
        register_artifact_root(MODELS_KIND, logged_model_artifact_root)
