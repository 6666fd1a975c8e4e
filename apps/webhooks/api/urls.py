from apps.webhooks.api.views import DeliveryViewSet, NotificationViewSet, SubscriptionViewSet
from maestro.api.routers import ApiRouter

router = ApiRouter()
router.register(r"webhook-subscriptions", SubscriptionViewSet, basename="webhook-subscription")
router.register(
    r"webhook-subscriptions/(?P<subscription_pk>\d+)/deliveries", DeliveryViewSet, basename="webhook-delivery"
)
router.register(r"notifications", NotificationViewSet, basename="notification")

urlpatterns = router.urls
