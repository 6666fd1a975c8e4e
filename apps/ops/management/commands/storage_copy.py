"""Copy files stored on a local disk (MEDIA_ROOT/<tenant>/…) into the configured file storage (an S3 bucket)."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.tenants.selectors import tenant_schemas_active
from maestro.storage import StorageUnavailable, copy_local_files, current_config


class Command(BaseCommand):
    help = (
        "Copy every tenant's files from a local directory (default MEDIA_ROOT, the layout Maestro used before "
        "MAESTRO_STORAGE_URL was set) into the configured storage, under the same keys. Safe to run again: files "
        "already there with the same size are skipped."
    )

    def add_arguments(self, parser):
        parser.add_argument("--source", type=Path, default=None, help="Directory holding <tenant>/… (MEDIA_ROOT).")
        parser.add_argument("--tenant", action="append", dest="tenants", help="Only this tenant (repeatable).")

    def handle(self, *args, source, tenants, **options):
        source = source or Path(settings.MEDIA_ROOT)
        config = current_config()
        if config.kind == "filesystem" and Path(config.root).resolve() == source.resolve():
            raise CommandError("The configured storage is this directory already; set MAESTRO_STORAGE_URL first.")
        total_copied = total_skipped = 0
        for schema in tenants or tenant_schemas_active():
            try:
                result = copy_local_files(source, schema, progress=self.stdout.write)
            except (StorageUnavailable, ValueError) as exc:
                raise CommandError(f"{schema}: {exc}") from exc
            total_copied += result.copied
            total_skipped += result.skipped
            self.stdout.write(
                f"{schema}: {result.copied} copied ({result.bytes} bytes), {result.skipped} already there"
            )
        self.stdout.write(self.style.SUCCESS(f"{total_copied} files copied, {total_skipped} already there."))
