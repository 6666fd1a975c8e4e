"""Privacy requests for one user of one tenant: export their data (JSON) and erase (anonymise) them.

Erasure anonymises in place instead of deleting, so everything the user did (runs, artifacts, audit events) keeps
its history with a *pseudonymous* actor: the user row keeps its primary key but its username becomes the
pseudonym (``actor_pseudonym``), its names and e-mail are cleared, its password made unusable and it is
deactivated; its tokens, sessions and object permissions are deleted. The audit trail stays append-only and its
hash chain valid: its events never held personal data, and ``apps.audit.services.audit_person_erase`` empties the
erasable side (the user's name behind their actor id, the addresses and agents of their events, personal text about
them), so they show as ``erased user #<id>``.

Hooks for other apps:

* ``actor_pseudonym(user)`` — a stable, non-reversible label (HMAC of tenant and user id under
  ``PRIVACY_PSEUDONYM_KEY``): what an erased user's username becomes.
* ``register_erasure_handler(fn)`` — ``fn(user=..., pseudonym=...)`` runs inside the erasure transaction; use it
  to scrub denormalised personal text an app stored.
* ``PERSONAL_TEXT_FIELDS`` — ``{"app.model": ("<user FK field>", ["<text field>", ...])}``: text fields replaced by
  the pseudonym on rows linked to the erased user.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core import serializers
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.utils import timezone

from apps.audit.selectors import audit_events_of_actor
from apps.audit.services import audit_person_erase, audit_security_event
from apps.ops.archive import SECRET_COLUMNS, tenant_models

EXPORT_FORMAT = "maestro-user-export"
EXPORT_FORMAT_VERSION = 1

PERSONAL_TEXT_FIELDS: dict[str, tuple[str, list[str]]] = {
    "projects.teammember": ("user", ["display_name"]),
}

ErasureHandler = Callable[..., None]
_erasure_handlers: list[ErasureHandler] = []


def register_erasure_handler(handler: ErasureHandler) -> ErasureHandler:
    """Run ``handler(user=..., pseudonym=...)`` in every erasure (usable as a decorator; idempotent)."""
    if handler not in _erasure_handlers:
        _erasure_handlers.append(handler)
    return handler


def actor_pseudonym(user) -> str:
    """``user-<16 hex>``: the same for one user of one tenant, different across tenants, not reversible."""
    user_id = user.pk if hasattr(user, "pk") else user
    message = f"{connection.schema_name}:{user_id}".encode()
    digest = hmac.new(settings.PRIVACY_PSEUDONYM_KEY.encode(), message, hashlib.sha256).hexdigest()
    return f"user-{digest[:16]}"


def _user_links(user_model) -> list[tuple[type[models.Model], models.Field]]:
    """Every (model, foreign key) of the tenant's models that points at the user model."""
    links = []
    for model in tenant_models():
        if model is user_model or model._meta.auto_created:
            continue
        for f in model._meta.concrete_fields:
            if f.is_relation and f.related_model is user_model:
                links.append((model, f))
    return links


def _strip_secrets(label: str, row: dict) -> dict:
    fields = row.get("fields", {})
    for column in SECRET_COLUMNS.get(label, {}):
        fields.pop(column, None)
    return row


def user_data_export(*, user) -> dict:
    """Everything of the tenant that belongs to or points at ``user``, as JSON-ready data (no secrets), and the
    audit events they performed as the audit log shows them (with their client addresses and user agents)."""
    user_model = get_user_model()
    label = user_model._meta.label_lower
    profile = _strip_secrets(label, serializers.serialize("python", [user])[0])
    related: dict[str, list[dict]] = {}
    for model, fk in _user_links(user_model):
        rows = model._base_manager.filter(**{fk.name: user}).order_by("pk")
        if rows.exists():
            key = f"{model._meta.label_lower} (via {fk.name})"
            related[key] = [
                _strip_secrets(model._meta.label_lower, row) for row in serializers.serialize("python", rows)
            ]
    events = [event.shown() for event in audit_events_of_actor(actor_id=user.pk)]
    if events:
        related["audit.auditevent (as actor)"] = events
    return {
        "format": EXPORT_FORMAT,
        "format_version": EXPORT_FORMAT_VERSION,
        "tenant": connection.schema_name,
        "exported_at": timezone.now().isoformat(),
        "user": profile,
        "related": related,
    }


def user_data_export_json(*, user) -> str:
    return json.dumps(user_data_export(user=user), cls=DjangoJSONEncoder, indent=2, sort_keys=True)


@dataclass(frozen=True)
class ErasureResult:
    pseudonym: str
    tokens_deleted: int
    sessions_deleted: int
    permissions_deleted: int
    rows_scrubbed: int
    audit_details_cleared: int


def _sessions_of(user) -> list[str]:
    keys = []
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if session.get_decoded().get("_auth_user_id") == str(user.pk):
            keys.append(session.session_key)
    return keys


@transaction.atomic
def user_erase(*, user) -> ErasureResult:
    """Anonymise ``user`` in place (see the module docstring); refuses the tenant's last active administrator."""
    user_model = get_user_model()
    if user.is_superuser and user.is_active:
        others = user_model.objects.filter(is_superuser=True, is_active=True).exclude(pk=user.pk)
        if not others.exists():
            raise ValidationError(
                {"user": "This is the organisation's last active administrator; make someone else administrator first."}
            )
    pseudonym = actor_pseudonym(user)
    tokens_deleted, _ = user.api_tokens.all().delete()
    session_keys = _sessions_of(user)
    sessions_deleted, _ = Session.objects.filter(session_key__in=session_keys).delete()
    permissions_deleted = 0
    for model_name in ("guardian.userobjectpermission",):
        if apps.is_installed("guardian"):
            permissions_deleted += apps.get_model(model_name).objects.filter(user=user).delete()[0]
    if apps.is_installed("apps.sso"):
        # The provider's subject identifier names the person there; without the link they cannot sign in as this row.
        apps.get_model("sso.ssoidentity").objects.filter(user=user).delete()
    user.groups.clear()
    user.user_permissions.clear()

    scrubbed = 0
    for label, (fk_name, text_fields) in PERSONAL_TEXT_FIELDS.items():
        try:
            model = apps.get_model(label)
        except LookupError:
            continue
        scrubbed += model._base_manager.filter(**{fk_name: user}).update(**dict.fromkeys(text_fields, pseudonym))
    from django.contrib.admin.models import LogEntry

    # Joined on app label and model (not ContentType.get_for_model): its cache is shared by all schemas.
    scrubbed += LogEntry.objects.filter(
        content_type__app_label=user_model._meta.app_label,
        content_type__model=user_model._meta.model_name,
        object_id=str(user.pk),
    ).update(object_repr=pseudonym, change_message="")

    user.username = pseudonym
    user.first_name = ""
    user.last_name = ""
    user.email = ""
    user.is_active = False
    user.is_staff = False
    user.is_superuser = False
    user.set_unusable_password()
    user.save()
    for handler in list(_erasure_handlers):
        handler(user=user, pseudonym=pseudonym)
    # Last, so the erasure's own events (the user.updated above, this one) are cleared with the rest.
    audit_security_event("user.erased", obj=user)
    audit_details_cleared = audit_person_erase(user_id=user.pk)
    return ErasureResult(
        pseudonym=pseudonym,
        tokens_deleted=tokens_deleted,
        sessions_deleted=sessions_deleted,
        permissions_deleted=permissions_deleted,
        rows_scrubbed=scrubbed,
        audit_details_cleared=audit_details_cleared,
    )
