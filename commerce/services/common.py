"""What the commerce services share: the acting party and its tenant scope."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from liveshop.tenancy.access import Actor
from liveshop.tenancy.models import Merchant
from liveshop.tenancy.scope import tenant_scope


def actor_scope(actor: Actor) -> AbstractContextManager[None]:
    # The same scope the request views open (merchant + acting user), so a service called
    # from a view nests for free instead of re-setting the transaction's tenant twice.
    return tenant_scope(actor.merchant.id, user_id=getattr(actor.user, "pk", None))


def shopper_scope(merchant: Merchant, shopper: Any) -> AbstractContextManager[None]:
    return tenant_scope(merchant.id, user_id=getattr(shopper, "pk", None))


@dataclass(frozen=True)
class Who:
    """Who caused an order transition: recorded with it."""

    kind: str  # shopper | staff | api_key | system | gateway:<name>
    user: Any = None
    label: str = ""

    @classmethod
    def of_actor(cls, actor: Actor) -> Who:
        if actor.api_key is not None:
            return cls("api_key", None, actor.label)
        return cls("staff", actor.user, actor.label)

    @classmethod
    def of_shopper(cls, shopper: Any) -> Who:
        return cls("shopper", shopper, str(getattr(shopper, "email", "")))


SYSTEM = Who("system", None, "reservation timer")


def stock_committed(merchant_id: int, levels: list[tuple[int, int]]) -> None:
    """After the current transaction commits, these variants have these many units: the
    sold-out gate learns it, and so do live rooms showing the products (`stock.changed`)."""
    if not levels:
        return
    from django.db import transaction

    from .. import stock_gate

    def committed() -> None:
        stock_gate.stock_observed(merchant_id, levels)
        from rooms.selling import stock_committed as room_stock_committed

        room_stock_committed(merchant_id, levels)

    transaction.on_commit(committed, robust=True)
