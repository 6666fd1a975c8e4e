"""The grants API: leads hand out view/change/manage on what they manage; 404 for hidden, 403 for forbidden."""

import pytest
from django.contrib.auth.models import Group

from apps.access import policy
from apps.access.selectors import level_for
from apps.audit.models import AuditEvent
from tests.support.access import make_artifact, make_principal, make_project

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(tenant_a):
    lead = make_principal(tenant_a, "lead")
    member = make_principal(tenant_a, "member")
    viewer = make_principal(tenant_a, "viewer")
    other_lead = make_principal(tenant_a, "lead")
    with tenant_a.context():
        mine = make_project("Lead Project", owner=lead.user)
        private = make_project("Other Private", owner=other_lead.user)
        visible = make_project("Other Visible", owner=other_lead.user, visibility="tenant")
        artifact, _ = make_artifact("lead-artifact", owner=lead.user)
    return {"lead": lead, "member": member, "viewer": viewer, "mine": mine, "private": private,
            "visible": visible, "artifact": artifact}  # fmt: skip


def test_lead_grants_change_and_the_grantee_gains_it(tenant_a, setup):
    lead, member, mine = setup["lead"], setup["member"], setup["mine"]
    api = tenant_a.api(lead.token)
    response = api.post(
        "/api/v1/grants",
        {"object_type": "project", "object_id": mine.pk, "user": member.user.pk, "level": "change"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json() == {"principal_type": "user", "principal_id": member.user.pk,
                               "principal": member.user.username, "level": "change"}  # fmt: skip
    with tenant_a.context():
        assert level_for(member.user, mine) == policy.CHANGE
        event = AuditEvent.objects.get(
            action="grant.changed", object_id=str(mine.pk), extra__principal_id=member.user.pk
        )
        assert event.actor_username == lead.user.username and event.actor_token == lead.token.split("_")[2]
        assert event.changes == {"level": {"before": None, "after": "change"}}
    listed = api.get(f"/api/v1/grants?object_type=project&object_id={mine.pk}").json()
    assert {"principal": member.user.username, "level": "change", "principal_type": "user",
            "principal_id": member.user.pk} in listed["results"]  # fmt: skip
    assert len(listed["results"]) == 1  # the owner's rights come from ownership, not from a grant
    deleted = api.delete(f"/api/v1/grants?object_type=project&object_id={mine.pk}&user={member.user.pk}")
    assert deleted.status_code == 204
    with tenant_a.context():
        assert level_for(member.user, mine) is None
        assert AuditEvent.objects.filter(action="grant.changed", object_id=str(mine.pk)).count() == 2


def test_group_grants_on_artifacts(tenant_a, setup):
    lead, viewer, artifact = setup["lead"], setup["viewer"], setup["artifact"]
    with tenant_a.context():
        group = Group.objects.create(name="curators")
        viewer.user.groups.add(group)
    response = tenant_a.api(lead.token).post(
        "/api/v1/grants",
        {"object_type": "artifact", "object_id": artifact.pk, "group": group.pk, "level": "manage"},
        format="json",
    )
    assert response.status_code == 200
    with tenant_a.context():
        assert level_for(viewer.user, artifact) == policy.MANAGE


def test_hidden_objects_are_404_and_visible_unmanaged_objects_are_403(tenant_a, setup):
    lead, member = setup["lead"], setup["member"]
    api = tenant_a.api(lead.token)
    body = {"object_type": "project", "user": member.user.pk, "level": "view"}
    hidden = api.post("/api/v1/grants", {**body, "object_id": setup["private"].pk}, format="json")
    missing = api.post("/api/v1/grants", {**body, "object_id": 987654}, format="json")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json()  # the same answer: existence is not revealed
    forbidden = api.post("/api/v1/grants", {**body, "object_id": setup["visible"].pk}, format="json")
    assert forbidden.status_code == 403
    assert "manage" in forbidden.json()["detail"]
    listing = api.get(f"/api/v1/grants?object_type=project&object_id={setup['private'].pk}")
    assert listing.status_code == 404


def test_members_cannot_grant_even_on_what_they_created(tenant_a, setup):
    member = setup["member"]
    with tenant_a.context():
        own = make_project("Member Project", owner=member.user)
    response = tenant_a.api(member.token).post(
        "/api/v1/grants",
        {"object_type": "project", "object_id": own.pk, "user": setup["viewer"].user.pk, "level": "view"},
        format="json",
    )
    assert response.status_code == 403
    assert response.json()["detail"] == "The member role may not create object permission grants."


def test_grant_requests_name_the_bad_field(tenant_a, setup):
    api = tenant_a.api(setup["lead"].token)
    mine = setup["mine"].pk
    cases = [
        ({"object_type": "run", "object_id": mine, "user": 1, "level": "view"}, "object_type"),
        ({"object_type": "project", "object_id": "x", "user": 1, "level": "view"}, "object_id"),
        ({"object_type": "project", "object_id": mine, "level": "view"}, "user"),
        ({"object_type": "project", "object_id": mine, "user": 1, "group": 1, "level": "view"}, "user"),
        ({"object_type": "project", "object_id": mine, "user": 1, "level": "owner"}, "level"),
    ]
    for body, field in cases:
        response = api.post("/api/v1/grants", body, format="json")
        assert response.status_code == 400, body
        assert response.json()["errors"][0]["field"] == field, body
    assert api.get("/api/v1/grants").json()["errors"][0]["field"] == "object_type"
    nobody = api.post("/api/v1/grants", {"object_type": "project", "object_id": mine, "user": 99999, "level": "view"},
                      format="json")  # fmt: skip
    assert nobody.status_code == 404


def test_write_token_cannot_change_grants(tenant_a, setup):
    lead_write = make_principal(tenant_a, "lead", scope="write")
    with tenant_a.context():
        project = make_project("Write Scoped", owner=lead_write.user)
    response = tenant_a.api(lead_write.token).post(
        "/api/v1/grants",
        {"object_type": "project", "object_id": project.pk, "user": setup["member"].user.pk, "level": "view"},
        format="json",
    )
    assert response.status_code == 403
    assert "'admin' token is needed" in response.json()["detail"]
