"""Live selling in a room: the pinned product, live stock, flash sales with their waitlist,
"someone just bought X", and the host's counters.

Pins. `pin_product` / `unpin_product` (staff with `Perm.HOST_ROOMS`; a product of the room's
line-up) publish `product.pinned {product: card}` / `product.unpinned`; `pinned_card(room)`
is the card `hello` carries. While a product is pinned or on sale, every committed change
of its stock (orders, expiry, cancellations, staff edits: `commerce.services.common.
stock_committed`) publishes `stock.changed {product, variant, stock, variants, total,
sale_remaining?}` — the whole product, since the hub keeps one per product per tick.

Flash sales. `flash_sale_start` sets a price for `units` units of one variant for 10–300 s
(`flash_sale.started {product, variant, price, units, ends_at}`, `ends_at` in epoch ms like
every event's `ts`). Shoppers buy through the ordinary order path (`POST /api/v1/s/<m>/orders`
with `room`): commerce asks `room_order_offer` for the room's price and, inside the order's
transaction, the offer claims the units with a conditional UPDATE of the sale row
(`sold + held + q <= units`, also a CHECK constraint) just before the stock is taken. So the
sale never sells more than `units` and the variant never below zero, whatever the
concurrency. One open sale order per shopper (`per_shopper` units at most).

Waitlist. When a sale is sold out, shoppers join its waitlist
(`POST /api/v1/s/<m>/rooms/<room>/waitlist`). Units come back when a sale order expires or
is cancelled (`room_order_transitioned`, in that transaction): they are offered at once to
the first waiting shoppers, in order, each holding one unit for
`LIVESHOP_FLASH_WAITLIST_HOLD_S` at the sale price (also after the window, until
`waitlist_until`). A lapsed offer passes to the next shopper (`flash_sales_tick`, every
second); `GET …/waitlist` shows a shopper their position or offer.

Purchases. A paid order placed from a room publishes `purchase {product, name, city?}`
(anonymised: no shopper) unless the room's `purchase_events` flag is off; at most
`LIVESHOP_ROOM_PURCHASE_EVENT_RATE` (3/s) per room, the rest are not announced.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Sum
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from commerce.models import MAX_PRICE, Order, OrderStatus, Product, Variant
from liveshop import ratelimit
from liveshop.errors import Conflict
from liveshop.tenancy.access import Actor
from liveshop.tenancy.models import Merchant
from liveshop.tenancy.permissions import Perm
from liveshop.tenancy.scope import rls_bypass, tenant_scope
from liveshop.tenancy.services import audit_record

from .events import publish
from .models import (
    FlashSale,
    FlashSaleStatus,
    Room,
    RoomLikes,
    RoomOrder,
    RoomOrderStatus,
    RoomProduct,
    RoomSelling,
    RoomStatus,
    WaitlistEntry,
    WaitlistStatus,
    WatchSession,
)

log = logging.getLogger("liveshop.rooms.selling")

SALE_MIN_S, SALE_MAX_S = 10, 300
SALE_MAX_UNITS = 100_000
WATCH_TTL_S = 30


def _ms(when: Any) -> int:
    return int(when.timestamp() * 1000)


def _actor_scope(actor: Actor) -> Any:
    return tenant_scope(actor.merchant.id, user_id=getattr(actor.user, "pk", None))


def _int_id(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
        raise ValidationError({field: [_("Give an id.")]})
    return value


# --- cards ------------------------------------------------------------------------------


def product_card(product: Product, *, currency: str) -> dict[str, Any]:
    """What viewers see of a product: `{id, name, price, currency, images, variants: [{id,
    name, price, stock}], stock}` (active variants only)."""
    variants = [v for v in product.variants.all() if v.is_active]
    return {
        "id": product.pk,
        "name": product.name,
        "name_zh": product.name_zh,
        "price": product.price,
        "currency": currency,
        "images": list(product.images or [])[:10],
        "variants": [
            {
                "id": v.pk,
                "name": v.label,
                "price": v.effective_price(product),
                "stock": max(0, v.stock),
            }
            for v in variants
        ],
        "stock": sum(max(0, v.stock) for v in variants),
    }


def _selling(room: Room) -> RoomSelling | None:
    return RoomSelling.objects.filter(merchant_id=room.merchant_id, room=room).first()


def _selling_locked(room: Room) -> RoomSelling:
    found = RoomSelling.objects.select_for_update().filter(merchant_id=room.merchant_id, room=room)
    row = found.first()
    if row is None:
        try:
            with transaction.atomic():
                RoomSelling.objects.create(merchant_id=room.merchant_id, room=room)
        except IntegrityError:
            pass  # created meanwhile
        row = found.get()
    return row


def running_sale(room: Room) -> FlashSale | None:
    return (
        FlashSale.objects.filter(
            merchant_id=room.merchant_id,
            room=room,
            status=FlashSaleStatus.RUNNING,
            ends_at__gt=timezone.now(),
        )
        .select_related("product")
        .first()
    )


def sale_public(sale: FlashSale) -> dict[str, Any]:
    return {
        "id": sale.pk,
        "product": sale.product_id,
        "variant": sale.variant_id,
        "price": sale.price,
        "units": sale.units,
        "remaining": max(0, sale.units - sale.sold - sale.held),
        "ends_at": _ms(sale.ends_at),
        "status": sale.status
        if sale.status != FlashSaleStatus.RUNNING or sale.ends_at > timezone.now()
        else FlashSaleStatus.ENDED,
    }


def pinned_card(room: Room) -> dict[str, Any] | None:
    """The pinned product's card (None when nothing is pinned), with `sale` when a flash
    sale runs on it. Call inside the room's tenant scope."""
    selling = _selling(room)
    if selling is None or selling.pinned_product_id is None:
        return None
    product = (
        Product.objects.filter(merchant_id=room.merchant_id, pk=selling.pinned_product_id)
        .prefetch_related("variants")
        .first()
    )
    if product is None:
        return None
    card = product_card(product, currency=room.merchant.currency)
    sale = running_sale(room)
    if sale is not None and sale.product_id == product.pk:
        card["sale"] = sale_public(sale)
    return card


# --- pins -------------------------------------------------------------------------------


def _lineup_product(room: Room, product_id: Any) -> Product:
    product_id = _int_id(product_id, "product")
    entry = (
        RoomProduct.objects.filter(merchant_id=room.merchant_id, room=room, product_id=product_id)
        .select_related("product")
        .first()
    )
    if entry is None:
        raise ValidationError({"product": [_("Pin a product of this room's line-up.")]})
    if not entry.product.is_active:
        raise ValidationError({"product": [_("This product is not for sale.")]})
    return entry.product


def _pin(room: Room, product: Product) -> dict[str, Any]:
    selling = _selling_locked(room)
    selling.pinned_product = product
    selling.pinned_at = selling.updated_at = timezone.now()
    selling.save(update_fields=["pinned_product", "pinned_at", "updated_at"])
    card = pinned_card(room)
    publish(room, {"type": "product.pinned", "product": card})
    _watch_forget(room.merchant_id)
    return card or {}


def pin_product(*, actor: Actor, room: Room, product_id: Any) -> dict[str, Any]:
    """Pin a line-up product for every viewer; returns its card."""
    actor.require(Perm.HOST_ROOMS)
    with _actor_scope(actor):
        _same_merchant(actor, room)
        product = _lineup_product(room, product_id)
        card = _pin(room, product)
        audit_record(actor=actor, action="room.pinned", obj=room, data={"product": product.pk})
    return card


def unpin_product(*, actor: Actor, room: Room) -> None:
    actor.require(Perm.HOST_ROOMS)
    with _actor_scope(actor):
        _same_merchant(actor, room)
        selling = _selling_locked(room)
        if selling.pinned_product_id is None:
            return
        selling.pinned_product = None
        selling.pinned_at = None
        selling.updated_at = timezone.now()
        selling.save(update_fields=["pinned_product", "pinned_at", "updated_at"])
        publish(room, {"type": "product.unpinned"})
        _watch_forget(room.merchant_id)


def room_purchase_events_set(*, actor: Actor, room: Room, enabled: bool) -> None:
    """The per-room "someone just bought X" switch."""
    actor.require(Perm.MANAGE_ROOMS)
    with _actor_scope(actor):
        _same_merchant(actor, room)
        selling = _selling_locked(room)
        selling.purchase_events = bool(enabled)
        selling.updated_at = timezone.now()
        selling.save(update_fields=["purchase_events", "updated_at"])


def purchase_events_on(room: Room) -> bool:
    selling = _selling(room)
    return True if selling is None else selling.purchase_events


def _same_merchant(actor: Actor, room: Room) -> None:
    if room.merchant_id != actor.merchant.id:
        raise Http404("No such room.")


# --- live stock -------------------------------------------------------------------------


def _watch_key(merchant_id: int) -> str:
    return f"selling:watch:{merchant_id}"


def _watch_forget(merchant_id: int) -> None:
    transaction.on_commit(lambda: cache.delete(_watch_key(merchant_id)))


def _watch(merchant_id: int) -> dict[int, list[tuple[int, int]]]:
    """variant id → [(room id, product id)] for products pinned or on sale in this
    merchant's rooms; cached (invalidated on pin, unpin and sales; 30 s at most stale)."""
    key = _watch_key(merchant_id)
    found = cache.get(key)
    if found is not None:
        return {int(k): [tuple(x) for x in v] for k, v in found.items()}  # type: ignore[misc]
    pairs: set[tuple[int, int]] = set()
    with tenant_scope(merchant_id):
        pairs.update(
            RoomSelling.objects.filter(merchant_id=merchant_id, pinned_product__isnull=False)
            .exclude(room__status=RoomStatus.ENDED)
            .values_list("room_id", "pinned_product_id")
        )
        pairs.update(
            FlashSale.objects.filter(
                merchant_id=merchant_id, status=FlashSaleStatus.RUNNING
            ).values_list("room_id", "product_id")
        )
        by_product: dict[int, list[int]] = {}
        for room_id, product_id in pairs:
            by_product.setdefault(product_id, []).append(room_id)
        variants = Variant.objects.filter(
            merchant_id=merchant_id, product_id__in=list(by_product)
        ).values_list("id", "product_id")
        watch = {vid: [(rid, pid) for rid in by_product[pid]] for vid, pid in variants}
    cache.set(key, {str(k): v for k, v in watch.items()}, WATCH_TTL_S)
    return watch


def stock_committed(merchant_id: int, levels: Sequence[tuple[int, int]]) -> None:
    """Commerce calls this after a stock change committed: publish `stock.changed` to the
    rooms showing these products."""
    try:
        watch = _watch(merchant_id)
        hits: dict[tuple[int, int], int] = {}
        for variant_id, _stock in levels:
            for room_id, product_id in watch.get(variant_id, ()):
                hits[(room_id, product_id)] = variant_id
        if not hits:
            return
        with tenant_scope(merchant_id):
            for (room_id, product_id), variant_id in sorted(hits.items()):
                publish(room_id, stock_event(merchant_id, room_id, product_id, variant_id))
    except Exception:  # the change committed; a missed live update must not fail anything
        log.exception("stock.changed for merchant %s failed", merchant_id)


def stock_event(merchant_id: int, room_id: int, product_id: int, variant_id: int) -> dict[str, Any]:
    variants = list(
        Variant.objects.filter(merchant_id=merchant_id, product_id=product_id, is_active=True)
        .order_by("position", "id")
        .values_list("id", "stock")
    )
    levels = dict(variants)
    event: dict[str, Any] = {
        "type": "stock.changed",
        "product": product_id,
        "variant": variant_id,
        "stock": max(0, levels.get(variant_id, 0)),
        "variants": [{"id": vid, "stock": max(0, s)} for vid, s in variants],
        "total": sum(max(0, s) for _vid, s in variants),
    }
    sale = (
        FlashSale.objects.filter(
            merchant_id=merchant_id,
            room_id=room_id,
            product_id=product_id,
            status=FlashSaleStatus.RUNNING,
        )
        .values("units", "sold", "held")
        .first()
    )
    if sale is not None:
        event["sale_remaining"] = max(0, sale["units"] - sale["sold"] - sale["held"])
    return event


# --- flash sales ------------------------------------------------------------------------


def _whole(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError({field: [_("Between %(lo)d and %(hi)d.") % {"lo": low, "hi": high}]})
    return value


def flash_sale_start(
    *,
    actor: Actor,
    room: Room,
    product_id: Any,
    price: Any,
    units: Any,
    duration_s: Any,
    variant_id: Any = None,
) -> FlashSale:
    """Start a flash sale in a live room (one at a time); pins the product if needed."""
    actor.require(Perm.HOST_ROOMS)
    price = _whole(price, "price", 0, MAX_PRICE)
    units = _whole(units, "units", 1, SALE_MAX_UNITS)
    duration_s = _whole(duration_s, "duration_s", SALE_MIN_S, SALE_MAX_S)
    with _actor_scope(actor):
        _same_merchant(actor, room)
        room = Room.objects.select_for_update().get(pk=room.pk, merchant=actor.merchant)
        if room.status != RoomStatus.LIVE:
            raise Conflict(_("Go live before starting a flash sale."), code="room_not_live")
        product = _lineup_product(room, product_id)
        active = list(
            Variant.objects.filter(merchant=actor.merchant, product=product, is_active=True)
        )
        if variant_id is None:
            if len(active) != 1:
                raise ValidationError(
                    {"variant": [_("Choose a variant: this product has several.")]}
                )
            variant = active[0]
        else:
            variant_id = _int_id(variant_id, "variant")
            match = [v for v in active if v.pk == variant_id]
            if not match:
                raise ValidationError({"variant": [_("Unknown variant of this product.")]})
            variant = match[0]
        if variant.stock < units:
            raise Conflict(
                _("Only %(n)d in stock: lower the units.") % {"n": variant.stock},
                code="not_enough_stock",
                available=variant.stock,
            )
        _end_due(room)
        if running_sale(room) is not None:
            raise Conflict(_("A flash sale is already running."), code="sale_running")
        now = timezone.now()
        ends_at = now + timedelta(seconds=duration_s)
        try:
            with transaction.atomic():
                sale = FlashSale.objects.create(
                    merchant=actor.merchant,
                    room=room,
                    product=product,
                    variant=variant,
                    price=price,
                    units=units,
                    per_shopper=settings.LIVESHOP_FLASH_PER_SHOPPER,
                    starts_at=now,
                    ends_at=ends_at,
                    waitlist_until=ends_at
                    + timedelta(seconds=settings.LIVESHOP_FLASH_WAITLIST_WINDOW_S),
                    created_by=actor.user if getattr(actor.user, "pk", None) else None,
                )
        except IntegrityError:
            raise Conflict(_("A flash sale is already running."), code="sale_running") from None
        selling = _selling(room)
        if selling is None or selling.pinned_product_id != product.pk:
            _pin(room, product)
        publish(
            room,
            {
                "type": "flash_sale.started",
                "sale": sale.pk,
                "product": product.pk,
                "variant": variant.pk,
                "price": price,
                "currency": actor.merchant.currency,
                "units": units,
                "ends_at": _ms(ends_at),
            },
        )
        _watch_forget(room.merchant_id)
        audit_record(
            actor=actor,
            action="room.flash_sale_started",
            obj=room,
            data={"product": product.pk, "price": price, "units": units, "duration_s": duration_s},
        )
    return sale


def flash_sale_stop(*, actor: Actor, room: Room) -> FlashSale | None:
    actor.require(Perm.HOST_ROOMS)
    with _actor_scope(actor):
        _same_merchant(actor, room)
        sale = (
            FlashSale.objects.select_for_update()
            .filter(merchant=actor.merchant, room=room, status=FlashSaleStatus.RUNNING)
            .first()
        )
        if sale is not None:
            _end(sale, "stopped")
    return sale


def _end(sale: FlashSale, reason: str) -> None:
    now = timezone.now()
    updated = FlashSale.objects.filter(pk=sale.pk, status=FlashSaleStatus.RUNNING).update(
        status=FlashSaleStatus.ENDED, ended_at=now, end_reason=reason
    )
    if not updated:
        return
    sale.refresh_from_db()
    publish(
        sale.room_id,
        {
            "type": "flash_sale.ended",
            "sale": sale.pk,
            "product": sale.product_id,
            "sold": sale.sold,
            "reason": reason,
        },
    )
    _watch_forget(sale.merchant_id)


def room_ended(*, room: Room) -> None:
    """The show ended (inside `room_end`'s transaction): its running flash sale ends too."""
    for sale in FlashSale.objects.select_for_update().filter(
        merchant_id=room.merchant_id, room=room, status=FlashSaleStatus.RUNNING
    ):
        _end(sale, "room_ended")
    _watch_forget(room.merchant_id)


def _end_due(room: Room) -> None:
    for sale in FlashSale.objects.select_for_update().filter(
        merchant_id=room.merchant_id,
        room=room,
        status=FlashSaleStatus.RUNNING,
        ends_at__lte=timezone.now(),
    ):
        _end(sale, "time")


@dataclass
class RoomOffer:
    """What a room does to an order placed from it (see `room_order_offer`)."""

    lines: list[Any]
    room: Room
    shopper: Any
    pinned_product_id: int | None
    sale: FlashSale | None = None
    quantity: int = 0
    entry: WaitlistEntry | None = None

    def claim(self, order: Order) -> None:
        """Inside the order's transaction, after its insert and before its stock is taken:
        count the sale's units (or use the waitlist offer), and record the room order."""
        from commerce.services.orders import OutOfStock, PurchaseLimitReached

        sale = self.sale
        if sale is not None:
            now = timezone.now()
            if self.entry is not None:
                used = WaitlistEntry.objects.filter(
                    pk=self.entry.pk, status=WaitlistStatus.OFFERED, offer_expires_at__gt=now
                ).update(status=WaitlistStatus.BOUGHT)
                claimed = used and FlashSale.objects.filter(pk=sale.pk, held__gte=1).update(
                    held=F("held") - 1, sold=F("sold") + 1
                )
                if not claimed:
                    raise OutOfStock(_("Your waitlist offer has lapsed."), code="offer_lapsed")
            else:
                claimed = (
                    FlashSale.objects.filter(
                        pk=sale.pk, status=FlashSaleStatus.RUNNING, ends_at__gt=now
                    )
                    .filter(sold__lte=F("units") - F("held") - self.quantity)
                    .update(sold=F("sold") + self.quantity)
                )
                if not claimed:
                    raise _sold_out(sale)
        try:
            with transaction.atomic():
                RoomOrder.objects.create(
                    merchant_id=order.merchant_id,
                    order=order,
                    room=self.room,
                    shopper=self.shopper,
                    pinned_product_id=self.pinned_product_id,
                    flash_sale=sale,
                    quantity=self.quantity,
                )
        except IntegrityError:
            raise PurchaseLimitReached(
                _("You already have an order from this flash sale."), code="purchase_limit"
            ) from None


def _sold_out(sale: FlashSale) -> Exception:
    from commerce.services.orders import OutOfStock

    return OutOfStock(
        _("The flash sale is sold out. Join the waitlist to get a unit that comes back."),
        code="sold_out",
        product=sale.product_id,
        variant=sale.variant_id,
        available=0,
        waitlist=True,
    )


def room_order_offer(
    *, merchant: Merchant, shopper: Any, room: Room, lines: list[Any]
) -> RoomOffer:
    """Commerce asks this when an order names a room: lines of the flash sale's variant get
    the sale price (or the shopper's waitlist offer), and the order is recorded as the
    room's (with the product pinned then). Sold-out sales refuse at once, before any write."""
    from commerce.services.orders import PurchaseLimitReached

    selling = _selling(room)
    offer = RoomOffer(
        lines=list(lines),
        room=room,
        shopper=shopper,
        pinned_product_id=selling.pinned_product_id if selling else None,
    )
    variant_ids = {line.variant.pk for line in lines}
    now = timezone.now()
    entry = (
        WaitlistEntry.objects.filter(
            merchant=merchant,
            shopper_id=shopper.pk,
            sale__room=room,
            sale__variant_id__in=variant_ids,
            status=WaitlistStatus.OFFERED,
            offer_expires_at__gt=now,
        )
        .select_related("sale")
        .first()
    )
    sale = entry.sale if entry is not None else running_sale(room)
    if sale is None or sale.variant_id not in variant_ids:
        return offer
    quantity = sum(line.quantity for line in lines if line.variant.pk == sale.variant_id)
    limit = 1 if entry is not None else sale.per_shopper
    if quantity > limit:
        raise PurchaseLimitReached(
            _("At most %(n)d per shopper in this flash sale.") % {"n": limit},
            code="purchase_limit",
            limit=limit,
        )
    if entry is None and sale.sold + sale.held >= sale.units:
        raise _sold_out(sale)
    offer.sale, offer.quantity, offer.entry = sale, quantity, entry
    offer.lines = [
        replace(line, price=sale.price) if line.variant.pk == sale.variant_id else line
        for line in lines
    ]
    return offer


def room_order_transitioned(*, order: Order, from_status: str, to_status: str) -> None:
    """Commerce calls this inside an order's transition (order locked) for room orders."""
    if to_status == OrderStatus.PAID:
        _purchase_event(order)
    elif to_status in (OrderStatus.EXPIRED, OrderStatus.CANCELLED):
        _release(order)


def _purchase_event(order: Order) -> None:
    room = Room.objects.filter(merchant_id=order.merchant_id, pk=order.room_id or 0).first()
    if room is None or not purchase_events_on(room):
        return
    # A flash sale pays hundreds of orders a second: viewers see a few, not a flood of
    # events no batch may fold.
    if not ratelimit.hit(
        ratelimit.rate_parse(settings.LIVESHOP_ROOM_PURCHASE_EVENT_RATE),
        "room-purchase",
        str(room.pk),
    ):
        return
    record = RoomOrder.objects.filter(merchant_id=order.merchant_id, order=order).first()
    product_id = None
    if record is not None:
        product_id = record.flash_sale.product_id if record.flash_sale else None
        lines = order.lines.values_list("product_id", flat=True)
        if product_id is None and record.pinned_product_id in set(lines):
            product_id = record.pinned_product_id
    line = order.lines.order_by("id").values("product_id", "name").first()
    if line is None:
        return  # an order without lines (a coin top-up) buys no product
    product_id = product_id or line["product_id"]
    name = (
        Product.objects.filter(merchant_id=order.merchant_id, pk=product_id)
        .values_list("name", flat=True)
        .first()
    ) or line["name"]
    event: dict[str, Any] = {"type": "purchase", "product": product_id, "name": name}
    city = (order.shipping_address or {}).get("city")
    if isinstance(city, str) and city.strip():
        event["city"] = city.strip()[:60]
    publish(room, event)


def _release(order: Order) -> None:
    record = (
        RoomOrder.objects.select_for_update()
        .filter(
            merchant_id=order.merchant_id,
            order=order,
            status=RoomOrderStatus.ACTIVE,
            flash_sale__isnull=False,
        )
        .first()
    )
    if record is None:
        return
    RoomOrder.objects.filter(pk=record.pk).update(status=RoomOrderStatus.RELEASED)
    FlashSale.objects.filter(pk=record.flash_sale_id or 0, sold__gte=record.quantity).update(
        sold=F("sold") - record.quantity
    )
    sale = FlashSale.objects.select_for_update().get(pk=record.flash_sale_id or 0)
    _offer_units(sale)


def room_order_reclaim(*, order: Order) -> None:
    """A sale order paid after it was released: it takes its sale units again, or raises
    OutOfStock (the payment is refunded) when they went to someone else."""
    from commerce.services.orders import OutOfStock

    record = (
        RoomOrder.objects.select_for_update()
        .filter(merchant_id=order.merchant_id, order=order, flash_sale__isnull=False)
        .first()
    )
    if record is None or record.status == RoomOrderStatus.ACTIVE:
        return
    taken = (
        FlashSale.objects.filter(pk=record.flash_sale_id or 0)
        .filter(sold__lte=F("units") - F("held") - record.quantity)
        .update(sold=F("sold") + record.quantity)
    )
    if not taken:
        raise OutOfStock(_("The flash sale units went to someone else."), code="sold_out")
    try:
        with transaction.atomic():
            RoomOrder.objects.filter(pk=record.pk).update(status=RoomOrderStatus.ACTIVE)
    except IntegrityError:
        raise OutOfStock(_("You already have an order from this sale."), code="sold_out") from None


def _offer_units(sale: FlashSale) -> int:
    """Offer the sale's free units to the first waiting shoppers (sale row locked)."""
    now = timezone.now()
    if sale.waitlist_until <= now:
        return 0
    free = sale.units - sale.sold - sale.held
    if free <= 0:
        return 0
    ids = list(
        WaitlistEntry.objects.filter(sale=sale, status=WaitlistStatus.WAITING)
        .order_by("id")
        .values_list("id", flat=True)[:free]
    )
    if not ids:
        return 0
    hold = timedelta(seconds=settings.LIVESHOP_FLASH_WAITLIST_HOLD_S)
    offered = WaitlistEntry.objects.filter(pk__in=ids, status=WaitlistStatus.WAITING).update(
        status=WaitlistStatus.OFFERED, offered_at=now, offer_expires_at=now + hold
    )
    FlashSale.objects.filter(pk=sale.pk).update(held=F("held") + offered)
    sale.held += offered
    return offered


def flash_sales_tick(*, now: Any = None) -> dict[str, int]:
    """The periodic job (every second): end sales whose time is up, pass lapsed waitlist
    offers to the next shopper, close waitlists past their window. A platform job: finds
    due rows through the audited bypass, then works in each merchant's scope."""
    now = now or timezone.now()
    with rls_bypass("flash-sale timer"):
        due_sales = list(
            FlashSale.objects.filter(status=FlashSaleStatus.RUNNING, ends_at__lte=now).values_list(
                "merchant_id", "id"
            )[:500]
        )
        lapsed = list(
            WaitlistEntry.objects.filter(
                status=WaitlistStatus.OFFERED, offer_expires_at__lte=now
            ).values_list("merchant_id", "sale_id")[:500]
        )
        closing = list(
            WaitlistEntry.objects.filter(
                status__in=[WaitlistStatus.WAITING, WaitlistStatus.OFFERED],
                sale__waitlist_until__lte=now,
            )
            .values_list("merchant_id", "sale_id")
            .distinct()[:500]
        )
    counts = {"ended": 0, "lapsed": 0, "closed": 0}
    for merchant_id, sale_id in due_sales:
        with tenant_scope(merchant_id):
            sale = FlashSale.objects.select_for_update().filter(pk=sale_id).first()
            if sale is not None and sale.status == FlashSaleStatus.RUNNING and sale.ends_at <= now:
                _end(sale, "time")
                counts["ended"] += 1
    for merchant_id, sale_id in sorted(set(lapsed)):
        with tenant_scope(merchant_id):
            sale = FlashSale.objects.select_for_update().filter(pk=sale_id).first()
            if sale is None:
                continue
            gone = WaitlistEntry.objects.filter(
                sale=sale, status=WaitlistStatus.OFFERED, offer_expires_at__lte=now
            ).update(status=WaitlistStatus.LAPSED)
            if gone:
                FlashSale.objects.filter(pk=sale.pk).update(held=F("held") - gone)
                sale.refresh_from_db()
                counts["lapsed"] += gone
                _offer_units(sale)
                if sale.status == FlashSaleStatus.RUNNING:
                    # A unit nobody waits for is back on sale: viewers see it.
                    publish(
                        sale.room_id,
                        stock_event(merchant_id, sale.room_id, sale.product_id, sale.variant_id),
                    )
    for merchant_id, sale_id in closing:
        with tenant_scope(merchant_id):
            sale = FlashSale.objects.select_for_update().filter(pk=sale_id).first()
            if sale is None:
                continue
            closed = WaitlistEntry.objects.filter(
                sale=sale, status__in=[WaitlistStatus.WAITING, WaitlistStatus.OFFERED]
            ).update(status=WaitlistStatus.CLOSED)
            FlashSale.objects.filter(pk=sale.pk).update(held=0)
            counts["closed"] += closed
    return counts


# --- waitlist ---------------------------------------------------------------------------


def _waitlist_sale(room: Room) -> FlashSale | None:
    """The room's latest sale whose waitlist is open."""
    return (
        FlashSale.objects.filter(
            merchant_id=room.merchant_id, room=room, waitlist_until__gt=timezone.now()
        )
        .order_by("-id")
        .first()
    )


def waitlist_join(*, merchant: Merchant, shopper: Any, room: Room) -> dict[str, Any]:
    """Join the waitlist of the room's sold-out flash sale (joining twice keeps one place)."""
    with tenant_scope(merchant.id, user_id=shopper.pk):
        if room.merchant_id != merchant.id:
            raise Http404("No such room.")
        sale = _waitlist_sale(room)
        if sale is None:
            raise Conflict(_("There is no flash sale to wait for."), code="no_sale")
        existing = _entry(sale, shopper)
        if existing is None:
            if sale.sold + sale.held < sale.units:
                # Only a sold-out sale has a waitlist: while it runs, buy; once it is over
                # with units left, there is nothing to wait for.
                if sale_public(sale)["status"] == "running":
                    raise Conflict(_("Units are still available: buy now."), code="not_sold_out")
                raise Conflict(_("This flash sale is over."), code="sale_ended")
            if RoomOrder.objects.filter(
                flash_sale=sale, shopper_id=shopper.pk, status=RoomOrderStatus.ACTIVE
            ).exists():
                raise Conflict(
                    _("You already have an order from this flash sale."), code="purchase_limit"
                )
            try:
                with transaction.atomic():
                    WaitlistEntry.objects.create(merchant=merchant, sale=sale, shopper=shopper)
            except IntegrityError:
                pass  # joined by a concurrent request
        return _waitlist_view(sale, shopper)


def waitlist_status(*, merchant: Merchant, shopper: Any, room: Room) -> dict[str, Any]:
    with tenant_scope(merchant.id, user_id=shopper.pk):
        sale = _waitlist_sale(room) if room.merchant_id == merchant.id else None
        if sale is None:
            return {"sale": None, "status": "none", "position": None, "offer_expires_at": None}
        return _waitlist_view(sale, shopper)


def _entry(sale: FlashSale, shopper: Any) -> WaitlistEntry | None:
    return WaitlistEntry.objects.filter(sale=sale, shopper_id=shopper.pk).order_by("-id").first()


def _waitlist_view(sale: FlashSale, shopper: Any) -> dict[str, Any]:
    entry = _entry(sale, shopper)
    view: dict[str, Any] = {
        "sale": sale_public(sale),
        "status": entry.status if entry else "none",
        "position": None,
        "offer_expires_at": None,
    }
    if entry is not None and entry.status == WaitlistStatus.WAITING:
        view["position"] = (
            WaitlistEntry.objects.filter(
                sale=sale, status=WaitlistStatus.WAITING, id__lt=entry.pk
            ).count()
            + 1
        )
    if entry is not None and entry.status == WaitlistStatus.OFFERED:
        view["offer_expires_at"] = _ms(entry.offer_expires_at)
    return view


# --- the host's counters ----------------------------------------------------------------


_redis_client: Any = None


def _live_counts(room: Room) -> tuple[int, int] | None:
    """(viewers now, likes) from the realtime engine's presence and like counters — the
    numbers the room's batches carry — or None when they cannot be read."""
    global _redis_client
    from .realtime.engine import get_engine
    from .realtime.likes import MemoryLikes
    from .realtime.presence import MemoryPresence

    key = str(room.pk)
    try:
        engine = get_engine()
        presence, likes = engine.presence, engine.likes
        if isinstance(presence, MemoryPresence) and isinstance(likes, MemoryLikes):
            now = presence.clock()
            with presence.store.lock:
                viewers = sum(1 for t in presence.store.expiry.get(key, {}).values() if t > now)
            return viewers, int(likes._totals[key])
        if isinstance(presence, MemoryPresence) or isinstance(likes, MemoryLikes):
            return None
        if _redis_client is None:
            import redis

            _redis_client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
        pipe = _redis_client.pipeline(transaction=False)
        pipe.zcount(presence.key(key), f"({presence.clock()}", "+inf")
        pipe.get(likes.key(key))
        viewers_raw, likes_raw = pipe.execute()
        return int(viewers_raw or 0), int(likes_raw or 0)
    except Exception:
        log.warning("room %s: live counters unavailable", key, exc_info=True)
        return None


def room_stats(*, merchant: Merchant, room: Room) -> dict[str, Any]:
    """This show's counters: `{viewers, likes, gifts, coins, orders, gmv, currency}` —
    viewers watching now and likes (the engine's live counters; the stored watch sessions
    and like totals when those cannot be read), gifts/coins/paid orders since it went
    live."""
    since = room.started_at
    live = _live_counts(room)
    if live is not None:
        viewers, likes = live
    else:
        viewers = (
            WatchSession.objects.filter(merchant=merchant, room=room, ended_at__isnull=True)
            .values("viewer")
            .distinct()
            .count()
        )
        likes = (
            RoomLikes.objects.filter(merchant=merchant, room=room)
            .values_list("total", flat=True)
            .first()
        ) or 0
    orders = Order.objects.filter(
        merchant=merchant,
        room=room,
        status__in=[OrderStatus.PAID, OrderStatus.FULFILLED],
    )
    if since is not None:
        orders = orders.filter(paid_at__gte=since)
    totals = orders.aggregate(n=Count("id"), gmv=Sum("total"))
    gifts = {"gifts": 0, "coins": 0}
    try:
        from .economy import gift_totals

        gifts = gift_totals(merchant=merchant, room=room, since=since)
    except ImportError:  # pragma: no cover - the economy is part of the project
        pass
    return {
        "viewers": viewers,
        "likes": int(likes or 0),
        "gifts": int(gifts["gifts"]),
        "coins": int(gifts["coins"]),
        "orders": int(totals["n"] or 0),
        "gmv": int(totals["gmv"] or 0),
        "currency": merchant.currency,
    }
