"""Dashboard URLs of the artifact library (mounted at the tenant's root)."""

from django.urls import path

from apps.artifacts import views

app_name = "artifacts"

urlpatterns = [
    path("artifacts/", views.artifact_list, name="list"),
    path("artifacts/new", views.artifact_create, name="create"),
    path("artifacts/<int:pk>/", views.artifact_detail, name="detail"),
    path("artifacts/<int:pk>/edit", views.artifact_edit, name="edit"),
    path("artifacts/<int:pk>/versions", views.artifact_version_upload, name="upload"),
]
