from django.urls import re_path

from apps.accounts.api.views import ApiTokenViewSet, MeView, UserViewSet
from maestro.api.routers import ApiRouter

router = ApiRouter()
router.register("tokens", ApiTokenViewSet, basename="token")
router.register("users", UserViewSet, basename="user")

urlpatterns = [re_path(r"^me/?$", MeView.as_view(), name="me"), *router.urls]
