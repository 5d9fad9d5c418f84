"""Postgres row-level security for every `TenantModel` table, installed after each migrate.

Policy: a row is visible and writable when its `merchant_id` equals the transaction's
`app.merchant_id`, or (for tables that name a user column) its user is `app.user_id`, or
the transaction is inside `rls_bypass`. FORCE applies it to the table owner too. The app
connects as a role without BYPASSRLS (`manage.py db_bootstrap` creates it), which gets DML
grants here; superusers skip RLS, so nothing at run time connects as one.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import connections

from .models import TenantModel

POLICY = "tenant_isolation"


def tenant_models() -> list[type[TenantModel]]:
    return [
        m
        for m in apps.get_models()
        if issubclass(m, TenantModel) and not m._meta.proxy and m._meta.managed
    ]


def _predicate(model: type[TenantModel]) -> str:
    clauses = [
        "merchant_id = NULLIF(current_setting('app.merchant_id', true), '')::bigint",
        "current_setting('app.bypass_rls', true) = 'on'",
    ]
    if model.rls_user_column:
        clauses.append(
            f"{model.rls_user_column} = NULLIF(current_setting('app.user_id', true), '')::bigint"
        )
    return " OR ".join(f"({c})" for c in clauses)


def rls_statements(model: type[TenantModel]) -> list[str]:
    table = model._meta.db_table
    predicate = _predicate(model)
    return [
        f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY',
        f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY',
        f'DROP POLICY IF EXISTS {POLICY} ON "{table}"',
        f'CREATE POLICY {POLICY} ON "{table}" USING ({predicate}) WITH CHECK ({predicate})',
    ]


def rls_install(sender: Any = None, using: str = "default", **kwargs: Any) -> None:
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    role = settings.LIVESHOP_DB_APP_ROLE
    if connection.settings_dict.get("USER") == role:
        # The app role owns nothing and may not ALTER tables. It gets here through `flush`
        # (transactional tests), which emits post_migrate: the policies are already there.
        return
    with connection.cursor() as cursor:
        for model in tenant_models():
            for statement in rls_statements(model):
                cursor.execute(statement)
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        if cursor.fetchone():
            cursor.execute(
                f'GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES ON ALL TABLES IN SCHEMA public TO "{role}"'
            )
            cursor.execute(
                f'GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO "{role}"'
            )
