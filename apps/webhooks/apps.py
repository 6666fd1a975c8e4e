from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    """Outbound webhooks and the notification bell (engines layer: reads projects and access, imported by none)."""

    name = "apps.webhooks"
    label = "webhooks"
    verbose_name = "Webhooks and notifications"

    def ready(self):
        # Imported here, not at module level: apps.py is loaded before the app registry is ready.
        from apps.audit.registry import audit_register
        from apps.webhooks import services
        from apps.webhooks.models import Subscription
        from maestro.events import register_handler

        register_handler(services.event_record)
        audit_register(
            Subscription,
            name="webhook_subscription",
            secret_fields={"secret_salt", "secret_key_id", "previous_secret_salt", "previous_secret_key_id"},
            ignore_fields={"updated_at"},
            classify=services.classify_subscription_change,
        )
