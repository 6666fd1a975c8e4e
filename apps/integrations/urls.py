"""Dashboard URLs of the integrations app (mounted at the tenant's root)."""

from django.urls import path

from apps.integrations import views

app_name = "integrations"

urlpatterns = [
    path("projects/<int:pk>/delivery-panel", views.delivery_panel, name="delivery-panel"),
]
