"""Catalog writes: products, variants, stock. Staff only (`Perm.MANAGE_PRODUCTS`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError
from django.utils import timezone
from django.utils.translation import gettext as _

from liveshop.errors import Conflict
from liveshop.tenancy.access import Actor
from liveshop.tenancy.permissions import Perm
from liveshop.tenancy.services import audit_record

from ..models import MAX_PRICE, MAX_STOCK, Product, Variant
from .common import actor_scope, stock_committed

MAX_VARIANTS = 200
MAX_IMAGES = 10
MAX_OPTIONS = 5
PRODUCT_TEXT_FIELDS = {
    "sku": 64,
    "name": 200,
    "name_zh": 200,
    "description": 5000,
    "description_zh": 5000,
    "category": 60,
    "material": 200,
    "material_zh": 200,
}
PRODUCT_FIELDS = (*PRODUCT_TEXT_FIELDS, "price", "images", "is_active", "purchase_limit")


def _text(field: str, value: Any, limit: int, *, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationError({field: [_("Must be text.")]})
    value = value.strip()
    if required and not value:
        raise ValidationError({field: [_("This field is required.")]})
    if len(value) > limit:
        raise ValidationError({field: [_("At most %(n)d characters.") % {"n": limit}]})
    return value


def _money(field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError({field: [_("Give an integer amount in minor units (cents).")]})
    if value < 0 or value > MAX_PRICE:
        raise ValidationError({field: [_("Must be between 0 and %(max)d.") % {"max": MAX_PRICE}]})
    return value


def _stock(field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError({field: [_("Give a whole number of units.")]})
    if value < 0 or value > MAX_STOCK:
        raise ValidationError({field: [_("Must be between 0 and %(max)d.") % {"max": MAX_STOCK}]})
    return value


def _images(value: Any) -> list[str]:
    from django.core.validators import URLValidator

    if value is None:
        return []
    if not isinstance(value, list | tuple) or len(value) > MAX_IMAGES:
        raise ValidationError({"images": [_("Give at most %(n)d image URLs.") % {"n": MAX_IMAGES}]})
    check = URLValidator(schemes=["http", "https"])
    cleaned = []
    for url in value:
        if not isinstance(url, str) or len(url) > 500:
            raise ValidationError({"images": [_("Each image is a URL of at most 500 characters.")]})
        try:
            check(url)
        except ValidationError:
            raise ValidationError(
                {"images": [_("%(url)s is not an http(s) URL.") % {"url": url[:80]}]}
            ) from None
        cleaned.append(url)
    return cleaned


def _options(field: str, value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or len(value) > MAX_OPTIONS:
        raise ValidationError(
            {field: [_("Options are at most %(n)d name → value pairs.") % {"n": MAX_OPTIONS}]}
        )
    cleaned: dict[str, str] = {}
    for key, val in value.items():
        if (
            not isinstance(key, str)
            or not isinstance(val, str)
            or not 0 < len(key) <= 30
            or len(val) > 60
        ):
            raise ValidationError(
                {field: [_("Option names (≤30 chars) and values (≤60 chars) are text.")]}
            )
        cleaned[key.strip()] = val.strip()
    return cleaned


def _purchase_limit(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10_000:
        raise ValidationError({"purchase_limit": [_("Between 1 and 10000, or empty for none.")]})
    return value


def _product_values(data: Mapping[str, Any], *, creating: bool) -> dict[str, Any]:
    unknown = set(data) - set(PRODUCT_FIELDS)
    if unknown:
        raise ValidationError({k: [_("Unknown field.")] for k in sorted(unknown)})
    values: dict[str, Any] = {}
    for field, limit in PRODUCT_TEXT_FIELDS.items():
        if field in data:
            values[field] = _text(field, data[field], limit, required=field == "name")
    if creating and "name" not in values:
        raise ValidationError({"name": [_("This field is required.")]})
    if "price" in data:
        values["price"] = _money("price", data["price"])
    elif creating:
        raise ValidationError({"price": [_("This field is required.")]})
    if "images" in data:
        values["images"] = _images(data["images"])
    if "is_active" in data:
        if not isinstance(data["is_active"], bool):
            raise ValidationError({"is_active": [_("Must be true or false.")]})
        values["is_active"] = data["is_active"]
    if "purchase_limit" in data:
        values["purchase_limit"] = _purchase_limit(data["purchase_limit"])
    return values


def _variant_values(data: Mapping[str, Any], *, creating: bool, prefix: str = "") -> dict[str, Any]:
    allowed = {"sku", "options", "options_zh", "price", "stock", "is_active", "position"}
    unknown = set(data) - allowed
    if unknown:
        raise ValidationError({f"{prefix}{k}": [_("Unknown field.")] for k in sorted(unknown)})
    values: dict[str, Any] = {}
    if "sku" in data:
        values["sku"] = _text(f"{prefix}sku", data["sku"], 64)
    for field in ("options", "options_zh"):
        if field in data:
            values[field] = _options(f"{prefix}{field}", data[field])
    if "price" in data:
        values["price"] = None if data["price"] is None else _money(f"{prefix}price", data["price"])
    if "stock" in data:
        values["stock"] = _stock(f"{prefix}stock", data["stock"])
    elif creating:
        values["stock"] = 0
    if "is_active" in data:
        if not isinstance(data["is_active"], bool):
            raise ValidationError({f"{prefix}is_active": [_("Must be true or false.")]})
        values["is_active"] = data["is_active"]
    if "position" in data:
        position = data["position"]
        if (
            isinstance(position, bool)
            or not isinstance(position, int)
            or not 0 <= position < 10_000
        ):
            raise ValidationError({f"{prefix}position": [_("Between 0 and 9999.")]})
        values["position"] = position
    return values


def _sku_conflict(exc: IntegrityError) -> ValidationError:
    return ValidationError({"sku": [_("Another product or variant already uses this SKU.")]})


def product_create(
    *,
    actor: Actor,
    data: Mapping[str, Any],
    stock: int | None = None,
    variants: Sequence[Mapping[str, Any]] | None = None,
) -> Product:
    """A new product. With `variants` it gets those; otherwise one default variant holding
    `stock` units (the contract's `{name, price, stock}`)."""
    actor.require(Perm.MANAGE_PRODUCTS)
    values = _product_values(data, creating=True)
    if variants is not None and stock is not None:
        raise ValidationError({"stock": [_("Give stock per variant, not both.")]})
    if variants is not None:
        if not isinstance(variants, list | tuple) or not 1 <= len(variants) <= MAX_VARIANTS:
            raise ValidationError(
                {"variants": [_("Between 1 and %(n)d variants.") % {"n": MAX_VARIANTS}]}
            )
        variant_values = [
            _variant_values(v, creating=True, prefix=f"variants[{i}].")
            if isinstance(v, Mapping)
            else _fail(f"variants[{i}]", _("Each variant is an object."))
            for i, v in enumerate(variants)
        ]
    else:
        variant_values = [{"stock": _stock("stock", 0 if stock is None else stock)}]
    merchant = actor.merchant
    with actor_scope(actor):
        try:
            with transaction.atomic():
                product = Product.objects.create(merchant=merchant, **values)
                Variant.objects.bulk_create(
                    [
                        Variant(merchant=merchant, product=product, position=i, **v)
                        for i, v in enumerate(variant_values)
                    ]
                )
        except IntegrityError as exc:
            raise _sku_conflict(exc) from exc
        audit_record(
            actor=actor,
            action="product.created",
            obj=product,
            data={"variants": len(variant_values)},
        )
    return product


def _fail(field: str, message: str) -> dict[str, Any]:
    raise ValidationError({field: [message]})


def product_update(*, actor: Actor, product: Product, data: Mapping[str, Any]) -> Product:
    actor.require(Perm.MANAGE_PRODUCTS)
    values = _product_values(data, creating=False)
    if not values:
        return product
    before = {k: getattr(product, k) for k in values}
    for key, value in values.items():
        setattr(product, key, value)
    product.updated_at = timezone.now()
    with actor_scope(actor):
        try:
            with transaction.atomic():
                product.save(update_fields=[*values, "updated_at"])
        except IntegrityError as exc:
            raise _sku_conflict(exc) from exc
        diff = {k: [before[k], values[k]] for k in values if before[k] != values[k]}
        if diff:
            audit_record(actor=actor, action="product.updated", obj=product, data=diff)
    return product


def product_delete(*, actor: Actor, product: Product) -> None:
    """Delete a product nobody ordered; one with orders must be deactivated instead."""
    actor.require(Perm.MANAGE_PRODUCTS)
    with actor_scope(actor):
        try:
            with transaction.atomic():
                audit_record(actor=actor, action="product.deleted", obj=product)
                product.delete()
        except ProtectedError:
            raise Conflict(
                _("This product has orders. Deactivate it instead of deleting it."),
                code="product_has_orders",
            ) from None


def variant_create(*, actor: Actor, product: Product, data: Mapping[str, Any]) -> Variant:
    actor.require(Perm.MANAGE_PRODUCTS)
    values = _variant_values(data, creating=True)
    with actor_scope(actor):
        if Variant.objects.filter(merchant=actor.merchant, product=product).count() >= MAX_VARIANTS:
            raise ValidationError(
                {"variants": [_("At most %(n)d variants.") % {"n": MAX_VARIANTS}]}
            )
        values.setdefault(
            "position", Variant.objects.filter(merchant=actor.merchant, product=product).count()
        )
        try:
            with transaction.atomic():
                variant = Variant.objects.create(merchant=actor.merchant, product=product, **values)
        except IntegrityError as exc:
            raise _sku_conflict(exc) from exc
        audit_record(
            actor=actor, action="variant.created", obj=variant, data={"stock": variant.stock}
        )
    _stock_committed(actor, [(variant.pk, variant.stock)])
    return variant


def variant_update(*, actor: Actor, variant: Variant, data: Mapping[str, Any]) -> Variant:
    """Change a variant. `stock` sets the units available now, under the row lock, so an
    order placed at the same moment is counted either before or after, never lost."""
    actor.require(Perm.MANAGE_PRODUCTS)
    values = _variant_values(data, creating=False)
    if not values:
        return variant
    with actor_scope(actor):
        locked = Variant.objects.select_for_update().get(pk=variant.pk, merchant=actor.merchant)
        before = {k: getattr(locked, k) for k in values}
        for key, value in values.items():
            setattr(locked, key, value)
        try:
            with transaction.atomic():
                locked.save(update_fields=list(values))
        except IntegrityError as exc:
            raise _sku_conflict(exc) from exc
        diff = {k: [before[k], values[k]] for k in values if before[k] != values[k]}
        if diff:
            audit_record(actor=actor, action="variant.updated", obj=locked, data=diff)
    if "stock" in values:
        _stock_committed(actor, [(locked.pk, locked.stock)])
    return locked


def stock_adjust(*, actor: Actor, variant: Variant, delta: int) -> int:
    """Add (or with a negative delta remove) units; refuses to go below zero. Returns the new
    stock. Unlike setting an absolute number, concurrent adjustments all count."""
    actor.require(Perm.MANAGE_PRODUCTS)
    if isinstance(delta, bool) or not isinstance(delta, int) or abs(delta) > MAX_STOCK:
        raise ValidationError({"delta": [_("Give a whole number of units.")]})
    with actor_scope(actor), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Variant._meta.db_table} SET stock = stock + %s "
            "WHERE id = %s AND merchant_id = %s AND stock + %s >= 0 AND stock + %s <= %s "
            "RETURNING stock",
            [delta, variant.pk, actor.merchant.id, delta, delta, MAX_STOCK],
        )
        row = cursor.fetchone()
        if row is None:
            raise Conflict(
                _("Stock cannot go below zero (or above %(max)d).") % {"max": MAX_STOCK},
                code="stock_out_of_range",
            )
        audit_record(
            actor=actor, action="variant.stock_adjusted", obj=variant, data={"delta": delta}
        )
    variant.stock = row[0]
    _stock_committed(actor, [(variant.pk, variant.stock)])
    return variant.stock


def _stock_committed(actor: Actor, levels: list[tuple[int, int]]) -> None:
    """After the transaction commits: the stock of these variants is now known."""
    stock_committed(actor.merchant.id, levels)
