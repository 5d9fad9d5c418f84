"""The room WebSocket protocol: a JSON Schema for every frame, in one place.

The consumer validates each client frame against `CLIENT_FRAMES` before anything else runs;
`SERVER_FRAMES` and `EVENTS` document (and tests check) what the server sends. The page at
/docs/realtime/ renders this module, so the documentation cannot drift from the validator.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from jsonschema import Draft202012Validator

CHAT_MAX_CHARS = 300
NONCE = {
    "type": "string",
    "minLength": 1,
    "maxLength": 64,
    "description": "Client id echoed on events this frame causes.",
}
ID = {"type": "integer", "minimum": 1}
USER = {
    "type": "object",
    "required": ["id", "name"],
    "properties": {"id": ID, "name": {"type": "string"}, "badge": {"type": "string"}},
}


def _frame(
    type_: str,
    description: str,
    properties: dict[str, Any] | None = None,
    required: list[str] | None = None,
) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "required": ["type", *(required or [])],
        "properties": {"type": {"const": type_}, **(properties or {})},
        "additionalProperties": False,
    }


CLIENT_FRAMES: dict[str, dict[str, Any]] = {
    "auth": _frame(
        "auth",
        "First frame of non-browser clients: a bearer token from POST /api/v1/auth/token.",
        {"token": {"type": "string", "minLength": 1, "maxLength": 512}},
        ["token"],
    ),
    "chat.send": _frame(
        "chat.send",
        "Send a danmaku/chat message. Signed-in viewers only; muted or banned users are refused.",
        {"text": {"type": "string", "minLength": 1, "maxLength": CHAT_MAX_CHARS}, "nonce": NONCE},
        ["text", "nonce"],
    ),
    "like": _frame(
        "like",
        "Likes (taps may be batched client-side). Counted, never stored one by one.",
        {"count": {"type": "integer", "minimum": 1, "maximum": 50}},
        ["count"],
    ),
    "gift.send": _frame(
        "gift.send",
        "Send a gift from the room's gift catalog, paid from the sender's coin wallet. "
        "Idempotent by nonce: resending the same nonce never charges twice.",
        {
            "gift": {"type": "string", "minLength": 1, "maxLength": 40},
            "count": {"type": "integer", "minimum": 1, "maximum": 99},
            "nonce": NONCE,
        },
        ["gift", "nonce"],
    ),
    "pin": _frame(
        "pin",
        "Staff: pin a product of the line-up for every viewer.",
        {"product": ID, "nonce": NONCE},
        ["product"],
    ),
    "unpin": _frame("unpin", "Staff: unpin the pinned product.", {"nonce": NONCE}),
    "moderate": _frame(
        "moderate",
        "Staff and room moderators: delete a message, mute (timed) or ban a user, set slow mode.",
        {
            "action": {
                "enum": [
                    "delete",
                    "mute",
                    "unmute",
                    "ban",
                    "unban",
                    "slow_mode",
                    "promote",
                    "demote",
                ]
            },
            "seq": {
                "type": "integer",
                "minimum": 1,
                "description": "delete: the chat message's seq",
            },
            "user": ID,
            "seconds": {
                "type": "integer",
                "minimum": 0,
                "maximum": 30 * 24 * 3600,
                "description": "mute: duration; slow_mode: seconds between messages (0 = off)",
            },
            "scope": {
                "enum": ["room", "merchant"],
                "description": "ban/mute in this room (default) or the whole merchant",
            },
            "reason": {"type": "string", "maxLength": 200},
            "nonce": NONCE,
        },
        ["action"],
    ),
    "flash_sale.start": _frame(
        "flash_sale.start",
        "Staff: start a flash sale on a line-up product: a price and a unit count for 10–300 s.",
        {
            "product": ID,
            "variant": ID,
            "price": {"type": "integer", "minimum": 0, "maximum": 100_000_000},
            "units": {"type": "integer", "minimum": 1, "maximum": 100_000},
            "duration_s": {"type": "integer", "minimum": 10, "maximum": 300},
            "nonce": NONCE,
        },
        ["product", "price", "units", "duration_s"],
    ),
}

_EVENT_BASE = {
    "seq": ID,
    "type": {"type": "string"},
    "ts": {"type": "integer", "description": "Milliseconds since the epoch (the stream's clock)"},
    "nonce": NONCE,
}


def _event(
    type_: str,
    description: str,
    properties: dict[str, Any],
    required: list[str],
    foldable: bool = False,
) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description
        + (
            " May be left out of a batch under extreme load (counted in `folded`)."
            if foldable
            else ""
        ),
        "required": ["seq", "type", "ts", *required],
        "properties": {**_EVENT_BASE, "type": {"const": type_}, **properties},
        "x-foldable": foldable,
    }


PRODUCT_CARD = {
    "type": "object",
    "required": ["id", "name", "price", "currency"],
    "properties": {
        "id": ID,
        "name": {"type": "string"},
        "price": {"type": "integer"},
        "currency": {"type": "string"},
    },
}

EVENTS: dict[str, dict[str, Any]] = {
    "chat.message": _event(
        "chat.message",
        "A chat/danmaku message.",
        {"user": USER, "text": {"type": "string"}},
        ["user", "text"],
        foldable=True,
    ),
    "gift": _event(
        "gift",
        "A gift was sent (paid from the sender's wallet; one event per gift.send, never "
        "repeated for a replayed nonce). `animation` is a CSS keyword: float, burst, rain, "
        "spin or zoom.",
        {
            "user": USER,
            "gift": {
                "type": "object",
                "required": ["code", "name", "coins", "animation"],
                "properties": {
                    "code": {"type": "string"},
                    "name": {"type": "string"},
                    "coins": {"type": "integer", "minimum": 1},
                    "animation": {"type": "string"},
                },
            },
            "count": {"type": "integer", "minimum": 1, "maximum": 99},
        },
        ["user", "gift", "count"],
    ),
    "product.pinned": _event(
        "product.pinned",
        "The host pinned a product (full card with variants and stock).",
        {"product": PRODUCT_CARD},
        ["product"],
    ),
    "product.unpinned": _event("product.unpinned", "The pinned product was unpinned.", {}, []),
    "stock.changed": _event(
        "stock.changed",
        "Live stock of a pinned or on-sale product (at most one per product per tick): the "
        "variant that changed, every active variant's stock (`variants`), their `total`, and "
        "while a flash sale runs on it, the sale units left (`sale_remaining`).",
        {
            "product": ID,
            "variant": ID,
            "stock": {"type": "integer", "minimum": 0},
            "variants": {"type": "array"},
            "total": {"type": "integer", "minimum": 0},
            "sale_remaining": {"type": "integer", "minimum": 0},
        },
        ["product", "variant", "stock"],
    ),
    "flash_sale.started": _event(
        "flash_sale.started",
        "A flash sale started: `price` (minor units, `currency`) for `units` units of "
        "`variant` until `ends_at` (epoch milliseconds, like `ts`). Buy with an ordinary "
        "order naming the room; when sold out, join the waitlist "
        "(POST /api/v1/s/<m>/rooms/<room>/waitlist).",
        {
            "sale": ID,
            "product": ID,
            "variant": ID,
            "price": {"type": "integer"},
            "currency": {"type": "string"},
            "units": {"type": "integer"},
            "ends_at": {"type": "number"},
        },
        ["product", "price", "units", "ends_at"],
    ),
    "flash_sale.ended": _event(
        "flash_sale.ended",
        "The flash sale ended (time up, sold out or stopped).",
        {"product": ID, "sold": {"type": "integer"}, "reason": {"type": "string"}},
        [],
    ),
    "purchase": _event(
        "purchase",
        "Someone just bought a product (anonymised; off per room if the merchant wishes).",
        {"product": ID, "name": {"type": "string"}, "city": {"type": "string"}},
        ["product"],
    ),
    "moderation.removed": _event(
        "moderation.removed",
        "A chat message was deleted: hide the message with this seq.",
        {"seq": ID, "removed_seq": ID},
        ["removed_seq"],
    ),
    "moderation.muted": _event(
        "moderation.muted",
        "A user was muted (until a time, epoch ms) or banned (until null); `kind` mute|ban, "
        "`scope` room|merchant. A lifted mute or ban comes as `lifted: true` with `until` now.",
        {
            "user": USER,
            "until": {"type": ["number", "null"]},
            "kind": {"enum": ["mute", "ban"]},
            "scope": {"enum": ["room", "merchant"]},
            "lifted": {"type": "boolean"},
        },
        ["user", "until"],
    ),
    "room.state": _event(
        "room.state",
        "The room went live, ended, or the host changed.",
        {"status": {"enum": ["scheduled", "live", "ended"]}, "host": USER},
        ["status"],
    ),
    "assistant.answer": _event(
        "assistant.answer",
        "The shopping assistant answered a chat question.",
        {"question_seq": ID, "text": {"type": "string"}, "products": {"type": "array"}},
        ["question_seq", "text", "products"],
    ),
}

# --- stage: co-hosts and PK (issue 8; owned by the `stage` branch: media/stage.py, media/pk.py) ---
STAGE_MEMBER = {
    "type": "object",
    "required": ["user", "identity", "role"],
    "properties": {
        "user": USER,
        "identity": {
            "type": "string",
            "description": "The relay identity (`user:<id>`): the `publisher` of this member's "
            "tracks in the media socket's `tracks` lists, so the page knows which video is whose.",
        },
        "role": {"enum": ["host", "guest"]},
    },
}
PK_SIDE = {
    "type": "object",
    "description": "Public data of one side only: names, title, host identity and score.",
    "required": ["merchant", "room", "host", "identity", "score"],
    "properties": {
        "merchant": {"type": "string"},
        "merchant_slug": {"type": "string"},
        "room": {"type": "string"},
        "room_slug": {"type": "string"},
        "host": {"type": "string"},
        "identity": {"type": "string"},
        "score": {"type": "integer"},
    },
}
PK = {
    "type": "object",
    "required": ["id", "status", "duration_s", "a", "b"],
    "properties": {
        "id": ID,
        "status": {"enum": ["invited", "accepted", "live", "ended", "declined"]},
        "duration_s": {"type": "integer", "minimum": 180, "maximum": 600},
        "started_at": {"type": ["number", "null"]},
        "ends_at": {"type": ["number", "null"]},
        "remaining_s": {"type": ["number", "null"]},
        "a": PK_SIDE,
        "b": PK_SIDE,
        "winner": {"enum": ["a", "b", "draw", None]},
    },
}
EVENTS.update(
    {
        "stage.invited": _event(
            "stage.invited",
            "The host invited this user on stage: their page shows the invite (accept with "
            "POST /api/v1/s/<m>/rooms/<room>/stage/accept).",
            {"user": USER},
            ["user"],
        ),
        "stage.updated": _event(
            "stage.updated",
            "Who is on stage changed (host first). Viewers' media sockets get the matching "
            "`offer` from the relay; lay the tiles out side by side.",
            {"members": {"type": "array", "items": STAGE_MEMBER, "maxItems": 4}},
            ["members"],
        ),
        "stage.revoked": _event(
            "stage.revoked",
            "A guest left the stage or an invite ended (`reason`: revoked by the host, or left).",
            {"user": USER, "reason": {"enum": ["revoked", "left"]}},
            ["user"],
        ),
        "pk.invited": _event(
            "pk.invited", "Room A invited room B to a PK (sent to both rooms).", {"pk": PK}, ["pk"]
        ),
        "pk.started": _event(
            "pk.started",
            "The PK started: both hosts are on both rooms' video; count down to `ends_at`.",
            {"pk": PK},
            ["pk"],
        ),
        "pk.score": _event(
            "pk.score",
            "Scores changed (paid GMV in whole currency units + gift coins, in the window).",
            {"pk": ID, "a": {"type": "integer"}, "b": {"type": "integer"}},
            ["pk", "a", "b"],
        ),
        "pk.ended": _event(
            "pk.ended",
            "The PK ended (time up or a host ended it): final scores and `winner`.",
            {"pk": PK},
            ["pk"],
        ),
        "pk.declined": _event(
            "pk.declined", "The invite was declined or withdrawn.", {"pk": PK}, ["pk"]
        ),
    }
)
# --- end stage ---

SERVER_FRAMES: dict[str, dict[str, Any]] = {
    "hello": {
        "type": "object",
        "description": "Sent first. `seq` is the room's last stored seq; live events start at seq+1. "
        "With ?since=N the events after N follow as ordinary batches, or gap: true when they are no longer retained.",
        "required": ["type", "seq", "room", "recent"],
        "properties": {
            "type": {"const": "hello"},
            "seq": {"type": "integer", "minimum": 0},
            "room": {"type": "object"},
            "recent": {"type": "array"},
            "gap": {"type": "boolean"},
            "you": {"type": ["object", "null"]},
        },
    },
    "batch": {
        "type": "object",
        "description": "At most every 100 ms. from = previous to + 1; every seq in [from, to] is either "
        "in events or counted in folded (chat only).",
        "required": ["type", "from", "to", "events", "folded", "stats"],
        "properties": {
            "type": {"const": "batch"},
            "from": {"type": "integer"},
            "to": {"type": "integer"},
            "events": {"type": "array"},
            "folded": {"type": "integer", "minimum": 0},
            "stats": {
                "type": "object",
                "properties": {"viewers": {"type": "integer"}, "likes": {"type": "integer"}},
            },
        },
    },
    "auth.ok": {
        "type": "object",
        "required": ["type", "user"],
        "properties": {"type": {"const": "auth.ok"}, "user": USER},
    },
    "error": {
        "type": "object",
        "description": "A refused frame. The socket stays open unless a close follows.",
        "required": ["type", "code", "message"],
        "properties": {
            "type": {"const": "error"},
            "code": {"type": "string"},
            "message": {"type": "string"},
            "nonce": NONCE,
        },
    },
}

CLOSE_CODES = {
    4401: "authentication failed",
    4403: "Origin or permission refused",
    4404: "unknown merchant or room",
    1009: "frame over 64 KiB",
    4408: "too slow: resume with ?since=<last seq>",
    4429: "rate-limit abuse",
}


@cache
def _validator(frame_type: str) -> Draft202012Validator | None:
    schema = CLIENT_FRAMES.get(frame_type)
    return Draft202012Validator(schema) if schema else None


def client_frame_problem(frame: dict[str, Any]) -> tuple[str, str] | None:
    """None when the frame is valid, else (error code, message) for the `error` frame."""
    validator = _validator(str(frame.get("type")))
    if validator is None:
        return "unknown_type", f"Unknown frame type {frame.get('type')!r}."
    error = next(iter(validator.iter_errors(frame)), None)
    if error is None:
        return None
    where = ".".join(str(p) for p in error.absolute_path) or "frame"
    return "invalid", f"{where}: {error.message}"[:300]


def is_foldable(event_type: str) -> bool:
    return bool(EVENTS.get(event_type, {}).get("x-foldable"))


@cache
def _event_validator(event_type: str) -> Draft202012Validator | None:
    schema = EVENTS.get(event_type)
    return Draft202012Validator(schema) if schema else None


def event_problems(event: dict[str, Any]) -> list[str]:
    """What is wrong with a stored event against its documented schema ([] when it conforms).
    Tests run every event a service publishes through this, so the page cannot drift."""
    validator = _event_validator(str(event.get("type")))
    if validator is None:
        return [f"undocumented event type {event.get('type')!r}"]
    return [
        f"{'.'.join(str(p) for p in e.absolute_path) or 'event'}: {e.message}"
        for e in validator.iter_errors(event)
    ]
