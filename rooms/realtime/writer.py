"""The publishing side: append to the room's stream (which numbers the events) and hand the
stored events to the persister, which writes them to the database in bulk."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .persist import EventPersister
from .stream import Event, RoomStream


class RoomWriter:
    def __init__(self, stream: RoomStream, persister: EventPersister) -> None:
        self.stream = stream
        self.persister = persister

    async def publish(self, room: str, events: Sequence[Mapping[str, Any]]) -> list[Event]:
        """Store events in the room's stream; every hub in every process delivers them.
        Returns them with `seq` and `ts`. They reach the database with the next bulk flush."""
        stored = await self.stream.append(room, events)
        self.persister.add(room, stored)
        return stored

    def publish_sync(self, room: str, events: Sequence[Mapping[str, Any]]) -> list[Event]:
        """`publish` for synchronous code (`transaction.on_commit` in a request thread, a
        Celery task). Where no persister loop runs in this process (Celery), the events are
        written to the database right away, in one bulk write for this call."""
        stored = self.stream.append_sync(room, events)
        self.persister.add(room, stored)
        if not self.persister.running:
            self.persister.flush(room)
        return stored
