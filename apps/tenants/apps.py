from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "apps.tenants"
    label = "tenants"
    verbose_name = "Tenants"

    def ready(self):
        """django-tenants listens to post_delete of *every* model (to drop a deleted tenant's schema), which turns
        off Django's fast cascade delete everywhere — deleting a run would load all its metric points. Listen for
        tenants only: same behaviour, fast deletes back."""
        from django.db.models.signals import post_delete
        from django_tenants.signals import tenant_delete_callback

        from apps.tenants import checks  # noqa: F401  (registers the system check)
        from apps.tenants.models import Tenant

        post_delete.disconnect(tenant_delete_callback)
        post_delete.connect(tenant_delete_callback, sender=Tenant, dispatch_uid="tenants:delete_callback")
