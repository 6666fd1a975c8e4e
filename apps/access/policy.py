"""The permission matrix: who may read, create, change and delete what. This module is the single source of truth;
the API permission class, the scoping selectors, the system check, the tests and the docs/access.md table all read it.

Principals are the tenant roles plus ``service`` (service accounts, whatever their ``role`` field says).

A cell says on which objects a principal may perform an action on a resource:

* ``ALL``    — every object of the tenant (for create: may create anywhere);
* ``VIEW``   — objects the principal can see (read only: private projects need team membership or a grant);
* ``CHANGE`` — objects on which the principal holds at least *change* (its own, a team it is on, or a grant);
  for create: inside a parent (project, artifact) on which it holds *change*;
* ``MANAGE`` — objects on which the principal holds *manage* (creators get manage; leads hand it out);
* ``OWN``    — only its own objects (tokens);
* ``None``   — refused (403).

The token scope column says what an API token must carry for the action (``read`` < ``write`` < ``admin``);
dashboard sessions are not limited by scope.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from apps.accounts.choices import Role, TokenScope

# ---------------------------------------------------------------------------------------------- vocabulary
ALL: Final = "all"
VIEW: Final = "view"
CHANGE: Final = "change"
MANAGE: Final = "manage"
OWN: Final = "own"
CELL_VALUES = (ALL, VIEW, CHANGE, MANAGE, OWN, None)

READ: Final = "read"
CREATE: Final = "create"
UPDATE: Final = "change"
DELETE: Final = "delete"
ACTIONS = (READ, CREATE, UPDATE, DELETE)

SERVICE: Final = "service"
PRINCIPALS = (Role.OWNER.value, Role.ADMIN.value, Role.LEAD.value, Role.MEMBER.value, Role.VIEWER.value, SERVICE)

# Object access levels, weakest first. A user's level on a project or artifact decides CHANGE/MANAGE cells.
LEVELS = (VIEW, CHANGE, MANAGE)
SCOPES = (TokenScope.READ.value, TokenScope.WRITE.value, TokenScope.ADMIN.value)

# HTTP method → action, for views that do not map their actions explicitly.
METHOD_ACTIONS = {
    "GET": READ,
    "HEAD": READ,
    "OPTIONS": READ,
    "POST": CREATE,
    "PUT": UPDATE,
    "PATCH": UPDATE,
    "DELETE": DELETE,
}
# DRF viewset action → action; extra actions (``@action``) must be mapped by the view (``access_actions``).
VIEWSET_ACTIONS = {
    "list": READ,
    "retrieve": READ,
    "metadata": READ,
    "create": CREATE,
    "update": UPDATE,
    "partial_update": UPDATE,
    "destroy": DELETE,
}


@dataclass(frozen=True)
class Resource:
    """What a resource is and how its objects reach the object that carries permissions (the *anchor*).

    ``model`` is the main model; ``anchor`` is ``"project"`` or ``"artifact"`` for resources whose objects are
    guarded by project/artifact permissions, and ``anchor_paths`` maps each model of the resource to the lookup
    path from it to the anchor (``""`` for the anchor itself). ``owner_path`` is the lookup to the owning user for
    ``OWN`` cells. ``models`` names the resource's other models (those without a path to an anchor, and those the
    scoping selectors never see): the Django admin finds the resource governing each model it shows here or in
    ``anchor_paths`` (``resource_of_model``), and refuses models found in neither.
    """

    label: str
    anchor: str | None = None
    anchor_paths: tuple[tuple[str, str], ...] = ()
    owner_path: str | None = None
    models: tuple[str, ...] = ()


RESOURCES: dict[str, Resource] = {
    "projects": Resource(
        "Projects", "project", (("projects.Project", ""),), models=("mlflow_api.Experiment", "mlflow_api.ExperimentTag")
    ),
    "team_members": Resource("Team members", "project", (("projects.TeamMember", "project"),)),
    "runs": Resource(
        "Runs (with params, tags and dataset inputs)",
        "project",
        (
            ("metrics.Run", "project"),
            ("mlflow_api.Dataset", "project"),
            ("mlflow_api.RunInput", "run__project"),
            ("mlflow_api.RunModelLink", "run__project"),
        ),
        models=("metrics.RunParam", "metrics.RunTag"),
    ),
    "metrics": Resource(
        "Metrics",
        "project",
        (
            ("metrics.MetricPoint", "run__project"),
            ("metrics.LatestMetric", "run__project"),
            ("metrics.MetricSeries", "run__project"),
        ),
    ),
    "logged_models": Resource(
        "Logged models (MLflow 3, with params, tags and metrics)",
        "project",
        (
            ("mlflow_api.LoggedModel", "project"),
            ("mlflow_api.LoggedModelTag", "model__project"),
            ("mlflow_api.LoggedModelParam", "model__project"),
            ("mlflow_api.LoggedModelMetric", "model__project"),
        ),
    ),
    "artifacts": Resource("Artifacts", "artifact", (("artifacts.Artifact", ""),)),
    "artifact_versions": Resource(
        "Artifact versions",
        "artifact",
        (("artifacts.ArtifactVersion", "artifact"),),
        models=("artifacts.ArtifactBlob",),
    ),
    "usages": Resource("Artifact usages", "project", (("artifacts.ArtifactUsage", "project"),)),
    "mlflow_artifacts": Resource(
        "MLflow artifacts (files of runs and models)",
        "project",
        (("mlflow_api.ArtifactFile", "project"), ("mlflow_api.ArtifactUpload", "project")),
    ),
    # A registered model is an artifact of the library and its versions are artifact versions: the artifact's
    # permissions govern them (see apps/mlflow_api/models.py).
    "registered_models": Resource(
        "Registered models (with tags and aliases)",
        "artifact",
        (
            ("mlflow_api.RegisteredModel", "artifact"),
            ("mlflow_api.RegisteredModelTag", "registered_model__artifact"),
            ("mlflow_api.RegisteredModelAlias", "registered_model__artifact"),
        ),
    ),
    "model_versions": Resource(
        "Model versions (with tags and stages)",
        "artifact",
        (
            ("mlflow_api.ModelVersion", "registered_model__artifact"),
            ("mlflow_api.ModelVersionTag", "version__registered_model__artifact"),
        ),
    ),
    "integrations": Resource(
        "Git/CI integrations, delivery metrics",
        "project",
        (
            ("integrations.Integration", "project"),
            ("integrations.WebhookDelivery", "integration__project"),
            ("integrations.Commit", "project"),
            ("integrations.PullRequest", "project"),
            ("integrations.Review", "pull_request__project"),
            ("integrations.CiRun", "project"),
        ),
    ),
    "models": Resource(
        "Success models (recommendations): retraining, promotion",
        models=(
            "recommendations.SuccessModel",
            "recommendations.ModelEvent",
            "recommendations.TrainingRun",
            "recommendations.Prediction",
            "recommendations.ArtifactImpact",
        ),
    ),
    "webhooks": Resource(
        "Webhook subscriptions and deliveries",
        models=("webhooks.Subscription", "webhooks.Delivery", "webhooks.Event"),
    ),
    "notifications": Resource("Own notifications (bell)", owner_path="user", models=("webhooks.NotificationCursor",)),
    "project_attributes": Resource("Project attribute definitions"),
    "project_import": Resource("Bulk import of historical projects"),
    "training_data": Resource("Training data export of a model version"),
    "grants": Resource("Object permission grants"),
    # Groups exist to receive grants and are administered with users; axes' rows are users' login attempts.
    "users": Resource(
        "Users and service accounts",
        models=("accounts.User", "auth.Group", "axes.AccessAttempt", "axes.AccessLog", "axes.AccessFailureLog"),
    ),
    "tokens": Resource("API tokens", owner_path="user", models=("accounts.ApiToken",)),
    "audit_log": Resource("Audit log", models=("audit.AuditEvent",)),
    "tenant_settings": Resource("Tenant settings", models=("projects.ScoringSettings",)),
    # The tenant's OpenID Connect provider (client secret included, never shown) and people's links to it.
    "sso_settings": Resource("Single sign-on settings", models=("sso.SsoConfig", "sso.SsoIdentity")),
    "me": Resource("Own profile (/me)"),
}

# The model each anchor kind is, and the permissions that express each level on it (guardian codenames).
ANCHOR_MODELS = {"project": "projects.Project", "artifact": "artifacts.Artifact"}


@dataclass(frozen=True)
class Rule:
    resource: str
    action: str
    owner: str | None
    admin: str | None
    lead: str | None
    member: str | None
    viewer: str | None
    service: str | None
    scope: str | None

    def cell(self, principal: str) -> str | None:
        return getattr(self, principal)


_ = None
R, W, A = TokenScope.READ.value, TokenScope.WRITE.value, TokenScope.ADMIN.value

# fmt: off
RULES: tuple[Rule, ...] = (
    #     resource            action  owner admin lead    member  viewer service token scope
    Rule("projects",          READ,   ALL,  ALL,  VIEW,   VIEW,   VIEW,  VIEW,   R),
    Rule("projects",          CREATE, ALL,  ALL,  ALL,    ALL,    _,     _,      W),
    Rule("projects",          UPDATE, ALL,  ALL,  CHANGE, CHANGE, _,     _,      W),
    Rule("projects",          DELETE, ALL,  ALL,  MANAGE, MANAGE, _,     _,      W),
    Rule("team_members",      READ,   ALL,  ALL,  VIEW,   VIEW,   VIEW,  VIEW,   R),
    Rule("team_members",      CREATE, ALL,  ALL,  MANAGE, _,      _,     _,      W),
    Rule("team_members",      UPDATE, ALL,  ALL,  MANAGE, _,      _,     _,      W),
    Rule("team_members",      DELETE, ALL,  ALL,  MANAGE, _,      _,     _,      W),
    Rule("runs",              READ,   ALL,  ALL,  VIEW,   VIEW,   VIEW,  VIEW,   R),
    Rule("runs",              CREATE, ALL,  ALL,  CHANGE, CHANGE, _,     CHANGE, W),
    Rule("runs",              UPDATE, ALL,  ALL,  CHANGE, CHANGE, _,     CHANGE, W),
    Rule("runs",              DELETE, ALL,  ALL,  MANAGE, MANAGE, _,     _,      W),
    Rule("metrics",           READ,   ALL,  ALL,  VIEW,   VIEW,   VIEW,  VIEW,   R),
    Rule("metrics",           CREATE, ALL,  ALL,  CHANGE, CHANGE, _,     CHANGE, W),
    Rule("metrics",           UPDATE, _,    _,    _,      _,      _,     _,      _),
    Rule("metrics",           DELETE, _,    _,    _,      _,      _,     _,      _),
    Rule("logged_models",     READ,   ALL,  ALL,  VIEW,   VIEW,   VIEW,  VIEW,   R),
    Rule("logged_models",     CREATE, ALL,  ALL,  CHANGE, CHANGE, _,     CHANGE, W),
    Rule("logged_models",     UPDATE, ALL,  ALL,  CHANGE, CHANGE, _,     CHANGE, W),
    Rule("logged_models",     DELETE, ALL,  ALL,  MANAGE, MANAGE, _,     _,      W),
    Rule("artifacts",         READ,   ALL,  ALL,  VIEW,   VIEW,   VIEW,  VIEW,   R),
    Rule("artifacts",         CREATE, ALL,  ALL,  ALL,    ALL,    _,     _,      W),
    Rule("artifacts",         UPDATE, ALL,  ALL,  CHANGE, CHANGE, _,     _,      W),
    Rule("artifacts",         DELETE, ALL,  ALL,  MANAGE, MANAGE, _,     _,      W),
    Rule("artifact_versions", READ,   ALL,  ALL,  VIEW,   VIEW,   VIEW,  VIEW,   R),
    Rule("artifact_versions", CREATE, ALL,  ALL,  CHANGE, CHANGE, _,     CHANGE, W),
    Rule("artifact_versions", UPDATE, ALL,  ALL,  CHANGE, CHANGE, _,     _,      W),
    Rule("artifact_versions", DELETE, ALL,  ALL,  MANAGE, MANAGE, _,     _,      W),
    Rule("usages",            READ,   ALL,  ALL,  VIEW,   VIEW,   VIEW,  VIEW,   R),
    Rule("usages",            CREATE, ALL,  ALL,  CHANGE, CHANGE, _,     CHANGE, W),
    Rule("usages",            UPDATE, ALL,  ALL,  CHANGE, CHANGE, _,     _,      W),
    Rule("usages",            DELETE, ALL,  ALL,  MANAGE, MANAGE, _,     _,      W),
    Rule("mlflow_artifacts",  READ,   ALL,  ALL,  VIEW,   VIEW,   VIEW,  VIEW,   R),
    Rule("mlflow_artifacts",  CREATE, ALL,  ALL,  CHANGE, CHANGE, _,     CHANGE, W),
    Rule("mlflow_artifacts",  UPDATE, ALL,  ALL,  CHANGE, CHANGE, _,     CHANGE, W),
    Rule("mlflow_artifacts",  DELETE, ALL,  ALL,  CHANGE, CHANGE, _,     CHANGE, W),
    Rule("registered_models", READ,   ALL,  ALL,  VIEW,   VIEW,   VIEW,  VIEW,   R),
    Rule("registered_models", CREATE, ALL,  ALL,  ALL,    ALL,    _,     _,      W),
    Rule("registered_models", UPDATE, ALL,  ALL,  CHANGE, CHANGE, _,     _,      W),
    Rule("registered_models", DELETE, ALL,  ALL,  MANAGE, MANAGE, _,     _,      W),
    Rule("model_versions",    READ,   ALL,  ALL,  VIEW,   VIEW,   VIEW,  VIEW,   R),
    Rule("model_versions",    CREATE, ALL,  ALL,  CHANGE, CHANGE, _,     CHANGE, W),
    Rule("model_versions",    UPDATE, ALL,  ALL,  CHANGE, CHANGE, _,     _,      W),
    Rule("model_versions",    DELETE, ALL,  ALL,  MANAGE, MANAGE, _,     _,      W),
    Rule("integrations",      READ,   ALL,  ALL,  VIEW,   VIEW,   VIEW,  VIEW,   R),
    Rule("integrations",      CREATE, ALL,  ALL,  CHANGE, CHANGE, _,     _,      W),
    Rule("integrations",      UPDATE, ALL,  ALL,  CHANGE, CHANGE, _,     _,      W),
    Rule("integrations",      DELETE, ALL,  ALL,  CHANGE, CHANGE, _,     _,      W),
    Rule("project_attributes", READ,  ALL,  ALL,  ALL,    ALL,    ALL,   ALL,    R),
    Rule("project_attributes", CREATE, ALL, ALL,  _,      _,      _,     _,      A),
    Rule("project_attributes", UPDATE, ALL, ALL,  _,      _,      _,     _,      A),
    Rule("project_attributes", DELETE, ALL, ALL,  _,      _,      _,     _,      A),
    Rule("project_import",    READ,   _,    _,    _,      _,      _,     _,      _),
    Rule("project_import",    CREATE, ALL,  ALL,  ALL,    _,      _,     _,      W),
    Rule("project_import",    UPDATE, _,    _,    _,      _,      _,     _,      _),
    Rule("project_import",    DELETE, _,    _,    _,      _,      _,     _,      _),
    Rule("models",            READ,   ALL,  ALL,  ALL,    ALL,    ALL,   ALL,    R),
    Rule("models",            CREATE, ALL,  ALL,  ALL,    _,      _,     _,      W),
    Rule("models",            UPDATE, ALL,  ALL,  ALL,    _,      _,     _,      A),
    Rule("models",            DELETE, ALL,  ALL,  _,      _,      _,     _,      A),
    Rule("webhooks",          READ,   ALL,  ALL,  _,      _,      _,     _,      R),
    Rule("webhooks",          CREATE, ALL,  ALL,  _,      _,      _,     _,      A),
    Rule("webhooks",          UPDATE, ALL,  ALL,  _,      _,      _,     _,      A),
    Rule("webhooks",          DELETE, ALL,  ALL,  _,      _,      _,     _,      A),
    Rule("notifications",     READ,   ALL,  ALL,  OWN,    OWN,    OWN,   _,      R),
    Rule("notifications",     CREATE, _,    _,    _,      _,      _,     _,      _),
    Rule("notifications",     UPDATE, ALL,  ALL,  OWN,    OWN,    OWN,   _,      W),
    Rule("notifications",     DELETE, _,    _,    _,      _,      _,     _,      _),
    Rule("training_data",     READ,   ALL,  ALL,  ALL,    ALL,    _,     _,      R),
    Rule("training_data",     CREATE, _,    _,    _,      _,      _,     _,      _),
    Rule("training_data",     UPDATE, _,    _,    _,      _,      _,     _,      _),
    Rule("training_data",     DELETE, _,    _,    _,      _,      _,     _,      _),
    Rule("grants",            READ,   ALL,  ALL,  MANAGE, _,      _,     _,      R),
    Rule("grants",            CREATE, ALL,  ALL,  MANAGE, _,      _,     _,      A),
    Rule("grants",            UPDATE, ALL,  ALL,  MANAGE, _,      _,     _,      A),
    Rule("grants",            DELETE, ALL,  ALL,  MANAGE, _,      _,     _,      A),
    Rule("users",             READ,   ALL,  ALL,  ALL,    ALL,    ALL,   _,      R),
    Rule("users",             CREATE, ALL,  ALL,  _,      _,      _,     _,      A),
    Rule("users",             UPDATE, ALL,  ALL,  _,      _,      _,     _,      A),
    Rule("users",             DELETE, ALL,  ALL,  _,      _,      _,     _,      A),
    Rule("tokens",            READ,   ALL,  ALL,  OWN,    OWN,    OWN,   OWN,    R),
    Rule("tokens",            CREATE, ALL,  ALL,  OWN,    OWN,    OWN,   _,      W),
    Rule("tokens",            UPDATE, ALL,  ALL,  OWN,    OWN,    OWN,   OWN,    W),
    Rule("tokens",            DELETE, _,    _,    _,      _,      _,     _,      _),
    Rule("audit_log",         READ,   ALL,  ALL,  _,      _,      _,     _,      A),
    Rule("audit_log",         CREATE, _,    _,    _,      _,      _,     _,      _),
    Rule("audit_log",         UPDATE, _,    _,    _,      _,      _,     _,      _),
    Rule("audit_log",         DELETE, _,    _,    _,      _,      _,     _,      _),
    Rule("tenant_settings",   READ,   ALL,  ALL,  ALL,    ALL,    ALL,   ALL,    R),
    Rule("tenant_settings",   CREATE, _,    _,    _,      _,      _,     _,      _),
    Rule("tenant_settings",   UPDATE, ALL,  ALL,  _,      _,      _,     _,      A),
    Rule("tenant_settings",   DELETE, _,    _,    _,      _,      _,     _,      _),
    Rule("sso_settings",      READ,   ALL,  ALL,  _,      _,      _,     _,      A),
    Rule("sso_settings",      CREATE, _,    _,    _,      _,      _,     _,      _),
    Rule("sso_settings",      UPDATE, ALL,  _,    _,      _,      _,     _,      A),
    Rule("sso_settings",      DELETE, ALL,  _,    _,      _,      _,     _,      A),
    Rule("me",                READ,   ALL,  ALL,  ALL,    ALL,    ALL,   ALL,    R),
    Rule("me",                CREATE, _,    _,    _,      _,      _,     _,      _),
    Rule("me",                UPDATE, _,    _,    _,      _,      _,     _,      _),
    Rule("me",                DELETE, _,    _,    _,      _,      _,     _,      _),
)
# fmt: on

# What each resource's actions mean where the plain verb is not obvious (shown in docs/access.md).
ACTION_NOTES = {
    ("models", CREATE): "train / retrain",
    ("models", UPDATE): "promote / roll back, with a reason",
    ("project_import", CREATE): "import projects in bulk (counted as one write)",
    ("training_data", READ): "rows of projects the user may see",
    ("grants", CREATE): "grant view/change/manage on a project or artifact",
    ("users", DELETE): "deactivate",
    ("integrations", UPDATE): "also rotate secret, re-process",
    ("webhooks", UPDATE): "also rotate secret, test ping, resend a delivery",
    ("notifications", UPDATE): "mark read",
    ("tokens", UPDATE): "revoke",
    ("metrics", CREATE): "log metrics (ingest)",
    ("mlflow_artifacts", UPDATE): "no route: an upload to a taken path replaces the file",
    ("mlflow_artifacts", CREATE): "upload or replace a file (PUT, multipart), like log-batch",
    ("runs", CREATE): "also log params, tags and dataset inputs",
    ("logged_models", UPDATE): "finalize, tags, params",
    ("registered_models", UPDATE): "rename, describe, tags, aliases",
    ("model_versions", CREATE): "register a model version",
    ("model_versions", UPDATE): "describe, tags, stage transitions",
    ("sso_settings", UPDATE): "set up, enter the client secret, SSO only",
    ("sso_settings", DELETE): "remove with the secret",
}

# Rules only owners hold (admins otherwise hold everything owners do), each with the reason.
OWNER_ONLY: dict[tuple[str, str], str] = {
    ("sso_settings", UPDATE): "whoever chooses the identity provider can sign in as anyone it vouches for, owners "
    "included (matched by verified e-mail), so only owners choose it",
    ("sso_settings", DELETE): "removing single sign-on turns passwords back on and drops the client secret",
}

MATRIX: dict[tuple[str, str], Rule] = {(rule.resource, rule.action): rule for rule in RULES}


class PolicyError(LookupError):
    """A view or caller named a resource or action the matrix does not know."""


def rule_for(resource: str, action: str) -> Rule:
    try:
        return MATRIX[(resource, action)]
    except KeyError:
        raise PolicyError(f"No rule for action '{action}' on resource '{resource}'.") from None


def principal_of(user) -> str | None:
    """The matrix column for ``user``: its role, or ``service`` for service accounts; None for anonymous users."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    if getattr(user, "is_service_account", False):
        return SERVICE
    role = getattr(user, "role", None)
    return role if role in PRINCIPALS else None


def cell(user, resource: str, action: str) -> str | None:
    principal = principal_of(user)
    if principal is None:
        return None
    return rule_for(resource, action).cell(principal)


def is_admin(user) -> bool:
    """Owners and admins see and may act on every object of their tenant."""
    return principal_of(user) in (Role.OWNER.value, Role.ADMIN.value)


def scope_allows(token_scope: str | None, required: str | None) -> bool:
    """Whether a token of ``token_scope`` (None: a session, unlimited) may perform an action needing ``required``."""
    if token_scope is None or required is None:
        return True
    return SCOPES.index(token_scope) >= SCOPES.index(required)


def level_at_least(level: str | None, required: str) -> bool:
    return level is not None and LEVELS.index(level) >= LEVELS.index(required)


def resource_for_model(label: str) -> tuple[str, Resource, str]:
    """(resource name, resource, path to its anchor) for a model label such as ``metrics.Run``."""
    for name, resource in RESOURCES.items():
        for model_label, path in resource.anchor_paths:
            if model_label.lower() == label.lower():
                return name, resource, path
    raise PolicyError(f"Model '{label}' belongs to no resource of the permission matrix.")


def resource_of_model(label: str) -> str | None:
    """The resource governing model ``label`` (``app_label.ModelName``, any case), or None when no resource names it."""
    wanted = label.lower()
    for name, resource in RESOURCES.items():
        labels = [model_label for model_label, _path in resource.anchor_paths] + list(resource.models)
        if any(model_label.lower() == wanted for model_label in labels):
            return name
    return None


def validate() -> list[str]:
    """Problems in the matrix itself (checked at start-up and by the tests): every resource has exactly the four
    actions, every cell is a known value, and allowed actions name a token scope."""
    problems = []
    for name in RESOURCES:
        for action in ACTIONS:
            if (name, action) not in MATRIX:
                problems.append(f"{name}.{action}: missing rule")
    for rule in RULES:
        if rule.resource not in RESOURCES:
            problems.append(f"{rule.resource}: unknown resource")
        if rule.action not in ACTIONS:
            problems.append(f"{rule.resource}.{rule.action}: unknown action")
        cells = [rule.cell(p) for p in PRINCIPALS]
        if any(c not in CELL_VALUES for c in cells):
            problems.append(f"{rule.resource}.{rule.action}: unknown cell value")
        if any(cells) and rule.scope not in SCOPES:
            problems.append(f"{rule.resource}.{rule.action}: allowed for someone but names no token scope")
        if rule.action == READ and CHANGE in cells:
            problems.append(f"{rule.resource}.read: use VIEW, not CHANGE, for reads")
        if OWN in cells and RESOURCES.get(rule.resource, Resource("")).owner_path is None:
            problems.append(f"{rule.resource}.{rule.action}: OWN cell but the resource has no owner_path")
        owner_only = (rule.resource, rule.action) in OWNER_ONLY
        if any(cells) and (rule.owner != ALL or (rule.admin != ALL) != owner_only or (owner_only and any(cells[1:]))):
            problems.append(f"{rule.resource}.{rule.action}: owners and admins hold all, unless listed in OWNER_ONLY")
        object_level = any(c in (VIEW, CHANGE, MANAGE) for c in cells)
        # grants are checked on the object they are about, so they need no anchor of their own
        if object_level and not RESOURCES[rule.resource].anchor and rule.resource != "grants":
            problems.append(f"{rule.resource}.{rule.action}: object-level cell but the resource has no anchor")
    return problems


# ---------------------------------------------------------------------------------------------- docs table
CELL_TEXT = {ALL: "all", VIEW: "visible", CHANGE: "change", MANAGE: "manage", OWN: "own", None: "—"}


def markdown_table() -> str:
    """The matrix as the Markdown table in docs/access.md (a test keeps the two identical)."""
    header = "| resource | action | " + " | ".join(PRINCIPALS) + " | token scope |"
    lines = [header, "|" + "---|" * (len(PRINCIPALS) + 3)]
    for rule in RULES:
        action = rule.action
        note = ACTION_NOTES.get((rule.resource, rule.action))
        if note:
            action = f"{action}: {note}"
        cells = " | ".join(CELL_TEXT[rule.cell(p)] for p in PRINCIPALS)
        scope = rule.scope if any(rule.cell(p) for p in PRINCIPALS) else "—"
        lines.append(f"| {RESOURCES[rule.resource].label} | {action} | {cells} | {scope} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- outside the matrix
# Routes served without the matrix, each with the reason and what guards it instead (reviewed: every other route of
# both URL confs must be declared, or the tests fail and the gate answers 403). Keys: ``module.Class`` for
# class-based views, ``module.function`` for functions, ``<admin site>:<view>`` for the tenant admin's own pages
# (``apps.access.declarations.view_id``).
PUBLIC_ROUTES: dict[str, str] = {
    # API (DRF) views
    "drf_spectacular.views.SpectacularAPIView": "the OpenAPI schema describes the API and holds no tenant data",
    "drf_spectacular.views.SpectacularSwaggerSplitView": "Swagger UI page for the schema (no tenant data)",
    "apps.integrations.api.views.WebhookView": "GitHub/GitLab deliveries, authenticated by the provider's "
    "signature or token instead of a user; rate-limited per tenant in the ingest scope",
    "apps.mlflow_api.api.views.EndpointNotFoundView": "MLflow paths Maestro does not serve: answers MLflow's 404 "
    "ENDPOINT_NOT_FOUND for every method and reads or writes nothing (a Bearer token is still verified)",
    # signing in and out, one's own password
    "apps.sso.views.LoginView": "the login form, open to anyone by nature; guarded by the lockout "
    "(django-axes per username and address, and the per-username wait)",
    "apps.sso.views.LogoutView": "ends the caller's own session (POST only); after a single sign-on, points to the "
    "provider's end-session page",
    "apps.sso.views.sso_login": "starts an OpenID Connect sign-in at the tenant's own provider (state, nonce and PKCE "
    "verifier kept in the caller's session); reads no tenant data",
    "apps.sso.views.sso_callback": "the OpenID Connect redirect URI: signs in only with a state this session "
    "started and an ID token verified for this tenant's client (signature, iss, aud, exp, nonce; apps.sso.oidc)",
    "apps.sso.views.signed_out": "after logging out of an SSO session: shows the provider's end-session link kept "
    "in the caller's own session",
    "apps.access.views.PasswordChangeView": "the signed-in user's own password (login required; old-password "
    "guesses count towards the lockout)",
    "django.contrib.auth.views.PasswordChangeDoneView": "confirmation after one's own password change (login "
    "required; shows no data)",
    # fixed answers
    "django.views.generic.base.RedirectView": "a fixed redirect (favicon, the admin's old object URLs); reads no data",
    "django.views.generic.base.TemplateView": "renders a fixed template without data (the platform's landing page)",
    # the tenant admin's own pages (its model pages are governed by the matrix through their models)
    "admin:index": "lists only the models whose admin the matrix lets the user see; staff only",
    "admin:app_index": "lists only the models whose admin the matrix lets the user see; staff only",
    "admin:login": "the admin's login form, guarded by the same lockout as /accounts/login/",
    "admin:logout": "ends the caller's own session",
    "admin:password_change": "the signed-in staff user's own password (old-password guesses count towards the lockout)",
    "admin:password_change_done": "confirmation after one's own password change; shows no data",
    "admin:autocomplete_view": "answers only for models whose admin the matrix lets the user see (Django checks "
    "the ModelAdmin's view permission); staff only",
    "admin:i18n_javascript": "the admin's translation catalogue (static text)",
    "admin:catch_all_view": "adds a missing trailing slash or answers 404; staff only",
    "admin:shortcut": "'view on site': redirects staff to an object's own dashboard page, which applies the matrix; "
    "it only reveals whether an id exists",
}
PUBLIC_VIEWS = PUBLIC_ROUTES  # the former name, kept for callers

# Admin sites that are not a tenant's: their users are platform operators in the public schema, where the tenant
# roles of the matrix do not exist; Django's staff flag and model permissions govern them.
OPERATOR_ADMIN_SITES: dict[str, str] = {
    "platform_admin": "the platform operators' admin on the platform host (public schema: operators, tenants, "
    "exports); staff and Django model permissions, no tenant roles",
}
