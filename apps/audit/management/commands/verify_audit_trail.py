"""Check the audit trail's hash chain of one tenant (or every tenant): exit status 1 when it is broken."""

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import get_public_schema_name, schema_context

from apps.audit.chain import audit_chain_verify, audit_seal
from apps.tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Recompute the audit trail's hash chain (apps/audit/chain.py) and report every break; prints the head digest "
        "to compare with the last 'audit_sealed' log line. --seal seals new events first."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="Tenant slug (default: every tenant).")
        parser.add_argument("--seal", action="store_true", help="Seal the events not sealed yet, then verify.")

    def handle(self, *args, tenant=None, seal=False, **options):
        tenants = Tenant.objects.exclude(schema_name=get_public_schema_name()).order_by("schema_name")
        if tenant:
            tenants = tenants.filter(schema_name=tenant)
            if not tenants.exists():
                raise CommandError(f"No tenant with slug '{tenant}'.")
        broken = []
        for schema in tenants.values_list("schema_name", flat=True):
            with schema_context(schema):
                if seal:
                    audit_seal()
                report = audit_chain_verify()
            state = "ok" if report.ok else "BROKEN"
            self.stdout.write(
                f"{schema}: {state}; {report.sealed} sealed, {report.unsealed} not sealed yet; "
                f"head seal {report.head_id} {report.head}"
            )
            for problem in report.problems:
                self.stdout.write(f"  {problem}")
            if not report.ok:
                broken.append(schema)
        if broken:
            raise CommandError(f"The audit trail's chain is broken in: {', '.join(broken)}.")
