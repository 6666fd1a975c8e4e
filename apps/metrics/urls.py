"""Dashboard URLs of runs (mounted at the tenant's root)."""

from django.urls import path

from apps.metrics import views

app_name = "metrics"

urlpatterns = [
    path("runs/", views.run_list, name="runs"),
    path("runs/compare", views.run_compare, name="compare"),
    path("runs/<int:pk>/", views.run_detail, name="run"),
]
