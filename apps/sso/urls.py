"""Single sign-on URLs (mounted at the tenant's root): the sign-in redirect and callback, the signed-out page, and the
settings page in the admin area. The callback's absolute URL is what the provider's client registers."""

from django.urls import path

from apps.sso import views

app_name = "sso"

urlpatterns = [
    path("accounts/sso/login/", views.sso_login, name="login"),
    path("accounts/sso/callback/", views.sso_callback, name="callback"),
    path("accounts/sso/signed-out/", views.signed_out, name="signed-out"),
    path("manage/sso", views.sso_settings, name="settings"),
    path("manage/sso/delete", views.sso_settings_delete, name="delete"),
]
