"""Dashboard URLs of access control (mounted at the tenant's root)."""

from django.urls import path

from apps.access import views

app_name = "access"

urlpatterns = [
    path("manage/grants", views.grants, name="grants"),
    path("manage/grants/remove", views.grant_remove, name="grant-remove"),
]
