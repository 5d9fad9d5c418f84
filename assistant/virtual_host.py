"""The virtual host: a room that keeps going around the clock as a replay.

A merchant schedules a `VirtualShow` on a room: from `starts_at` (until `ends_at`, if set) the
periodic job `shows_advance` (Celery beat, or the in-process scheduler of the embedded
default, every second) walks the show's product timeline in a loop. Each step pins the
entry's product in the room (`product.pinned` with `replay: true` and the caption) through
rooms/events.py, so viewers' cards and the assistant's "this one" follow the timeline; the
assistant answers chat as in any room. Viewers see it labelled as a replay.

Two modes share the timeline: `slideshow` (product images, captions, prices — needs nothing
but the catalog) and `recording`, which plays a recorded show in a loop while the same
timeline pins products at their offsets into it. `recording` names one of the merchant's
recordings (issue 8, media/hls: `<room slug>/<epoch>`, played from its `replay.m3u8`) or an
http(s) video URL; `recording_source` is the one place that resolves it. With a recording of
known length every viewer plays the same moment (`show_state()["recording_offset"]`) and the
job pins the entry under that moment; a show whose recording cannot be played runs as a
slideshow.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from commerce.models import Product
from commerce.services.common import actor_scope
from liveshop.tenancy.access import Actor
from liveshop.tenancy.models import Merchant
from liveshop.tenancy.permissions import Perm
from liveshop.tenancy.scope import rls_bypass, tenant_scope
from liveshop.tenancy.services import audit_record
from rooms.events import publish
from rooms.models import Room

if TYPE_CHECKING:
    from media.hls.models import Broadcast

from . import selectors
from .catalog import Catalog, catalog_load, product_card
from .models import (
    SLIDE_SECONDS_MAX,
    SLIDE_SECONDS_MIN,
    RoomAssistant,
    ShowEntry,
    ShowMode,
    VirtualShow,
)

log = logging.getLogger("liveshop.assistant.virtual_host")

MAX_ENTRIES = 100
CAPTION_MAX = 200
SHOW_FIELDS = ("mode", "recording", "starts_at", "ends_at", "slide_seconds", "is_active")


# --- recordings (issue 8 hook) ---------------------------------------------------------------


def _external(recording: str) -> bool:
    parts = urlsplit(recording)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def recording_broadcast(*, merchant: Merchant, recording: str) -> Broadcast | None:
    """The merchant's finished recording named `<room slug>/<epoch>` (media/hls), or None."""
    from media.hls import selectors as hls

    slug, _, epoch = recording.partition("/")
    room = Room.objects.filter(merchant=merchant, slug=slug).first() if slug and epoch else None
    if room is None:
        return None
    return hls.recordings(merchant=merchant, room=room).filter(epoch=epoch).first()


def recording_source(show: VirtualShow) -> str | None:
    """A playable URL for the show's recording, or None (then it runs as a slideshow): the
    HLS replay of one of the merchant's recordings, or an http(s) video URL."""
    if show.mode != ShowMode.RECORDING or not show.recording:
        return None
    if _external(show.recording):
        return show.recording
    from media.hls import selectors as hls

    broadcast = recording_broadcast(merchant=show.merchant, recording=show.recording)
    return hls.recording_url(broadcast) if broadcast is not None else None


def recording_seconds(show: VirtualShow) -> float | None:
    """The length of the show's recording when known (recordings of media/hls)."""
    if show.mode != ShowMode.RECORDING or not show.recording or _external(show.recording):
        return None
    broadcast = recording_broadcast(merchant=show.merchant, recording=show.recording)
    if broadcast is None or not broadcast.duration or broadcast.duration <= 0:
        return None
    return float(broadcast.duration)


def recordings_available(*, merchant: Merchant) -> list[dict[str, Any]]:
    """The merchant's finished recordings, newest first, as the dashboard offers them."""
    from media.hls.models import Broadcast, BroadcastStatus

    rows = (
        Broadcast.objects.filter(
            merchant=merchant, record=True, status=BroadcastStatus.ENDED, segments__gt=0
        )
        .select_related("room")
        .order_by("-id")[:50]
    )
    return [
        {"value": f"{b.room.slug}/{b.epoch}", "room": b.room.title, "seconds": b.duration}
        for b in rows
    ]


# --- scheduling (staff) ----------------------------------------------------------------------


def _seconds(field: str, value: Any, *, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not SLIDE_SECONDS_MIN <= value <= SLIDE_SECONDS_MAX
    ):
        raise ValidationError(
            {
                field: [
                    _("Give whole seconds from %(lo)d to %(hi)d.")
                    % {"lo": SLIDE_SECONDS_MIN, "hi": SLIDE_SECONDS_MAX}
                ]
            }
        )
    return value


def _show_values(
    merchant: Merchant, data: Mapping[str, Any], show: VirtualShow | None
) -> dict[str, Any]:
    unknown = set(data) - set(SHOW_FIELDS)
    if unknown:
        raise ValidationError({k: [_("Unknown field.")] for k in sorted(unknown)})
    values: dict[str, Any] = {}
    if "mode" in data:
        if data["mode"] not in ShowMode.values:
            raise ValidationError({"mode": [_("Choose slideshow or recording.")]})
        values["mode"] = data["mode"]
    if "recording" in data:
        recording = data["recording"] or ""
        if not isinstance(recording, str) or len(recording) > 200:
            raise ValidationError({"recording": [_("At most 200 characters.")]})
        values["recording"] = recording.strip()
    for name in ("starts_at", "ends_at"):
        if name in data:
            when = data[name]
            if when is not None and (not isinstance(when, datetime) or when.tzinfo is None):
                raise ValidationError({name: [_("Give a date and time.")]})
            values[name] = when
    if "slide_seconds" in data:
        values["slide_seconds"] = _seconds("slide_seconds", data["slide_seconds"])
    if "is_active" in data:
        if not isinstance(data["is_active"], bool):
            raise ValidationError({"is_active": [_("Must be true or false.")]})
        values["is_active"] = data["is_active"]
    starts = values.get("starts_at", show.starts_at if show else None)
    if starts is None:
        raise ValidationError({"starts_at": [_("Choose when the show starts.")]})
    ends = values.get("ends_at", show.ends_at if show else None)
    if ends is not None and ends <= starts:
        raise ValidationError({"ends_at": [_("The end must be after the start.")]})
    mode = values.get("mode", show.mode if show else ShowMode.SLIDESHOW)
    recording = values.get("recording", show.recording if show else "")
    if mode == ShowMode.RECORDING and not recording:
        raise ValidationError({"recording": [_("Give the recording to replay.")]})
    if (
        mode == ShowMode.RECORDING
        and not _external(recording)
        and recording_broadcast(merchant=merchant, recording=recording) is None
    ):
        raise ValidationError(
            {
                "recording": [
                    _("Choose one of your recordings (room/recording) or give a video URL.")
                ]
            }
        )
    return values


def show_save(*, actor: Actor, room: Room, data: Mapping[str, Any]) -> VirtualShow:
    """Schedule (or change) the virtual host of a room. A new show turns the room's
    assistant on (it can be switched off again): answering chat is half of what a virtual
    host does."""
    actor.require(Perm.MANAGE_ASSISTANT)
    with actor_scope(actor):
        show = (
            VirtualShow.objects.select_for_update()
            .filter(merchant=actor.merchant, room=room)
            .first()
        )
        values = _show_values(actor.merchant, data, show)
        if show is None:
            show = VirtualShow.objects.create(merchant=actor.merchant, room=room, **values)
            RoomAssistant.objects.update_or_create(
                merchant=actor.merchant, room=room, defaults={"enabled": True}
            )
            selectors.room_settings_forget(room.pk)
            audit_record(
                actor=actor, action="assistant.show_created", obj=room, data=_audit(values)
            )
            return show
        stopping = values.get("is_active") is False and show.running
        for key, value in values.items():
            setattr(show, key, value)
        show.updated_at = timezone.now()
        if stopping:
            _stop(show)
        show.save()
        audit_record(actor=actor, action="assistant.show_updated", obj=room, data=_audit(values))
    return show


def _audit(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}


def show_entries_set(
    *, actor: Actor, show: VirtualShow, entries: Sequence[Mapping[str, Any]]
) -> list[ShowEntry]:
    """Replace the timeline: `[{product, caption?, caption_zh?, seconds?}, …]` in order."""
    actor.require(Perm.MANAGE_ASSISTANT)
    if not isinstance(entries, list | tuple) or len(entries) > MAX_ENTRIES:
        raise ValidationError({"entries": [_("At most %(n)d entries.") % {"n": MAX_ENTRIES}]})
    cleaned: list[dict[str, Any]] = []
    for n, raw in enumerate(entries):
        if not isinstance(raw, Mapping):
            raise ValidationError({"entries": [_("Each entry is an object.")]})
        unknown = set(raw) - {"product", "caption", "caption_zh", "seconds"}
        if unknown:
            raise ValidationError({f"entries.{n}.{k}": [_("Unknown field.")] for k in unknown})
        product = raw.get("product")
        if isinstance(product, bool) or not isinstance(product, int) or product <= 0:
            raise ValidationError({f"entries.{n}.product": [_("Give a product id.")]})
        entry: dict[str, Any] = {
            "product_id": product,
            "seconds": _seconds(f"entries.{n}.seconds", raw.get("seconds"), optional=True),
        }
        for name in ("caption", "caption_zh"):
            text = raw.get(name) or ""
            if not isinstance(text, str) or len(text) > CAPTION_MAX:
                raise ValidationError(
                    {f"entries.{n}.{name}": [_("At most %(n)d characters.") % {"n": CAPTION_MAX}]}
                )
            entry[name] = text.strip()
        cleaned.append(entry)
    with actor_scope(actor):
        ids = {e["product_id"] for e in cleaned}
        known = set(
            Product.objects.filter(merchant=actor.merchant, pk__in=ids).values_list("pk", flat=True)
        )
        missing = sorted(ids - known)
        if missing:
            raise ValidationError(
                {
                    "entries": [
                        _("Unknown products: %(ids)s") % {"ids": ", ".join(map(str, missing))}
                    ]
                }
            )
        locked = VirtualShow.objects.select_for_update().get(pk=show.pk, merchant=actor.merchant)
        ShowEntry.objects.filter(merchant=actor.merchant, show=locked).delete()
        rows = ShowEntry.objects.bulk_create(
            [
                ShowEntry(merchant=actor.merchant, show=locked, position=i, **e)
                for i, e in enumerate(cleaned)
            ]
        )
        if locked.position >= len(rows):
            locked.position = 0
            locked.save(update_fields=["position"])
        audit_record(
            actor=actor,
            action="assistant.show_timeline",
            obj=locked.room,
            data={"products": [e["product_id"] for e in cleaned]},
        )
    return rows


def show_entries_from_lineup(*, actor: Actor, show: VirtualShow) -> list[ShowEntry]:
    """The timeline from the room's line-up, one entry per product, default seconds."""
    from .catalog import lineup_ids

    with actor_scope(actor):
        ids = lineup_ids(room=show.room)
    return show_entries_set(actor=actor, show=show, entries=[{"product": pid} for pid in ids])


def show_delete(*, actor: Actor, show: VirtualShow) -> None:
    actor.require(Perm.MANAGE_ASSISTANT)
    with actor_scope(actor):
        if show.running:
            _stop(show)
        audit_record(actor=actor, action="assistant.show_deleted", obj=show.room)
        show.delete()


# --- running (platform job) ------------------------------------------------------------------


def _entries(show: VirtualShow) -> list[ShowEntry]:
    return list(
        ShowEntry.objects.filter(merchant_id=show.merchant_id, show=show)
        .select_related("product")
        .order_by("position", "id")
    )


def current_entry(show: VirtualShow) -> ShowEntry | None:
    """The entry the show is on (None when it is not running or has no entries)."""
    if not show.running:
        return None
    entries = _entries(show)
    return entries[show.position] if 0 <= show.position < len(entries) else None


def _stop(show: VirtualShow) -> None:
    show.next_at = None
    show.entry_started_at = None
    show.position = 0
    publish(show.room, {"type": "product.unpinned", "replay": True})


def _pin_event(show: VirtualShow, entry: ShowEntry, catalog: Catalog, seconds: int) -> dict:
    card = product_card(catalog, entry.product_id, lang="en")
    return {
        "type": "product.pinned",
        "product": card,
        "caption": entry.caption,
        "caption_zh": entry.caption_zh,
        "replay": True,
        "show": {
            "position": show.position,
            "loop": show.loop,
            "seconds": seconds,
            "next_at": show.next_at.timestamp() if show.next_at else None,
        },
    }


def show_step(show: VirtualShow, now: datetime) -> bool:
    """Advance one locked show (inside its tenant scope). Returns whether it pinned."""
    if (show.ends_at is not None and show.ends_at <= now) or not show.is_active:
        if show.running:
            _stop(show)
            show.save(update_fields=["next_at", "entry_started_at", "position"])
        return False
    entries = _entries(show)
    usable = [i for i, e in enumerate(entries) if e.product.is_active]
    if not usable:
        if show.running:
            _stop(show)
            show.save(update_fields=["next_at", "entry_started_at", "position"])
        return False
    length = recording_seconds(show)
    if length is not None:
        # A recording: pin the entry under the moment every viewer is playing now.
        position, loop, left = _at_offset(show, entries, usable, now, length)
        seconds = max(1, round(left))
        next_at = now + timedelta(seconds=left)
    else:
        if not show.running:
            position, loop = usable[0], 0
        else:
            later = [i for i in usable if i > show.position]
            position, loop = (later[0], show.loop) if later else (usable[0], show.loop + 1)
        seconds = entries[position].seconds or show.slide_seconds
        # A job that was down does not replay what it missed: the step starts now.
        next_at = now + timedelta(seconds=seconds)
    entry = entries[position]
    show.position, show.loop = position, loop
    show.entry_started_at = now
    show.next_at = next_at
    show.save(update_fields=["position", "loop", "entry_started_at", "next_at"])
    catalog = catalog_load(merchant=show.merchant)
    publish(show.room, _pin_event(show, entry, catalog, seconds))
    return True


def recording_offset(show: VirtualShow, now: datetime, length: float) -> tuple[int, float]:
    """(loop, seconds into the recording) at `now`: the show plays it from `starts_at`."""
    elapsed = max(0.0, (now - show.starts_at).total_seconds())
    loop, offset = divmod(elapsed, length)
    return int(loop), offset


def _at_offset(
    show: VirtualShow, entries: list[ShowEntry], usable: list[int], now: datetime, length: float
) -> tuple[int, int, float]:
    """(entry index, loop, seconds until the next boundary) for a recording: entries cover
    the recording one after another by their seconds; the last holds to the end."""
    loop, offset = recording_offset(show, now, length)
    start = 0.0
    index, end = len(entries) - 1, length
    for i, entry in enumerate(entries):
        stop = start + (entry.seconds or show.slide_seconds)
        if offset < stop:
            index, end = i, min(stop, length)
            break
        start = stop
    if index not in usable:  # an inactive product: keep showing the one before it
        earlier = [i for i in usable if i < index]
        index = earlier[-1] if earlier else usable[0]
    return index, loop, max(0.5, end - offset)


def _due(show: VirtualShow, now: datetime) -> bool:
    if show.next_at is not None:
        return show.next_at <= now or (show.ends_at is not None and show.ends_at <= now)
    return show.is_active and show.starts_at <= now and (show.ends_at is None or show.ends_at > now)


def shows_advance(*, now: datetime | None = None, limit: int = 200) -> int:
    """Move every due show one step (a platform job: finds due shows across merchants
    through the audited bypass, then handles each in its own merchant's scope)."""
    now = now or timezone.now()
    with rls_bypass("virtual-host-advance"):
        due = list(
            VirtualShow.objects.filter(
                # running and due to move on (or to stop, `show_step` decides) …
                Q(next_at__lte=now)
                | Q(next_at__isnull=False, ends_at__lte=now)
                # … or scheduled, not started yet, and its time has come
                | (
                    Q(next_at__isnull=True, is_active=True, starts_at__lte=now)
                    & (Q(ends_at__isnull=True) | Q(ends_at__gt=now))
                )
            )
            .order_by("next_at")
            .values_list("merchant_id", "id")[:limit]
        )
    pinned = 0
    for merchant_id, show_id in due:
        try:
            with tenant_scope(merchant_id):
                show = (
                    # Lock the show only, not the room and merchant rows it joins.
                    VirtualShow.objects.select_for_update(of=("self",))
                    .select_related("merchant", "room")
                    .filter(pk=show_id, merchant_id=merchant_id)
                    .first()
                )
                if show is None or not _due(show, now):
                    continue  # deleted, or another scheduler moved it meanwhile
                pinned += show_step(show, now)
        except Exception:  # one broken show must not stop the others
            log.exception("virtual host %s failed to advance", show_id)
    return pinned


def show_state(*, show: VirtualShow, lang: str = "en") -> dict[str, Any]:
    """What the replay page shows: the timeline, where the show is and when it moves on."""
    catalog = catalog_load(merchant=show.merchant)
    entries = _entries(show)
    timeline = []
    for i, entry in enumerate(entries):
        card = product_card(catalog, entry.product_id, lang=lang, with_variants=False)
        if card is None:
            continue  # product inactive: skipped by the show too
        caption = entry.caption_zh if lang == "zh" and entry.caption_zh else entry.caption
        timeline.append(
            {
                "position": i,
                "product": card,
                "caption": caption,
                "seconds": entry.seconds or show.slide_seconds,
            }
        )
    current = (
        next((t for t in timeline if t["position"] == show.position), None)
        if show.running
        else None
    )
    length = recording_seconds(show)
    offset = (
        recording_offset(show, timezone.now(), length)[1]
        if length is not None and show.running
        else None
    )
    return {
        "replay": True,
        "mode": show.mode,
        "recording_url": recording_source(show),
        "recording_seconds": length,
        "recording_offset": round(offset, 2) if offset is not None else None,
        "running": show.running,
        "starts_at": show.starts_at.timestamp(),
        "ends_at": show.ends_at.timestamp() if show.ends_at else None,
        "position": show.position if show.running else None,
        "loop": show.loop,
        "current": current,
        "next_at": show.next_at.timestamp() if show.next_at else None,
        "timeline": timeline,
    }
