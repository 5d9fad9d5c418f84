"""The `consult.state` frame: everything a (re)joining party needs to draw the call."""

from __future__ import annotations

from typing import Any

from liveshop.tenancy.models import Merchant

from . import selectors
from .api.serializers import ConsultDetailOut
from .models import Consult


def consult_snapshot(*, consult: Consult, party: str, user: Any) -> dict[str, Any]:
    from .services import product_public, user_public

    merchant = Merchant.objects.get(pk=consult.merchant_id)
    detail = dict(ConsultDetailOut(consult).data)
    pushed_ids = [p["product"]["id"] for p in detail.get("pushed", [])]
    products = selectors.products_brief(merchant=merchant, ids=pushed_ids)
    detail["pushed"] = [
        product_public(products[pid], merchant.currency, merchant.slug)
        for pid in dict.fromkeys(pushed_ids)
        if pid in products
    ]
    detail["shopper"] = user_public(consult.shopper)
    return {
        "type": "consult.state",
        "consult": detail,
        "you": {"party": party, "user": user_public(user)},
        "currency": merchant.currency,
    }
