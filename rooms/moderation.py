"""Room safety state on the hot path: may this user write here, and what does the chat
filter make of a message.

`write_refusal` is checked on every client write (chat, gift; likes are free). The
moderation tools (delete, mute, ban, moderators, keyword lists, slow mode) are added below
the `# --- tools` line by the live selling work; this top part is the engine's.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from liveshop.errors import DomainError
from liveshop.tenancy.scope import tenant_scope

from .models import Restriction, RestrictionKind, Room
from .textfilter import keyword_filter


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


def chat_filter(*, room: Room, text: str) -> str:
    """The text to publish for a chat message, or DomainError(code="blocked") when the filter
    refuses it. The engine's version applies the default keyword list; merchant lists and
    slow mode are the moderation tools' (below)."""
    text = text.strip()
    if not text:
        raise DomainError(_("Write something first."), code="invalid")
    if keyword_filter().find(text) is not None:
        raise DomainError(_("This message was blocked by the chat filter."), code="blocked")
    return text


# --- tools
