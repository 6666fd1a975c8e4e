"""Delete a tenant for good (schema, domains, files, cache) — only after a fresh export unless --force.

Named drop_tenant because django-tenants ships its own ``delete_tenant`` (listed first, so it would win); that one
knows nothing about exports, stored files or cache entries — use this one.
"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.ops.management.commands._common import get_tenant, validation_message
from apps.ops.services import tenant_delete


class Command(BaseCommand):
    help = (
        "Delete a tenant: drop its schema, domains, stored files and cache entries. Requires an export made within "
        "TENANT_DELETE_EXPORT_MAX_AGE_HOURS whose archive is still intact, unless --force."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--force", action="store_true", help="Delete even without a fresh export.")
        parser.add_argument("--yes", action="store_true", help="Do not ask for confirmation.")

    def handle(self, *args, slug, force, yes, **options):
        tenant = get_tenant(slug)
        if not yes:
            answer = input(f"Type the slug '{slug}' to delete this tenant and all its data: ")
            if answer.strip() != slug:
                raise CommandError("Not confirmed; nothing was deleted.")
        try:
            tenant_delete(tenant=tenant, force=force, progress=self.stdout.write)
        except ValidationError as exc:
            raise CommandError(f"Nothing was deleted. {validation_message(exc)}") from exc
        self.stdout.write(self.style.SUCCESS(f"Deleted tenant '{slug}'."))
