"""API clients with real tokens for the project and artifact tests."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from apps.accounts.services import token_create, user_create


@dataclass
class Actor:
    api: APIClient
    user_id: int
    username: str


def admin_actor(ctx) -> Actor:
    """The tenant's first admin (role owner) with a fresh admin-scope token."""
    with ctx.context():
        user = get_user_model().objects.get(username=ctx.admin_username)
        token = token_create(user=user, name="test", scope="admin").plaintext
    return Actor(api=ctx.api(token), user_id=user.pk, username=user.username)


def member_actor(ctx, username: str = "member") -> Actor:
    """A plain member of the tenant with a fresh token."""
    with ctx.context():
        user = user_create(username=username, email=f"{username}@example.test", role="member")
        token = token_create(user=user, name="test").plaintext
    return Actor(api=ctx.api(token), user_id=user.pk, username=user.username)


@pytest.fixture
def admin(tenant_a) -> Actor:
    """Tenant A's admin with a token (a fixture shared by the project and artifact tests through their conftest)."""
    return admin_actor(tenant_a)
