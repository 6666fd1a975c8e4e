"""Create an API token for a user of a tenant (for bootstrapping scripts)."""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context

from apps.accounts.choices import TokenScope
from apps.accounts.services import token_create
from apps.tenants.models import Tenant


class Command(BaseCommand):
    help = "Create an API token for --user in --tenant and print it (shown once)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="Tenant slug (schema name).")
        parser.add_argument("--user", required=True, help="Username inside that tenant.")
        parser.add_argument("--name", default="cli")
        parser.add_argument("--scope", default=TokenScope.WRITE, choices=TokenScope.values)

    def handle(self, *args, **opts):
        if not Tenant.objects.filter(schema_name=opts["tenant"]).exists():
            raise CommandError(f"No tenant with slug '{opts['tenant']}'.")
        with schema_context(opts["tenant"]):
            user = get_user_model().objects.filter(username=opts["user"]).first()
            if user is None:
                raise CommandError(f"No user '{opts['user']}' in tenant '{opts['tenant']}'.")
            try:
                created = token_create(user=user, name=opts["name"], scope=opts["scope"])
            except ValidationError as exc:
                raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(created.plaintext)
