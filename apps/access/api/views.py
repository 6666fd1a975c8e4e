from django.apps import apps
from django.contrib.auth.models import Group
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.access import policy, selectors, services
from apps.access.api.serializers import (
    OBJECT_TYPES,
    GrantListSerializer,
    GrantPrincipalSerializer,
    GrantSerializer,
    GrantSetSerializer,
    GrantTargetSerializer,
)
from apps.accounts.models import User

TARGET_PARAMS = [
    OpenApiParameter("object_type", str, enum=sorted(OBJECT_TYPES), required=True),
    OpenApiParameter("object_id", int, required=True),
]


def _target(data):
    model = apps.get_model(OBJECT_TYPES[data["object_type"]])
    obj = model._base_manager.filter(pk=data["object_id"]).first()
    if obj is None:
        raise Http404("Not found.")
    return obj


def _principal(data):
    if "user" in data:
        user = User.objects.filter(pk=data["user"]).first()
        if user is None:
            raise Http404("No such user.")
        return {"user": user}
    group = Group.objects.filter(pk=data["group"]).first()
    if group is None:
        raise Http404("No such group.")
    return {"group": group}


class GrantView(APIView):
    """Object permissions on one project or artifact: who holds view, change or manage.

    Owners and admins manage grants everywhere; leads on the objects they manage. Objects the caller cannot see
    answer 404; visible objects they do not manage answer 403."""

    access_resource = "grants"

    @extend_schema(parameters=TARGET_PARAMS, responses=GrantListSerializer)
    def get(self, request):
        target = GrantTargetSerializer(data=request.query_params)
        target.is_valid(raise_exception=True)
        obj = _target(target.validated_data)
        selectors.require(request.user, "grants", policy.READ, obj)
        return Response({**target.validated_data, "results": selectors.grant_list(obj)})

    @extend_schema(request=GrantSetSerializer, responses=GrantSerializer)
    def post(self, request):
        payload = GrantSetSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        obj = _target(payload.validated_data)
        selectors.require(request.user, "grants", policy.CREATE, obj)
        grant = services.grant_set(
            actor=request.user, obj=obj, level=payload.validated_data["level"], **_principal(payload.validated_data)
        )
        return Response(GrantSerializer(grant.__dict__).data, status=status.HTTP_200_OK)

    @extend_schema(
        parameters=[*TARGET_PARAMS, OpenApiParameter("user", int), OpenApiParameter("group", int)],
        request=None,
        responses={204: None},
    )
    def delete(self, request):
        payload = GrantPrincipalSerializer(data=request.query_params)
        payload.is_valid(raise_exception=True)
        obj = _target(payload.validated_data)
        selectors.require(request.user, "grants", policy.DELETE, obj)
        services.grant_remove(actor=request.user, obj=obj, **_principal(payload.validated_data))
        return Response(status=status.HTTP_204_NO_CONTENT)
