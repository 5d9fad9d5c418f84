"""LiveShop settings: everything comes from the environment, with zero-setup defaults.

No env vars: SQLite, in-memory channel layer and room stream, Celery eager with an
in-process scheduler. `DATABASE_URL` / `REDIS_URL` switch the same code to Postgres + Redis.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# Run-time files (SQLite database, relay sockets, recordings); one directory per stack.
VAR_DIR = env.path("LIVESHOP_VAR_DIR", default=str(BASE_DIR / "var"))

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
    "media",
    "media.hls",
    "assistant",
    "consults",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "liveshop.middleware.RejectNulMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "liveshop.i18n.UserLocaleMiddleware",
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
Path(VAR_DIR).mkdir(parents=True, exist_ok=True)
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{Path(VAR_DIR) / 'liveshop.sqlite3'}")
}
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
CELERY_BEAT_SCHEDULE_FILENAME = str(Path(VAR_DIR) / "celerybeat-schedule")
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
    # Virtual hosts move to their next timeline entry when due (assistant/virtual_host.py).
    "assistant-virtual-hosts": {"task": "assistant.virtual_hosts_advance", "schedule": 1.0},
    # Consults: lapsed offers back to the queue head, stale presence, parties gone too long.
    "consults-sweep": {"task": "consults.sweep", "schedule": 3.0},
    "consults-booking-reminders": {"task": "consults.booking_reminders", "schedule": 60.0},
    # Flash sales end on time; lapsed waitlist offers pass to the next shopper (rooms.selling).
    "rooms-flash-sales": {"task": "rooms.flash_sales_tick", "schedule": 1.0},
    # PK: score changes announced, PKs whose time is up settled (media/pk.py).
    "media-pk-tick": {"task": "media.pk_tick", "schedule": 2.0},
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
    rates = {
        "anon": "120/min",
        "user": "1200/min",
        "auth": "20/min",
        "register": "5/min",
        "topup": "10/min",
    }
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
        '"fields"?}}`. Lists: `{count, next, previous, results}`. Outsiders get 404. '
        "The room WebSocket (chat, likes, gifts, live events) is documented at "
        "[/docs/realtime/](/docs/realtime/)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "ENUM_NAME_OVERRIDES": {
        "LocaleEnum": [("en", "English"), ("zh-hans", "简体中文")],
        "OrderStatusEnum": "commerce.models.OrderStatus",
        "PaymentStatusEnum": "commerce.models.PaymentStatus",
        "RoomStatusEnum": "rooms.models.RoomStatus",
        "ConsultStatusEnum": "consults.models.ConsultStatus",
        "AgentStatusEnum": "consults.models.AgentStatus",
        "BookingStatusEnum": "consults.models.BookingStatus",
        "RecordingStateEnum": "consults.models.RecordingState",
        "TopUpStatusEnum": "rooms.models.TopUpStatus",
    },
}

# --- i18n, static ---------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# The switcher's choice (and the user's locale, set at login); no script needs to read it.
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(VAR_DIR) / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
MEDIA_ROOT = env.path("LIVESHOP_MEDIA_ROOT", default=str(Path(VAR_DIR) / "media"))
MEDIA_URL = "/media/"

# --- Logging --------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LIVESHOP_LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # aioice logs every ICE connectivity check at INFO
        "aioice": {"level": "WARNING"},
    },
}

# --- Security in production -----------------------------------------------------------
if not DEBUG and env.bool("LIVESHOP_HTTPS", default=False):
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    LANGUAGE_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Product settings -----------------------------------------------------------------
LIVESHOP_DEMO_COINS = env.int("LIVESHOP_DEMO_COINS", default=0)
# Coins (rooms/economy.py): how many coins one major currency unit buys, the top-up
# packages the wallet page offers, and the most coins one top-up may buy.
LIVESHOP_COINS_PER_UNIT = env.int("LIVESHOP_COINS_PER_UNIT", default=10)
LIVESHOP_TOPUP_PACKAGES = [
    int(n)
    for n in env.list("LIVESHOP_TOPUP_PACKAGES", default=["60", "300", "980", "1980", "6480"])
]
LIVESHOP_TOPUP_MAX_COINS = env.int("LIVESHOP_TOPUP_MAX_COINS", default=100_000)
LIVESHOP_INVITE_TTL = timedelta(days=7)

# --- Room real-time engine (rooms/realtime/README.md) ----------------------------------
# Batches go out at most every TICK_S per room; above FOLD_THRESHOLD chat events in one tick
# the older chat is folded (counted, not sent). A viewer with QUEUE_FRAMES frames unsent is
# closed with 4408. Each room's stream keeps at least RETENTION events (contract: >= 10,000)
# and expires STREAM_TTL_S after its last event; its seq then continues from the database.
LIVESHOP_ROOM_TICK_S = env.float("LIVESHOP_ROOM_TICK_S", default=0.1)
LIVESHOP_ROOM_FOLD_THRESHOLD = env.int("LIVESHOP_ROOM_FOLD_THRESHOLD", default=60)
LIVESHOP_ROOM_QUEUE_FRAMES = env.int("LIVESHOP_ROOM_QUEUE_FRAMES", default=50)
LIVESHOP_ROOM_RETENTION = env.int("LIVESHOP_ROOM_RETENTION", default=10_000)
LIVESHOP_ROOM_STREAM_TTL_S = env.int("LIVESHOP_ROOM_STREAM_TTL_S", default=7 * 24 * 3600)
# After a stream loss, resumes up to (floor + margin) answer gap: true (events not yet in
# the database when Redis was lost may have had their seqs reused).
LIVESHOP_ROOM_RESEED_MARGIN = env.int("LIVESHOP_ROOM_RESEED_MARGIN", default=1000)
# Viewers/likes are re-read this often; an otherwise empty tick sends a stats-only batch
# (from = to + 1, no events) at most this often, and only when they changed.
LIVESHOP_ROOM_STATS_INTERVAL_S = env.float("LIVESHOP_ROOM_STATS_INTERVAL_S", default=1.0)
LIVESHOP_ROOM_HUB_IDLE_S = env.float("LIVESHOP_ROOM_HUB_IDLE_S", default=10.0)
LIVESHOP_ROOM_MAX_FRAME_BYTES = env.int("LIVESHOP_ROOM_MAX_FRAME_BYTES", default=64 * 1024)
LIVESHOP_ROOM_MAX_EVENT_BYTES = env.int("LIVESHOP_ROOM_MAX_EVENT_BYTES", default=8 * 1024)
LIVESHOP_ROOM_RECENT_CHAT = env.int("LIVESHOP_ROOM_RECENT_CHAT", default=50)
LIVESHOP_ROOM_PERSIST_INTERVAL_S = env.float("LIVESHOP_ROOM_PERSIST_INTERVAL_S", default=0.2)
LIVESHOP_ROOM_LIKE_MAX_PER_FRAME = env.int("LIVESHOP_ROOM_LIKE_MAX_PER_FRAME", default=50)
LIVESHOP_ROOM_PRESENCE_TTL_S = env.float("LIVESHOP_ROOM_PRESENCE_TTL_S", default=45.0)
LIVESHOP_ROOM_PRESENCE_HEARTBEAT_S = env.float("LIVESHOP_ROOM_PRESENCE_HEARTBEAT_S", default=15.0)
# Where events and watch sessions are stored for good: dotted paths to zero-argument
# callables returning an EventSink / WatchSink (rooms/sinks.py: the database).
LIVESHOP_ROOM_EVENT_SINK = env.str(
    "LIVESHOP_ROOM_EVENT_SINK", default="rooms.sinks.DatabaseEventSink"
)
LIVESHOP_ROOM_WATCH_SINK = env.str(
    "LIVESHOP_ROOM_WATCH_SINK", default="rooms.sinks.DatabaseWatchSink"
)
# The room socket's own limits (rooms/moderation.py), counted with the `limits` library (Redis
# when REDIS_URL is set: across processes): chat messages per user; client frames of any type
# per user (per IP address before login), per IP, and per connection (process memory); a
# socket refused ABUSE_STRIKES times for going over them is closed with 4429. A mute or ban
# reaches an open socket within WRITE_CHECK_S (its last check is reused that long).
LIVESHOP_ROOM_CHAT_RATE = env.str("LIVESHOP_ROOM_CHAT_RATE", default="30/10s")
LIVESHOP_ROOM_FRAME_RATE = env.str("LIVESHOP_ROOM_FRAME_RATE", default="100/10s")
# Selling's limits (rooms/moderation.py documents them all): a chat burst per user, frames
# per connection (process memory) and per IP address (signed in or not).
LIVESHOP_ROOM_CHAT_BURST_RATE = env.str("LIVESHOP_ROOM_CHAT_BURST_RATE", default="6/s")
LIVESHOP_ROOM_CONN_FRAME_RATE = env.str("LIVESHOP_ROOM_CONN_FRAME_RATE", default="20/s")
LIVESHOP_ROOM_IP_FRAME_RATE = env.str("LIVESHOP_ROOM_IP_FRAME_RATE", default="6000/10s")
# "Someone just bought" events per room at most (a flash sale's payments are not a flood).
LIVESHOP_ROOM_PURCHASE_EVENT_RATE = env.str("LIVESHOP_ROOM_PURCHASE_EVENT_RATE", default="3/s")
LIVESHOP_ROOM_ABUSE_STRIKES = env.int("LIVESHOP_ROOM_ABUSE_STRIKES", default=20)
LIVESHOP_ROOM_WRITE_CHECK_S = env.float("LIVESHOP_ROOM_WRITE_CHECK_S", default=2.0)
# Bench only: also route the tutorial-style group_send room (bench/room_baseline.py).
LIVESHOP_ROOM_BASELINE = env.bool("LIVESHOP_ROOM_BASELINE", default=False)

# --- Media relay (media/README.md) ------------------------------------------------------
# Relay processes (`manage.py media_relay`) own whole rooms and consults and forward encoded
# media without re-encoding. Web processes reach them over a local control channel:
#   LIVESHOP_MEDIA_RELAY_LISTEN   where a relay listens: "unix:<path>" (default: a socket in
#                                 var/, the embedded default) or "tcp:<host>:<port>" (port 0 =
#                                 any free port; with Redis the relay registers what it bound).
#                                 Web processes without Redis dial exactly this address.
#   LIVESHOP_MEDIA_RELAY_SECRET   shared secret of the control channel; required for tcp.
#   LIVESHOP_MEDIA_RELAY_WORKERS  relay processes `make run` starts (more than 1 needs Redis,
#                                 which holds the session -> relay mapping).
LIVESHOP_MEDIA_RELAY_LISTEN = env.str(
    "LIVESHOP_MEDIA_RELAY_LISTEN", default=f"unix:{Path(VAR_DIR) / 'media-relay.sock'}"
)
LIVESHOP_MEDIA_RELAY_SECRET = env.str("LIVESHOP_MEDIA_RELAY_SECRET", default="")
LIVESHOP_MEDIA_RELAY_WORKERS = env.int("LIVESHOP_MEDIA_RELAY_WORKERS", default=1)
# STUN/TURN servers for the relay's own peer connections, as JSON:
#   [{"urls": "stun:stun.example.com:3478"},
#    {"urls": "turn:turn.example.com:3478", "username": "u", "credential": "p"}]
# Empty by default: a relay on a public address needs only host candidates, and aiortc would
# otherwise fall back to Google's public STUN server.
LIVESHOP_ICE_SERVERS = env.json("LIVESHOP_ICE_SERVERS", default=[])
# ICE servers handed to browsers (signalling `hello`) and WHIP encoders (Link headers):
#   LIVESHOP_ICE_STUN_URLS   comma-separated stun: URIs, e.g. stun:stun.example.com:3478
#   LIVESHOP_ICE_TURN_URLS   comma-separated turn:/turns: URIs of a coturn with use-auth-secret
#   LIVESHOP_ICE_TURN_SECRET coturn's static-auth-secret: credentials are minted per user
#                            (`<expiry>:<user>`, HMAC-SHA1), never a static password
#   LIVESHOP_ICE_TURN_TTL_S  how long a minted TURN credential stays valid (default 6 h)
LIVESHOP_ICE_STUN_URLS = env.list("LIVESHOP_ICE_STUN_URLS", default=[])
LIVESHOP_ICE_TURN_URLS = env.list("LIVESHOP_ICE_TURN_URLS", default=[])
LIVESHOP_ICE_TURN_SECRET = env.str("LIVESHOP_ICE_TURN_SECRET", default="")
LIVESHOP_ICE_TURN_TTL = env.int("LIVESHOP_ICE_TURN_TTL_S", default=6 * 3600)
# Media signalling: offers (each builds a peer connection in a relay) per account, or per
# IP address before login, across all of a merchant's rooms and sockets.
LIVESHOP_MEDIA_OFFER_RATE = env.str("LIVESHOP_MEDIA_OFFER_RATE", default="60/min")
# Loopback-only ICE for tests and development on one machine: the relay (and test clients)
# offer 127.0.0.1 as their only host candidate. Never enable it in production.
LIVESHOP_ICE_LOOPBACK = env.bool("LIVESHOP_ICE_LOOPBACK", default=False)
# Limits and timings of the relay (seconds, counts). See media/relay/config.py.
LIVESHOP_MEDIA = {
    "MAX_SESSIONS": env.int("LIVESHOP_MEDIA_MAX_SESSIONS", default=200),
    "MAX_PEER_CONNECTIONS": env.int("LIVESHOP_MEDIA_MAX_PEER_CONNECTIONS", default=400),
    "ROOM_MAX_PUBLISHERS": 6,  # host + 4 co-hosts + a PK partner
    "ROOM_MAX_SUBSCRIBERS": env.int("LIVESHOP_MEDIA_ROOM_MAX_SUBSCRIBERS", default=300),
    "CONSULT_MAX_PUBLISHERS": 2,  # shopper and agent
    "CONSULT_MAX_SUBSCRIBERS": 3,  # shopper, agent and a silent supervisor
    "PUBLISHER_GRACE": env.float("LIVESHOP_MEDIA_PUBLISHER_GRACE", default=15.0),
    "PUBLISHER_IDLE": 3.0,  # no media for this long: the publisher is reported away
    "CONNECT_TIMEOUT": 15.0,
    "RENEGOTIATION_TIMEOUT": 10.0,
    "KEYFRAME_INTERVAL": 0.3,  # at most one PLI per feed per interval (plus a trailing one)
    "STATS_INTERVAL": 1.0,
}
# Stage (issue 8): WebRTC viewers one room takes before new viewers are sent to HLS, on top
# of the merchant plan's `webrtc_viewers_per_room` (the lower wins); 0 = the plan alone.
# Set it from bench.media_fanout's measured capacity of one relay core.
LIVESHOP_MEDIA_WEBRTC_VIEWER_CAP = env.int("LIVESHOP_MEDIA_WEBRTC_VIEWER_CAP", default=0)

# --- HLS and recordings (media/hls/README.md) --------------------------------------------
# `manage.py hls_worker` renders live rooms once (compose, mix, one encode per rendition) to
# MPEG-TS segments under ROOT, served at /hls/<m>/<room>/... `make run` starts the worker
# when LIVESHOP_HLS is on. Renditions as JSON, e.g.
#   [{"name": "720p", "width": 1280, "height": 720, "video_bitrate": 2500000, "profile": "high"}]
LIVESHOP_HLS = {
    "ENABLED": env.bool("LIVESHOP_HLS", default=False),
    "ROOT": env.str("LIVESHOP_HLS_ROOT", default=str(Path(MEDIA_ROOT) / "hls")),
    "RENDITIONS": env.json("LIVESHOP_HLS_RENDITIONS", default=[]),  # [] = 720p + 360p
    "FPS": env.int("LIVESHOP_HLS_FPS", default=30),
    "SEGMENT_SECONDS": env.float("LIVESHOP_HLS_SEGMENT_SECONDS", default=2.0),
    "WINDOW": env.int("LIVESHOP_HLS_WINDOW", default=6),  # segments in a live playlist
    "AUDIO_BITRATE": 128_000,
    "PRESET": env.str("LIVESHOP_HLS_PRESET", default="veryfast"),
    "THREADS": env.int("LIVESHOP_HLS_THREADS", default=0),  # x264 threads; 0 = auto
    "MAX_SESSIONS": env.int("LIVESHOP_HLS_MAX_SESSIONS", default=4),  # per worker process
    "POLL_SECONDS": 1.0,
    "LEASE_SECONDS": 10.0,
    "JANITOR_AGE": 600.0,  # unrecorded shows' files are deleted this long after the end
    # Behind nginx: an internal location aliasing ROOT (e.g. "/_hls/"); the view then only
    # checks access and nginx sends the file (X-Accel-Redirect).
    "ACCEL_REDIRECT": env.str("LIVESHOP_HLS_ACCEL_REDIRECT", default=""),
}

# --- 1v1 consults (consults/README.md) ----------------------------------------------------
# Seconds unless named otherwise. A request offered to an agent goes back to the head of the
# queue after OFFER_TIMEOUT_S; join tokens live JOIN_TOKEN_TTL_S (the contract caps it at 2
# minutes); agents whose console stops its heartbeat for PRESENCE_TTL_S go offline; a
# waiting shopper gone for QUEUE_GRACE_S leaves the queue; a party of a call gone for
# CALL_GRACE_S ends it (reconnecting within it keeps the call).
LIVESHOP_CONSULTS = {
    "OFFER_TIMEOUT_S": env.int("LIVESHOP_CONSULT_OFFER_TIMEOUT_S", default=20),
    "JOIN_TOKEN_TTL_S": min(120, env.int("LIVESHOP_CONSULT_JOIN_TOKEN_TTL_S", default=90)),
    "PRESENCE_TTL_S": env.int("LIVESHOP_CONSULT_PRESENCE_TTL_S", default=45),
    "QUEUE_GRACE_S": env.int("LIVESHOP_CONSULT_QUEUE_GRACE_S", default=60),
    "CALL_GRACE_S": env.int("LIVESHOP_CONSULT_CALL_GRACE_S", default=60),
    "MAX_WAIT_S": env.int("LIVESHOP_CONSULT_MAX_WAIT_S", default=1800),
    "HEARTBEAT_S": 15,  # sockets and consoles refresh their party's liveness this often
    "SLOT_MINUTES": env.int("LIVESHOP_CONSULT_SLOT_MINUTES", default=20),
    "BOOKING_LEAD_S": 300,  # a slot can be booked up to this close to its start
    "BOOKING_HORIZON_DAYS": 30,
    "REMINDER_LEAD_S": env.int("LIVESHOP_CONSULT_REMINDER_LEAD_S", default=900),
    "MAX_OPEN_BOOKINGS": 3,  # per shopper and merchant
    "CHAT_RATE": env.str("LIVESHOP_CONSULT_CHAT_RATE", default="10/10s"),  # per user and consult
    "FRAME_RATE": env.str("LIVESHOP_CONSULT_FRAME_RATE", default="200/10s"),  # per socket: 4429
    "REQUEST_RATE": env.str("LIVESHOP_CONSULT_REQUEST_RATE", default="10/min"),  # per shopper
    "DEFAULT_HANDLE_S": 300,  # the ETA's handle time until the merchant has history
}

# Commerce: how long an unpaid order holds its stock; how long Idempotency-Keys are kept.
LIVESHOP_RESERVATION_TTL = timedelta(seconds=env.int("LIVESHOP_RESERVATION_TTL_S", default=600))
# --- selling: flash sales, waitlist, chat moderation (rooms/selling.py, rooms/moderation.py)
# Units one shopper may buy in one flash sale (one open sale order each).
LIVESHOP_FLASH_PER_SHOPPER = env.int("LIVESHOP_FLASH_PER_SHOPPER", default=1)
# A released unit offered to the next waitlisted shopper is held for them this long.
LIVESHOP_FLASH_WAITLIST_HOLD_S = env.int("LIVESHOP_FLASH_WAITLIST_HOLD_S", default=120)
# After a sale's window the waitlist still gets released units (at the sale price) this long;
# by default the reservation time, so units of unpaid sale orders come back to it.
LIVESHOP_FLASH_WAITLIST_WINDOW_S = env.int(
    "LIVESHOP_FLASH_WAITLIST_WINDOW_S", default=int(LIVESHOP_RESERVATION_TTL.total_seconds()) + 60
)
LIVESHOP_IDEMPOTENCY_TTL = timedelta(hours=env.int("LIVESHOP_IDEMPOTENCY_TTL_H", default=24))
# The sandbox gateway signs its webhooks (Standard Webhooks, `whsec_<base64>`). Without a
# configured secret one is derived from SECRET_KEY, so nothing secret lives in the repo.
LIVESHOP_SANDBOX_WEBHOOK_SECRET = env.str("LIVESHOP_SANDBOX_WEBHOOK_SECRET", default="")
LIVESHOP_WEBHOOK_TOLERANCE_S = 300
# Order placements inside Django at once per web process; more wait in the sold-out gate
# (commerce/fastpath.py), which refuses them cheaply if the sale sells out meanwhile.
LIVESHOP_ORDER_CONCURRENCY = env.int("LIVESHOP_ORDER_CONCURRENCY", default=8)

# --- Shopping assistant (assistant/README.md) --------------------------------------------
# Per room, the assistant answers at most ROOM_RATE questions and each viewer gets at most
# USER_RATE answers (rates as "N/period", e.g. 20/10s); the same question in a room within
# DEDUP_S seconds is answered once. Room settings are cached per process for SETTINGS_TTL_S.
# Optional providers (off by default): LIVESHOP_ASSISTANT_EMBEDDINGS, LIVESHOP_ASSISTANT_LLM_*.
LIVESHOP_ASSISTANT_ROOM_RATE = env.str("LIVESHOP_ASSISTANT_ROOM_RATE", default="20/10s")
LIVESHOP_ASSISTANT_USER_RATE = env.str("LIVESHOP_ASSISTANT_USER_RATE", default="4/30s")
LIVESHOP_ASSISTANT_DEDUP_S = env.int("LIVESHOP_ASSISTANT_DEDUP_S", default=20)
LIVESHOP_ASSISTANT_SETTINGS_TTL_S = env.float("LIVESHOP_ASSISTANT_SETTINGS_TTL_S", default=5.0)
