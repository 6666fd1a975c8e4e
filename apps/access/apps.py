from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "apps.access"
    label = "access"
    verbose_name = "Access control"

    def ready(self):
        from apps.access import checks, sessions, signals  # noqa: F401  (registers the system check and receivers)

        signals.connect()
