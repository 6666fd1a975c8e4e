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
        from apps.tenants.quotas import register_quota_measure, sum_of

        register_quota_measure("artifacts", "artifact library", Artifact.objects.count)  # inactive ones included
        # each stored content once (blobs are content-addressed), however many versions share it
        register_quota_measure("storage", "artifact library", lambda: sum_of(ArtifactBlob.objects.all()))
        register_grant_target("artifact", plural="artifacts", visible_to=artifact_list)
