"""Writes of single sign-on: the owner's configuration, and turning a verified ID token into a signed-in user.

Who a verified ID token signs in as (``sso_user_resolve``), in this order:

1. Its e-mail claim must be in one of the configured domains (always, also for people signed in before), and a
   role must follow from the claims (the mapping, else the default role), except for owners.
2. A known ``(iss, sub)`` pair signs in as the user it was linked to, whatever e-mail the token carries now.
3. Otherwise the e-mail address must be verified by the provider (``email_verified`` is ``true``): an unverified
   address is refused rather than trusted, so an account at the provider with someone else's address cannot take over
   that person's Maestro account. A verified address matching exactly one person (not a service account) links the
   subject to them (owners included: whoever runs the organisation's provider can already sign in as its people);
   no match creates a user in this tenant's schema with an unusable password, the mapped role and the address as
   username. Two people sharing the address are refused (``ambiguous_email``).
4. The role follows the provider at every sign-in for everyone but owners (removing someone from the leads' group
   makes them a member the next time they sign in); owners are never made, changed or demoted by a provider.

Every refusal raises ``SsoFailure`` before anything is written (one transaction), and is recorded as
``sso.login_failed`` with its reason by ``sso_login_failure_record``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.access.selectors import require
from apps.accounts.choices import Role
from apps.accounts.models import User
from apps.accounts.services import user_create
from apps.audit.services import audit_security_event
from apps.sso import oidc
from apps.sso.models import MAPPABLE_ROLES, SsoConfig, SsoIdentity
from apps.sso.oidc import SsoFailure
from apps.tenants.quotas import QuotaExceeded
from maestro.encryption import DecryptionError, decrypt, encrypt, rotate

CONFIG_FIELDS = (
    "enabled",
    "display_name",
    "issuer",
    "client_id",
    "scopes",
    "allowed_domains",
    "role_claim",
    "role_mapping",
    "default_role",
    "sso_only",
)
LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
DOMAIN_RE = re.compile(rf"^(?=.{{1,253}}$){LABEL}(?:\.{LABEL})+$")
USERNAME_ATTEMPTS = 20


def _domains(values) -> list[str]:
    domains = []
    for value in values or []:
        domain = str(value).strip().lower().removeprefix("@")
        if not DOMAIN_RE.match(domain):
            raise ValidationError({"allowed_domains": f"'{value}' is not a domain name (e.g. example.com)."})
        if domain not in domains:
            domains.append(domain)
    return domains


@transaction.atomic
def sso_config_save(*, actor: User, data: dict, secret: str = "") -> SsoConfig:
    """Create or change the tenant's configuration (owners). ``secret``, when given, replaces the stored client secret
    (encrypted); it is never returned. With sign-in enabled, the provider's discovery document must answer and agree
    (its issuer, endpoints and PKCE method), else a ValidationError names the issuer field and nothing is saved."""
    require(actor, "sso_settings", "change")
    unknown = set(data) - set(CONFIG_FIELDS)
    if unknown:
        raise ValidationError({name: "This field cannot be set." for name in sorted(unknown)})
    config = SsoConfig.objects.select_for_update().first() or SsoConfig()
    for name in CONFIG_FIELDS:
        if name in data:
            setattr(config, name, data[name])
    config.allowed_domains = _domains(config.allowed_domains)
    if secret:
        config.client_secret_encrypted = encrypt(secret)
        config.secret_set_at = timezone.now()
    if not config.client_secret_encrypted:
        raise ValidationError({"client_secret": "Enter the client secret the provider gave this client."})
    try:
        decrypt(config.client_secret_encrypted)
    except DecryptionError as exc:
        raise ValidationError(
            {"client_secret": "The stored secret cannot be decrypted with the configured keys: enter it again."}
        ) from exc
    config.full_clean(exclude=["singleton"])
    if config.enabled:
        problems = oidc.discovery_problems(config)
        if problems:
            raise ValidationError({"issuer": problems})
    config.save()
    return config


@transaction.atomic
def sso_config_delete(*, actor: User) -> bool:
    """Remove the configuration with its encrypted secret (owners). Links to subjects stay, so configuring the same
    provider again signs the same people in as before. True when there was one."""
    require(actor, "sso_settings", "delete")
    config = SsoConfig.objects.first()
    if config is None:
        return False
    config.delete()
    return True


@transaction.atomic
def sso_secret_rotate() -> bool:
    """Re-encrypt this tenant's client secret under the current (first) key of ``MAESTRO_ENCRYPTION_KEYS`` (audited
    as ``sso.config_changed``). True when there was a secret; ``DecryptionError`` when no configured key opens it."""
    config = SsoConfig.objects.select_for_update().exclude(client_secret_encrypted="").first()
    if config is None:
        return False
    config.client_secret_encrypted = rotate(config.client_secret_encrypted)
    config.save(update_fields=["client_secret_encrypted", "updated_at"])
    return True


def role_for_claims(config: SsoConfig, claims: dict) -> str | None:
    """The most powerful mapped role whose claim value the token carries, else the default role (None: none)."""
    raw = claims.get(config.role_claim)
    values = [raw] if isinstance(raw, str) else [v for v in raw if isinstance(v, str)] if isinstance(raw, list) else []
    for role in MAPPABLE_ROLES:
        if any(entry["role"] == role and entry["value"] in values for entry in config.role_mapping):
            return role.value
    return config.default_role or None


@dataclass(frozen=True)
class SignIn:
    user: User
    created: bool
    linked: bool


def _refuse(reason: str, message: str, *, email: str, user: User | None = None) -> SsoFailure:
    return SsoFailure(reason, message, status=403, email=email, subject_id=user.pk if user else None)


def _free_username(email: str) -> str:
    base = email.lower()[:150]
    candidates = [base] + [f"{base[:146]}-{n}" for n in range(2, USERNAME_ATTEMPTS + 1)]
    taken = set(User.objects.filter(username__in=candidates).values_list("username", flat=True))
    for candidate in candidates:
        if candidate not in taken:
            return candidate
    raise _refuse("username_taken", "No free username is left for this e-mail address.", email=email)


def _create(config: SsoConfig, claims: dict, email: str, role: str) -> User:
    try:
        user = user_create(
            username=_free_username(email),
            email=email,
            role=role,
            first_name=str(claims.get("given_name") or "")[:150],
            last_name=str(claims.get("family_name") or "")[:150],
        )
    except QuotaExceeded as exc:
        raise _refuse("quota", str(exc.detail), email=email) from exc
    audit_security_event("sso.user_created", obj=user, user=user, extra={"role": role, "issuer": config.issuer})
    return user


def _resolve(config: SsoConfig, claims: dict) -> SignIn:
    issuer, subject = claims["iss"], claims["sub"]
    email = str(claims.get("email") or "").strip()
    if "@" not in email:
        raise _refuse("no_email", "Your account at the provider has no e-mail address.", email="")
    if email.rsplit("@", 1)[1].lower() not in config.allowed_domains:
        raise _refuse("domain_not_allowed", "Your e-mail domain may not sign in to this organisation.", email=email)
    role = role_for_claims(config, claims)
    link = SsoIdentity.objects.select_related("user").filter(issuer=issuer, subject=subject).first()
    user, created = (link.user if link else None), False
    if user is None:
        if claims.get("email_verified") is not True:
            raise _refuse("email_unverified", "The provider has not verified your e-mail address.", email=email)
        matches = list(User.objects.filter(email__iexact=email)[:2])
        if len(matches) > 1:
            raise _refuse("ambiguous_email", "Several accounts here use your e-mail address.", email=email)
        user = matches[0] if matches else None
        if user is not None and user.is_service_account:
            raise _refuse("service_account", "Service accounts cannot sign in.", email=email, user=user)
    if user is not None and not user.is_active:
        raise _refuse("inactive_user", "Your account here is deactivated.", email=email, user=user)
    if role is None and (user is None or user.role != Role.OWNER):
        raise _refuse("no_role", "Your groups at the provider give you no role here.", email=email, user=user)
    if user is None:
        user, created = _create(config, claims, email, role), True
    elif user.role != Role.OWNER and user.role != role:
        user.role = role
        user.save(update_fields=["role"])
    now = timezone.now()
    if link is None:
        SsoIdentity.objects.create(user=user, issuer=issuer, subject=subject, last_login_at=now)
    else:
        SsoIdentity.objects.filter(pk=link.pk).update(last_login_at=now)
    return SignIn(user=user, created=created, linked=link is None)


def sso_user_resolve(*, config: SsoConfig, claims: dict) -> SignIn:
    """The user verified ``claims`` sign in as, created or linked when needed (rules in the module docstring).
    SsoFailure when they may not sign in; nothing is written then."""
    try:
        with transaction.atomic():
            return _resolve(config, claims)
    except IntegrityError:
        # The same person's first sign-in from two tabs at once: the other one created the link; use it.
        with transaction.atomic():
            return _resolve(config, claims)


def sso_login_record(*, config: SsoConfig, sign_in: SignIn, claims: dict) -> None:
    """``sso.login`` for a completed sign-in (the provider's subject and the e-mail go to the erasable detail)."""
    audit_security_event(
        "sso.login",
        obj=sign_in.user,
        user=sign_in.user,
        extra={
            "issuer": config.issuer,
            "role": sign_in.user.role,
            "created": sign_in.created,
            "linked": sign_in.linked,
        },
        personal_extra={"subject": claims.get("sub", ""), "email": claims.get("email", "")},
    )


def sso_login_failure_record(*, failure: SsoFailure, config: SsoConfig | None) -> None:
    """``sso.login_failed`` with the reason (the e-mail address the token claimed, if any, in the erasable detail)."""
    audit_security_event(
        "sso.login_failed",
        object_type="accounts.user",
        object_repr=failure.email[:150],
        extra={"reason": failure.reason, "issuer": config.issuer if config else ""},
        subject_id=failure.subject_id,
        personal_extra={"email": failure.email} if failure.email else None,
    )
