"""Server frames of the room socket, built once and sent as the same text to every viewer.

Batch rules (README.md, "Rules"):
- A batch covers seqs `from..to`; the next batch starts at `to + 1`. `len(events) + folded
  == to - from + 1`: every seq in the range is either listed or counted in `folded`.
- A stats-only batch has no events and covers nothing: `from = previous to + 1`, `to = from - 1`.
- `chat.message` is folded only when a tick holds more than `fold_threshold` of them: the
  newest `fold_threshold` are kept. `stock.changed` keeps the last one per product per tick;
  the earlier ones count in `folded` too. No other type is ever left out.
- A batch over `max_frame_bytes` is split into consecutive batches with continuous from/to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .stream import Event, dumps

CHAT = "chat.message"
STOCK = "stock.changed"
REMOVED = "moderation.removed"
# The contract writes `moderation.removed {seq}`, but `seq` is every event's own number; the
# removed message's seq travels in this field instead (see README.md).
REMOVED_FIELD = "removed_seq"

# '{"type":"batch","from":<20>,"to":<20>,"events":[],"folded":<20>,"stats":' + '}'
_BATCH_OVERHEAD = 120


def select_events(events: Sequence[Event], fold_threshold: int) -> tuple[list[Event], int]:
    """The events of one tick that are sent, in seq order, and how many are left out."""
    chat_total = stock_total = 0
    last_stock: dict[Any, int] = {}
    for event in events:
        kind = event["type"]
        if kind == CHAT:
            chat_total += 1
        elif kind == STOCK:
            stock_total += 1
            last_stock[event.get("product")] = event["seq"]
    chat_skip = max(chat_total - fold_threshold, 0)  # the oldest ones
    if not chat_skip and len(last_stock) == stock_total:
        return list(events), 0
    kept = []
    for event in events:
        kind = event["type"]
        if kind == CHAT and chat_skip:
            chat_skip -= 1
            continue
        if kind == STOCK and last_stock[event.get("product")] != event["seq"]:
            continue
        kept.append(event)
    return kept, len(events) - len(kept)


def batch_frames(
    first: int, last: int, kept: Sequence[Event], stats_json: str, max_frame_bytes: int
) -> list[str]:
    """Batch frames covering `first..last` (continuous), listing `kept` (a subset of those
    seqs, ordered), each frame at most `max_frame_bytes` unless one event alone is bigger."""
    parts = [dumps(e) for e in kept]
    budget = max_frame_bytes - _BATCH_OVERHEAD - len(stats_json.encode())
    frames: list[str] = []
    start = first
    chunk: list[str] = []
    size = 0
    for i, part in enumerate(parts):
        n = len(part.encode()) + 1
        if chunk and size + n > budget:
            to = kept[i - 1]["seq"]
            frames.append(_batch(start, to, chunk, stats_json))
            start, chunk, size = to + 1, [], 0
        chunk.append(part)
        size += n
    frames.append(_batch(start, last, chunk, stats_json))
    return frames


def _batch(first: int, last: int, parts: list[str], stats_json: str) -> str:
    folded = (last - first + 1) - len(parts)
    return (
        f'{{"type":"batch","from":{first},"to":{last},"events":[{",".join(parts)}],'
        f'"folded":{folded},"stats":{stats_json}}}'
    )


def replay_frames(
    events: Sequence[Event],
    *,
    tick_ms: int,
    fold_threshold: int,
    stats_json: str,
    max_frame_bytes: int,
) -> list[str]:
    """Batches for a resume: contiguous stored events, folded as live ticks would have folded
    them (grouped by the tick window of their `ts`), packed into as few frames as fit."""
    if not events:
        return []
    kept: list[Event] = []
    window: list[Event] = []
    window_key = None
    for event in events:
        key = event["ts"] // tick_ms
        if window and key != window_key:
            kept.extend(select_events(window, fold_threshold)[0])
            window = []
        window_key = key
        window.append(event)
    kept.extend(select_events(window, fold_threshold)[0])
    return batch_frames(events[0]["seq"], events[-1]["seq"], kept, stats_json, max_frame_bytes)


def hello_frame(*, seq: int, gap: bool, room: Mapping[str, Any], recent: Sequence[Event]) -> str:
    return dumps({"type": "hello", "seq": seq, "gap": gap, "room": room, "recent": list(recent)})
