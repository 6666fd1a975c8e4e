"""Recreate an exported tenant under a new slug and domain."""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.ops.archive import ArchiveError
from apps.ops.management.commands._common import validation_message
from apps.ops.services import tenant_import


class Command(BaseCommand):
    help = "Import a tenant archive into a new tenant (new schema; same primary keys, rows and files)."

    def add_arguments(self, parser):
        parser.add_argument("archive", type=Path)
        parser.add_argument("--slug", required=True, help="Slug (schema name) of the new tenant.")
        parser.add_argument("--domain", help="Host name of the new tenant (default <slug>.localhost).")
        parser.add_argument("--name", help="Display name (default: the exported tenant's name).")

    def handle(self, *args, archive, slug, domain, name, **options):
        try:
            result = tenant_import(
                archive_path=archive, slug=slug, domain=domain, name=name, progress=self.stdout.write
            )
        except ArchiveError as exc:
            raise CommandError(f"Nothing was imported: {exc}") from exc
        except ValidationError as exc:
            raise CommandError(f"Nothing was imported: {validation_message(exc)}") from exc
        self.stdout.write(self.style.SUCCESS(f"Imported into '{result.tenant.schema_name}' at {result.domain.domain}"))
