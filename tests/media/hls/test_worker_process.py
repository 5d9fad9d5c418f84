"""Real processes: `manage.py media_relay` and `manage.py hls_worker`, as `make run` starts
them, told what to render by a Broadcast row; an aiortc host publishes into the relay."""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from liveshop.tenancy.scope import tenant_scope
from media.hls import services
from media.hls.models import Broadcast, BroadcastStatus
from media.relay.registry import LocalDirectory, RedisDirectory, RelayPool
from rooms.models import RoomStatus
from tests.factories import RoomFactory
from tests.media.clients import run
from tests.media.hls import m3u8check
from tests.media.hls.helpers import HI, LO, TonePublisher, hls_setting_dict

pytestmark = [pytest.mark.pg, pytest.mark.django_db(transaction=True)]


def db_url() -> str:
    db = settings.DATABASES["default"]
    return f"postgres://postgres@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def child_env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(
        DJANGO_SETTINGS_MODULE="liveshop.settings",
        DATABASE_URL=db_url(),  # the test database, as the app role (RLS on)
        LIVESHOP_DB_CONNECT_AS_APP="1",
        LIVESHOP_REDIS_PREFIX=settings.LIVESHOP_REDIS_PREFIX,
        LIVESHOP_ICE_LOOPBACK="1",
        LIVESHOP_MEDIA_RELAY_LISTEN=f"unix:{tmp}/relay.sock",
        LIVESHOP_HLS="1",
        LIVESHOP_HLS_ROOT=str(tmp / "hls"),
        LIVESHOP_HLS_RENDITIONS=json.dumps([HI.as_dict(), LO.as_dict()]),
        LIVESHOP_HLS_FPS="15",
        LIVESHOP_HLS_SEGMENT_SECONDS="1",
        LIVESHOP_HLS_THREADS="1",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


def wait_line(proc: subprocess.Popen[str], needle: str, timeout: float = 30) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            line = proc.stdout.readline()
            seen.append(line)
            if needle in line:
                return line.strip()
        if proc.poll() is not None:
            break
    raise AssertionError(f"no {needle!r}: {''.join(seen)}")


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[dict[str, subprocess.Popen[str]]]:
    manage = str(settings.BASE_DIR / "manage.py")
    env = child_env(tmp_path)
    procs = {
        "relay": subprocess.Popen(
            [sys.executable, manage, "media_relay", "--relay-id", "hls-proc-relay"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    }
    try:
        wait_line(procs["relay"], " listening on ")
        procs["worker"] = subprocess.Popen(
            [sys.executable, manage, "hls_worker", "--worker-id", "proc-worker"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        wait_line(procs["worker"], "hls worker proc-worker running")
        yield procs
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)


def test_hls_worker_process_renders_a_live_room_and_ends_it(
    processes: dict[str, subprocess.Popen[str]],
    tmp_path: Path,
    settings: Any,
    client: Any,
    merchant: Any,
    host: Any,
) -> None:
    settings.LIVESHOP_HLS = hls_setting_dict(tmp_path / "hls")
    room = RoomFactory(merchant=merchant, host=host, slug="launch", status=RoomStatus.LIVE)
    broadcast = services.broadcast_start(merchant=merchant, room=room)
    session = f"room:{merchant.id}:{room.id}"
    folder = tmp_path / "hls" / str(merchant.id) / str(room.id)
    live = folder / broadcast.epoch / "hi" / "live.m3u8"

    async def scenario() -> None:
        directory = (
            RedisDirectory(settings.REDIS_URL, settings.LIVESHOP_REDIS_PREFIX)
            if settings.REDIS_URL
            else LocalDirectory(f"unix:{tmp_path}/relay.sock")
        )
        pool = RelayPool(directory, secret=settings.LIVESHOP_MEDIA_RELAY_SECRET)
        client_ = await pool.client_for(session)
        host_pub = TonePublisher(client_, session, "host-ws", f"user:{host.pk}", level=90)
        try:
            await host_pub.start()
            deadline = time.monotonic() + 30
            while True:
                if live.exists() and len(m3u8check.media(live.read_text()).segments) >= 3:
                    break
                assert time.monotonic() < deadline, "the worker wrote no segments"
                await asyncio.sleep(0.2)
            status = await client_.status()
            assert status["peer_connections"] == 2  # the host and the worker
        finally:
            await host_pub.close()
            await pool.close()

    run(scenario(), timeout=60)

    response = client.get(f"/hls/{merchant.slug}/{room.slug}/master.m3u8")
    assert response.status_code == 200
    variants = m3u8check.master(b"".join(response.streaming_content).decode())
    assert [v.resolution for v in variants] == [(320, 180), (160, 90)]

    services.broadcast_stop(merchant=merchant, room=room)
    deadline = time.monotonic() + 20
    while True:
        with tenant_scope(merchant.id):
            row = Broadcast.objects.get(pk=broadcast.pk)
        if row.status == BroadcastStatus.ENDED:
            break
        assert time.monotonic() < deadline, "the worker did not end the broadcast"
        time.sleep(0.2)
    assert row.segments >= 3 and row.started_at is not None and not row.error
    assert m3u8check.media(live.read_text()).ended

    worker = processes["worker"]
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(15) == 0
    assert worker.stdout is not None and "stopped" in worker.stdout.read()
