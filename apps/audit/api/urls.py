from apps.audit.api.views import AuditEventViewSet
from maestro.api.routers import ApiRouter

router = ApiRouter()
router.register("audit-events", AuditEventViewSet, basename="audit-event")

urlpatterns = router.urls
