"""Privacy request: erase (anonymise) one user of one tenant."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context

from apps.ops.management.commands._common import get_tenant, get_user, validation_message
from apps.ops.privacy import user_erase


class Command(BaseCommand):
    help = (
        "Anonymise a user: pseudonymous username, no name/e-mail/password, deactivated; tokens, sessions and object "
        "permissions deleted. History (runs, audit events) keeps a pseudonymous actor; the audit trail's names, "
        "addresses and user agents of the user are cleared."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--user", required=True, help="Username.")
        parser.add_argument("--yes", action="store_true", help="Do not ask for confirmation.")

    def handle(self, *args, tenant, user, yes, **options):
        tenant_obj = get_tenant(tenant)
        with schema_context(tenant_obj.schema_name):
            target = get_user(tenant_obj, user)
            if not yes and input(f"Type the username '{user}' to erase this user: ").strip() != user:
                raise CommandError("Not confirmed; nothing was changed.")
            try:
                result = user_erase(user=target)
            except ValidationError as exc:
                raise CommandError(f"Nothing was changed. {validation_message(exc)}") from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Erased: now '{result.pseudonym}'; {result.tokens_deleted} tokens, "
                f"{result.sessions_deleted} sessions, {result.permissions_deleted} object permissions deleted; "
                f"{result.rows_scrubbed} rows scrubbed; {result.audit_details_cleared} audit event details cleared."
            )
        )
