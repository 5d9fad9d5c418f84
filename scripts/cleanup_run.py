"""Drop what one `make test` run left behind: Redis keys under its prefix, its test databases."""

import sys

import psycopg
import redis

pg_url, redis_url, run_id = sys.argv[1], sys.argv[2], sys.argv[3]
client = redis.Redis.from_url(redis_url, socket_timeout=5)
removed = 0
for key in client.scan_iter(match=f"{run_id}*", count=1000):
    removed += client.delete(key)
with psycopg.connect(pg_url, autocommit=True, connect_timeout=5) as conn:
    names = [
        r[0]
        for r in conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", [f"%{run_id}%"]
        )
    ]
    for name in names:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
print(f"cleanup: {removed} Redis keys, {len(names)} databases")
