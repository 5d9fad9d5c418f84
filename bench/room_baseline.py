"""The baseline of bench/room_fanout.py: a room the way the Channels tutorial builds one.
Every viewer's channel joins the room's group; every chat message is one `group_send`, and
every viewer's consumer serialises and sends it on its own. Same socket base (Origin, auth
frame) as the real room; no hub, no batching, no persistence. Routed only when
`LIVESHOP_ROOM_BASELINE` is on (the benchmark turns it on), never in the product."""

from __future__ import annotations

import time
from typing import Any

from liveshop.ws import FrameError, TenantConsumer


class BaselineRoomConsumer(TenantConsumer):
    group: str = ""

    async def on_open(self) -> None:
        room = str(self.scope["url_route"]["kwargs"].get("room", ""))
        self.group = f"baseline.{self.merchant.pk}.{room}"
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.send_json({"type": "hello", "seq": 0, "room": {"slug": room}, "recent": []})

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def on_frame(self, frame: dict[str, Any]) -> None:
        if frame["type"] != "chat.send":
            raise FrameError("unknown_type", "The baseline room only takes chat.send.")
        user = self.require_user()
        text = frame.get("text")
        if not isinstance(text, str) or not 1 <= len(text) <= 300:
            raise FrameError("invalid", "text: 1-300 characters")
        await self.channel_layer.group_send(
            self.group,
            {
                "type": "room.event",
                "event": {
                    "type": "chat.message",
                    "ts": int(time.time() * 1000),
                    "user": self.user_public(user),
                    "text": text,
                    "nonce": frame.get("nonce"),
                },
            },
        )

    async def room_event(self, message: dict[str, Any]) -> None:
        await self.send_json({"type": "event", "event": message["event"]})
