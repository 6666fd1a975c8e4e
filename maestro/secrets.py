"""Secrets derived on demand instead of stored: ``HMAC-SHA256(key, "<label>|<part>|<part>|…")``.

Webhook secrets (inbound GitHub integrations, outbound webhook subscriptions) must be known to the server when it
signs or verifies, but a database dump alone should reveal none of them. Storing them encrypted would need a key
management scheme; deriving them from a key held in the environment plus a random salt stored with the row needs
none: the row keeps the salt, the environment keeps the key, and only both together give the secret. Binding the
schema and the object's id into the message means a row copied to another tenant or object derives another secret.

Keys rotate like Django's ``SECRET_KEY_FALLBACKS``: the first configured key derives new secrets, the others are
still tried (or, for secrets Maestro must reproduce to sign, found by the key id stored with the salt).
"""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings


def derivation_keys(setting: str) -> list[str]:
    """The keys listed in ``settings.<setting>`` (first = current), or ``[SECRET_KEY]`` when none are."""
    keys = [key for key in getattr(settings, setting, []) if key]
    return keys or [settings.SECRET_KEY]


def key_id(key: str) -> str:
    """A short public fingerprint of ``key``: stored with a salt so the key that derived it can be found again."""
    return hashlib.sha256(b"maestro-key-id|" + key.encode()).hexdigest()[:16]


def derive(key: str, label: str, *parts: object) -> str:
    """The hex HMAC-SHA256 of ``label|part|part…`` under ``key``."""
    message = "|".join([label, *(str(part) for part in parts)]).encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()
