"""Commerce writes. Keyword-only, transactional, tenant-scoped; staff services take the
acting `Actor` and check the permission table, shopper services take merchant + shopper.

    from commerce import services
    services.product_create(actor=actor, data={"name": "Tee", "price": 1900}, stock=10)
    placed = services.order_place(merchant=m, shopper=u, lines=[{"product": 1, "quantity": 2}],
                                  idempotency_key="…")
"""

from .catalog import (
    product_create,
    product_delete,
    product_update,
    stock_adjust,
    variant_create,
    variant_update,
)
from .common import SYSTEM, Who
from .orders import (
    MAX_LINES,
    MAX_QUANTITY,
    TRANSITIONS,
    OutOfStock,
    PlaceResult,
    PurchaseLimitReached,
    address_clean,
    address_delete,
    address_save,
    idempotency_keys_purge,
    order_cancel,
    order_cancel_by_shopper,
    order_draft_abandon,
    order_draft_create,
    order_draft_send,
    order_draft_set_lines,
    order_fulfil,
    order_place,
    order_refund,
    reservations_expire,
)
from .payments import (
    PaymentStarted,
    WebhookOutcome,
    WebhookRejected,
    payment_start,
    payment_webhook_receive,
)

__all__ = [
    "MAX_LINES",
    "MAX_QUANTITY",
    "SYSTEM",
    "TRANSITIONS",
    "OutOfStock",
    "PaymentStarted",
    "PlaceResult",
    "PurchaseLimitReached",
    "WebhookOutcome",
    "WebhookRejected",
    "Who",
    "address_clean",
    "address_delete",
    "address_save",
    "idempotency_keys_purge",
    "order_cancel",
    "order_cancel_by_shopper",
    "order_draft_abandon",
    "order_draft_create",
    "order_draft_send",
    "order_draft_set_lines",
    "order_fulfil",
    "order_place",
    "order_refund",
    "payment_start",
    "payment_webhook_receive",
    "product_create",
    "product_delete",
    "product_update",
    "reservations_expire",
    "stock_adjust",
    "variant_create",
    "variant_update",
]
