from apps.artifacts.api.views import (
    ArtifactUsageViewSet,
    ArtifactVersionViewSet,
    ArtifactViewSet,
    ProjectArtifactUsageViewSet,
)
from maestro.api.routers import ApiRouter

router = ApiRouter()
router.register("artifacts", ArtifactViewSet, basename="artifact")
router.register(r"artifacts/(?P<artifact_pk>[0-9]+)/versions", ArtifactVersionViewSet, basename="artifact-version")
router.register("artifact-usages", ArtifactUsageViewSet, basename="artifact-usage")
router.register(
    r"projects/(?P<project_pk>[0-9]+)/artifact-usages", ProjectArtifactUsageViewSet, basename="project-artifact-usage"
)

urlpatterns = router.urls
