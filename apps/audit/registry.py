"""Which models are audited, and how. One declaration per model covers the API, dashboard, admin and services.

Why model signals and not explicit calls in services: the admin, the dashboard and every service write through
``Model.save()`` / ``Model.delete()``; signals see all of them, including code written later by someone who never
heard of the audit trail, while explicit calls are silently forgotten (and the admin has no service layer). The
signal handlers only record — they change no data — and read who and where from context variables set per
request (``apps.audit.context``). Writes that bypass signals (``QuerySet.update``, ``bulk_create``, raw SQL) must use
the helpers in ``apps.audit.services`` (``audited_update``, ``audited_bulk_create``, ``audited_delete``,
``audit_bulk``), and high-volume ingest records one event per batch (``audit_ingest``).

Every model of a tenant app must appear either in ``AUDITED`` / ``audit_register(...)`` or in ``NOT_AUDITED`` with
a reason; ``tests/audit/test_registry.py`` fails for a model in neither.

Models that describe a person declare it: ``subject_field`` names the attribute holding the id of the user the row
is about (``pk`` for the user itself), and ``personal_fields`` the fields whose values identify them. Their events
keep those values (and the object's ``str()``) out of the append-only row, in the erasable detail
(``apps.audit.models``), so a privacy erasure can remove them without rewriting history.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from django.apps import apps
from django.db.models import Model

from apps.audit.models import Category

SECRET_NAME_RE = re.compile(r"(password|secret|token|key_hash|api_key|private_key|credential)", re.IGNORECASE)


@dataclass(frozen=True)
class Classified:
    action: str
    category: str = Category.DATA


# (spec, verb: "created"|"updated"|"deleted", changes) → Classified
Classifier = Callable[["AuditSpec", str, dict], Classified]


@dataclass(frozen=True)
class AuditSpec:
    model: type[Model]
    name: str
    secret_fields: frozenset[str] = frozenset()
    ignore_fields: frozenset[str] = frozenset()
    m2m_fields: tuple[str, ...] = ()
    category: str = Category.DATA
    classify: Classifier | None = field(default=None, compare=False)
    personal_fields: frozenset[str] = frozenset()
    subject_field: str = ""

    @property
    def is_personal(self) -> bool:
        """Rows of this model are about one person: their ``str()`` is personal text."""
        return bool(self.subject_field)

    def subject_of(self, obj: Model) -> int | None:
        return getattr(obj, self.subject_field, None) if self.subject_field else None

    @property
    def object_type(self) -> str:
        return self.model._meta.label_lower

    def is_secret(self, name: str) -> bool:
        return name in self.secret_fields or bool(SECRET_NAME_RE.search(name))

    def action(self, verb: str, changes: dict) -> Classified:
        if self.classify is not None:
            return self.classify(self, verb, changes)
        return Classified(f"{self.name}.{verb}", self.category)


_REGISTRY: dict[type[Model], AuditSpec] = {}


def _classify_user(spec: AuditSpec, verb: str, changes: dict) -> Classified:
    if verb == "updated":
        if "role" in changes:
            return Classified("user.role_changed", Category.SECURITY)
        if "password" in changes:
            return Classified("user.password_changed", Category.SECURITY)
    return Classified(f"user.{verb}", Category.SECURITY)


def _classify_token(spec: AuditSpec, verb: str, changes: dict) -> Classified:
    revoked = changes.get("revoked_at")
    if verb == "updated" and revoked and revoked.get("before") is None and revoked.get("after") is not None:
        return Classified("token.revoked", Category.SECURITY)
    return Classified(f"token.{verb}", Category.SECURITY)


# label → options. Add one line here (or call audit_register in the app's ready()) for every new tenant model.
AUDITED: dict[str, dict] = {
    "accounts.User": {
        "name": "user",
        "secret_fields": {"password"},
        "ignore_fields": {"last_login"},
        "m2m_fields": ("groups", "user_permissions"),
        "classify": _classify_user,
        "personal_fields": {"username", "first_name", "last_name", "email"},
        "subject_field": "pk",
    },
    "accounts.ApiToken": {
        "name": "token",
        "secret_fields": {"key_hash"},
        "classify": _classify_token,
        "personal_fields": {"name"},  # often the person's name or device ("carol laptop")
        "subject_field": "user_id",
    },
    "auth.Group": {"name": "group", "m2m_fields": ("permissions",), "category": Category.SECURITY},
    "projects.Project": {"name": "project"},
    "projects.TeamMember": {"name": "team_member", "personal_fields": {"display_name"}, "subject_field": "user_id"},
    "projects.ScoringSettings": {"name": "scoring_settings"},
    "projects.ProjectAttribute": {"name": "project_attribute"},
    "artifacts.Artifact": {"name": "artifact", "ignore_fields": {"usage_count"}},
    "artifacts.ArtifactBlob": {"name": "artifact_blob"},
    "artifacts.ArtifactVersion": {"name": "artifact_version"},
    "artifacts.ArtifactUsage": {"name": "artifact_usage"},
    "metrics.Run": {"name": "run"},
    "mlflow_api.Experiment": {"name": "mlflow_experiment"},
    "mlflow_api.ExperimentTag": {"name": "mlflow_experiment_tag"},
    # Every upload through the MLflow artifact proxy (created, or updated when a path is overwritten) and delete.
    "mlflow_api.ArtifactFile": {"name": "mlflow_artifact"},
    "mlflow_api.LoggedModel": {"name": "logged_model"},
    "mlflow_api.LoggedModelTag": {"name": "logged_model_tag"},
    "mlflow_api.LoggedModelParam": {"name": "logged_model_param"},
    "mlflow_api.Dataset": {"name": "mlflow_dataset"},
    "mlflow_api.RunInput": {"name": "run_input"},
    "mlflow_api.RunModelLink": {"name": "run_model_link"},
    "mlflow_api.RegisteredModel": {"name": "registered_model"},
    "mlflow_api.RegisteredModelTag": {"name": "registered_model_tag"},
    "mlflow_api.RegisteredModelAlias": {"name": "registered_model_alias"},
    "mlflow_api.ModelVersion": {"name": "model_version"},
    "mlflow_api.ModelVersionTag": {"name": "model_version_tag"},
    "integrations.Integration": {
        "name": "integration",
        "secret_fields": {"secret_salt", "secret_hash"},
        "ignore_fields": {"last_delivery_at"},
    },
    # Registry versions; the boosters and metrics are large and write-once, so only status/promotion changes show.
    # Promotions and rollbacks are also model.promoted / model.rolled_back security events.
    "recommendations.SuccessModel": {
        "name": "success_model",
        "ignore_fields": {
            "booster",
            "features",
            "cv_metrics",
            "feature_importances",
            "params",
            "data_fingerprint",
            "validation",
            "training_data",
        },
    },
    # Recorded only when changed from inside the tenant (e.g. renamed through the API); platform-schema activity
    # (operators' admin) is outside every tenant's trail.
    "tenants.Tenant": {"name": "tenant_settings", "ignore_fields": {"schema_name", "created_at"}},
}

# label (or "app_label.*") → why it is not audited per row.
NOT_AUDITED: dict[str, str] = {
    "accounts.AuthGeneration": "written only by database triggers on user/token changes, which are audited themselves",
    "metrics.MetricPoint": "high-volume ingest: one 'metrics.ingested' event per batch (audit_ingest)",
    "metrics.LatestMetric": "derived from metric points by ingest; covered by the batch event",
    "metrics.MetricSeries": "per-series point counts (kept by ingest) and packed copies (a read cache)",
    "metrics.RunParam": "written by run logging / log-batch; covered by the batch event (audit_ingest)",
    "metrics.RunTag": "written by run logging / log-batch; covered by the batch event (audit_ingest)",
    "mlflow_api.LoggedModelMetric": "metric points of a log-batch that name a logged model (the same points are"
    " in the run's history); covered by the batch's metrics.ingested event",
    "audit.AuditEvent": "the trail itself (append-only)",
    "audit.AuditIdentity": "the trail's actor names (written with each event, blanked by privacy erasure)",
    "audit.AuditEventDetail": "the trail's erasable per-event detail (client address, personal text)",
    "audit.AuditSeal": "the trail's hash chain (append-only, written by audit_seal)",
    "integrations.WebhookDelivery": "the append-only record of each webhook received (provider, delivery id, time,"
    " signature check); an audit row per delivery would duplicate it",
    "integrations.Commit": "derived from webhook deliveries by normalisation (re-buildable from them)",
    "integrations.PullRequest": "derived from webhook deliveries by normalisation (re-buildable from them)",
    "integrations.Review": "derived from webhook deliveries by normalisation (re-buildable from them)",
    "integrations.CiRun": "derived from webhook deliveries by normalisation (re-buildable from them)",
    "sessions.Session": "session rows; logins, logouts and expiries are audited as auth.* security events",
    "admin.LogEntry": "Django admin's own change log; admin changes are audited through the models they change",
    "contenttypes.ContentType": "schema bookkeeping written by migrations",
    "auth.Permission": "schema bookkeeping written by migrations",
    "guardian.UserObjectPermission": "written only by apps.access.services, which records one grant.changed event",
    "guardian.GroupObjectPermission": "written only by apps.access.services, which records one grant.changed event",
    "axes.*": "login attempt bookkeeping; failures and lockouts are audited as auth.* security events",
    "mlflow_api.ArtifactUpload": "a multipart upload in progress (bookkeeping until it completes or is aborted);"
    " the file it produces is audited as mlflow_artifact.created / .updated",
    "recommendations.ProjectEmbedding": "derived from the project's spec (recomputed when it changes)",
    "recommendations.EmbeddingIndexState": "a version counter of the embeddings, bumped by every embedding write",
    "recommendations.ModelEvent": "the registry's own promotion history; each promotion and rollback is also a"
    " model.promoted / model.rolled_back security event",
    "recommendations.TrainingRun": "the record of background ML work (requested by, status, timings, errors),"
    " listed by the API; an audit row per status change would duplicate it",
    "recommendations.Prediction": "the stored log of each recommendations call (who, request, response, time)",
    "recommendations.ArtifactImpact": "derived by the engine after each training; the Artifact.impact_score write"
    " is one artifact.bulk_updated event per computation",
    "webhooks.Event": "the outbound events themselves, recorded by the services whose changes are audited",
    "webhooks.Delivery": "the delivery log of each subscription (status, attempts, response excerpt); written by"
    " the system per event, and a user's resend is a webhook_delivery.resent event",
    "webhooks.NotificationCursor": "how far a user has read their notification bell (no tenant data)",
}


def audit_register(
    model: type[Model] | str,
    *,
    name: str | None = None,
    secret_fields=(),
    ignore_fields=(),
    m2m_fields=(),
    category: str = Category.DATA,
    classify: Classifier | None = None,
    personal_fields=(),
    subject_field: str = "",
) -> AuditSpec:
    """Audit every create, update and delete of ``model`` (one event each). Call once, e.g. in AppConfig.ready().

    ``secret_fields`` are recorded as changed but masked (fields named like password/secret/token/key are masked
    anyway); ``ignore_fields`` (plus ``auto_now`` fields) are left out, and an update touching only them records
    nothing; ``m2m_fields`` also record additions and removals; ``subject_field`` / ``personal_fields`` mark a model
    whose rows are about a person (see the module docstring).
    """
    # Imported here: the signals module reads this registry when it is imported (cycle).
    from apps.audit import signals

    if isinstance(model, str):
        model = apps.get_model(model)
    auto_now = {f.name for f in model._meta.concrete_fields if getattr(f, "auto_now", False)}
    spec = AuditSpec(
        model=model,
        name=name or model._meta.model_name,
        secret_fields=frozenset(secret_fields),
        ignore_fields=frozenset(ignore_fields) | auto_now,
        m2m_fields=tuple(m2m_fields),
        category=category,
        classify=classify,
        personal_fields=frozenset(personal_fields),
        subject_field=subject_field,
    )
    if model in _REGISTRY:
        if _REGISTRY[model] == spec:
            return spec
        raise ValueError(f"{model._meta.label} is already registered for auditing.")
    _REGISTRY[model] = spec
    signals.connect_model(spec)
    return spec


def spec_for(model: type[Model]) -> AuditSpec | None:
    return _REGISTRY.get(model)


def spec_for_label(object_type: str) -> AuditSpec | None:
    """The spec of an ``app_label.model`` object type (as events store it), or None."""
    for model, spec in _REGISTRY.items():
        if model._meta.label_lower == object_type:
            return spec
    return None


def registered() -> dict[type[Model], AuditSpec]:
    return dict(_REGISTRY)


def register_defaults() -> None:
    for label, options in AUDITED.items():
        try:
            model = apps.get_model(label)
        except LookupError:
            continue
        audit_register(model, **options)


def exemption_for(model: type[Model]) -> str | None:
    label = model._meta.label
    return NOT_AUDITED.get(label) or NOT_AUDITED.get(f"{model._meta.app_label}.*")
