"""The room socket across real server processes on Redis, started as `make run` starts them
(liveshop/ops/launch.py): every event exactly once and in seq order whichever process it was
sent on, resumes with `since` that lose nothing, `gap: true` after Redis loses the streams,
and the same socket under daphne."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.conf import settings
from websockets.asyncio.client import ClientConnection, connect

from liveshop.ops.launch import Stack, free_port, stack_prepare

pytestmark = pytest.mark.pg

PASSWORD = "liveshop-demo"
FAST_ENV = {
    # Limits stay on, wide enough for a test that sends a few hundred messages quickly.
    "LIVESHOP_ROOM_CHAT_RATE": "1000/10s",
    "LIVESHOP_ROOM_CHAT_BURST_RATE": "1000/s",
    "LIVESHOP_ROOM_FRAME_RATE": "1000/10s",
    "LIVESHOP_ROOM_CONN_FRAME_RATE": "1000/s",
    "LIVESHOP_ROOM_HUB_IDLE_S": "0.5",
}


def _postgres_url() -> str:
    db = settings.DATABASES["default"]
    user = os.environ.get("LIVESHOP_TEST_PG_USER", "postgres")
    return f"postgres://{user}@{db['HOST']}:{db['PORT']}/postgres"


def _prepare(redis_url: str, env: dict[str, str] | None = None) -> Stack:
    if not settings.DB_IS_POSTGRES or not settings.REDIS_URL:
        pytest.fail("multi-process room tests run in the Postgres + Redis pass")
    return stack_prepare(
        postgres_url=_postgres_url(), redis_url=redis_url, extra_env={**FAST_ENV, **(env or {})}
    )


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[Stack, Stack]]:
    """Two web processes of one deployment: same database, same Redis namespace."""
    first = _prepare(settings.REDIS_URL)
    second = first.sibling()
    try:
        first.start(serve_args=("--web-only",))
        second.start(serve_args=("--web-only",))
        yield first, second
    finally:
        second.stop()
        first.destroy()


def token(stack: Stack, email: str) -> str:
    response = httpx.post(
        f"{stack.url}/api/v1/auth/token", json={"email": email, "password": PASSWORD}, timeout=20
    )
    response.raise_for_status()
    return str(response.json()["token"])


class Viewer:
    """One socket: checks every batch against the contract as it arrives."""

    def __init__(self, ws: ClientConnection, hello: dict[str, Any], since: int | None) -> None:
        self.ws = ws
        self.hello = hello
        self.last = since if since is not None and not hello["gap"] else hello["seq"]
        self.events: list[dict[str, Any]] = []
        self.others: list[dict[str, Any]] = []
        self.closed: int | None = None

    @classmethod
    async def open(
        cls, stack: Stack, *, since: int | None = None, auth: str | None = None
    ) -> Viewer:
        query = f"?since={since}" if since is not None else ""
        ws = await connect(f"ws://127.0.0.1:{stack.port}/ws/rooms/demo/launch/{query}")
        hello = json.loads(await ws.recv())
        assert hello["type"] == "hello", hello
        viewer = cls(ws, hello, since)
        if auth is not None:
            await ws.send(json.dumps({"type": "auth", "token": auth}))
            await viewer.until(lambda v: any(f["type"] == "auth.ok" for f in v.others))
        return viewer

    def take(self, frame: dict[str, Any]) -> None:
        if frame["type"] != "batch":
            self.others.append(frame)
            return
        assert frame["from"] == self.last + 1, (frame["from"], self.last)
        assert len(frame["events"]) + frame["folded"] == frame["to"] - frame["from"] + 1
        self.events.extend(frame["events"])
        self.last = frame["to"]

    async def until(self, done: Any, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not done(self):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"viewer has {len(self.events)} events, last seq {self.last}")
            try:
                raw = await asyncio.wait_for(self.ws.recv(), left)
            except Exception:
                self.closed = self.ws.close_code
                raise
            self.take(json.loads(raw))

    async def until_closed(self, timeout: float = 30) -> int:
        with contextlib.suppress(Exception):
            await self.until(lambda v: False, timeout)
        assert self.ws.close_code is not None, "still open"
        return int(self.ws.close_code)

    def nonces(self, prefix: str = "") -> list[str]:
        return [
            e["nonce"]
            for e in self.events
            if e["type"] == "chat.message" and e.get("nonce", "").startswith(prefix)
        ]

    async def chat(self, text: str, nonce: str) -> None:
        await self.ws.send(json.dumps({"type": "chat.send", "text": text, "nonce": nonce}))

    async def close(self) -> None:
        await self.ws.close()


def _exactly_once_in_order(viewer: Viewer, expected: set[str]) -> None:
    seqs = [e["seq"] for e in viewer.events]
    assert seqs == sorted(set(seqs)), "duplicated or out-of-order seqs"
    got = [n for n in viewer.nonces() if n in expected]
    assert len(got) == len(set(got)) == len(expected), "lost or duplicated messages"
    for prefix in {n[0] for n in expected}:
        mine = [n for n in got if n[0] == prefix]
        assert mine == sorted(mine, key=lambda n: int(n[1:])), "a sender's order changed"


def test_every_event_exactly_once_in_seq_order_across_processes(pair):
    first, second = pair
    tokens = [token(first, "shopper1@example.test"), token(first, "shopper2@example.test")]
    n = 80

    async def scenario() -> None:
        watch_a = await Viewer.open(first)
        watch_b = await Viewer.open(second)
        send_a = await Viewer.open(first, auth=tokens[0])
        send_b = await Viewer.open(second, auth=tokens[1])
        for i in range(n):
            await send_a.chat(f"from a {i}", f"a{i}")
            await send_b.chat(f"from b {i}", f"b{i}")
            if i % 10 == 0:
                await asyncio.sleep(0.05)
        expected = {f"a{i}" for i in range(n)} | {f"b{i}" for i in range(n)}
        for viewer in (watch_a, watch_b):
            await viewer.until(lambda v: expected <= set(v.nonces()))
            _exactly_once_in_order(viewer, expected)
        # Both processes delivered the same numbering.
        seq_of = {e["nonce"]: e["seq"] for e in watch_a.events if e.get("nonce") in expected}
        assert seq_of == {
            e["nonce"]: e["seq"] for e in watch_b.events if e.get("nonce") in expected
        }
        for viewer in (watch_a, watch_b, send_a, send_b):
            await viewer.close()

    asyncio.run(scenario())


def test_reconnect_with_since_loses_nothing(pair):
    first, second = pair
    sender_token = token(first, "shopper3@example.test")
    n = 60

    async def scenario() -> None:
        sender = await Viewer.open(first, auth=sender_token)
        viewer = await Viewer.open(second)
        for i in range(n // 2):
            await sender.chat(f"part one {i}", f"r{i}")
        await viewer.until(lambda v: len(v.nonces("r")) >= 10)
        await viewer.close()  # gone mid-stream; it saw everything up to viewer.last
        seen_before = [e for e in viewer.events]
        resume_at = viewer.last
        for i in range(n // 2, n):
            await sender.chat(f"part two {i}", f"r{i}")
        # Resume on the OTHER process.
        again = await Viewer.open(first, since=resume_at)
        assert again.hello["gap"] is False
        expected = {f"r{i}" for i in range(n)}
        again.events = seen_before
        await again.until(lambda v: expected <= set(v.nonces()))
        _exactly_once_in_order(again, expected)
        await again.close()
        await sender.close()

    asyncio.run(scenario())


# --- Redis lost --------------------------------------------------------------------------------


class OwnRedis:
    """A redis-server of this test only (the shared one is never restarted)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                if redis.Redis.from_url(self.url).ping():
                    return
            time.sleep(0.05)
        raise TimeoutError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    server = OwnRedis()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_redis_restart_gives_gap_not_silent_holes(own_redis):
    """Redis restarts empty while events are delivered but not yet in the database (the
    persist interval is made long so that window is certain): the viewers are closed (1012)
    and their resume says `gap: true`; the numbering then goes on without holes."""
    first = _prepare(own_redis.url, {"LIVESHOP_ROOM_PERSIST_INTERVAL_S": "30"})
    second = first.sibling()
    try:
        first.start(serve_args=("--web-only",))
        second.start(serve_args=("--web-only",))
        sender_token = token(first, "shopper1@example.test")

        async def scenario() -> None:
            viewer = await Viewer.open(second)
            sender = await Viewer.open(first, auth=sender_token)
            for i in range(20):
                await sender.chat(f"before {i}", f"x{i}")
            await viewer.until(lambda v: len(v.nonces("x")) == 20)
            await sender.close()
            last = viewer.last
            own_redis.stop()
            own_redis.start()  # empty: no dump, no AOF
            assert await viewer.until_closed(timeout=30) == 1012
            again = await Viewer.open(second, since=last)
            assert again.hello["gap"] is True
            sender = await Viewer.open(first, auth=token(first, "shopper1@example.test"))
            await sender.chat("after", "after")
            await again.until(lambda v: "after" in v.nonces())
            # Live batches continue from hello.seq + 1 (checked in take()).
            await again.close()
            await sender.close()

        try:
            asyncio.run(scenario())
        except BaseException:
            for stack in (first, second):
                print(f"--- {stack.log_path}\n{stack.log_path.read_text()[-20000:]}")
            raise
    finally:
        second.stop()
        first.destroy()


# --- daphne ------------------------------------------------------------------------------------


def test_room_socket_under_daphne():
    stack = _prepare(settings.REDIS_URL)
    try:
        stack.start(serve_args=("--web-only", "--server", "daphne"))
        shopper = token(stack, "shopper1@example.test")

        async def scenario() -> None:
            viewer = await Viewer.open(stack)
            assert viewer.hello["room"]["slug"] == "launch"
            sender = await Viewer.open(stack, auth=shopper)
            await sender.chat("hello from daphne", "d1")
            await sender.ws.send(json.dumps({"type": "like", "count": 3}))
            await viewer.until(lambda v: "d1" in v.nonces())
            await sender.until(lambda v: "d1" in v.nonces())
            await sender.ws.send("not json")
            await sender.until(lambda v: any(f.get("code") == "bad_json" for f in v.others))
            await viewer.close()
            await sender.close()

        asyncio.run(scenario())
    finally:
        stack.destroy()
