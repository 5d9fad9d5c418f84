"""What the engine knows: an immutable snapshot of ONE merchant's catalog and policies, and the
room the question was asked in. The integration layer fills these from the database at answer
time; the engine reads every price, stock figure and text from them and from nowhere else.

Only text (names, descriptions, colours, sizes, policies) is indexed. Prices, stock and flash
sales are read from the snapshot handed to each call, so they never need a re-index.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

# Upper bounds that keep one answer cheap whatever the integrator hands in.
MAX_PRODUCTS = 20_000
MAX_VARIANTS_PER_PRODUCT = 500
MAX_POLICIES = 500
MAX_TEXT_CHARS = 5_000


def _text(value: Any, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, not {type(value).__name__}")
    return value[:MAX_TEXT_CHARS]


def _count(value: Any, what: str) -> int:
    # bool is an int subclass; True stock is a bug upstream, not a quantity.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} must be an integer, not {value!r}")
    if value < 0:
        raise ValueError(f"{what} must be >= 0, not {value}")
    return value


@dataclass(frozen=True)
class VariantDoc:
    """One sellable option of a product. `stock` is live stock at snapshot time; `price`
    (minor units) is set only when this variant overrides the product's price."""

    id: str
    color: str = ""
    color_zh: str = ""
    size: str = ""
    stock: int = 0
    price: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", str(self.id))
        object.__setattr__(self, "color", _text(self.color, "variant color"))
        object.__setattr__(self, "color_zh", _text(self.color_zh, "variant color_zh"))
        object.__setattr__(self, "size", _text(self.size, "variant size"))
        _count(self.stock, f"stock of variant {self.id}")
        if self.price is not None:
            _count(self.price, f"price of variant {self.id}")


@dataclass(frozen=True)
class ProductDoc:
    """A product as a shopper sees it. `price` is in minor units of `currency`."""

    id: str
    name: str
    price: int
    currency: str = "USD"
    name_zh: str = ""
    description: str = ""
    description_zh: str = ""
    category: str = ""
    material: str = ""
    material_zh: str = ""
    sku: str = ""
    variants: tuple[VariantDoc, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", str(self.id))
        for name in (
            "name",
            "name_zh",
            "description",
            "description_zh",
            "category",
            "material",
            "material_zh",
            "sku",
        ):
            object.__setattr__(self, name, _text(getattr(self, name), f"product {name}"))
        if not self.name.strip():
            raise ValueError(f"product {self.id} has no name")
        _count(self.price, f"price of product {self.id}")
        if not isinstance(self.currency, str) or not self.currency.isalpha():
            raise ValueError(f"currency of product {self.id} must be an ISO code")
        object.__setattr__(self, "currency", self.currency.upper())
        variants = tuple(self.variants)
        if len(variants) > MAX_VARIANTS_PER_PRODUCT:
            raise ValueError(f"product {self.id} has more than {MAX_VARIANTS_PER_PRODUCT} variants")
        if not all(isinstance(v, VariantDoc) for v in variants):
            raise ValueError(f"variants of product {self.id} must be VariantDoc")
        object.__setattr__(self, "variants", variants)

    @property
    def total_stock(self) -> int:
        return sum(v.stock for v in self.variants)

    @property
    def price_range(self) -> tuple[int, int]:
        """(lowest, highest) price a shopper pays: variants may override the product price."""
        prices = [self.price if v.price is None else v.price for v in self.variants]
        return (min(prices), max(prices)) if prices else (self.price, self.price)


@dataclass(frozen=True)
class PolicyDoc:
    """A merchant FAQ entry or policy (shipping, returns, payment, or anything else)."""

    id: str
    topic: str
    answer: str
    question: str = ""
    answer_zh: str = ""
    question_zh: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", str(self.id))
        for name in ("topic", "answer", "question", "answer_zh", "question_zh"):
            object.__setattr__(self, name, _text(getattr(self, name), f"policy {name}"))
        if not (self.answer.strip() or self.answer_zh.strip()):
            raise ValueError(f"policy {self.id} has no answer")


@dataclass(frozen=True)
class CatalogSnapshot:
    """One merchant's catalog and policies at one moment.

    `version` is the integrator's etag for the INDEXED text (names, descriptions, colours,
    sizes, policies): change it whenever one of those changes. Stock, prices and flash sales
    are not indexed and may change without it. Left empty, the engine hashes the text itself.
    """

    merchant_id: str
    products: tuple[ProductDoc, ...] = ()
    policies: tuple[PolicyDoc, ...] = ()
    version: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "merchant_id", str(self.merchant_id))
        products = tuple(self.products)
        policies = tuple(self.policies)
        if len(products) > MAX_PRODUCTS:
            raise ValueError(f"a snapshot holds at most {MAX_PRODUCTS} products")
        if len(policies) > MAX_POLICIES:
            raise ValueError(f"a snapshot holds at most {MAX_POLICIES} policies")
        if not all(isinstance(p, ProductDoc) for p in products):
            raise ValueError("products must be ProductDoc")
        if not all(isinstance(p, PolicyDoc) for p in policies):
            raise ValueError("policies must be PolicyDoc")
        if len({p.id for p in products}) != len(products):
            raise ValueError("product ids in a snapshot must be unique")
        object.__setattr__(self, "products", products)
        object.__setattr__(self, "policies", policies)

    @cached_property
    def products_by_id(self) -> dict[str, ProductDoc]:
        return {p.id: p for p in self.products}

    @cached_property
    def policies_by_id(self) -> dict[str, PolicyDoc]:
        return {p.id: p for p in self.policies}

    @cached_property
    def index_key(self) -> tuple[str, str]:
        """Cache key of the retrieval index: (merchant, version or hash of indexed text)."""
        if self.version:
            return (self.merchant_id, "v:" + self.version)
        digest = hashlib.blake2b(digest_size=16)
        for p in self.products:
            parts = [p.id, p.name, p.name_zh, p.category, p.sku, p.material, p.material_zh]
            parts += [p.description, p.description_zh]
            for v in p.variants:
                parts += [v.id, v.color, v.color_zh, v.size]
            digest.update("\x1f".join(parts).encode())
            digest.update(b"\x1e")
        for pol in self.policies:
            digest.update(
                "\x1f".join(
                    [pol.id, pol.topic, pol.question, pol.answer, pol.question_zh, pol.answer_zh]
                ).encode()
            )
            digest.update(b"\x1e")
        return (self.merchant_id, "h:" + digest.hexdigest())

    @classmethod
    def from_dicts(
        cls,
        merchant_id: str,
        products: Iterable[Mapping[str, Any]],
        policies: Iterable[Mapping[str, Any]] = (),
        *,
        currency: str = "USD",
        version: str = "",
    ) -> CatalogSnapshot:
        """Build a snapshot from plain dicts shaped like `commerce.demo_catalog` (product id
        defaults to the sku, variant id to `<product>/<n>`)."""
        docs = []
        for raw in products:
            pid = str(raw.get("id") or raw.get("sku") or "")
            if not pid:
                raise ValueError("a product needs an id or a sku")
            variants = tuple(
                VariantDoc(
                    id=str(v.get("id") or f"{pid}/{n}"),
                    color=v.get("color", ""),
                    color_zh=v.get("color_zh", ""),
                    size=v.get("size", ""),
                    stock=v.get("stock", 0),
                    price=v.get("price"),
                )
                for n, v in enumerate(raw.get("variants", ()))
            )
            docs.append(
                ProductDoc(
                    id=pid,
                    name=raw.get("name", ""),
                    name_zh=raw.get("name_zh", ""),
                    price=raw.get("price", 0),
                    currency=raw.get("currency", currency),
                    description=raw.get("description", ""),
                    description_zh=raw.get("description_zh", ""),
                    category=raw.get("category", ""),
                    material=raw.get("material", ""),
                    material_zh=raw.get("material_zh", ""),
                    sku=raw.get("sku", ""),
                    variants=variants,
                )
            )
        pols = tuple(
            PolicyDoc(
                id=str(raw.get("id") or raw.get("topic") or n),
                topic=raw.get("topic", ""),
                question=raw.get("question", ""),
                answer=raw.get("answer", ""),
                question_zh=raw.get("question_zh", ""),
                answer_zh=raw.get("answer_zh", ""),
            )
            for n, raw in enumerate(policies)
        )
        return cls(merchant_id=merchant_id, products=tuple(docs), policies=pols, version=version)


@dataclass(frozen=True)
class FlashSale:
    """A flash sale running in the room: `price` in minor units, `units_left` still for sale."""

    product_id: str
    price: int
    units_left: int
    ends_at: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "product_id", str(self.product_id))
        _count(self.price, "flash sale price")
        _count(self.units_left, "flash sale units_left")
        if self.ends_at is not None and self.ends_at.tzinfo is None:
            raise ValueError("flash sale ends_at must be timezone-aware")


@dataclass(frozen=True)
class RoomContext:
    """The room the question came from. Flash sales live here, not on the product, because
    they are started per room (`flash_sale.start`). `lineup` is in the host's order: "3号链接"
    means `lineup[2]`. `timezone` is an IANA name used to show flash-sale end times."""

    pinned_product_id: str | None = None
    lineup: tuple[str, ...] = ()
    flash_sales: tuple[FlashSale, ...] = ()
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if self.pinned_product_id is not None:
            object.__setattr__(self, "pinned_product_id", str(self.pinned_product_id))
        object.__setattr__(self, "lineup", tuple(str(x) for x in self.lineup)[:200])
        object.__setattr__(self, "flash_sales", tuple(self.flash_sales))

    def flash_sale_for(self, product_id: str, now: datetime) -> FlashSale | None:
        for sale in self.flash_sales:
            if sale.product_id == product_id and (sale.ends_at is None or sale.ends_at > now):
                return sale
        return None
