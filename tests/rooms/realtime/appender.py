"""A writer process for the multi-process seq test: appends to one room's Redis stream as
fast as it can and prints the seqs it was given."""

from __future__ import annotations

import asyncio
import json
import sys

from rooms.realtime.stream import RedisRoomStream, ZeroFloor


async def main(url: str, prefix: str, room: str, appends: int, writer: str) -> None:
    stream = RedisRoomStream(url, prefix=prefix, floor=ZeroFloor())
    seqs = []
    for i in range(appends):
        size = 1 + i % 3  # single events and small groups
        events = [{"type": "chat.message", "text": f"{writer}-{i}-{j}"} for j in range(size)]
        stored = await stream.append(room, events)
        seqs += [e["seq"] for e in stored]
    await stream.aclose()
    print(json.dumps(seqs))


if __name__ == "__main__":
    url, prefix, room, appends, writer = sys.argv[1:6]
    asyncio.run(main(url, prefix, room, int(appends), writer))
