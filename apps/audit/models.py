"""The audit trail (tenant schema): one append-only row per change and per security event.

Two promises pull against each other here: the trail must never be rewritten, and a person erased under a privacy
request must no longer be identifiable in it. They are kept apart by table:

* ``AuditEvent`` — append-only (a trigger refuses UPDATE, DELETE and TRUNCATE) and sealed into a hash chain
  (``AuditSeal``). It holds no personal data: the actor is a pseudonymous id (the user's primary key), and text
  that names a person (a user's username, names and e-mail, a team member's display name, a token's name, the
  username typed into a failed login) is replaced by a neutral label or marker.
* ``AuditIdentity`` — pseudonymous actor id → username. Erasure blanks the name and marks the row erased.
* ``AuditEventDetail`` — per event: client address, user agent, and the personal text left out of the event (with
  ``subject_id``, the user it is about). Erasure clears what belongs to the erased user.

Every surface (dashboard, API, CSV, admin) shows events through ``actor_username`` / ``ip`` / ``display_*``, which
resolve the two erasable tables, so an erased person reads as ``erased user #<id>`` everywhere.
"""

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


# Written into an event's changes/extra in place of a personal value; the value itself is in AuditEventDetail.
PERSONAL = "‹personal›"


# What the API, the CSV export and the per-user export show of an event (``AuditEvent.shown``), in this order.
SHOWN_FIELDS = (
    "id",
    "occurred_at",
    "category",
    "action",
    "object_type",
    "object_id",
    "object_repr",
    "actor_type",
    "actor_id",
    "actor_username",
    "actor_token",
    "source",
    "changes",
    "extra",
    "ip",
    "user_agent",
    "request_id",
)


def erased_label(actor_id) -> str:
    return f"erased user #{actor_id}"


class AuditIdentity(models.Model):
    """Who a pseudonymous actor id is: the one place the trail keeps an actor's name (erasable).

    Keyed by the user's primary key (what events store as ``actor_id``), written when an event names the user,
    kept when the user row is deleted, blanked by erasure.
    """

    actor_id = models.BigIntegerField(primary_key=True, help_text="The user's id, as stored on audit events.")
    username = models.CharField(max_length=150, blank=True)
    erased_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "audit identities"

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        if self.erased_at is not None:
            return erased_label(self.actor_id)
        return self.username or f"user #{self.actor_id}"


class AuditEventManager(models.Manager):
    """Events come with their identity and detail (one join each): what every reader of an event shows."""

    def get_queryset(self):
        return super().get_queryset().select_related("actor", "detail")


class AuditEvent(models.Model):
    """Who did what to which object, when, from where.

    Rows are append-only: database triggers (migrations 0002 and 0003) refuse every UPDATE, DELETE and TRUNCATE,
    and the admin offers no change or delete. The actor is the pseudonymous ``actor_id`` (no database foreign key
    to the user, so deleting a user neither cascades into nor needs to update the trail); its name, the client
    address and any personal text are in the erasable ``AuditIdentity`` / ``AuditEventDetail``.
    """

    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    category = models.CharField(max_length=10, choices=Category.choices, default=Category.DATA)
    action = models.CharField(max_length=64, help_text="e.g. project.created, auth.login_failed, token.revoked")
    object_type = models.CharField(max_length=100, blank=True, help_text="app_label.model, e.g. projects.project")
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True, help_text="Without personal text (see the detail).")
    actor_type = models.CharField(max_length=10, choices=ActorType.choices)
    actor = models.ForeignKey(
        AuditIdentity,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="events",
        help_text="The acting user's id (pseudonymous; the name is in the audit identity).",
    )
    actor_token = models.CharField(max_length=16, blank=True, help_text="Prefix of the API token used, if any.")
    source = models.CharField(max_length=10, choices=Source.choices)
    changes = models.JSONField(default=dict, blank=True, help_text='{"field": {"before": …, "after": …}}')
    extra = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=64, blank=True)

    objects = AuditEventManager()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["-occurred_at", "-id"], name="audit_time_idx"),
            models.Index(fields=["action", "-occurred_at"], name="audit_action_idx"),
            models.Index(fields=["object_type", "object_id"], name="audit_object_idx"),
            models.Index(fields=["actor", "-occurred_at"], name="audit_actor_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.action} {self.object_type}#{self.object_id}"

    # What the surfaces show: the event merged with its erasable identity and detail (select_related them).
    @property
    def _detail(self):
        return getattr(self, "detail", None)

    @property
    def actor_username(self) -> str:
        """The actor's name as shown: ``erased user #<id>`` after erasure, "" for the system and anonymous visitors."""
        if self.actor_id is None:
            return ""
        try:
            identity = self.actor
        except AuditIdentity.DoesNotExist:
            identity = None
        return identity.label if identity is not None else f"user #{self.actor_id}"

    @property
    def ip(self) -> str | None:
        detail = self._detail
        return detail.ip if detail is not None else None

    @property
    def user_agent(self) -> str:
        detail = self._detail
        return detail.user_agent if detail is not None else ""

    @property
    def display_repr(self) -> str:
        detail = self._detail
        return (detail.object_repr if detail is not None else "") or self.object_repr

    @property
    def display_changes(self) -> dict:
        detail = self._detail
        return {**self.changes, **detail.changes} if detail is not None and detail.changes else self.changes

    @property
    def display_extra(self) -> dict:
        detail = self._detail
        return {**self.extra, **detail.extra} if detail is not None and detail.extra else self.extra

    def shown(self) -> dict:
        """The event as every surface shows it (API, CSV, the per-user export), keyed by ``SHOWN_FIELDS``."""
        return {
            "id": self.pk,
            "occurred_at": self.occurred_at,
            "category": self.category,
            "action": self.action,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "object_repr": self.display_repr,
            "actor_type": self.actor_type,
            "actor_id": self.actor_id,
            "actor_username": self.actor_username,
            "actor_token": self.actor_token,
            "source": self.source,
            "changes": self.display_changes,
            "extra": self.display_extra,
            "ip": self.ip,
            "user_agent": self.user_agent,
            "request_id": self.request_id,
        }


class AuditEventDetail(models.Model):
    """The erasable part of one event: client address, user agent, and personal text about ``subject_id``.

    Written only when there is something to keep. Erasure of a user clears the address and agent of their events
    (and of anonymous events about them, such as failed logins with their username) and the personal text about
    them, leaving ``erased user #<id>``.
    """

    event = models.OneToOneField(AuditEvent, primary_key=True, on_delete=models.DO_NOTHING, related_name="detail")
    subject_id = models.BigIntegerField(null=True, blank=True, db_index=True, help_text="The user this is about.")
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    extra = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"detail of audit event {self.event_id}"


class AuditSeal(models.Model):
    """One link of the hash chain over the audit events: tamper evidence beyond the append-only trigger.

    ``digest`` = SHA-256 of the previous seal's digest and the event's canonical content (``version`` names the
    content layout; see ``apps.audit.chain``). Seals are written in batches by ``audit_seal`` (a periodic task),
    never by the writers of events, so writing an event takes no lock. Append-only like the events.
    """

    event = models.OneToOneField(AuditEvent, on_delete=models.DO_NOTHING, related_name="seal")
    version = models.PositiveSmallIntegerField(default=1)
    previous = models.CharField(max_length=64)
    digest = models.CharField(max_length=64)
    sealed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"seal {self.pk} of audit event {self.event_id}"


# Tables whose triggers refuse UPDATE, DELETE and TRUNCATE (migrations 0002, 0003): nothing may empty them, so a
# restore loads them only into a schema where they are still empty.
APPEND_ONLY_MODELS = (AuditEvent, AuditSeal)
