"""Suspend a tenant: its hosts answer 403, its API refuses every token, its queued tasks are skipped."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.tenants.models import Tenant
from apps.tenants.services import tenant_set_active


class Command(BaseCommand):
    help = "Suspend a tenant (dashboard, API and tasks refuse it until it is reactivated)."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--reason", default="suspended by an operator")

    def handle(self, *args, slug, reason, **options):
        tenant = Tenant.objects.filter(schema_name=slug).first()
        if tenant is None:
            raise CommandError(f"No tenant with slug '{slug}'.")
        try:
            tenant_set_active(tenant=tenant, active=False, reason=reason)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        self.stdout.write(self.style.SUCCESS(f"Suspended '{slug}': {reason}"))
