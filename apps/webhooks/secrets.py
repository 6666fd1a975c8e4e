"""Signing secrets of webhook subscriptions and the ``Maestro-Signature`` header.

A subscription's secret is derived, never stored (``maestro.secrets``):
``"mwhsec_" + HMAC-SHA256(key, "maestro-outbound-webhook-v1|<schema>|<subscription uuid>|<salt>")``, where the salt
is random and stored with the row and ``key`` is one of ``WEBHOOKS_SECRET_KEYS`` (default ``SECRET_KEY``) found by
the key id stored beside the salt. A database dump alone yields no secret; an environment without the key that
derived a secret cannot sign with it (its deliveries fail with a clear error until the secret is rotated).

Every delivery is signed like Stripe's webhooks: ``Maestro-Signature: t=<unix seconds>,v1=<hex>`` with
``<hex> = HMAC-SHA256(secret, "<t>." + raw body)``. While a rotation's overlap lasts, the header carries one ``v1``
per valid secret (new first), so a receiver configured with either verifies. The timestamp is signed too, so a
receiver can refuse old deliveries (replays) by comparing it with its clock. The recipe of docs/webhooks.md (``verify``)
is tested verbatim.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets as _random

from django.db import connection
from django.utils import timezone

from maestro.secrets import derivation_keys, derive, key_id

SALT_BYTES = 32
LABEL = "maestro-outbound-webhook-v1"
PREFIX = "mwhsec_"
KEYS_SETTING = "WEBHOOKS_SECRET_KEYS"


class SigningKeyMissing(LookupError):
    """The key that derived a subscription's secret is no longer configured."""


def new_salt() -> tuple[str, str]:
    """(salt, key id) for a new secret, derived with the current (first) key."""
    return _random.token_hex(SALT_BYTES), key_id(derivation_keys(KEYS_SETTING)[0])


def _secret(*, schema: str, subscription_uuid, salt: str, kid: str) -> str:
    for key in derivation_keys(KEYS_SETTING):
        if key_id(key) == kid:
            return PREFIX + derive(key, LABEL, schema, subscription_uuid, salt)
    raise SigningKeyMissing(
        "The key that derived this subscription's secret is no longer in WEBHOOKS_SECRET_KEYS; rotate the secret."
    )


def current_secret(subscription, *, schema: str | None = None) -> str:
    """The subscription's current secret (shown once when created or rotated; used to sign)."""
    return _secret(
        schema=schema or connection.schema_name,
        subscription_uuid=subscription.uuid,
        salt=subscription.secret_salt,
        kid=subscription.secret_key_id,
    )


def signing_secrets(subscription, *, schema: str | None = None, now=None) -> list[str]:
    """The secrets a delivery is signed with now: the current one, and the previous one during an overlap."""
    schema = schema or connection.schema_name
    found = [current_secret(subscription, schema=schema)]
    now = now or timezone.now()
    expires = subscription.previous_secret_expires_at
    if subscription.previous_secret_salt and expires is not None and expires > now:
        with contextlib.suppress(SigningKeyMissing):  # the new secret alone still signs
            found.append(
                _secret(
                    schema=schema,
                    subscription_uuid=subscription.uuid,
                    salt=subscription.previous_secret_salt,
                    kid=subscription.previous_secret_key_id,
                )
            )
    return found


def signature(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def signature_header(secrets: list[str], timestamp: int, body: bytes) -> str:
    """``t=<timestamp>,v1=<hex>[,v1=<hex>]`` for ``body`` under each of ``secrets``."""
    return ",".join([f"t={timestamp}", *(f"v1={signature(secret, timestamp, body)}" for secret in secrets)])
