"""The relay's control protocol: framing, errors and field validation (media/README.md).

A frame is a 4-byte big-endian length and that many bytes of UTF-8 JSON (an object).
Requests carry `id` and `op`; the relay replies `{"id", "ok": true, ...}` or
`{"id", "ok": false, "error": {"code", "message"}}`. Events carry `event` and no `id`.
"""

from __future__ import annotations

import asyncio
import json
import re
import struct
from typing import Any

MAX_FRAME_BYTES = 256 * 1024
PROTOCOL_VERSION = 1

_LEN = struct.Struct(">I")
_TOKEN = re.compile(r"^[A-Za-z0-9_.:@/+=-]+$")

ROLES = ("publish", "subscribe")
PROFILES = ("room", "consult")
LEAVE_REASONS = ("bye", "disconnect")


class RelayError(Exception):
    """A refused request. `code` is stable (clients switch on it); `message` is for people."""

    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.extra}


class ProtocolError(RelayError):
    """The peer broke framing; the connection is closed after the error is reported."""

    def __init__(self, message: str) -> None:
        super().__init__("protocol_error", message)


def encode_frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()
    if len(body) > MAX_FRAME_BYTES:
        raise RelayError("too_large", f"frame of {len(body)} bytes exceeds {MAX_FRAME_BYTES}")
    return _LEN.pack(len(body)) + body


async def read_frame(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    """The next frame, or None at a clean end of stream. ProtocolError if the peer sends
    an oversized, truncated or non-JSON-object frame."""
    try:
        header = await reader.readexactly(_LEN.size)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise ProtocolError("truncated frame header") from exc
    (length,) = _LEN.unpack(header)
    if length > MAX_FRAME_BYTES:
        raise ProtocolError(f"frame of {length} bytes exceeds {MAX_FRAME_BYTES}")
    try:
        body = await reader.readexactly(length)
    except asyncio.IncompleteReadError as exc:
        raise ProtocolError("truncated frame") from exc
    try:
        message = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError("frame is not JSON") from exc
    if not isinstance(message, dict):
        raise ProtocolError("frame must be a JSON object")
    return message


# --- field validation -----------------------------------------------------------------


def token(message: dict[str, Any], name: str, *, max_len: int = 200) -> str:
    """An opaque identifier (session key, peer id, publisher identity)."""
    value = message.get(name)
    if not isinstance(value, str) or not value:
        raise RelayError("bad_request", f"{name} is required")
    if len(value) > max_len or not _TOKEN.match(value):
        raise RelayError(
            "bad_request", f"{name} must be 1-{max_len} characters [A-Za-z0-9_.:@/+=-]"
        )
    return value


def optional_token(message: dict[str, Any], name: str, *, max_len: int = 200) -> str | None:
    if message.get(name) is None:
        return None
    return token(message, name, max_len=max_len)


def choice(
    message: dict[str, Any], name: str, choices: tuple[str, ...], default: str | None = None
) -> str:
    value = message.get(name, default)
    if value not in choices:
        raise RelayError("bad_request", f"{name} must be one of {', '.join(choices)}")
    return str(value)


def sdp_text(message: dict[str, Any], *, max_bytes: int) -> str:
    value = message.get("sdp")
    if not isinstance(value, str) or not value.strip():
        raise RelayError("sdp_invalid", "sdp is required")
    if len(value.encode()) > max_bytes:
        raise RelayError("sdp_too_large", f"SDP exceeds {max_bytes} bytes")
    return value


def boolean(message: dict[str, Any], name: str, default: bool = False) -> bool:
    value = message.get(name, default)
    if not isinstance(value, bool):
        raise RelayError("bad_request", f"{name} must be true or false")
    return value


def parse_address(address: str) -> tuple[str, str, int]:
    """ "unix:<path>" → ("unix", path, 0); "tcp:<host>:<port>" → ("tcp", host, port)."""
    scheme, _, rest = address.partition(":")
    if scheme == "unix" and rest:
        return "unix", rest, 0
    if scheme == "tcp":
        host, _, port = rest.rpartition(":")
        host = host.strip("[]")
        if host and port.isdigit() and 0 <= int(port) < 65536:
            return "tcp", host, int(port)
    raise ValueError(f"relay address must be unix:<path> or tcp:<host>:<port>, not {address!r}")
