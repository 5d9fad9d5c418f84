"""LiveShop settings: everything comes from the environment, with zero-setup defaults.

No env vars: SQLite, in-memory channel layer and room stream, Celery eager with an
in-process scheduler. `DATABASE_URL` / `REDIS_URL` switch the same code to Postgres + Redis.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=False)
# The zero-setup default is a developer machine; production must set its own secret.
SECRET_KEY = env.str(
    "DJANGO_SECRET_KEY", default="dev-insecure-liveshop-secret-change-me-0123456789"
)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
# The platform's own origin: WS Origin checks and absolute links in emails.
LIVESHOP_BASE_URL = env.str("LIVESHOP_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
LIVESHOP_PLATFORM_ORIGINS = env.list(
    "LIVESHOP_PLATFORM_ORIGINS", default=[LIVESHOP_BASE_URL, "http://localhost:8000"]
)
CSRF_TRUSTED_ORIGINS = LIVESHOP_PLATFORM_ORIGINS

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "liveshop.accounts",
    "liveshop.tenancy",
    "liveshop.ops",
    "commerce",
    "rooms",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "liveshop.urls"
ASGI_APPLICATION = "liveshop.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "liveshop.tenancy.context_processors.dashboard",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
VAR_DIR.mkdir(exist_ok=True)
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'liveshop.sqlite3'}")}
DB_IS_POSTGRES = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
# Row-level security only binds a role without BYPASSRLS: at run time the app connects as
# that role (created by `manage.py db_bootstrap`); migrations run as DATABASE_URL's user.
LIVESHOP_DB_APP_ROLE = env.str("LIVESHOP_DB_APP_ROLE", default="liveshop_app")
LIVESHOP_DB_APP_PASSWORD = env.str("LIVESHOP_DB_APP_PASSWORD", default="liveshop-app")
if DB_IS_POSTGRES:
    # Under ASGI every sync request runs in a fresh thread, so CONN_MAX_AGE cannot keep
    # connections; Django's pool does (../shared/research/flash-sale.md).
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("LIVESHOP_DB_POOL_MIN", default=2),
        "max_size": env.int("LIVESHOP_DB_POOL_MAX", default=20),
        "timeout": 10,
    }
    if env.bool("LIVESHOP_DB_CONNECT_AS_APP", default=False):
        DATABASES["default"]["USER"] = LIVESHOP_DB_APP_ROLE
        DATABASES["default"]["PASSWORD"] = LIVESHOP_DB_APP_PASSWORD
else:
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis, cache, channel layer, Celery ------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("LIVESHOP_REDIS_PREFIX", default="ls"),
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py 8's 5 s socket timeout equals channels-redis' blocking read.
                "hosts": [{"address": REDIS_URL, "socket_timeout": None}],
                "prefix": env.str("LIVESHOP_REDIS_PREFIX", default="ls") + ":asgi",
                "capacity": 1000,
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
LIVESHOP_REDIS_PREFIX = env.str("LIVESHOP_REDIS_PREFIX", default="ls")

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_TRANSPORT_OPTIONS = {"global_keyprefix": LIVESHOP_REDIS_PREFIX + ":celery:"}
# One schedule: Celery beat reads it with Redis; the in-process scheduler without.
# Apps append their periodic jobs here.
CELERY_BEAT_SCHEDULE: dict[str, dict] = {
    "tokens-purge-expired": {"task": "accounts.purge_expired_tokens", "schedule": 3600.0},
    # Unpaid orders give their reserved stock back once the reservation runs out.
    "orders-expire-reservations": {"task": "commerce.expire_reservations", "schedule": 15.0},
    # The sandbox gateway's webhook outbox: retries deliveries that failed or were lost.
    "payments-sandbox-redeliver": {"task": "commerce.sandbox_redeliver", "schedule": 15.0},
    "orders-purge-idempotency-keys": {
        "task": "commerce.purge_idempotency_keys",
        "schedule": 3600.0,
    },
}

# --- Auth -----------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 8},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LIVESHOP_TOKEN_TTL = timedelta(days=env.int("LIVESHOP_TOKEN_TTL_DAYS", default=30))
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="LiveShop <no-reply@liveshop.test>")


# --- API ------------------------------------------------------------------------------
def _throttle_rates(raw: str) -> dict[str, str]:
    rates = {"anon": "120/min", "user": "1200/min", "auth": "20/min", "register": "5/min"}
    for pair in filter(None, (p.strip() for p in raw.split(","))):
        scope, _, rate = pair.partition("=")
        if not rate:
            raise ValueError(f"LIVESHOP_THROTTLES: expected scope=rate, got {pair!r}")
        rates[scope.strip()] = rate.strip()
    return rates


LIVESHOP_THROTTLES = _throttle_rates(env.str("LIVESHOP_THROTTLES", default=""))
# limits storage: Redis when configured, else process memory.
LIVESHOP_RATELIMIT_STORAGE = (
    REDIS_URL.replace("redis://", "async+redis://", 1) if REDIS_URL else "memory://"
)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "liveshop.api.authentication.BearerAuthentication",
        "liveshop.api.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["liveshop.api.throttling.AccountRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["liveshop.api.parsers.BoundedJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "liveshop.api.pagination.Pagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "liveshop.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "PAGE_SIZE": 25,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "LiveShop API",
    "DESCRIPTION": (
        "Multi-tenant live commerce. Authenticate with `Authorization: Bearer <token>` "
        "(user tokens from /api/v1/auth/token, or merchant API keys `lsk_…`). Prices are "
        'integer minor units with a `currency`. Errors: `{"error": {"code", "message", '
        '"fields"?}}`. Lists: `{count, next, previous, results}`. Outsiders get 404.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
}

# --- i18n, static ---------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
MEDIA_ROOT = env.path("LIVESHOP_MEDIA_ROOT", default=VAR_DIR / "media")
MEDIA_URL = "/media/"

# --- Logging --------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LIVESHOP_LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# --- Security in production -----------------------------------------------------------
if not DEBUG and env.bool("LIVESHOP_HTTPS", default=False):
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Product settings -----------------------------------------------------------------
LIVESHOP_DEMO_COINS = env.int("LIVESHOP_DEMO_COINS", default=0)
LIVESHOP_INVITE_TTL = timedelta(days=7)
# Commerce: how long an unpaid order holds its stock; how long Idempotency-Keys are kept.
LIVESHOP_RESERVATION_TTL = timedelta(seconds=env.int("LIVESHOP_RESERVATION_TTL_S", default=600))
LIVESHOP_IDEMPOTENCY_TTL = timedelta(hours=env.int("LIVESHOP_IDEMPOTENCY_TTL_H", default=24))
# The sandbox gateway signs its webhooks (Standard Webhooks, `whsec_<base64>`). Without a
# configured secret one is derived from SECRET_KEY, so nothing secret lives in the repo.
LIVESHOP_SANDBOX_WEBHOOK_SECRET = env.str("LIVESHOP_SANDBOX_WEBHOOK_SECRET", default="")
LIVESHOP_WEBHOOK_TOLERANCE_S = 300
# Order placements inside Django at once per web process; more wait in the sold-out gate
# (commerce/fastpath.py), which refuses them cheaply if the sale sells out meanwhile.
LIVESHOP_ORDER_CONCURRENCY = env.int("LIVESHOP_ORDER_CONCURRENCY", default=8)
