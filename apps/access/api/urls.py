from django.urls import re_path

from apps.access.api.views import GrantView

urlpatterns = [re_path(r"^grants/?$", GrantView.as_view(), name="grants")]
