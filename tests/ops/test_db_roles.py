"""The production role split against real PostgreSQL: a runtime role with the documented grants writes and reads
the audit trail (and can erase a person from its erasable side) but cannot rewrite, truncate or unprotect it, in
every tenant schema — including one created after the grants."""

from __future__ import annotations

from io import StringIO

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django_tenants.utils import schema_context

from apps.audit.chain import audit_chain_verify, audit_seal
from apps.audit.models import AuditEvent, AuditEventDetail, AuditIdentity
from apps.audit.services import audit_person_erase, audit_security_event
from apps.ops.db_roles import runtime_role_grant
from apps.ops.services import tenant_delete, tenant_provision
from apps.tenants.models import Tenant

pytestmark = pytest.mark.django_db

ROLE = settings.DATABASE_RUNTIME_ROLE


def _usable_runtime_role() -> bool:
    if not ROLE:
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_has_role(current_user, oid, 'MEMBER') AND NOT rolsuper FROM pg_roles WHERE rolname = %s", [ROLE]
        )
        row = cursor.fetchone()
    return bool(row and row[0])


@pytest.fixture
def runtime_role(tenant_a, tenant_b):
    if not _usable_runtime_role():
        pytest.skip(
            "No runtime database role this test's role can SET ROLE to (DATABASE_RUNTIME_ROLE); "
            "scripts/services.sh up creates one when it may create roles"
        )
    runtime_role_grant(role=ROLE)
    return ROLE


class _As:
    """``SET ROLE`` for the block (inside the test's transaction), back to the owner after."""

    def __init__(self, role: str):
        self.role = role

    def __enter__(self):
        with connection.cursor() as cursor:
            cursor.execute(f"SET ROLE {connection.ops.quote_name(self.role)}")

    def __exit__(self, *exc):
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")


REFUSED = [
    ("UPDATE audit_auditevent SET action = 'forged'", "permission denied"),
    ("DELETE FROM audit_auditevent", "permission denied"),
    ("TRUNCATE audit_auditevent", "permission denied"),
    ("UPDATE audit_auditseal SET digest = 'x'", "permission denied"),
    ("DELETE FROM audit_auditseal", "permission denied"),
    ("TRUNCATE audit_auditseal", "permission denied"),
    ("DROP TRIGGER audit_event_append_only ON audit_auditevent", "must be owner"),
    ("DROP TRIGGER audit_event_no_truncate ON audit_auditevent", "must be owner"),
    ("ALTER TABLE audit_auditevent DISABLE TRIGGER USER", "must be owner"),
    ("DROP TABLE audit_auditevent CASCADE", "must be owner"),
    ("DROP FUNCTION audit_event_refuse_change() CASCADE", "must be owner"),
    ("CREATE TABLE audit_shadow (id int)", "permission denied"),
]


def test_runtime_role_writes_the_trail_but_cannot_rewrite_truncate_or_unprotect_it(runtime_role, tenant_a, tenant_b):
    for ctx in (tenant_a, tenant_b):
        with ctx.context():
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            with _As(runtime_role):
                for sql, message in REFUSED:
                    with pytest.raises(DatabaseError, match=message), transaction.atomic(), connection.cursor() as c:
                        c.execute(sql)
                # What the application does as this role still works: write events, seal them, erase a person.
                event = audit_security_event("role.check", object_type="x", object_id=1)
                assert event is not None and AuditEvent.objects.filter(pk=event.pk).exists()
                assert audit_seal().sealed >= 1 and audit_chain_verify().ok
                AuditIdentity.objects.create(actor_id=987654, username="someone")
                assert audit_person_erase(user_id=987654) == 0
                assert AuditIdentity.objects.get(actor_id=987654).label == "erased user #987654"
                assert AuditEventDetail.objects.exists()
                with connection.cursor() as cursor:
                    cursor.execute("SELECT current_user")
                    assert cursor.fetchone()[0] == runtime_role


def test_a_tenant_created_after_the_grants_gives_the_runtime_role_only_select_insert_on_its_trail(runtime_role):
    tenant = Tenant(schema_name="gammaroles", name="Gamma roles")
    tenant.save(verbosity=0)  # runs every migration in the new schema, as the owner (this test's role)
    with schema_context(tenant.schema_name), connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, p.privilege, has_table_privilege(%s, c.oid, p.privilege) FROM pg_class c "
            "CROSS JOIN unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'TRIGGER']) AS p(privilege) "
            "WHERE c.relnamespace = %s::regnamespace AND c.relname IN "
            "('audit_auditevent', 'audit_auditseal', 'audit_auditeventdetail', 'projects_project')",
            [runtime_role, tenant.schema_name],
        )
        granted = {(table, privilege) for table, privilege, has in cursor.fetchall() if has}
        cursor.execute("SELECT has_schema_privilege(%s, %s, 'USAGE')", [runtime_role, tenant.schema_name])
        assert cursor.fetchone()[0]
    for table in ("audit_auditevent", "audit_auditseal"):
        assert {p for t, p in granted if t == table} == {"SELECT", "INSERT"}, table
    for table in ("audit_auditeventdetail", "projects_project"):
        assert {p for t, p in granted if t == table} == {"SELECT", "INSERT", "UPDATE", "DELETE"}, table


def test_grant_command_refuses_a_missing_or_privileged_role_and_prints_its_statements(runtime_role):
    with pytest.raises(CommandError, match="There is no database role 'no_such_role'"):
        call_command("grant_runtime_role", "no_such_role", stdout=StringIO())
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        (owner,) = cursor.fetchone()
    with pytest.raises(CommandError, match="the role running this command"):
        call_command("grant_runtime_role", owner, stdout=StringIO())
    out = StringIO()
    call_command("grant_runtime_role", "--print", stdout=out)
    text = out.getvalue()
    quoted = connection.ops.quote_name(runtime_role)
    assert f'REVOKE UPDATE, DELETE ON "alpha"."audit_auditevent" FROM {quoted};' in text
    assert f"ALTER DEFAULT PRIVILEGES GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {quoted};" in text
    assert f"Granted runtime privileges to '{runtime_role}'" in text


def test_the_runtime_role_is_told_to_use_the_owner_to_create_or_drop_a_tenant(runtime_role, tenant_b):
    with _As(runtime_role):
        with pytest.raises(ValidationError, match="may not create or drop schemas"):
            tenant_provision(slug="deltaroles", name="Delta", admin_email="admin@delta.test")
        with pytest.raises(ValidationError, match="may not create or drop schemas"):
            tenant_delete(tenant=tenant_b.tenant, force=True)
        assert not Tenant.objects.filter(schema_name="deltaroles").exists()
    assert Tenant.objects.get(pk=tenant_b.tenant.pk).is_active
