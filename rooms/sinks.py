"""Where the realtime engine's durable copies go: the database.

`DatabaseEventSink` stores every room event (`RoomEvent`) in one bulk INSERT per room per
flush (the engine's persister calls it every `LIVESHOP_ROOM_PERSIST_INTERVAL_S`, never once
per event) and answers the highest stored seq, which is where a lost stream continues from.
`DatabaseWatchSink` turns presence's start/stop records into `WatchSession` rows and adds
like counts to `RoomLikes`. Both run in worker threads, outside any request.

The engine keys rooms by primary key; the merchant (for the tenant scope and the row) is
looked up once per room per process through the one audited bypass, unless the consumer or
publisher already told us (`room_remember`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from django.db import connection
from django.db.models import F, Max

from liveshop.tenancy.scope import rls_bypass, tenant_scope

from .models import Room, RoomEvent, RoomLikes, WatchSession
from .realtime.presence import WatchRecord

_merchants: dict[int, int] = {}
_lock = threading.Lock()


def room_remember(room: Room) -> None:
    """Note a room's merchant (the consumer and publishers know it already)."""
    with _lock:
        _merchants[room.pk] = room.merchant_id


def _merchant_of(room_id: int) -> int | None:
    with _lock:
        found = _merchants.get(room_id)
    if found is not None:
        return found
    with rls_bypass("room realtime sink: find the merchant of a room key"):
        merchant_id = Room.objects.filter(pk=room_id).values_list("merchant_id", flat=True).first()
    if merchant_id is not None:
        with _lock:
            _merchants[room_id] = merchant_id
    return merchant_id


def _room_id(key: str) -> int | None:
    return int(key) if key.isdigit() else None


@contextmanager
def _worker_connection() -> Iterator[None]:
    """Give a worker thread's connection back (to the pool) when it is done, unless the
    caller is inside a transaction of its own (publish_sync from a request)."""
    try:
        yield
    finally:
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()


def _when(ms: float) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


class DatabaseEventSink:
    """`rooms.realtime.persist.EventSink` on the `RoomEvent` table."""

    def persist(self, room: str, events: Sequence[Mapping[str, Any]]) -> None:
        room_id = _room_id(room)
        if room_id is None or not events:
            return  # not a database room (tests, benchmarks): nothing to keep
        with _worker_connection():
            merchant_id = _merchant_of(room_id)
            if merchant_id is None:
                return  # the room was deleted meanwhile
            rows = [
                RoomEvent(
                    merchant_id=merchant_id,
                    room_id=room_id,
                    seq=e["seq"],
                    type=e["type"],
                    ts=int(e["ts"]),
                    data=dict(e),
                )
                for e in events
            ]
            with tenant_scope(merchant_id):
                # Idempotent on (room, seq): a retried flush writes the same events again.
                RoomEvent.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)

    def max_seq(self, room: str) -> int:
        room_id = _room_id(room)
        if room_id is None:
            return 0
        with _worker_connection():
            merchant_id = _merchant_of(room_id)
            if merchant_id is None:
                return 0
            with tenant_scope(merchant_id):
                found = RoomEvent.objects.filter(
                    merchant_id=merchant_id, room_id=room_id
                ).aggregate(top=Max("seq"))["top"]
        return int(found or 0)


def _user_of(viewer: str) -> int | None:
    kind, _, ident = viewer.partition(":")
    return int(ident) if kind == "u" and ident.isdigit() else None


class DatabaseWatchSink:
    """`rooms.realtime.presence.WatchSink` on `WatchSession`, plus like totals."""

    def record(self, records: Sequence[WatchRecord]) -> None:
        by_merchant: dict[int, list[WatchRecord]] = {}
        with _worker_connection():
            for rec in records:
                room_id = _room_id(rec.room)
                merchant_id = _merchant_of(room_id) if room_id is not None else None
                if merchant_id is not None:
                    by_merchant.setdefault(merchant_id, []).append(rec)
            for merchant_id, recs in by_merchant.items():
                with tenant_scope(merchant_id):
                    self._write(merchant_id, recs)

    @staticmethod
    def _write(merchant_id: int, records: list[WatchRecord]) -> None:
        starts = [
            WatchSession(
                merchant_id=merchant_id,
                room_id=int(r.room),
                viewer=r.viewer,
                user_id=_user_of(r.viewer),
                started_at=_when(r.at * 1000),
                seen_at=_when(r.at * 1000),
            )
            for r in records
            if r.kind == "start"
        ]
        WatchSession.objects.bulk_create(starts)
        for r in records:
            if r.kind != "stop":
                continue
            open_session = (
                WatchSession.objects.filter(
                    merchant_id=merchant_id,
                    room_id=int(r.room),
                    viewer=r.viewer,
                    ended_at__isnull=True,
                )
                .order_by("-started_at")
                .values_list("pk", flat=True)
                .first()
            )
            if open_session is not None:
                ended = _when(r.at * 1000)
                WatchSession.objects.filter(pk=open_session).update(
                    ended_at=ended, seen_at=ended, seconds=r.seconds
                )

    def add_likes(self, increments: Mapping[str, int]) -> None:
        """Add like counts (per room key) to the rooms' stored totals."""
        with _worker_connection():
            for key, count in increments.items():
                room_id = _room_id(key)
                if room_id is None or count <= 0:
                    continue
                merchant_id = _merchant_of(room_id)
                if merchant_id is None:
                    continue
                with tenant_scope(merchant_id):
                    updated = RoomLikes.objects.filter(
                        merchant_id=merchant_id, room_id=room_id
                    ).update(total=F("total") + count, updated_at=datetime.now(tz=UTC))
                    if not updated:
                        RoomLikes.objects.get_or_create(
                            merchant_id=merchant_id, room_id=room_id, defaults={"total": 0}
                        )
                        RoomLikes.objects.filter(merchant_id=merchant_id, room_id=room_id).update(
                            total=F("total") + count
                        )
