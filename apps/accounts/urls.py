"""Dashboard URLs of identity (mounted at the tenant's root): your tokens, and the admin area's users, groups and
tokens under /manage/."""

from django.urls import path

from apps.accounts import views

app_name = "accounts"

urlpatterns = [
    path("account/tokens", views.token_list, name="tokens"),
    path("account/tokens/<int:pk>/revoke", views.token_revoke, name="token-revoke"),
    path("manage/", views.manage_home, name="manage"),
    path("manage/users", views.manage_users, name="manage-users"),
    path("manage/users/<int:pk>", views.manage_user, name="manage-user"),
    path("manage/groups", views.manage_groups, name="manage-groups"),
    path("manage/groups/<int:pk>", views.manage_group, name="manage-group"),
    path("manage/groups/<int:pk>/delete", views.manage_group_delete, name="manage-group-delete"),
    path("manage/groups/<int:pk>/members/<int:user_pk>/remove", views.manage_group_remove, name="manage-group-remove"),
    path("manage/tokens", views.manage_tokens, name="manage-tokens"),
]
