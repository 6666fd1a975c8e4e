"""Privacy request: export everything of one user of one tenant as JSON."""

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context

from apps.ops.management.commands._common import get_tenant
from apps.ops.privacy import user_data_export_json


class Command(BaseCommand):
    help = "Export a user's data (profile without secrets, and every row that points at the user) as JSON."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--user", required=True, help="Username.")
        parser.add_argument("--out", type=Path, help="Write to this file (default: standard output).")

    def handle(self, *args, tenant, user, out, **options):
        tenant_obj = get_tenant(tenant)
        with schema_context(tenant_obj.schema_name):
            target = get_user_model().objects.filter(username=user).first()
            if target is None:
                raise CommandError(f"No user '{user}' in tenant '{tenant}'.")
            payload = user_data_export_json(user=target)
        if out:
            out.write_text(payload)
            out.chmod(0o600)
            self.stderr.write(f"Wrote {len(payload)} bytes to {out}")
        else:
            self.stdout.write(payload)
