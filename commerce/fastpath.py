"""The sold-out gate in front of Django, for the flash-sale stampede.

`POST /api/v1/s/<m>/orders` for a variant this process saw sold out a moment ago is
answered here, on the event loop, without Django, DRF or the ORM: about a tenth of the CPU of
the full path (bench/flash_sale.py), which a 2-core box needs to refuse thousands of buyers a
second. Everything it is not sure about goes to Django unchanged.

It answers only "409 out_of_stock", and only when all of this holds:
- the merchant is one the full path of this process served recently (slug → id);
- the request is well formed and one of its lines names a variant the gate holds closed
  (`commerce.stock_gate`);
- the bearer token is a live user token of an active user (the rules of
  `liveshop.api.authentication.user_for_token`, checked in the same database round trip as…)
- …its Idempotency-Key, which must not be one this shopper already used: a retry of an
  order that went through goes to Django and gets its order back;
- the per-account rate limit (`LIVESHOP_THROTTLES["user"]`, the same counter DRF uses)
  allows the request.
On SQLite (the embedded default) it stands aside: the full path has the same gate inside.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from django.conf import settings
from django.utils import translation

from liveshop import ratelimit
from liveshop.api.errors import envelope
from liveshop.opaque import opaque_hash

from .services.orders import (
    SCOPE_PLACE,
    gate_closed_line,
    idempotency_key_check,
    lines_parse,
    out_of_stock_error,
)

log = logging.getLogger("liveshop.commerce.fastpath")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[..., Awaitable[None]]

PATH_RE = re.compile(r"^/api/v1/s/([a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?)/orders$")
MERCHANT_TTL = 30.0
MAX_BODY = 16 * 1024  # an order of 20 lines is far smaller; bigger bodies take the full path
HEADERS = [
    (b"content-type", b"application/json"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"vary", b"Accept-Language, Cookie"),
]

# Counters for operators (and tests): requests the gate answered / handed to Django.
STATS = {"refused": 0, "passed": 0}
_lock = threading.Lock()
_merchants: dict[str, tuple[int, float]] = {}  # slug → (merchant id, deadline)


def learn_merchant(*, slug: str, merchant_id: int) -> None:
    """The full path served this (active) merchant: the gate may act for it for a while."""
    with _lock:
        if len(_merchants) > 10_000:
            _merchants.clear()
        _merchants[slug] = (merchant_id, time.monotonic() + MERCHANT_TTL)


def forget_all() -> None:
    """Tests; and whenever trust must end at once."""
    with _lock:
        _merchants.clear()


async def pool_close() -> None:
    """Close the gate's database pool (tests, which run a new event loop each time)."""
    await _lookup.close()


def _known_merchant(slug: str) -> int | None:
    entry = _merchants.get(slug)
    if entry is None or entry[1] <= time.monotonic():
        return None
    return entry[0]


class _Lookup:
    """One database round trip (two pipelined statements) on a small async pool of the
    gate's own, as the app role under row-level security: who the token is, and whether
    they already used this Idempotency-Key here."""

    def __init__(self) -> None:
        self.pool: Any = None
        self.loop: asyncio.AbstractEventLoop | None = None

    async def shopper(self, merchant_id: int, token_hash: str, key: str) -> tuple[int, bool] | None:
        """(user id, key already used) for a live token of an active user, else None."""
        if self.pool is None or self.loop is not asyncio.get_running_loop():
            await self._open()  # a pool belongs to one event loop (uvicorn: one per process)
        async with self.pool.connection() as conn, conn.pipeline():
            await conn.execute(
                "SELECT set_config('app.merchant_id', %s, false),"
                " set_config('app.user_id', '', false), set_config('app.bypass_rls', '', false)",
                [str(merchant_id)],
            )
            cursor = await conn.execute(
                "SELECT t.user_id, EXISTS (SELECT 1 FROM commerce_idempotencykey k"
                "  WHERE k.merchant_id = %s AND k.shopper_id = t.user_id AND k.scope = %s"
                "  AND k.key = %s)"
                " FROM accounts_authtoken t JOIN accounts_user u ON u.id = t.user_id"
                " WHERE t.key_hash = %s AND t.revoked_at IS NULL AND t.expires_at > now()"
                " AND u.is_active",
                [merchant_id, SCOPE_PLACE, key, token_hash],
            )
            row = await cursor.fetchone()
        return (int(row[0]), bool(row[1])) if row else None

    async def close(self) -> None:
        if self.pool is not None and self.loop is asyncio.get_running_loop():
            await self.pool.close()
        self.pool = self.loop = None

    async def _open(self) -> None:
        from psycopg_pool import AsyncConnectionPool

        db = settings.DATABASES["default"]
        pool = AsyncConnectionPool(
            kwargs={
                "dbname": db["NAME"],
                "user": db.get("USER") or None,
                "password": db.get("PASSWORD") or None,
                "host": db.get("HOST") or None,
                "port": db.get("PORT") or None,
                "autocommit": True,
            },
            min_size=1,
            max_size=4,
            open=False,
            timeout=5,
        )
        await pool.open()
        self.pool, self.loop = pool, asyncio.get_running_loop()


_lookup = _Lookup()
ON_POSTGRES = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


class SoldOutGate:
    """ASGI middleware around the Django app (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots = asyncio.Semaphore(1)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not scope["path"].endswith("/orders")
        ):
            await self.app(scope, receive, send)
            return
        match = PATH_RE.match(scope["path"])
        if match is None:
            await self.app(scope, receive, send)
            return
        read = await _read_body(receive)
        if read is None:
            return  # the client went away
        body, more = read
        answer = await self._checked(scope, match.group(1), body, more)
        if answer is None:
            # Admission control: a few placements at a time go through Django; the rest wait
            # here on the event loop (cheap) and look at the gate again when their turn comes,
            # so a sale that sold out meanwhile refuses them without a thread or a query.
            async with self._admission():
                answer = await self._checked(scope, match.group(1), body, more)
                if answer is None:
                    STATS["passed"] += 1
                    await self.app(scope, _replay(body, more, receive), send)
                    return
        STATS["refused"] += 1
        payload = json.dumps(answer, ensure_ascii=False).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 409,
                "headers": [*HEADERS, (b"content-length", str(len(payload)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    def _admission(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # one per event loop (tests run several)
            self._loop = loop
            self._slots = asyncio.Semaphore(settings.LIVESHOP_ORDER_CONCURRENCY)
        return self._slots

    async def _checked(
        self, scope: Scope, slug: str, body: bytes, more: bool
    ) -> dict[str, Any] | None:
        if more:
            return None
        try:
            return await self._refusal(scope, slug, body)
        except Exception:  # never fail a request here: the full path decides
            log.exception("sold-out gate")
            return None

    async def _refusal(self, scope: Scope, slug: str, body: bytes) -> dict[str, Any] | None:
        merchant_id = _known_merchant(slug)
        if merchant_id is None or not ON_POSTGRES:
            return None
        headers = dict(scope["headers"])
        auth = headers.get(b"authorization", b"").split()
        if len(auth) != 2 or auth[0].lower() != b"bearer" or not auth[1].startswith(b"lst_"):
            return None  # anonymous, API keys, malformed: the full path answers
        try:
            data = json.loads(body)
            key = idempotency_key_check(headers.get(b"idempotency-key", b"").decode("ascii"))
            if not isinstance(data, dict) or set(data) - {"lines", "room", "shipping_address"}:
                return None
            lines = lines_parse(data.get("lines"))
        except Exception:  # malformed: the full path explains what is wrong
            return None
        closed = gate_closed_line(merchant_id, lines)
        if closed is None or len(auth[1]) > 200:
            return None
        found = await _lookup.shopper(merchant_id, opaque_hash(auth[1].decode("ascii")), key)
        if found is None:
            return None  # not a live token: the full path answers 401
        user_id, key_used = found
        if key_used:
            return None  # a retry: the full path replays the order (or answers 422)
        rate = settings.LIVESHOP_THROTTLES.get("user")
        if rate and not await ratelimit.ahit(_rate(rate), "user", f"user:{user_id}"):
            return None  # over the limit: the full path answers 429 with Retry-After
        with translation.override(_language(headers)):
            error = out_of_stock_error(merchant_id, closed, 0)
            return envelope(error.code, str(error.message), None, **error.extra)


def _rate(rate: str) -> Any:
    from liveshop.api.throttling import _rate as parse

    return parse(rate)


def _language(headers: dict[bytes, bytes]) -> str:
    from django.utils.translation.trans_real import (
        get_supported_language_variant,
        parse_accept_lang_header,
    )

    for code, _q in parse_accept_lang_header(headers.get(b"accept-language", b"").decode()):
        try:
            return get_supported_language_variant(code)
        except LookupError:
            continue
    return settings.LANGUAGE_CODE


async def _read_body(receive: Receive) -> tuple[bytes, bool] | None:
    """Up to MAX_BODY bytes of the request body and whether more follows; None when the
    client disconnected."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body"):
            return b"".join(chunks), False
        if size > MAX_BODY:
            return b"".join(chunks), True


def _replay(body: bytes, more: bool, receive: Receive) -> Receive:
    """A `receive` that hands Django the body already read, then the rest of the stream."""
    sent = False

    async def replayed() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": more}
        return await receive()

    return replayed
