"""Batch building: folding only above the threshold, only chat; stock.changed coalesced per
product; size splits keep from/to continuous; every seq listed or counted in `folded`."""

from __future__ import annotations

import json
from typing import Any

from rooms.realtime.frames import batch_frames, replay_frames, select_events


def events(*types: str, start: int = 1, ts: int = 1_000_000) -> list[dict[str, Any]]:
    out = []
    for i, kind in enumerate(types):
        event: dict[str, Any] = {"seq": start + i, "type": kind, "ts": ts}
        if kind == "stock.changed":
            event.update(product=1, variant=1, stock=100 - i)
        out.append(event)
    return out


def test_chat_is_not_folded_at_the_threshold() -> None:
    tick = events(*["chat.message"] * 60, "gift")
    kept, left_out = select_events(tick, 60)
    assert (len(kept), left_out) == (61, 0)


def test_chat_above_the_threshold_keeps_the_newest_and_never_other_types() -> None:
    never_folded = [
        "gift",
        "product.pinned",
        "product.unpinned",
        "flash_sale.started",
        "flash_sale.ended",
        "purchase",
        "moderation.removed",
        "moderation.muted",
        "room.state",
        "assistant.answer",
    ]
    tick = events(*(["chat.message"] * 100 + never_folded * 20 + ["chat.message"] * 100))
    kept, left_out = select_events(tick, 60)
    assert left_out == 140
    chat = [e for e in kept if e["type"] == "chat.message"]
    assert [e["seq"] for e in chat] == [e["seq"] for e in tick if e["type"] == "chat.message"][-60:]
    assert [e for e in kept if e["type"] != "chat.message"] == [
        e for e in tick if e["type"] != "chat.message"
    ]


def test_stock_changed_keeps_the_last_per_product() -> None:
    tick = events("stock.changed", "gift", "stock.changed", "stock.changed", "chat.message")
    tick[2]["product"] = 2
    kept, left_out = select_events(tick, 60)
    assert [(e["seq"], e["type"]) for e in kept] == [
        (2, "gift"),
        (3, "stock.changed"),
        (4, "stock.changed"),
        (5, "chat.message"),
    ]
    assert [e["stock"] for e in kept if e["type"] == "stock.changed"] == [98, 97]
    assert left_out == 1


def test_a_batch_lists_or_counts_every_seq() -> None:
    tick = events(*["chat.message"] * 70, start=11)
    kept, _ = select_events(tick, 60)
    [frame] = batch_frames(11, 80, kept, '{"viewers":3,"likes":9}', 65536)
    batch = json.loads(frame)
    assert (batch["from"], batch["to"], batch["folded"]) == (11, 80, 10)
    assert batch["stats"] == {"viewers": 3, "likes": 9}
    assert [e["seq"] for e in batch["events"]] == list(range(21, 81))
    assert frame == json.dumps(batch, separators=(",", ":"), ensure_ascii=False)


def test_large_batches_split_with_continuous_from_to() -> None:
    tick = events(*["gift"] * 300, start=101)
    for e in tick:
        e["note"] = "礼物" * 40  # multi-byte text: the limit is in bytes
    frames = batch_frames(101, 400, tick, '{"viewers":0,"likes":0}', 8192)
    assert len(frames) > 1
    prev = 100
    for frame in frames:
        assert len(frame.encode()) <= 8192
        batch = json.loads(frame)
        assert batch["from"] == prev + 1
        assert len(batch["events"]) + batch["folded"] == batch["to"] - batch["from"] + 1
        prev = batch["to"]
    assert prev == 400


def test_a_stats_only_batch_covers_nothing() -> None:
    [frame] = batch_frames(51, 50, [], '{"viewers":2,"likes":1}', 65536)
    assert json.loads(frame) == {
        "type": "batch",
        "from": 51,
        "to": 50,
        "events": [],
        "folded": 0,
        "stats": {"viewers": 2, "likes": 1},
    }


def test_replay_folds_per_tick_window_of_ts() -> None:
    # 100 chat in one 100 ms window, then 100 chat spread over ten windows.
    burst = events(*["chat.message"] * 100, start=1, ts=10_000)
    calm = [
        e
        for w in range(10)
        for e in events(*["chat.message"] * 10, start=101 + 10 * w, ts=10_100 + 100 * w)
    ]
    [frame] = replay_frames(
        burst + calm, tick_ms=100, fold_threshold=60, stats_json="{}", max_frame_bytes=1 << 20
    )
    batch = json.loads(frame)
    assert (batch["from"], batch["to"], batch["folded"]) == (1, 200, 40)
    assert [e["seq"] for e in batch["events"]] == list(range(41, 201))
