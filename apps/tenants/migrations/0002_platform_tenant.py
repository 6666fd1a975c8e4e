"""The platform itself is the tenant row for the public schema; routing on platform hosts needs it."""

from django.db import migrations


def create_platform_tenant(apps, schema_editor):
    Tenant = apps.get_model("tenants", "Tenant")
    Tenant.objects.get_or_create(schema_name="public", defaults={"name": "Maestro platform", "is_active": True})


class Migration(migrations.Migration):
    dependencies = [("tenants", "0001_initial")]

    operations = [migrations.RunPython(create_platform_tenant, migrations.RunPython.noop)]
