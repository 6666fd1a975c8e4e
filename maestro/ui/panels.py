"""Page slots that apps higher in the layer map fill: a domain page shows what an engine knows about its object
without importing the engine.

The project page shows the recommender's prediction for the project and the artifact page the artifact's measured
impact. Projects and artifacts sit below the recommendation engine, so their views may not import it; instead the
engine registers a *context provider* for the page's named slot at start-up (``AppConfig.ready``) and the page asks
this registry for the slot's context. Without the engine installed the slot is simply empty (the templates already
say "no prediction yet" / "no impact computed").

A provider is ``provider(*, user, obj) -> dict``: extra template context, already permission-scoped for ``user``.
Slots in use: ``"projects.detail"`` (obj: the Project) and ``"artifacts.detail"`` (obj: the Artifact).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Provider = Callable[..., dict[str, Any]]

_PROVIDERS: dict[str, list[Provider]] = {}


def register(slot: str, provider: Provider) -> None:
    """Add ``provider`` to ``slot`` (idempotent: registering the same function twice keeps one)."""
    providers = _PROVIDERS.setdefault(slot, [])
    if provider not in providers:
        providers.append(provider)


def context(slot: str, *, user, obj) -> dict[str, Any]:
    """The template context every provider of ``slot`` contributes for ``obj`` as seen by ``user``, merged in
    registration order."""
    merged: dict[str, Any] = {}
    for provider in _PROVIDERS.get(slot, ()):
        merged.update(provider(user=user, obj=obj))
    return merged
