"""AgentIAM settings: one module, driven by the environment, with three profiles.

AGENTIAM_PROFILE selects the profile:
  local       what `make run` uses: DEBUG off, plain HTTP on 127.0.0.1, secrets kept under var/
  production  everything hardened, configured only from the environment
  test        what the test suite uses: plain static storage, fast hashing, its own Redis db/queues
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from agentiam.env import env_bool, env_choice, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
PROFILE = env_choice("AGENTIAM_PROFILE", ("local", "production", "test"), default="local")
LOCAL, PRODUCTION, TEST = PROFILE == "local", PROFILE == "production", PROFILE == "test"
VAR_DIR = Path(env_str("AGENTIAM_VAR_DIR", str(BASE_DIR / "var"))).resolve()


def _local_secret(name: str, nbytes: int = 48) -> str:
    """A secret generated once into var/ with mode 0600, so restarts keep sessions and keys."""
    path = VAR_DIR / name
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(nbytes))
    if path.stat().st_mode & 0o077:
        raise ImproperlyConfigured(f"{path} must be readable by its owner only (chmod 600)")
    return path.read_text().strip()


def _networks(name: str, default: list[str] | None = None) -> list[str]:
    """An allow-list of CIDRs, or "public" for any globally routable address (agentiam.outbound)."""
    networks = env_list(name, default or [])
    for network in networks:
        try:
            network == "public" or ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ImproperlyConfigured(f"{name}: {network!r} is not a CIDR or 'public'") from None
    return networks


# --- Core -------------------------------------------------------------------------------------------
DEBUG = env_bool("DJANGO_DEBUG", False) if not PRODUCTION else False
if PRODUCTION:
    SECRET_KEY = env_str("DJANGO_SECRET_KEY")
    if len(SECRET_KEY) < 50:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be at least 50 characters long")
elif TEST:
    SECRET_KEY = "test-profile-secret-key-not-for-use-anywhere-else-0123456789"  # noqa: S105
else:
    SECRET_KEY = env_str("DJANGO_SECRET_KEY", None) or _local_secret("secret_key")


def _key_encryption_key(value: str) -> bytes:
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ImproperlyConfigured("AGENTIAM_KEK must be urlsafe base64 of exactly 32 bytes")
    return raw


# The key-encryption key: signing keys' private halves are stored encrypted under it (AES-256-GCM).
if PRODUCTION:
    _kek = env_str("AGENTIAM_KEK")
elif TEST:
    _kek = env_str("AGENTIAM_KEK", None) or "dGVzdC1wcm9maWxlLWtlay1ub3QtZm9yLWFueS11c2U"  # fixed 32 test bytes
else:
    _kek = env_str("AGENTIAM_KEK", None) or _local_secret("kek", 32)
AGENTIAM_KEY_ENCRYPTION_KEY = _key_encryption_key(_kek)

if PRODUCTION:
    ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS")
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must list the host names this server answers to")
else:
    ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", "testserver", *env_list("DJANGO_ALLOWED_HOSTS")]
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "django.forms",  # its widget templates, for FORM_RENDERER below
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_celery_beat",
    "django_htmx",
    "template_partials",
    "csp",
    "pgtrigger",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "agentiam",
    "identities.signin",
    "audit",
    "identities",
    "identities.runtime.apps.RuntimeConfig",
    "reviews",
    "audit.events.apps.EventsConfig",
    "audit.alerts.apps.AlertsConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Oversized bodies (413), NUL characters (400) and the JSON error shape under /api/, before any view.
    "agentiam.middleware.RequestGuardMiddleware",
    # The runtime's machine endpoints (token, decide, introspect) stop here: they need none of what follows.
    "identities.runtime.middleware.RuntimeFastPathMiddleware",
    # Event ingest (POST /api/v1/events, OTLP POST /v1/traces) likewise.
    "audit.events.middleware.IngestFastPathMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Sign-in security: end stale sessions first, then hold every page until the second factor is passed.
    "identities.signin.middleware.SessionTimeoutMiddleware",
    "identities.signin.middleware.SecondFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "agentiam.middleware.HtmxToastMiddleware",  # after messages and htmx: messages → HX-Trigger toasts
    "axes.middleware.AxesMiddleware",  # last, as django-axes requires
]

ROOT_URLCONF = "agentiam.urls"
WSGI_APPLICATION = "agentiam.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
                "agentiam.context_processors.product",
                "agentiam.context_processors.shell",
            ],
        },
    }
]

# --- Database: PostgreSQL 15+ only -------------------------------------------------------------------
_default_db = f"postgresql://postgres@/agentiam?host={VAR_DIR / 'pg' / 'data'}"
DATABASE_URL = env_str("DATABASE_URL", None) or (_default_db if not PRODUCTION else env_str("DATABASE_URL"))
_db = dj_database_url.parse(DATABASE_URL, conn_max_age=0 if TEST else env_int("DB_CONN_MAX_AGE", 60))
if _db["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL 15 or newer (postgres:// or postgresql://)")
_db["CONN_HEALTH_CHECKS"] = not TEST
_db.setdefault("OPTIONS", {})
_db["OPTIONS"].setdefault("application_name", f"agentiam-{PROFILE}")
DATABASES = {"default": _db}
# The owner of the schema, for `migrate --database owner` and `db_grants --apply`; the app's own role
# (DATABASE_URL) then gets only the privileges db_grants prints: INSERT and SELECT on append-only tables.
DATABASE_OWNER_URL = env_str("DATABASE_OWNER_URL", None)
if DATABASE_OWNER_URL:
    DATABASES["owner"] = dj_database_url.parse(DATABASE_OWNER_URL, conn_max_age=0)
    if DATABASES["owner"]["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_OWNER_URL must point at PostgreSQL (postgres:// or postgresql://)")
    DATABASES["owner"].setdefault("OPTIONS", {}).setdefault("application_name", f"agentiam-{PROFILE}-owner")
    DATABASES["owner"]["TEST"] = {"MIRROR": "default"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
MINIMUM_POSTGRESQL_VERSION = 150000

# --- Redis: Celery broker and cache --------------------------------------------------------------------
_default_redis = f"unix://{VAR_DIR / 'redis' / 'redis.sock'}?db=0"
REDIS_URL = env_str("REDIS_URL", None) or (_default_redis if not PRODUCTION else env_str("REDIS_URL"))


def _redis_with_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    if parts.scheme == "unix":
        query = parse_qs(parts.query)
        query["db"] = [str(db)]
        return f"unix://{parts.path}?{urlencode(query, doseq=True)}"
    if parts.scheme in ("redis", "rediss"):
        return urlunsplit(parts._replace(path=f"/{db}"))
    raise ImproperlyConfigured("REDIS_URL must start with redis://, rediss:// or unix://")


def _redis_db(url: str) -> int:
    parts = urlsplit(url)
    raw = parse_qs(parts.query).get("db", ["0"])[0] if parts.scheme == "unix" else parts.path.strip("/") or "0"
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"REDIS_URL has a database index that is not a number: {raw!r}") from None


if TEST:
    # The suite may share a Redis with other users (CI's does): it keeps to its own database index and
    # queue names and purges them before it starts.
    REDIS_URL = _redis_with_db(REDIS_URL, env_int("AGENTIAM_TEST_REDIS_DB", 13, minimum=0, maximum=15))
REDIS_DB = _redis_db(REDIS_URL)


def _kombu_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"redis+socket://{parts.path}?virtual_host={_redis_db(url)}"
    return url


CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": f"agentiam-{PROFILE}",
        "TIMEOUT": 300,
    }
}

# --- Celery ----------------------------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", None) or _kombu_url(REDIS_URL)
if TEST:
    CELERY_BROKER_URL = _kombu_url(REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = "agentiam-test" if TEST else env_str("CELERY_QUEUE", "agentiam")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 300, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 360, minimum=2)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 3600,
    "socket_timeout": 5,
    "socket_connect_timeout": 5,
    "retry_on_timeout": True,
    "health_check_interval": 30,
}
CELERY_BROKER_CONNECTION_TIMEOUT = 5
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 3, "interval_start": 0, "interval_step": 0.5}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE = {
    "heartbeat": {"task": "agentiam.tasks.heartbeat", "schedule": 30.0, "options": {"expires": 25}},
    # audit-checkpoint: below, every AUDIT_CHECKPOINT_INTERVAL seconds.
    # Partitions of every registered partitioned table (agentiam.partitions: the decision log) ahead of
    # time, and retention; expired client-assertion ids.
    "partitions": {
        "task": "agentiam.tasks.maintain_partitions",
        "schedule": 3600.0,
        "options": {"expires": 3000},
    },
    "runtime-jti-ledger": {"task": "identities.runtime.tasks.forget_used_assertions", "schedule": 3600.0},
    # Outbox: deliver what is due (messages are also sent on commit), delete what is past retention.
    "outbox": {"task": "agentiam.tasks.sweep_outbox", "schedule": 30.0, "options": {"expires": 25}},
}

# --- Audit trail checkpoints ------------------------------------------------------------------------------
# A signed checkpoint every N entries (and every minute); each is also appended to the sink, a JSON Lines
# file outside the database, so a tail cut together with its database checkpoints is still detected.
AUDIT_CHECKPOINT_EVERY = env_int("AUDIT_CHECKPOINT_EVERY", 1000, minimum=1)
# …and every AUDIT_CHECKPOINT_INTERVAL seconds (beat). Entries newer than the last checkpoint are covered only by
# the chain: a privileged session could delete them undetected, so this is the window to keep short. It is also
# how long verify_audit_trail lets the sink lag behind the database's checkpoints.
AUDIT_CHECKPOINT_INTERVAL = env_int("AUDIT_CHECKPOINT_INTERVAL", 60, minimum=5, maximum=3600)
CELERY_BEAT_SCHEDULE["audit-checkpoint"] = {
    "task": "audit.tasks.write_checkpoint",
    "schedule": float(AUDIT_CHECKPOINT_INTERVAL),
    "options": {"expires": AUDIT_CHECKPOINT_INTERVAL - 5},
}
_default_sink = VAR_DIR / ("test" if TEST else "") / "audit" / "checkpoints.jsonl"
AUDIT_CHECKPOINT_SINK = env_str("AUDIT_CHECKPOINT_SINK", str(_default_sink))
# Unauthenticated refusals (audit.SecurityEvent): at most this many rows per source address and kind a window.
SECURITY_EVENT_WINDOW = env_int("SECURITY_EVENT_WINDOW", 60, minimum=1, maximum=86400)
SECURITY_EVENTS_PER_WINDOW = env_int("SECURITY_EVENTS_PER_WINDOW", 20, minimum=1)
# `migrate` creates missing signing keys (audit.services.signing_key_ensure); tests take them from a fixture.
AUDIT_SIGNING_KEYS_AT_MIGRATE = not TEST

# --- Registry import ---------------------------------------------------------------------------------------
# The largest registry ZIP accepted (POST /api/v1/import/ and the import page); a larger upload gets 413.
IMPORT_MAX_BYTES = env_int("IMPORT_MAX_BYTES", 50 * 1024 * 1024, minimum=1024)
# Multipart uploads to these paths may be as large as the limit given (the API's default stays
# DATA_UPLOAD_MAX_MEMORY_SIZE): RequestGuardMiddleware reads this.
UPLOAD_LIMITS = {"/api/v1/import/": IMPORT_MAX_BYTES}

# --- Runtime: token service, decisions (identities/runtime) ------------------------------------------------
# `iss` of the access tokens AgentIAM issues; client assertions and JWT-SVIDs name RUNTIME_ISSUER +
# /api/v1/runtime/token as their audience unless a trust bundle says otherwise.
RUNTIME_ISSUER = env_str("RUNTIME_ISSUER", None) or (
    f"https://{ALLOWED_HOSTS[0]}" if PRODUCTION else "http://127.0.0.1:8000"
)
if urlsplit(RUNTIME_ISSUER).scheme not in ("http", "https") or RUNTIME_ISSUER.endswith("/"):
    raise ImproperlyConfigured("RUNTIME_ISSUER must be an http(s) URL without a trailing slash")
RUNTIME_TOKEN_ENDPOINT = RUNTIME_ISSUER + "/api/v1/runtime/token"
# Access token lifetime caps in seconds: every tier, and critical identities (a grant's end caps both).
RUNTIME_TOKEN_TTL = env_int("RUNTIME_TOKEN_TTL", 900, minimum=30, maximum=3600)
RUNTIME_TOKEN_TTL_CRITICAL = env_int("RUNTIME_TOKEN_TTL_CRITICAL", 300, minimum=30, maximum=3600)
# Days of decision log kept (whole daily partitions are dropped), and days of partitions created ahead.
RUNTIME_DECISION_RETENTION_DAYS = env_int("RUNTIME_DECISION_RETENTION_DAYS", 90, minimum=1)
RUNTIME_DECISION_PARTITIONS_AHEAD = env_int("RUNTIME_DECISION_PARTITIONS_AHEAD", 7, minimum=1, maximum=60)
# Remote JWKS (trust bundle and issuer URLs): only addresses in these networks ("public" = any global
# address), with a timeout; RUNTIME_JWKS_CA_FILE adds a private CA (e.g. a SPIRE bundle endpoint's).
RUNTIME_JWKS_ALLOWED_NETWORKS = _networks("RUNTIME_JWKS_ALLOWED_NETWORKS")
RUNTIME_JWKS_TIMEOUT = env_int("RUNTIME_JWKS_TIMEOUT", 5, minimum=1, maximum=30)
# The decide and token lookups run as prepared statements (planning them costs more than running them).
# Turn off behind a pooler that cannot keep prepared statements (PgBouncer in transaction mode before 1.21).
RUNTIME_PREPARED_LOOKUPS = env_bool("RUNTIME_PREPARED_LOOKUPS", True)
RUNTIME_JWKS_CA_FILE = env_str("RUNTIME_JWKS_CA_FILE", None)

# --- Action events (audit/events) -------------------------------------------------------------------------
# Days of action events kept (whole daily partitions are dropped), and days of partitions created ahead.
EVENTS_RETENTION_DAYS = env_int("EVENTS_RETENTION_DAYS", 90, minimum=1)
EVENTS_PARTITIONS_AHEAD = env_int("EVENTS_PARTITIONS_AHEAD", 7, minimum=1, maximum=60)
# Most events (JSON items or OTLP spans) in one ingest request; a larger batch is 413.
EVENTS_MAX_BATCH = env_int("EVENTS_MAX_BATCH", 5000, minimum=1, maximum=100_000)
# How far in the future an event may start (clock skew between producers and this server), in seconds.
EVENTS_MAX_FUTURE_SKEW = env_int("EVENTS_MAX_FUTURE_SKEW", 300, minimum=0, maximum=86_400)
# Tool-call arguments, results and message content are stored only when this is on (they carry data such
# as account numbers in real traces); off, they are dropped at ingest.
EVENTS_STORE_CONTENT = env_bool("EVENTS_STORE_CONTENT", False)
# Entitlements' last use and daily use are counted from allow decisions and task-token events every
# EVENTS_USAGE_TICK seconds, EVENTS_USAGE_BATCH rows a transaction (audit.events.usage).
EVENTS_USAGE_TICK = env_int("EVENTS_USAGE_TICK", 60, minimum=5, maximum=3600)
EVENTS_USAGE_BATCH = env_int("EVENTS_USAGE_BATCH", 10_000, minimum=10, maximum=100_000)
CELERY_BEAT_SCHEDULE["events-entitlement-use"] = {
    "task": "audit.events.tasks.count_entitlement_use",
    "schedule": float(EVENTS_USAGE_TICK),
    "options": {"expires": max(EVENTS_USAGE_TICK - 2, 3)},
}

# --- Behavioural monitoring and alerts (audit/alerts) ---------------------------------------------------
# The detectors run over new events every ALERTS_TICK seconds, ALERTS_BATCH ingest-sequence values a
# transaction. A baseline judges only once it is ALERTS_WARMUP_DAYS old (before that everything is new).
ALERTS_TICK = env_int("ALERTS_TICK", 30, minimum=5, maximum=3600)
ALERTS_BATCH = env_int("ALERTS_BATCH", 5000, minimum=10, maximum=100_000)
ALERTS_WARMUP_DAYS = env_int("ALERTS_WARMUP_DAYS", 7, minimum=0, maximum=30)
ALERTS_DENIALS = env_int("ALERTS_DENIALS", 5, minimum=1)  # denied steps in ten minutes
ALERTS_VOLUME_FACTOR = env_int("ALERTS_VOLUME_FACTOR", 10, minimum=2)  # times the baseline's mean a window
ALERTS_VOLUME_FLOOR = env_int("ALERTS_VOLUME_FLOOR", 100, minimum=1)  # and at least this many events
ALERTS_CHAIN_DEPTH = env_int("ALERTS_CHAIN_DEPTH", 8, minimum=1)
ALERTS_CHAIN_FAN_OUT = env_int("ALERTS_CHAIN_FAN_OUT", 50, minimum=1)
ALERTS_WORKFLOWS = env_int("ALERTS_WORKFLOWS", 5, minimum=2)  # workflows sharing one identity
# High and critical alerts go to this signed webhook (agentiam.notifications.webhooks) and by e-mail to the
# security analysts.
ALERTS_WEBHOOK_URL = env_str("ALERTS_WEBHOOK_URL", "")
CELERY_BEAT_SCHEDULE["alerts-evaluate"] = {
    "task": "audit.alerts.tasks.evaluate_events",
    "schedule": float(ALERTS_TICK),
    "options": {"expires": max(ALERTS_TICK - 2, 3)},
}

# --- JIT elevation (reviews/) ---------------------------------------------------------------------------------
# A pending elevation request expires after this many seconds (approving it later is refused by the clock,
# whether or not the beat sweep below has marked it expired yet).
REVIEWS_PENDING_TTL = env_int("REVIEWS_PENDING_TTL", 24 * 3600, minimum=300, maximum=14 * 24 * 3600)
# Break-glass: an owner's emergency self-grant lasts at most this long (an hour at most: a CHECK holds the
# ceiling); its after-the-fact review escalates when nobody closed it within REVIEWS_BREAK_GLASS_REVIEW_WITHIN.
REVIEWS_BREAK_GLASS_MAX_SECONDS = env_int("REVIEWS_BREAK_GLASS_MAX_SECONDS", 3600, minimum=300, maximum=3600)
REVIEWS_BREAK_GLASS_REVIEW_WITHIN = env_int("REVIEWS_BREAK_GLASS_REVIEW_WITHIN", 24 * 3600, minimum=3600,
                                            maximum=7 * 24 * 3600)  # fmt: skip
CELERY_BEAT_SCHEDULE["reviews-expire"] = {
    "task": "reviews.tasks.expire_requests",
    "schedule": 300.0,
    "options": {"expires": 290},
}
# Notifications (reviews/notifications.py): approvers are told of a new request at once; more requests for
# the same approver within REVIEWS_DIGEST_WINDOW seconds wait and go as one digest at the window's end.
# Approvers are reminded once, REVIEWS_REMIND_BEFORE seconds before a pending request expires (beat below).
REVIEWS_DIGEST_WINDOW = env_int("REVIEWS_DIGEST_WINDOW", 600, minimum=30, maximum=24 * 3600)
REVIEWS_REMIND_BEFORE = env_int("REVIEWS_REMIND_BEFORE", 2 * 3600, minimum=300, maximum=7 * 24 * 3600)
CELERY_BEAT_SCHEDULE["reviews-remind"] = {
    "task": "reviews.tasks.remind_pending",
    "schedule": 600.0,
    "options": {"expires": 590},
}
CELERY_BEAT_SCHEDULE["reviews-break-glass-escalate"] = {
    "task": "reviews.tasks.escalate_break_glass",
    "schedule": 900.0,
    "options": {"expires": 890},
}
# Review campaigns (reviews/services/cadence.py): revoked-elsewhere items, reviewers who left, escalation, reminder
# digests and the no-answer outcome at the deadline, every REVIEWS_CAMPAIGN_TICK seconds.
REVIEWS_CAMPAIGN_TICK = env_int("REVIEWS_CAMPAIGN_TICK", 300, minimum=5, maximum=3600)
CELERY_BEAT_SCHEDULE["reviews-campaign-cadence"] = {
    "task": "reviews.tasks.campaign_cadence",
    "schedule": float(REVIEWS_CAMPAIGN_TICK),
    "options": {"expires": max(REVIEWS_CAMPAIGN_TICK - 5, 1)},
}
# An optional outgoing webhook (Slack-compatible JSON, signed as agentiam.notifications.webhooks says) told
# of new requests, decisions and reminders. It carries a link to the inbox, never a way to decide.
REVIEWS_WEBHOOK_URL = env_str("REVIEWS_WEBHOOK_URL", "")

# --- Review campaigns (reviews/campaigns/) -------------------------------------------------------------------
# "Unused for N days" when a campaign does not say. Non-use is claimed only for a tool the decision log has
# covered for N days, so keep N below RUNTIME_DECISION_RETENTION_DAYS.
REVIEWS_CAMPAIGN_UNUSED_DAYS = env_int("REVIEWS_CAMPAIGN_UNUSED_DAYS", 30, minimum=1, maximum=3650)
# A launch creates review items in batches of this many entries of the fixed set (one transaction each), so
# a worker killed mid-launch resumes after its last committed batch. Each batch reads the entitlements once
# (a hash join), so fewer, larger batches are cheaper; 200k took ~40 s under heavy load (bench/README.md),
# well inside the task's time budget.
REVIEWS_CAMPAIGN_BATCH = env_int("REVIEWS_CAMPAIGN_BATCH", 200_000, minimum=100, maximum=1_000_000)
# A launching run whose worker has not reported for this many seconds is picked up again by the beat sweep.
REVIEWS_CAMPAIGN_STALE_SECONDS = env_int("REVIEWS_CAMPAIGN_STALE_SECONDS", 120, minimum=10, maximum=3600)
CELERY_BEAT_SCHEDULE["reviews-campaign-launches"] = {
    "task": "reviews.tasks.resume_campaign_launches",
    "schedule": 60.0,
    "options": {"expires": 55},
}

# --- Outbox and notifications (agentiam/outbox.py, agentiam/notifications/) -------------------------------
# A message is written in the caller's transaction and delivered by the worker, at least once: failed
# attempts are retried after RETRY_BASE * 2^(n-1) seconds (at most RETRY_MAX) until MAX_ATTEMPTS, then the
# message is marked failed and audited. Delivered and failed messages are deleted after RETENTION_DAYS.
OUTBOX_MAX_ATTEMPTS = env_int("OUTBOX_MAX_ATTEMPTS", 8, minimum=1, maximum=30)
OUTBOX_RETRY_BASE = env_int("OUTBOX_RETRY_BASE", 30, minimum=1, maximum=3600)
OUTBOX_RETRY_MAX = env_int("OUTBOX_RETRY_MAX", 6 * 3600, minimum=1, maximum=7 * 24 * 3600)
OUTBOX_RETENTION_DAYS = env_int("OUTBOX_RETENTION_DAYS", 30, minimum=1)
# E-mail through Django's backends (SMTP in production; printed to the worker's log locally).
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if PRODUCTION else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1, maximum=120)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "agentiam@localhost")
# Webhooks: the body is signed with HMAC-SHA256 under this secret (receivers check it); https only in
# production; only addresses in NOTIFY_WEBHOOK_ALLOWED_NETWORKS ("public" = any global address; add CIDRs
# for private receivers); redirects are not followed.
if TEST:
    NOTIFY_WEBHOOK_SECRET = "test-profile-webhook-secret-not-for-use-anywhere-else"  # noqa: S105
elif PRODUCTION:
    NOTIFY_WEBHOOK_SECRET = env_str("NOTIFY_WEBHOOK_SECRET", "")  # webhooks are refused until it is set
else:
    NOTIFY_WEBHOOK_SECRET = env_str("NOTIFY_WEBHOOK_SECRET", None) or _local_secret("webhook_secret")
if NOTIFY_WEBHOOK_SECRET and len(NOTIFY_WEBHOOK_SECRET) < 32:
    raise ImproperlyConfigured("NOTIFY_WEBHOOK_SECRET must be at least 32 characters long")
NOTIFY_WEBHOOK_TIMEOUT = env_int("NOTIFY_WEBHOOK_TIMEOUT", 5, minimum=1, maximum=30)
NOTIFY_WEBHOOK_ALLOWED_NETWORKS = _networks("NOTIFY_WEBHOOK_ALLOWED_NETWORKS", ["public"])
# Links in notifications start here (the address people open AgentIAM at), without a trailing slash.
NOTIFY_LINK_BASE = env_str("NOTIFY_LINK_BASE", None) or RUNTIME_ISSUER
if urlsplit(NOTIFY_LINK_BASE).scheme not in ("http", "https") or NOTIFY_LINK_BASE.endswith("/"):
    raise ImproperlyConfigured("NOTIFY_LINK_BASE must be an http(s) URL without a trailing slash")

# --- Auth ------------------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TEST:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"
# Sign-in security (agentiam/auth): throttling, TOTP second factor, optional OIDC single sign-on, step-up.
# The second factor of administrators, managers and security analysts has no switch, on purpose.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15, minimum=1))
# Counted per username *and* client address: a stranger cannot lock a person out from elsewhere.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# The database handler: every gunicorn worker and host sees the same counters, in the system of record.
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_RESET_ON_SUCCESS = True
AXES_DISABLE_ACCESS_LOG = True  # the audit trail records sign-ins
AXES_ENABLE_ADMIN = False
AXES_LOCKOUT_CALLABLE = "identities.signin.views.locked_out"  # a page that says how long to wait
AXES_VERBOSE = False
OTP_TOTP_ISSUER = "AgentIAM"
STEP_UP_MAX_AGE = env_int("STEP_UP_MAX_AGE", 300, minimum=30, maximum=3600)
SESSION_IDLE_TIMEOUT = env_int("SESSION_IDLE_TIMEOUT", 30 * 60, minimum=60)
# Single sign-on through OpenID Connect, only when an issuer is configured. Accounts are linked by issuer
# and subject (identities.SSOLink); e-mail is used once, verified, to make the first link.
OIDC_OP_ISSUER = env_str("OIDC_OP_ISSUER", "")
OIDC_ENABLED = bool(OIDC_OP_ISSUER)
if OIDC_ENABLED:
    OIDC_OP_AUTHORIZATION_ENDPOINT = env_str("OIDC_OP_AUTHORIZATION_ENDPOINT")
    OIDC_OP_TOKEN_ENDPOINT = env_str("OIDC_OP_TOKEN_ENDPOINT")
    OIDC_OP_JWKS_ENDPOINT = env_str("OIDC_OP_JWKS_ENDPOINT")
    OIDC_OP_USER_ENDPOINT = env_str("OIDC_OP_USER_ENDPOINT", "")  # optional: the ID token's claims suffice
    OIDC_RP_CLIENT_ID = env_str("OIDC_RP_CLIENT_ID")
    OIDC_RP_CLIENT_SECRET = env_str("OIDC_RP_CLIENT_SECRET")
    OIDC_RP_SIGN_ALGO = env_choice("OIDC_RP_SIGN_ALGO", ("RS256", "ES256"), default="RS256")
    OIDC_RP_SCOPES = "openid email profile"
    OIDC_TIMEOUT = env_int("OIDC_TIMEOUT", 10, minimum=1, maximum=60)
    OIDC_USE_PKCE = True
    OIDC_CREATE_USER = env_bool("OIDC_CREATE_USERS", False)
    OIDC_MFA_ACR_VALUES = env_list("OIDC_MFA_ACR_VALUES")
    OIDC_PROVIDER_NAME = env_str("OIDC_PROVIDER_NAME", "single sign-on")
    LOGIN_REDIRECT_URL_FAILURE = "/accounts/login/?sso=failed"
    AUTHENTICATION_BACKENDS.append("identities.signin.oidc.SSOBackend")

# --- Sessions, cookies, transport security -------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
# JSON in the API error shape under /api/, a page that says what to do elsewhere.
CSRF_FAILURE_VIEW = "agentiam.views.csrf_failure"
FORM_RENDERER = "agentiam.forms.FormRenderer"
SESSION_ABSOLUTE_TIMEOUT = env_int("SESSION_ABSOLUTE_TIMEOUT", 8 * 3600, minimum=300)
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_TIMEOUT
# Database sessions that record their person, so disabling a person ends all their sessions at once.
SESSION_ENGINE = "identities.sessions"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SESSION_COOKIE_NAME = "__Host-agentiam-session"
    CSRF_COOKIE_NAME = "__Host-agentiam-csrf"
    if env_bool("DJANGO_TRUST_X_FORWARDED_PROTO", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
else:
    SECURE_SSL_REDIRECT = False
    SESSION_COOKIE_SECURE = False
    CSRF_COOKIE_SECURE = False
    SESSION_COOKIE_NAME = "agentiam-session"
    CSRF_COOKIE_NAME = "agentiam-csrf"

# --- Content Security Policy (django-csp 4): no inline script or style, no eval -----------------------
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        "base-uri": [NONE],
        "object-src": [NONE],
    }
}

# --- Static files -----------------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT", str(VAR_DIR / "static")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if TEST
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

if TEST:
    # Tests serve static files from the finders; nothing is collected.
    WHITENOISE_AUTOREFRESH = True
    WHITENOISE_USE_FINDERS = True

# --- I18N / time ------------------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# --- Input limits (agentiam/jsonsafe.py) --------------------------------------------------------------
# Every JSON document parsed from outside — request bodies, token and proof payloads, key sets, import JSON
# Lines — may nest arrays and objects at most JSON_MAX_DEPTH deep and be at most JSON_MAX_BYTES long;
# past either the answer is 400 naming the limit (json_too_deep / json_too_large).
JSON_MAX_DEPTH = env_int("JSON_MAX_DEPTH", 64, minimum=8, maximum=500)
JSON_MAX_BYTES = env_int("JSON_MAX_BYTES", 2_621_440, minimum=1024)

# --- REST API --------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # The token class comes first: the first class supplies WWW-Authenticate, so anonymous calls get 401.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "identities.api_tokens.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "agentiam.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "agentiam.api.errors.exception_handler",
    # Keyset pagination by default (no COUNT(*), stable under inserts); page numbers only for small lists.
    "DEFAULT_PAGINATION_CLASS": "agentiam.api.pagination.CursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON within JSON_MAX_DEPTH / JSON_MAX_BYTES (agentiam/jsonsafe.py); forms and multipart as DRF's.
    "DEFAULT_PARSER_CLASSES": [
        "agentiam.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "AgentIAM API",
    "DESCRIPTION": "Govern AI agents as identities.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The schema and its docs are public and the same for everyone: no authentication on those two views.
    "SERVE_AUTHENTICATION": [],
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",
    "COMPONENT_SPLIT_REQUEST": True,
    # One name per choice set used in several serializers.
    "ENUM_NAME_OVERRIDES": {
        "RoleEnum": "agentiam.permissions.ROLE_VALUES",
        # The registry's choice sets: several share a field name (kind, status, action…).
        "IdentityKindEnum": "identities.models.IdentityKind",
        "IdentityStatusEnum": "identities.models.IdentityStatus",
        "IdentifierKindEnum": "identities.models.IdentifierKind",
        "SystemKindEnum": "identities.models.SystemKind",
        "CredentialKindEnum": "identities.models.CredentialKind",
        "StorageKindEnum": "identities.models.StorageKind",
        "RevocationStatusEnum": "identities.models.RevocationStatus",
        "EnvironmentEnum": "identities.models.Environment",
        "HostingEnum": "identities.models.Hosting",
        "ExposureEnum": "identities.models.Exposure",
        "RiskTierEnum": "identities.models.RiskTier",
        "ActionEnum": "identities.models.Action",
        "DataClassEnum": "identities.models.DataClass",
        "OwnershipRoleEnum": "identities.models.OwnershipRole",
        "TaskStateEnum": "identities.models.Task.State",
        "ImportStatusEnum": "identities.models.ImportJob.Status",
        "VerdictEnum": ["allow", "deny"],  # a decision, a simulated flip's before and after
        "ApprovalRuleChangeKindEnum": "reviews.models.ChangeKind",
        "ItemDecisionEnum": "reviews.models_campaigns.ItemDecision",  # a review item's decision
        "BulkItemDecisionEnum": ["certify", "revoke"],  # what many review items at once may be
        "CampaignRunStateEnum": "reviews.models_campaigns.RunState",
    },
    # Past about 140 operations Swagger UI renders only the ones in view (a virtualised list): the filter
    # box (by tag) and deep links (#/tag/operationId) are how a reader reaches the rest.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "filter": True},
}

# --- Logging ----------------------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "WARNING" if TEST else "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

AGENTIAM_DEMO_PASSWORD = "agentiam-demo-2026"  # noqa: S105 - printed by make run, demo only
