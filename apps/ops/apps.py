from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Operations: tenant provisioning (with its first owner), export/import/deletion and their platform admin,
    privacy requests, and the Celery task metrics wiring."""

    name = "apps.ops"
    label = "ops"
    verbose_name = "Operations"

    def ready(self):
        # Connect the Celery signal handlers that record task outcomes (web and worker processes alike).
        from maestro.observability import tasks  # noqa: F401
