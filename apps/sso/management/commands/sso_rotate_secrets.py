"""Re-encrypt every tenant's SSO client secret under the first key of MAESTRO_ENCRYPTION_KEYS (key rotation)."""

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import get_public_schema_name, schema_context

from apps.sso.services import sso_secret_rotate
from apps.tenants.models import Tenant
from maestro.encryption import DecryptionError


class Command(BaseCommand):
    help = (
        "Re-encrypt the stored SSO client secrets under the first key of MAESTRO_ENCRYPTION_KEYS. Rotate a key by "
        "putting the new one first (keeping the old one), running this, then removing the old key."
    )

    def handle(self, *args, **options):
        failed = []
        schemas = Tenant.objects.exclude(schema_name=get_public_schema_name()).order_by("schema_name")
        for schema in schemas.values_list("schema_name", flat=True):
            with schema_context(schema):
                try:
                    rotated = sso_secret_rotate()
                except DecryptionError:
                    failed.append(schema)
                    self.stdout.write(f"{schema}: the secret opens with none of the configured keys")
                    continue
            self.stdout.write(f"{schema}: {'re-encrypted' if rotated else 'no secret'}")
        if failed:
            raise CommandError(f"Not re-encrypted (enter the secret again there): {', '.join(failed)}.")
