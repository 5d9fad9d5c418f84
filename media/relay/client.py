"""RelayClient: how a web process (the Channels signalling consumer, the WHIP view) talks to
a relay. One client per relay address per event loop, shared by all consumers (RelayPool in
registry.py hands them out); requests are multiplexed over one control connection.

    client = await pool.client_for(session)
    events = client.events(session, peer)          # register before offering
    reply = await client.offer(session=session, peer=peer, role="subscribe", sdp=sdp)
    send_ws({"type": "answer", "sdp": reply["sdp"]})
    async for event in events:                     # server offers, state, stats, ...
        ...
    await client.leave(session=session, peer=peer)
    events.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from typing import Any

from .protocol import RelayError, encode_frame, parse_address, read_frame

logger = logging.getLogger(__name__)

MAX_QUEUED_EVENTS = 256


class RelayUnavailable(RelayError):
    def __init__(self, message: str) -> None:
        super().__init__("unavailable", message)


class EventStream:
    """Events for one peer (or one watched session), in order, as an async iterator.

    Bounded: a stats event replaces an unread one; past MAX_QUEUED_EVENTS unread events the
    stream ends with `{"event": "closed", "reason": "overflow"}` (the consumer is stuck)."""

    def __init__(self, client: RelayClient, key: tuple[str, str | None], *, stats: bool) -> None:
        self._client = client
        self.key = key
        self.wants_stats = stats
        self._queue: deque[dict[str, Any]] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self.closed = False

    def _put(self, event: dict[str, Any]) -> None:
        if self.closed:
            return
        if event.get("event") == "stats":
            for i, queued in enumerate(self._queue):
                if queued.get("event") == "stats":
                    self._queue[i] = event
                    return
        if len(self._queue) >= MAX_QUEUED_EVENTS:
            self._queue.clear()
            session, peer = self.key
            event = {"event": "closed", "session": session, "peer": peer, "reason": "overflow"}
            self._queue.append(event)
            self._end()
        else:
            self._queue.append(event)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _end(self) -> None:
        self.closed = True
        self._client._streams.pop(self.key, None)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def get(self) -> dict[str, Any] | None:
        """The next event; None once the stream is closed and drained."""
        while not self._queue:
            if self.closed:
                return None
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._queue.popleft()

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> dict[str, Any]:
        event = await self.get()
        if event is None:
            raise StopAsyncIteration
        return event

    def close(self) -> None:
        """Stop receiving (the consumer is done with this peer)."""
        self._queue.clear()
        self._end()


class RelayClient:
    def __init__(
        self,
        address: str,
        *,
        secret: str = "",
        connect_timeout: float = 5.0,
        request_timeout: float = 20.0,
    ) -> None:
        parse_address(address)  # fail early on a malformed address
        self.address = address
        self.secret = secret
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self.relay_id: str | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()
        self._streams: dict[tuple[str, str | None], EventStream] = {}

    @property
    def connected(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    async def connect(self) -> None:
        async with self._lock:
            if self.connected:
                return
            kind, where, port = parse_address(self.address)
            try:
                if kind == "unix":
                    opening = asyncio.open_unix_connection(where)
                else:
                    opening = asyncio.open_connection(where, port)
                reader, writer = await asyncio.wait_for(opening, self.connect_timeout)
            except (OSError, TimeoutError) as exc:
                raise RelayUnavailable(
                    f"cannot reach the media relay at {self.address}: {exc}"
                ) from exc
            writer.write(encode_frame({"id": 0, "op": "hello", "secret": self.secret}))
            try:
                reply = await asyncio.wait_for(read_frame(reader), self.connect_timeout)
            except (OSError, TimeoutError, RelayError) as exc:
                writer.close()
                raise RelayUnavailable(
                    f"media relay at {self.address} did not greet: {exc}"
                ) from exc
            if not reply or not reply.get("ok"):
                writer.close()
                error = (reply or {}).get("error") or {}
                raise RelayError(
                    error.get("code", "unauthorized"),
                    error.get("message", "the relay refused the connection"),
                )
            self.relay_id = reply.get("relay")
            self._writer = writer
            self._reader_task = asyncio.create_task(self._read_loop(reader, writer))

    async def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader_task
        self._fail_all("the client was closed")

    async def _read_loop(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                message = await read_frame(reader)
                if message is None:
                    break
                if "event" in message:
                    self._dispatch(message)
                    continue
                future = self._pending.pop(message.get("id"), None)  # type: ignore[arg-type]
                if future is not None and not future.done():
                    future.set_result(message)
        except (ConnectionError, RelayError) as exc:
            logger.warning("media relay connection %s lost: %s", self.address, exc)
        finally:
            writer.close()
            if self._writer is writer:
                self._writer = None
            self._fail_all("the media relay connection was lost")

    def _fail_all(self, message: str) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(RelayUnavailable(message))
        self._pending.clear()
        # The relay drops a connection's peers with it; their streams end here.
        for (session, peer), stream in list(self._streams.items()):
            stream._put(
                {"event": "closed", "session": session, "peer": peer, "reason": "relay_unavailable"}
            )
            stream._end()

    def _dispatch(self, event: dict[str, Any]) -> None:
        session, peer = event.get("session"), event.get("peer")
        if not isinstance(session, str):
            return
        if peer is not None:
            stream = self._streams.get((session, peer))
            if stream is not None:
                stream._put(event)
            return
        # Session-wide: every local stream of that session; stats only to those who asked.
        is_stats = event.get("event") == "stats"
        for (key_session, _), stream in list(self._streams.items()):
            if key_session == session and (stream.wants_stats or not is_stats):
                stream._put(event)

    # --- event streams ---

    def has_events(self, session: str, peer: str) -> bool:
        """Whether this peer's event stream is open."""
        return (session, peer) in self._streams

    def events(self, session: str, peer: str) -> EventStream:
        """The event stream of one peer: register it before its first offer."""
        key = (session, peer)
        stream = self._streams.get(key)
        if stream is None:
            stream = self._streams[key] = EventStream(self, key, stats=False)
        return stream

    async def watch(self, session: str) -> EventStream:
        """Stats and publisher events of a session (a host console that does not publish)."""
        key = (session, None)
        stream = self._streams.get(key)
        if stream is None:
            stream = self._streams[key] = EventStream(self, key, stats=True)
        try:
            await self.request("watch", session=session)
        except RelayError:
            stream.close()
            raise
        return stream

    # --- requests ---

    async def request(self, op: str, **fields: Any) -> dict[str, Any]:
        if not self.connected:
            await self.connect()
        writer = self._writer
        assert writer is not None
        request_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            writer.write(encode_frame({"id": request_id, "op": op, **fields}))
            reply = await asyncio.wait_for(future, self.request_timeout)
        except TimeoutError as exc:
            raise RelayUnavailable(f"the media relay did not answer {op} in time") from exc
        finally:
            self._pending.pop(request_id, None)
        if not reply.get("ok"):
            error = reply.get("error") or {}
            extra = {k: v for k, v in error.items() if k not in ("code", "message")}
            raise RelayError(error.get("code", "internal"), error.get("message", ""), **extra)
        return {k: v for k, v in reply.items() if k not in ("id", "ok")}

    async def offer(
        self,
        *,
        session: str,
        peer: str,
        role: str,
        sdp: str,
        identity: str | None = None,
        profile: str = "room",
        detached: bool = False,
        publisher: str | None = None,
        max_subscribers: int | None = None,
    ) -> dict[str, Any]:
        """Publish or subscribe → {"type": "answer", "sdp", "tracks"}. A subscriber gets
        every feed but its own `identity`'s, or only `publisher`'s."""
        if role == "publish":
            stream = self._streams.get((session, peer))
            if stream is not None:
                stream.wants_stats = True  # publishers get their stats
        fields: dict[str, Any] = {
            "session": session,
            "peer": peer,
            "role": role,
            "sdp": sdp,
            "profile": profile,
            "detached": detached,
        }
        if identity is not None:
            fields["identity"] = identity
        if publisher is not None:
            fields["publisher"] = publisher
        if max_subscribers is not None:
            fields["max_subscribers"] = max_subscribers
        return await self.request("offer", **fields)

    async def answer(self, *, session: str, peer: str, sdp: str) -> dict[str, Any]:
        """Answer the relay's own offer (an `offer` event) → {"tracks"}."""
        return await self.request("answer", session=session, peer=peer, sdp=sdp)

    async def ice(
        self,
        *,
        session: str,
        peer: str,
        candidate: str,
        sdp_mid: str | None = None,
        sdp_mline_index: int | None = None,
        role: str | None = None,
    ) -> None:
        fields: dict[str, Any] = {"session": session, "peer": peer, "candidate": candidate}
        if sdp_mid is not None:
            fields["sdpMid"] = sdp_mid
        if sdp_mline_index is not None:
            fields["sdpMLineIndex"] = sdp_mline_index
        if role is not None:
            fields["role"] = role
        await self.request("ice", **fields)

    async def leave(
        self, *, session: str, peer: str, role: str | None = None, reason: str = "bye"
    ) -> None:
        fields: dict[str, Any] = {"session": session, "peer": peer, "reason": reason}
        if role is not None:
            fields["role"] = role
        await self.request("leave", **fields)

    async def unwatch(self, session: str) -> None:
        stream = self._streams.get((session, None))
        if stream is not None:
            stream.close()
        await self.request("unwatch", session=session)

    async def pull(
        self,
        *,
        session: str,
        address: str,
        remote_session: str,
        publisher: str | None = None,
        profile: str = "room",
    ) -> dict[str, Any]:
        """Cascade: make this relay pull `remote_session` from the relay at `address` into
        `session` (all publishers, or only `publisher`) → {"tracks"}."""
        fields: dict[str, Any] = {
            "session": session,
            "address": address,
            "remote_session": remote_session,
            "profile": profile,
        }
        if publisher is not None:
            fields["publisher"] = publisher
        return await self.request("pull", **fields)

    async def unpull(self, *, session: str, address: str, remote_session: str) -> None:
        await self.request(
            "unpull", session=session, address=address, remote_session=remote_session
        )

    async def kick(self, session: str, identity: str, *, reason: str = "revoked") -> bool:
        """Stop `identity` publishing in `session` now (a revoked co-host)."""
        reply = await self.request("kick", session=session, identity=identity, reason=reason)
        return bool(reply.get("kicked"))

    async def close_session(self, session: str) -> None:
        await self.request("close_session", session=session)

    async def status(self) -> dict[str, Any]:
        return await self.request("status")
