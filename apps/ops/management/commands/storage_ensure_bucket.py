"""Create the configured S3 bucket when it does not exist yet (docker-compose's MinIO starts empty)."""

from django.core.management.base import BaseCommand, CommandError

from maestro.storage import StorageUnavailable, current_config, ensure_bucket


class Command(BaseCommand):
    help = "Create the bucket of MAESTRO_STORAGE_URL if it is missing (a no-op for filesystem storage)."

    def handle(self, *args, **options):
        config = current_config()
        if config.kind != "s3":
            self.stdout.write("File storage is the local filesystem; nothing to create.")
            return
        try:
            created = ensure_bucket()
        except StorageUnavailable as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Bucket '{config.bucket}' {'created' if created else 'exists'}.")
