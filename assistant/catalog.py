"""The engine's view of one merchant, read from the database at answer time.

`catalog_load(merchant=)` runs inside the caller's `tenant_scope` and returns a
`CatalogSnapshot` (active products, their active variants, the merchant's active FAQ) plus
what product cards need. Prices, stock and variant options are read fresh on every call, in
the caller's transaction: the answer and the cards it cites state the same numbers, and both
are what the database said when the question was answered.

Only the long texts (names, descriptions, materials) are kept between calls, per product,
and re-read when the product's `updated_at` changes (every catalog write path sets it). The
snapshot `version` — the engine's index cache key — is a hash of everything indexed: product
ids and `updated_at`, variant ids and options, FAQ ids and `updated_at`. Stock and prices are
not indexed, so they change without a rebuild.

`room_context(room=)` is the room at answer time: its line-up, the pinned product and the
flash sales running in it.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.urls import reverse
from django.utils import timezone

from assistant.engine.snapshot import (
    MAX_PRODUCTS,
    CatalogSnapshot,
    FlashSale,
    PolicyDoc,
    ProductDoc,
    RoomContext,
    VariantDoc,
)
from commerce.models import Product, Variant
from liveshop.tenancy.models import Merchant
from rooms.models import FlashSale as RoomFlashSale
from rooms.models import FlashSaleStatus, Room, RoomProduct, RoomSelling

from .models import FaqEntry, ShowEntry, VirtualShow

TEXT_FIELDS = (
    "name",
    "name_zh",
    "description",
    "description_zh",
    "category",
    "material",
    "material_zh",
    "sku",
    "images",
)
# Product cards in an answer event: the event must stay under the room engine's 8 KiB.
CARD_VARIANTS_MAX = 24
TEXT_CACHE_MERCHANTS = 64


@dataclass(frozen=True)
class _Texts:
    updated_at: datetime
    values: dict[str, Any]


_texts: OrderedDict[int, dict[int, _Texts]] = OrderedDict()
_texts_lock = threading.Lock()


def text_cache_clear() -> None:
    with _texts_lock:
        _texts.clear()


def _product_texts(merchant_id: int, wanted: dict[int, datetime]) -> dict[int, dict[str, Any]]:
    """The text fields of these products (id → updated_at), from the cache where current."""
    with _texts_lock:
        cached = dict(_texts.get(merchant_id, {}))
    stale = [pid for pid, at in wanted.items() if pid not in cached or cached[pid].updated_at != at]
    if stale:
        rows = Product.objects.filter(merchant_id=merchant_id, pk__in=stale).values(
            "id", "updated_at", *TEXT_FIELDS
        )
        for row in rows:
            cached[row["id"]] = _Texts(row["updated_at"], {k: row[k] for k in TEXT_FIELDS})
    kept = {pid: cached[pid] for pid in wanted if pid in cached}
    with _texts_lock:
        _texts[merchant_id] = kept
        _texts.move_to_end(merchant_id)
        while len(_texts) > TEXT_CACHE_MERCHANTS:
            _texts.popitem(last=False)
    return {pid: t.values for pid, t in kept.items()}


def _option(options: dict[str, Any], *names: str) -> str:
    for name in names:
        value = options.get(name)
        if isinstance(value, str) and value:
            return value
    return ""


@dataclass(frozen=True)
class VariantInfo:
    id: int
    label: str
    label_zh: str
    stock: int
    price: int


@dataclass(frozen=True)
class Catalog:
    """One merchant's catalog at one moment: the engine's snapshot plus card details."""

    merchant: Merchant
    snapshot: CatalogSnapshot
    images: dict[int, str] = field(default_factory=dict)
    variants: dict[int, list[VariantInfo]] = field(default_factory=dict)

    def product(self, product_id: int | str) -> ProductDoc | None:
        return self.snapshot.products_by_id.get(str(product_id))


def catalog_load(*, merchant: Merchant) -> Catalog:
    """Read the merchant's catalog and FAQ (inside its tenant_scope)."""
    heads = list(
        Product.objects.filter(merchant=merchant, is_active=True)
        .order_by("id")
        .values_list("id", "price", "updated_at")[:MAX_PRODUCTS]
    )
    texts = _product_texts(merchant.id, {pid: at for pid, _price, at in heads})
    variant_rows = (
        Variant.objects.filter(
            merchant=merchant, is_active=True, product__is_active=True, product__merchant=merchant
        )
        .order_by("product_id", "position", "id")
        .values_list("id", "product_id", "options", "options_zh", "stock", "price")
    )
    digest = hashlib.blake2b(digest_size=16)
    by_product: dict[int, list[VariantDoc]] = {}
    infos: dict[int, list[VariantInfo]] = {}
    prices = {pid: price for pid, price, _at in heads}
    for vid, pid, options, options_zh, stock, price in variant_rows:
        if pid not in prices:
            continue  # beyond MAX_PRODUCTS
        options = options if isinstance(options, dict) else {}
        options_zh = options_zh if isinstance(options_zh, dict) else {}
        color = _option(options, "color", "colour")
        size = _option(options, "size")
        color_zh = _option(options_zh, "color", "colour")
        by_product.setdefault(pid, []).append(
            VariantDoc(
                id=str(vid),
                color=color,
                color_zh=color_zh if color_zh != color else "",
                size=size,
                stock=max(0, stock),
                price=price,
            )
        )
        label = " / ".join(str(v) for v in (color, size) if v)
        label_zh = " / ".join(str(v) for v in (color_zh or color, size) if v)
        infos.setdefault(pid, []).append(
            VariantInfo(
                vid, label, label_zh, max(0, stock), prices[pid] if price is None else price
            )
        )
        digest.update(f"{vid}\x1f{pid}\x1f{color}\x1f{color_zh}\x1f{size}\x1e".encode())

    products = []
    images: dict[int, str] = {}
    for pid, price, updated_at in heads:
        text = texts.get(pid)
        if text is None:  # deleted between the two reads
            continue
        digest.update(f"p{pid}\x1f{updated_at.isoformat()}\x1e".encode())
        products.append(
            ProductDoc(
                id=str(pid),
                name=text["name"],
                name_zh=text["name_zh"],
                price=price,
                currency=merchant.currency,
                description=text["description"],
                description_zh=text["description_zh"],
                category=text["category"],
                material=text["material"],
                material_zh=text["material_zh"],
                sku=text["sku"],
                variants=tuple(by_product.get(pid, ())),
            )
        )
        first = next((i for i in text["images"] or [] if isinstance(i, str)), "")
        if first:
            images[pid] = first

    policies = []
    for faq in FaqEntry.objects.filter(merchant=merchant, is_active=True).order_by(
        "position", "id"
    ):
        digest.update(f"f{faq.pk}\x1f{faq.updated_at.isoformat()}\x1e".encode())
        policies.append(
            PolicyDoc(
                id=f"faq{faq.pk}",
                topic=faq.topic,
                question=faq.question,
                answer=faq.answer,
                question_zh=faq.question_zh,
                answer_zh=faq.answer_zh,
            )
        )
    snapshot = CatalogSnapshot(
        merchant_id=str(merchant.id),
        products=tuple(products),
        policies=tuple(policies),
        version=digest.hexdigest(),
    )
    return Catalog(merchant=merchant, snapshot=snapshot, images=images, variants=infos)


# --- the room --------------------------------------------------------------------------------


def pinned_product_id(*, room: Room) -> int | None:
    """The product pinned in the room now: a running virtual host's timeline entry, else
    the host's pin (rooms' `RoomSelling.pinned_product`)."""
    show = VirtualShow.objects.filter(merchant_id=room.merchant_id, room=room).first()
    if show is not None and show.running:
        # `position` indexes the timeline in order (entry positions may have gaps).
        current = (
            ShowEntry.objects.filter(merchant_id=room.merchant_id, show=show)
            .order_by("position", "id")
            .values_list("product_id", flat=True)[show.position : show.position + 1]
        )
        return next(iter(current), None)
    return (
        RoomSelling.objects.filter(merchant_id=room.merchant_id, room=room)
        .values_list("pinned_product_id", flat=True)
        .first()
    )


def flash_sales(*, room: Room) -> tuple[FlashSale, ...]:
    """Flash sales running in the room now, with the units still for sale."""
    running = RoomFlashSale.objects.filter(
        merchant_id=room.merchant_id,
        room=room,
        status=FlashSaleStatus.RUNNING,
        ends_at__gt=timezone.now(),
    ).order_by("id")
    return tuple(
        FlashSale(
            product_id=str(sale.product_id),
            price=sale.price,
            units_left=max(sale.units - sale.sold - sale.held, 0),
            ends_at=sale.ends_at,
        )
        for sale in running
    )


def lineup_ids(*, room: Room) -> list[int]:
    return list(
        RoomProduct.objects.filter(merchant_id=room.merchant_id, room=room)
        .order_by("position", "id")
        .values_list("product_id", flat=True)
    )


def room_context(*, room: Room, merchant: Merchant) -> RoomContext:
    pinned = pinned_product_id(room=room)
    return RoomContext(
        pinned_product_id=str(pinned) if pinned is not None else None,
        lineup=tuple(str(pid) for pid in lineup_ids(room=room)),
        flash_sales=flash_sales(room=room),
        timezone=merchant.timezone or "UTC",
    )


# --- product cards ---------------------------------------------------------------------------


def product_card(
    catalog: Catalog,
    product_id: int | str,
    *,
    lang: str = "en",
    room: RoomContext | None = None,
    now: datetime | None = None,
    with_variants: bool = True,
) -> dict[str, Any] | None:
    """A buyable card of a product, from the same read as the answer (same numbers)."""
    doc = catalog.product(product_id)
    if doc is None:
        return None
    pid = int(doc.id)
    low, high = doc.price_range
    card: dict[str, Any] = {
        "id": pid,
        "name": doc.name_zh if lang == "zh" and doc.name_zh else doc.name,
        "price": low,
        "currency": doc.currency,
        "image": catalog.images.get(pid, ""),
        "stock": doc.total_stock,
        "url": reverse(
            "storefront:product", kwargs={"m": catalog.merchant.slug, "product_id": pid}
        ),
    }
    if high != low:
        card["price_max"] = high
    if room is not None and now is not None:
        sale = room.flash_sale_for(doc.id, now)
        if sale is not None and sale.units_left > 0:
            card["flash_sale"] = {
                "price": sale.price,
                "units": sale.units_left,
                "ends_at": sale.ends_at.timestamp() if sale.ends_at else None,
            }
    if with_variants:
        card["variants"] = [
            {
                "id": v.id,
                "label": v.label_zh if lang == "zh" else v.label,
                "stock": v.stock,
                "price": v.price,
            }
            for v in catalog.variants.get(pid, [])[:CARD_VARIANTS_MAX]
        ]
    return card


def product_cards(
    catalog: Catalog,
    product_ids: Iterable[int | str],
    *,
    lang: str = "en",
    room: RoomContext | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    cards = []
    for pid in product_ids:
        card = product_card(catalog, pid, lang=lang, room=room, now=now)
        if card is not None:
            cards.append(card)
    return cards


def strip_variants(cards: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in card.items() if k != "variants"} for card in cards]
