"""The one place that sends to consult sockets.

Services call these inside their transaction; frames leave only when it commits
(`transaction.on_commit`), so nobody hears about a change that rolled back. A consult has
two or three sockets, so a Channels group per consult is the right tool here (the room
engine's batching is for rooms of thousands). Waiting shoppers of a merchant share one
queue group: a queue change is one message carrying the queue order, from which each
socket reads its own position.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection, transaction

log = logging.getLogger("liveshop.consults.events")

# The event loop that serves this process' consult sockets, learnt when the first one
# connects. Code running in another thread (the embedded scheduler, a worker thread) hands
# its sends to that loop: the in-memory channel layer is not thread-safe.
_loop: asyncio.AbstractEventLoop | None = None
_loop_thread: int | None = None


def loop_register() -> None:
    """Called by consumers (on the event loop) when they connect."""
    global _loop, _loop_thread
    _loop = asyncio.get_running_loop()
    _loop_thread = threading.get_ident()


def consult_group(consult_id: int) -> str:
    return f"consult.{consult_id}"


def queue_group(merchant_id: int) -> str:
    return f"consultq.{merchant_id}"


def group_send(group: str, message: dict[str, Any]) -> None:
    """Send to a group now, from sync code in any thread."""
    layer = get_channel_layer()
    if layer is None:
        return
    loop = _loop
    try:
        if loop is not None and loop.is_running() and threading.get_ident() != _loop_thread:
            future = asyncio.run_coroutine_threadsafe(layer.group_send(group, message), loop)
            future.result(timeout=5)
        else:
            async_to_sync(layer.group_send)(group, message)
    except Exception:
        # The write that caused the frame has committed; a lost live echo must not turn it
        # into an error. Sockets resynchronise from the database on reconnect.
        log.exception("consult frame to %s failed", group)


def _after_commit(key: str, deliver: Callable[[], None]) -> None:
    """Run `deliver` once after commit, however many times this transaction asked for it.
    (Pending callbacks live in Django's own on-commit list, so a rolled-back savepoint
    forgets them together with its writes.)"""
    for entry in connection.run_on_commit:
        if getattr(entry[1], "consult_event_key", None) == key:
            return

    def run() -> None:
        deliver()

    run.consult_event_key = key  # type: ignore[attr-defined]
    transaction.on_commit(run, robust=True)


def send(consult: Any, frame: dict[str, Any], *, once_key: str | None = None) -> None:
    """Send `frame` to every socket of `consult` after commit."""
    message = {"type": "consult.frame", "frame": frame}
    group = consult_group(consult.pk)
    if once_key is None:
        transaction.on_commit(lambda: group_send(group, message), robust=True)
    else:
        _after_commit(once_key, lambda: group_send(group, message))


def queue_changed(merchant_id: int) -> None:
    """Waiting shoppers of this merchant get their new position and wait after commit."""

    def deliver() -> None:
        from liveshop.tenancy.scope import tenant_scope

        from .selectors import queue_snapshot

        with tenant_scope(merchant_id):
            snapshot = queue_snapshot(merchant_id=merchant_id)
        group_send(queue_group(merchant_id), {"type": "consult.queue", **snapshot})

    _after_commit(f"queue:{merchant_id}", deliver)


def cart_changed(order: Any) -> None:
    """Both parties see the consult's cart as committed (lines, total, status)."""
    merchant_id, order_id, consult_id = order.merchant_id, order.pk, order.consult_id

    def deliver() -> None:
        from liveshop.tenancy.scope import tenant_scope

        from .selectors import cart_public

        with tenant_scope(merchant_id):
            body = cart_public(merchant_id=merchant_id, order_id=order_id)
        if body is not None:
            group_send(
                consult_group(consult_id),
                {"type": "consult.frame", "frame": {"type": "cart.updated", "order": body}},
            )

    _after_commit(f"cart:{order_id}", deliver)
