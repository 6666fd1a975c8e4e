"""Audit migration 0003 on rows written in the old shape (actor name, address and agent on every event, personal
text in object_repr/changes/extra): the rows move into the new shape, users erased before the release get the trail's
erasure, and the migrated trail seals and verifies. Runs the real migrations in a scratch schema."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from apps.audit.chain import audit_chain_verify, audit_seal
from apps.audit.models import PERSONAL, AuditEvent, AuditIdentity

pytestmark = pytest.mark.django_db

SCHEMA = "auditmig"
BEFORE = [
    ("audit", "0002_append_only"),
    ("accounts", "0001_initial"),
    ("projects", "0002_list_indexes_scoring_singleton"),
]
AFTER = [("audit", "0003_personal_data_apart_and_seals")]
COLUMNS = ("action", "category", "object_type", "object_id", "object_repr", "actor_type", "actor_id", "actor_username",
           "source", "changes", "extra", "ip", "user_agent")  # fmt: skip


def _old_event(cursor, **values) -> int:
    row = {"category": "data", "object_type": "", "object_id": "", "object_repr": "", "actor_type": "system",
           "actor_id": None, "actor_username": "", "source": "system", "changes": {}, "extra": {}, "ip": None,
           "user_agent": "", **values}  # fmt: skip
    cursor.execute(
        f"INSERT INTO audit_auditevent (occurred_at, actor_token, request_id, {', '.join(COLUMNS)}) "
        f"VALUES (now(), '', '', {', '.join(['%s'] * len(COLUMNS))}) RETURNING id",
        [json.dumps(row[c]) if c in ("changes", "extra") else row[c] for c in COLUMNS],
    )
    return cursor.fetchone()[0]


@pytest.fixture
def old_schema(tenant_a):
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA "{SCHEMA}"')
    connection.set_schema(SCHEMA)
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    yield executor.loader.project_state(BEFORE).apps
    connection.set_schema_to_public()


def test_old_rows_move_into_the_new_shape_and_the_migrated_trail_verifies(old_schema):
    User = old_schema.get_model("accounts", "User")
    ApiToken = old_schema.get_model("accounts", "ApiToken")
    carol = User.objects.create(username="carol", email="carol@example.test", first_name="Carol", password="x")
    # erased by the old erase_user_data: pseudonymous name, no e-mail, unusable password, inactive
    dave = User.objects.create(username="user-0123456789abcdef", email="", password="!unusable", is_active=False)
    token = ApiToken.objects.create(user=carol, name="Carol's laptop", prefix="abcd1234", key_hash="0" * 64)
    with connection.cursor() as cursor:
        created = _old_event(cursor, action="user.created", category="security", object_type="accounts.user",
                             object_id=str(carol.pk), object_repr="carol",
                             changes={"username": {"before": None, "after": "carol"},
                                      "email": {"before": None, "after": "carol@example.test"},
                                      "role": {"before": None, "after": "member"}})  # fmt: skip
        login = _old_event(cursor, action="auth.login", category="security", object_type="accounts.user",
                           object_id=str(carol.pk), object_repr="carol", actor_type="user", actor_id=carol.pk,
                           actor_username="carol", source="dashboard", ip="203.0.113.7",
                           user_agent="CarolAgent/1")  # fmt: skip
        failed = _old_event(cursor, action="auth.login_failed", category="security", object_type="accounts.user",
                            object_repr="carol", actor_type="anonymous", source="dashboard",
                            extra={"username": "carol", "locked_out": False}, ip="203.0.113.7",
                            user_agent="CarolAgent/1")  # fmt: skip
        granted = _old_event(cursor, action="grant.changed", category="security", object_type="projects.project",
                             object_id="5", object_repr="Churn",
                             extra={"principal_type": "user", "principal_id": carol.pk,
                                    "principal": "carol"})  # fmt: skip
        tokened = _old_event(cursor, action="token.updated", category="security", object_type="accounts.apitoken",
                             object_id=str(token.pk), object_repr="Carol's laptop (abcd1234…)",
                             changes={"name": {"before": "laptop", "after": "Carol's laptop"}})  # fmt: skip
        bulk = _old_event(cursor, action="user.bulk_updated", category="security", object_type="accounts.user",
                          changes={"username": {"before": ["carol", "erin"], "after": "x"}})  # fmt: skip
        by_dave = _old_event(cursor, action="project.created", object_type="projects.project", object_id="6",
                             object_repr="Forecast", actor_type="user", actor_id=dave.pk, actor_username="dave",
                             source="api", ip="198.51.100.9", user_agent="DaveAgent/2")  # fmt: skip
        about_dave = _old_event(cursor, action="user.updated", category="security", object_type="accounts.user",
                                object_id=str(dave.pk), object_repr="user-0123456789abcdef",
                                changes={"username": {"before": "dave", "after": "user-0123456789abcdef"}})  # fmt: skip

    MigrationExecutor(connection).migrate(AFTER)

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
            "AND table_name = 'audit_auditevent'",
            [SCHEMA],
        )
        assert not {"actor_username", "ip", "user_agent"} & {row[0] for row in cursor.fetchall()}
        cursor.execute("SELECT t::text FROM audit_auditevent t")
        events_text = "\n".join(row[0] for row in cursor.fetchall()).lower()
        cursor.execute(
            "SELECT t::text FROM audit_auditeventdetail t UNION ALL SELECT t::text FROM audit_auditidentity t"
        )
        erasable_text = "\n".join(row[0] for row in cursor.fetchall()).lower()
    for needle in ("carol", "dave", "203.0.113.7", "198.51.100.9", "agent/"):
        assert needle not in events_text, needle  # the append-only rows hold no personal data any more
    assert "carol" in erasable_text and "203.0.113.7" in erasable_text and "carolagent/1" in erasable_text
    for needle in ("dave", "198.51.100.9", "daveagent"):
        assert needle not in erasable_text, needle  # erased before the release: erased now

    event = {e.pk: e for e in AuditEvent.objects.all()}
    assert (event[created].object_repr, event[created].display_repr) == (f"user #{carol.pk}", "carol")
    assert event[created].changes["username"] == {"before": None, "after": PERSONAL}
    assert event[created].display_changes["email"]["after"] == "carol@example.test"
    assert event[created].changes["role"] == {"before": None, "after": "member"}
    assert (event[login].actor_username, event[login].ip, event[login].user_agent) == (
        "carol", "203.0.113.7", "CarolAgent/1",
    )  # fmt: skip
    assert event[failed].display_extra == {"username": "carol", "locked_out": False}
    assert event[failed].extra == {"locked_out": False} and event[failed].detail.subject_id == carol.pk
    assert "principal" not in event[granted].extra and event[granted].display_extra["principal"] == "carol"
    assert event[granted].display_repr == "Churn" and event[granted].detail.subject_id == carol.pk
    assert event[tokened].detail.subject_id == carol.pk and event[tokened].display_repr.startswith("Carol's laptop")
    assert event[bulk].display_changes["username"] == {"before": PERSONAL, "after": PERSONAL}  # no subject: dropped
    assert event[by_dave].actor_username == f"erased user #{dave.pk}" and event[by_dave].ip is None
    assert event[about_dave].display_repr == f"erased user #{dave.pk}"
    assert event[about_dave].display_changes["username"] == {"before": PERSONAL, "after": PERSONAL}
    assert AuditIdentity.objects.get(actor_id=carol.pk).username == "carol"

    sealed = audit_seal()
    assert sealed.sealed == len(event)
    assert audit_chain_verify().ok
