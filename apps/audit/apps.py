from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "apps.audit"
    label = "audit"
    verbose_name = "Audit trail"

    def ready(self):
        # Imported here, not at module level: apps.py is loaded before the app registry is ready.
        from apps.audit import registry, signals

        registry.register_defaults()
        signals.connect_auth()
