"""Seed data for the tenant-isolation test over every route (tests/access/test_isolation.py).

Each seeder creates, inside the tenant schema it is called in, objects whose text fields carry ``marker`` and returns
extra strings that identify them (secrets, prefixes). Areas with their own models append a seeder to ``SEEDERS`` so
the isolation test has their data to look for in the other tenant's responses.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.models import Group

from apps.accounts.services import token_create, user_create


def seed_accounts(marker: str) -> list[str]:
    person = user_create(username=f"{marker}-person", email=f"{marker}@example.test", first_name=marker, role="lead")
    robot = user_create(username=f"{marker}-robot", is_service_account=True)
    group = Group.objects.create(name=f"{marker}-group")
    person.groups.add(group)
    found = []
    for user in (person, robot):
        created = token_create(user=user, name=f"{marker}-token")
        found += [created.token.prefix, created.plaintext]
    return found


def seed_projects(marker: str) -> list[str]:
    from apps.access.services import grant_set
    from apps.accounts.models import User
    from tests.support.access import make_artifact, make_project, make_run_with_metric

    person = User.objects.get(username=f"{marker}-person")
    project = make_project(f"{marker} project", owner=person, visibility="tenant", team=[person])
    make_run_with_metric(project, key=f"{marker}-loss")
    _artifact, _ = make_artifact(f"{marker}-artifact", owner=person)
    owner = User.objects.filter(role="owner").first()
    grant_set(actor=owner, obj=project, level="view", user=User.objects.get(username=f"{marker}-robot"))
    return [f"{marker}-artifact"]


SEEDERS: list[Callable[[str], list[str]]] = [seed_accounts, seed_projects]


def seed(ctx, marker: str) -> list[str]:
    """Run every seeder in ``ctx``'s schema; return the strings that must never appear outside it."""
    fingerprints = [marker, ctx.tenant.name]
    with ctx.context():
        for seeder in SEEDERS:
            fingerprints += seeder(marker)
    return fingerprints
