from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self):
        import maestro.api.schema  # noqa: F401  (registers the OpenAPI extension for token authentication)
