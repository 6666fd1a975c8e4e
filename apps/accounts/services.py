"""Writes on identity: users and API tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.password_validation import validate_password as run_password_validators
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.utils import timezone

from apps.accounts.choices import Role, TokenScope
from apps.accounts.models import ApiToken, User
from apps.accounts.tokens import new_token
from apps.tenants.quotas import quota_check


def user_create(
    *,
    username: str,
    email: str = "",
    password: str | None = None,
    role: str = Role.MEMBER,
    is_staff: bool = False,
    is_superuser: bool = False,
    is_service_account: bool = False,
    validate_password: bool = True,
) -> User:
    """Create a user in the current tenant schema. Service accounts get no usable password.

    Raises ``QuotaExceeded`` (403) when the tenant's plan has no room for another active user.
    """
    errors = {}
    if not username or len(username) > 150:
        errors["username"] = "A username of 1–150 characters is required."
    elif User.objects.filter(username=username).exists():
        errors["username"] = f"The username '{username}' is taken."
    if email:
        try:
            validate_email(email)
        except ValidationError:
            errors["email"] = f"'{email}' is not a valid e-mail address."
    if role not in Role.values:
        errors["role"] = f"Unknown role '{role}'."
    if errors:
        raise ValidationError(errors)
    user = User(
        username=username,
        email=email,
        role=role,
        is_staff=is_staff,
        is_superuser=is_superuser,
        is_service_account=is_service_account,
    )
    if password and not is_service_account:
        if validate_password:
            run_password_validators(password, user)
        user.set_password(password)
    else:
        user.set_unusable_password()
    with transaction.atomic():
        quota_check("users")
        user.save()
    return user


@dataclass(frozen=True)
class CreatedToken:
    token: ApiToken
    plaintext: str


def token_create(
    *, user: User, name: str, scope: str = TokenScope.WRITE, expires_at: datetime | None = None
) -> CreatedToken:
    """Create an API token for ``user``. The plaintext is returned once and never stored."""
    errors = {}
    if not name or len(name) > 100:
        errors["name"] = "A name of 1–100 characters is required."
    if scope not in TokenScope.values:
        errors["scope"] = f"Unknown scope '{scope}'; use one of {', '.join(TokenScope.values)}."
    if expires_at is not None and expires_at <= timezone.now():
        errors["expires_at"] = "The expiry must be in the future."
    if errors:
        raise ValidationError(errors)
    plaintext, prefix, key_hash = new_token(connection.schema_name)
    token = ApiToken.objects.create(
        user=user, name=name, prefix=prefix, key_hash=key_hash, scope=scope, expires_at=expires_at
    )
    return CreatedToken(token=token, plaintext=plaintext)


def token_revoke(*, token: ApiToken) -> ApiToken:
    """Revoke a token (idempotent). Revoked tokens stay listed for the record."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token
