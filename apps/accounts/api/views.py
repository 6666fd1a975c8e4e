import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.access.permissions import token_scope
from apps.access.selectors import scope
from apps.accounts import selectors, services
from apps.accounts.api.serializers import (
    ApiTokenCreatedSerializer,
    ApiTokenCreateSerializer,
    ApiTokenSerializer,
    MeSerializer,
    UserCreateSerializer,
    UserSerializer,
    UserUpdateSerializer,
)
from apps.accounts.models import ApiToken, User


class MeView(APIView):
    """The authenticated user and the tenant the request was routed to."""

    access_resource = "me"

    @extend_schema(responses=MeSerializer)
    def get(self, request):
        return Response(MeSerializer(request.user).data)


class UserFilterSet(django_filters.FilterSet):
    class Meta:
        model = User
        fields = ["role", "is_service_account", "is_active"]


class UserViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The tenant's users and service accounts. Everyone (but service accounts) reads the directory; owners and
    admins create, change (role, active flag, profile) and deactivate (``DELETE``) them; only owners touch owners."""

    access_resource = "users"
    serializer_class = UserSerializer
    queryset = User.objects.none()
    filterset_class = UserFilterSet
    search_fields = ["username", "email", "first_name", "last_name"]
    ordering_fields = ["username", "role", "date_joined", "last_login", "id"]

    def get_queryset(self):
        return scope(User.objects.all(), user=self.request.user, resource="users").order_by("username", "id")

    @extend_schema(request=UserCreateSerializer, responses={201: UserSerializer})
    def create(self, request):
        payload = UserCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        user = services.user_create_by(actor=request.user, data=payload.validated_data)
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=UserUpdateSerializer, responses=UserSerializer)
    def partial_update(self, request, pk=None):
        target = self.get_object()
        payload = UserUpdateSerializer(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        user = services.user_update(actor=request.user, user=target, data=dict(payload.validated_data))
        return Response(UserSerializer(user).data)

    def destroy(self, request, pk=None):
        services.user_deactivate(actor=request.user, user=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class ApiTokenViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """API tokens: your own (owners and admins: everyone's). The full token appears only in the response that
    creates it. Owners and admins may create tokens for service accounts (``user``)."""

    access_resource = "tokens"
    access_actions = {"revoke": "change"}
    serializer_class = ApiTokenSerializer
    queryset = ApiToken.objects.none()
    filter_backends = []

    def get_queryset(self):
        return selectors.token_list(user=self.request.user)

    @extend_schema(request=ApiTokenCreateSerializer, responses={201: ApiTokenCreatedSerializer})
    def create(self, request):
        payload = ApiTokenCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        created = services.token_create_for(
            actor=request.user, actor_scope=token_scope(request), **payload.validated_data
        )
        data = ApiTokenSerializer(created.token).data | {"token": created.plaintext}
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=ApiTokenSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        token = services.token_revoke(token=self.get_object())
        return Response(ApiTokenSerializer(token).data)
