"""Audit events are append-only, enforced by PostgreSQL: a trigger refuses every UPDATE and DELETE.

Runs in every tenant schema (the app is a tenant app), so the function and trigger live next to each schema's
table. What this prevents is any application code path — ORM, admin, raw SQL through the app — from rewriting or
erasing history. The table's owner could still drop the trigger: migration 0003 adds TRUNCATE and the hash chain,
and in the production role split (docs/operations.md) web and workers connect as a role that owns nothing.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION audit_event_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only: % on audit_auditevent refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_event_append_only
    BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_event_refuse_change();
"""

DROP = """
DROP TRIGGER IF EXISTS audit_event_append_only ON audit_auditevent;
DROP FUNCTION IF EXISTS audit_event_refuse_change();
"""


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunSQL(CREATE, DROP)]
