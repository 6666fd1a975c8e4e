from django.urls import re_path

from apps.projects.api.views import ProjectAttributeViewSet, ProjectViewSet, ScoringSettingsView, TeamMemberViewSet
from maestro.api.routers import ApiRouter

router = ApiRouter()
router.register("project-attributes", ProjectAttributeViewSet, basename="project-attribute")
router.register("projects", ProjectViewSet, basename="project")
router.register(r"projects/(?P<project_pk>[0-9]+)/team-members", TeamMemberViewSet, basename="project-team-member")

urlpatterns = [
    re_path(r"^settings/scoring/?$", ScoringSettingsView.as_view(), name="scoring-settings"),
    *router.urls,
]
