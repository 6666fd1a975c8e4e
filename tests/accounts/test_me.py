"""``GET /api/v1/me``: who the token belongs to and which organisation the request was routed to."""

from tests.projects.helpers import admin_actor, member_actor


def test_me_describes_the_tokens_user_and_tenant(tenant_a, tenant_b):
    for ctx, actor, role in ((tenant_a, admin_actor(tenant_a), "owner"), (tenant_b, member_actor(tenant_b), "member")):
        with ctx.context():
            from django.contrib.auth import get_user_model

            user = get_user_model().objects.get(pk=actor.user_id)
        response = actor.api.get("/api/v1/me")
        assert response.status_code == 200
        assert response.json() == {
            "id": user.pk,
            "username": user.username,
            "email": user.email,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "role": role,
            "is_service_account": False,
            "tenant": ctx.schema,
        }


def test_the_me_schema_lists_every_field_read_only():
    from drf_spectacular.generators import SchemaGenerator

    me = SchemaGenerator().get_schema(request=None, public=True)["components"]["schemas"]["Me"]
    assert set(me["properties"]) == {"id", "username", "email", "first_name", "last_name", "role",
                                     "is_service_account", "tenant"}  # fmt: skip
    assert set(me["required"]) == set(me["properties"])
    assert all(prop.get("readOnly") for prop in me["properties"].values())
