"""Webhook payload parsing per provider. ``parse`` is pure: it never touches the database."""

from __future__ import annotations

from typing import Any

from apps.integrations.choices import Provider
from apps.integrations.providers import github, gitlab
from apps.integrations.providers.base import Parsed, PayloadError, Reader

HANDLERS = {Provider.GITHUB: github.HANDLERS, Provider.GITLAB: gitlab.HANDLERS}


def is_known_event(provider: str, event: str) -> bool:
    return event in HANDLERS[provider]


def parse(provider: str, event: str, payload: Any) -> Parsed:
    """Facts carried by one delivery of a known event type; :class:`PayloadError` when the payload is malformed."""
    return HANDLERS[provider][event](Reader(payload))


__all__ = ["Parsed", "PayloadError", "is_known_event", "parse"]
