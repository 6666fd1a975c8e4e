"""Export one tenant (all rows, all files) to a versioned .tar.gz archive."""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.ops.archive import ArchiveError
from apps.ops.management.commands._common import get_tenant, validation_message
from apps.ops.services import tenant_export


class Command(BaseCommand):
    help = "Export a tenant: every row of every tenant table, every stored file, a manifest with SHA-256 checksums."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="The tenant's slug (schema name).")
        parser.add_argument("--out", type=Path, help="Archive path (default: TENANT_EXPORT_DIR/<slug>-<time>.tar.gz).")
        parser.add_argument(
            "--with-secrets",
            action="store_true",
            help="Include password hashes, API token hashes and sessions (store such an archive like a secret).",
        )

    def handle(self, *args, slug, out, with_secrets, **options):
        tenant = get_tenant(slug)
        try:
            record = tenant_export(
                tenant=tenant, out=out, with_secrets=with_secrets, created_by="command", progress=self.stdout.write
            )
        except (ArchiveError, OSError) as exc:
            raise CommandError(f"Export failed: {exc}") from exc
        except ValidationError as exc:
            raise CommandError(validation_message(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"Exported '{slug}' to {record.path}"))
