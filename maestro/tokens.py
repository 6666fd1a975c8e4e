"""API token format: ``mae_<tenant schema>_<prefix>_<secret>``.

The schema routes a request made to the platform host to the right tenant before anything is verified; the prefix
identifies the stored row; only ``sha256(secret)`` is stored. Secrets carry 160 bits from ``secrets``, so a fast hash
is the right tool (a slow password hash would only add latency to every API call).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

TOKEN_MARKER = "mae"
PREFIX_BYTES = 4  # 8 hex characters
SECRET_BYTES = 20  # 40 hex characters


@dataclass(frozen=True)
class ParsedToken:
    schema: str
    prefix: str
    secret: str


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, key_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), key_hash)


def new_token(schema: str) -> tuple[str, str, str]:
    """Return (full token, prefix, hash of secret) for a new token of tenant ``schema``."""
    prefix = secrets.token_hex(PREFIX_BYTES)
    secret = secrets.token_hex(SECRET_BYTES)
    return f"{TOKEN_MARKER}_{schema}_{prefix}_{secret}", prefix, hash_secret(secret)


def parse_token(raw: str) -> ParsedToken | None:
    """Split a full token into its parts; None when it is not a well-formed Maestro token."""
    if not raw or len(raw) > 200 or not raw.startswith(TOKEN_MARKER + "_"):
        return None
    parts = raw[len(TOKEN_MARKER) + 1 :].rsplit("_", 2)
    if len(parts) != 3:
        return None
    schema, prefix, secret = parts
    if not schema or len(prefix) != PREFIX_BYTES * 2 or len(secret) != SECRET_BYTES * 2:
        return None
    if not all(c in "0123456789abcdef" for c in prefix + secret):
        return None
    return ParsedToken(schema=schema, prefix=prefix, secret=secret)


def token_from_authorization(header: str) -> str | None:
    """The token in an ``Authorization: Bearer <token>`` header, else None."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    value = value.strip()
    return value or None


def schema_from_authorization(header: str) -> str | None:
    """The tenant schema named by a Bearer token (not yet verified), else None."""
    parsed = parse_token(token_from_authorization(header) or "")
    return parsed.schema if parsed else None
