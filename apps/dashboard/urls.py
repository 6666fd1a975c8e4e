from django.urls import path

from apps.dashboard import howto, views

app_name = "dashboard"

urlpatterns = [
    path("", views.home, name="home"),
    path("help/<slug:topic>", howto.help_page, name="help"),
]
