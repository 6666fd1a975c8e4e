"""Encryption at rest for secrets the server has to read back, with keys from the environment and rotation.

Most of Maestro's secrets are only ever compared, so only a hash is stored (API tokens, GitLab webhook tokens) or the
secret is derived on demand (GitHub webhook secrets, ``apps/integrations/secrets.py``). A secret that must be sent to
someone else cannot be: an OpenID Connect client secret goes to the identity provider on every token request. Those
are encrypted with Fernet (AES-128-CBC with HMAC-SHA256, from ``cryptography``) so that a database dump or a tenant
export alone does not reveal them.

Keys come from ``MAESTRO_ENCRYPTION_KEYS`` (comma-separated Fernet keys, each 32 url-safe base64 bytes:
``python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"``). The first key
encrypts; every key decrypts (``MultiFernet``), so a key is rotated by putting a new one first, re-encrypting what is
stored (``rotate``; ``manage.py sso_rotate_secrets`` for the SSO client secrets) and then dropping the old one. Without
the variable, one key is derived from ``SECRET_KEY`` (HKDF-SHA256), so development needs no setup; a deployment
should set its own, since rotating ``SECRET_KEY`` would otherwise make the stored secrets unreadable.
"""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

DERIVATION_INFO = b"maestro-encryption-v1"


class DecryptionError(Exception):
    """The value was not encrypted under any configured key (or was altered)."""


def _derived_key(secret_key: str) -> bytes:
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=DERIVATION_INFO).derive(secret_key.encode())
    return base64.urlsafe_b64encode(raw)


@lru_cache(maxsize=8)
def _multi_fernet(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    if not keys:
        return MultiFernet([Fernet(_derived_key(secret_key))])
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "MAESTRO_ENCRYPTION_KEYS must be comma-separated Fernet keys (32 url-safe base64-encoded bytes each)."
        ) from exc


def _fernet() -> MultiFernet:
    keys = tuple(key.strip() for key in getattr(settings, "MAESTRO_ENCRYPTION_KEYS", []) if key.strip())
    return _multi_fernet(keys, settings.SECRET_KEY)


def encrypt(plaintext: str) -> str:
    """``plaintext`` encrypted under the current (first) key, as text to store."""
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    """The plaintext of a value from ``encrypt``; DecryptionError when no configured key opens it."""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except (InvalidToken, ValueError) as exc:
        raise DecryptionError("The stored secret cannot be decrypted with the configured keys.") from exc


def rotate(token: str) -> str:
    """``token`` re-encrypted under the current key (it may have been encrypted under any configured key)."""
    try:
        return _fernet().rotate(token.encode()).decode()
    except (InvalidToken, ValueError) as exc:
        raise DecryptionError("The stored secret cannot be decrypted with the configured keys.") from exc
