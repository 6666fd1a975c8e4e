"""Secrets encrypted at rest (maestro/encryption.py): keys from the environment, rotation, and refusal of what no key
opens."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from maestro.encryption import DecryptionError, decrypt, encrypt, rotate

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def test_a_value_round_trips_and_is_not_stored_in_clear():
    with override_settings(MAESTRO_ENCRYPTION_KEYS=[OLD]):
        token = encrypt("client-secret-value")
        assert "client-secret-value" not in token
        assert encrypt("client-secret-value") != token  # random IV: equal secrets do not look equal
        assert decrypt(token) == "client-secret-value"


def test_the_first_key_encrypts_and_every_key_decrypts_until_rotated():
    with override_settings(MAESTRO_ENCRYPTION_KEYS=[OLD]):
        token = encrypt("s3cret-value")
    with override_settings(MAESTRO_ENCRYPTION_KEYS=[NEW]), pytest.raises(DecryptionError):
        decrypt(token)
    with override_settings(MAESTRO_ENCRYPTION_KEYS=[NEW, OLD]):
        assert decrypt(token) == "s3cret-value"
        rotated = rotate(token)
    with override_settings(MAESTRO_ENCRYPTION_KEYS=[NEW]):
        assert decrypt(rotated) == "s3cret-value"


def test_without_keys_one_is_derived_from_the_secret_key():
    with override_settings(MAESTRO_ENCRYPTION_KEYS=[], SECRET_KEY="first-secret-key-" * 3):
        token = encrypt("value-1234")
        assert decrypt(token) == "value-1234"
    with (
        override_settings(MAESTRO_ENCRYPTION_KEYS=[], SECRET_KEY="other-secret-key-" * 3),
        pytest.raises(DecryptionError),
    ):
        decrypt(token)


def test_tampered_values_and_malformed_keys_are_refused():
    with override_settings(MAESTRO_ENCRYPTION_KEYS=[OLD]):
        token = encrypt("value-1234")
        with pytest.raises(DecryptionError):
            decrypt(token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"))
        with pytest.raises(DecryptionError):
            decrypt("not a token")
    with override_settings(MAESTRO_ENCRYPTION_KEYS=["too-short"]), pytest.raises(ImproperlyConfigured):
        encrypt("value-1234")
