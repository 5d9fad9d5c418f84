"""The consult socket `/ws/consults/<m>/<id>/` (contract: ../shared/ARCHITECTURE.md).

Same rules as every LiveShop socket (liveshop/ws.py: frames ≤ 64 KiB else 1009, unknown
merchant 4404, Origin 4403, refused frames → `error`), plus: it admits only the consult's
parties — the shopper, the agent who accepted it, and a silent supervisor (owner/admin) —
each proving it with a join token in the first frame, `{"type":"auth","token":…}`. Session
cookies admit nobody here. A missing, expired, reused or other consult's token → `error`
and close 4401; no `auth` within AUTH_TIMEOUT_S → 4401 as well.

After `auth.ok` the server sends `consult.state` (a snapshot: status, parties, chat so far,
pushed products, the cart, consent), then live frames: `queue {position, eta_s}` while
waiting, `consult.accepted {agent}`, `chat.message`, `product.pushed {product}`,
`cart.updated {order}`, `recording.consent {…, granted, recording}`, `media.state` (a
party's camera/mic), `consult.ended {reason}` (then the socket closes with 1000); and the
signalling frames of media/signalling.py (`answer`, `offer`, `state`, `closed`,
`publisher.*`), each naming the `party` behind a relay identity.

Client frames: `chat.send {text, nonce}` (shopper: also while waiting), `product.push
{product, nonce}` (agent), `recording.consent {granted}` (either party), `media.state
{video: camera|screen|off, audio: bool}` (either party), and signalling once the call is on:
`offer {sdp, role: publish|subscribe}` → `answer {sdp, role, tracks}`, `answer {sdp}` to the
relay's own `offer`, `ice {candidate, …}`, `leave`. Supervisors may only subscribe.
Frame floods close the socket with 4429; chat beyond its rate gets `error rate_limited`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils.translation import gettext

from liveshop import ratelimit
from liveshop.errors import DomainError
from liveshop.ws import Close, FrameError, TenantConsumer
from media.ice import ice_servers
from media.relay.registry import RelayPool, relay_pool
from media.signalling import MediaGrant, SignallingMixin

from . import events, services
from .models import OPEN_STATUSES, QUEUED_STATUSES, ConsultStatus

log = logging.getLogger("liveshop.consults.ws")

AUTH_TIMEOUT_S = 10.0
VIDEO_STATES = ("camera", "screen", "off")

# The relay pool consult sockets signal through (tests point it at an in-process relay).
pool_factory: Any = relay_pool


def session_key(merchant_id: int, consult_id: int) -> str:
    """The consult's relay session (profile `consult`: the two parties publish, up to three
    viewers: the parties and a silent supervisor). Built server-side, never from a frame."""
    return f"consult:{merchant_id}:{consult_id}"


def _conf(name: str) -> Any:
    return settings.LIVESHOP_CONSULTS[name]


def _error_message(exc: Exception) -> tuple[str, str]:
    if isinstance(exc, DomainError):
        return exc.code, exc.message
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            field, errors = next(iter(exc.message_dict.items()))
            return "invalid", f"{field}: {errors[0]}"
        return "invalid", " ".join(exc.messages)
    if isinstance(exc, Http404):
        return "not_found", gettext("Not found.")
    return "error", str(exc)


def _redeem(merchant_id: int, public_id: str, raw: str) -> dict[str, Any] | None:
    """Check a join token against the consult and its parties; burn it; snapshot."""
    from liveshop.accounts.models import User
    from liveshop.tenancy.models import Membership
    from liveshop.tenancy.permissions import Perm, role_has
    from liveshop.tenancy.scope import tenant_scope

    from .selectors import queue_position
    from .snapshot import consult_snapshot
    from .tokens import join_token_burn, join_token_read

    claim = join_token_read(raw, merchant_id=merchant_id, consult=public_id)
    if claim is None:
        return None
    user = User.objects.filter(pk=claim.user_id, is_active=True).first()
    if user is None:
        return None
    with tenant_scope(merchant_id):
        consult = services.consult_for_party(merchant_id=merchant_id, public_id=public_id)
        if consult is None or consult.status not in OPEN_STATUSES:
            return None
        if claim.party == "shopper":
            ok = consult.shopper_id == user.pk
        elif claim.party == "agent":
            ok = consult.agent_id == user.pk and consult.status == ConsultStatus.ACTIVE
        else:
            membership = Membership.objects.filter(merchant_id=merchant_id, user=user).first()
            ok = (
                membership is not None
                and role_has(membership.role, Perm.SUPERVISE_CONSULTS)
                and consult.status == ConsultStatus.ACTIVE
            )
        if not ok or not join_token_burn(claim):
            return None
        services.party_seen(merchant_id=merchant_id, consult_id=consult.pk, party=claim.party)
        return {
            "claim": claim,
            "user": user,
            "consult_id": consult.pk,
            "status": consult.status,
            "shopper_id": consult.shopper_id,
            "agent_id": consult.agent_id,
            "snapshot": consult_snapshot(consult=consult, party=claim.party, user=user),
            "queue": queue_position(consult=consult),
        }


class ConsultConsumer(SignallingMixin, TenantConsumer):
    """Signalling (offer/answer/ice/leave) is media/signalling.py's, shared with the room's
    media socket; this consumer decides who may publish or subscribe (`media_grant`)."""

    accepts_token_auth = True

    async def on_open(self) -> None:
        # Join tokens only: a browser's session cookie says who someone is, not that they
        # are a party of this consult.
        self.user = None
        self.public_id: str = self.scope["url_route"]["kwargs"]["consult"]
        self.party: str | None = None
        self.grants: tuple[str, ...] = ()
        self.consult_id: int | None = None
        self.status = ""
        self.people: dict[int, str] = {}
        self.queued_group: str | None = None
        self._last_queue: dict[str, int] | None = None
        self._ended = False
        self._heartbeat: asyncio.Task[None] | None = None
        self._auth_timer = asyncio.get_running_loop().call_later(
            AUTH_TIMEOUT_S, lambda: asyncio.ensure_future(self._auth_timeout())
        )
        events.loop_register()

    async def _auth_timeout(self) -> None:
        if self.party is None:
            with contextlib.suppress(Exception):
                await self.send_error(
                    "auth_required", gettext("Send auth with a join token first.")
                )
                await self.close(code=Close.AUTH_FAILED)

    async def authenticate_token(self, token: str) -> Any:
        try:
            result = await database_sync_to_async(_redeem)(self.merchant.id, self.public_id, token)
        except Exception:
            log.exception("consult join failed")
            return None
        if result is None:
            return None
        self._joined = result
        return result["user"]

    async def on_authenticated(self) -> None:
        self._auth_timer.cancel()
        joined = self._joined
        claim = joined["claim"]
        self.party, self.grants = claim.party, claim.grants
        self.consult_id = joined["consult_id"]
        self.status = joined["status"]
        self.people = {joined["shopper_id"]: "shopper"}
        if joined["agent_id"] is not None:
            self.people[joined["agent_id"]] = "agent"
        await self.channel_layer.group_add(events.consult_group(self.consult_id), self.channel_name)
        await self.send_json(
            {**joined["snapshot"], "ice_servers": ice_servers(user_key=str(self.user.pk))}
        )
        if self.party == "shopper" and self.status in QUEUED_STATUSES:
            self.queued_group = events.queue_group(self.merchant.id)
            await self.channel_layer.group_add(self.queued_group, self.channel_name)
            self._last_queue = joined["queue"]
            await self.send_json({"type": "queue", **joined["queue"]})
        if self.party in ("shopper", "agent"):
            self._heartbeat = asyncio.create_task(self._beat())

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(_conf("HEARTBEAT_S"))
            try:
                await database_sync_to_async(services.party_seen)(
                    merchant_id=self.merchant.id, consult_id=self.consult_id, party=self.party
                )
            except Exception:
                log.exception("consult heartbeat failed")

    # --- client frames ---------------------------------------------------------------------

    async def on_frame(self, frame: dict[str, Any]) -> None:
        if self.party is None:
            await self.send_error("auth_required", gettext("Send auth with a join token first."))
            await self.close(code=Close.AUTH_FAILED)
            return
        rate = ratelimit.rate_parse(_conf("FRAME_RATE"))
        if not await ratelimit.ahit(rate, "consult-ws", self.channel_name):
            await self.send_error("rate_limited", gettext("Too many frames."))
            await self.close(code=Close.ABUSE)
            return
        if self._ended:
            raise FrameError("consult_closed", gettext("This consult is over."))
        if await self.media_frame(frame):  # offer / answer / ice / leave
            return
        handler = self.HANDLERS.get(frame["type"])
        if handler is None:
            raise FrameError(
                "unknown_type", gettext("Unknown frame type %(type)r.") % {"type": frame["type"]}
            )
        try:
            await handler(self, frame)
        except (DomainError, ValidationError, Http404) as exc:
            code, message = _error_message(exc)
            raise FrameError(code, message) from exc

    def _require_party(self, *parties: str) -> None:
        if self.party not in parties:
            raise FrameError("forbidden", gettext("Your part in this consult does not allow this."))

    async def _chat_send(self, frame: dict[str, Any]) -> None:
        self._require_party("shopper", "agent")
        rate = ratelimit.rate_parse(_conf("CHAT_RATE"))
        if not await ratelimit.ahit(rate, "consult-chat", f"{self.consult_id}:{self.user.pk}"):
            raise FrameError("rate_limited", gettext("You are sending messages too fast."))
        await database_sync_to_async(services.chat_post)(
            consult=await self._consult(),
            user=self.user,
            party=self.party,
            text=frame.get("text"),
            nonce=frame.get("nonce"),
        )

    async def _product_push(self, frame: dict[str, Any]) -> None:
        self._require_party("agent")
        await database_sync_to_async(services.product_push)(
            consult=await self._consult(), user=self.user, product=frame.get("product")
        )

    async def _consent(self, frame: dict[str, Any]) -> None:
        self._require_party("shopper", "agent")
        await database_sync_to_async(services.recording_consent_set)(
            consult=await self._consult(),
            user=self.user,
            party=self.party,
            granted=frame.get("granted"),
        )

    async def _media_state(self, frame: dict[str, Any]) -> None:
        """Camera off, audio only, screen share: the other side shows it (no database)."""
        self._require_party("shopper", "agent")
        video, audio = frame.get("video"), frame.get("audio")
        if video not in VIDEO_STATES or not isinstance(audio, bool):
            raise FrameError("invalid", "media.state needs video (camera|screen|off), audio.")
        assert self.consult_id is not None
        await self.channel_layer.group_send(
            events.consult_group(self.consult_id),
            {
                "type": "consult.frame",
                "frame": {
                    "type": "media.state",
                    "party": self.party,
                    "video": video,
                    "audio": audio,
                },
            },
        )

    # --- media (SignallingMixin) ----------------------------------------------------------

    async def media_grant(self, role: str) -> MediaGrant:
        if role not in self.grants:
            raise FrameError(
                "publish_forbidden",
                gettext("Your part in this consult does not grant %(role)s.") % {"role": role},
            )
        if self.status != ConsultStatus.ACTIVE:
            raise FrameError("not_in_call", gettext("The call starts when an agent accepts."))
        assert self.consult_id is not None and self.user is not None
        # A party publishes and subscribes as itself (and so never receives its own feeds); a
        # supervisor subscribes as nobody and receives both parties.
        identity = None if self.party == "supervisor" else f"user:{self.user.pk}"
        return MediaGrant(
            session=session_key(self.merchant.id, self.consult_id),
            profile="consult",
            identity=identity,
        )

    def media_pool(self) -> RelayPool:
        pool: RelayPool = pool_factory()
        return pool

    async def media_event(
        self, event: dict[str, Any], frame: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Name the party behind a relay identity (`user:<id>`), for the page's labels."""
        identity = frame.get("identity")
        if isinstance(identity, str):
            frame["party"] = self._party_of(identity)
        tracks = frame.get("tracks")
        if isinstance(tracks, list):
            frame["tracks"] = [{**t, "party": self._party_of(t.get("publisher"))} for t in tracks]
        if frame.get("type") == "stats":
            return None  # the call shows no relay statistics
        return frame

    def _party_of(self, identity: Any) -> str | None:
        if isinstance(identity, str) and identity.startswith("user:") and identity[5:].isdigit():
            return self.people.get(int(identity[5:]))
        return None

    HANDLERS = {
        "chat.send": _chat_send,
        "product.push": _product_push,
        "recording.consent": _consent,
        "media.state": _media_state,
    }

    async def _consult(self) -> Any:
        from .models import Consult

        consult_id = self.consult_id
        assert consult_id is not None

        def load() -> Any:
            from liveshop.tenancy.scope import tenant_scope

            with tenant_scope(self.merchant.id):
                return Consult.objects.filter(merchant_id=self.merchant.id, pk=consult_id).first()

        consult = await database_sync_to_async(load)()
        if consult is None:
            raise FrameError("not_found", gettext("This consult is gone."))
        return consult

    # --- group messages (no database writes here) ------------------------------------------

    async def consult_frame(self, message: dict[str, Any]) -> None:
        frame = message["frame"]
        kind = frame.get("type")
        if kind == "consult.accepted":
            self.status = ConsultStatus.ACTIVE
            agent = frame.get("agent") or {}
            if isinstance(agent.get("id"), int):
                self.people[agent["id"]] = "agent"
            if self.queued_group is not None:
                await self.channel_layer.group_discard(self.queued_group, self.channel_name)
                self.queued_group = None
        await self.send_json(frame)
        if kind == "consult.ended":
            self._ended = True
            self.status = ConsultStatus.ENDED
            await self._teardown()
            if self.media is not None:
                with contextlib.suppress(Exception):
                    await self.media.leave(reason="bye")
            await self.close(code=1000)

    async def consult_queue(self, message: dict[str, Any]) -> None:
        if self.queued_group is None or self.status not in QUEUED_STATUSES:
            return
        from .selectors import QUEUE_BROADCAST_LIMIT, queue_entry

        order = message.get("order") or []
        if self.public_id in order:
            position = order.index(self.public_id) + 1
        elif len(order) >= QUEUE_BROADCAST_LIMIT:  # listed only so far: we are further back
            position = max(len(order) + 1, (self._last_queue or {}).get("position", 0))
        else:
            return  # no longer queued: consult.accepted or consult.ended follows
        update = queue_entry(self.public_id, position, message)
        if update != self._last_queue:
            self._last_queue = update
            await self.send_json({"type": "queue", **update})

    # --- closing -----------------------------------------------------------------------------

    async def _teardown(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None

    async def disconnect(self, code: int) -> None:
        if not hasattr(self, "_auth_timer"):
            await super().disconnect(code)
            return  # refused before on_open (unknown merchant, Origin)
        self._auth_timer.cancel()
        await self._teardown()
        if self.consult_id is not None:
            await self.channel_layer.group_discard(
                events.consult_group(self.consult_id), self.channel_name
            )
        if self.queued_group is not None:
            await self.channel_layer.group_discard(self.queued_group, self.channel_name)
        # The mixin leaves the relay: after a `leave` or the end nothing is left; closing
        # without one keeps the party's feeds "away" for the relay's grace period, so a
        # reconnect (new token, new socket) resumes the call.
        await super().disconnect(code)
