"""Give the runtime database role (web, workers) its privileges: everything but ownership, and only SELECT/INSERT on
the append-only audit tables. Run as the owner role, after migrations (see apps/ops/db_roles.py)."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.ops.db_roles import runtime_role_grant
from apps.ops.management.commands._common import validation_message


class Command(BaseCommand):
    help = (
        "Grant the runtime database role SELECT/INSERT/UPDATE/DELETE on every schema's tables, only SELECT/INSERT on "
        "the audit trail, and the same on what the owner creates later (default privileges). Run as the owner."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "role", nargs="?", default=settings.DATABASE_RUNTIME_ROLE, help="Default: DATABASE_RUNTIME_ROLE."
        )
        parser.add_argument("--print", dest="show", action="store_true", help="Also print the statements executed.")

    def handle(self, *args, role, show, **options):
        try:
            result = runtime_role_grant(role=role)
        except ValidationError as exc:
            raise CommandError(f"Nothing was changed. {validation_message(exc)}") from exc
        if show:
            for statement in result.statements:
                self.stdout.write(f"{statement};")
        self.stdout.write(
            self.style.SUCCESS(
                f"Granted runtime privileges to '{result.role}' on {len(result.schemas)} schemas "
                f"({', '.join(result.schemas)}) and on objects created later."
            )
        )
