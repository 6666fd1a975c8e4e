"""Dashboard URLs of projects (mounted at the tenant's root)."""

from django.urls import path

from apps.projects import views

app_name = "projects"

urlpatterns = [
    path("projects/", views.project_list, name="list"),
    path("projects/new", views.project_create, name="create"),
    path("projects/<int:pk>/", views.project_detail, name="detail"),
    path("projects/<int:pk>/edit", views.project_edit, name="edit"),
    path("projects/<int:pk>/delete", views.project_delete, name="delete"),
    path("projects/<int:pk>/team", views.team_member_add, name="team-add"),
    path("projects/<int:pk>/team/<int:member_pk>/remove", views.team_member_remove, name="team-remove"),
]
