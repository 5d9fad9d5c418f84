"""Room safety state on the hot path: may this user write here, and what does the chat
filter make of a message.

`write_refusal` is checked on every client write (chat, gift; likes are free). The
moderation tools (delete, mute, ban, moderators, keyword lists, slow mode) are added below
the `# --- tools` line by the live selling work; this top part is the engine's.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from liveshop import ratelimit
from liveshop.errors import Conflict, DomainError
from liveshop.tenancy.access import Actor
from liveshop.tenancy.models import Membership
from liveshop.tenancy.permissions import Perm
from liveshop.tenancy.scope import tenant_scope
from liveshop.tenancy.services import audit_record

from .events import publish
from .models import (
    ModerationSettings,
    Restriction,
    RestrictionKind,
    Room,
    RoomEvent,
    RoomModerator,
    RoomSelling,
)
from .textfilter import KeywordFilter, custom_filter, keyword_filter, skeleton

log = logging.getLogger("liveshop.rooms.moderation")


def active_restrictions(*, room: Room, user: Any) -> list[Restriction]:
    """The user's mutes and bans that apply in `room` now (room-level or merchant-wide)."""
    with tenant_scope(room.merchant_id):
        return list(
            Restriction.objects.filter(merchant_id=room.merchant_id, user=user)
            .filter(Q(room__isnull=True) | Q(room=room))
            .filter(Q(until__isnull=True) | Q(until__gt=timezone.now()))
        )


def write_refusal(*, room: Room, user: Any) -> tuple[str, str] | None:
    """None when `user` may write in `room` (chat, gifts), else (error code, message):
    `banned` or `muted`. A ban wins over a mute."""
    if user is None:
        return "auth_required", _("Log in to do this.")
    found = active_restrictions(room=room, user=user)
    if any(r.kind == RestrictionKind.BAN for r in found):
        return "banned", _("You are banned from this room.")
    if found:
        return "muted", _("You are muted in this room for now.")
    return None


def chat_filter(*, room: Room, text: str, user: Any = None) -> str:
    """The text to publish for a chat message, or DomainError: `blocked` when the keyword
    filter (the built-in list plus the merchant's, `chat_rules`) refuses it, `slow_mode`
    when `user` wrote in this room less than the slow-mode interval ago."""
    text = text.strip()
    if not text:
        raise DomainError(_("Write something first."), code="invalid")
    rules = chat_rules(room)
    if rules.filter.find(text) is not None:
        raise DomainError(_("This message was blocked by the chat filter."), code="blocked")
    slow_mode_check(room=room, user=user, seconds=rules.slow_mode_s)
    return text


# --- tools
# Moderation tools (the live selling work): delete a message, mute (timed) and ban per room or
# merchant-wide, room moderators, the merchant's keyword list and slow mode, and the socket's
# rate limits. Staff frames reach `moderate` through rooms/staff.py; the dashboard edits
# `ModerationSettings`.
#
# Rate limits on the room socket (settings, env `LIVESHOP_ROOM_*`; `limits` sliding windows,
# in Redis when REDIS_URL is set, process memory otherwise):
#   CHAT_RATE        30/10s  chat messages per user (sustained)
#   CHAT_BURST_RATE  6/s     chat messages per user (burst: a flooder is refused within 1 s)
#   FRAME_RATE       100/10s client frames of any type per user (per IP before login)
#   CONN_FRAME_RATE  20/s    client frames per connection (in process memory: one socket)
#   IP_FRAME_RATE    6000/10s client frames per IP address, signed in or not (generous: one
#                            NAT or office shares an address)
#   ABUSE_STRIKES    20      refusals on one connection before it is closed with 4429
# Slow mode (per room, or the merchant's default) allows one message per N seconds per user;
# staff and the room's moderators are exempt.

ROOM_RULES_TTL_S = 2.0
SLOW_MODE_MAX_S = 600
MUTE_DEFAULT_S = 600

_rules_lock = threading.Lock()
_rules: dict[int, tuple[float, ChatRules]] = {}
_exempt: dict[tuple[int, int], tuple[float, bool]] = {}


@dataclass(frozen=True)
class ChatRules:
    filter: KeywordFilter
    slow_mode_s: int


def _merchant_words(settings_row: ModerationSettings | None) -> list[str]:
    if settings_row is None:
        return []
    return [w.strip() for w in settings_row.keywords.splitlines() if w.strip()]


def chat_rules(room: Room) -> ChatRules:
    """The room's keyword filter and slow mode, read at most every ROOM_RULES_TTL_S per
    process (a change reaches every process within that)."""
    now = time.monotonic()
    with _rules_lock:
        cached = _rules.get(room.pk)
    if cached is not None and cached[0] > now:
        return cached[1]
    with tenant_scope(room.merchant_id):
        row = ModerationSettings.objects.filter(merchant_id=room.merchant_id).first()
        room_slow = (
            RoomSelling.objects.filter(merchant_id=room.merchant_id, room=room)
            .values_list("slow_mode_s", flat=True)
            .first()
        )
    words = _merchant_words(row)
    flt = keyword_filter(words) if row is None or row.use_defaults else custom_filter(words)
    slow = room_slow if room_slow is not None else (row.slow_mode_s if row else 0)
    rules = ChatRules(filter=flt, slow_mode_s=int(slow or 0))
    with _rules_lock:
        if len(_rules) > 10_000:
            _rules.clear()
        _rules[room.pk] = (now + ROOM_RULES_TTL_S, rules)
    return rules


def chat_rules_forget(room: Room | None = None) -> None:
    with _rules_lock:
        if room is None:
            _rules.clear()
            _exempt.clear()
        else:
            _rules.pop(room.pk, None)


def is_room_moderator(*, room: Room, user: Any) -> bool:
    if user is None or not getattr(user, "pk", None):
        return False
    with tenant_scope(room.merchant_id):
        return RoomModerator.objects.filter(
            merchant_id=room.merchant_id, room=room, user_id=user.pk
        ).exists()


def _is_staff(merchant_id: int, user_id: int) -> bool:
    with tenant_scope(merchant_id):
        return Membership.objects.filter(merchant_id=merchant_id, user_id=user_id).exists()


def chat_exempt(*, room: Room, user: Any) -> bool:
    """Staff of the merchant and the room's moderators skip slow mode (cached 10 s)."""
    key = (room.pk, user.pk)
    now = time.monotonic()
    with _rules_lock:
        cached = _exempt.get(key)
    if cached is not None and cached[0] > now:
        return cached[1]
    exempt = _is_staff(room.merchant_id, user.pk) or is_room_moderator(room=room, user=user)
    with _rules_lock:
        if len(_exempt) > 50_000:
            _exempt.clear()
        _exempt[key] = (now + 10.0, exempt)
    return exempt


def slow_mode_check(*, room: Room, user: Any, seconds: int) -> None:
    """One message per `seconds` per user in this room (cache.add is atomic in Redis and in
    process memory alike), or DomainError(code="slow_mode")."""
    if seconds <= 0 or user is None or chat_exempt(room=room, user=user):
        return
    if not cache.add(f"slow:{room.pk}:{user.pk}", 1, timeout=seconds):
        raise DomainError(
            _("Slow mode is on: one message every %(n)d seconds.") % {"n": seconds},
            code="slow_mode",
        )


# --- rate limits on the socket (the consumer calls these) -----------------------------


def _rate(name: str) -> Any:
    return ratelimit.rate_parse(getattr(settings, name))


async def _ahit(setting: str, *key: str) -> bool:
    """Count against the rate in `setting` on the shared store. The first command after a
    Redis restart meets a dead pooled connection, so once more; if the store stays down,
    allow (the room stream is down too then, and writes fail there)."""
    for attempt in range(2):
        try:
            return await ratelimit.ahit(_rate(setting), *key)
        except ValueError:
            raise
        except Exception:
            if attempt:
                log.warning("room rate limits unavailable; allowing %s", key[0])
    return True


async def frame_allowed(*, user_id: int | None, ip: str, connection: str) -> bool:
    """Count one client frame against the per-connection, per-user (per IP before login)
    and per-IP budgets; False when any is spent."""
    if not ratelimit.local_hit(_rate("LIVESHOP_ROOM_CONN_FRAME_RATE"), "room-conn", connection):
        return False
    who = f"user:{user_id}" if user_id is not None else f"ip:{ip}"
    if not await _ahit("LIVESHOP_ROOM_FRAME_RATE", "room-frame", who):
        return False
    return await _ahit("LIVESHOP_ROOM_IP_FRAME_RATE", "room-ip", ip)


async def chat_allowed(*, user_id: int) -> bool:
    """The per-user chat budgets: a burst limit (a flooder is refused within a second) and
    a sustained one."""
    if not await _ahit("LIVESHOP_ROOM_CHAT_BURST_RATE", "room-chat-b", str(user_id)):
        return False
    return await _ahit("LIVESHOP_ROOM_CHAT_RATE", "room-chat", str(user_id))


# --- staff and moderator actions ------------------------------------------------------

MODERATOR_ACTIONS = frozenset({"delete", "mute", "unmute", "slow_mode"})


def user_public(user: Any) -> dict[str, Any]:
    return {"id": user.pk, "name": getattr(user, "display_name", "") or _("Viewer")}


def moderate(*, actor: Actor | None, user: Any, room: Room, frame: dict[str, Any]) -> None:
    """A `moderate` frame from staff (`actor`) or a room moderator (`actor` None)."""
    action = frame.get("action")
    scope = frame.get("scope") or "room"
    if actor is None and (action not in MODERATOR_ACTIONS or scope != "room"):
        raise PermissionDenied(_("Room moderators may delete messages, mute and set slow mode."))
    if action == "delete":
        message_delete(room=room, seq=_need(frame, "seq"), by=user)
    elif action in ("mute", "ban"):
        restrict(
            room=room,
            target_id=_need(frame, "user"),
            kind=action,
            seconds=frame.get("seconds"),
            scope=scope,
            reason=str(frame.get("reason") or ""),
            by=user,
        )
    elif action in ("unmute", "unban"):
        unrestrict(
            room=room,
            target_id=_need(frame, "user"),
            kind=action[2:],
            scope=scope,
            by=user,
        )
    elif action == "slow_mode":
        slow_mode_set(room=room, seconds=_need(frame, "seconds"), by=user)
    elif action == "promote":
        moderator_promote(actor=_staff(actor), room=room, user_id=_need(frame, "user"))
    elif action == "demote":
        moderator_demote(actor=_staff(actor), room=room, user_id=_need(frame, "user"))
    else:
        raise ValidationError({"action": [_("Unknown action.")]})


def _staff(actor: Actor | None) -> Actor:
    if actor is None:
        raise PermissionDenied(_("Only the room's staff may do this."))
    return actor


def _need(frame: dict[str, Any], field: str) -> int:
    value = frame.get(field)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError({field: [_("This field is required.")]})
    return value


def message_delete(*, room: Room, seq: int, by: Any) -> None:
    """Hide chat message `seq` for everyone (`moderation.removed {removed_seq}`); the stored
    row is marked `removed` so replays and `hello.recent` leave it out."""
    if seq < 1:
        raise ValidationError({"seq": [_("Give the message's seq.")]})
    with tenant_scope(room.merchant_id):
        stored = (
            RoomEvent.objects.filter(merchant_id=room.merchant_id, room=room, seq=seq)
            .values_list("type", flat=True)
            .first()
        )
        if stored is not None and stored != "chat.message":
            raise ValidationError({"seq": [_("Only chat messages can be deleted.")]})
        publish(room, {"type": "moderation.removed", "removed_seq": seq})
        merchant_id, room_id = room.merchant_id, room.pk
        transaction.on_commit(lambda: _mark_removed(merchant_id, room_id, seq), robust=True)


def _mark_removed(merchant_id: int, room_id: int, seq: int) -> None:
    from .realtime.engine import get_engine

    # The message may still wait in this process' persister: write it first, outside any
    # request transaction (a rollback must not take other events with it).
    try:
        get_engine().persister.flush(str(room_id))
    except Exception:
        log.exception("room %s: flushing before a removal failed", room_id)
    with tenant_scope(merchant_id):
        row = (
            RoomEvent.objects.select_for_update()
            .filter(merchant_id=merchant_id, room_id=room_id, seq=seq, type="chat.message")
            .first()
        )
        if row is not None and not row.data.get("removed"):
            row.data = {**row.data, "removed": True}
            row.save(update_fields=["data"])


def _target(room: Room, target_id: int, by: Any) -> Any:
    from django.contrib.auth import get_user_model

    target = get_user_model().objects.filter(pk=target_id).first()
    if target is None:
        raise ValidationError({"user": [_("Unknown user.")]})
    if target.pk == getattr(by, "pk", None):
        raise ValidationError({"user": [_("You cannot moderate yourself.")]})
    if target.pk == room.host_id or _is_staff(room.merchant_id, target.pk):
        raise Conflict(_("Staff cannot be muted or banned."), code="cannot_moderate_staff")
    by_staff = by is None or _is_staff(room.merchant_id, by.pk)  # None: an API key
    if not by_staff and is_room_moderator(room=room, user=target):
        raise Conflict(_("Moderators cannot moderate each other."), code="cannot_moderate_staff")
    return target


def restrict(
    *,
    room: Room,
    target_id: int,
    kind: str,
    seconds: Any = None,
    scope: str = "room",
    reason: str = "",
    by: Any,
) -> Restriction:
    """Mute (default 10 minutes) or ban (for good unless `seconds`) a user in this room or
    in all the merchant's rooms (`scope="merchant"`)."""
    if kind not in (RestrictionKind.MUTE, RestrictionKind.BAN) or scope not in ("room", "merchant"):
        raise ValidationError({"action": [_("Unknown action.")]})
    if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, int)):
        raise ValidationError({"seconds": [_("Give whole seconds.")]})
    if kind == RestrictionKind.MUTE and not seconds:
        seconds = MUTE_DEFAULT_S
    if seconds is not None and not 0 <= seconds <= 30 * 24 * 3600:
        raise ValidationError({"seconds": [_("At most 30 days.")]})
    with tenant_scope(room.merchant_id):
        target = _target(room, target_id, by)
        until = timezone.now() + timedelta(seconds=seconds) if seconds else None
        found = Restriction.objects.create(
            merchant_id=room.merchant_id,
            room=room if scope == "room" else None,
            user=target,
            kind=kind,
            until=until,
            reason=reason[:200],
            created_by=by if getattr(by, "pk", None) else None,
        )
        event = {
            "type": "moderation.muted",
            "user": user_public(target),
            "until": int(until.timestamp() * 1000) if until else None,
            "kind": kind,
            "scope": scope,
        }
        publish(room, event)
    return found


def unrestrict(*, room: Room, target_id: int, kind: str, scope: str = "room", by: Any) -> int:
    """Lift the user's active mutes (or bans) here (`scope="merchant"`: merchant-wide ones
    too). Publishes `moderation.muted` with `until` = now (no longer muted)."""
    with tenant_scope(room.merchant_id):
        target = _target(room, target_id, by)
        found = Restriction.objects.filter(
            merchant_id=room.merchant_id, user=target, kind=kind
        ).filter(Q(until__isnull=True) | Q(until__gt=timezone.now()))
        found = (
            found.filter(Q(room=room) | Q(room__isnull=True))
            if scope == "merchant"
            else (found.filter(room=room))
        )
        lifted, _rows = found.delete()
        if lifted:
            publish(
                room,
                {
                    "type": "moderation.muted",
                    "user": user_public(target),
                    "until": int(timezone.now().timestamp() * 1000),
                    "kind": kind,
                    "lifted": True,
                },
            )
    return lifted


def slow_mode_set(*, room: Room, seconds: int, by: Any) -> None:
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int)
        or not 0 <= seconds <= (SLOW_MODE_MAX_S)
    ):
        raise ValidationError(
            {"seconds": [_("Between 0 (off) and %(n)d.") % {"n": SLOW_MODE_MAX_S}]}
        )
    with tenant_scope(room.merchant_id):
        row, _created = RoomSelling.objects.get_or_create(merchant_id=room.merchant_id, room=room)
        RoomSelling.objects.filter(pk=row.pk).update(slow_mode_s=seconds, updated_at=timezone.now())
    chat_rules_forget(room)


def moderator_promote(*, actor: Actor, room: Room, user_id: int) -> RoomModerator:
    """Make a shopper a moderator of this one room."""
    actor.require(Perm.MODERATE)
    if room.merchant_id != actor.merchant.id:
        raise Http404("No such room.")
    from django.contrib.auth import get_user_model

    with tenant_scope(room.merchant_id):
        user = get_user_model().objects.filter(pk=user_id).first()
        if user is None:
            raise ValidationError({"user": [_("Unknown user.")]})
        if _is_staff(room.merchant_id, user.pk):
            raise Conflict(_("Staff moderate already."), code="already_staff")
        row, _created = RoomModerator.objects.get_or_create(
            merchant_id=room.merchant_id,
            room=room,
            user=user,
            defaults={"created_by": actor.user if getattr(actor.user, "pk", None) else None},
        )
        audit_record(actor=actor, action="room.moderator_added", obj=room, data={"user": user.pk})
    _forget_exempt(room, user_id)
    return row


def moderator_demote(*, actor: Actor, room: Room, user_id: int) -> bool:
    actor.require(Perm.MODERATE)
    if room.merchant_id != actor.merchant.id:
        raise Http404("No such room.")
    with tenant_scope(room.merchant_id):
        deleted, _rows = RoomModerator.objects.filter(
            merchant_id=room.merchant_id, room=room, user_id=user_id
        ).delete()
        if deleted:
            audit_record(
                actor=actor, action="room.moderator_removed", obj=room, data={"user": user_id}
            )
    _forget_exempt(room, user_id)
    return bool(deleted)


def _forget_exempt(room: Room, user_id: int) -> None:
    with _rules_lock:
        _exempt.pop((room.pk, user_id), None)


def room_moderators(*, room: Room) -> list[RoomModerator]:
    with tenant_scope(room.merchant_id):
        return list(
            RoomModerator.objects.filter(merchant_id=room.merchant_id, room=room)
            .select_related("user")
            .order_by("id")
        )


# --- the merchant's chat settings (dashboard) -----------------------------------------

MAX_KEYWORDS = 500
MAX_KEYWORD_CHARS = 40


def moderation_settings_get(*, merchant: Any) -> ModerationSettings:
    with tenant_scope(merchant.id):
        row = ModerationSettings.objects.filter(merchant=merchant).first()
    return row or ModerationSettings(merchant=merchant)


def keywords_clean(raw: Any) -> str:
    if not isinstance(raw, str):
        raise ValidationError({"keywords": [_("One word or phrase per line.")]})
    words: list[str] = []
    for line in raw.splitlines():
        word = " ".join(line.split())
        if not word:
            continue
        if len(word) > MAX_KEYWORD_CHARS:
            raise ValidationError(
                {"keywords": [_("At most %(n)d characters per line.") % {"n": MAX_KEYWORD_CHARS}]}
            )
        if len(skeleton(word)) < 2:
            raise ValidationError(
                {
                    "keywords": [
                        _("%(word)s: give at least two letters or characters.") % {"word": word}
                    ]
                }
            )
        if word not in words:
            words.append(word)
    if len(words) > MAX_KEYWORDS:
        raise ValidationError({"keywords": [_("At most %(n)d words.") % {"n": MAX_KEYWORDS}]})
    return "\n".join(words)


def moderation_settings_save(
    *, actor: Actor, keywords: Any, slow_mode_s: Any, use_defaults: bool = True
) -> ModerationSettings:
    """The merchant's extra keywords (one per line) and default slow mode."""
    actor.require(Perm.MANAGE_SETTINGS)
    words = keywords_clean(keywords)
    if (
        isinstance(slow_mode_s, bool)
        or not isinstance(slow_mode_s, int)
        or not 0 <= slow_mode_s <= (SLOW_MODE_MAX_S)
    ):
        raise ValidationError(
            {"slow_mode_s": [_("Between 0 (off) and %(n)d.") % {"n": SLOW_MODE_MAX_S}]}
        )
    with tenant_scope(actor.merchant.id, user_id=getattr(actor.user, "pk", None)):
        row, _created = ModerationSettings.objects.select_for_update().get_or_create(
            merchant=actor.merchant
        )
        row.keywords = words
        row.slow_mode_s = slow_mode_s
        row.use_defaults = bool(use_defaults)
        row.updated_at = timezone.now()
        row.save()
        audit_record(
            actor=actor,
            action="moderation.settings_saved",
            data={"keywords": len(words.splitlines()), "slow_mode_s": slow_mode_s},
        )
    chat_rules_forget()
    return row
