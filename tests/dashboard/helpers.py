"""Signed-in dashboard clients and small page-parsing helpers for the dashboard tests."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.test import Client

from apps.accounts.services import user_create


@dataclass
class Person:
    client: Client
    user_id: int
    username: str


def signed_in(ctx, role: str = "owner", username: str | None = None) -> Person:
    """A browser-like client of ``ctx`` signed in as a user of ``role`` (the tenant's admin for "owner")."""
    User = get_user_model()
    with ctx.context():
        if role == "owner" and username is None:
            user = User.objects.get(username=ctx.admin_username)
        else:
            name = username or f"{role}-user"
            user = User.objects.filter(username=name).first() or user_create(
                username=name, email=f"{name}@example.test", role=role
            )
    client = ctx.client()
    with ctx.context():
        client.force_login(user)
    return Person(client=client, user_id=user.pk, username=user.username)


def json_script(html: str, element_id: str):
    """The JSON a template rendered with ``json_script`` under ``element_id``."""
    match = re.search(rf'<script id="{re.escape(element_id)}" type="application/json">(.*?)</script>', html, re.S)
    assert match, f"no json_script #{element_id}"
    return json.loads(match.group(1))


def text(html: str) -> str:
    """Visible text of an HTML fragment, whitespace collapsed (good enough for assertions)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()
