"""Writes on identity: users, API tokens and groups."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password as run_password_validators
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.utils import timezone

from apps.access import policy
from apps.access.selectors import record_denial, require
from apps.accounts.choices import Role, TokenScope
from apps.accounts.models import ApiToken, User
from apps.accounts.validators import username_problem
from apps.tenants.quotas import quota_check
from maestro.tokens import new_token


def user_create(
    *,
    username: str,
    email: str = "",
    password: str | None = None,
    role: str = Role.MEMBER,
    first_name: str = "",
    last_name: str = "",
    is_staff: bool = False,
    is_superuser: bool = False,
    is_service_account: bool = False,
    validate_password: bool = True,
) -> User:
    """Create a user in the current tenant schema. Service accounts get no usable password.

    Raises ``QuotaExceeded`` (403) when the tenant's plan has no room for another active user.
    """
    errors = {}
    problem = username_problem(username)
    if problem:
        errors["username"] = problem
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
        first_name=first_name,
        last_name=last_name,
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


def _is_owner(actor: User) -> bool:
    return actor.role == Role.OWNER and not actor.is_service_account


def user_changeable_by(actor: User, user: User) -> bool:
    """Whether ``actor`` may change ``user`` at all, given that the matrix lets them change users: owners are
    changed by owners only."""
    return user.role != Role.OWNER or _is_owner(actor)


def _require_owner_for(actor: User, target: User | None, new_role: str | None) -> None:
    """Only owners may make someone an owner or change an owner; nobody changes their own role or deactivates
    themselves (so a tenant cannot lose its last owner by accident)."""
    touches_owner = new_role == Role.OWNER or (target is not None and not user_changeable_by(actor, target))
    if touches_owner and not _is_owner(actor):
        record_denial(actor, "users", "change" if target else "create", target, reason="owner_only")
        raise PermissionDenied("Only an owner may grant the owner role or change an owner.")


def user_create_by(*, actor: User, data: dict) -> User:
    """Create a user or service account on behalf of ``actor`` (an owner or admin: the API checks the role)."""
    _require_owner_for(actor, None, data.get("role", Role.MEMBER))
    password = data.get("password") or None
    if password and not data.get("is_service_account"):
        try:
            run_password_validators(password, User(username=data.get("username", ""), email=data.get("email", "")))
        except ValidationError as exc:
            raise ValidationError({"password": exc.messages}) from exc
    return user_create(
        username=data.get("username", ""),
        email=data.get("email", ""),
        password=data.get("password") or None,
        role=data.get("role", Role.MEMBER),
        first_name=data.get("first_name", ""),
        last_name=data.get("last_name", ""),
        is_service_account=bool(data.get("is_service_account", False)),
    )


USER_EDITABLE_FIELDS = ("email", "first_name", "last_name", "role", "is_active")


def user_update(*, actor: User, user: User, data: dict) -> User:
    """Change a user's profile, role or active flag. Role changes are audited as ``user.role_changed``."""
    unknown = set(data) - set(USER_EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({name: "This field cannot be changed." for name in sorted(unknown)})
    errors = {}
    if "role" in data and data["role"] not in Role.values:
        errors["role"] = f"Unknown role '{data['role']}'."
    if data.get("email"):
        try:
            validate_email(data["email"])
        except ValidationError:
            errors["email"] = f"'{data['email']}' is not a valid e-mail address."
    if user.pk == actor.pk and ("role" in data and data["role"] != user.role):
        errors["role"] = "You cannot change your own role."
    if user.pk == actor.pk and data.get("is_active") is False:
        errors["is_active"] = "You cannot deactivate yourself."
    if errors:
        raise ValidationError(errors)
    _require_owner_for(actor, user, data.get("role"))
    changed = [name for name in USER_EDITABLE_FIELDS if name in data and getattr(user, name) != data[name]]
    if changed:
        for name in changed:
            setattr(user, name, data[name])
        with transaction.atomic():
            user.save(update_fields=changed)
    return user


# Fields that amount to a role: the role itself, Django's superuser and staff flags and permissions (the admin's
# powers), group membership (groups receive grants) and whether the account may sign in at all.
PRIVILEGE_FIELDS = ("role", "is_superuser", "is_staff", "user_permissions", "groups", "is_active")
_OWN_PRIVILEGES = ("role", "is_superuser", "is_staff", "user_permissions")


def user_privileges_check(*, actor: User, user: User | None, changes: dict) -> None:
    """Refuse privilege changes (``PRIVILEGE_FIELDS``) ``actor`` may not make to ``user`` (None: a new user) — the
    rules of the admin area and the API, for editors that write the user row themselves, such as the Django admin's
    user form. PermissionDenied when the matrix or the owner rule refuses; ValidationError naming the field otherwise.

    The matrix decides who changes users at all; only owners make or change owners and grant or remove superuser
    status (it carries every Django permission, as the tenant's first owner holds it); nobody changes their own role,
    superuser or staff status or permissions, or deactivates themselves.
    """
    unknown = set(changes) - set(PRIVILEGE_FIELDS)
    if unknown:
        raise ValueError(f"Not privilege fields: {sorted(unknown)}")
    if not changes:
        return
    require(actor, "users", "change" if user is not None else "create", user)
    errors = {}
    if "role" in changes and changes["role"] not in Role.values:
        errors["role"] = f"Unknown role '{changes['role']}'."
    if user is not None and user.pk == actor.pk:
        for name in _OWN_PRIVILEGES:
            if name in changes:
                errors[name] = "You cannot change your own role, superuser or staff status, or permissions."
        if changes.get("is_active") is False:
            errors["is_active"] = "You cannot deactivate yourself."
    if errors:
        raise ValidationError(errors)
    _require_owner_for(actor, user, changes.get("role"))
    if "is_superuser" in changes and not _is_owner(actor):
        record_denial(actor, "users", "change", user, reason="owner_only")
        raise PermissionDenied("Only an owner may grant or remove superuser status.")


def user_deactivate(*, actor: User, user: User) -> User:
    """Deactivate (never delete) a user: sessions and tokens stop working at once; history keeps their name."""
    return user_update(actor=actor, user=user, data={"is_active": False})


def token_create_for(
    *,
    actor: User,
    actor_scope: str | None,
    name: str,
    user: User | None = None,
    scope: str = TokenScope.WRITE,
    expires_at: datetime | None = None,
) -> CreatedToken:
    """Create a token for ``actor`` or, for owners and admins, for a service account.

    A token never gets more than the credential creating it: a ``write`` token cannot mint an ``admin`` token
    (``actor_scope`` None means a dashboard session, which is not limited).
    """
    target = user or actor
    if target.pk != actor.pk:
        if not policy.is_admin(actor):
            record_denial(actor, "tokens", "create", target, reason="other_account")
            raise PermissionDenied("Only owners and admins may create tokens for other accounts.")
        if not target.is_service_account:
            raise ValidationError({"user": "Tokens can be created for yourself or for a service account only."})
        if not target.is_active:
            raise ValidationError({"user": f"Service account '{target.username}' is deactivated."})
    if scope in TokenScope.values and not policy.scope_allows(actor_scope, scope):
        raise ValidationError({"scope": f"A '{actor_scope}' token cannot create a token with scope '{scope}'."})
    return token_create(user=target, name=name, scope=scope, expires_at=expires_at)


# ---------------------------------------------------------------------------------------------- groups
def group_create(*, actor: User, name: str) -> Group:
    """Create a group (a set of users that object grants can name). Owners and admins only."""
    require(actor, "users", "create")
    name = (name or "").strip()
    if not name or len(name) > 150:
        raise ValidationError({"name": "A name of 1–150 characters is required."})
    if Group.objects.filter(name__iexact=name).exists():
        raise ValidationError({"name": f"A group called '{name}' exists already."})
    with transaction.atomic():
        return Group.objects.create(name=name)


def group_delete(*, actor: User, group: Group) -> None:
    """Delete a group; its memberships and object grants go with it (cascade; users keep their own grants)."""
    require(actor, "users", "delete")
    with transaction.atomic():
        group.delete()


def group_member_add(*, actor: User, group: Group, user: User) -> bool:
    """Put ``user`` in ``group`` (idempotent; True); the change is audited on the user (``groups`` field)."""
    require(actor, "users", "change", user)
    if user.is_service_account:
        raise ValidationError({"user": "Service accounts cannot join groups; grant them access directly."})
    with transaction.atomic():
        user.groups.add(group)
    return True


def group_member_remove(*, actor: User, group: Group, user: User) -> None:
    require(actor, "users", "change", user)
    with transaction.atomic():
        user.groups.remove(group)
