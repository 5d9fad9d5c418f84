"""Broadcast reads for pages: the room's live HLS URL and its recordings. Merchant-scoped;
public data only (a room's HLS is as public as its storefront page)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from django.urls import reverse

from liveshop.tenancy.models import Merchant
from rooms.models import Room, RoomEvent, RoomStatus

from .config import hls_settings
from .models import Broadcast, BroadcastStatus
from .output import room_dir


def live_broadcast(*, merchant: Merchant, room: Room) -> Broadcast | None:
    """The room's broadcast being rendered now, if any."""
    return (
        Broadcast.objects.filter(merchant=merchant, room=room, status=BroadcastStatus.ACTIVE)
        .order_by("-id")
        .first()
    )


def hls_live_url(*, merchant: Merchant, room: Room) -> str | None:
    """The room's HLS master playlist (a stable URL for the whole show), or None when the
    room is not live, not rendered, or its first segment is not written yet."""
    if room.status != RoomStatus.LIVE or live_broadcast(merchant=merchant, room=room) is None:
        return None
    master = room_dir(hls_settings().root, merchant.id, room.id) / "master.m3u8"
    if not master.exists():
        return None
    return reverse(
        "hls:file", kwargs={"m": merchant.slug, "room": room.slug, "path": "master.m3u8"}
    )


def recordings(*, merchant: Merchant, room: Room) -> QuerySet[Broadcast]:
    """The room's finished recordings, newest first."""
    return Broadcast.objects.filter(
        merchant=merchant,
        room=room,
        record=True,
        status=BroadcastStatus.ENDED,
        segments__gt=0,
    ).order_by("-id")


def recording_get(*, merchant: Merchant, room: Room, epoch: str) -> Broadcast:
    broadcast = recordings(merchant=merchant, room=room).filter(epoch=epoch).first()
    if broadcast is None:
        raise Http404("No such recording.")
    return broadcast


def recording_url(broadcast: Broadcast) -> str:
    return reverse(
        "hls:file",
        kwargs={
            "m": broadcast.merchant.slug,
            "room": broadcast.room.slug,
            "path": f"{broadcast.epoch}/replay.m3u8",
        },
    )


@dataclass(frozen=True)
class RecordingTimeline:
    """Maps wall-clock times (room events: pins, purchases) to positions in the recording,
    across gaps where the worker was down (discontinuities)."""

    segments: tuple[tuple[float, float, float], ...]  # (media start, wall start, duration)

    def offset_at(self, when: datetime) -> float | None:
        """Seconds into the recording when `when` was on stage; None if outside it."""
        ts = when.timestamp()
        for media_start, wall_start, duration in self.segments:
            if wall_start <= ts < wall_start + duration:
                return round(media_start + (ts - wall_start), 3)
        return None


def recording_timeline(broadcast: Broadcast) -> RecordingTimeline:
    path: Path = (
        room_dir(hls_settings().root, broadcast.merchant_id, broadcast.room_id)
        / broadcast.epoch
        / "recording.json"
    )
    try:
        manifest: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise Http404("The recording's manifest is missing.") from exc
    rows = tuple(
        (float(row[1]), float(row[2]), float(row[3])) for row in manifest.get("segments", [])
    )
    return RecordingTimeline(rows)


def room_replay(*, merchant: Merchant, room: Room) -> dict[str, Any] | None:
    """The ended room's latest recording for its replay: the VOD playlist and the line-up as
    chapters (each product the host pinned, at its moment in the recording). None when the
    show was not recorded."""
    broadcast = recordings(merchant=merchant, room=room).select_related("merchant", "room").first()
    if broadcast is None:
        return None
    try:
        timeline = recording_timeline(broadcast)
    except Http404:
        return None
    chapters: list[dict[str, Any]] = []
    pins = RoomEvent.objects.filter(merchant=merchant, room=room, type="product.pinned").order_by(
        "seq"
    )
    for data in pins.values_list("data", flat=True)[:500]:
        product = data.get("product") if isinstance(data, dict) else None
        if not isinstance(product, dict) or data.get("replay"):
            continue
        offset = timeline.offset_at(datetime.fromtimestamp(int(data["ts"]) / 1000, tz=UTC))
        if offset is not None:
            chapters.append({"offset": offset, "product": product})
    return {"url": recording_url(broadcast), "chapters": chapters}
