"""List users whose username is outside the safe character set (``apps.accounts.validators``).

Usernames created before the set was enforced keep working (they can sign in, their history keeps its name); this
is the data check that finds them, so an administrator can rename them in the Django admin. Exit status 1 when any
are found, so it can gate a deployment.
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import get_public_schema_name, schema_context

from apps.accounts.validators import username_problem
from apps.tenants.models import Tenant


class Command(BaseCommand):
    help = "List users (in every tenant, or --tenant) whose username has characters outside the safe set."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="Tenant slug (schema name); default: every tenant.")

    def handle(self, *args, **opts):
        tenants = Tenant.objects.exclude(schema_name=get_public_schema_name()).order_by("schema_name")
        if opts["tenant"]:
            tenants = tenants.filter(schema_name=opts["tenant"])
            if not tenants.exists():
                raise CommandError(f"No tenant with slug '{opts['tenant']}'.")
        found = 0
        for tenant in tenants:
            with schema_context(tenant.schema_name):
                for pk, username in get_user_model().objects.order_by("pk").values_list("pk", "username"):
                    problem = username_problem(username)
                    if problem:
                        found += 1
                        self.stdout.write(f"{tenant.schema_name}\tuser {pk}\t{username!r}\t{problem}")
        self.stdout.write(f"{found} username(s) outside the safe character set.")
        if found:
            raise SystemExit(1)
