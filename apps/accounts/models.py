"""Identity inside a tenant's schema: users (humans and service accounts) and API tokens."""

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone

from apps.accounts.choices import Role, TokenScope
from apps.accounts.validators import USERNAME_CHARACTERS, validate_username


class User(AbstractUser):
    """A person or a service account of one tenant. The same username in two tenants is two unrelated users."""

    username_validator = validate_username
    username = models.CharField(
        "username",
        max_length=150,
        unique=True,
        help_text=f"Required. 150 characters or fewer: {USERNAME_CHARACTERS}.",
        validators=[validate_username],
        error_messages={"unique": "A user with that username already exists."},
    )

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    is_service_account = models.BooleanField(
        default=False, help_text="Non-human user that owns API tokens; cannot log in with a password."
    )

    class Meta:
        ordering = ["username"]

    def __str__(self) -> str:
        return self.username


class ApiTokenQuerySet(models.QuerySet):
    def usable(self):
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class ApiToken(models.Model):
    """An API token for scripts. Only a SHA-256 hash of its secret part is stored; the full token is shown once.

    Full token: ``mae_<tenant schema>_<prefix>_<secret>``. The tenant and prefix are not secret: they route the
    request and identify the row; the secret is compared against ``key_hash`` in constant time.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    scope = models.CharField(max_length=8, choices=TokenScope.choices, default=TokenScope.WRITE)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(
        "expires on", null=True, blank=True, help_text="The token stops working at this moment (empty: never)."
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"
        verbose_name_plural = "API tokens"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()


class AuthGeneration(models.Model):
    """One row per tenant schema whose ``value`` PostgreSQL triggers replace with a new random one whenever a user
    or an API token of the schema changes in a way authentication depends on (migration 0003).
    ``apps/accounts/token_cache.py`` reads it on every request to tell whether its cached token lookups are still
    current — so a revocation, an expiry change or a deactivated user is seen by every process on the next request
    after its commit, whatever wrote it (services, admin, ``QuerySet.update``, raw SQL)."""

    value = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "authentication generation"

    def __str__(self) -> str:
        return f"authentication generation {self.value}"
