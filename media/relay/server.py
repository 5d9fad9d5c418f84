"""The relay's control server: the only way into a relay process.

It trusts its local channel and nothing else: a Unix socket only this user can open (the
embedded default), or TCP on a private address with the shared secret
(settings.LIVESHOP_MEDIA_RELAY_SECRET), which every connection must present in its first
frame. Who may publish or watch what is decided by the web process before it calls here.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hmac
import itertools
import logging
import os
import socket
import stat
from pathlib import Path
from typing import Any

from .engine import Relay
from .protocol import (
    LEAVE_REASONS,
    PROFILES,
    PROTOCOL_VERSION,
    ROLES,
    ProtocolError,
    RelayError,
    boolean,
    choice,
    encode_frame,
    optional_token,
    parse_address,
    read_frame,
    sdp_text,
    token,
)

logger = logging.getLogger(__name__)

HELLO_TIMEOUT = 5.0
MAX_IN_FLIGHT = 64  # requests per connection being handled at once
EVENT_DROP_BUFFER = 1024 * 1024  # past this much unsent output, stats events are dropped
EVENT_CLOSE_BUFFER = 8 * 1024 * 1024  # past this, the web process is too slow: disconnect


class _Connection:
    _ids = itertools.count(1)

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.id = next(self._ids)
        self.writer = writer
        self.in_flight = 0
        self.closed = False

    def __repr__(self) -> str:
        return f"<control connection {self.id}>"

    def send(self, message: dict[str, Any]) -> None:
        if self.closed:
            return
        transport = self.writer.transport
        buffered = transport.get_write_buffer_size()
        if "event" in message:
            if buffered > EVENT_CLOSE_BUFFER:
                logger.warning("media relay: %r is not reading its events; closing it", self)
                self.close()
                return
            if buffered > EVENT_DROP_BUFFER and message["event"] == "stats":
                return
        try:
            self.writer.write(encode_frame(message))
        except RelayError:
            logger.exception("media relay: event too large to send")

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.writer.close()


class ControlServer:
    def __init__(self, relay: Relay, *, listen: str, secret: str = "") -> None:
        self.relay = relay
        self.listen = listen
        self.secret = secret
        self.address: str | None = None
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[_Connection] = set()
        self._handlers: set[asyncio.Task[Any]] = set()
        kind, _, _ = parse_address(listen)
        if kind == "tcp" and not secret:
            raise ValueError(
                "a relay listening on TCP needs LIVESHOP_MEDIA_RELAY_SECRET: anything that can "
                "reach the port could otherwise drive it"
            )
        relay.set_event_sink(self._deliver)

    async def start(self) -> str:
        """Bind and serve; returns the address clients should dial (port filled in)."""
        kind, where, port = parse_address(self.listen)
        if kind == "unix":
            path = Path(where)
            path.parent.mkdir(parents=True, exist_ok=True)
            await _remove_stale_socket(path)
            old_umask = os.umask(0o177)  # the socket is born 0600: this user only
            try:
                self._server = await asyncio.start_unix_server(self._serve, path=str(path))
            finally:
                os.umask(old_umask)
            os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
            self.address = f"unix:{path}"
        else:
            self._server = await asyncio.start_server(self._serve, host=where, port=port)
            sock = self._server.sockets[0]
            bound_host, bound_port = sock.getsockname()[:2]
            host = f"[{bound_host}]" if ":" in bound_host else bound_host
            self.address = f"tcp:{host}:{bound_port}"
        return self.address

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self._connections):
            conn.close()
        for task in list(self._handlers):
            task.cancel()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
        kind, where, _ = parse_address(self.listen)
        if kind == "unix":
            with contextlib.suppress(FileNotFoundError):
                os.unlink(where)

    def _deliver(self, owner: Any, event: dict[str, Any]) -> None:
        if isinstance(owner, _Connection):
            owner.send(event)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Connection(writer)
        self._connections.add(conn)
        try:
            if await self._hello(conn, reader):
                await self._read_loop(conn, reader)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            conn.close()
            self._connections.discard(conn)
            try:
                await self.relay.owner_gone(conn)
            except Exception:
                logger.exception("media relay: cleanup after %r failed", conn)

    async def _hello(self, conn: _Connection, reader: asyncio.StreamReader) -> bool:
        try:
            message = await asyncio.wait_for(read_frame(reader), HELLO_TIMEOUT)
        except (TimeoutError, ProtocolError):
            return False
        if message is None:
            return False
        request_id = message.get("id")
        secret = message.get("secret", "")
        if message.get("op") != "hello" or not isinstance(secret, str):
            conn.send(_error(request_id, RelayError("unauthorized", "send hello first")))
            return False
        if self.secret and not hmac.compare_digest(secret.encode(), self.secret.encode()):
            conn.send(_error(request_id, RelayError("unauthorized", "wrong secret")))
            await conn.writer.drain()
            return False
        conn.send(
            {
                "id": request_id,
                "ok": True,
                "relay": self.relay.relay_id,
                "version": PROTOCOL_VERSION,
            }
        )
        return True

    async def _read_loop(self, conn: _Connection, reader: asyncio.StreamReader) -> None:
        while not conn.closed:
            try:
                message = await read_frame(reader)
            except ProtocolError as exc:
                conn.send(_error(None, exc))
                with contextlib.suppress(ConnectionError):
                    await conn.writer.drain()
                return
            if message is None:
                return
            if conn.in_flight >= MAX_IN_FLIGHT:
                conn.send(
                    _error(message.get("id"), RelayError("busy", "too many requests in flight"))
                )
                continue
            conn.in_flight += 1
            # Each request runs on its own, so a slow offer does not hold up a leave.
            # Requests for one peer still run in order: they queue on the peer's lock.
            task = asyncio.create_task(self._handle(conn, message))
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)

    async def _handle(self, conn: _Connection, message: dict[str, Any]) -> None:
        request_id = message.get("id")
        try:
            if not isinstance(request_id, (int, str)) or isinstance(request_id, bool):
                raise RelayError("bad_request", "id must be a number or string")
            result = await self._dispatch(conn, message)
            conn.send({"id": request_id, "ok": True, **result})
        except RelayError as exc:
            conn.send(_error(request_id, exc))
        except Exception:
            logger.exception("media relay: %s failed", message.get("op"))
            conn.send(
                _error(request_id, RelayError("internal", "the relay failed on this request"))
            )
        finally:
            conn.in_flight -= 1

    async def _dispatch(self, conn: _Connection, m: dict[str, Any]) -> dict[str, Any]:
        relay = self.relay
        op = m.get("op")
        max_sdp = relay.config.sdp_max_bytes
        if op == "offer":
            return await relay.offer(
                session=token(m, "session"),
                peer=token(m, "peer", max_len=128),
                role=choice(m, "role", ROLES),
                sdp=sdp_text(m, max_bytes=max_sdp),
                identity=optional_token(m, "identity", max_len=128),
                profile=choice(m, "profile", PROFILES, default="room"),
                detached=boolean(m, "detached"),
                publisher=optional_token(m, "publisher", max_len=128),
                max_subscribers=_optional_count(m, "max_subscribers"),
                owner=conn,
            )
        if op == "answer":
            return await relay.answer(
                session=token(m, "session"),
                peer=token(m, "peer", max_len=128),
                sdp=sdp_text(m, max_bytes=max_sdp),
                owner=conn,
            )
        if op == "ice":
            candidate = m.get("candidate")
            if not isinstance(candidate, str):
                raise RelayError("ice_invalid", "candidate must be a string")
            mid = m.get("sdpMid")
            index = m.get("sdpMLineIndex")
            if mid is not None and (not isinstance(mid, str) or len(mid) > 32):
                raise RelayError("ice_invalid", "sdpMid must be a short string")
            if index is not None and (
                not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < 64
            ):
                raise RelayError("ice_invalid", "sdpMLineIndex must be 0-63")
            role = m.get("role")
            return await relay.ice(
                session=token(m, "session"),
                peer=token(m, "peer", max_len=128),
                candidate=candidate,
                sdp_mid=mid,
                sdp_mline_index=index,
                role=choice(m, "role", ROLES) if role is not None else None,
                owner=conn,
            )
        if op == "leave":
            role = m.get("role")
            return await relay.leave(
                session=token(m, "session"),
                peer=token(m, "peer", max_len=128),
                role=choice(m, "role", ROLES) if role is not None else None,
                reason=choice(m, "reason", LEAVE_REASONS, default="bye"),
                owner=conn,
            )
        if op in ("pull", "unpull"):
            address = m.get("address")
            try:
                parse_address(address if isinstance(address, str) else "")
            except ValueError as exc:
                raise RelayError("bad_request", str(exc)) from exc
            assert isinstance(address, str)
            if op == "unpull":
                return await relay.unpull(
                    session=token(m, "session"),
                    address=address,
                    remote_session=token(m, "remote_session"),
                )
            return await relay.pull(
                session=token(m, "session"),
                address=address,
                remote_session=token(m, "remote_session"),
                publisher=optional_token(m, "publisher", max_len=128),
                profile=choice(m, "profile", PROFILES, default="room"),
            )
        if op == "watch":
            return relay.watch(token(m, "session"), conn)
        if op == "unwatch":
            return relay.unwatch(token(m, "session"), conn)
        if op == "kick":
            return await relay.kick(
                token(m, "session"),
                token(m, "identity", max_len=128),
                reason=choice(m, "reason", ("revoked", "ended"), default="revoked"),
            )
        if op == "close_session":
            return await relay.close_session(token(m, "session"))
        if op == "status":
            return relay.status()
        if op == "ping":
            return {}
        raise RelayError("bad_request", f"unknown op {str(op)[:40]!r}")


def _optional_count(m: dict[str, Any], name: str) -> int | None:
    value = m.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 1_000_000:
        raise RelayError("bad_request", f"{name} must be a count")
    return value


def _error(request_id: Any, exc: RelayError) -> dict[str, Any]:
    return {"id": request_id, "ok": False, "error": exc.as_dict()}


async def _remove_stale_socket(path: Path) -> None:
    """A socket file left by a relay that died is removed; a live relay's is an error."""
    if not path.exists():
        return
    if not stat.S_ISSOCK(path.stat().st_mode):
        raise RuntimeError(f"{path} exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.setblocking(False)
    try:
        probe.connect(str(path))
    except OSError as exc:
        if exc.errno in (errno.ECONNREFUSED, errno.ENOENT):
            path.unlink(missing_ok=True)
            return
        if exc.errno not in (errno.EAGAIN, errno.EINPROGRESS):
            raise
    finally:
        probe.close()
    raise RuntimeError(f"another relay is already listening on {path}")
