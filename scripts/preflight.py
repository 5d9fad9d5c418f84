"""Fail loudly (exit 1) unless Postgres and Redis answer. Used by `make test`."""

import sys

import psycopg
import redis

pg_url, redis_url = sys.argv[1], sys.argv[2]
try:
    with psycopg.connect(pg_url, connect_timeout=5) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
    print(f"preflight: Postgres {version} at {pg_url}")
except Exception as exc:
    sys.exit(
        f"preflight: Postgres unreachable at {pg_url}: {exc}\nStart it; the Postgres pass is never skipped."
    )
try:
    info = redis.Redis.from_url(redis_url, socket_timeout=5).info("server")
    print(f"preflight: Redis {info['redis_version']} at {redis_url}")
except Exception as exc:
    sys.exit(
        f"preflight: Redis unreachable at {redis_url}: {exc}\nStart it; the Postgres pass is never skipped."
    )
