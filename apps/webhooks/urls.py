"""Dashboard URLs of webhooks and notifications (mounted at the tenant's root)."""

from django.urls import path

from apps.webhooks import views

app_name = "webhooks"

urlpatterns = [
    path("manage/webhooks", views.manage_webhooks, name="manage"),
    path("manage/webhooks/<int:pk>", views.manage_webhook, name="manage-detail"),
    path("manage/webhooks/<int:pk>/rotate-secret", views.manage_webhook_rotate, name="manage-rotate"),
    path("manage/webhooks/<int:pk>/ping", views.manage_webhook_ping, name="manage-ping"),
    path("manage/webhooks/<int:pk>/delete", views.manage_webhook_delete, name="manage-delete"),
    path(
        "manage/webhooks/<int:pk>/deliveries/<int:delivery_pk>/resend",
        views.manage_webhook_resend,
        name="manage-resend",
    ),
    path("notifications", views.notifications, name="notifications"),
]
