"""Single sign-on in a tenant's schema: the organisation's OpenID Connect provider, and who signed in through it.

Both tables live in each tenant's schema, like the users they serve: one tenant's provider, client and subject links
are invisible to every other tenant, and a session started by one tenant's provider exists only in that schema.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from apps.accounts.choices import Role

# Roles the provider's claims may grant. Owners are never made by an identity provider: the role that can change the
# SSO settings themselves stays in the hands of the organisation's owners.
MAPPABLE_ROLES = (Role.ADMIN, Role.LEAD, Role.MEMBER, Role.VIEWER)
DEFAULT_SCOPES = "openid email profile"


class SsoConfig(models.Model):
    """The tenant's OpenID Connect provider (at most one row per schema).

    The client secret is kept encrypted (``maestro.encryption``): the server sends it to the provider's token endpoint,
    so it cannot be hashed. It is written once by the owner and never shown again.
    """

    singleton = models.PositiveSmallIntegerField(default=1, unique=True, editable=False)
    enabled = models.BooleanField(default=False, help_text="Offer “Sign in with …” on the login page.")
    display_name = models.CharField(max_length=60, help_text="Shown on the button: “Sign in with <name>”.")
    issuer = models.URLField(max_length=500, help_text="The provider's issuer identifier (its discovery base URL).")
    client_id = models.CharField(max_length=255)
    client_secret_encrypted = models.TextField(blank=True, editable=False)
    scopes = models.CharField(max_length=255, default=DEFAULT_SCOPES)
    allowed_domains = models.JSONField(default=list, blank=True, help_text="E-mail domains that may sign in.")
    role_claim = models.CharField(max_length=100, default="groups", help_text="ID-token claim read for the role.")
    # [{"value": "<claim value>", "role": "<role>"}, ...]
    role_mapping = models.JSONField(default=list, blank=True)
    default_role = models.CharField(
        max_length=16,
        blank=True,
        choices=[(role.value, role.label) for role in MAPPABLE_ROLES],
        help_text="Role when no mapping matches; empty: such people cannot sign in.",
    )
    sso_only = models.BooleanField(
        default=False, help_text="Password sign-in off for everyone but owners (who keep a break-glass password)."
    )
    secret_set_at = models.DateTimeField(null=True, blank=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "SSO configuration"
        constraints = [models.CheckConstraint(condition=models.Q(singleton=1), name="sso_config_single_row")]

    def __str__(self) -> str:
        return f"SSO: {self.display_name or self.issuer}"

    @property
    def has_secret(self) -> bool:
        return bool(self.client_secret_encrypted)

    @property
    def discovery_url(self) -> str:
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"

    def clean(self) -> None:
        """Invariants of one configuration; the service adds the rules that need the request (the secret)."""
        errors = {}
        scheme = urlsplit(self.issuer or "").scheme
        if self.issuer and settings.SSO_REQUIRE_HTTPS and scheme != "https":
            errors["issuer"] = "The issuer must be an https:// URL."
        elif self.issuer and scheme not in ("http", "https"):
            errors["issuer"] = "The issuer must be an http(s):// URL."
        if urlsplit(self.issuer or "").query or urlsplit(self.issuer or "").fragment:
            errors["issuer"] = "The issuer has no query or fragment."
        if "openid" not in (self.scopes or "").split():
            errors["scopes"] = "The scopes must include 'openid'."
        roles = {role.value for role in MAPPABLE_ROLES}
        for entry in self.role_mapping or []:
            if not isinstance(entry, dict) or not entry.get("value") or entry.get("role") not in roles:
                errors["role_mapping"] = f"Each mapping needs a claim value and one of the roles {', '.join(roles)}."
                break
        if self.default_role and self.default_role not in roles:
            errors["default_role"] = f"Unknown role '{self.default_role}'."
        if self.enabled and not self.allowed_domains:
            errors["allowed_domains"] = "Name at least one e-mail domain whose people may sign in."
        if self.sso_only and not self.enabled:
            errors["sso_only"] = "“SSO only” needs single sign-on enabled."
        if errors:
            raise ValidationError(errors)


class SsoIdentity(models.Model):
    """A user's subject at the tenant's provider: ``(issuer, subject)`` signs in as ``user``.

    Sign-in looks the pair up first; only when it is unknown is a user matched by verified e-mail or created (see
    ``apps.sso.services.sso_user_resolve``). A new issuer (another provider or realm) starts new links.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sso_identities")
    issuer = models.CharField(max_length=500)
    subject = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)
    last_login_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "SSO identities"
        constraints = [models.UniqueConstraint(fields=["issuer", "subject"], name="sso_identity_unique_subject")]
        ordering = ["issuer", "subject"]

    def __str__(self) -> str:
        return f"{self.user} at {self.issuer}"
