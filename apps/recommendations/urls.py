"""Dashboard URLs of the recommender (mounted at the tenant's root)."""

from django.urls import path

from apps.recommendations import views

app_name = "recommendations"

urlpatterns = [
    path("what-if", views.what_if, name="what-if"),
    path("what-if/predict", views.what_if_predict, name="what-if-predict"),
    path("what-if/member-row", views.what_if_member_row, name="what-if-member-row"),
    path("models", views.model_registry, name="models"),
    path("models/retrain", views.model_retrain, name="retrain"),
    path("models/<int:pk>/promote", views.model_promote, name="promote"),
    path("models/<int:pk>/rollback", views.model_rollback, name="rollback"),
    path("projects/<int:pk>/similar", views.project_similar, name="project-similar"),
    path("projects/import", views.project_import, name="import"),
]
