"""Create a tenant: schema, domain and first admin, printing the URL and a generated password."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.ops.services import tenant_provision


class Command(BaseCommand):
    help = "Create a tenant (schema + domain + first admin) and print its URL and the admin's generated password."

    def add_arguments(self, parser):
        parser.add_argument("--slug", required=True, help="Schema name: lowercase letters, digits, hyphens.")
        parser.add_argument("--name", required=True)
        parser.add_argument("--domain", help="Host name; default <slug>.localhost")
        parser.add_argument("--admin-email", required=True)
        parser.add_argument("--admin-username", default="admin")

    def handle(self, *args, **opts):
        self.stdout.write(f"Provisioning tenant '{opts['slug']}' (creating and migrating its schema)…")
        try:
            result = tenant_provision(
                slug=opts["slug"],
                name=opts["name"],
                domain=opts["domain"],
                admin_email=opts["admin_email"],
                admin_username=opts["admin_username"],
            )
        except ValidationError as exc:
            problems = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
            raise CommandError(f"Nothing was created. {problems}") from exc
        self.stdout.write(self.style.SUCCESS(f"Tenant '{result.tenant.schema_name}' is ready at {result.url}"))
        self.stdout.write(f"  admin user: {result.admin_username} <{result.admin_email}>")
        self.stdout.write(f"  password:   {result.password}   (shown once; store it now)")
