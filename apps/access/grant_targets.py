"""The kinds of object that carry grants (projects, artifacts), as the apps that own them declare them.

The grants page (``/manage/grants``) finds and loads the object to grant on, but the access app sits below the domain
apps in the layer map and imports none of them. Each owning app registers its kind here from ``AppConfig.ready``,
with the selector that scopes its objects to the acting user, so the page reaches them only through the owner's own
permission gate (an object the user cannot see is a 404, as on the owner's pages).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import QuerySet


@dataclass(frozen=True)
class GrantTarget:
    kind: str  # the model name: ``?object_type=<kind>`` on the grants page
    plural: str  # the key of this kind's search results on the chooser page
    visible_to: Callable[..., QuerySet]  # the owner's selector: visible_to(user=...) -> what that user may see


_TARGETS: dict[str, GrantTarget] = {}


def register_grant_target(kind: str, *, plural: str, visible_to: Callable[..., QuerySet]) -> None:
    """Let grants be managed on objects of ``kind`` (the model's name); registering a kind again replaces it."""
    _TARGETS[kind] = GrantTarget(kind=kind, plural=plural, visible_to=visible_to)


def grant_target(kind: str) -> GrantTarget | None:
    return _TARGETS.get(kind)


def grant_targets() -> list[GrantTarget]:
    """The registered kinds, in registration order (the apps' order in INSTALLED_APPS)."""
    return list(_TARGETS.values())
