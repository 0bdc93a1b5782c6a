"""Settings for Interaction as Explanation. Every value can be overridden by environment."""

import json
import os
import secrets
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from django.core.exceptions import ImproperlyConfigured

# Plain lists of names, no torch: a web process loads these settings too.
from painting.inference.backends import AUTO, BACKENDS
from painting.inference.methods import METHODS

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def envbool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off", ""):
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def envint(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None


def envfloat(name: str, default: float) -> float:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {value!r}") from None


def envchoice(name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = env(name, default)
    if value not in allowed:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def envchoices(name: str, default: str, allowed: tuple[str, ...]) -> list[str]:
    """A comma-separated list of names, each one of allowed."""
    values = [v.strip() for v in env(name, default).split(",") if v.strip()]
    unknown = ", ".join(repr(v) for v in values if v not in allowed)
    if unknown:
        names = ", ".join(allowed)
        raise ImproperlyConfigured(f"{name} lists {unknown}: each must be one of {names}")
    return values


def kept_secret_key(path: Path) -> str:
    """A random key made on first start and kept (mode 0600), so sessions survive restarts."""
    if not path.exists():
        fd, draft = tempfile.mkstemp(dir=path.parent)  # mkstemp makes it 0600
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_urlsafe(50))
        try:
            os.link(draft, path)  # atomic: processes starting together all keep the first key
        except FileExistsError:
            pass
        finally:
            os.unlink(draft)
    return path.read_text().strip()


VAR_DIR = Path(env("XAI_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

# Debug pages list every URL and setting: only when asked for.
DEBUG = envbool("XAI_DEBUG", False)
SECRET_KEY = env("XAI_SECRET_KEY", "") or kept_secret_key(VAR_DIR / "secret_key")
ALLOWED_HOSTS = env("XAI_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")
CSRF_TRUSTED_ORIGINS = [o for o in env("XAI_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "csp",
    "painting",
]

MIDDLEWARE = [
    # First: /healthz answers before host checks, https redirects and sessions (see its module).
    "painting.health.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, so its 413 gets every header above. Nothing reads the body before the view does
    # (CSRF reads it in process_view, which runs only after every middleware here).
    "painting.body_limit.BodyLimitMiddleware",
]

ROOT_URLCONF = "xaiproject.urls"
WSGI_APPLICATION = "xaiproject.wsgi.application"

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
            ],
        },
    },
]

# PostgreSQL (or any database dj-database-url knows) by DATABASE_URL, e.g.
# postgres://xai:secret@db.internal:5432/xai; SQLite under var/ when it is unset.
DATABASE_URL = env("DATABASE_URL", "")
# Keep each thread's connection: opening one (and its PRAGMAs, or PostgreSQL's handshake) per
# request is slow. On PostgreSQL, every web thread and worker process may then hold one:
# max_connections must cover WEB_CONCURRENCY × XAI_WEB_THREADS plus the workers (deploy/).
DB_CONN_MAX_AGE = envint("XAI_DB_CONN_MAX_AGE", 300)
if DATABASE_URL:
    import dj_database_url

    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL, conn_max_age=DB_CONN_MAX_AGE, conn_health_checks=True
        )
    }
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # An unreachable server fails a request (and /healthz) in seconds instead of hanging.
        DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env("XAI_DB_PATH", str(VAR_DIR / "db.sqlite3")),
            # The web process and the worker write concurrently: WAL lets readers go on while
            # a writer commits, and IMMEDIATE transactions wait for the lock instead of failing.
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
            "TEST": {"NAME": env("XAI_TEST_DB_PATH", str(VAR_DIR / "test-db.sqlite3"))},
            "CONN_MAX_AGE": DB_CONN_MAX_AGE,
            "CONN_HEALTH_CHECKS": True,
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Media (photos, masks, thumbnails, heatmaps). Nothing serves them but the views that check
# their owner (painting/storage.py): they stream the file, or with XAI_MEDIA_SIGNED_URLS
# redirect to a signed URL of the bucket valid for XAI_MEDIA_URL_SECONDS. Every process (web,
# workers, commands) must have the same storage settings.
#   XAI_STORAGE=local (default): files under XAI_MEDIA_ROOT;
#   XAI_STORAGE=s3: a private bucket of S3 or any S3-compatible server (django-storages),
#     named by AWS_STORAGE_BUCKET_NAME, with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and, off
#     AWS, AWS_S3_ENDPOINT_URL; optionally AWS_S3_REGION_NAME, AWS_S3_ADDRESSING_STYLE
#     (path or virtual; path by default with an endpoint), AWS_LOCATION (a key prefix);
#   XAI_STORAGE_BACKEND: any other Django storage class (dotted path), instead of those two.
# XAI_STORAGE_OPTIONS (JSON) is merged into the backend's options.
MEDIA_ROOT = Path(env("XAI_MEDIA_ROOT", str(VAR_DIR / "media")))
XAI_STORAGE = envchoice("XAI_STORAGE", "local", ("local", "s3"))
XAI_MEDIA_URL_SECONDS = envint("XAI_MEDIA_URL_SECONDS", 300)
XAI_MEDIA_ORIGINS: list[str] = []  # where signed URLs point: the page's img-src allows them


def _s3_storage(url_seconds: int) -> tuple[dict, list[str]]:
    """django-storages' S3 options from the usual AWS_* variables, and the origins of the URLs
    it signs (valid for url_seconds)."""
    bucket = env("AWS_STORAGE_BUCKET_NAME", "")
    if not bucket:
        raise ImproperlyConfigured("XAI_STORAGE=s3 needs AWS_STORAGE_BUCKET_NAME")
    endpoint = env("AWS_S3_ENDPOINT_URL", "")
    region = env("AWS_S3_REGION_NAME", "")
    # S3-compatible servers (MinIO, Ceph, Garage, …) address buckets by path.
    style = env("AWS_S3_ADDRESSING_STYLE", "path" if endpoint else "virtual")
    options = {
        "bucket_name": bucket,
        "endpoint_url": endpoint or None,
        "region_name": region or None,
        "addressing_style": style,
        "location": env("AWS_LOCATION", ""),
        "signature_version": "s3v4",
        # Private objects, reached only through signed URLs that expire.
        "default_acl": None,
        "querystring_auth": True,
        "querystring_expire": url_seconds,
        "custom_domain": None,
        # Two uploads of the same photo get two files, as in a local folder.
        "file_overwrite": False,
        "object_parameters": {"CacheControl": "private, max-age=31536000, immutable"},
    }
    if endpoint:
        parts = urlsplit(endpoint)
        host = f"{bucket}.{parts.netloc}" if style == "virtual" else parts.netloc
        origins = [f"{parts.scheme}://{host}"]
    elif style == "path":
        origins = [f"https://s3.{region}.amazonaws.com" if region else "https://s3.amazonaws.com"]
    else:
        origins = [f"https://{bucket}.s3.amazonaws.com"]
        origins += [f"https://{bucket}.s3.{region}.amazonaws.com"] if region else []
    return options, origins


if XAI_STORAGE == "local":
    MEDIA_STORAGE = {"BACKEND": "painting.storage.LocalStorage", "OPTIONS": {}}
else:
    s3_options, XAI_MEDIA_ORIGINS = _s3_storage(XAI_MEDIA_URL_SECONDS)
    MEDIA_STORAGE = {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": s3_options}
MEDIA_STORAGE["BACKEND"] = env("XAI_STORAGE_BACKEND", MEDIA_STORAGE["BACKEND"])
try:
    _storage_options = json.loads(env("XAI_STORAGE_OPTIONS", "{}"))
except ValueError as error:
    raise ImproperlyConfigured(f"XAI_STORAGE_OPTIONS is not JSON: {error}") from None
if not isinstance(_storage_options, dict):
    raise ImproperlyConfigured('XAI_STORAGE_OPTIONS must be a JSON object: {"name": value, …}')
MEDIA_STORAGE["OPTIONS"].update(_storage_options)
XAI_MEDIA_ORIGINS = env("XAI_MEDIA_ORIGIN", " ".join(XAI_MEDIA_ORIGINS)).split()
# Redirect to signed URLs (the bucket serves the bytes) instead of streaming through the web
# process: on by default for S3; for another backend, only if its url() signs and expires.
XAI_MEDIA_SIGNED_URLS = envbool("XAI_MEDIA_SIGNED_URLS", XAI_STORAGE == "s3")
# A local write that would leave less free space than this is refused (507) before its file is
# made, and /healthz says the storage is full: the database needs room to write too.
XAI_MIN_FREE_BYTES = envint("XAI_MIN_FREE_BYTES", 32 * 1024 * 1024)
STORAGES = {
    "default": MEDIA_STORAGE,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_MAX_AGE = 24 * 3600  # a day: assets are small and change only with a release


def _revalidate_scripts(headers, path: str, url: str) -> None:
    """The canvas's ES modules import each other by unhashed names: after a release a browser
    must never run a cached old module beside a new one, so it asks each time (a 304 while
    unchanged) instead of keeping scripts for a day."""
    if url.endswith(".js"):
        headers["Cache-Control"] = "no-cache"


WHITENOISE_ADD_HEADERS_FUNCTION = _revalidate_scripts

SESSION_COOKIE_AGE = 60 * 60 * 24 * 90
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Served over HTTPS (XAI_HTTPS=1): secure cookies, redirect to https, HSTS. Its own switch, so
# that `make run` on a fresh machine works over plain http://127.0.0.1:8000 with debug off.
HTTPS = envbool("XAI_HTTPS", False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = envbool("XAI_SSL_REDIRECT", HTTPS)
SECURE_HSTS_SECONDS = envint("XAI_HSTS_SECONDS", 60 * 60 * 24 * 365) if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_PRELOAD = HTTPS
# Behind a TLS-terminating proxy (at one of XAI_TRUSTED_PROXIES) that sets X-Forwarded-Proto
# and X-Forwarded-For. Only then does the nginx of scripts/serve.sh take the client address
# from that proxy's X-Forwarded-For and pass its X-Forwarded-Proto on (and gunicorn serving
# alone trusts its X-Forwarded-For: painting.ratelimit.client_address).
BEHIND_PROXY = envbool("XAI_BEHIND_PROXY", False)
TRUSTED_PROXIES = env("XAI_TRUSTED_PROXIES", "127.0.0.1,::1").split(",")
if BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# What nginx in front of gunicorn allows one client address: requests in progress at once.
XAI_CONNECTIONS_PER_ADDRESS = envint("XAI_CONNECTIONS_PER_ADDRESS", 32)

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:", *XAI_MEDIA_ORIGINS],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Uploads: the byte and pixel limits are checked before any pixel is decoded.
XAI_MAX_UPLOAD_BYTES = envint("XAI_MAX_UPLOAD_BYTES", 20 * 1024 * 1024)
XAI_MAX_UPLOAD_PIXELS = envint("XAI_MAX_UPLOAD_PIXELS", 40_000_000)
# Uploads are stored as a working copy no longer than this on its long side: the models see
# 224–260 px, and a canvas of a 40-megapixel photo would be slow to paint in any browser.
XAI_WORKING_MAX_SIDE = envint("XAI_WORKING_MAX_SIDE", 1024)
# What one visitor may keep: uploads, and bytes in all (photos, masks, brush logs).
XAI_VISITOR_MAX_UPLOADS = envint("XAI_VISITOR_MAX_UPLOADS", 20)
XAI_VISITOR_MAX_STORED_BYTES = envint("XAI_VISITOR_MAX_STORED_MB", 100) * 2**20
# What one client address (ratelimit.client_address: a classroom behind one router is one)
# may store in a window that opens with its first write: photos, masks and brush logs of all
# its visitors together, so that fresh cookies do not buy fresh quotas.
XAI_ADDRESS_MAX_STORED_BYTES = envint("XAI_ADDRESS_MAX_STORED_MB", 1024) * 2**20
XAI_ADDRESS_STORED_WINDOW_SECONDS = envint("XAI_ADDRESS_STORED_WINDOW_HOURS", 24) * 3600
# purge runs VACUUM on SQLite once deletes have freed this much of the file.
XAI_VACUUM_MIN_FREE_MB = envint("XAI_VACUUM_MIN_FREE_MB", 64)
# How many uploads the web process decodes at once: a PNG or WebP is decoded at full size
# (160 MB at 40 megapixels) before it is reduced; more uploads wait their turn.
XAI_DECODE_CONCURRENCY = envint("XAI_DECODE_CONCURRENCY", 2)
# How many previews of a fill (blur, inpaint, ROAD: 100 to 170 ms of CPU at 1024 px with the
# PNG, benchmarks/preview_fill.py) a web process composes at once; one asked for past that is
# refused (429), not queued.
XAI_PREVIEW_CONCURRENCY = envint("XAI_PREVIEW_CONCURRENCY", 2)
# The largest request body: an upload plus the rest of its form. Larger ones are refused
# before they are read, by nginx in front and by painting.body_limit in Django.
XAI_MAX_REQUEST_BYTES = XAI_MAX_UPLOAD_BYTES + 1024 * 1024
# Large bodies (painting.body_limit.LARGE_BODY_BYTES or more: an upload, a Classify with a long
# brush log) one client address may send: megabytes of them a minute, counted by Django before it
# reads one (past it: 429), and how many a minute nginx lets through (XAI_LARGE_BODIES_PER_MINUTE_
# PER_ADDRESS, with a burst of as many again), counted before nginx reads one. Receiving and
# parsing a body of 2 MB costs the web process ~30 ms: without them, 64 browsers sending such
# bodies from 8 addresses held another visitor's Classify for 2 to 30 s.
XAI_BODY_MB_PER_MINUTE_PER_ADDRESS = envfloat("XAI_BODY_MB_PER_MINUTE_PER_ADDRESS", 60.0)
XAI_LARGE_BODIES_PER_MINUTE_PER_ADDRESS = envint("XAI_LARGE_BODIES_PER_MINUTE_PER_ADDRESS", 30)
DATA_UPLOAD_MAX_MEMORY_SIZE = XAI_MAX_REQUEST_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

XAI_MODEL = env("XAI_MODEL", "")  # empty: the best model whose weights are present
XAI_TORCH_THREADS = envint("XAI_TORCH_THREADS", 0)  # 0: one per core
# How much lower a worker's processes run than normal (os.nice): the analysis worker's, so that
# Grad-CAM and analyses never slow classification down on a machine they share.
XAI_WORKER_NICE = envint("XAI_WORKER_NICE", 0)
# Classification backend of the inference worker: "auto" measures ONNX Runtime and OpenVINO
# (both f32, the same top-5 as torch) at the worker's start and keeps the faster (or, within 25%
# of it, the one that burns less CPU per image), since which one wins depends on the CPU
# (classifier.fastest_backend; benchmarks/model_latency.py compares them all). Or name one:
# onnxruntime, openvino, torch. Grad-CAM uses torch in the analysis worker: one runtime per
# process.
XAI_BACKEND = envchoice("XAI_BACKEND", AUTO, (AUTO, *BACKENDS))
# The explanation methods the analysis worker computes for each new exploration (Grad-CAM is
# always first): comma-separated keys of painting.inference.methods.METHODS. The others are
# computed when a person picks one in the model's-view menu: all five took ~45 s of CPU per
# exploration (Score-CAM ~35 s: SCORE_CAM_CHANNELS forward passes) on the cores classification
# needs. A gallery photo's maps are computed once per model and copied to later explorations.
XAI_EXPLANATION_METHODS = envchoices("XAI_EXPLANATION_METHODS", "gradcam", tuple(METHODS))
# The detect task's model's view of a followed box (D-RISE, painting/detection_view.py), on the
# analysis worker: at most this many masked pictures, stopping early after this many seconds
# (a detector pass is ~0.1-0.3 s of CPU at 416 px): well inside the task's time limit.
XAI_DRISE_MASKS = envint("XAI_DRISE_MASKS", 96)
XAI_DRISE_SECONDS = envfloat("XAI_DRISE_SECONDS", 25.0)
XAI_COMPILED_DIR = Path(env("XAI_COMPILED_DIR", str(VAR_DIR / "compiled")))
# Rounds waiting when the worker frees up are classified together, up to this many at once.
XAI_MAX_BATCH = envint("XAI_MAX_BATCH", 8)
# A batch takes at most this many rounds of each visitor, oldest first, so one visitor's queue
# cannot fill every batch ahead of others (a visitor alone in the queue gets a full batch).
XAI_BATCH_PER_VISITOR = envint("XAI_BATCH_PER_VISITOR", 1)
# The same per client address (a hashed one, Exploration.client): many sessions from one
# address get one place in a batch, as one visitor does, while others wait.
XAI_BATCH_PER_ADDRESS = envint("XAI_BATCH_PER_ADDRESS", 1)
# Besides the round whose message came, a batch takes waiting rounds worth at most this many
# seconds of estimated work (painting.costs), the least busy clients' first, and classifies them
# in slices of at most this much, each answered as soon as it is done: a person's cheap round
# never waits behind a batch of strangers' dear ones. On a CPU a batch's model call takes
# nearly as long per image as alone, so a batch is short (about two cheap rounds: a person
# waits for the batch in progress, under a 12-address flood p50 86 ms instead of 195); with a
# GPU, where a batch costs little more than one image, raise it (0.5 or more).
XAI_BATCH_SECONDS = envfloat("XAI_BATCH_SECONDS", 0.06)

REDIS_URL = env("REDIS_URL", "redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None  # the Round row is the source of truth, not a result backend
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
# Three queues, each with its own worker (scripts/run.sh, the Procfile): the rounds; the work a
# page needs (the Region map, Grad-CAM: torch, off the hot path); optional work (analyses,
# explanation methods a person picks, alignment scores), bounded by painting.backlog, so that
# the work a page needs never waits behind it.
CELERY_TASK_ROUTES = {
    "painting.tasks.classify_round": {"queue": "inference"},
    "painting.export_tasks.*": {"queue": "exports"},  # long, no model: a worker of its own
    "painting.tasks.analyse_round": {"queue": "optional"},
    "painting.tasks.compute_explanation": {"queue": "optional"},
    "painting.tasks.score_alignment": {"queue": "optional"},
    "painting.tasks.*": {"queue": "analysis"},
}
CELERY_IMPORTS = ["painting.export_tasks", "painting.studies.understanding.tasks"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A pool process loads its model before it says it is up (tasks._load_model_once): seconds on a
# busy machine, where Celery's 4 s default killed each replacement of a crashed process.
CELERY_WORKER_PROC_ALIVE_TIMEOUT = 60
CELERY_TASK_SOFT_TIME_LIMIT = envfloat("XAI_TASK_SOFT_TIME_LIMIT", 60.0)
# A study's export (the exports worker), and how long a finished one is kept for download.
XAI_EXPORT_TIME_LIMIT = envfloat("XAI_EXPORT_TIME_LIMIT", 3600.0)
XAI_EXPORT_KEEP_HOURS = envfloat("XAI_EXPORT_KEEP_HOURS", 24.0)
# 0 for a worker that runs no model (the exports worker): it imports and loads none.
XAI_WORKER_LOADS_MODEL = envbool("XAI_WORKER_LOADS_MODEL", True)
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 10
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A dead broker must fail a Classify within about a second, not hang the request.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": 1,
    "socket_timeout": 5,
    "visibility_timeout": 600,
}
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
# Embedded fallback when no Redis can be run: tasks execute in the web process.
XAI_EAGER = envbool("XAI_EAGER", False)
CELERY_TASK_ALWAYS_EAGER = XAI_EAGER
# How long one poll for a round's result may wait for the worker before answering "pending".
XAI_POLL_WAIT_SECONDS = envfloat("XAI_POLL_WAIT_SECONDS", 10.0)
# Send each Classify's stages (ms: parse, validate, files, db, publish, queue, the worker's,
# answered, render) as a Server-Timing header, for benchmarks/browser_latency.py. Off by default:
# it tells a visitor how busy the workers are.
XAI_SERVER_TIMING = envbool("XAI_SERVER_TIMING", False)
if XAI_SERVER_TIMING:  # outermost: the request's whole time inside Django, as `django`
    MIDDLEWARE.insert(0, "painting.server_timing.ServerTimingMiddleware")
# A round still pending after this many seconds is failed by the sweeper.
XAI_ROUND_STALE_SECONDS = envfloat("XAI_ROUND_STALE_SECONDS", CELERY_TASK_TIME_LIMIT + 30)


def _next_db(url: str) -> str:
    """The Redis URL of the database after the URL's own (0 → 1), for the cache: a flush of the
    cache then never empties the broker's queues."""
    parts = urlsplit(url)
    db = parts.path.strip("/")
    if parts.scheme not in ("redis", "rediss") or not (db or "0").isdigit():
        return url  # a socket or an odd URL: the same database, the key prefix keeps apart
    return urlunsplit(parts._replace(path=f"/{(int(db or 0) + 1) % 16}"))


# Rate limits are counted in this cache, so it must be one that every web process shares: the
# broker's Redis. Only the embedded fallback without Redis (XAI_EAGER) counts in the process,
# with room for many clients, so that a flood of new ones does not push older counters out.
if XAI_EAGER:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": env("XAI_CACHE_URL", _next_db(REDIS_URL)),
            "KEY_PREFIX": "xai",
            # A dead Redis must not hang a request: ratelimit lets it through and logs.
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }

# Requests that cost worker time, counted in fixed windows per browser session (visitor) and per
# client address; a request is refused when either is over. action: (requests, per seconds).
XAI_RATE_LIMITS = {
    "classify": (envint("XAI_CLASSIFY_PER_MINUTE", 60), 60),  # Classify and Retry
    "upload": (envint("XAI_UPLOADS_PER_MINUTE", 10), 60),
    "explore": (envint("XAI_EXPLORES_PER_MINUTE", 20), 60),  # round 0 and the model's view
    "analysis": (envint("XAI_ANALYSES_PER_MINUTE", 6), 60),  # about 3 s of the analysis worker
    "events": (envint("XAI_EVENT_REPORTS_PER_MINUTE", 30), 60),  # focus events sent on leaving
    "preview": (envint("XAI_PREVIEWS_PER_MINUTE", 90), 60),  # one per stroke at most
    "code": (envint("XAI_CODE_TRIES_PER_HOUR", 10), 3600),  # participant codes typed in
    "image": (envint("XAI_ROUND_IMAGES_PER_MINUTE", 60), 60),  # masked.png, composed each time
    "trial": (envint("XAI_TRIAL_ANSWERS_PER_MINUTE", 30), 60),  # understanding-test answers
    "boxes": (envint("XAI_BOX_CHANGES_PER_MINUTE", 120), 60),  # detect: threshold, follow
}
# An address may be a classroom or an office behind one router: higher than a session's, yet a
# client that drops its cookie (a new session per request) is held here.
XAI_ADDRESS_RATE_LIMITS = {
    "classify": (envint("XAI_CLASSIFY_PER_MINUTE_PER_ADDRESS", 300), 60),
    "upload": (envint("XAI_UPLOADS_PER_MINUTE_PER_ADDRESS", 30), 60),
    "explore": (envint("XAI_EXPLORES_PER_MINUTE_PER_ADDRESS", 60), 60),
    "analysis": (envint("XAI_ANALYSES_PER_MINUTE_PER_ADDRESS", 12), 60),
    "events": (envint("XAI_EVENT_REPORTS_PER_MINUTE_PER_ADDRESS", 300), 60),
    "trial": (envint("XAI_TRIAL_ANSWERS_PER_MINUTE_PER_ADDRESS", 300), 60),
    "preview": (envint("XAI_PREVIEWS_PER_MINUTE_PER_ADDRESS", 300), 60),
    "code": (envint("XAI_CODE_TRIES_PER_HOUR_PER_ADDRESS", 30), 3600),
    "image": (envint("XAI_ROUND_IMAGES_PER_MINUTE_PER_ADDRESS", 180), 60),
    "boxes": (envint("XAI_BOX_CHANGES_PER_MINUTE_PER_ADDRESS", 600), 60),
}
# Worker time a visitor, and a client address, may ask for per minute, in estimated seconds
# (painting.costs: pixels × the fill's cost): a round past either budget is answered 429. The
# inference worker has 60 s a minute per process; one address may take a quarter of one (a
# classroom behind one router: 300 cheap rounds a minute of gallery photos, as the address's
# rate limit allows, but a tenth as many of ROAD on large uploads).
XAI_WORKER_SECONDS_PER_MINUTE = envfloat("XAI_WORKER_SECONDS_PER_MINUTE", 6.0)
XAI_WORKER_SECONDS_PER_MINUTE_PER_ADDRESS = envfloat(
    "XAI_WORKER_SECONDS_PER_MINUTE_PER_ADDRESS", 15.0
)
# And all clients together: past it (in windows of 10 s) only cheap rounds are taken (and the
# uploads and explorations a page needs), so that 24 addresses each within their own budget
# cannot queue more than the workers can do, and the work shed first is the dearest. About
# three quarters of what the inference processes can do: 45 for the one of `make run`; add 60
# for each more inference process (or GPU's worth).
XAI_WORKER_SECONDS_PER_MINUTE_TOTAL = envfloat("XAI_WORKER_SECONDS_PER_MINUTE_TOTAL", 45.0)
# Work a visitor may have queued at once (pending or running): one person's backlog must not
# starve everyone else's. A Classify, Retry or new exploration past it is answered 429.
XAI_MAX_PENDING_ROUNDS = envint("XAI_MAX_PENDING_ROUNDS", 2)
# The same per client address (all its sessions) and in all: the queue stays within what one
# batch looks at (pipeline.CANDIDATES), so that the least busy client's round is always seen.
XAI_MAX_PENDING_ROUNDS_PER_ADDRESS = envint("XAI_MAX_PENDING_ROUNDS_PER_ADDRESS", 32)
XAI_MAX_PENDING_ROUNDS_TOTAL = envint("XAI_MAX_PENDING_ROUNDS_TOTAL", 200)
# Optional work (an analysis, an explanation method picked in the menu: painting.backlog) waiting
# at once per visitor, per client address and in all; past a bound the ask is answered 429
# "busy, try again", not queued behind strangers' work.
XAI_MAX_PENDING_ANALYSES = envint("XAI_MAX_PENDING_ANALYSES", 1)
XAI_MAX_PENDING_ANALYSES_PER_ADDRESS = envint("XAI_MAX_PENDING_ANALYSES_PER_ADDRESS", 2)
XAI_MAX_PENDING_ANALYSES_TOTAL = envint("XAI_MAX_PENDING_ANALYSES_TOTAL", 6)

# Studies: a participant neither finished nor active (a round, or consent) for this long no
# longer holds a place in their condition, so assignment gives the slot to someone else.
XAI_STUDY_SLOT_TIMEOUT_MINUTES = envint("XAI_STUDY_SLOT_TIMEOUT_MINUTES", 60)
# New participants one client address may start in a study: a new study's default for its
# max_consents_per_address (0: no limit), so one machine cannot fill (or steer) the conditions.
XAI_STUDY_CONSENTS_PER_ADDRESS = envint("XAI_STUDY_CONSENTS_PER_ADDRESS", 3)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("XAI_LOG_LEVEL", "INFO")},
}
