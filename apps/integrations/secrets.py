"""Per-integration webhook secrets: generated server-side, shown once, never stored.

* **GitHub** signs the raw body with HMAC-SHA256 under the secret (``X-Hub-Signature-256: sha256=<hex>``), so the
  server needs the secret itself at verification time. Instead of storing it (even encrypted), it is derived:
  ``secret = HMAC-SHA256(key, "maestro-webhook-v1|<schema>|<webhook uuid>|<salt>")`` with a random 256-bit salt that
  is stored, and a key from ``INTEGRATIONS_SECRET_KEYS`` (environment; falls back to ``SECRET_KEY``). A database dump
  alone does not reveal any secret, binding the schema and UUID means a row copied into another tenant or integration
  does not verify, and rotating a secret is a new salt. Keys rotate like Django's ``SECRET_KEY_FALLBACKS``: the first
  key derives new secrets, every listed key is tried when verifying. This is HMAC used as a keyed PRF (stdlib
  ``hmac``, ``maestro.secrets``), so no encryption library or key-management code is needed.
* **GitLab** sends the secret token verbatim in ``X-Gitlab-Token``: only ``sha256(token)`` is stored (a 256-bit random
  token does not need a slow hash), like Maestro's API tokens.

Every comparison is constant-time (``hmac.compare_digest``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets as _random
from uuid import UUID

from maestro.secrets import derivation_keys, derive

SALT_BYTES = 32
GITLAB_TOKEN_BYTES = 32
DERIVATION_LABEL = "maestro-webhook-v1"


def _keys() -> list[str]:
    return derivation_keys("INTEGRATIONS_SECRET_KEYS")


def _derive(key: str, *, schema: str, webhook_id: UUID, salt: str) -> str:
    return "whsec_" + derive(key, DERIVATION_LABEL, schema, webhook_id, salt)


def new_github_secret(*, schema: str, webhook_id: UUID) -> tuple[str, str]:
    """Return (secret to show once, salt to store) for a GitHub integration."""
    salt = _random.token_hex(SALT_BYTES)
    return _derive(_keys()[0], schema=schema, webhook_id=webhook_id, salt=salt), salt


def new_gitlab_token() -> tuple[str, str]:
    """Return (token to show once, SHA-256 hash to store) for a GitLab integration."""
    token = "glwh_" + _random.token_hex(GITLAB_TOKEN_BYTES)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def github_signature(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` header value GitHub sends for ``body`` (also used by tests and the docs)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_github_signature(*, header: str | None, body: bytes, schema: str, webhook_id: UUID, salt: str) -> bool:
    """Whether ``header`` is a valid ``sha256=<hex>`` signature of ``body`` under this integration's secret."""
    if not header or not salt or not header.startswith("sha256="):
        return False
    valid = False
    for key in _keys():
        expected = github_signature(_derive(key, schema=schema, webhook_id=webhook_id, salt=salt), body)
        valid |= hmac.compare_digest(expected.encode(), header.encode())
    return valid


def verify_gitlab_token(*, header: str | None, token_hash: str) -> bool:
    """Whether ``header`` (``X-Gitlab-Token``) is the integration's token."""
    if not header or not token_hash:
        return False
    return hmac.compare_digest(hash_token(header), token_hash)
