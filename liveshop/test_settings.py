"""Settings for the test suite: the same env-driven settings, plus what only tests want."""

import os

from .settings import *  # noqa: F403
from .settings import CELERY_BROKER_TRANSPORT_OPTIONS, CHANNEL_LAYERS, REDIS_URL

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Tasks run inline in tests, also in the Postgres pass; multi-process tests start real workers.
CELERY_TASK_ALWAYS_EAGER = True
LIVESHOP_SCHEDULER = "off"

# Each xdist worker gets its own Redis namespace.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
LIVESHOP_REDIS_PREFIX = f"{os.environ.get('LIVESHOP_REDIS_PREFIX', 'lstest')}-{_worker}"
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": LIVESHOP_REDIS_PREFIX,
        }
    }
    CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = LIVESHOP_REDIS_PREFIX + ":asgi"  # type: ignore[index]
    CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = LIVESHOP_REDIS_PREFIX + ":celery:"
LIVESHOP_THROTTLES = {
    "anon": "10000/min",
    "user": "10000/min",
    "auth": "10000/min",
    "register": "10000/min",
}

# The embedded pass runs SQLite as a file, like `make run`: threads of the room engine (the
# event persister, presence jobs) and a socket's database calls then wait for each other
# (busy timeout, WAL) instead of failing at once as on a shared-cache in-memory database.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    DATABASES["default"]["TEST"] = {  # noqa: F405
        # Per process: two test runs in one checkout must not share (or delete) a database.
        "NAME": os.path.join(VAR_DIR, f"test-{_worker}-{os.getpid()}.sqlite3")  # noqa: F405
    }
