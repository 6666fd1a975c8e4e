"""Writing an event is one SQL statement (identity, event and detail together) that stores exactly what the event
it returns says, follows renames but never un-erases an identity, and commits or rolls back with its caller."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from apps.audit.context import AuditContextMiddleware, audit_actor
from apps.audit.models import AuditEvent, AuditEventDetail, AuditIdentity
from apps.audit.services import MASK, audit_person_erase, audit_security_event, record
from tests.support.access import make_principal

pytestmark = pytest.mark.django_db


def _in_request(user, call):
    """Run ``call`` as the audit context of a dashboard request by ``user`` from 10.1.2.3."""
    request = RequestFactory().post("/projects/", REMOTE_ADDR="10.1.2.3", HTTP_USER_AGENT="writing-test/1.0")
    request.user = user
    return AuditContextMiddleware(lambda _request: call())(request)


@pytest.mark.parametrize("by_user", [True, False], ids=["by-user", "by-system"])
@pytest.mark.parametrize("with_detail", [True, False], ids=["with-detail", "without-detail"])
def test_an_event_is_written_in_one_statement_and_reads_back_as_returned(tenant_a, tenant_b, by_user, with_detail):
    member = make_principal(tenant_a, "member")
    fields = {"object_type": "x", "object_id": 7, "object_repr": "thing", "extra": {"api_token": "s3cret", "n": 2}}
    if with_detail:
        fields |= {"subject_id": member.user.pk, "personal_extra": {"username": "carol"}}
    with tenant_a.context():
        connection.cursor().close()  # django-tenants sets the search_path on the schema's first cursor: not counted
        with CaptureQueriesContext(connection) as queries:
            if by_user:
                event = _in_request(member.user, lambda: record("test.written", **fields))
            else:
                event = record("test.written", **fields)
        assert len(queries) == 1, [query["sql"] for query in queries]
        stored = AuditEvent.objects.get(pk=event.pk)
        assert stored.shown() == event.shown()
        assert stored.extra == {"api_token": MASK, "n": 2}
        assert AuditEventDetail.objects.filter(event_id=event.pk).exists() == (by_user or with_detail)
        if by_user:
            assert (stored.actor_type, stored.actor_id, stored.source) == ("user", member.user.pk, "dashboard")
            assert (stored.actor_username, stored.ip, stored.user_agent) == (
                member.user.username,
                "10.1.2.3",
                "writing-test/1.0",
            )
        else:
            assert (stored.actor_type, stored.actor_id, stored.ip) == ("system", None, None)
        if with_detail:
            assert stored.detail.subject_id == member.user.pk
            assert stored.display_extra == {"api_token": MASK, "n": 2, "username": "carol"}
            assert "username" not in stored.extra  # personal text only in the erasable detail
    with tenant_b.context():  # one statement text for every tenant: the search_path alone routes it
        assert not AuditEvent.objects.filter(action="test.written").exists()
        assert not AuditIdentity.objects.filter(actor_id=member.user.pk, username=member.user.username).exists()


def test_the_identity_follows_a_rename_and_an_erased_one_stays_erased(tenant_a):
    member = make_principal(tenant_a, "member")
    user = member.user
    with tenant_a.context():
        with audit_actor(user):
            record("test.before_rename", object_type="x", object_id=1)
        assert AuditIdentity.objects.get(actor_id=user.pk).username == user.username
        user.username = "renamed-member"
        with audit_actor(user):
            record("test.after_rename", object_type="x", object_id=1)
        assert AuditIdentity.objects.get(actor_id=user.pk).username == "renamed-member"
        audit_person_erase(user_id=user.pk)
        with audit_actor(user):
            event = record("test.after_erasure", object_type="x", object_id=1)
        identity = AuditIdentity.objects.get(actor_id=user.pk)
        assert (identity.username, identity.label) == ("", f"erased user #{user.pk}")
        assert AuditEvent.objects.get(pk=event.pk).actor_username == f"erased user #{user.pk}"


def test_an_event_rolls_back_with_the_write_it_records(tenant_a):
    member = make_principal(tenant_a, "member")
    with tenant_a.context():
        before = AuditEvent.objects.count()
        with pytest.raises(RuntimeError), transaction.atomic():
            _in_request(member.user, lambda: record("test.rolled_back", object_type="x", object_id=1))
            raise RuntimeError("the recorded write failed")
        assert AuditEvent.objects.count() == before
        assert not AuditEvent.objects.filter(action="test.rolled_back").exists()


def test_a_security_event_that_cannot_be_written_leaves_nothing_and_the_transaction_usable(tenant_a):
    member = make_principal(tenant_a, "member")
    with tenant_a.context():
        events, details = AuditEvent.objects.count(), AuditEventDetail.objects.count()
        with transaction.atomic():
            # An action longer than its column: the statement fails after the identity part could have run.
            failed = _in_request(member.user, lambda: audit_security_event("x" * 65, object_type="x", object_id=1))
            assert failed is None
            written = _in_request(member.user, lambda: audit_security_event("test.after", object_type="x"))
        assert (AuditEvent.objects.count(), AuditEventDetail.objects.count()) == (events + 1, details + 1)
        assert AuditEvent.objects.get(pk=written.pk).action == "test.after"
