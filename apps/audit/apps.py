from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "apps.audit"
    label = "audit"
    verbose_name = "Audit trail"

    def ready(self):
        from apps.audit import registry, signals

        registry.register_defaults()
        signals.connect_auth()
