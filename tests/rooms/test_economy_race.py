"""Races on Postgres (real threads, each with its own connection, as the app role with RLS
on): concurrent gifts cannot overdraw a wallet, one nonce charges once, a first use from
many tabs opens one wallet with one grant, and concurrent webhook deliveries of one top-up
credit it once."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from django.test import Client

from commerce.models import Payment
from commerce.payments.sandbox import sandbox_decide
from liveshop.errors import Conflict
from liveshop.tenancy.scope import tenant_scope
from rooms import economy
from rooms.models import Gift, LedgerEntry, Wallet
from tests.commerce.conftest import event
from tests.commerce.test_race import run_together
from tests.factories import MerchantFactory, RoomFactory, UserFactory
from tests.rooms.test_economy import BASE, invariant, post_webhook

pytestmark = [pytest.mark.pg, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _demo_coins(settings: Any) -> None:
    settings.LIVESHOP_DEMO_COINS = 100


@pytest.fixture
def shop() -> dict[str, Any]:
    merchant = MerchantFactory()
    host = UserFactory()
    room = RoomFactory(merchant=merchant, host=host, status="live")
    with tenant_scope(merchant.id):
        Gift.objects.create(merchant=merchant, code="star", name="Star", coins=10)
    return {"merchant": merchant, "room": room}


def outcome(result: Any) -> str:
    if isinstance(result, dict):
        return "replayed" if result["replayed"] else "sent"
    if isinstance(result, Conflict):
        return result.code
    return f"unexpected {type(result).__name__}: {result}"


def test_concurrent_gifts_cannot_overdraw(shop):
    merchant, room = shop["merchant"], shop["room"]
    sender = UserFactory()
    economy.wallet_get_or_create(merchant=merchant, user=sender)  # 100 coins

    def gift(i: int):
        return lambda: economy.gift_send(
            merchant=merchant, room=room, user=sender, gift_code="star", nonce=f"n{i}"
        )

    results = run_together([gift(i) for i in range(16)])
    counts = Counter(outcome(r) for r in results)
    assert counts == {"sent": 10, "insufficient_coins": 6}, counts
    with tenant_scope(merchant.id):
        assert Wallet.objects.get(user=sender).balance == 0
        assert LedgerEntry.objects.filter(kind="gift").count() == 10
    invariant(merchant)


def test_one_nonce_sent_from_many_tabs_charges_once(shop):
    merchant, room = shop["merchant"], shop["room"]
    sender = UserFactory()
    results = run_together(
        [
            lambda: economy.gift_send(
                merchant=merchant, room=room, user=sender, gift_code="star", nonce="dup"
            )
            for _ in range(8)
        ]
    )
    counts = Counter(outcome(r) for r in results)
    assert counts == {"sent": 1, "replayed": 7}, counts
    with tenant_scope(merchant.id):
        assert Wallet.objects.get(user=sender).balance == 90
        assert Wallet.objects.filter(user=sender).count() == 1
        assert LedgerEntry.objects.filter(kind="grant").count() == 1
    invariant(merchant)


def test_concurrent_webhooks_for_one_topup_credit_once(shop):
    merchant = shop["merchant"]
    buyer = UserFactory()
    started = economy.topup_start(merchant=merchant, user=buyer, coins=300, base_url=BASE)
    with tenant_scope(merchant.id):
        payment = Payment.objects.get(order_id=started.topup.order_id)
    sandbox_decide(payment_ref=payment.external_id, approve=True)
    payload = event(payment.external_id, started.topup.price, currency=merchant.currency)

    def deliver(webhook_id: str):
        return lambda: post_webhook(Client(), payload, webhook_id=webhook_id).status_code

    # The same webhook id twice and two distinct ids: all at once.
    results = run_together([deliver("msg_1"), deliver("msg_1"), deliver("msg_2"), deliver("msg_3")])
    assert all(r in (200, 400) for r in results), results
    with tenant_scope(merchant.id):
        assert Wallet.objects.get(user=buyer).balance == 400
        assert LedgerEntry.objects.filter(kind="topup").count() == 1
    invariant(merchant)
