"""The real URLconf plus test-only API views: an undeclared one, one that drops AccessPolicy, an ingest one."""

from django.urls import include, path, re_path
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from maestro.api.routers import ApiRouter
from maestro.urls import urlpatterns as real_patterns


class UndeclaredView(APIView):
    def get(self, request):
        return Response({"secret": "should never be served"})


class BypassView(APIView):
    permission_classes = [IsAuthenticated]
    access_resource = "me"

    def get(self, request):
        return Response({"ok": True})


class IngestView(APIView):
    """Stands in for the runs engineer's log-batch view: declares the ingest throttle scope."""

    access_resource = "metrics"
    throttle_scope = "ingest"

    def post(self, request):
        return Response({"ingested": True}, status=201)


extra = [
    re_path(r"^undeclared/?$", UndeclaredView.as_view(), name="test-undeclared"),
    re_path(r"^bypass/?$", BypassView.as_view(), name="test-bypass"),
    re_path(r"^ingest/?$", IngestView.as_view(), name="test-ingest"),
]

urlpatterns = [path("api/v1/test/", include(extra)), *real_patterns]


class ProjectRunsView(APIView):
    """A nested route: the parent project comes from the URL and is checked before the view runs."""

    access_resource = "runs"
    access_parent_kwarg = "project_pk"

    def get(self, request, project_pk):
        return Response({"project": int(project_pk)})

    def post(self, request, project_pk):
        return Response({"created_in": int(project_pk)}, status=201)


class RunMetricsView(APIView):
    """A nested route whose parent is not an anchor: a run, looked up by its uuid."""

    access_resource = "metrics"
    access_parent_kwarg = "run_uuid"
    access_parent_model = "metrics.Run"
    access_parent_field = "uuid"

    def post(self, request, run_uuid):
        return Response({"logged": True}, status=201)


extra += [
    re_path(r"^projects/(?P<project_pk>[^/]+)/runs/?$", ProjectRunsView.as_view(), name="test-project-runs"),
    re_path(r"^runs/(?P<run_uuid>[^/]+)/metrics/?$", RunMetricsView.as_view(), name="test-run-metrics"),
]
urlpatterns = [path("api/v1/test/", include(extra)), *real_patterns]


class RunToolsViewSet(viewsets.ViewSet):
    """Extra actions serving several methods, and a POST that only reads (like a search)."""

    access_resource = "runs"
    access_actions = {"params": {"get": "read", "post": "create"}, "search": "read"}

    @action(detail=False, methods=["get", "post"])
    def params(self, request):
        return Response({"method": request.method})

    @action(detail=False, methods=["post"])
    def search(self, request):
        return Response({"results": []})


router = ApiRouter()
router.register("run-tools", RunToolsViewSet, basename="test-run-tools")
extra += router.urls
urlpatterns = [path("api/v1/test/", include(extra)), *real_patterns]
