"""Broadcast rows as the worker's instructions (services, claims and leases), the serving
view (headers, access), and a worker rendering a room end to end through a real relay."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connections
from django.utils import timezone

from liveshop.errors import Conflict, DomainError
from liveshop.tenancy.scope import tenant_scope
from media.access import room_session_key
from media.hls import jobs, selectors, services
from media.hls.apps import HlsConfig
from media.hls.config import hls_settings
from media.hls.models import Broadcast, BroadcastStatus
from media.hls.pipeline import Job
from media.hls.worker import HlsWorker
from media.relay.registry import LocalDirectory, RelayPool
from rooms.models import RoomStatus
from tests.factories import RoomFactory
from tests.media.clients import relay_harness, run
from tests.media.hls import m3u8check
from tests.media.hls.helpers import TonePublisher, hls_setting_dict, render_synthetic, wait_for

M3U8 = "application/vnd.apple.mpegurl"


@pytest.fixture
def hls(settings: Any, tmp_path: Path) -> Path:
    settings.LIVESHOP_HLS = hls_setting_dict(tmp_path)
    return tmp_path


@pytest.fixture
def room(merchant: Any, host: Any) -> Any:
    return RoomFactory(merchant=merchant, host=host, slug="launch", status=RoomStatus.LIVE)


def as_job(broadcast: Broadcast) -> Job:
    return Job(
        broadcast.pk,
        broadcast.merchant_id,
        broadcast.room_id,
        broadcast.epoch,
        broadcast.record,
        broadcast.host_identity,
    )


def reload(broadcast: Broadcast) -> Broadcast:
    with tenant_scope(broadcast.merchant_id):
        return Broadcast.objects.get(pk=broadcast.pk)


async def in_thread(fn: Any, **kwargs: Any) -> Any:
    """Run database code from the scenario's event loop, on a thread that closes its
    connection afterwards (the test database is dropped at the end of the run)."""

    def call() -> Any:
        try:
            return fn(**kwargs)
        finally:
            connections.close_all()

    return await asyncio.get_running_loop().run_in_executor(None, call)


# --- services ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_broadcast_start_needs_hls_and_a_live_room(
    settings: Any, hls: Path, merchant: Any, other_merchant: Any, room: Any, host: Any
) -> None:
    started = services.broadcast_start(merchant=merchant, room=room, record=True)
    assert started.status == BroadcastStatus.ACTIVE and started.record
    assert started.host_identity == f"user:{host.pk}"
    # The worker subscribes to the session the media consumer publishes into.
    assert as_job(started).session == room_session_key(room)
    again = services.broadcast_start(merchant=merchant, room=room, record=False)
    assert again.pk == started.pk and again.record  # idempotent, keeps its choice
    with pytest.raises(DomainError) as foreign:
        services.broadcast_start(merchant=other_merchant, room=room)
    assert foreign.value.status == 404
    scheduled = RoomFactory(merchant=merchant, status=RoomStatus.SCHEDULED)
    with pytest.raises(Conflict) as not_live:
        services.broadcast_start(merchant=merchant, room=scheduled)
    assert not_live.value.code == "room_not_live"

    stopping = services.broadcast_stop(merchant=merchant, room=room)
    assert stopping is not None and stopping.status == BroadcastStatus.STOPPING
    assert services.broadcast_stop(merchant=merchant, room=room).pk == started.pk  # type: ignore[union-attr]
    assert services.broadcast_stop(merchant=merchant, room=scheduled) is None
    with tenant_scope(merchant.id):
        assert selectors.live_broadcast(merchant=merchant, room=room) is None

    settings.LIVESHOP_HLS = {**settings.LIVESHOP_HLS, "ENABLED": False}
    with pytest.raises(DomainError) as off:
        services.broadcast_start(merchant=merchant, room=room)
    assert off.value.code == "hls_disabled"


@pytest.mark.django_db
def test_claims_are_exclusive_and_a_dead_workers_lease_is_taken_over(
    hls: Path, merchant: Any, other_merchant: Any, room: Any
) -> None:
    rival_room = RoomFactory(merchant=other_merchant, status=RoomStatus.LIVE)
    one = services.broadcast_start(merchant=merchant, room=room)
    two = services.broadcast_start(merchant=other_merchant, room=rival_room)
    a = jobs.claim(worker="a", running=set(), capacity=1, lease=30)
    b = jobs.claim(worker="b", running=set(), capacity=1, lease=30)
    assert [c.job.broadcast_id for c in a] == [one.pk]  # across merchants (platform job)
    assert [c.job.broadcast_id for c in b] == [two.pk]
    assert jobs.claim(worker="c", running=set(), capacity=4, lease=30) == []
    assert [
        c.job.broadcast_id for c in jobs.claim(worker="a", running={one.pk}, capacity=4, lease=30)
    ] == [one.pk]
    # Worker a stops renewing: after its lease, another worker takes the broadcast over.
    with tenant_scope(merchant.id):
        Broadcast.objects.filter(pk=one.pk).update(
            lease_until=timezone.now() - timedelta(seconds=1)
        )
    taken = jobs.claim(worker="c", running=set(), capacity=4, lease=30)
    assert [c.job.broadcast_id for c in taken] == [one.pk]
    assert not jobs.finish(worker="a", job=taken[0].job, summary={})  # no longer a's
    # Ending a show: the holder sees it stopping (whatever its capacity) and ends it.
    services.broadcast_stop(merchant=merchant, room=room)
    (stopping,) = jobs.claim(worker="c", running={1, 2, 3, 4}, capacity=4, lease=30)
    assert stopping.stopping
    summary = {"segments": 7, "started_at": 1_800_000_000.0, "duration": 7.0}
    assert jobs.finish(worker="c", job=stopping.job, summary=summary)
    ended = reload(one)
    assert ended.status == BroadcastStatus.ENDED and ended.segments == 7 and ended.worker == ""
    assert ended.started_at is not None and ended.started_at.timestamp() == 1_800_000_000.0
    # An unrecorded show's files are deleted once players are done with it.
    assert jobs.purgeable(age=3600) == []
    assert [j.broadcast_id for j in jobs.purgeable(age=-1)] == [one.pk]
    jobs.mark_purged(jobs.purgeable(age=-1)[0])
    assert jobs.purgeable(age=-1) == []


def test_make_run_starts_the_worker_only_when_hls_is_on(settings: Any, tmp_path: Path) -> None:
    config = HlsConfig("media.hls", __import__("media.hls"))
    settings.LIVESHOP_HLS = {**hls_setting_dict(tmp_path), "ENABLED": False}
    assert config.serve_processes(python="/py", host="127.0.0.1", port=8000) == []
    with pytest.raises(CommandError):
        call_command("hls_worker")
    settings.LIVESHOP_HLS = hls_setting_dict(tmp_path)
    ((name, argv),) = config.serve_processes(python="/py", host="127.0.0.1", port=8000)
    assert name == "hls" and argv[0] == "/py" and argv[-1] == "hls_worker"
    settings.LIVESHOP_HLS = {**hls_setting_dict(tmp_path), "FPS": 7}
    with pytest.raises(CommandError):
        call_command("hls_worker")


# --- serving ----------------------------------------------------------------------------


def url(merchant: Any, room: Any, path: str) -> str:
    return f"/hls/{merchant.slug}/{room.slug}/{path}"


@pytest.mark.django_db
def test_serving_live_hls_with_cache_headers_and_404s(
    client: Any, hls: Path, merchant: Any, other_merchant: Any, room: Any
) -> None:
    broadcast = services.broadcast_start(merchant=merchant, room=room)
    render_synthetic(hls_settings(), as_job(broadcast), 2.5, final=False)
    epoch = broadcast.epoch

    master = client.get(url(merchant, room, "master.m3u8"))
    assert master.status_code == 200 and master["Content-Type"] == M3U8
    assert master["Cache-Control"] == "public, max-age=5"
    assert master["Access-Control-Allow-Origin"] == "*"
    variants = m3u8check.master(b"".join(master.streaming_content).decode())
    assert variants[0].uri == f"{epoch}/hi/live.m3u8"
    with tenant_scope(merchant.id):
        assert selectors.hls_live_url(merchant=merchant, room=room) == url(
            merchant, room, "master.m3u8"
        )

    playlist = client.get(url(merchant, room, variants[0].uri))
    assert playlist.status_code == 200 and playlist["Cache-Control"] == "public, max-age=1"
    media = m3u8check.media(b"".join(playlist.streaming_content).decode())
    segment = client.get(url(merchant, room, f"{epoch}/hi/{media.segments[0].uri}"))
    assert segment.status_code == 200 and segment["Content-Type"] == "video/mp2t"
    assert segment["Cache-Control"] == "public, max-age=31536000, immutable"
    body = b"".join(segment.streaming_content)
    assert body[0] == 0x47 and len(body) % 188 == 0  # MPEG-TS packets
    assert (
        client.head(url(merchant, room, f"{epoch}/hi/{media.segments[0].uri}")).status_code == 200
    )
    again = client.get(
        url(merchant, room, f"{epoch}/hi/{media.segments[0].uri}"),
        HTTP_IF_MODIFIED_SINCE=segment["Last-Modified"],
    )
    assert again.status_code == 304

    missing = [
        f"/hls/{other_merchant.slug}/{room.slug}/master.m3u8",  # the room under another merchant
        "/hls/nosuchmerchant/launch/master.m3u8",
        url(merchant, type("R", (), {"slug": "nosuchroom"}), "master.m3u8"),
        url(merchant, room, f"{epoch}/hi/seg999999.ts"),  # not written
        url(merchant, room, "20200101T000000-000000/master.m3u8"),  # no such broadcast
        url(merchant, room, f"{epoch}/epoch.json"),  # internal files are not served
        url(merchant, room, f"{epoch}/segments.jsonl"),
        url(merchant, room, f"{epoch}/hi/../../master.m3u8"),
        url(merchant, room, "../launch/master.m3u8"),
    ]
    for path in missing:
        assert client.get(path).status_code == 404, path
    assert client.post(url(merchant, room, "master.m3u8")).status_code == 405

    # The show ends, unrecorded: its room master goes, the files shortly after.
    services.broadcast_stop(merchant=merchant, room=room)
    (claimed,) = jobs.claim(worker="w", running=set(), capacity=1, lease=10)
    jobs.finish(worker="w", job=claimed.job, summary={"segments": 3})
    assert client.get(url(merchant, room, "master.m3u8")).status_code == 404
    assert client.get(url(merchant, room, variants[0].uri)).status_code == 200  # players finish
    with tenant_scope(merchant.id):
        Broadcast.objects.filter(pk=broadcast.pk).update(
            ended_at=timezone.now() - timedelta(hours=1)
        )
    assert client.get(url(merchant, room, variants[0].uri)).status_code == 404


@pytest.mark.django_db
def test_nginx_serves_the_file_after_the_view_checked_access(
    client: Any, settings: Any, hls: Path, merchant: Any, room: Any
) -> None:
    settings.LIVESHOP_HLS = {**settings.LIVESHOP_HLS, "ACCEL_REDIRECT": "/_hls/"}
    broadcast = services.broadcast_start(merchant=merchant, room=room)
    render_synthetic(hls_settings(), as_job(broadcast), 1.5, final=False)
    response = client.get(url(merchant, room, f"{broadcast.epoch}/lo/live.m3u8"))
    assert response.status_code == 200 and response.content == b""
    assert (
        response["X-Accel-Redirect"]
        == f"/_hls/{merchant.id}/{room.id}/{broadcast.epoch}/lo/live.m3u8"
    )
    assert response["Cache-Control"] == "public, max-age=1"


# --- the worker, end to end -------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_worker_records_a_show_that_the_replay_can_play_with_its_timeline(
    client: Any, hls: Path, merchant: Any, room: Any, host: Any
) -> None:
    broadcast = services.broadcast_start(merchant=merchant, room=room, record=True)
    session = f"room:{merchant.id}:{room.id}"
    worker_box: list[HlsWorker] = []

    async def scenario() -> None:
        async with relay_harness() as h:
            pool = RelayPool(LocalDirectory(h.address))
            worker = HlsWorker(hls_settings(), worker_id="test-worker", pool=pool)
            worker_box.append(worker)
            stop = asyncio.Event()
            running = asyncio.ensure_future(worker.run(stop))
            publisher = TonePublisher(h.client, session, "host-ws", f"user:{host.pk}", level=80)
            h.closing.append(publisher)
            await publisher.start()
            await wait_for(lambda: broadcast.pk in worker.runs, 10, "the claim")
            run_ = worker.runs[broadcast.pk]
            await wait_for(lambda: run_.writer.next_seq >= 3, 15, "segments")
            for _ in range(50):  # a poll reports progress on the row
                row = await in_thread(reload, broadcast=broadcast)
                if row.segments >= 2:
                    break
                await asyncio.sleep(0.2)
            assert row.worker == "test-worker" and row.segments >= 2 and row.started_at
            await in_thread(services.broadcast_stop, merchant=merchant, room=room)
            await wait_for(lambda: broadcast.pk in worker.finished, 10, "the end")
            stop.set()
            await running
            await pool.close()

    run(scenario(), timeout=60)

    row = reload(broadcast)
    assert row.status == BroadcastStatus.ENDED and row.is_recording and not row.error
    assert row.duration is not None and row.duration >= 3 and row.segments >= 3
    with tenant_scope(merchant.id):
        assert list(selectors.recordings(merchant=merchant, room=room)) == [row]
        replay = selectors.recording_url(
            selectors.recording_get(merchant=merchant, room=room, epoch=row.epoch)
        )
        timeline = selectors.recording_timeline(row)
    assert row.started_at is not None
    assert timeline.offset_at(row.started_at + timedelta(seconds=1.5)) == pytest.approx(
        1.5, abs=0.01
    )
    assert timeline.offset_at(row.started_at - timedelta(seconds=5)) is None
    response = client.get(replay)
    assert response.status_code == 200
    (hi, _lo) = m3u8check.master(b"".join(response.streaming_content).decode())
    vod_response = client.get(replay.replace("replay.m3u8", hi.uri))
    assert vod_response["Cache-Control"] == "public, max-age=86400"  # finished: cacheable
    vod = m3u8check.media(b"".join(vod_response.streaming_content).decode())
    assert vod.ended and vod.playlist_type == "VOD" and len(vod.segments) == row.segments
    assert vod.duration == pytest.approx(row.duration, abs=0.01)
    # The room is no longer rendered; the worker's relay leg is gone.
    assert worker_box[0].runs == {}
