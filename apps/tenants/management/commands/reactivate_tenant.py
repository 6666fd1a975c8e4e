"""Reactivate a suspended tenant."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.tenants.models import Tenant
from apps.tenants.services import tenant_set_active


class Command(BaseCommand):
    help = "Reactivate a suspended tenant."

    def add_arguments(self, parser):
        parser.add_argument("slug")

    def handle(self, *args, slug, **options):
        tenant = Tenant.objects.filter(schema_name=slug).first()
        if tenant is None:
            raise CommandError(f"No tenant with slug '{slug}'.")
        try:
            tenant_set_active(tenant=tenant, active=True)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        self.stdout.write(self.style.SUCCESS(f"Reactivated '{slug}'."))
