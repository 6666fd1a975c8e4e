"""The audit trail's tamper evidence: seals form a hash chain that verifies, continues across runs and breaks where
an event is changed or removed behind the triggers' back; events and seals refuse UPDATE, DELETE and TRUNCATE."""

from __future__ import annotations

import itertools
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from apps.audit.chain import GENESIS, audit_chain_verify, audit_seal
from apps.audit.models import AuditEvent, AuditSeal
from apps.audit.services import audit_security_event
from apps.audit.tasks import seal as seal_task

pytestmark = pytest.mark.django_db


def _write_events(n: int, prefix: str = "chain") -> list[AuditEvent]:
    return [audit_security_event(f"{prefix}.event", object_type="x", object_id=i, extra={"i": i}) for i in range(n)]


def _as_owner_without_triggers(*statements: tuple[str, list]) -> None:
    """What someone who owns the tables (or a superuser) could do: switch the triggers off and rewrite history."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # PostgreSQL alters no table with foreign-key checks pending
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER USER")
        cursor.execute("ALTER TABLE audit_auditseal DISABLE TRIGGER USER")
        for sql, params in statements:
            cursor.execute(sql, params)
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER USER")
        cursor.execute("ALTER TABLE audit_auditseal ENABLE TRIGGER USER")


def test_seals_chain_every_event_and_continue_across_runs(tenant_a):
    with tenant_a.context():
        _write_events(3)
        first = audit_seal()
        assert first.sealed == AuditEvent.objects.count() and first.sealed >= 3
        assert audit_seal().sealed == 0  # nothing new
        _write_events(2, "later")
        second = audit_seal()
        assert second.sealed == 2 and second.head_id > first.head_id
        seals = list(AuditSeal.objects.order_by("id"))
        assert seals[0].previous == GENESIS
        assert all(b.previous == a.digest for a, b in itertools.pairwise(seals))
        report = audit_chain_verify()
        assert report.ok, report.problems
        assert (report.sealed, report.unsealed, report.head) == (len(seals), 0, second.head)


def test_a_changed_sealed_event_breaks_the_chain_at_that_event(tenant_a):
    with tenant_a.context():
        events = _write_events(3)
        audit_seal()
        target = events[1]
        _as_owner_without_triggers(("UPDATE audit_auditevent SET action = 'forged' WHERE id = %s", [target.pk]))
        report = audit_chain_verify()
        assert not report.ok
        assert report.problems == [f"seal {target.seal.pk}: event {target.pk} was changed after it was sealed"]


def test_a_removed_event_and_seal_break_the_chain_at_the_next_seal(tenant_a):
    with tenant_a.context():
        events = _write_events(3)
        audit_seal()
        gone = events[1]
        following = AuditSeal.objects.get(event=events[2])
        _as_owner_without_triggers(
            ("DELETE FROM audit_auditseal WHERE event_id = %s", [gone.pk]),
            ("DELETE FROM audit_auditevent WHERE id = %s", [gone.pk]),
        )
        report = audit_chain_verify()
        assert not report.ok
        assert report.problems[0].startswith(f"seal {following.pk} (event {events[2].pk}): does not follow")


def test_verify_command_reports_each_tenant_and_fails_on_a_broken_chain(tenant_a, tenant_b):
    with tenant_a.context():
        events = _write_events(2)
    out = StringIO()
    call_command("verify_audit_trail", "--seal", stdout=out)
    lines = out.getvalue().splitlines()
    assert any(line.startswith(f"{tenant_a.schema}: ok; ") for line in lines)
    assert any(line.startswith(f"{tenant_b.schema}: ok; ") for line in lines)
    with tenant_a.context():
        _as_owner_without_triggers(("UPDATE audit_auditevent SET extra = '{}' WHERE id = %s", [events[0].pk]))
    out = StringIO()
    with pytest.raises(CommandError, match=f"broken in: {tenant_a.schema}.$"):
        call_command("verify_audit_trail", stdout=out)
    assert f"{tenant_a.schema}: BROKEN" in out.getvalue() and f"{tenant_b.schema}: ok" in out.getvalue()
    with pytest.raises(CommandError, match="No tenant with slug 'nowhere'"):
        call_command("verify_audit_trail", "--tenant", "nowhere", stdout=StringIO())


def test_an_event_slipped_in_with_an_old_time_is_reported_unsealed(tenant_a):
    with tenant_a.context():
        _write_events(1)
        audit_seal()
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO audit_auditevent (occurred_at, category, action, object_type, object_id, object_repr, "
                "actor_type, actor_token, source, changes, extra, request_id) VALUES (now() - interval '30 days', "
                "'security', 'forged.backdated', '', '', '', 'system', '', 'system', '{}', '{}', '')"
            )
        audit_seal()  # outside the sealing window: never sealed
        report = audit_chain_verify()
        assert report.stale_unsealed == 1 and not report.ok


def test_the_periodic_task_seals_its_tenant_only(tenant_a, tenant_b):
    with tenant_a.context():
        _write_events(2)
    with tenant_b.context():
        _write_events(2)
        before_b = AuditSeal.objects.count()
    assert seal_task.apply(kwargs={"schema_name": tenant_a.schema}).get() >= 2
    with tenant_a.context():
        assert not AuditEvent.objects.filter(seal__isnull=True).exists()
    with tenant_b.context():
        assert AuditSeal.objects.count() == before_b
        assert AuditEvent.objects.filter(seal__isnull=True).count() >= 2


@pytest.mark.parametrize("table", ["audit_auditevent", "audit_auditseal"])
@pytest.mark.parametrize(
    "sql",
    ["UPDATE {table} SET id = id WHERE id = %s", "DELETE FROM {table} WHERE id = %s", "TRUNCATE {table} CASCADE"],
)
def test_events_and_seals_refuse_update_delete_and_truncate(tenant_a, table, sql):
    with tenant_a.context():
        _write_events(1)
        audit_seal()
        row_id = AuditSeal.objects.latest("id").pk if table == "audit_auditseal" else AuditEvent.objects.latest("id").pk
        statement = sql.format(table=table)
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # else TRUNCATE stops at the pending foreign-key checks
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [row_id] if "%s" in statement else None)
        assert AuditEvent.objects.exists() and AuditSeal.objects.filter(pk__gte=1).exists()


def test_every_tenant_schema_refuses_truncate(tenant_a, tenant_b):
    with connection.cursor() as cursor:
        # information_schema.triggers leaves TRUNCATE triggers out; pg_trigger's type bit 5 (32) marks them.
        cursor.execute(
            "SELECT n.nspname, c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT t.tgisinternal AND t.tgtype & 32 <> 0"
        )
        found = set(cursor.fetchall())
    for schema in (tenant_a.schema, tenant_b.schema):
        assert {(schema, "audit_auditevent"), (schema, "audit_auditseal")} <= found
    # (accounts' TRUNCATE triggers, which renew the authentication generation, are not the audit trail's)
    assert not any(schema == "public" and table.startswith("audit_") for schema, table in found)
