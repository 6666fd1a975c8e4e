"""Dashboard URLs of the model registry (mounted at the tenant's root)."""

from django.urls import path

from apps.mlflow_api import views

app_name = "registry"

urlpatterns = [
    path("registry/", views.registered_model_list, name="list"),
    path("registry/<int:pk>/", views.registered_model_detail, name="detail"),
]
