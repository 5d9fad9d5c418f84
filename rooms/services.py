"""Room writes: create and edit rooms, set the line-up, go live and end. Staff only.

Going live respects the plan's `rooms_live` limit; the merchant row is locked while
counting so two rooms going live at once cannot both squeeze under it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from commerce.models import Product
from commerce.services.common import actor_scope
from liveshop.errors import Conflict, PlanLimitReached
from liveshop.tenancy.access import Actor
from liveshop.tenancy.models import SLUG_RE, Membership, Merchant
from liveshop.tenancy.permissions import Perm, role_has
from liveshop.tenancy.services import audit_record

from .events import publish
from .models import Room, RoomProduct, RoomStatus

MAX_LINEUP = 100
RESERVED_ROOM_SLUGS = frozenset({"new"})  # /dashboard/<m>/rooms/new/ is the create page
ROOM_FIELDS = ("slug", "title", "description", "cover", "scheduled_at", "host")


def _clean(merchant: Merchant, data: Mapping[str, Any], *, creating: bool) -> dict[str, Any]:
    import re

    unknown = set(data) - set(ROOM_FIELDS)
    if unknown:
        raise ValidationError({k: [_("Unknown field.")] for k in sorted(unknown)})
    values: dict[str, Any] = {}
    if "slug" in data:
        slug = data["slug"]
        if not isinstance(slug, str) or not re.match(SLUG_RE, slug):
            raise ValidationError({"slug": [_("Use 2–40 lower-case letters, digits and hyphens.")]})
        if slug in RESERVED_ROOM_SLUGS:
            raise ValidationError({"slug": [_("This address is reserved.")]})
        values["slug"] = slug
    elif creating:
        raise ValidationError({"slug": [_("This field is required.")]})
    if "title" in data:
        title = data["title"]
        if not isinstance(title, str) or not title.strip() or len(title) > 200:
            raise ValidationError({"title": [_("Give a title of at most 200 characters.")]})
        values["title"] = title.strip()
    elif creating:
        raise ValidationError({"title": [_("This field is required.")]})
    if "description" in data:
        text = data["description"] or ""
        if not isinstance(text, str) or len(text) > 2000:
            raise ValidationError({"description": [_("At most 2000 characters.")]})
        values["description"] = text.strip()
    if "cover" in data:
        cover = data["cover"] or ""
        if not isinstance(cover, str) or len(cover) > 500:
            raise ValidationError({"cover": [_("Give an http(s) image URL.")]})
        if cover:
            try:
                URLValidator(schemes=["http", "https"])(cover)
            except ValidationError:
                raise ValidationError({"cover": [_("Give an http(s) image URL.")]}) from None
        values["cover"] = cover
    if "scheduled_at" in data:
        when = data["scheduled_at"]
        if when is not None and not isinstance(when, datetime):
            raise ValidationError({"scheduled_at": [_("Give a date and time.")]})
        values["scheduled_at"] = when
    if "host" in data:
        values["host"] = _host(merchant, data["host"])
    return values


def _host(merchant: Merchant, host: Any) -> Any:
    """Hosts are staff of this merchant whose role may host rooms."""
    user_id = getattr(host, "pk", host)
    membership = (
        Membership.objects.filter(merchant=merchant, user_id=user_id).select_related("user").first()
        if isinstance(user_id, int) and not isinstance(user_id, bool)
        else None
    )
    if membership is None or not role_has(membership.role, Perm.HOST_ROOMS):
        raise ValidationError({"host": [_("Choose a member of staff who may host rooms.")]})
    return membership.user


def room_create(*, actor: Actor, data: Mapping[str, Any]) -> Room:
    actor.require(Perm.MANAGE_ROOMS)
    with actor_scope(actor):
        values = _clean(actor.merchant, data, creating=True)
        if "host" not in values:
            if actor.user is None:
                raise ValidationError({"host": [_("Choose the room's host.")]})
            values["host"] = _host(actor.merchant, actor.user)
        try:
            with transaction.atomic():
                room = Room.objects.create(merchant=actor.merchant, **values)
        except IntegrityError:
            raise ValidationError(
                {"slug": [_("Another room already uses this address.")]}
            ) from None
        audit_record(actor=actor, action="room.created", obj=room)
    return room


def room_update(*, actor: Actor, room: Room, data: Mapping[str, Any]) -> Room:
    actor.require(Perm.MANAGE_ROOMS)
    with actor_scope(actor):
        values = _clean(actor.merchant, data, creating=False)
        if "slug" in values and values["slug"] != room.slug and room.status != RoomStatus.SCHEDULED:
            raise Conflict(
                _("A room that went live keeps its address (viewers have the link)."),
                code="room_slug_locked",
            )
        for key, value in values.items():
            setattr(room, key, value)
        room.updated_at = timezone.now()
        try:
            with transaction.atomic():
                room.save(update_fields=[*values, "updated_at"])
        except IntegrityError:
            raise ValidationError(
                {"slug": [_("Another room already uses this address.")]}
            ) from None
        if values:
            audit_record(
                actor=actor, action="room.updated", obj=room, data={"fields": sorted(values)}
            )
    return room


def room_lineup_set(*, actor: Actor, room: Room, product_ids: Sequence[Any]) -> list[Product]:
    """Replace the line-up with these products, in this order."""
    actor.require(Perm.MANAGE_ROOMS)
    if not isinstance(product_ids, list | tuple) or len(product_ids) > MAX_LINEUP:
        raise ValidationError({"products": [_("At most %(n)d products.") % {"n": MAX_LINEUP}]})
    ids: list[int] = []
    for value in product_ids:
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValidationError({"products": [_("Give product ids.")]})
        if value not in ids:
            ids.append(value)
    with actor_scope(actor):
        products = {p.pk: p for p in Product.objects.filter(merchant=actor.merchant, pk__in=ids)}
        missing = [pid for pid in ids if pid not in products]
        if missing:
            raise ValidationError(
                {
                    "products": [
                        _("Unknown products: %(ids)s") % {"ids": ", ".join(map(str, missing))}
                    ]
                }
            )
        RoomProduct.objects.filter(merchant=actor.merchant, room=room).delete()
        RoomProduct.objects.bulk_create(
            [
                RoomProduct(merchant=actor.merchant, room=room, product=products[pid], position=i)
                for i, pid in enumerate(ids)
            ]
        )
        audit_record(actor=actor, action="room.lineup_set", obj=room, data={"products": ids})
    return [products[pid] for pid in ids]


def room_state_event(room: Room) -> dict[str, Any]:
    """The `room.state` event (rooms/protocol.py): status and host, public fields only."""
    host = room.host
    return {
        "type": "room.state",
        "status": room.status,
        "host": {"id": host.pk, "name": host.display_name},
    }


def room_go_live(*, actor: Actor, room: Room) -> Room:
    actor.require(Perm.HOST_ROOMS)
    with actor_scope(actor):
        # Lock the tenant row: concurrent go-lives of this merchant count one at a time.
        merchant = (
            Merchant.objects.select_for_update().select_related("plan").get(pk=actor.merchant.id)
        )
        room = Room.objects.select_for_update().get(pk=room.pk, merchant=merchant)
        if room.status == RoomStatus.LIVE:
            return room
        if room.status == RoomStatus.ENDED:
            raise Conflict(_("This room has ended. Create a new one."), code="room_ended")
        live = Room.objects.filter(merchant=merchant, status=RoomStatus.LIVE).count()
        if live >= merchant.plan.rooms_live:
            raise PlanLimitReached(
                _(
                    "Your plan (%(plan)s) allows %(n)d live room(s) at once. End a live room"
                    " or upgrade your plan."
                )
                % {"plan": merchant.plan.name, "n": merchant.plan.rooms_live},
                resource="rooms_live",
                limit=merchant.plan.rooms_live,
            )
        room.status = RoomStatus.LIVE
        room.started_at = room.updated_at = timezone.now()
        room.save(update_fields=["status", "started_at", "updated_at"])
        audit_record(actor=actor, action="room.live", obj=room)
        publish(room, room_state_event(room))
        # issue 8: render the show to HLS for crowds, in this transaction (a rolled-back
        # go-live renders nothing), kept as a replay when the merchant records shows.
        from media.hls.services import broadcast_start, hls_enabled

        if hls_enabled():
            broadcast_start(merchant=merchant, room=room, record=merchant.record_shows)
    return room


def room_end(*, actor: Actor, room: Room) -> Room:
    actor.require(Perm.HOST_ROOMS)
    with actor_scope(actor):
        room = Room.objects.select_for_update().get(pk=room.pk, merchant=actor.merchant)
        if room.status == RoomStatus.ENDED:
            return room
        room.status = RoomStatus.ENDED
        room.ended_at = room.updated_at = timezone.now()
        room.save(update_fields=["status", "ended_at", "updated_at"])
        audit_record(actor=actor, action="room.ended", obj=room)
        publish(room, room_state_event(room))
        # A flash sale does not outlive its show.
        from .selling import room_ended

        room_ended(room=room)
        # The show is over: drop its viewers', co-hosts' and encoders' peer connections.
        from media.services import room_video_close

        room_video_close(room=room)
        # issue 8: finish the HLS files (the recording, when one is kept); end the stage.
        from media.hls.services import broadcast_stop
        from media.stage import stage_end_all

        broadcast_stop(merchant=actor.merchant, room=room)
        stage_end_all(room=room)
    return room


def room_delete(*, actor: Actor, room: Room) -> None:
    actor.require(Perm.MANAGE_ROOMS)
    if room.status == RoomStatus.LIVE:
        raise Conflict(_("End the room before deleting it."), code="room_live")
    with actor_scope(actor):
        audit_record(actor=actor, action="room.deleted", obj=room)
        room.delete()
