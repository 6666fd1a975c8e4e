"""Privacy request: export everything of one user of one tenant as JSON."""

import os
from pathlib import Path

from django.core.management.base import BaseCommand
from django_tenants.utils import schema_context

from apps.ops.management.commands._common import get_tenant, get_user
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
            target = get_user(tenant_obj, user)
            payload = user_data_export_json(user=target)
        if out:
            # Personal data: readable by the operator only, from the moment the file exists.
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(payload)
            out.chmod(0o600)
            self.stderr.write(f"Wrote {len(payload)} bytes to {out}")
        else:
            self.stdout.write(payload)
