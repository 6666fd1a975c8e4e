from django.apps import AppConfig


class MlflowApiConfig(AppConfig):
    name = "apps.mlflow_api"
    label = "mlflow_api"
    verbose_name = "MLflow compatibility"

    def ready(self):
        from apps.mlflow_api.models import ArtifactFile
        from apps.tenants.quotas import register_storage_measure, sum_of

        register_storage_measure("mlflow artifacts", lambda: sum_of(ArtifactFile.objects.all()))
