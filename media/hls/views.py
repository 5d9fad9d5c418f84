"""Serving HLS: playlists and segments, with the cache headers a CDN or nginx needs.

    /hls/<m>/<room>/master.m3u8                          the live show (stable for the room)
    /hls/<m>/<room>/<epoch>/master.m3u8                  one broadcast, live
    /hls/<m>/<room>/<epoch>/replay.m3u8                  one broadcast, recorded (VOD)
    /hls/<m>/<room>/<epoch>/<rendition>/live.m3u8 | replay.m3u8 | seg000123.ts

Access follows the room: a live room's HLS is as public as its storefront page; a recording
is public once recorded; an unrecorded show's files disappear shortly after it ends. Consults
are never rendered. Unknown merchants, rooms, broadcasts and files are 404, and so is a room
asked for under another merchant's slug.

Segments never change once written (immutable, cached a year); live playlists change every
segment (cached a second); finished playlists are cached for a day.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseNotModified
from django.http.response import HttpResponseBase
from django.utils import timezone
from django.utils.http import http_date
from django.views.decorators.http import require_safe
from django.views.static import was_modified_since

from liveshop.tenancy.decorators import storefront_view
from rooms.models import RoomStatus
from rooms.selectors import room_get

from .config import hls_settings
from .models import Broadcast, BroadcastStatus
from .output import room_dir

PATH_RE = re.compile(
    r"^(?:master\.m3u8|(?P<epoch>\d{8}T\d{6}-[0-9a-f]{6})/"
    r"(?:(?:master|replay)\.m3u8|[a-z0-9][a-z0-9_-]{0,15}/(?:(?:live|replay)\.m3u8|seg\d{6}\.ts)))$"
)
M3U8 = "application/vnd.apple.mpegurl"
SEGMENT_CACHE = "public, max-age=31536000, immutable"
LIVE_CACHE = "public, max-age=1"
MASTER_CACHE = "public, max-age=5"
FINISHED_CACHE = "public, max-age=86400"
AFTER_END = timedelta(minutes=2)  # players finishing an unrecorded show may still load it


def _cache_control(path: str, file: Path) -> str:
    if path.endswith(".ts"):
        return SEGMENT_CACHE
    if path.endswith(("/live.m3u8", "/replay.m3u8")):
        with open(file, "rb") as handle:
            handle.seek(max(0, file.stat().st_size - 64))
            ended = b"#EXT-X-ENDLIST" in handle.read()
        return FINISHED_CACHE if ended else LIVE_CACHE
    return MASTER_CACHE


@require_safe
@storefront_view
def hls_file(request: HttpRequest, room: str, path: str) -> HttpResponse:
    merchant = request.merchant  # type: ignore[attr-defined]
    match = PATH_RE.match(path)
    if match is None:
        raise Http404("No such file.")
    room_obj = room_get(merchant=merchant, slug=room)
    epoch = match["epoch"]
    if epoch is None:
        live = Broadcast.objects.filter(
            merchant=merchant, room=room_obj, status=BroadcastStatus.ACTIVE
        ).exists()
        if room_obj.status != RoomStatus.LIVE or not live:
            raise Http404("This room is not live.")
    else:
        broadcast = Broadcast.objects.filter(merchant=merchant, room=room_obj, epoch=epoch).first()
        if broadcast is None:
            raise Http404("No such broadcast.")
        gone = broadcast.ended_at is None or timezone.now() - broadcast.ended_at > AFTER_END
        if broadcast.status == BroadcastStatus.ENDED and not broadcast.record and gone:
            raise Http404("This show was not recorded.")
    settings = hls_settings()
    file = room_dir(settings.root, merchant.id, room_obj.id) / path
    try:
        stat = file.stat()
    except OSError:
        raise Http404("Not written (yet).") from None
    headers = {
        "Cache-Control": _cache_control(path, file),
        "Access-Control-Allow-Origin": "*",
        "Last-Modified": http_date(stat.st_mtime),
    }
    content_type = M3U8 if path.endswith(".m3u8") else "video/mp2t"
    if not was_modified_since(request.META.get("HTTP_IF_MODIFIED_SINCE"), int(stat.st_mtime)):
        response: HttpResponseBase = HttpResponseNotModified()
    elif settings.accel_redirect:
        # nginx sends the file from an internal location aliasing the HLS root.
        response = HttpResponse(content_type=content_type)
        response["X-Accel-Redirect"] = (
            f"{settings.accel_redirect}{merchant.id}/{room_obj.id}/{path}"
        )
    else:
        response = FileResponse(open(file, "rb"), content_type=content_type)  # noqa: SIM115
    for name, value in headers.items():
        response[name] = value
    return response  # type: ignore[return-value]  # FileResponse is an HttpResponseBase
