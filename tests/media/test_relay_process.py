"""A real `manage.py media_relay` process, driven over its control socket; and the Redis
registry that maps sessions to relays when there are several."""

from __future__ import annotations

import asyncio
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings

from media.relay.config import RelayConfig
from media.relay.engine import Relay
from media.relay.protocol import RelayError
from media.relay.registry import (
    RELAY_TTL,
    LocalDirectory,
    RedisDirectory,
    RelayPool,
    RelayRegistration,
)
from media.relay.server import ControlServer
from tests.media.clients import Publisher, Viewer, run

pytestmark = pytest.mark.pg


@pytest.fixture
def relay_process() -> Iterator[tuple[subprocess.Popen[str], str]]:
    tmp = tempfile.mkdtemp(prefix="lsm")
    env = {
        **os.environ,
        # the relay as `make run` starts it, not with the test settings pytest exported
        "DJANGO_SETTINGS_MODULE": "liveshop.settings",
        "LIVESHOP_ICE_LOOPBACK": "1",
        "LIVESHOP_REDIS_PREFIX": settings.LIVESHOP_REDIS_PREFIX,
        "PYTHONUNBUFFERED": "1",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            str(settings.BASE_DIR / "manage.py"),
            "media_relay",
            "--listen",
            f"unix:{tmp}/relay.sock",
            "--relay-id",
            "proc-test",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        address = _wait_ready(proc)
        yield proc, address
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        shutil.rmtree(tmp, ignore_errors=True)


def _wait_ready(proc: subprocess.Popen[str], timeout: float = 30.0) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            line = proc.stdout.readline()
            seen.append(line)
            if " listening on " in line:
                return line.strip().rsplit(" ", 1)[-1]
        if proc.poll() is not None:
            break
    raise AssertionError(f"media_relay did not start: {''.join(seen)}")


def test_media_relay_process_forwards_between_aiortc_clients(
    relay_process: tuple[subprocess.Popen[str], str],
) -> None:
    proc, address = relay_process
    session = f"room:1:{uuid.uuid4().hex[:8]}"

    async def scenario() -> None:
        directory = (
            RedisDirectory(settings.REDIS_URL, settings.LIVESHOP_REDIS_PREFIX)
            if settings.REDIS_URL
            else LocalDirectory(address)
        )
        pool = RelayPool(directory, secret=settings.LIVESHOP_MEDIA_RELAY_SECRET)
        try:
            client = await pool.client_for(session)
            assert client.address == address  # the registry found the running relay
            host = Publisher(client, session, "host-ws", "host", level=200)
            viewer = Viewer(client, session, "viewer-ws")
            try:
                await host.start()
                await host.wait_connected()
                await viewer.start()
                await viewer.wait_video_frames(10, level=200, timeout=10)
                assert client.relay_id == "proc-test"
                status = await client.status()
                assert status["sessions"] == 1 and status["peer_connections"] == 2
                if isinstance(directory, RedisDirectory):
                    owner = await directory.redis.hget(directory.sessions_key, session)
                    assert owner == "proc-test"
            finally:
                await viewer.close()
                await host.close()
            # the session ended with its last peer, and the relay gave it up
            if isinstance(directory, RedisDirectory):
                for _ in range(50):
                    if not await directory.redis.hexists(directory.sessions_key, session):
                        break
                    await asyncio.sleep(0.05)
                assert not await directory.redis.hexists(directory.sessions_key, session)
        finally:
            await pool.close()

    run(scenario())
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0, out
    assert "media relay proc-test stopped" in out

    if settings.REDIS_URL:

        async def deregistered() -> None:
            directory = RedisDirectory(settings.REDIS_URL, settings.LIVESHOP_REDIS_PREFIX)
            assert "proc-test" not in await directory.live_relays()
            await directory.close()

        run(deregistered())


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    if not settings.REDIS_URL:
        pytest.fail("the Postgres pass needs REDIS_URL")
    prefix = f"{settings.LIVESHOP_REDIS_PREFIX}-{uuid.uuid4().hex[:6]}"
    yield prefix

    async def clean() -> None:
        directory = RedisDirectory(settings.REDIS_URL, prefix)
        await directory.redis.delete(directory.sessions_key, directory.relays_key)
        await directory.close()

    run(clean())


def test_sessions_go_to_the_least_loaded_live_relay_and_stay(redis_prefix: str) -> None:
    async def scenario() -> None:
        web = RedisDirectory(settings.REDIS_URL, redis_prefix)
        relay_a = RelayRegistration(
            RedisDirectory(settings.REDIS_URL, redis_prefix), "a", "unix:/a"
        )
        relay_b = RelayRegistration(
            RedisDirectory(settings.REDIS_URL, redis_prefix), "b", "unix:/b"
        )
        try:
            with pytest.raises(RelayError) as none:
                await web.address_for("room:1:x")
            assert none.value.code == "unavailable"
            await relay_a.heartbeat({"sessions": 5, "peer_connections": 90})
            await relay_b.heartbeat({"sessions": 1, "peer_connections": 3})
            assert await web.address_for("room:1:x") == "unix:/b"
            await relay_b.heartbeat({"sessions": 9, "peer_connections": 300})
            assert await web.address_for("room:1:x") == "unix:/b"  # sticky once assigned
            assert await web.address_for("room:1:y") == "unix:/a"
            # the relay that owns a session claims it quietly; another is told where it is
            assert await relay_b.claim("room:1:x") is None
            assert await relay_a.claim("room:1:x") == "unix:/b"
            # b stops heartbeating: its sessions move to a live relay
            stale = json.loads(str(await web.redis.hget(web.relays_key, "b")))
            stale["seen"] = time.time() - RELAY_TTL - 1
            await web.redis.hset(web.relays_key, "b", json.dumps(stale))
            assert await web.address_for("room:1:x") == "unix:/a"
            # a relay releases only sessions it owns
            await relay_b.release("room:1:x")
            assert await web.redis.hget(web.sessions_key, "room:1:x") == "a"
            await relay_a.release("room:1:x")
            assert not await web.redis.hexists(web.sessions_key, "room:1:x")
            await relay_a.stop()
            assert "a" not in await web.live_relays()
        finally:
            for d in (web, relay_a.directory, relay_b.directory):
                await d.close()

    run(scenario())


def test_a_relay_that_does_not_own_a_session_redirects_the_client(redis_prefix: str) -> None:
    async def scenario() -> None:
        servers: list[Any] = []
        try:
            addresses = []
            for name in ("a", "b"):
                tmp = tempfile.mkdtemp(prefix="lsm")
                relay = Relay(RelayConfig(), relay_id=name)
                server = ControlServer(relay, listen=f"unix:{tmp}/relay.sock")
                address = await server.start()
                registration = RelayRegistration(
                    RedisDirectory(settings.REDIS_URL, redis_prefix), name, address
                )
                await registration.heartbeat()
                relay.directory = registration
                servers.append((relay, server, registration, tmp))
                addresses.append(address)
            session = "room:1:pk"
            assert await servers[1][2].claim(session) is None  # b hosts it
            # a web process with a stale idea of where the session lives asks a
            pool = RelayPool(LocalDirectory(addresses[0]))
            host = None
            try:
                sdp = await _publish_offer()
                client, events, reply = await pool.offer(
                    session=session, peer="host-ws", role="publish", sdp=sdp, identity="host"
                )
                assert client.address == addresses[1] and reply["type"] == "answer"
                assert session in servers[1][0].sessions
                assert session not in servers[0][0].sessions
                events.close()
                host = client
            finally:
                if host is not None:
                    await host.leave(session=session, peer="host-ws")
                await pool.close()
        finally:
            for relay, server, registration, tmp in servers:
                await server.close()
                await relay.close()
                await registration.stop()
                await registration.directory.close()
                shutil.rmtree(tmp, ignore_errors=True)

    run(scenario())


async def _publish_offer() -> str:
    from tests.media.clients import new_pc

    pc = new_pc()
    pc.addTransceiver("video", direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return sdp
