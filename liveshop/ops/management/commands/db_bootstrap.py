"""Prepare Postgres for LiveShop: create the database when missing and the app role that
row-level security binds (no SUPERUSER, no BYPASSRLS). Idempotent; a no-op on SQLite."""

from __future__ import annotations

from typing import Any

import psycopg
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from psycopg import sql

BOOTSTRAP_LOCK = 0x4C53_424F  # "LSBO": one cluster-wide advisory lock for this command


class Command(BaseCommand):
    help = "Create the Postgres database and the non-bypass app role (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        db = settings.DATABASES["default"]
        if db["ENGINE"] != "django.db.backends.postgresql":
            self.stdout.write("db_bootstrap: not Postgres, nothing to do")
            return
        params: dict[str, Any] = {
            "host": db.get("HOST") or None,
            "port": db.get("PORT") or None,
            "user": db.get("USER") or None,
            "password": db.get("PASSWORD") or None,
        }
        role = settings.LIVESHOP_DB_APP_ROLE
        try:
            admin = psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=5, **params)
        except psycopg.OperationalError as exc:
            raise CommandError(
                f"Postgres is unreachable at {params['host']}:{params['port']}: {exc}"
            ) from exc
        with admin:
            # Several processes bootstrap at once (test workers, a server and its worker):
            # concurrent ALTER ROLE / GRANT on the same catalog row fail with "tuple
            # concurrently updated", so they take turns.
            admin.execute("SELECT pg_advisory_lock(%s)", [BOOTSTRAP_LOCK])
            exists = admin.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]
            ).fetchone()
            if not exists:
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))
                self.stdout.write(f"db_bootstrap: created database {db['NAME']}")
            has_role = admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone()
            verb = "ALTER" if has_role else "CREATE"
            admin.execute(
                sql.SQL(
                    verb
                    + " ROLE {} LOGIN PASSWORD {} NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"
                ).format(sql.Identifier(role), sql.Literal(settings.LIVESHOP_DB_APP_PASSWORD))
            )
            admin.execute(
                sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                    sql.Identifier(db["NAME"]), sql.Identifier(role)
                )
            )
            with psycopg.connect(dbname=db["NAME"], autocommit=True, **params) as conn:
                conn.execute(
                    sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(sql.Identifier(role))
                )
            admin.execute("SELECT pg_advisory_unlock(%s)", [BOOTSTRAP_LOCK])
        self.stdout.write(f"db_bootstrap: role {role} ready (no BYPASSRLS)")
