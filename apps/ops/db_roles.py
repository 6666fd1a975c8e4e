"""The production database-role split: an owner role that runs migrations, and a runtime role for web and workers.

The audit trail's append-only triggers hold against any code path of the application, but a role that *owns* the
audit table can drop or disable them. In production the web processes and workers therefore connect as a runtime
role that owns nothing: it reads and writes every tenant table (``SELECT, INSERT, UPDATE, DELETE``), but only
``SELECT`` and ``INSERT`` the append-only tables (audit events and their seals), never ``TRUNCATE``, and — not being
the owner — cannot ``ALTER`` or ``DROP`` their triggers. Migrations, tenant provisioning, import and drop (all of
which create or drop schemas and tables) run as the owner.

``runtime_role_grant`` applies that to every existing schema and sets the owner's default privileges, so tables
and schemas the owner creates later (a new tenant's migrations) are granted too; audit migration 0003 then revokes
``UPDATE``/``DELETE`` on the new schema's append-only tables from every role but the owner, so a new tenant needs no
extra step. Idempotent: run it after every ``migrate_schemas`` to be safe.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django_tenants.utils import get_public_schema_name

from apps.audit.models import APPEND_ONLY_MODELS
from apps.tenants.models import Tenant


@dataclass(frozen=True)
class RoleGrantResult:
    role: str
    schemas: list[str]
    statements: list[str]


def _qn(name: str) -> str:
    return connection.ops.quote_name(name)


def runtime_role_statements(role: str, schemas: list[str]) -> list[str]:
    """The GRANT/REVOKE statements that give ``role`` the runtime privileges on ``schemas`` (and later ones)."""
    target = _qn(role)
    public = get_public_schema_name()
    statements = []
    for schema in schemas:
        name = _qn(schema)
        statements += [
            f"GRANT USAGE ON SCHEMA {name} TO {target}",
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {name} TO {target}",
            f"REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA {name} FROM {target}",
            f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {name} TO {target}",
        ]
        if schema != public:  # the audit trail is a tenant app: each tenant schema has its own tables
            statements += [
                f"REVOKE UPDATE, DELETE ON {name}.{_qn(model._meta.db_table)} FROM {target}"
                for model in APPEND_ONLY_MODELS
            ]
    statements += [
        f"ALTER DEFAULT PRIVILEGES GRANT USAGE ON SCHEMAS TO {target}",
        f"ALTER DEFAULT PRIVILEGES GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {target}",
        f"ALTER DEFAULT PRIVILEGES GRANT USAGE, SELECT ON SEQUENCES TO {target}",
    ]
    return statements


def runtime_role_grant(*, role: str) -> RoleGrantResult:
    """Give the existing database role ``role`` the runtime privileges on the platform schema and every tenant
    schema, and on what the current (owner) role creates later. Refuses the current role itself and superusers."""
    role = (role or "").strip()
    if not role:
        raise ValidationError({"role": "Name the runtime database role (e.g. maestro_app)."})
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [role])
        row = cursor.fetchone()
        cursor.execute("SELECT current_user")
        (owner,) = cursor.fetchone()
    if row is None:
        raise ValidationError({"role": f"There is no database role '{role}'; create it first (CREATE ROLE ... LOGIN)."})
    if row[0] or role == owner:
        raise ValidationError(
            {
                "role": f"'{role}' is {'a superuser' if row[0] else 'the role running this command'}: the runtime role "
                "must be a separate role that owns nothing."
            }
        )
    schemas = [
        get_public_schema_name(),
        *Tenant.objects.exclude(schema_name=get_public_schema_name())
        .order_by("schema_name")
        .values_list("schema_name", flat=True),
    ]
    statements = runtime_role_statements(role, schemas)
    with transaction.atomic(), connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
    return RoleGrantResult(role=role, schemas=schemas, statements=statements)
