"""Identity inside a tenant's schema: users (humans and service accounts) and API tokens."""

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone

from apps.accounts.choices import Role, TokenScope


class User(AbstractUser):
    """A person or a service account of one tenant. The same username in two tenants is two unrelated users."""

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
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()
