""" "You may also like": item-to-item recommendations for a set of seed products.

Signals, strongest first:

* co-buying — orders holding a seed and another product (placed, paid or fulfilled, last
  `WINDOW_DAYS`), scored by cosine similarity `co(a, b) / sqrt(orders(a) · orders(b))` so a
  best seller does not win everything;
* co-viewing — viewers who watched while a seed was shown and while another product was:
  watch sessions (the room engine's `WatchRecord` start/stop records, persisted by the rooms
  app) crossed with what each room showed (its pins over time, else its line-up). Same
  cosine score. `coview_scores` is pure; `watch_sessions` and `shown_intervals` read what
  the rooms app persists (`WatchSession`, `RoomEvent`) and yield nothing until it does;
* cold start — products that share a room line-up with a seed (the room's own line-up
  first), then products of a seed's category.

Inactive and out-of-stock products are never recommended, nor the seeds themselves. Scores
are cached briefly per seed set (`CACHE_S`); stock is checked fresh on every call.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.apps import apps
from django.core.cache import cache
from django.db.models import Count
from django.utils import timezone

from commerce import selectors as commerce_selectors
from commerce.models import OrderLine, OrderStatus, Product
from liveshop.tenancy.models import Merchant
from rooms.models import Room, RoomProduct

WINDOW_DAYS = 180
VIEW_WINDOW_DAYS = 30
MAX_SESSIONS = 20_000
MAX_ORDERS = 5_000
MAX_SEEDS = 20
MAX_LIMIT = 24
CACHE_S = 120
# A viewer "saw" a product when it was shown for at least this long while they watched.
MIN_VIEW_S = 10.0
WEIGHTS = {"buy": 1.0, "view": 0.6, "lineup": 0.3, "room": 0.35, "category": 0.1}
BOUGHT = (OrderStatus.PENDING_PAYMENT, OrderStatus.PAID, OrderStatus.FULFILLED)


# --- co-buying -------------------------------------------------------------------------------


def cobuy_scores(*, merchant: Merchant, seeds: Sequence[int]) -> dict[int, float]:
    since = timezone.now() - timedelta(days=WINDOW_DAYS)
    lines = OrderLine.objects.filter(
        merchant=merchant, order__status__in=BOUGHT, order__created_at__gte=since
    )
    seed_orders = list(
        lines.filter(product_id__in=seeds)
        .order_by("-order_id")
        .values_list("order_id", flat=True)
        .distinct()[:MAX_ORDERS]
    )
    if not seed_orders:
        return {}
    co = dict(
        lines.filter(order_id__in=seed_orders)
        .exclude(product_id__in=seeds)
        .values("product_id")
        .annotate(n=Count("order_id", distinct=True))
        .values_list("product_id", "n")
    )
    if not co:
        return {}
    popularity = dict(
        lines.filter(product_id__in=list(co))
        .values("product_id")
        .annotate(n=Count("order_id", distinct=True))
        .values_list("product_id", "n")
    )
    seeds_n = len(set(seed_orders))
    return {pid: n / math.sqrt(seeds_n * max(popularity.get(pid, n), 1)) for pid, n in co.items()}


# --- co-viewing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ViewSession:
    """One viewer watching one room from `start` to `stop` (seconds since the epoch)."""

    room: str
    viewer: str
    start: float
    stop: float


@dataclass(frozen=True)
class ShownInterval:
    """A product shown (pinned) in a room from `start` to `stop`."""

    room: str
    product: int
    start: float
    stop: float


def sessions_from_records(records: Iterable[Any]) -> list[ViewSession]:
    """Pair the room engine's `WatchRecord`s (kind start/stop, room, viewer, at, seconds)
    into sessions. A stop without its start uses `at - seconds`."""
    open_: dict[tuple[str, str], float] = {}
    sessions: list[ViewSession] = []
    for record in sorted(records, key=lambda r: (r.at, r.kind != "start")):
        key = (str(record.room), str(record.viewer))
        if record.kind == "start":
            open_[key] = float(record.at)
        elif record.kind == "stop":
            start = open_.pop(key, None)
            if start is None and record.seconds is not None:
                start = float(record.at) - float(record.seconds)
            if start is not None and record.at > start:
                sessions.append(ViewSession(key[0], key[1], start, float(record.at)))
    return sessions


def viewed_products(
    sessions: Iterable[ViewSession],
    *,
    shown: Iterable[ShownInterval] = (),
    lineups: Mapping[str, Sequence[int]] | None = None,
) -> dict[str, set[int]]:
    """Per viewer, the products they watched: those shown at least MIN_VIEW_S during their
    sessions; for a room without shown intervals, its line-up."""
    by_room: dict[str, list[ShownInterval]] = defaultdict(list)
    for interval in shown:
        by_room[interval.room].append(interval)
    baskets: dict[str, set[int]] = defaultdict(set)
    for s in sessions:
        intervals = by_room.get(s.room)
        if intervals:
            for i in intervals:
                if min(s.stop, i.stop) - max(s.start, i.start) >= MIN_VIEW_S:
                    baskets[s.viewer].add(i.product)
        elif lineups and s.stop - s.start >= MIN_VIEW_S:
            baskets[s.viewer].update(lineups.get(s.room, ()))
    return dict(baskets)


def coview_scores(baskets: Mapping[str, set[int]], seeds: Sequence[int]) -> dict[int, float]:
    """Cosine co-occurrence of products in viewers' baskets with the seeds."""
    seed_set = set(seeds)
    viewers_of: Counter[int] = Counter()
    co: Counter[int] = Counter()
    seed_viewers = 0
    for products in baskets.values():
        viewers_of.update(products)
        if products & seed_set:
            seed_viewers += 1
            co.update(products - seed_set)
    if not seed_viewers:
        return {}
    return {pid: n / math.sqrt(seed_viewers * viewers_of[pid]) for pid, n in co.items()}


def _rooms_model(name: str) -> Any:
    """A model of the rooms app's live-selling work, or None where it has not landed."""
    try:
        return apps.get_model("rooms", name)
    except LookupError:
        return None


def watch_sessions(*, merchant: Merchant, since: datetime) -> list[ViewSession]:
    """Watch sessions of the merchant's rooms since `since`, from the rooms app's persisted
    `WatchSession`s (the engine's WatchRecords); none where that model does not exist."""
    model = _rooms_model("WatchSession")
    if model is None:
        return []
    rows = (
        model.objects.filter(merchant=merchant, started_at__gte=since)
        .order_by("-id")
        .values_list("room_id", "viewer", "started_at", "ended_at", "seen_at")[:MAX_SESSIONS]
    )
    return [
        ViewSession(str(room_id), viewer, start.timestamp(), (end or seen).timestamp())
        for room_id, viewer, start, end, seen in rows
        if (end or seen) is not None
    ]


def shown_intervals(*, merchant: Merchant, since: datetime) -> list[ShownInterval]:
    """What each room showed when: its `product.pinned` events until the next pin or unpin
    (the rooms app's persisted `RoomEvent`s); none where that model does not exist."""
    model = _rooms_model("RoomEvent")
    if model is None:
        return []
    rows = (
        model.objects.filter(
            merchant=merchant,
            type__in=("product.pinned", "product.unpinned"),
            ts__gte=int(since.timestamp() * 1000),
        )
        .order_by("room_id", "seq")
        .values_list("room_id", "ts", "type", "data")[:MAX_SESSIONS]
    )
    intervals: list[ShownInterval] = []
    current: dict[str, tuple[int, float]] = {}
    end_of_data = timezone.now().timestamp()
    for room_id, ts, kind, data in rows:
        room = str(room_id)
        at = ts / 1000
        if room in current:
            product, start = current.pop(room)
            intervals.append(ShownInterval(room, product, start, at))
        product_data = (data or {}).get("product") if kind == "product.pinned" else None
        pid = product_data.get("id") if isinstance(product_data, dict) else product_data
        if isinstance(pid, int) and not isinstance(pid, bool):
            current[room] = (pid, at)
    intervals.extend(
        ShownInterval(room, product, start, end_of_data)
        for room, (product, start) in current.items()
    )
    return intervals


# --- cold start ------------------------------------------------------------------------------


def lineup_scores(*, merchant: Merchant, seeds: Sequence[int], room: Room | None) -> dict:
    scores: dict[int, float] = defaultdict(float)
    if room is not None:
        lineup = list(
            RoomProduct.objects.filter(merchant=merchant, room=room)
            .order_by("position", "id")
            .values_list("product_id", flat=True)
        )
        for position, pid in enumerate(lineup):
            # The host's order breaks ties: earlier in the line-up, a little higher.
            scores[pid] += WEIGHTS["room"] * (1 - 0.5 * position / len(lineup))
    shared_rooms = (
        RoomProduct.objects.filter(merchant=merchant, product_id__in=seeds)
        .values_list("room_id", flat=True)
        .distinct()[:200]
    )
    together = Counter(
        RoomProduct.objects.filter(merchant=merchant, room_id__in=list(shared_rooms)).values_list(
            "product_id", flat=True
        )
    )
    top = max(together.values(), default=0)
    for pid, n in together.items():
        scores[pid] += WEIGHTS["lineup"] * n / top
    return dict(scores)


def category_scores(*, merchant: Merchant, seeds: Sequence[int]) -> dict[int, float]:
    categories = set(
        Product.objects.filter(merchant=merchant, pk__in=seeds)
        .exclude(category="")
        .values_list("category", flat=True)
    )
    if not categories:
        return {}
    return dict.fromkeys(
        Product.objects.filter(
            merchant=merchant, is_active=True, category__in=categories
        ).values_list("pk", flat=True)[:500],
        WEIGHTS["category"],
    )


# --- together --------------------------------------------------------------------------------


def _scores(*, merchant: Merchant, seeds: Sequence[int], room: Room | None) -> dict[int, float]:
    key = f"assistant:rec:{merchant.id}:{room.pk if room else 0}:{','.join(map(str, seeds))}"
    cached = cache.get(key)
    if isinstance(cached, dict):
        return cached
    total: dict[int, float] = defaultdict(float)
    if seeds:
        for pid, score in cobuy_scores(merchant=merchant, seeds=seeds).items():
            total[pid] += WEIGHTS["buy"] * score
        since = timezone.now() - timedelta(days=VIEW_WINDOW_DAYS)
        sessions = watch_sessions(merchant=merchant, since=since)
        if sessions:
            lineups: dict[str, list[int]] = defaultdict(list)
            for room_id, pid in RoomProduct.objects.filter(merchant=merchant).values_list(
                "room_id", "product_id"
            ):
                lineups[str(room_id)].append(pid)
            shown = shown_intervals(merchant=merchant, since=since)
            baskets = viewed_products(sessions, shown=shown, lineups=lineups)
            for pid, score in coview_scores(baskets, seeds).items():
                total[pid] += WEIGHTS["view"] * score
        for pid, score in category_scores(merchant=merchant, seeds=seeds).items():
            total[pid] += score
    for pid, score in lineup_scores(merchant=merchant, seeds=seeds, room=room).items():
        total[pid] += score
    result = dict(total)
    cache.set(key, result, CACHE_S)
    return result


def recommend(
    *,
    merchant: Merchant,
    seeds: Sequence[int] = (),
    room: Room | None = None,
    exclude: Iterable[int] = (),
    limit: int = 6,
) -> list[Product]:
    """Products to suggest next to `seeds` (and the `room`, if any), best first, in stock."""
    seeds = sorted({int(s) for s in seeds})[:MAX_SEEDS]
    limit = max(1, min(int(limit), MAX_LIMIT))
    scores = _scores(merchant=merchant, seeds=seeds, room=room)
    skip = set(seeds) | {int(e) for e in exclude}
    ranked = [pid for pid, _s in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))]
    candidates = [pid for pid in ranked if pid not in skip][: limit * 4]
    products = {
        p.pk: p
        for p in commerce_selectors.product_list(
            merchant=merchant, active_only=True, ids=candidates
        )
        if (p.total_stock or 0) > 0  # type: ignore[attr-defined]  # an annotation
    }
    return [products[pid] for pid in candidates if pid in products][:limit]
