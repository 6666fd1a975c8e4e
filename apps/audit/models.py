"""The audit trail (tenant schema): one append-only row per change and per security event."""

from django.db import models
from django.utils import timezone


class Category(models.TextChoices):
    DATA = "data", "Data change"
    SECURITY = "security", "Security event"


class ActorType(models.TextChoices):
    USER = "user", "User (session)"
    TOKEN = "token", "API token"
    SYSTEM = "system", "System (task, command, migration)"
    ANONYMOUS = "anonymous", "Anonymous"


class Source(models.TextChoices):
    API = "api", "API"
    DASHBOARD = "dashboard", "Dashboard"
    ADMIN = "admin", "Admin"
    SYSTEM = "system", "System"


class AuditEvent(models.Model):
    """Who did what to which object, when, from where.

    Rows are append-only: a database trigger (migration 0002) refuses every UPDATE and DELETE, and the admin offers
    no change or delete. The actor is stored by value (id, username, token prefix) rather than as a foreign key, so
    deleting a user neither cascades into nor needs to update the trail.
    """

    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    category = models.CharField(max_length=10, choices=Category.choices, default=Category.DATA)
    action = models.CharField(max_length=64, help_text="e.g. project.created, auth.login_failed, token.revoked")
    object_type = models.CharField(max_length=100, blank=True, help_text="app_label.model, e.g. projects.project")
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    actor_type = models.CharField(max_length=10, choices=ActorType.choices)
    actor_id = models.BigIntegerField(null=True, blank=True, help_text="The acting user's id (no foreign key).")
    actor_username = models.CharField(max_length=150, blank=True)
    actor_token = models.CharField(max_length=16, blank=True, help_text="Prefix of the API token used, if any.")
    source = models.CharField(max_length=10, choices=Source.choices)
    changes = models.JSONField(default=dict, blank=True, help_text='{"field": {"before": …, "after": …}}')
    extra = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    request_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["-occurred_at", "-id"], name="audit_time_idx"),
            models.Index(fields=["action", "-occurred_at"], name="audit_action_idx"),
            models.Index(fields=["object_type", "object_id"], name="audit_object_idx"),
            models.Index(fields=["actor_id", "-occurred_at"], name="audit_actor_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.action} {self.object_type}#{self.object_id}"
