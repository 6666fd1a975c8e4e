"""Personal data out of the append-only audit rows, a hash chain of seals, and TRUNCATE refused as well.

Before this migration every AuditEvent carried the actor's username, client address and user agent, and personal
text (a user's username, names and e-mail in ``object_repr`` and ``changes``; the username typed into a failed
login; a grant's user) — none of which a privacy erasure could remove from an append-only table. In every tenant
schema, inside this migration's one transaction:

1. ``AuditIdentity`` (actor id → username, from each actor's latest event) and ``AuditEventDetail`` (address, agent,
   personal text and the user it is about) are created and filled from the events;
2. the personal text of existing events moves into their details, leaving neutral labels (``user #42``) and
   markers (``‹personal›``) in the events. This is the one time events are rewritten: the append-only trigger is
   disabled for that UPDATE and enabled again before the transaction commits (only the table's owner can do
   this, which is why migrations run as the owner role; see docs/operations.md, "Database roles");
3. users erased before this release (inactive, unusable password, no e-mail, username ``user-<16 hex>``) get the
   erasure of the trail they could not get then;
4. ``actor_username``, ``ip`` and ``user_agent`` are dropped; ``actor_id`` becomes a reference (no database
   constraint) to the identity;
5. ``AuditSeal`` is created. There was no chain before, so nothing is re-anchored: the first sealing run seals
   every event as it is after step 2, starting from the genesis digest (``apps/audit/chain.py``);
6. TRUNCATE of the events is refused by a statement trigger, UPDATE/DELETE/TRUNCATE of the seals likewise, and
   UPDATE, DELETE, TRUNCATE, REFERENCES and TRIGGER on both tables are revoked from every role but the owner — so a
   runtime role that default privileges give SELECT/INSERT/UPDATE/DELETE on new tables keeps SELECT and INSERT
   only, in this schema and in every schema created later.

Not reversible: the personal text moved in step 2 is not put back into the events.
"""

import json

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

PERSONAL = "‹personal›"
# object_type → (label in the event, personal fields, table whose row names the user, or None: the object is one)
PERSONAL_TYPES = {
    "accounts.user": ("user", {"username", "first_name", "last_name", "email"}, None),
    "accounts.apitoken": ("token", {"name"}, "accounts_apitoken"),
    "projects.teammember": ("team_member", {"display_name"}, "projects_teammember"),
}
NAMED_IN_EXTRA = {"auth.login_failed": "username", "auth.lockout": "username", "grant.changed": "principal"}


def _json(value):
    return json.loads(value) if isinstance(value, str) else (value or {})


def _marker(value):
    return value if value in (None, "", [], {}) else PERSONAL


def _subject(cursor, users_by_name, object_type, object_id, changes, extra, action):
    if action == "grant.changed":
        return extra.get("principal_id") if extra.get("principal_type") == "user" else None
    if object_type == "accounts.user":
        if object_id.isdigit():
            return int(object_id)
        return users_by_name.get(extra.get("username"))
    kind = PERSONAL_TYPES.get(object_type)
    if kind is None or not object_id.isdigit():
        return None
    user = changes.get("user") if isinstance(changes.get("user"), dict) else {}
    for key in ("after", "before"):
        if isinstance(user.get(key), int):
            return user[key]
    cursor.execute(f"SELECT user_id FROM {kind[2]} WHERE id = %s", [int(object_id)])  # noqa: S608
    row = cursor.fetchone()
    return row[0] if row else None


def move_personal_data(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_auditidentity (actor_id, username) "
            "SELECT DISTINCT ON (actor_id) actor_id, actor_username FROM audit_auditevent "
            "WHERE actor_id IS NOT NULL ORDER BY actor_id, id DESC"
        )
        cursor.execute(
            "INSERT INTO audit_auditeventdetail (event_id, ip, user_agent, object_repr, changes, extra) "
            "SELECT id, ip, user_agent, '', '{}', '{}' FROM audit_auditevent WHERE ip IS NOT NULL OR user_agent <> ''"
        )
        cursor.execute("SELECT username, id FROM accounts_user")
        users_by_name = dict(cursor.fetchall())
        cursor.execute(
            "SELECT id, action, object_type, object_id, object_repr, changes, extra FROM audit_auditevent "
            "WHERE object_type = ANY(%s) OR action = ANY(%s) ORDER BY id",
            [list(PERSONAL_TYPES), list(NAMED_IN_EXTRA)],
        )
        rows = cursor.fetchall()
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
        for event_id, action, object_type, object_id, object_repr, changes, extra in rows:
            changes, extra = _json(changes), _json(extra)
            subject = _subject(cursor, users_by_name, object_type, object_id, changes, extra, action)
            label, fields, _table = PERSONAL_TYPES.get(object_type, ("", set(), None))
            personal_repr = object_repr if label and object_repr else ""
            if personal_repr:
                object_repr = f"{label} #{object_id}" if object_id else ""
            personal_changes, masked = {}, False
            for name in fields & set(changes):
                if isinstance(changes[name], dict):
                    if object_id:  # one object: kept for its subject; a bulk event's values are dropped
                        personal_changes[name] = changes[name]
                    changes[name] = {key: _marker(value) for key, value in changes[name].items()}
                    masked = True
            personal_extra = {}
            key = NAMED_IN_EXTRA.get(action)
            if key and key in extra and (action != "grant.changed" or extra.get("principal_type") == "user"):
                personal_extra[key] = extra.pop(key)
            if not (personal_repr or masked or personal_extra or subject is not None):
                continue
            cursor.execute(
                "UPDATE audit_auditevent SET object_repr = %s, changes = %s::jsonb, extra = %s::jsonb WHERE id = %s",
                [object_repr, json.dumps(changes), json.dumps(extra), event_id],
            )
            cursor.execute(
                "INSERT INTO audit_auditeventdetail "
                "(event_id, subject_id, ip, user_agent, object_repr, changes, extra) "
                "VALUES (%s, %s, NULL, '', %s, %s::jsonb, %s::jsonb) ON CONFLICT (event_id) DO UPDATE SET "
                "subject_id = EXCLUDED.subject_id, object_repr = EXCLUDED.object_repr, changes = EXCLUDED.changes, "
                "extra = EXCLUDED.extra",
                [event_id, subject, personal_repr[:200], json.dumps(personal_changes), json.dumps(personal_extra)],
            )
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")
        cursor.execute(
            "SELECT id FROM accounts_user WHERE NOT is_active AND email = '' AND password LIKE '!%' "
            "AND username ~ '^user-[0-9a-f]{16}$'"
        )
        erased = [row[0] for row in cursor.fetchall()]
        if erased:
            cursor.execute(
                "INSERT INTO audit_auditidentity (actor_id, username, erased_at) "
                "SELECT unnest(%s::bigint[]), '', now() "
                "ON CONFLICT (actor_id) DO UPDATE SET username = '', erased_at = now()",
                [erased],
            )
            cursor.execute(
                "UPDATE audit_auditeventdetail d SET ip = NULL, user_agent = '' FROM audit_auditevent e "
                "WHERE e.id = d.event_id AND (e.actor_id = ANY(%s) OR (d.subject_id = ANY(%s) AND e.actor_id IS NULL))",
                [erased, erased],
            )
            cursor.execute(
                "UPDATE audit_auditeventdetail SET object_repr = 'erased user #' || subject_id "
                "WHERE subject_id = ANY(%s) AND object_repr <> ''",
                [erased],
            )
            cursor.execute(
                "UPDATE audit_auditeventdetail SET changes = '{}', extra = '{}' WHERE subject_id = ANY(%s)", [erased]
            )
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


TRIGGERS = """
CREATE OR REPLACE FUNCTION audit_event_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_event_no_truncate
    BEFORE TRUNCATE ON audit_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION audit_event_refuse_change();
CREATE TRIGGER audit_seal_append_only
    BEFORE UPDATE OR DELETE ON audit_auditseal
    FOR EACH ROW EXECUTE FUNCTION audit_event_refuse_change();
CREATE TRIGGER audit_seal_no_truncate
    BEFORE TRUNCATE ON audit_auditseal
    FOR EACH STATEMENT EXECUTE FUNCTION audit_event_refuse_change();
DO $$
DECLARE
    grant_row record;
BEGIN
    FOR grant_row IN
        SELECT DISTINCT c.relname,
               CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END AS grantee
        FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a
        WHERE c.oid IN ('audit_auditevent'::regclass, 'audit_auditseal'::regclass)
          AND a.grantee <> c.relowner
          AND a.privilege_type IN ('UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER')
    LOOP
        EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON %I FROM %s',
                       grant_row.relname, grant_row.grantee);
    END LOOP;
END;
$$;
"""

UNDO_TRIGGERS = """
DROP TRIGGER IF EXISTS audit_seal_no_truncate ON audit_auditseal;
DROP TRIGGER IF EXISTS audit_seal_append_only ON audit_auditseal;
DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_auditevent;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_append_only"),
        ("accounts", "0001_initial"),
        ("projects", "0002_list_indexes_scoring_singleton"),
    ]

    operations = [
        migrations.CreateModel(
            name="AuditIdentity",
            fields=[
                (
                    "actor_id",
                    models.BigIntegerField(
                        help_text="The user's id, as stored on audit events.", primary_key=True, serialize=False
                    ),
                ),
                ("username", models.CharField(blank=True, max_length=150)),
                ("erased_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={"verbose_name_plural": "audit identities"},
        ),
        migrations.CreateModel(
            name="AuditEventDetail",
            fields=[
                (
                    "event",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        primary_key=True,
                        related_name="detail",
                        serialize=False,
                        to="audit.auditevent",
                    ),
                ),
                (
                    "subject_id",
                    models.BigIntegerField(blank=True, db_index=True, help_text="The user this is about.", null=True),
                ),
                ("ip", models.GenericIPAddressField(blank=True, null=True)),
                ("user_agent", models.CharField(blank=True, max_length=300)),
                ("object_repr", models.CharField(blank=True, max_length=200)),
                ("changes", models.JSONField(blank=True, default=dict)),
                ("extra", models.JSONField(blank=True, default=dict)),
            ],
        ),
        migrations.RunPython(move_personal_data),
        migrations.RemoveField(model_name="auditevent", name="actor_username"),
        migrations.RemoveField(model_name="auditevent", name="ip"),
        migrations.RemoveField(model_name="auditevent", name="user_agent"),
        migrations.AlterField(
            model_name="auditevent",
            name="object_repr",
            field=models.CharField(blank=True, help_text="Without personal text (see the detail).", max_length=200),
        ),
        # The column stays actor_id (bigint, nullable): only Django's view of it changes.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(model_name="auditevent", name="audit_actor_idx"),
                migrations.RemoveField(model_name="auditevent", name="actor_id"),
                migrations.AddField(
                    model_name="auditevent",
                    name="actor",
                    field=models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        db_index=False,
                        help_text="The acting user's id (pseudonymous; the name is in the audit identity).",
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="events",
                        to="audit.auditidentity",
                    ),
                ),
                migrations.AddIndex(
                    model_name="auditevent",
                    index=models.Index(fields=["actor", "-occurred_at"], name="audit_actor_idx"),
                ),
            ],
        ),
        migrations.CreateModel(
            name="AuditSeal",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("version", models.PositiveSmallIntegerField(default=1)),
                ("previous", models.CharField(max_length=64)),
                ("digest", models.CharField(max_length=64)),
                ("sealed_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "event",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.DO_NOTHING, related_name="seal", to="audit.auditevent"
                    ),
                ),
            ],
            options={"ordering": ["id"]},
        ),
        migrations.RunSQL(TRIGGERS, UNDO_TRIGGERS),
    ]
