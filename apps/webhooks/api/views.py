from __future__ import annotations

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.webhooks import selectors, services
from apps.webhooks.api.serializers import (
    DeliverySerializer,
    NotificationSerializer,
    NotificationsReadSerializer,
    NotificationsStateSerializer,
    RotateSecretSerializer,
    SubscriptionSerializer,
    SubscriptionUpdateSerializer,
    SubscriptionWithSecretSerializer,
    SubscriptionWriteSerializer,
)
from apps.webhooks.models import Delivery, Event, Subscription

SUBSCRIPTION_PK = OpenApiParameter(
    "subscription_pk", OpenApiTypes.INT, OpenApiParameter.PATH, description="Subscription id."
)


class SubscriptionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Outbound webhook subscriptions of the tenant. The signing secret appears only in the responses that create
    or rotate it."""

    access_resource = "webhooks"
    access_actions = {"rotate_secret": "change", "ping": "change"}
    serializer_class = SubscriptionSerializer
    queryset = Subscription.objects.none()
    filter_backends = []

    def get_queryset(self):
        return selectors.subscription_list(user=self.request.user).select_related("created_by")

    def _with_secret(self, created, status_code=status.HTTP_200_OK):
        data = SubscriptionSerializer(created.subscription).data
        return Response({**data, "secret": created.secret}, status=status_code)

    @extend_schema(request=SubscriptionWriteSerializer, responses={201: SubscriptionWithSecretSerializer})
    def create(self, request):
        payload = SubscriptionWriteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        created = services.subscription_create(user=request.user, data=dict(payload.validated_data))
        return self._with_secret(created, status.HTTP_201_CREATED)

    @extend_schema(request=SubscriptionUpdateSerializer, responses=SubscriptionSerializer)
    def partial_update(self, request, pk=None):
        payload = SubscriptionUpdateSerializer(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        subscription = services.subscription_update(subscription=self.get_object(), data=dict(payload.validated_data))
        return Response(SubscriptionSerializer(subscription).data)

    def destroy(self, request, pk=None):
        services.subscription_delete(subscription=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=RotateSecretSerializer, responses=SubscriptionWithSecretSerializer)
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        """A new secret, shown once; the old one keeps signing beside it for ``overlap_seconds``."""
        payload = RotateSecretSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        rotated = services.subscription_rotate_secret(
            subscription=self.get_object(), overlap_seconds=payload.validated_data.get("overlap_seconds")
        )
        return self._with_secret(rotated)

    @extend_schema(request=None, responses={202: DeliverySerializer})
    @action(detail=True, methods=["post"])
    def ping(self, request, pk=None):
        """Send a test event (type ``ping``) to this subscription; follow it in its delivery log."""
        delivery = services.subscription_ping(subscription=self.get_object(), user=request.user)
        delivery = Delivery.objects.select_related("event", "requested_by").get(pk=delivery.pk)
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


@extend_schema_view(
    list=extend_schema(parameters=[SUBSCRIPTION_PK]),
    retrieve=extend_schema(parameters=[SUBSCRIPTION_PK]),
)
class DeliveryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The delivery log of one subscription, newest first, with "resend"."""

    access_resource = "webhooks"
    access_actions = {"resend": "change"}
    serializer_class = DeliverySerializer
    queryset = Delivery.objects.none()
    filter_backends = []

    def get_subscription(self) -> Subscription:
        if not hasattr(self, "_subscription"):
            try:
                self._subscription = selectors.subscription_get(
                    user=self.request.user, pk=int(self.kwargs["subscription_pk"])
                )
            except (Subscription.DoesNotExist, ValueError):
                raise Http404 from None
        return self._subscription

    def get_queryset(self):
        return selectors.delivery_list(user=self.request.user, subscription=self.get_subscription()).select_related(
            "requested_by"
        )

    @extend_schema(parameters=[SUBSCRIPTION_PK], request=None, responses={202: DeliverySerializer})
    @action(detail=True, methods=["post"])
    def resend(self, request, subscription_pk=None, pk=None):
        """Send this delivery's event again (a new delivery with the same idempotency key)."""
        resent = services.delivery_resend(delivery=self.get_object(), user=request.user)
        resent = Delivery.objects.select_related("event", "requested_by").get(pk=resent.pk)
        return Response(DeliverySerializer(resent).data, status=status.HTTP_202_ACCEPTED)


class NotificationViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The signed-in user's notifications (the dashboard bell): events of projects they can see, newest first."""

    access_resource = "notifications"
    access_actions = {"read": "change", "unread_count": "read"}
    serializer_class = NotificationSerializer
    queryset = Event.objects.none()
    filter_backends = []

    def get_queryset(self):
        return selectors.notification_list(user=self.request.user)

    def get_serializer_context(self):
        return {
            **super().get_serializer_context(),
            "read_mark": selectors.notification_read_mark(user=self.request.user),
        }

    def _state(self, mark: int) -> Response:
        unread = selectors.notification_unread_count(user=self.request.user)
        return Response(NotificationsStateSerializer({"last_read_event_id": mark, "unread": unread}).data)

    @extend_schema(responses=NotificationsStateSerializer)
    @action(detail=False, methods=["get"], url_path="unread-count")
    def unread_count(self, request):
        return self._state(selectors.notification_read_mark(user=request.user))

    @extend_schema(request=NotificationsReadSerializer, responses=NotificationsStateSerializer)
    @action(detail=False, methods=["post"])
    def read(self, request):
        """Mark notifications read, up to ``up_to`` (default: all)."""
        payload = NotificationsReadSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        mark = services.notifications_mark_read(user=request.user, up_to=payload.validated_data.get("up_to"))
        return self._state(mark)
