"""Tenants (organisations) and the host names that route to them. Lives in the public schema."""

from django.core.exceptions import ValidationError
from django.db import models
from django_tenants.models import DomainMixin, TenantMixin

from maestro.api.throttling import validate_rate_limits


class Plan(models.TextChoices):
    """Commercial plan: selects the rate limits in settings.MAESTRO_RATE_LIMIT_PLANS."""

    FREE = "free", "Free"
    TEAM = "team", "Team"
    ENTERPRISE = "enterprise", "Enterprise"


class Tenant(TenantMixin):
    """One organisation: its PostgreSQL schema (``schema_name`` is the tenant's slug), status and plan limits."""

    name = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True, help_text="Suspended tenants are refused everywhere.")
    suspended_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    max_users = models.PositiveIntegerField(default=50)
    max_projects = models.PositiveIntegerField(default=100_000)
    max_artifacts = models.PositiveIntegerField(default=10_000)
    max_storage_mb = models.PositiveIntegerField(default=10_240)
    plan = models.CharField(max_length=12, choices=Plan.choices, default=Plan.TEAM)
    rate_limits = models.JSONField(
        default=dict,
        blank=True,
        help_text='Overrides of the plan\'s rate limits, e.g. {"ingest": {"user": "1200/minute", "tenant": null}}.',
    )

    # Schemas are created by provisioning; they are dropped only by the explicit tenant deletion service.
    auto_create_schema = True
    auto_drop_schema = False

    class Meta:
        ordering = ["schema_name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.schema_name})"

    def clean(self):
        super().clean()
        problems = validate_rate_limits(self.rate_limits)
        if problems:
            raise ValidationError({"rate_limits": problems})

    @property
    def slug(self) -> str:
        return self.schema_name

    @property
    def is_public(self) -> bool:
        from django_tenants.utils import get_public_schema_name

        return self.schema_name == get_public_schema_name()


class Domain(DomainMixin):
    """A host name (e.g. ``acme.localhost``) that routes requests to its tenant's schema."""

    class Meta:
        ordering = ["domain"]

    def __str__(self) -> str:
        return self.domain
