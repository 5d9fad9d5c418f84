"""WHIP ingest (RFC 9725): OBS and other encoders publish a room's video over HTTP.

    POST   /whip/<m>/<room>              Authorization: Bearer <stream key>
           Content-Type: application/sdp, body: the encoder's offer (all candidates in it)
           → 201, Location: /whip/<m>/<room>/<resource>, body: the relay's answer
             (application/sdp), one `Link: <…>; rel="ice-server"` per STUN/TURN URL
    DELETE /whip/<m>/<room>/<resource>   (same Bearer key) → 200: the stream ends
    PATCH  /whip/<m>/<room>/<resource>   → 405: no trickle ICE or ICE restart; an encoder
           that lost its connection POSTs again, and within the relay's grace period its
           viewers resume without renegotiating (the same publisher identity as the host's).

The stream key is the room's (media.services.stream_key_create); the encoder publishes as
the room's host, so browser and encoder publishing take over from each other. Errors are
the API envelope `{"error": {"code", "message"}}` with 400 (bad SDP), 401 (missing or wrong
key, with `WWW-Authenticate: Bearer`), 403 (the host may no longer publish, plan limit),
404 (unknown merchant or room), 409 (room ended), 413, 415, 429 and 503 (relay busy or down,
with Retry-After).
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from asgiref.sync import sync_to_async
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from liveshop import ratelimit
from liveshop.errors import DomainError
from liveshop.tenancy.access import access_merchant, merchant_get
from liveshop.tenancy.scope import tenant_scope
from rooms.models import Room, RoomStatus

from .access import room_may_publish, room_session_key, user_identity
from .ice import ice_servers, link_headers
from .models import StreamKey
from .relay.config import SDP_MAX_BYTES
from .relay.protocol import RelayError
from .relay.registry import RelayPool, relay_pool
from .services import stream_key_check, stream_key_started, whip_peer

log = logging.getLogger("liveshop.media.whip")

RESOURCE = re.compile(r"^[0-9a-f]{32}$")
POST_RATE = ratelimit.rate_parse("20/min")  # per room: an encoder retrying in a loop
BUSY_CODES = {"unavailable", "busy", "relay_full"}
STATUS_FOR = {
    "sdp_invalid": 400,
    "sdp_too_large": 413,
    "codec_unsupported": 400,
    "bad_request": 400,
    "publisher_limit": 409,
    "profile_mismatch": 409,
}


def whip_pool() -> RelayPool:
    """The relay pool WHIP requests use (tests point it at their own relay)."""
    return relay_pool()


def _error(status: int, code: str, message: str, **headers: str) -> HttpResponse:
    response = JsonResponse({"error": {"code": code, "message": message}}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _unauthorized(message: str = "Send the room's stream key as a Bearer token.") -> HttpResponse:
    return _error(401, "unauthorized", message, WWW_Authenticate='Bearer realm="whip"')


def _bearer(request: HttpRequest) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _room_and_key(m: str, slug: str, raw: str, *, any_key: bool = False) -> tuple[Room, StreamKey]:
    """The room and the key that authorises this request; Http404 or PermissionError."""
    merchant = merchant_get(m)
    with tenant_scope(merchant.id):
        room = (
            Room.objects.select_related("merchant", "host")
            .filter(merchant=merchant, slug=slug)
            .first()
        )
        if room is None:
            raise Http404("No such room.")
        if any_key:
            # Ending a stream: a key revoked since it started may still stop it.
            from liveshop.opaque import opaque_hash

            key = StreamKey.objects.filter(
                merchant=merchant, room=room, key_hash=opaque_hash(raw[:200])
            ).first()
        else:
            key = stream_key_check(merchant=merchant, room=room, raw=raw)
        if key is None:
            raise PermissionError("wrong key")
        return room, key


def _may_publish(room: Room) -> bool:
    with tenant_scope(room.merchant_id):
        return room_may_publish(room=room, user=room.host)


def _go_live(room: Room) -> None:
    """The encoder's offer was answered: a scheduled room goes live (rooms.services owns the
    change, its plan limit and its room.state event)."""
    from rooms.services import room_go_live

    if room.status != RoomStatus.SCHEDULED:
        return
    actor = access_merchant(principal=room.host, slug=room.merchant.slug)
    room_go_live(actor=actor, room=room)


@csrf_exempt  # an encoder, not a browser form: authorised by the Bearer stream key alone
async def whip_endpoint(request: HttpRequest, m: str, room: str) -> HttpResponse:
    if request.method == "OPTIONS":
        response = HttpResponse(status=204)
        response["Allow"] = "POST, OPTIONS"
        response["Accept-Post"] = "application/sdp"
        return response
    if request.method != "POST":
        return _error(405, "method_not_allowed", "POST an SDP offer.", Allow="POST, OPTIONS")
    if request.content_type != "application/sdp":
        return _error(415, "unsupported_media_type", "Send the offer as application/sdp.")
    try:
        length = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        length = 0
    if length > SDP_MAX_BYTES:
        return _error(413, "sdp_too_large", f"SDP is limited to {SDP_MAX_BYTES} bytes.")
    raw_key = _bearer(request)
    if raw_key is None:
        return _unauthorized()
    try:
        the_room, key = await sync_to_async(_room_and_key)(m, room, raw_key)
    except Http404:
        return _error(404, "not_found", "No such room.")
    except PermissionError:
        return _unauthorized("This stream key is not valid for this room.")
    if not await sync_to_async(ratelimit.hit)(POST_RATE, "whip", str(the_room.pk)):
        return _error(429, "rate_limited", "Too many attempts; wait a minute.", Retry_After="60")
    if the_room.status == RoomStatus.ENDED:
        return _error(409, "room_ended", "This room has ended.")
    if not await sync_to_async(_may_publish)(the_room):
        return _error(403, "publish_forbidden", "The room's host may not publish any more.")
    body = request.body
    if len(body) > SDP_MAX_BYTES:
        return _error(413, "sdp_too_large", f"SDP is limited to {SDP_MAX_BYTES} bytes.")
    try:
        sdp = body.decode("utf-8")
    except UnicodeDecodeError:
        return _error(400, "sdp_invalid", "The offer is not UTF-8 text.")
    if not sdp.startswith("v=0"):
        return _error(400, "sdp_invalid", "The body is not an SDP offer.")

    resource = uuid.uuid4().hex
    session = room_session_key(the_room)
    pool = whip_pool()
    try:
        client, events, reply = await pool.offer(
            session=session,
            peer=whip_peer(resource),
            role="publish",
            sdp=sdp,
            identity=user_identity(the_room.host_id),
            profile="room",
            detached=True,  # survives this request and this web process
        )
    except RelayError as exc:
        if exc.code in BUSY_CODES or exc.code == "moved":
            return _error(503, "unavailable", "Video is busy or down; retry.", Retry_After="5")
        return _error(STATUS_FOR.get(exc.code, 400), exc.code, exc.message)
    events.close()  # nobody reads a WHIP peer's events: the encoder has no channel for them
    try:
        await sync_to_async(_go_live)(the_room)
    except DomainError as exc:  # the plan allows no more live rooms: take the stream down
        await _leave(client, session, resource)
        return _error(exc.status, exc.code, exc.message)
    await sync_to_async(stream_key_started)(key=key, resource=resource)

    response = HttpResponse(reply["sdp"], status=201, content_type="application/sdp")
    response["Location"] = f"/whip/{m}/{room}/{resource}"
    links = link_headers(ice_servers(user_key=str(the_room.host_id)))
    if links:
        response["Link"] = ", ".join(links)
    log.info("WHIP stream %s started in room %s", resource, the_room.pk)
    return response


async def _leave(client: Any, session: str, resource: str) -> None:
    try:
        await client.leave(session=session, peer=whip_peer(resource), reason="bye")
    except RelayError as exc:
        log.warning("WHIP resource %s: leave failed: %s", resource, exc)


@csrf_exempt
async def whip_resource(request: HttpRequest, m: str, room: str, resource: str) -> HttpResponse:
    allow = "DELETE, OPTIONS"
    if request.method == "OPTIONS":
        response = HttpResponse(status=204)
        response["Allow"] = allow
        return response
    if request.method == "PATCH":
        # RFC 9725 §4.3: a session without trickle ICE / ICE restarts answers 405.
        return _error(
            405, "method_not_allowed", "No trickle ICE or ICE restart: POST again.", Allow=allow
        )
    if request.method != "DELETE":
        return _error(405, "method_not_allowed", "DELETE ends the stream.", Allow=allow)
    if not RESOURCE.match(resource):
        return _error(404, "not_found", "No such stream.")
    raw_key = _bearer(request)
    if raw_key is None:
        return _unauthorized()
    try:
        the_room, _key = await sync_to_async(_room_and_key)(m, room, raw_key, any_key=True)
    except Http404:
        return _error(404, "not_found", "No such room.")
    except PermissionError:
        return _unauthorized("This stream key is not valid for this room.")
    session = room_session_key(the_room)
    try:
        client = await whip_pool().client_for(session)
        # Detached peers may be ended from any web process; leaving twice is fine.
        await client.leave(session=session, peer=whip_peer(resource), reason="bye")
    except RelayError as exc:
        if exc.code in BUSY_CODES:
            return _error(503, "unavailable", "Video is busy or down; retry.", Retry_After="5")
        return _error(400, exc.code, exc.message)
    return HttpResponse(status=200)
