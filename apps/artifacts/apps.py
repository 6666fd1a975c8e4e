from django.apps import AppConfig


class ArtifactsConfig(AppConfig):
    name = "apps.artifacts"
    label = "artifacts"
    verbose_name = "Artifact library"

    def ready(self):
        # Imported here, not at module level: apps.py is loaded before the app registry is ready.
        from apps.access.grant_targets import register_grant_target
        from apps.artifacts.models import Artifact, ArtifactBlob
        from apps.artifacts.selectors import artifact_list
        from apps.tenants.quotas import register_quota_measure, register_quota_sum

        register_quota_measure("artifacts", "artifact library", Artifact.objects.count)  # inactive ones included
        # each stored content once (blobs are content-addressed), however many versions share it
        register_quota_sum("storage", "artifact library", ArtifactBlob.objects.all())
        register_grant_target("artifact", plural="artifacts", visible_to=artifact_list)
