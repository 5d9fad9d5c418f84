"""Tenant scope for the database: which merchant this transaction may see.

Every request, consumer message and task that touches tenant rows runs inside
`tenant_scope(merchant_id)`: a transaction in which Postgres' `app.merchant_id` is set
(`set_config(..., is_local => true)`, so it dies with the transaction and never leaks to the
next user of a pooled connection). Row-level security then hides every other merchant's rows,
even from a query that forgot its `merchant=` filter. On SQLite there is no RLS and the calls
cost nothing; the selectors' explicit filters are the only guard there.

`rls_bypass(reason)` is the one named, audited way around it, for platform jobs that must
find a row before they know its merchant (payment webhooks, API-key lookup).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

from django.db import connection, transaction

log = logging.getLogger("liveshop.tenancy.rls")


@dataclass(frozen=True)
class _Scope:
    merchant_id: int | None = None
    user_id: int | None = None
    bypass: bool = False


_UNSCOPED = _Scope()
_local = threading.local()


def _stack() -> list[_Scope]:
    stack: list[_Scope] | None = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


def _apply(scope: _Scope) -> None:
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('app.merchant_id', %s, true), set_config('app.user_id', %s, true),"
            " set_config('app.bypass_rls', %s, true)",
            [
                "" if scope.merchant_id is None else str(scope.merchant_id),
                "" if scope.user_id is None else str(scope.user_id),
                "on" if scope.bypass else "",
            ],
        )


def _covers(outer: _Scope, inner: _Scope) -> bool:
    """An enclosing scope serves a nested one for the same merchant (its user, if any, only
    widens visibility to that user's own rows)."""
    return (
        outer.merchant_id == inner.merchant_id
        and outer.bypass == inner.bypass
        and inner.user_id in (None, outer.user_id)
    )


@contextmanager
def _enter(scope: _Scope, savepoint: bool = True) -> Iterator[None]:
    stack = _stack()
    if stack and connection.in_atomic_block and _covers(stack[-1], scope):
        # Already inside a transaction scoped like this: nothing to do, not even a savepoint.
        stack.append(stack[-1])
        try:
            yield
        finally:
            stack.pop()
        return
    outermost = not connection.in_atomic_block
    # A savepoint when nested, so callers may catch an error and carry on.
    with transaction.atomic(savepoint=savepoint):
        _apply(scope)
        stack.append(scope)
        try:
            yield
        except BaseException:
            stack.pop()  # rolling back the savepoint restores the settings by itself
            raise
        stack.pop()
        # Restore the enclosing scope unless the transaction ends here anyway.
        if not outermost and not connection.needs_rollback:
            _apply(stack[-1] if stack else _UNSCOPED)


def tenant_scope(
    merchant_id: int, *, user_id: int | None = None, savepoint: bool = True
) -> AbstractContextManager[None]:
    """Run the block in a transaction scoped to one merchant (and optionally a user, whose own
    rows in tables with `rls_user_column` stay visible across merchants). `savepoint=False`
    is for the top of a request's own transaction, where an error rolls back everything."""
    return _enter(_Scope(merchant_id=merchant_id, user_id=user_id), savepoint)


def user_scope(user_id: int) -> AbstractContextManager[None]:
    """A transaction that sees only the user's own rows (e.g. memberships for the switcher)."""
    return _enter(_Scope(user_id=user_id))


def rls_bypass(reason: str) -> AbstractContextManager[None]:
    """The one way past tenant isolation. Each use names its reason and is logged."""
    log.info("rls_bypass reason=%s", reason)
    return _enter(_Scope(bypass=True))


def current_merchant_id() -> int | None:
    stack = _stack()
    return stack[-1].merchant_id if stack else None
