"""Orders: placing (with stock reservation), staff-built draft carts, the state machine,
expiry of unpaid reservations, fulfilment, cancellation and refunds.

Stock is taken with a conditional `UPDATE … SET stock = stock - q WHERE stock >= q`, one
variant at a time in id order (so two multi-line orders cannot deadlock), as the *last*
statements of the transaction: the hot row stays locked only until the commit right after.
Nothing here reads stock and then writes it back.

State machine (each change recorded in `OrderTransition` with time and actor):

    draft ─send→ pending_payment ─pay→ paid ─fulfil→ fulfilled
      │               │   │                 └────refund→ refunded ←─refund─┘
      └─abandon→ cancelled ←┘ └─timer→ expired
    expired/cancelled ─pay→ paid only when a late payment can take its stock again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from liveshop.errors import Conflict, DomainError
from liveshop.tenancy.access import Actor
from liveshop.tenancy.models import Merchant
from liveshop.tenancy.permissions import Perm
from liveshop.tenancy.scope import rls_bypass, tenant_scope
from liveshop.tenancy.services import audit_record

from .. import stock_gate
from ..models import (
    ADDRESS_FIELDS,
    HOLDING_STOCK,
    Address,
    IdempotencyKey,
    Order,
    OrderLine,
    OrderStatus,
    OrderTransition,
    Payment,
    PaymentStatus,
    Product,
    Variant,
)
from .common import SYSTEM, Who, actor_scope, shopper_scope, stock_committed

log = logging.getLogger("liveshop.commerce.orders")

MAX_LINES = 20
MAX_QUANTITY = 999
MAX_KEY_LENGTH = 255
SCOPE_PLACE = "order.place"
SCOPE_PAY = "order.pay"

S = OrderStatus
TRANSITIONS: dict[str, frozenset[str]] = {
    S.DRAFT: frozenset({S.PENDING_PAYMENT, S.CANCELLED}),
    S.PENDING_PAYMENT: frozenset({S.PAID, S.EXPIRED, S.CANCELLED}),
    S.PAID: frozenset({S.FULFILLED, S.REFUNDED}),
    S.FULFILLED: frozenset({S.REFUNDED}),
    S.EXPIRED: frozenset({S.PAID}),
    S.CANCELLED: frozenset({S.PAID}),
    S.REFUNDED: frozenset(),
}
# Transitions a coin top-up's wallet follows (rooms.economy).
TOPUP_WATCHED = frozenset({S.PAID, S.REFUNDED, S.EXPIRED, S.CANCELLED})
# Transitions the shopper hears about by email.
NOTIFY = frozenset({S.PENDING_PAYMENT, S.PAID, S.FULFILLED, S.EXPIRED, S.CANCELLED, S.REFUNDED})


class OutOfStock(Conflict):
    code = "out_of_stock"


class PurchaseLimitReached(Conflict):
    code = "purchase_limit"


@dataclass(frozen=True)
class LineIn:
    index: int
    product: int
    variant: int | None
    quantity: int


@dataclass(frozen=True)
class ResolvedLine:
    index: int
    product: Product
    variant: Variant
    quantity: int
    price: int | None = None  # a room's offer (flash sale) instead of the catalog price

    @property
    def unit_price(self) -> int:
        if self.price is not None:
            return self.price
        return self.variant.effective_price(self.product)


@dataclass(frozen=True)
class PlaceResult:
    order: Order
    replayed: bool


# --- input checks ---------------------------------------------------------------------


def _positive_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


def lines_parse(raw: Any) -> list[LineIn]:
    """Validate the shape of `[{product, variant?, quantity}]`; errors name the line."""
    if not isinstance(raw, list | tuple) or not raw:
        raise ValidationError({"lines": [_("Give at least one line.")]})
    if len(raw) > MAX_LINES:
        raise ValidationError({"lines": [_("At most %(n)d lines per order.") % {"n": MAX_LINES}]})
    lines = []
    for i, item in enumerate(raw):
        where = f"lines[{i}]"
        if not isinstance(item, Mapping):
            raise ValidationError({where: [_("Each line is an object.")]})
        unknown = set(item) - {"product", "variant", "quantity"}
        if unknown:
            raise ValidationError({f"{where}.{k}": [_("Unknown field.")] for k in sorted(unknown)})
        product, variant, quantity = item.get("product"), item.get("variant"), item.get("quantity")
        if not _positive_id(product):
            raise ValidationError({f"{where}.product": [_("Give a product id.")]})
        if variant is not None and not _positive_id(variant):
            raise ValidationError({f"{where}.variant": [_("Give a variant id or leave it out.")]})
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            raise ValidationError({f"{where}.quantity": [_("Give a whole number.")]})
        if not 1 <= quantity <= MAX_QUANTITY:
            raise ValidationError(
                {f"{where}.quantity": [_("Between 1 and %(n)d.") % {"n": MAX_QUANTITY}]}
            )
        lines.append(LineIn(i, int(product), variant, quantity))  # type: ignore[arg-type]
    return lines


_KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")


def idempotency_key_check(key: Any) -> str:
    if not isinstance(key, str) or not key:
        raise DomainError(
            _("Send an Idempotency-Key header (e.g. a UUID) with this request."),
            code="idempotency_key_required",
        )
    if not _KEY_RE.match(key):
        raise DomainError(
            _("Idempotency-Key must be 1–255 printable ASCII characters without spaces."),
            code="idempotency_key_invalid",
        )
    return key


def fingerprint(data: Any) -> str:
    """A stable hash of a request's meaning, to tell a retry from a different request."""
    return hashlib.sha256(
        json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()
    ).hexdigest()


_COUNTRY_RE = re.compile(r"^[A-Za-z]{2}$")
_PHONE_RE = re.compile(r"^[0-9+()\-. ]{0,32}$")
_POSTAL_RE = re.compile(r"^[A-Za-z0-9 \-]{0,20}$")
_ADDRESS_LIMITS = {
    "name": 120,
    "line1": 200,
    "line2": 200,
    "city": 100,
    "region": 100,
    "postal_code": 20,
    "country": 2,
    "phone": 32,
}
_ADDRESS_REQUIRED = ("name", "line1", "city", "country")


def address_clean(raw: Any, *, field: str = "shipping_address") -> dict[str, str]:
    """A shipping address as the order stores it; ValidationError names each bad part."""
    if not isinstance(raw, Mapping):
        raise ValidationError({field: [_("Give an address object or a saved address id.")]})
    unknown = set(raw) - set(ADDRESS_FIELDS)
    if unknown:
        raise ValidationError({f"{field}.{k}": [_("Unknown field.")] for k in sorted(unknown)})
    cleaned: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    for name in ADDRESS_FIELDS:
        value = raw.get(name, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            errors[f"{field}.{name}"] = [_("Must be text.")]
            continue
        value = " ".join(value.split())  # no newlines or control whitespace in labels
        if len(value) > _ADDRESS_LIMITS[name]:
            errors[f"{field}.{name}"] = [
                _("At most %(n)d characters.") % {"n": _ADDRESS_LIMITS[name]}
            ]
        elif name in _ADDRESS_REQUIRED and not value:
            errors[f"{field}.{name}"] = [_("This field is required.")]
        cleaned[name] = value
    if "country" not in errors and not _COUNTRY_RE.match(cleaned.get("country", "")):
        errors[f"{field}.country"] = [_("Use the two-letter country code, e.g. US or CN.")]
    if "phone" not in errors and not _PHONE_RE.match(cleaned.get("phone", "")):
        errors[f"{field}.phone"] = [_("Digits, spaces and + ( ) - . only.")]
    if "postal_code" not in errors and not _POSTAL_RE.match(cleaned.get("postal_code", "")):
        errors[f"{field}.postal_code"] = [_("Letters, digits, spaces and hyphens only.")]
    if errors:
        raise ValidationError(errors)
    cleaned["country"] = cleaned["country"].upper()
    return cleaned


# --- idempotency ----------------------------------------------------------------------


def _claim(
    merchant: Merchant, shopper: Any, scope: str, key: str, request_hash: str
) -> tuple[int | None, IdempotencyKey | None]:
    """Claim the key for this request: (new key id, None), or (None, the committed key).
    A concurrent request with the same key waits on the unique index until the first one
    commits (then we see its key) or rolls back (then we get it)."""
    table = IdempotencyKey._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (merchant_id, shopper_id, scope, key, request_hash, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (merchant_id, shopper_id, scope, key) DO NOTHING RETURNING id",
            [merchant.id, shopper.pk, scope, key, request_hash, timezone.now()],
        )
        row = cursor.fetchone()
    if row is not None:
        return row[0], None
    existing = _key_get(merchant, shopper, scope, key)
    if existing is None:  # deleted between the two statements (purge): treat as a conflict
        raise Conflict(_("This Idempotency-Key is busy; retry."), code="idempotency_key_busy")
    return None, _key_matching(existing, request_hash)


def _key_get(merchant: Merchant, shopper: Any, scope: str, key: str) -> IdempotencyKey | None:
    return IdempotencyKey.objects.filter(
        merchant=merchant, shopper_id=shopper.pk, scope=scope, key=key
    ).first()


def _key_matching(existing: IdempotencyKey, request_hash: str) -> IdempotencyKey:
    if existing.request_hash != request_hash:
        raise DomainError(
            _("This Idempotency-Key was used for a different request."),
            code="idempotency_key_reused",
            status=422,
        )
    return existing


def _replayed_order(existing: IdempotencyKey) -> Order:
    order = Order.objects.filter(merchant_id=existing.merchant_id, idempotency_key=existing).first()
    if order is None:
        raise Conflict(
            _("This Idempotency-Key belongs to another operation."), code="idempotency_key_reused"
        )
    return order


# --- catalog resolution, limits, stock ------------------------------------------------


def _resolve(merchant: Merchant, lines: Sequence[LineIn]) -> list[ResolvedLine]:
    """Match lines to active products and variants of this merchant, in one query."""
    product_ids = {line.product for line in lines}
    variants = list(
        Variant.objects.filter(merchant=merchant, product_id__in=product_ids)
        .select_related("product")
        .order_by("position", "id")
    )
    by_product: dict[int, list[Variant]] = {}
    for variant in variants:
        by_product.setdefault(variant.product_id, []).append(variant)
    resolved = []
    for line in lines:
        where = f"lines[{line.index}]"
        options = by_product.get(line.product)
        if not options:
            raise ValidationError({f"{where}.product": [_("Unknown product.")]})
        product = options[0].product
        if not product.is_active:
            raise ValidationError({f"{where}.product": [_("This product is not for sale.")]})
        active = [v for v in options if v.is_active]
        if len(active) == 1:
            stock_gate.remember_single_variant(merchant.id, product.id, active[0].id)
        if line.variant is None:
            if len(active) != 1:
                raise ValidationError(
                    {f"{where}.variant": [_("Choose a variant: this product has several.")]}
                )
            variant = active[0]
        else:
            match = [v for v in options if v.id == line.variant]
            if not match:
                raise ValidationError({f"{where}.variant": [_("Unknown variant of this product.")]})
            variant = match[0]
            if not variant.is_active:
                raise ValidationError({f"{where}.variant": [_("This variant is not for sale.")]})
        resolved.append(ResolvedLine(line.index, product, variant, line.quantity))
        stock_gate.remember_name(merchant.id, variant.id, _display_name(product, variant))
    return resolved


def _display_name(product: Product, variant: Variant) -> str:
    return f"{product.name} ({variant.label})" if variant.label else product.name


def _check_purchase_limits(
    merchant: Merchant, shopper: Any, lines: Sequence[ResolvedLine], *, exclude_order: int = 0
) -> None:
    limited: dict[int, tuple[Product, int, int]] = {}
    for line in lines:
        if line.product.purchase_limit is not None:
            product, qty, index = limited.get(line.product.id, (line.product, 0, line.index))
            limited[line.product.id] = (product, qty + line.quantity, index)
    if not limited:
        return
    if connection.vendor == "postgresql":
        # Serialise this shopper's orders for these products so two concurrent orders cannot
        # both pass the check (SQLite transactions are serial already).
        with connection.cursor() as cursor:
            for product_id in sorted(limited):
                cursor.execute(
                    "SELECT pg_advisory_xact_lock(%s, %s)",
                    [product_id % 2**31, shopper.pk % 2**31],
                )
    held = dict(
        OrderLine.objects.filter(
            merchant=merchant,
            order__shopper_id=shopper.pk,
            order__status__in=HOLDING_STOCK,
            product_id__in=list(limited),
        )
        .exclude(order_id=exclude_order)
        .values("product_id")
        .annotate(units=Sum("quantity"))
        .values_list("product_id", "units")
    )
    for product_id, (product, qty, index) in limited.items():
        limit = product.purchase_limit or 0
        already = held.get(product_id, 0) or 0
        if already + qty > limit:
            raise PurchaseLimitReached(
                _("%(name)s is limited to %(n)d per shopper; you already have %(held)d.")
                % {"name": product.name, "n": limit, "held": already},
                line=index,
                product=product_id,
                limit=limit,
            )


def _take_stock(merchant: Merchant, lines: Sequence[ResolvedLine]) -> list[tuple[int, int]]:
    """Reserve every line's units or raise OutOfStock naming the first line that cannot be
    served. Returns the committed-to-be stock levels (variant id, units left)."""
    need: dict[int, tuple[int, ResolvedLine]] = {}
    for line in lines:
        qty, first = need.get(line.variant.id, (0, line))
        need[line.variant.id] = (qty + line.quantity, first)
    table = Variant._meta.db_table
    levels = []
    with connection.cursor() as cursor:
        for variant_id in sorted(need):
            qty, line = need[variant_id]
            cursor.execute(
                f"UPDATE {table} SET stock = stock - %s"
                " WHERE id = %s AND merchant_id = %s AND stock >= %s RETURNING stock",
                [qty, variant_id, merchant.id, qty],
            )
            row = cursor.fetchone()
            if row is None:
                cursor.execute(f"SELECT stock FROM {table} WHERE id = %s", [variant_id])
                available = (cursor.fetchone() or (0,))[0]
                # The read is of committed data: the gate may learn from it even though this
                # transaction rolls back.
                stock_gate.stock_observed(merchant.id, [(variant_id, available)])
                raise _out_of_stock(line, available)
            levels.append((variant_id, row[0]))
    return levels


def _out_of_stock(
    line: ResolvedLine | LineIn, available: int, *, merchant_id: int | None = None
) -> OutOfStock:
    variant_id: int | None
    if isinstance(line, ResolvedLine):
        name = _display_name(line.product, line.variant)
        product_id, variant_id = line.product.id, line.variant.id
    else:
        product_id = line.product
        variant_id = line.variant or (
            stock_gate.variant_for_product(merchant_id, line.product) if merchant_id else None
        )
        name = (merchant_id and stock_gate.name_of(merchant_id, variant_id)) or f"#{product_id}"
    if available:
        message = _("Line %(n)d, %(name)s: only %(available)d left.") % {
            "n": line.index + 1,
            "name": name,
            "available": available,
        }
    else:
        message = _("Line %(n)d, %(name)s: sold out.") % {"n": line.index + 1, "name": name}
    return OutOfStock(
        message,
        line=line.index,
        product=product_id,
        variant=variant_id,
        available=available,
    )


def _release_stock(order: Order) -> list[tuple[int, int]]:
    """Give an order's units back (in variant id order). Returns the new levels."""
    table = Variant._meta.db_table
    units: dict[int, int] = {}
    for variant_id, qty in OrderLine.objects.filter(
        merchant_id=order.merchant_id, order=order
    ).values_list("variant_id", "quantity"):
        units[variant_id] = units.get(variant_id, 0) + qty
    levels = []
    with connection.cursor() as cursor:
        for variant_id in sorted(units):
            cursor.execute(
                f"UPDATE {table} SET stock = stock + %s WHERE id = %s AND merchant_id = %s"
                " RETURNING stock",
                [units[variant_id], variant_id, order.merchant_id],
            )
            row = cursor.fetchone()
            if row is not None:
                levels.append((variant_id, row[0]))
    return levels


def _stock_changed(merchant_id: int, levels: list[tuple[int, int]]) -> None:
    """After commit: these variants now have these many units. The one place that learns of
    committed stock changes from orders."""
    stock_committed(merchant_id, levels)


# --- transitions ----------------------------------------------------------------------


def _transition(order: Order, to: str, who: Who, *, reason: str = "", **fields: Any) -> Order:
    """Move `order` to `to` if the state machine allows it and nobody moved it meanwhile."""
    frm = order.status
    if to not in TRANSITIONS[frm]:
        raise Conflict(
            _("An order that is %(from)s cannot become %(to)s.")
            % {"from": OrderStatus(frm).label, "to": OrderStatus(to).label},
            code="illegal_transition",
        )
    now = timezone.now()
    updated = Order.objects.filter(pk=order.pk, merchant_id=order.merchant_id, status=frm).update(
        status=to, updated_at=now, **fields
    )
    if not updated:
        raise Conflict(_("The order changed meanwhile; reload it."), code="order_changed")
    order.status = to
    order.updated_at = now
    for key, value in fields.items():
        setattr(order, key, value)
    _record(order, frm, to, who, reason=reason)
    return order


def _record(order: Order, frm: str, to: str, who: Who, *, reason: str = "") -> OrderTransition:
    transition = OrderTransition.objects.create(
        merchant_id=order.merchant_id,
        order=order,
        from_status=frm,
        to_status=to,
        actor=who.user if getattr(who.user, "pk", None) else None,
        actor_kind=who.kind,
        actor_label=who.label[:200],
        reason=reason[:300],
    )
    # A shopper's own placement needs no mail (they are on the page, paying); the order
    # confirmation goes out when it is paid. A staff-built cart sent to them does.
    if to in NOTIFY and frm != "":
        from ..tasks import order_status_email

        transaction.on_commit(
            lambda: order_status_email.delay(transition.id, order.merchant_id),
            robust=True,  # a broker hiccup must not fail the committed request
        )
    if to in TOPUP_WATCHED:
        # A coin top-up (rooms.economy) is an order without lines: its wallet follows the
        # order (credited when paid, debited when refunded), in this same transaction.
        from rooms.economy import topup_order_transitioned

        topup_order_transitioned(order=order, to_status=to)
    if order.room_id is not None:
        # An order from a live room: a paid one may show as "someone just bought X"; one
        # that ends unpaid gives its flash-sale units back (rooms.selling), in this transaction.
        from rooms.selling import room_order_transitioned

        room_order_transitioned(order=order, from_status=frm, to_status=to)
    if order.consult_id is not None:
        # A consult's cart: both parties of the call see it change (after commit), and a
        # payment counts as the consult's outcome.
        from consults.services import cart_transitioned

        cart_transitioned(order=order, to_status=to)
    return transition


def _lock(merchant: Merchant, order: Order) -> Order:
    locked = Order.objects.select_for_update().filter(pk=order.pk, merchant=merchant).first()
    if locked is None:
        from django.http import Http404

        raise Http404
    return locked


# --- placing orders -------------------------------------------------------------------


def order_place(
    *,
    merchant: Merchant,
    shopper: Any,
    lines: Any,
    idempotency_key: str,
    room: Any = None,
    shipping_address: Any = None,
) -> PlaceResult:
    """Place an order for `shopper`, reserving its stock until the reservation expires.

    `lines` is `[{product, variant?, quantity}]`; `room` a room slug (attribution);
    `shipping_address` an address object or a saved address id. The same key with the same
    request returns the same order (`replayed=True`); with another request → 422. Raises
    OutOfStock (409) naming the line, PurchaseLimitReached (409), ValidationError (400)."""
    key = idempotency_key_check(idempotency_key)
    parsed = lines_parse(lines)
    request_hash = fingerprint(
        {
            "lines": [(x.product, x.variant, x.quantity) for x in parsed],
            "room": room,
            "shipping_address": shipping_address,
        }
    )
    with shopper_scope(merchant, shopper):
        # A stampede on a sold-out item is refused here, before any write. A retry of an
        # order that did go through still gets its order back.
        closed = gate_closed_line(merchant.id, parsed)
        if closed is not None:
            existing = _key_get(merchant, shopper, SCOPE_PLACE, key)
            if existing is not None:
                return PlaceResult(_replayed_order(_key_matching(existing, request_hash)), True)
            raise _out_of_stock(closed, 0, merchant_id=merchant.id)
        key_id, existing = _claim(merchant, shopper, SCOPE_PLACE, key, request_hash)
        if existing is not None:
            return PlaceResult(_replayed_order(existing), True)
        resolved = _resolve(merchant, parsed)
        address = _shipping_address(merchant, shopper, shipping_address)
        room_obj = _room(merchant, room)
        offer = None
        if room_obj is not None:
            # The room may price lines (a running flash sale) and must count the units.
            from rooms.selling import room_order_offer

            offer = room_order_offer(
                merchant=merchant, shopper=shopper, room=room_obj, lines=resolved
            )
            if offer is not None:
                resolved = offer.lines
        _check_purchase_limits(merchant, shopper, resolved)
        order = _order_insert(
            merchant,
            shopper,
            resolved,
            status=OrderStatus.PENDING_PAYMENT,
            address=address,
            room=room_obj,
            idempotency_key_id=key_id,
        )
        _record(order, "", OrderStatus.PENDING_PAYMENT, Who.of_shopper(shopper), reason="placed")
        if offer is not None:
            offer.claim(order)  # conditional UPDATE of the sale's counter, or OutOfStock
        _stock_changed(merchant.id, _take_stock(merchant, resolved))  # last: short row locks
    return PlaceResult(order, False)


def gate_closed_line(merchant_id: int, lines: Sequence[LineIn]) -> LineIn | None:
    """The first line whose variant this process recently saw sold out, if any."""
    for line in lines:
        variant_id = line.variant or stock_gate.variant_for_product(merchant_id, line.product)
        if variant_id is not None and stock_gate.gate_closed(merchant_id, variant_id):
            return line
    return None


def out_of_stock_error(merchant_id: int, line: LineIn, available: int = 0) -> OutOfStock:
    """The refusal for a line the gate holds sold out (named as the catalog last said)."""
    return _out_of_stock(line, available, merchant_id=merchant_id)


def _order_insert(
    merchant: Merchant,
    shopper: Any,
    lines: Sequence[ResolvedLine],
    *,
    status: str,
    address: dict[str, str] | None,
    room: Any,
    idempotency_key_id: int | None = None,
    created_by: Any = None,
    consult: Any = None,
) -> Order:
    if consult is not None and consult.merchant_id != merchant.id:
        raise ValidationError({"consult": [_("Unknown consult.")]})
    now = timezone.now()
    total = sum(line.unit_price * line.quantity for line in lines)
    order = Order.objects.create(
        merchant=merchant,
        shopper=shopper,
        status=status,
        currency=merchant.currency,
        subtotal=total,
        total=total,
        shipping_address=address,
        room=room,
        created_by=created_by,
        consult=consult,
        reserved_until=now + settings.LIVESHOP_RESERVATION_TTL
        if status == OrderStatus.PENDING_PAYMENT
        else None,
        idempotency_key_id=idempotency_key_id,
        created_at=now,
        updated_at=now,
    )
    _lines_insert(order, lines)
    return order


def _lines_insert(order: Order, lines: Sequence[ResolvedLine]) -> None:
    # Kept on the order so the caller can render it without reading the lines back.
    order._placed_lines = OrderLine.objects.bulk_create(  # type: ignore[attr-defined]
        [
            OrderLine(
                merchant_id=order.merchant_id,
                order=order,
                product=line.product,
                variant=line.variant,
                name=line.product.name,
                variant_label=line.variant.label,
                quantity=line.quantity,
                unit_price=line.unit_price,
            )
            for line in lines
        ]
    )


def _shipping_address(merchant: Merchant, shopper: Any, raw: Any) -> dict[str, str] | None:
    if raw is None:
        return None
    if _positive_id(raw):
        saved = Address.objects.filter(merchant=merchant, shopper_id=shopper.pk, pk=raw).first()
        if saved is None:
            raise ValidationError({"shipping_address": [_("Unknown saved address.")]})
        return saved.as_dict()
    return address_clean(raw)


def _room(merchant: Merchant, room: Any) -> Any:
    if room is None or room == "":
        return None
    from rooms.models import Room

    if isinstance(room, Room):
        if room.merchant_id != merchant.id:
            raise ValidationError({"room": [_("Unknown room.")]})
        return room
    if not isinstance(room, str) or len(room) > 40:
        raise ValidationError({"room": [_("Give the room's slug.")]})
    found = Room.objects.filter(merchant=merchant, slug=room).first()
    if found is None:
        raise ValidationError({"room": [_("Unknown room.")]})
    return found


def order_cancel_by_shopper(*, merchant: Merchant, shopper: Any, order: Order) -> Order:
    """The shopper gives up an unpaid order: its stock goes back at once."""
    with shopper_scope(merchant, shopper):
        order = _lock(merchant, order)
        if order.shopper_id != shopper.pk:
            from django.http import Http404

            raise Http404
        if order.status != OrderStatus.PENDING_PAYMENT:
            raise Conflict(_("Only an unpaid order can be cancelled."), code="illegal_transition")
        _transition(order, OrderStatus.CANCELLED, Who.of_shopper(shopper), reason="by shopper")
        _stock_changed(merchant.id, _release_stock(order))
        _void_open_payments(order)
    return order


# --- staff: draft carts ---------------------------------------------------------------


def order_draft_create(
    *, actor: Actor, shopper: Any, lines: Any = (), room: Any = None, consult: Any = None
) -> Order:
    """A cart staff build for a shopper (e.g. in a consult). It holds its stock until it is
    sent (then the usual reservation timer runs) or abandoned. `consult` (a consults.Consult
    of this merchant) attributes the order to that consult and its agent."""
    actor.require(Perm.BUILD_CARTS)
    merchant = actor.merchant
    with actor_scope(actor):
        room_obj = _room(merchant, room)
        resolved = _resolve(merchant, lines_parse(lines)) if lines else []
        if resolved:
            _check_purchase_limits(merchant, shopper, resolved)
        order = _order_insert(
            merchant,
            shopper,
            resolved,
            status=OrderStatus.DRAFT,
            address=None,
            room=room_obj,
            created_by=actor.user if getattr(actor.user, "pk", None) else None,
            consult=consult,
        )
        _record(order, "", OrderStatus.DRAFT, Who.of_actor(actor), reason="cart started")
        if resolved:
            _stock_changed(merchant.id, _take_stock(merchant, resolved))
    return order


def order_draft_set_lines(*, actor: Actor, order: Order, lines: Any) -> Order:
    """Replace a draft's lines; stock follows (released for removed units, taken for new)."""
    actor.require(Perm.BUILD_CARTS)
    merchant = actor.merchant
    parsed = lines_parse(lines) if lines else []
    with actor_scope(actor):
        order = _lock(merchant, order)
        if order.status != OrderStatus.DRAFT:
            raise Conflict(_("Only a draft cart can be edited."), code="illegal_transition")
        resolved = _resolve(merchant, parsed) if parsed else []
        released = _release_stock(order)
        OrderLine.objects.filter(merchant=merchant, order=order).delete()
        if resolved:
            _check_purchase_limits(merchant, order.shopper, resolved, exclude_order=order.pk)
        _lines_insert(order, resolved)
        total = sum(line.unit_price * line.quantity for line in resolved)
        Order.objects.filter(pk=order.pk).update(
            subtotal=total, total=total, updated_at=timezone.now()
        )
        order.subtotal = order.total = total
        taken = _take_stock(merchant, resolved) if resolved else []
        levels = dict(released)
        levels.update(dict(taken))
        _stock_changed(merchant.id, sorted(levels.items()))
    return order


def order_draft_send(*, actor: Actor, order: Order, shipping_address: Any = None) -> Order:
    """Hand the cart to the shopper to pay: the reservation timer starts now."""
    actor.require(Perm.BUILD_CARTS)
    merchant = actor.merchant
    with actor_scope(actor):
        order = _lock(merchant, order)
        if order.status == OrderStatus.DRAFT and not order.lines.exists():
            raise Conflict(_("Add at least one product first."), code="empty_cart")
        fields: dict[str, Any] = {
            "reserved_until": timezone.now() + settings.LIVESHOP_RESERVATION_TTL
        }
        if shipping_address is not None:
            fields["shipping_address"] = _shipping_address(
                merchant, order.shopper, shipping_address
            )
        _transition(
            order, OrderStatus.PENDING_PAYMENT, Who.of_actor(actor), reason="cart sent", **fields
        )
    return order


def order_draft_abandon(*, actor: Actor, order: Order) -> Order:
    actor.require(Perm.BUILD_CARTS)
    merchant = actor.merchant
    with actor_scope(actor):
        order = _lock(merchant, order)
        if order.status != OrderStatus.DRAFT:
            raise Conflict(_("Only a draft cart can be abandoned."), code="illegal_transition")
        _transition(order, OrderStatus.CANCELLED, Who.of_actor(actor), reason="cart abandoned")
        _stock_changed(merchant.id, _release_stock(order))
    return order


# --- staff: fulfilment, cancellation, refunds -----------------------------------------


def order_fulfil(*, actor: Actor, order: Order, reason: str = "") -> Order:
    actor.require(Perm.MANAGE_ORDERS)
    with actor_scope(actor):
        order = _lock(actor.merchant, order)
        _transition(order, OrderStatus.FULFILLED, Who.of_actor(actor), reason=reason or "shipped")
        audit_record(actor=actor, action="order.fulfilled", obj=order)
    return order


def order_cancel(*, actor: Actor, order: Order, reason: str = "") -> Order:
    """Staff cancel an unpaid order (or abandon a draft); its stock goes back."""
    actor.require(Perm.MANAGE_ORDERS)
    with actor_scope(actor):
        order = _lock(actor.merchant, order)
        if order.status not in (OrderStatus.DRAFT, OrderStatus.PENDING_PAYMENT):
            raise Conflict(_("A paid order is refunded, not cancelled."), code="illegal_transition")
        _transition(order, OrderStatus.CANCELLED, Who.of_actor(actor), reason=reason or "by staff")
        _stock_changed(actor.merchant.id, _release_stock(order))
        _void_open_payments(order)
        audit_record(actor=actor, action="order.cancelled", obj=order, data={"reason": reason})
    return order


def order_refund(*, actor: Actor, order: Order, restock: bool = False, reason: str = "") -> Order:
    """Refund a paid or fulfilled order in full through its gateway; `restock` puts the units
    back on sale (e.g. returned unopened)."""
    from ..payments.gateway import PaymentGatewayError, gateway_get

    actor.require(Perm.MANAGE_ORDERS)
    with actor_scope(actor):
        order = _lock(actor.merchant, order)
        if order.status not in (OrderStatus.PAID, OrderStatus.FULFILLED):
            raise Conflict(
                _("Only a paid or fulfilled order can be refunded."), code="illegal_transition"
            )
        payment = (
            Payment.objects.select_for_update()
            .filter(merchant=actor.merchant, order=order, status=PaymentStatus.SUCCEEDED)
            .first()
        )
        if payment is not None:
            amount = payment.amount - payment.refunded_amount
            try:
                gateway_get(payment.gateway).refund(payment.external_id, amount)
            except PaymentGatewayError as exc:
                raise Conflict(str(exc), code="refund_failed") from exc
            Payment.objects.filter(pk=payment.pk).update(
                status=PaymentStatus.REFUNDED,
                refunded_amount=payment.amount,
                updated_at=timezone.now(),
            )
        _transition(
            order,
            OrderStatus.REFUNDED,
            Who.of_actor(actor),
            reason=reason or ("refunded, restocked" if restock else "refunded"),
            refunded_amount=order.total,
        )
        if restock:
            _stock_changed(actor.merchant.id, _release_stock(order))
        audit_record(
            actor=actor,
            action="order.refunded",
            obj=order,
            data={"amount": order.total, "restock": restock, "reason": reason},
        )
    return order


# --- payments' effect on orders (called by the payment services) ----------------------


def order_mark_paid(*, order: Order, gateway: str) -> bool:
    """A captured payment for `order` (locked by the caller). Returns False when the order
    can no longer be sold (its stock is gone) and the payment must be refunded."""
    who = Who(f"gateway:{gateway}", None, gateway)
    now = timezone.now()
    if order.status == OrderStatus.PENDING_PAYMENT:
        _transition(order, OrderStatus.PAID, who, reason="payment captured", paid_at=now)
        return True
    if order.status in (OrderStatus.EXPIRED, OrderStatus.CANCELLED):
        # Paid after the reservation ended: sell it only if the units are still there.
        lines = [
            ResolvedLine(i, line.product, line.variant, line.quantity)
            for i, line in enumerate(
                OrderLine.objects.filter(merchant_id=order.merchant_id, order=order).select_related(
                    "product", "variant"
                )
            )
        ]
        merchant = Merchant(id=order.merchant_id)
        try:
            with transaction.atomic():  # a savepoint: a refusal must not abort the webhook
                levels = _take_stock(merchant, lines)
                if order.room_id is not None:
                    # A flash-sale order takes its sale units back too, or is refunded.
                    from rooms.selling import room_order_reclaim

                    room_order_reclaim(order=order)
        except OutOfStock:
            return False
        _transition(
            order, OrderStatus.PAID, who, reason="paid after the reservation ended", paid_at=now
        )
        _stock_changed(order.merchant_id, levels)
        return True
    return False  # already paid by another payment, or refunded


def _void_open_payments(order: Order) -> None:
    from ..payments.gateway import gateway_get

    for payment in Payment.objects.filter(
        merchant_id=order.merchant_id, order=order, status=PaymentStatus.PENDING
    ):
        # A checkout the shopper already confirmed cannot be voided: its webhook will come
        # and `order_mark_paid` decides then.
        if gateway_get(payment.gateway).checkout_void(payment.external_id):
            Payment.objects.filter(pk=payment.pk, status=PaymentStatus.PENDING).update(
                status=PaymentStatus.FAILED,
                failure_reason=f"order {order.status}",
                updated_at=timezone.now(),
            )


# --- the reservation timer ------------------------------------------------------------


def reservations_expire(*, now: Any = None, limit: int = 500) -> int:
    """Expire unpaid orders whose reservation ran out and give their stock back. A platform
    job: it finds due orders across merchants through the audited bypass, then handles each
    in its own transaction scoped to its merchant."""
    now = now or timezone.now()
    with rls_bypass("reservation-expiry"):
        due = list(
            Order.objects.filter(status=OrderStatus.PENDING_PAYMENT, reserved_until__lt=now)
            .order_by("reserved_until")
            .values_list("merchant_id", "id")[:limit]
        )
    expired = 0
    for merchant_id, order_id in due:
        try:
            with tenant_scope(merchant_id):
                order = (
                    Order.objects.select_for_update()
                    .filter(pk=order_id, merchant_id=merchant_id)
                    .first()
                )
                if (
                    order is None
                    or order.status != OrderStatus.PENDING_PAYMENT
                    or order.reserved_until is None
                    or order.reserved_until >= now
                ):
                    continue  # paid or cancelled meanwhile
                _transition(order, OrderStatus.EXPIRED, SYSTEM, reason="not paid in time")
                _stock_changed(merchant_id, _release_stock(order))
                _void_open_payments(order)
                expired += 1
        except Exception:  # one bad order must not stop the sweep
            log.exception("expiring order %s failed", order_id)
    return expired


def idempotency_keys_purge(*, now: Any = None) -> int:
    """Forget keys older than LIVESHOP_IDEMPOTENCY_TTL (a platform job)."""
    cutoff = (now or timezone.now()) - settings.LIVESHOP_IDEMPOTENCY_TTL
    with rls_bypass("idempotency-purge"):
        deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted


# --- addresses ------------------------------------------------------------------------

MAX_ADDRESSES = 20


def address_save(*, merchant: Merchant, shopper: Any, data: Any) -> Address:
    cleaned = address_clean(data, field="address")
    with shopper_scope(merchant, shopper):
        existing = Address.objects.filter(merchant=merchant, shopper_id=shopper.pk)
        for address in existing:
            if address.as_dict() == cleaned:
                return address  # saving the same address twice keeps one
        if existing.count() >= MAX_ADDRESSES:
            raise ValidationError(
                {"address": [_("At most %(n)d saved addresses.") % {"n": MAX_ADDRESSES}]}
            )
        return Address.objects.create(merchant=merchant, shopper=shopper, **cleaned)


def address_delete(*, merchant: Merchant, shopper: Any, address_id: int) -> None:
    with shopper_scope(merchant, shopper):
        deleted, _ = Address.objects.filter(
            merchant=merchant, shopper_id=shopper.pk, pk=address_id
        ).delete()
    if not deleted:
        from django.http import Http404

        raise Http404
