"""``python manage.py embeddings_backfill [--tenant demo]``: embed every project whose embedding is missing or stale."""

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context

from apps.recommendations.services import embeddings_compute, embeddings_stale_project_ids
from apps.tenants.models import Tenant
from apps.tenants.selectors import tenant_schemas_active


class Command(BaseCommand):
    help = "Compute missing or stale spec embeddings now (in this process), for one tenant or every active tenant."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="Tenant slug (schema name); default: every active tenant.")

    def handle(self, *args, tenant=None, **opts):
        if tenant and not Tenant.objects.filter(schema_name=tenant).exists():
            raise CommandError(f"No tenant '{tenant}'.")
        for schema in [tenant] if tenant else tenant_schemas_active():
            with schema_context(schema):
                stale = embeddings_stale_project_ids()
                self.stdout.write(f"{schema}: {len(stale)} projects with a missing or stale embedding")
                counts = embeddings_compute(
                    project_ids=stale,
                    progress=lambda done, total, s=schema: self.stdout.write(f"  {s}: {done}/{total}"),
                )
                self.stdout.write(f"{schema}: embedded {counts['embedded']}, cleared {counts['cleared']}")
