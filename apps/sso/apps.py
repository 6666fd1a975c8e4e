from django.apps import AppConfig


class SsoConfig(AppConfig):
    name = "apps.sso"
    label = "sso"
    verbose_name = "Single sign-on"

    def ready(self):
        # Imported here, not at module level: apps.py is loaded before the app registry is ready.
        from apps.sso import audit
        from apps.sso.selectors import password_sign_in_refusal
        from maestro.passwords import register_password_policy

        audit.register()
        register_password_policy(password_sign_in_refusal)
