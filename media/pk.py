"""PK: a timed contest between two live rooms (of one merchant or two), scored by sales.

Flow: room A's host invites room B (`pk_invite`, by the public merchant and room slugs);
B's host accepts (`pk_accept`, in B's own tenant scope) or declines. Accepting starts it:
`started_at`/`ends_at` are set and each room's relay pulls the other room's host only
(cascade `pull` with `publisher`; when both rooms live on the same relay it pulls from
itself), so each room's viewers receive both hosts, encoded passthrough. Either host can
`pk_end` early; `pk_tick` (Celery beat, every 2 s) publishes score changes and settles PKs
whose time is up. Settling stores scores, winner and each side's totals and unlinks.

Score of a side = whole units of its merchant's currency of paid GMV (orders with `room` =
the side's room, paid inside the window, not refunded) + gift coins spent in the room
inside the window (gift ledger entries). Computed in each side's own tenant scope.

Cross-tenant rule: only public data crosses. A PK row stores, per side, the merchant's
name and slug, the room's title and slug, the host's display name and relay identity, and
the score. Each side's breakdown (orders, gifts) is shown only to that side's staff.

Events, to both rooms (rooms/protocol.py "stage" block): `pk.invited {pk}`,
`pk.started {pk}`, `pk.score {pk: id, a, b}`, `pk.ended {pk}` (`pk.winner`), `pk.declined {pk}`.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from commerce.models import Order, OrderStatus
from liveshop.errors import Conflict, DomainError
from liveshop.tenancy.access import Actor, merchant_get
from liveshop.tenancy.models import Merchant
from liveshop.tenancy.permissions import Perm
from liveshop.tenancy.scope import tenant_scope
from liveshop.tenancy.services import audit_record
from rooms.events import publish
from rooms.models import Room, RoomStatus

from .access import room_session_key, user_identity
from .models import PKBattle, PKStatus

log = logging.getLogger("liveshop.media.pk")

MIN_DURATION = 180
MAX_DURATION = 600
OPEN = (PKStatus.INVITED, PKStatus.ACCEPTED, PKStatus.LIVE)
SCORED_ORDER_STATUSES = (OrderStatus.PAID, OrderStatus.FULFILLED)


# --- reading ------------------------------------------------------------------------------


def _side_of(battle: PKBattle, merchant: Merchant, room: Room | None = None) -> str:
    if battle.merchant_a_id == merchant.id and (room is None or battle.room_a_id == room.pk):
        return "a"
    if battle.merchant_b_id == merchant.id and (room is None or battle.room_b_id == room.pk):
        return "b"
    raise DomainError(_("No such PK."), code="not_found", status=404)


def _visible(merchant: Merchant) -> Any:
    return PKBattle.objects.filter(Q(merchant_a=merchant) | Q(merchant_b=merchant))


def pk_get(*, merchant: Merchant, pk_id: int) -> PKBattle:
    battle = _visible(merchant).filter(pk=pk_id).first()
    if battle is None:
        raise DomainError(_("No such PK."), code="not_found", status=404)
    return battle


def pk_for_room(*, room: Room) -> PKBattle | None:
    """The room's open PK, else its last one (for the result)."""
    mine = PKBattle.objects.filter(Q(room_a=room) | Q(room_b=room))
    return mine.filter(status__in=OPEN).first() or mine.first()


def pk_public(battle: PKBattle, *, now: datetime | None = None) -> dict[str, Any]:
    """What both rooms' viewers may see."""
    now = now or timezone.now()
    remaining = None
    if battle.status == PKStatus.LIVE and battle.ends_at is not None:
        remaining = max(0.0, (battle.ends_at - now).total_seconds())
    return {
        "id": battle.pk,
        "status": battle.status,
        "duration_s": battle.duration_s,
        "started_at": battle.started_at.timestamp() if battle.started_at else None,
        "ends_at": battle.ends_at.timestamp() if battle.ends_at else None,
        "remaining_s": remaining,
        "a": {**battle.public_a, "score": battle.score_a},
        "b": {**battle.public_b, "score": battle.score_b},
        "winner": battle.winner or None,
    }


def _window(battle: PKBattle, now: datetime | None = None) -> tuple[datetime, datetime]:
    assert battle.started_at is not None
    end = battle.ended_at or min(now or timezone.now(), battle.ends_at or timezone.now())
    return battle.started_at, end


def side_score(
    *, merchant_id: int, room_id: int, start: datetime, end: datetime, detail: bool = False
) -> dict[str, Any]:
    """One side's score and its totals (and, with `detail`, every order and gift counted),
    read in that merchant's own scope."""
    from rooms.models import LedgerEntry, LedgerKind

    with tenant_scope(merchant_id):
        merchant = Merchant.objects.get(pk=merchant_id)
        orders = Order.objects.filter(
            merchant_id=merchant_id,
            room_id=room_id,
            status__in=SCORED_ORDER_STATUSES,
            paid_at__gte=start,
            paid_at__lt=end,
        )
        gifts = LedgerEntry.objects.filter(
            merchant_id=merchant_id,
            room_id=room_id,
            kind=LedgerKind.GIFT,
            created_at__gte=start,
            created_at__lt=end,
        )
        # Refunded parts do not count; fully refunded orders are out by status.
        gmv = int(orders.aggregate(s=Sum(F("total") - F("refunded_amount")))["s"] or 0)
        coins = -int(gifts.aggregate(s=Sum("amount"))["s"] or 0)
        out: dict[str, Any] = {
            "gmv": gmv,
            "currency": merchant.currency,
            "gmv_points": gmv // (10**merchant.currency_exponent),
            "orders": orders.count(),
            "coins": coins,
            "gifts": gifts.count(),
        }
        out["points"] = out["gmv_points"] + coins
        if detail:
            out["order_list"] = [
                {
                    "id": o.pk,
                    "total": o.total,
                    "refunded": o.refunded_amount,
                    "currency": o.currency,
                    "paid_at": o.paid_at,
                }
                for o in orders.order_by("paid_at", "id")[:500]
            ]
            out["gift_list"] = [
                {
                    "id": g.pk,
                    "coins": -g.amount,
                    "count": g.count,
                    "gift": g.gift_id,
                    "at": g.created_at,
                }
                for g in gifts.order_by("created_at", "id")[:500]
            ]
    return out


def pk_scores(battle: PKBattle, *, now: datetime | None = None) -> tuple[dict, dict]:
    start, end = _window(battle, now)
    a = side_score(merchant_id=battle.merchant_a_id, room_id=battle.room_a_id, start=start, end=end)
    b = side_score(merchant_id=battle.merchant_b_id, room_id=battle.room_b_id, start=start, end=end)
    return a, b


def pk_breakdown(*, merchant: Merchant, battle: PKBattle) -> dict[str, Any]:
    """The auditable breakdown for one side's staff: their own orders and gifts in the
    window, and only the other side's score."""
    side = _side_of(battle, merchant)
    other = "b" if side == "a" else "a"
    out: dict[str, Any] = {"pk": pk_public(battle), "side": side, "window": None}
    if battle.started_at is None:
        return out
    start, end = _window(battle)
    mine = side_score(
        merchant_id=merchant.id,
        room_id=battle.room_a_id if side == "a" else battle.room_b_id,
        start=start,
        end=end,
        detail=True,
    )
    theirs = battle.breakdown.get(other) if battle.status == PKStatus.ENDED else None
    other_points = (
        theirs["points"]
        if theirs
        else side_score(
            merchant_id=battle.merchant_b_id if side == "a" else battle.merchant_a_id,
            room_id=battle.room_b_id if side == "a" else battle.room_a_id,
            start=start,
            end=end,
        )["points"]
    )
    out["window"] = {"start": start, "end": end}
    out[side] = mine
    out[other] = {"points": other_points}
    out["rule"] = _("1 point per whole unit of paid GMV in the window, plus 1 point per gift coin.")
    return out


# --- writing ------------------------------------------------------------------------------


def _public_side(merchant: Merchant, room: Room) -> dict[str, Any]:
    return {
        "merchant": merchant.name,
        "merchant_slug": merchant.slug,
        "room": room.title,
        "room_slug": room.slug,
        "host": room.host.display_name,
        "identity": user_identity(room.host_id),
    }


def _open_on(room_id: int) -> bool:
    return PKBattle.objects.filter(
        Q(room_a_id=room_id) | Q(room_b_id=room_id), status__in=OPEN
    ).exists()


def _both(battle: PKBattle, event: dict[str, Any]) -> None:
    publish(battle.room_a_id, event)
    publish(battle.room_b_id, event)


def pk_invite(
    *, actor: Actor, room: Room, merchant_slug: str, room_slug: str, duration_s: int
) -> PKBattle:
    actor.require(Perm.HOST_ROOMS)
    if not MIN_DURATION <= duration_s <= MAX_DURATION:
        raise DomainError(_("A PK lasts 3 to 10 minutes."), code="invalid")
    other_merchant = merchant_get(merchant_slug)  # Http404 for an unknown one
    with transaction.atomic():
        with tenant_scope(actor.merchant.id, user_id=getattr(actor.user, "pk", None)):
            room = (
                Room.objects.select_for_update()
                .select_related("host")
                .get(pk=room.pk, merchant=actor.merchant)
            )
            if room.status != RoomStatus.LIVE:
                raise Conflict(_("Go live before inviting a PK."), code="room_not_live")
            side_a = _public_side(actor.merchant, room)
        with tenant_scope(other_merchant.id):
            # Only what the other merchant's storefront shows anyone: a live room's title.
            other = (
                Room.objects.select_related("host")
                .filter(merchant=other_merchant, slug=room_slug, status=RoomStatus.LIVE)
                .first()
            )
            if other is None or other.pk == room.pk:
                raise DomainError(_("No such live room."), code="not_found", status=404)
            side_b = _public_side(other_merchant, other)
        if _open_on(room.pk) or _open_on(other.pk):
            raise Conflict(_("One of the rooms is already in a PK."), code="pk_busy")
        battle = PKBattle.objects.create(
            merchant_a=actor.merchant,
            room_a=room,
            merchant_b=other_merchant,
            room_b=other,
            public_a=side_a,
            public_b=side_b,
            duration_s=duration_s,
            invited_by=actor.user if getattr(actor.user, "pk", None) else None,
        )
        with tenant_scope(actor.merchant.id, user_id=getattr(actor.user, "pk", None)):
            audit_record(actor=actor, action="pk.invited", obj=room, data={"pk": battle.pk})
        _both(battle, {"type": "pk.invited", "pk": pk_public(battle)})
    return battle


def _locked(actor: Actor, pk_id: int) -> PKBattle:
    battle = _visible(actor.merchant).select_for_update().filter(pk=pk_id).first()
    if battle is None:
        raise DomainError(_("No such PK."), code="not_found", status=404)
    return battle


def _room_live(merchant_id: int, room_id: int) -> bool:
    with tenant_scope(merchant_id):
        return Room.objects.filter(
            pk=room_id, merchant_id=merchant_id, status=RoomStatus.LIVE
        ).exists()


def pk_accept(*, actor: Actor, pk_id: int) -> PKBattle:
    """Room B's host accepts: the PK starts now."""
    actor.require(Perm.HOST_ROOMS)
    with transaction.atomic():
        battle = _locked(actor, pk_id)
        if battle.merchant_b_id != actor.merchant.id:
            raise DomainError(
                _("Only the invited room's host can accept."), code="forbidden", status=403
            )
        if battle.status != PKStatus.INVITED:
            raise Conflict(_("This PK is not waiting for an answer."), code="pk_state")
        if not (
            _room_live(battle.merchant_a_id, battle.room_a_id)
            and _room_live(battle.merchant_b_id, battle.room_b_id)
        ):
            raise Conflict(_("Both rooms must be live."), code="room_not_live")
        now = timezone.now()
        battle.status = PKStatus.LIVE
        battle.started_at = now
        battle.ends_at = now + timedelta(seconds=battle.duration_s)
        battle.save(update_fields=["status", "started_at", "ends_at"])
        with tenant_scope(actor.merchant.id, user_id=getattr(actor.user, "pk", None)):
            audit_record(
                actor=actor, action="pk.accepted", obj=battle.room_b, data={"pk": battle.pk}
            )
        _both(battle, {"type": "pk.started", "pk": pk_public(battle)})
        snapshot = _link_args(battle)
        transaction.on_commit(lambda: async_to_sync(relay_link)(**snapshot, link=True))
    return battle


def pk_decline(*, actor: Actor, pk_id: int) -> PKBattle:
    """B declines, or A withdraws, an invite."""
    actor.require(Perm.HOST_ROOMS)
    with transaction.atomic():
        battle = _locked(actor, pk_id)
        if battle.status != PKStatus.INVITED:
            raise Conflict(_("This PK is not waiting for an answer."), code="pk_state")
        battle.status = PKStatus.DECLINED
        battle.ended_at = timezone.now()
        battle.ended_by = _side_of(battle, actor.merchant)
        battle.save(update_fields=["status", "ended_at", "ended_by"])
        _both(battle, {"type": "pk.declined", "pk": pk_public(battle)})
    return battle


def pk_end(*, actor: Actor, pk_id: int) -> PKBattle:
    """Either host ends a live PK now (an unanswered invite is withdrawn/declined)."""
    actor.require(Perm.HOST_ROOMS)
    with transaction.atomic():
        battle = _locked(actor, pk_id)
        if battle.status == PKStatus.INVITED:
            return pk_decline(actor=actor, pk_id=pk_id)
        if battle.status != PKStatus.LIVE:
            return battle
        _settle(battle, ended_by=_side_of(battle, actor.merchant))
    return battle


def _settle(battle: PKBattle, *, ended_by: str) -> None:
    """Store the result (call with the row locked)."""
    now = timezone.now()
    battle.ended_at = min(now, battle.ends_at) if battle.ends_at else now
    a, b = pk_scores(battle)
    battle.score_a, battle.score_b = a["points"], b["points"]
    battle.winner = (
        "a" if a["points"] > b["points"] else "b" if b["points"] > a["points"] else "draw"
    )
    battle.breakdown = {"a": a, "b": b}
    battle.status = PKStatus.ENDED
    battle.ended_by = ended_by
    battle.save(
        update_fields=[
            "ended_at",
            "score_a",
            "score_b",
            "winner",
            "breakdown",
            "status",
            "ended_by",
        ]
    )
    _both(battle, {"type": "pk.ended", "pk": pk_public(battle)})
    snapshot = _link_args(battle)
    transaction.on_commit(lambda: async_to_sync(relay_link)(**snapshot, link=False))


def pk_refresh(battle: PKBattle) -> PKBattle:
    """Bring a live PK up to date: store and announce changed scores; settle it when due."""
    if battle.status != PKStatus.LIVE:
        return battle
    with transaction.atomic():
        locked = PKBattle.objects.select_for_update().get(pk=battle.pk)
        if locked.status != PKStatus.LIVE:
            return locked
        if locked.ends_at is not None and locked.ends_at <= timezone.now():
            _settle(locked, ended_by="timer")
            return locked
        a, b = pk_scores(locked)
        if (a["points"], b["points"]) != (locked.score_a, locked.score_b):
            locked.score_a, locked.score_b = a["points"], b["points"]
            locked.save(update_fields=["score_a", "score_b"])
            _both(
                locked,
                {"type": "pk.score", "pk": locked.pk, "a": locked.score_a, "b": locked.score_b},
            )
    return locked


def pk_tick() -> int:
    """Every live PK: scores announced, due ones settled. → how many were looked at."""
    live = list(PKBattle.objects.filter(status=PKStatus.LIVE).order_by("id")[:200])
    for battle in live:
        try:
            pk_refresh(battle)
        except Exception:
            log.exception("pk %s: refresh failed", battle.pk)
    return len(live)


# --- the relay: each room pulls the other room's host ---------------------------------------


def _link_args(battle: PKBattle) -> dict[str, str]:
    return {
        "session_a": f"room:{battle.merchant_a_id}:{battle.room_a_id}",
        "session_b": f"room:{battle.merchant_b_id}:{battle.room_b_id}",
        "host_a": str(battle.public_a.get("identity", "")),
        "host_b": str(battle.public_b.get("identity", "")),
    }


async def relay_link(
    *, session_a: str, session_b: str, host_a: str, host_b: str, link: bool
) -> None:
    """Make each room's relay pull (or stop pulling) the other room's host: a cascade when
    the rooms live on different relays, a relay pulling from itself otherwise."""
    from .relay.protocol import RelayError
    from .relay.registry import RelayPool, directory_from_settings

    pool = RelayPool(directory_from_settings(), secret=settings.LIVESHOP_MEDIA_RELAY_SECRET)
    try:
        address_a = await pool.directory.address_for(session_a)
        address_b = await pool.directory.address_for(session_b)
        for here, there, address, host in (
            (session_a, session_b, address_b, host_b),
            (session_b, session_a, address_a, host_a),
        ):
            client = await pool.client_for(here)
            try:
                if link:
                    await asyncio.wait_for(
                        client.pull(
                            session=here, address=address, remote_session=there, publisher=host
                        ),
                        15,
                    )
                else:
                    await asyncio.wait_for(
                        client.unpull(session=here, address=address, remote_session=there), 10
                    )
            except (RelayError, OSError, TimeoutError) as exc:
                log.warning(
                    "pk %s<-%s: relay %s failed: %s", here, there, "link" if link else "unlink", exc
                )
    except (RelayError, OSError) as exc:
        log.warning("pk %s/%s: no relay: %s", session_a, session_b, exc)
    finally:
        await pool.close()


__all__ = [
    "pk_accept",
    "pk_breakdown",
    "pk_decline",
    "pk_end",
    "pk_for_room",
    "pk_get",
    "pk_invite",
    "pk_public",
    "pk_refresh",
    "pk_tick",
    "room_session_key",
    "side_score",
]
