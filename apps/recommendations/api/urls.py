from django.urls import re_path

from apps.recommendations.api import views
from maestro.api.routers import ApiRouter

router = ApiRouter()
router.register("models", views.SuccessModelViewSet, basename="success-model")
router.register("training-runs", views.TrainingRunViewSet, basename="training-run")
router.register("predictions", views.PredictionViewSet, basename="prediction")
router.register("artifact-impacts", views.ArtifactImpactViewSet, basename="artifact-impact")

urlpatterns = [
    re_path(r"^projects/(?P<pk>\d+)/similar/?$", views.ProjectSimilarView.as_view(), name="project-similar"),
    re_path(r"^projects/overlap/?$", views.ProjectOverlapView.as_view(), name="project-overlap"),
    re_path(r"^projects/import/?$", views.ProjectImportView.as_view(), name="project-import"),
    re_path(r"^models/(?P<pk>\d+)/training-data/?$", views.ModelTrainingDataView.as_view(), name="model-training-data"),
    re_path(r"^similar-projects/?$", views.SimilarProjectsView.as_view(), name="similar-projects"),
    re_path(r"^recommendations/?$", views.RecommendationView.as_view(), name="recommendations"),
    re_path(r"^artifacts/(?P<pk>\d+)/impact/?$", views.ArtifactImpactView.as_view(), name="artifact-impact-detail"),
    *router.urls,
]
