"""What the agent sees of the room a shopper came from: the product pinned there when they
asked, and their recent chat in it. The one place consults reads the rooms app's live
selling state (`RoomSelling`) and stored chat (`RoomEvent`); callers are inside the
merchant's tenant scope."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rooms.models import RoomEvent, RoomSelling

RECENT_CHAT = 5
SCAN = 500  # chat events of the room looked through for the shopper's lines (newest first)


def pinned_product_id(room: Any) -> int | None:
    """The product pinned in `room` right now."""
    if room is None:
        return None
    return (
        RoomSelling.objects.filter(merchant_id=room.merchant_id, room=room)
        .values_list("pinned_product_id", flat=True)
        .first()
    )


def recent_chat(room: Any, user_id: int, limit: int = RECENT_CHAT) -> list[dict[str, Any]]:
    """The shopper's last chat lines in `room` (oldest first), removed messages left out."""
    if room is None:
        return []
    recent = RoomEvent.objects.filter(
        merchant_id=room.merchant_id, room=room, type="chat.message"
    ).order_by("-seq")[:SCAN]
    out = []
    for data in recent.values_list("data", flat=True):
        user = data.get("user") if isinstance(data, dict) else None
        if not isinstance(user, dict) or user.get("id") != user_id or data.get("removed"):
            continue
        out.append(
            {
                "text": str(data.get("text", ""))[:500],
                "at": datetime.fromtimestamp(int(data.get("ts", 0)) / 1000, tz=UTC),
            }
        )
        if len(out) >= limit:
            break
    out.reverse()
    return out
