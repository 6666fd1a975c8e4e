"""Settings shared by every environment. Values come from the environment (or .env, written by scripts/services.sh)."""

from datetime import timedelta
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
# .env never overrides variables already set in the process environment.
environ.Env.read_env(BASE_DIR / ".env")

SECRET_KEY = env("SECRET_KEY")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[".localhost", "localhost", "127.0.0.1"])

# Hosts that serve the platform (public schema): the operators' admin, health checks, and API requests routed by
# the tenant named in their Bearer token.
MAESTRO_PUBLIC_HOSTS = env.list("MAESTRO_PUBLIC_HOSTS", default=["localhost", "127.0.0.1"])
# Domain suffix used for new tenants when none is given: <slug>.<suffix>
MAESTRO_TENANT_DOMAIN_SUFFIX = env("MAESTRO_TENANT_DOMAIN_SUFFIX", default="localhost")
MAESTRO_BASE_PORT = env.int("MAESTRO_BASE_PORT", default=8000)

# ---------------------------------------------------------------------------------------------- apps / tenancy
SHARED_APPS = [
    "django_tenants",
    "apps.tenants",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "apps.accounts",
    "django.contrib.sessions",
    "django.contrib.messages",
    "apps.access.admin_config.TenantAdminConfig",  # django.contrib.admin, its site capped by the matrix
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "django_prometheus",
    "apps.ops",
    "axes",
    "csp",
]
# Identity lives in each tenant's schema: users, sessions, admin log, object permissions and API tokens.
TENANT_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "apps.accounts",
    "django.contrib.sessions",
    "django.contrib.messages",
    "apps.access.admin_config.TenantAdminConfig",  # django.contrib.admin, its site capped by the matrix
    "guardian",
    "axes",
    "apps.access",
    "apps.audit",
    "apps.projects",
    "apps.artifacts",
    "apps.metrics",
    "apps.dashboard",
    "apps.integrations",
    "apps.recommendations",
    "apps.mlflow_api",
    "apps.webhooks",
    "apps.sso",
]
INSTALLED_APPS = SHARED_APPS + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "tenants.Tenant"
TENANT_DOMAIN_MODEL = "tenants.Domain"
PUBLIC_SCHEMA_NAME = "public"
PUBLIC_SCHEMA_URLCONF = "maestro.urls_public"
ROOT_URLCONF = "maestro.urls"
# Set search_path only when the schema changes, not before every statement (each SET is a round trip).
# django-tenants 4.0.1 forgets the cached path on rollback and savepoint rollback, which revert a SET;
# tests/tenants/test_search_path.py checks both against a real PostgreSQL.
TENANT_LIMIT_SET_CALLS = True

AUTH_USER_MODEL = "accounts.User"

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "maestro.middleware.RequestIdMiddleware",
    "maestro.middleware.HealthCheckMiddleware",
    "maestro.api.middleware.RequestTextGuardMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "apps.access.headers.ContentSecurityPolicyMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "apps.tenants.middleware.TenantRoutingMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "maestro.middleware.ActorMiddleware",
    "apps.audit.context.AuditContextMiddleware",
    "apps.access.sessions.SessionTimeoutMiddleware",
    "apps.access.middleware.RouteGateMiddleware",  # undeclared routes are refused; dashboard role checks
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    "axes.middleware.AxesMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.tenants.context_processors.tenant",
            ],
        },
    },
]

WSGI_APPLICATION = "maestro.wsgi.application"

# ---------------------------------------------------------------------------------------------- data stores
DATABASES = {"default": env.db("DATABASE_URL")}
DATABASES["default"]["ENGINE"] = "maestro.postgresql"  # django-tenants' backend, skipping redundant SETs
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env.int("DB_CONNECT_TIMEOUT", default=5)
# psycopg prepares a statement of a maestro.db.server_binding() block (the fixed statements every request sends, the
# ingest statement) once it ran this often in such blocks on a connection; nothing else is prepared. "off" prepares
# nothing.
_prepare_threshold = env.str("DB_PREPARE_THRESHOLD", default="2")
MAESTRO_PREPARE_THRESHOLD = None if _prepare_threshold == "off" else int(_prepare_threshold)
ORIGINAL_BACKEND = "django_prometheus.db.backends.postgresql"
# What sits between Maestro and PostgreSQL: "direct" (nothing), "session" (a pooler in session mode, e.g. PgBouncer
# pool_mode=session) or "transaction" / "statement" (a pooler that hands each transaction or statement to any server
# connection). With TENANT_LIMIT_SET_CALLS the tenant's search_path is set once per connection, so the last two would
# run one tenant's statements in another's schema: the tenants.E001 system check refuses to start with them.
DATABASE_POOL_MODE = env.str("DATABASE_POOL_MODE", default="direct")
DATABASE_ROUTERS = ("django_tenants.routers.TenantSyncRouter",)
# The role web and workers connect as in the production split (docs/operations.md); grant_runtime_role's
# default. scripts/services.sh creates one locally when it can.
DATABASE_RUNTIME_ROLE = env("DATABASE_RUNTIME_ROLE", default="")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        # django_redis' RedisCache with django-prometheus hit/miss/failure counters.
        "BACKEND": "django_prometheus.cache.backends.redis.RedisCache",
        "LOCATION": env("CACHE_URL", default=REDIS_URL),
        # Every key is prefixed with the tenant's schema, so one tenant can never read another's cache entries.
        "KEY_FUNCTION": "django_tenants.cache.make_key",
        "REVERSE_KEY_FUNCTION": "django_tenants.cache.reverse_key",
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            "SOCKET_CONNECT_TIMEOUT": 1,
            "SOCKET_TIMEOUT": 1,
        },
    }
}

# ---------------------------------------------------------------------------------------------- auth
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # Django's ModelBackend, refusing passwords a registered policy turns off ("SSO only", apps.sso).
    "maestro.passwords.PasswordPolicyBackend",
    # Restores sessions that single sign-on started; checks no credentials itself.
    "apps.sso.backends.SsoSessionBackend",
    "guardian.backends.ObjectPermissionBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard:home"
LOGOUT_REDIRECT_URL = "login"
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# API paths answer a CSRF failure in JSON (their error shape), pages with Django's own page.
CSRF_FAILURE_VIEW = "maestro.api.errors.csrf_failure"
GUARDIAN_RAISE_403 = False
ANONYMOUS_USER_NAME = None

# API tokens: "mae_<tenant>_<prefix>_<secret>"; only SHA-256 of the secret is stored.
API_TOKEN_LAST_USED_RESOLUTION_SECONDS = env.int("API_TOKEN_LAST_USED_RESOLUTION_SECONDS", default=60)
# Per-process cache of token lookups (apps/accounts/token_cache.py): never stale (checked against a per-tenant
# generation on every request); the lifetime only bounds memory. 0 turns the cache off.
MAESTRO_AUTH_CACHE_SECONDS = env.int("MAESTRO_AUTH_CACHE_SECONDS", default=300)
MAESTRO_AUTH_CACHE_ENTRIES = env.int("MAESTRO_AUTH_CACHE_ENTRIES", default=10_000)

# ---------------------------------------------------------------------------------------------- i18n / static / files
LANGUAGE_CODE = "en-us"
FORMAT_MODULE_PATH = ["maestro.formats"]  # ISO dates on every page (maestro/formats/en/formats.py)
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
MEDIA_URL = "/media/"
# Where stored files (artifact library, MLflow artifacts) go; see maestro/storage.py and docs/storage.md.
# Empty: MEDIA_ROOT/<tenant schema>/ on this host's filesystem. s3://bucket[/prefix]: an S3-compatible bucket, with
# the endpoint of a non-AWS store (MinIO) below; credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
MAESTRO_STORAGE_URL = env("MAESTRO_STORAGE_URL", default="")
MAESTRO_STORAGE_ENDPOINT_URL = env("MAESTRO_STORAGE_ENDPOINT_URL", default="")
MAESTRO_STORAGE_PUBLIC_ENDPOINT_URL = env("MAESTRO_STORAGE_PUBLIC_ENDPOINT_URL", default="")
MAESTRO_STORAGE_REGION = env("MAESTRO_STORAGE_REGION", default="")
MAESTRO_STORAGE_PART_BYTES = env.int("MAESTRO_STORAGE_PART_BYTES", default=8 * 1024 * 1024)
MAESTRO_STORAGE_UPLOAD_CONCURRENCY = env.int("MAESTRO_STORAGE_UPLOAD_CONCURRENCY", default=1)
MAESTRO_STORAGE_CONNECT_TIMEOUT = env.float("MAESTRO_STORAGE_CONNECT_TIMEOUT", default=3.0)
MAESTRO_STORAGE_READ_TIMEOUT = env.float("MAESTRO_STORAGE_READ_TIMEOUT", default=30.0)
MAESTRO_STORAGE_MAX_ATTEMPTS = env.int("MAESTRO_STORAGE_MAX_ATTEMPTS", default=2)
# Multipart uploads (and partly written files) older than this are aborted by the storage-cleanup beat task.
MAESTRO_STORAGE_STALE_UPLOAD_SECONDS = env.int("MAESTRO_STORAGE_STALE_UPLOAD_SECONDS", default=24 * 60 * 60)
STORAGES = {
    "default": {"BACKEND": "maestro.storage.CurrentTenantStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# ---------------------------------------------------------------------------------------------- API
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.accounts.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["apps.access.permissions.AccessPolicy"],
    "DEFAULT_THROTTLE_CLASSES": ["maestro.api.throttling.RateLimitThrottle"],
    "DEFAULT_SCHEMA_CLASS": "maestro.api.schema.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "maestro.api.pagination.StablePageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "maestro.api.filters.FilterBackend",
        "rest_framework.filters.SearchFilter",
        "maestro.api.filters.StableOrderingFilter",
    ],
    "EXCEPTION_HANDLER": "maestro.api.exceptions.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON only (views that take uploads declare their multipart parsers); see maestro/api/parsers.py.
    "DEFAULT_PARSER_CLASSES": ["maestro.api.parsers.JSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Maestro API",
    "DESCRIPTION": "Projects, runs, metrics, artifact library and recommendations for ML teams. "
    "Authenticate with `Authorization: Bearer <token>`; the token names its tenant.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several models have a "role" or "status" field with different choices: name each set explicitly.
    "ENUM_NAME_OVERRIDES": {
        "UserRoleEnum": "apps.accounts.choices.Role",
        "MemberRoleEnum": "apps.projects.choices.MemberRole",
        "ProjectStatusEnum": "apps.projects.choices.ProjectStatus",
        "RunStatusEnum": "apps.metrics.choices.RunStatus",
        "DeliveryStatusEnum": "apps.integrations.choices.DeliveryStatus",
    },
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]",
    # Every operation documents the shared error responses (maestro/api/schema.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "maestro.api.schema.document_error_responses",
    ],
}
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {}).update(
    {
        "MemberRoleEnum": "apps.projects.choices.MemberRole",
        "ExperienceLevelEnum": "apps.projects.choices.ExperienceLevel",
        "TrainingRunStatusEnum": "apps.recommendations.choices.RunStatus",
        "SuccessModelStatusEnum": "apps.recommendations.choices.ModelStatus",
        "PredictionStatusEnum": "apps.recommendations.choices.PredictionStatus",
    }
)

# ---------------------------------------------------------------------------------------------- Celery
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# visibility_timeout: a message a worker took but never acknowledged (acks_late; its host died) goes back to the queue
# after this long. kombu's default, written out because it bounds two things: a task taking longer than this is
# delivered a second time while it still runs (ML runs hold an advisory lock, so that delivery is a no-op), and the
# work of a dead host waits this long unless something sooner picks it up (reconciliation re-sends ML runs within
# RECOMMENDATIONS_RECONCILE_SECONDS). A pool process killed alone is requeued at once (reject_on_worker_lost).
# Sending must never hang a request when Redis is down: fail fast, reconciliation picks the work up later.
# One immediate reconnection attempt (kombu waits interval_start, 2 s by default, before it), then give up.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 3600,
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BEAT_SCHEDULE = {
    "clear-expired-sessions": {
        "task": "accounts.clear_expired_sessions_all_tenants",
        "schedule": 6 * 60 * 60,
    },
    # Requests for background work made while the broker was down are sent again (maestro/enqueue.py).
    "integrations-reconcile-reprocess": {
        "task": "integrations.reconcile_reprocess",
        "schedule": env.int("INTEGRATIONS_RECONCILE_SECONDS", default=60),
    },
}
# The audit trail's hash chain (apps/audit/chain.py): new events are sealed this often.
AUDIT_SEAL_SECONDS = env.int("AUDIT_SEAL_SECONDS", default=300)
CELERY_BEAT_SCHEDULE["audit-seal"] = {"task": "audit.seal_all_tenants", "schedule": AUDIT_SEAL_SECONDS}
# Embedding, training and impact on the ml worker; reconciliation (light reads that queue runs) on the default one, so
# the ml queue is empty between pieces of real work (apps/recommendations/tasks.py).
CELERY_TASK_ROUTES = {
    "recommendations.reconcile": {"queue": "default"},
    "recommendations.reconcile_all_tenants": {"queue": "default"},
    "recommendations.*": {"queue": "ml"},
}
# Abandoned multipart uploads and partly written files, hashes of multipart uploads, files of deleted runs.
CELERY_BEAT_SCHEDULE["storage-housekeeping"] = {
    "task": "mlflow_api.artifact_housekeeping_all_tenants",
    "schedule": env.int("STORAGE_HOUSEKEEPING_SECONDS", default=60 * 60),
}
# Outbound webhook deliveries whose task never ran (broker down, lost countdown, dead worker) are sent again.
CELERY_BEAT_SCHEDULE["webhooks-reconcile"] = {
    "task": "webhooks.reconcile",
    "schedule": env.int("WEBHOOKS_RECONCILE_SECONDS", default=60),
}
CELERY_BEAT_SCHEDULE["recommendations-reconcile"] = {
    "task": "recommendations.reconcile_all_tenants",
    "schedule": env.int("RECOMMENDATIONS_RECONCILE_SECONDS", default=300),
}

# ---------------------------------------------------------------------------------------------- recommendations
# Fewer completed projects than this: no model, predictions answer {"status": "insufficient_data", ...}.
RECOMMENDATIONS_MIN_COMPLETED_PROJECTS = env.int("RECOMMENDATIONS_MIN_COMPLETED_PROJECTS", default=30)
# Reconciliation retrains when at least this many outcomes arrived (or changed) since the latest model.
RECOMMENDATIONS_RETRAIN_AFTER_NEW_OUTCOMES = env.int("RECOMMENDATIONS_RETRAIN_AFTER_NEW_OUTCOMES", default=10)
# An artifact used by fewer training projects gets "insufficient_usage" instead of an impact score.
RECOMMENDATIONS_IMPACT_MIN_USAGE = env.int("RECOMMENDATIONS_IMPACT_MIN_USAGE", default=5)
# Skill gate (apps/recommendations/ml/evaluation.py): a model serves predictions only when its forward-in-time MAE is
# significantly (one-sided paired t-test at ALPHA) below (1 − MARGIN) × the historical mean's MAE.
RECOMMENDATIONS_SKILL_MARGIN = env.float("RECOMMENDATIONS_SKILL_MARGIN", default=0.05)
RECOMMENDATIONS_SKILL_ALPHA = env.float("RECOMMENDATIONS_SKILL_ALPHA", default=0.05)
# Time limit of the hyperparameter search of each training (ml/training.py SEARCH_GRID); 0 turns it off.
RECOMMENDATIONS_SEARCH_SECONDS = env.float("RECOMMENDATIONS_SEARCH_SECONDS", default=8.0)
# Threads for LightGBM training, torch encoding and NumPy's BLAS (0 = library default: one per core). One is
# faster for processes that serve one request at a time, and on a busy machine.
RECOMMENDATIONS_TRAIN_THREADS = env.int("RECOMMENDATIONS_TRAIN_THREADS", default=1)
RECOMMENDATIONS_TORCH_THREADS = env.int("RECOMMENDATIONS_TORCH_THREADS", default=1)
RECOMMENDATIONS_BLAS_THREADS = env.int("RECOMMENDATIONS_BLAS_THREADS", default=1)
# Precision of the embedding model: auto (bfloat16 where the CPU computes it natively, else float32), float32,
# bfloat16. See apps/recommendations/ml/embeddings.py for the measured speed and agreement.
RECOMMENDATIONS_EMBEDDING_PRECISION = env.str("RECOMMENDATIONS_EMBEDDING_PRECISION", default="auto")
# Per-process caches (apps/recommendations/caches.py), least recently used evicted: tenants whose similarity index a
# process keeps (each 1.5–3 kB per embedded project, at least 1.5 MB) and loaded success models (all tenants together).
RECOMMENDATIONS_CACHED_INDEXES = env.int("RECOMMENDATIONS_CACHED_INDEXES", default=16)
RECOMMENDATIONS_CACHED_MODELS = env.int("RECOMMENDATIONS_CACHED_MODELS", default=8)
# A queued run not started this long after it was sent is sent again by reconciliation (duplicates are no-ops).
RECOMMENDATIONS_REDISPATCH_AFTER_SECONDS = env.int("RECOMMENDATIONS_REDISPATCH_AFTER_SECONDS", default=600)
# A run "running" for longer than this is considered lost (worker died) and marked failed by reconciliation.
RECOMMENDATIONS_RUN_TIMEOUT_SECONDS = env.int("RECOMMENDATIONS_RUN_TIMEOUT_SECONDS", default=3600)
# The prediction.accuracy_dropped event (apps/recommendations/services/accuracy.py): the MAE of the active model's last
# WINDOW scored predictions above its cross-validated MAE × RATIO.
RECOMMENDATIONS_ACCURACY_WINDOW = env.int("RECOMMENDATIONS_ACCURACY_WINDOW", default=20)
RECOMMENDATIONS_ACCURACY_DROP_RATIO = env.float("RECOMMENDATIONS_ACCURACY_DROP_RATIO", default=1.5)

# ---------------------------------------------------------------------------------------------- metrics
# /metrics answers only a `Authorization: Bearer <METRICS_TOKEN>` request or a client in these networks.
METRICS_TOKEN = env("METRICS_TOKEN", default="")
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=["127.0.0.1/32", "::1/128"])
# Celery queues whose length /metrics reports, and the timeout of each scrape-time read (Redis, seconds).
METRICS_CELERY_QUEUES = env.list("METRICS_CELERY_QUEUES", default=["default", "ml"])
METRICS_COLLECTOR_TIMEOUT = env.float("METRICS_COLLECTOR_TIMEOUT", default=0.5)
# A Celery worker whose host shares no metrics directory with the web (a Kubernetes pod, a compose container) serves
# its own /metrics on this port, under the rule above (maestro/observability/worker_server.py). 0: it serves none.
METRICS_WORKER_PORT = env.int("METRICS_WORKER_PORT", default=0)
# The Celery worker keeps Django's logging (JSON, context, redaction) instead of installing its own handlers.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# ---------------------------------------------------------------------------------------------- tenant operations
# Where export_tenant (admin action / task) writes archives by default, and how recent an export must be for
# drop_tenant to accept it without --force.
TENANT_EXPORT_DIR = env.path("TENANT_EXPORT_DIR", default=BASE_DIR / ".local" / "exports")
TENANT_DELETE_EXPORT_MAX_AGE_HOURS = env.int("TENANT_DELETE_EXPORT_MAX_AGE_HOURS", default=24)
# Key for pseudonyms of erased users and audit actors (HMAC); rotating it changes every pseudonym.
PRIVACY_PSEUDONYM_KEY = env("PRIVACY_PSEUDONYM_KEY", default=SECRET_KEY)

# ---------------------------------------------------------------------------------------------- logging
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOG_FORMAT = env("LOG_FORMAT", default="json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "maestro.logging.ContextFilter"},
        "redact": {"()": "maestro.logging.RedactingFilter"},
    },
    "formatters": {
        "json": {
            "()": "maestro.logging.RedactingJsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s",
            "rename_fields": {"asctime": "ts", "levelname": "level", "name": "logger", "process": "pid"},
        },
        "plain": {
            "()": "maestro.logging.RedactingFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s [%(request_id)s %(tenant)s %(actor)s] %(message)s",
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["context", "redact"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.server": {"level": "WARNING"},
        "django.db.backends": {"level": "WARNING"},
        # axes logs every attempt and reset at INFO with username and address; lockouts stay (WARNING), and Maestro
        # records them itself in the audit trail.
        "axes": {"level": "WARNING"},
    },
}

# ---------------------------------------------------------------------------------------------- access control
# See docs/access.md. The permission matrix is apps/access/policy.py.
# Client IPs: how many reverse proxies in front of the app append to X-Forwarded-For (0: ignore the header).
MAESTRO_TRUSTED_PROXY_COUNT = env.int("MAESTRO_TRUSTED_PROXY_COUNT", default=0)

# Login lockout (django-axes; tables in every schema, so lockouts are per tenant): after AXES_FAILURE_LIMIT failed
# logins for one username from one client address, that username is refused from that address for AXES_COOLOFF_TIME
# (the combination: a flood from elsewhere cannot lock the real user out). Past the limit for a username from all
# addresses together, each address that failed for it waits a doubling delay, capped at
# MAESTRO_LOGIN_DELAY_MAX_SECONDS, between attempts (apps.access.lockout).
AXES_FAILURE_LIMIT = min(env.int("AXES_FAILURE_LIMIT", default=5), 10)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_HANDLER = "apps.access.lockout.LoginAttemptHandler"
AXES_LOCKOUT_CALLABLE = "apps.access.lockout.lockout_response"
MAESTRO_LOGIN_DELAY_MAX_SECONDS = max(env.int("MAESTRO_LOGIN_DELAY_MAX_SECONDS", default=300), 1)
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "maestro.net.axes_client_ip"
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
AXES_SENSITIVE_PARAMETERS = ["password", "token"]
# Axes' own INFO lines name the username and address of every attempt; Maestro logs lockouts itself (pseudonymously).
AXES_VERBOSE = False

# Sessions: rotated at login (Django); ended after SESSION_IDLE_TIMEOUT without activity or SESSION_ABSOLUTE_TIMEOUT
# after login, whichever comes first (apps.access.sessions.SessionTimeoutMiddleware).
SESSION_IDLE_TIMEOUT = env.int("SESSION_IDLE_TIMEOUT", default=30 * 60)
SESSION_ABSOLUTE_TIMEOUT = env.int("SESSION_ABSOLUTE_TIMEOUT", default=12 * 60 * 60)
SESSION_ACTIVITY_RESOLUTION = 60
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_TIMEOUT

# Security headers on every response. The dashboard uses only self-hosted scripts and styles.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# Third-party pages that need inline styles (never inline scripts): Django's admin and Swagger UI.
MAESTRO_CSP_INLINE_STYLE_PATHS = ["/admin/", "/api/docs/"]

# Rate limits (maestro.api.throttling): per user and per tenant, per scope, from the tenant's plan; Tenant.rate_limits
# overrides single values. None means unlimited.
MAESTRO_RATE_LIMIT_ENABLED = env.bool("MAESTRO_RATE_LIMIT_ENABLED", default=True)
MAESTRO_RATE_LIMIT_REDIS_URL = env("MAESTRO_RATE_LIMIT_REDIS_URL", default=REDIS_URL)
MAESTRO_RATE_LIMIT_KEY_PREFIX = env("MAESTRO_RATE_LIMIT_KEY_PREFIX", default="maestro-rl")
MAESTRO_RATE_LIMIT_FAIL_OPEN = env.bool("MAESTRO_RATE_LIMIT_FAIL_OPEN", default=True)
MAESTRO_RATE_LIMIT_RETRY_SECONDS = 5
MAESTRO_RATE_LIMIT_SOCKET_TIMEOUT = 0.5
MAESTRO_RATE_LIMIT_DEFAULT_PLAN = "team"
MAESTRO_RATE_LIMIT_PLANS = {
    "free": {
        "read": {"user": "120/minute", "tenant": "600/minute"},
        "write": {"user": "60/minute", "tenant": "300/minute"},
        "ingest": {"user": "120/minute", "tenant": "600/minute"},
    },
    "team": {
        "read": {"user": "600/minute", "tenant": "6000/minute"},
        "write": {"user": "300/minute", "tenant": "3000/minute"},
        "ingest": {"user": "1200/minute", "tenant": "12000/minute"},
    },
    "enterprise": {
        "read": {"user": "3000/minute", "tenant": "60000/minute"},
        "write": {"user": "1200/minute", "tenant": "20000/minute"},
        "ingest": {"user": "6000/minute", "tenant": "120000/minute"},
    },
}
MAESTRO_RATE_LIMIT_ANON = env("MAESTRO_RATE_LIMIT_ANON", default="60/minute")
MAESTRO_RATE_LIMIT_AUTH_FAILURES = env("MAESTRO_RATE_LIMIT_AUTH_FAILURES", default="30/minute")

# ---------------------------------------------------------------------------------------------- integrations (Git/CI)
# Largest webhook body accepted (bytes); larger deliveries get 413 and nothing is stored.
INTEGRATIONS_WEBHOOK_MAX_BYTES = env.int("INTEGRATIONS_WEBHOOK_MAX_BYTES", default=1024 * 1024)
# Keys that derive GitHub webhook secrets (first = current; the rest still verify). Empty: SECRET_KEY.
INTEGRATIONS_SECRET_KEYS = env.list("INTEGRATIONS_SECRET_KEYS", default=[])
INTEGRATIONS_REWORK_WINDOW_DAYS = env.int("INTEGRATIONS_REWORK_WINDOW_DAYS", default=21)
INTEGRATIONS_MIN_PERCENTILE_SAMPLES = env.int("INTEGRATIONS_MIN_PERCENTILE_SAMPLES", default=3)
# A reprocess request still unserved after this many seconds is sent again by the reconciliation beat task.
INTEGRATIONS_RECONCILE_SECONDS = env.int("INTEGRATIONS_RECONCILE_SECONDS", default=60)

# ---------------------------------------------------------------------------------------------- outbound webhooks
# Keys that derive subscription signing secrets (first = current; the others still sign secrets they derived).
# Empty: SECRET_KEY. Removing a key breaks the secrets it derived until they are rotated.
WEBHOOKS_SECRET_KEYS = env.list("WEBHOOKS_SECRET_KEYS", default=[])
# Networks receivers may be in although they are not public (e.g. "10.20.0.0/16,fd00:1::/64"); empty: public only.
WEBHOOKS_ALLOWED_NETWORKS = env.list("WEBHOOKS_ALLOWED_NETWORKS", default=[])
# Attempts per delivery before it is dead-lettered; retry delays double from the base up to the maximum (jittered).
WEBHOOKS_MAX_ATTEMPTS = env.int("WEBHOOKS_MAX_ATTEMPTS", default=10)
WEBHOOKS_RETRY_BASE_SECONDS = env.int("WEBHOOKS_RETRY_BASE_SECONDS", default=30)
WEBHOOKS_RETRY_MAX_SECONDS = env.int("WEBHOOKS_RETRY_MAX_SECONDS", default=3600)
WEBHOOKS_CONNECT_TIMEOUT_SECONDS = env.float("WEBHOOKS_CONNECT_TIMEOUT_SECONDS", default=5.0)
WEBHOOKS_READ_TIMEOUT_SECONDS = env.float("WEBHOOKS_READ_TIMEOUT_SECONDS", default=10.0)
WEBHOOKS_TOTAL_TIMEOUT_SECONDS = env.float("WEBHOOKS_TOTAL_TIMEOUT_SECONDS", default=30.0)
# How long a rotated-out secret still signs deliveries (beside the new one) unless the rotation says otherwise.
WEBHOOKS_SECRET_OVERLAP_SECONDS = env.int("WEBHOOKS_SECRET_OVERLAP_SECONDS", default=24 * 3600)
# An open delivery overdue by this long is sent again by the reconciliation beat task (which runs this often).
WEBHOOKS_RECONCILE_SECONDS = env.int("WEBHOOKS_RECONCILE_SECONDS", default=60)
# ---------------------------------------------------------------------------------------------- single sign-on
# Keys that encrypt secrets kept at rest (maestro/encryption.py), such as SSO client secrets: comma-separated Fernet
# keys; the first encrypts, every one decrypts (rotation). Empty: one key derived from SECRET_KEY.
MAESTRO_ENCRYPTION_KEYS = env.list("MAESTRO_ENCRYPTION_KEYS", default=[])
# OpenID Connect issuers must be https:// URLs; off only for a provider on a trusted local network (the tests' own).
SSO_REQUIRE_HTTPS = env.bool("SSO_REQUIRE_HTTPS", default=True)
# Seconds each call to an identity provider may take (discovery, signing keys, token endpoint).
SSO_HTTP_TIMEOUT_SECONDS = env.int("SSO_HTTP_TIMEOUT_SECONDS", default=10)
# Networks an identity provider may be in although they are not public (e.g. "10.20.0.0/16" for a Keycloak on the
# cluster network); empty: public addresses only (the SSRF rules of webhooks, apps/sso/oidc.refused_url).
SSO_ALLOWED_NETWORKS = env.list("SSO_ALLOWED_NETWORKS", default=[])

# ---------------------------------------------------------------------------------------------- artifact library
# Largest file accepted by POST /api/v1/artifacts/{id}/versions (bytes); beyond it the API answers 413.
ARTIFACT_MAX_UPLOAD_BYTES = env.int("ARTIFACT_MAX_UPLOAD_BYTES", default=100 * 1024 * 1024)
# Largest file accepted by the MLflow artifact proxy (PUT, or a multipart upload's parts together); beyond it 413.
MLFLOW_ARTIFACT_MAX_UPLOAD_BYTES = env.int("MLFLOW_ARTIFACT_MAX_UPLOAD_BYTES", default=5 * 1024**3)

# ---------------------------------------------------------------------------------------------- metric history
# Series of at least this many points keep a packed copy for history reads (apps.metrics.models.MetricSeries);
# shorter ones are read from their points each time, which costs about as much as reading the copy.
METRIC_HISTORY_PACK_MIN_POINTS = env.int("METRIC_HISTORY_PACK_MIN_POINTS", default=1000)
# While a run logs, reads take the copy plus the points logged after it; the copy is extended with them once no
# batch has added points for this many seconds (or when they reach a quarter of the copy).
METRIC_HISTORY_PACK_QUIET_SECONDS = env.float("METRIC_HISTORY_PACK_QUIET_SECONDS", default=10.0)
