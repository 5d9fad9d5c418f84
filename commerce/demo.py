"""`seed_demo`'s catalog: DEMO_CATALOG (demo_catalog.py) loaded per merchant, by SKU, adding
only what is missing."""

from __future__ import annotations

import re
from typing import Any

from liveshop.tenancy.scope import tenant_scope

from .demo_catalog import DEMO_CATALOG
from .models import Product, Variant

PRODUCT_KEYS = (
    "name",
    "name_zh",
    "category",
    "material",
    "material_zh",
    "price",
    "description",
    "description_zh",
)


def _variant_sku(product_sku: str, item: dict[str, Any]) -> str:
    parts = [product_sku, item.get("color", ""), item.get("size", "")]
    return re.sub(r"[^A-Z0-9]+", "-", "-".join(p for p in parts if p).upper()).strip("-")[:64]


def seed_catalog(seed: Any) -> None:
    for slug, products in DEMO_CATALOG.items():
        merchant = seed.merchants.get(slug)
        if merchant is None:
            continue
        added = 0
        with tenant_scope(merchant.id):
            existing = set(Product.objects.filter(merchant=merchant).values_list("sku", flat=True))
            for item in products:
                if item["sku"] in existing:
                    continue
                product = Product.objects.create(
                    merchant=merchant, sku=item["sku"], **{k: item[k] for k in PRODUCT_KEYS}
                )
                Variant.objects.bulk_create(
                    [
                        Variant(
                            merchant=merchant,
                            product=product,
                            sku=_variant_sku(item["sku"], v),
                            options={k: v[k] for k in ("color", "size") if v.get(k)},
                            options_zh={
                                k: v.get(f"{k}_zh") or v[k] for k in ("color", "size") if v.get(k)
                            },
                            stock=v["stock"],
                            position=i,
                        )
                        for i, v in enumerate(item["variants"])
                    ]
                )
                added += 1
        seed.log(f"catalog {slug}: {added} products added")
