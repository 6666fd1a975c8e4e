"""Rebuild normalised commits, pull requests and CI runs from stored webhook deliveries."""

from uuid import UUID

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context

from apps.integrations.models import Integration
from apps.integrations.services import integration_reprocess
from apps.tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Re-normalise a tenant's stored webhook deliveries (all integrations, or one by --integration UUID or "
        "--project id). Idempotent: running it twice yields the same rows."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug (schema name)")
        parser.add_argument("--integration", help="webhook UUID of one integration")
        parser.add_argument("--project", type=int, help="only this project's integrations")

    def handle(self, *args, tenant, integration=None, project=None, **options):
        if not Tenant.objects.filter(schema_name=tenant).exclude(schema_name="public").exists():
            raise CommandError(f"No tenant '{tenant}'.")
        with schema_context(tenant):
            integrations = Integration.objects.order_by("id")
            if integration:
                try:
                    integrations = integrations.filter(webhook_id=UUID(integration))
                except ValueError:
                    raise CommandError(f"--integration: '{integration}' is not a UUID.") from None
            if project is not None:
                integrations = integrations.filter(project_id=project)
            selected = list(integrations.select_related("project"))
            if not selected:
                raise CommandError("No integration matches.")
            for index, item in enumerate(selected, start=1):
                self.stdout.write(f"[{index}/{len(selected)}] {item} (project {item.project_id})")

                def progress(done, total):
                    self.stdout.write(f"  {done}/{total} deliveries")

                result = integration_reprocess(integration=item, progress=progress)
                self.stdout.write(
                    f"  done: {result.processed} processed, {result.ignored} ignored, {result.failed} failed"
                )
