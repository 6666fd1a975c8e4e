from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.projects import selectors, services
from apps.projects.api.serializers import (
    ProjectAttributeSerializer,
    ProjectCompleteSerializer,
    ProjectSerializer,
    ScoringSettingsSerializer,
    TeamMemberSerializer,
)
from apps.projects.filtersets import ProjectFilterSet, TeamMemberFilterSet
from apps.projects.models import Project, ProjectAttribute, TeamMember
from maestro.api.nesting import ChildResourceMixin
from maestro.api.pagination import CappedCountPageNumberPagination

PROJECT_PK = OpenApiParameter("project_pk", OpenApiTypes.INT, OpenApiParameter.PATH, description="Project id.")


class ProjectViewSet(viewsets.ModelViewSet):
    """Projects with their team and the artifact versions they use. Completing a project (``status: completed``
    or ``POST …/complete``) computes its success_score from the outcome fields unless given."""

    access_resource = "projects"
    access_actions = {"complete": "change"}
    serializer_class = ProjectSerializer
    queryset = Project.objects.none()
    pagination_class = CappedCountPageNumberPagination
    filterset_class = ProjectFilterSet
    search_fields = ["name", "slug", "spec"]
    ordering_fields = [
        "name",
        "slug",
        "status",
        "problem_class",
        "complexity_score",
        "success_score",
        "start_date",
        "target_end_date",
        "completion_date",
        "created_at",
        "updated_at",
    ]

    def get_queryset(self):
        return selectors.project_list(user=self.request.user, owner=False)

    def perform_create(self, serializer):
        serializer.instance = services.project_create(user=self.request.user, data=dict(serializer.validated_data))

    def perform_update(self, serializer):
        serializer.instance = services.project_update(
            project=serializer.instance, user=self.request.user, data=dict(serializer.validated_data)
        )

    def perform_destroy(self, instance):
        services.project_delete(project=instance, user=self.request.user)

    @extend_schema(request=ProjectCompleteSerializer, responses=ProjectSerializer)
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        """Complete a planned or active project with its outcome; 400 naming the missing outcome fields when the
        success_score cannot be computed."""
        payload = ProjectCompleteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        project = services.project_complete(project=self.get_object(), user=request.user, **payload.validated_data)
        return Response(ProjectSerializer(selectors.project_get(user=request.user, pk=project.pk)).data)


@extend_schema_view(
    list=extend_schema(parameters=[PROJECT_PK]),
    create=extend_schema(parameters=[PROJECT_PK]),
    retrieve=extend_schema(parameters=[PROJECT_PK]),
    update=extend_schema(parameters=[PROJECT_PK]),
    partial_update=extend_schema(parameters=[PROJECT_PK]),
    destroy=extend_schema(parameters=[PROJECT_PK]),
)
class TeamMemberViewSet(ChildResourceMixin, viewsets.ModelViewSet):
    """The team of one project."""

    access_resource = "team_members"
    access_parent_kwarg = "project_pk"
    serializer_class = TeamMemberSerializer
    queryset = TeamMember.objects.none()
    filterset_class = TeamMemberFilterSet
    search_fields = ["display_name", "user__username"]
    ordering_fields = ["display_name", "role", "experience_level", "years_experience", "contribution_hours", "id"]

    def parent_queryset(self):
        return selectors.project_list(user=self.request.user)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return TeamMember.objects.none()
        return selectors.team_member_list(user=self.request.user, project=self.get_parent())

    def perform_create(self, serializer):
        serializer.instance = services.team_member_create(
            project=self.get_parent(), data=dict(serializer.validated_data)
        )

    def perform_update(self, serializer):
        serializer.instance = services.team_member_update(
            member=serializer.instance, data=dict(serializer.validated_data)
        )

    def perform_destroy(self, instance):
        services.team_member_delete(member=instance)


class ScoringSettingsView(APIView):
    """The tenant's success_score weights (see ScoringSettings). Everyone reads them; owners and admins change
    them. Scores already stored are not recomputed."""

    access_resource = "tenant_settings"

    @extend_schema(responses=ScoringSettingsSerializer)
    def get(self, request):
        return Response(ScoringSettingsSerializer(selectors.scoring_settings_get(user=request.user)).data)

    @extend_schema(request=ScoringSettingsSerializer, responses=ScoringSettingsSerializer)
    def put(self, request):
        current = selectors.scoring_settings_get(user=request.user)
        payload = ScoringSettingsSerializer(current, data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        row = services.scoring_settings_update(user=request.user, data=dict(payload.validated_data))
        return Response(ScoringSettingsSerializer(row).data, status=status.HTTP_200_OK)

    @extend_schema(request=ScoringSettingsSerializer, responses=ScoringSettingsSerializer)
    def patch(self, request):
        return self.put(request)


class ProjectAttributeViewSet(viewsets.ModelViewSet):
    """The organisation's extra project fields (number, yes/no or category). Everyone reads them; owners and admins
    define them (at most 20; a category has at most 20 choices). Values are set on projects (``attributes``) and
    become features of the success model."""

    access_resource = "project_attributes"
    serializer_class = ProjectAttributeSerializer
    queryset = ProjectAttribute.objects.none()
    filter_backends = []

    def get_queryset(self):
        return selectors.project_attribute_list()

    def perform_create(self, serializer):
        serializer.instance = services.project_attribute_create(data=dict(serializer.validated_data))

    def perform_update(self, serializer):
        serializer.instance = services.project_attribute_update(
            attribute=serializer.instance, data=dict(serializer.validated_data)
        )

    def perform_destroy(self, instance):
        services.project_attribute_delete(attribute=instance)
