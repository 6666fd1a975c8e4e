from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self):
        import maestro.api.schema  # noqa: F401  (registers the OpenAPI extension for token authentication)
        from apps.accounts.models import User
        from apps.tenants.quotas import register_quota_measure

        # service accounts count; deactivated and erased users do not
        register_quota_measure("users", "active users", lambda: User.objects.filter(is_active=True).count())
