"""The room economy's services: gift catalog, wallets and the demo grant, gift.send (charged
once per nonce, never below zero), top-ups through the sandbox gateway (credited once under
webhook replays), refunds, leaderboard and totals, and the ledger invariant."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from commerce import services as commerce
from commerce.models import Order, Payment
from commerce.payments.sandbox import sandbox_decide, sandbox_deliver_one
from liveshop.errors import Conflict, DomainError
from liveshop.tenancy.scope import tenant_scope
from rooms import economy
from rooms.models import Gift, LedgerEntry, TopUp, Wallet
from tests.commerce.conftest import actor_for, event, http_headers, refused, signed
from tests.factories import RoomFactory, UserFactory

pytestmark = pytest.mark.django_db

WEBHOOK = "/api/v1/payments/webhook/sandbox"
BASE = "http://testserver/"


@pytest.fixture(autouse=True)
def _demo_coins(settings: Any) -> None:
    settings.LIVESHOP_DEMO_COINS = 100


@pytest.fixture
def published(monkeypatch: Any) -> list[tuple[Any, dict[str, Any]]]:
    calls: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(economy, "publish", lambda room, ev: calls.append((room, dict(ev))))
    return calls


@pytest.fixture
def gifts(merchant: Any) -> dict[str, Gift]:
    with tenant_scope(merchant.id):
        return {
            "rose": Gift.objects.create(merchant=merchant, code="rose", name="Rose", coins=1),
            "rocket": Gift.objects.create(
                merchant=merchant, code="rocket", name="Rocket", coins=40, animation="spin"
            ),
            "old": Gift.objects.create(
                merchant=merchant, code="old", name="Old", coins=2, is_active=False
            ),
        }


@pytest.fixture
def room(merchant: Any, host: Any) -> Any:
    return RoomFactory(merchant=merchant, host=host, slug="show", status="live")


def send(merchant, room, user, code="rose", count=1, nonce=None):
    return economy.gift_send(
        merchant=merchant,
        room=room,
        user=user,
        gift_code=code,
        count=count,
        nonce=uuid.uuid4().hex if nonce is None else nonce,
    )


def balance(merchant, user) -> int:
    with tenant_scope(merchant.id):
        wallet = Wallet.objects.filter(merchant=merchant, user=user).first()
        return wallet.balance if wallet else -1


def invariant(merchant) -> dict[str, int]:
    with tenant_scope(merchant.id):
        totals = economy.ledger_totals(merchant=merchant)
    assert totals["drift"] == 0, totals
    assert totals["balances"] + totals["spent"] == (
        totals["topups"] + totals["grants"] - totals["refunds"]
    ), totals
    return totals


def post_webhook(client, payload, webhook_id=None):
    body, headers = signed(payload, webhook_id=webhook_id)
    return client.post(WEBHOOK, body, content_type="application/json", **http_headers(headers))


def start_topup(merchant, user, coins=300, key=None):
    return economy.topup_start(
        merchant=merchant, user=user, coins=coins, base_url=BASE, client_key=key
    )


def payment_of(merchant, topup) -> Payment:
    with tenant_scope(merchant.id):
        return Payment.objects.filter(order_id=topup.order_id).order_by("-id").first()


def paid_topup(client, merchant, user, coins=300):
    started = start_topup(merchant, user, coins)
    payment = payment_of(merchant, started.topup)
    sandbox_decide(payment_ref=payment.external_id, approve=True)  # captured at the sandbox
    response = post_webhook(client, event(payment.external_id, started.topup.price))
    assert response.status_code == 200, response.content
    return started.topup


def topup_of(merchant, topup) -> TopUp:
    with tenant_scope(merchant.id):
        return TopUp.objects.get(pk=topup.pk)


class TestCatalog:
    def test_active_gifts_in_order_of_this_merchant_only(self, merchant, other_merchant, gifts):
        with tenant_scope(other_merchant.id):
            Gift.objects.create(merchant=other_merchant, code="boot", name="Boot", coins=3)
        catalog = economy.gift_catalog(merchant)
        assert [g["code"] for g in catalog] == ["rose", "rocket"]
        assert catalog[1] == {"code": "rocket", "name": "Rocket", "coins": 40, "animation": "spin"}

    def test_staff_manage_the_catalog(self, merchant, owner, host):
        actor = actor_for(owner, merchant, "owner")
        gift = economy.gift_create(
            actor=actor, data={"code": "star", "name": " Shooting  star ", "coins": 9}
        )
        assert gift.name == "Shooting star" and gift.animation == "float"
        with refused(ValidationError):
            economy.gift_create(actor=actor, data={"code": "star", "name": "Again", "coins": 1})
        updated = economy.gift_update(
            actor=actor, gift=gift, data={"coins": 12, "animation": "zoom"}
        )
        assert (updated.coins, updated.animation) == (12, "zoom")
        with refused(ValidationError):
            economy.gift_update(actor=actor, gift=gift, data={"code": "other"})
        with pytest.raises(PermissionDenied):
            economy.gift_create(
                actor=actor_for(host, merchant, "host"),
                data={"code": "x1", "name": "X", "coins": 1},
            )
        assert economy.gift_delete(actor=actor, gift=gift) is True
        with tenant_scope(merchant.id):
            assert not Gift.objects.filter(code="star").exists()

    @pytest.mark.parametrize(
        "data",
        [
            {"code": "Bad Code", "name": "x", "coins": 1},
            {"code": "ok", "name": "", "coins": 1},
            {"code": "ok", "name": "x", "coins": 0},
            {"code": "ok", "name": "x", "coins": True},
            {"code": "ok", "name": "x", "coins": 10**9},
            {"code": "ok", "name": "x", "coins": 1, "animation": "explode"},
            {"code": "ok", "name": "x", "coins": 1, "merchant": 2},
            {"name": "x", "coins": 1},
            ["not", "an", "object"],
        ],
    )
    def test_bad_gifts_are_refused(self, merchant, owner, data):
        with refused(ValidationError):
            economy.gift_create(actor=actor_for(owner, merchant, "owner"), data=data)

    def test_a_sent_gift_is_deactivated_not_deleted(self, merchant, owner, shopper, gifts, room):
        send(merchant, room, shopper, "rose")
        assert (
            economy.gift_delete(actor=actor_for(owner, merchant, "owner"), gift=gifts["rose"])
            is False
        )
        with tenant_scope(merchant.id):
            assert Gift.objects.get(pk=gifts["rose"].pk).is_active is False
        assert [g["code"] for g in economy.gift_catalog(merchant)] == ["rocket"]


class TestWallet:
    def test_a_new_wallet_gets_the_demo_grant_once(self, merchant, shopper):
        wallet = economy.wallet_get_or_create(merchant=merchant, user=shopper)
        again = economy.wallet_get_or_create(merchant=merchant, user=shopper)
        assert wallet.pk == again.pk and again.balance == 100
        with tenant_scope(merchant.id):
            entries = list(LedgerEntry.objects.filter(wallet=wallet))
        assert [(e.kind, e.amount, e.balance_after) for e in entries] == [("grant", 100, 100)]
        invariant(merchant)

    def test_no_grant_when_demo_coins_are_off(self, merchant, shopper, settings):
        settings.LIVESHOP_DEMO_COINS = 0
        wallet = economy.wallet_get_or_create(merchant=merchant, user=shopper)
        assert wallet.balance == 0
        with tenant_scope(merchant.id):
            assert not LedgerEntry.objects.filter(wallet=wallet).exists()

    def test_wallets_are_per_merchant(self, merchant, other_merchant, shopper, gifts, room):
        send(merchant, room, shopper, "rocket")
        economy.wallet_get_or_create(merchant=other_merchant, user=shopper)
        assert balance(merchant, shopper) == 60
        assert balance(other_merchant, shopper) == 100

    def test_the_database_refuses_a_negative_balance(self, merchant, shopper):
        wallet = economy.wallet_get_or_create(merchant=merchant, user=shopper)
        with pytest.raises(IntegrityError), transaction.atomic(), tenant_scope(merchant.id):
            Wallet.objects.filter(pk=wallet.pk).update(balance=-1)

    def test_anonymous_has_no_wallet(self, merchant):
        from django.contrib.auth.models import AnonymousUser

        with pytest.raises(DomainError) as info:
            economy.wallet_get_or_create(merchant=merchant, user=AnonymousUser())
        assert info.value.code == "auth_required"


class TestGiftSend:
    def test_charges_records_and_publishes(self, merchant, shopper, gifts, room, published):
        result = send(merchant, room, shopper, "rocket", count=2, nonce="n-1")
        assert result == {
            "gift": {"code": "rocket", "name": "Rocket", "coins": 40, "animation": "spin"},
            "count": 2,
            "coins": 80,
            "balance": 20,
            "nonce": "n-1",
            "replayed": False,
        }
        assert balance(merchant, shopper) == 20
        assert published == [
            (
                room,
                {
                    "type": "gift",
                    "user": {"id": shopper.pk, "name": "Sam Shopper"},
                    "gift": {"code": "rocket", "name": "Rocket", "coins": 40, "animation": "spin"},
                    "count": 2,
                    "nonce": "n-1",
                },
            )
        ]
        from rooms.protocol import event_problems

        assert event_problems({**published[0][1], "seq": 1, "ts": 1}) == []
        with tenant_scope(merchant.id):
            entry = LedgerEntry.objects.get(kind="gift")
        assert (entry.amount, entry.balance_after, entry.room_id, entry.count) == (
            -80,
            20,
            room.pk,
            2,
        )
        invariant(merchant)

    def test_a_replayed_nonce_charges_and_publishes_nothing(
        self, merchant, shopper, gifts, room, published
    ):
        first = send(merchant, room, shopper, "rocket", nonce="same")
        again = send(merchant, room, shopper, "rocket", nonce="same")
        other_gift_same_nonce = send(merchant, room, shopper, "rose", count=5, nonce="same")
        assert first["replayed"] is False
        assert again == {**first, "replayed": True}
        assert other_gift_same_nonce == {**first, "replayed": True}
        assert balance(merchant, shopper) == 60
        assert len(published) == 1
        # Another sender may use the same nonce.
        assert send(merchant, room, UserFactory(), "rose", nonce="same")["replayed"] is False

    def test_not_enough_coins_is_refused_and_changes_nothing(
        self, merchant, shopper, gifts, room, published
    ):
        send(merchant, room, shopper, "rocket", count=2)
        with refused(Conflict) as info:
            send(merchant, room, shopper, "rocket")
        assert info.value.code == "insufficient_coins"
        assert "top up" in info.value.message.lower()
        assert balance(merchant, shopper) == 20
        assert len(published) == 1
        # The refused nonce is free: once topped up, the same nonce goes through.
        invariant(merchant)

    @pytest.mark.parametrize("code", ["old", "nope", "", "x" * 41])
    def test_unknown_or_inactive_gifts(self, merchant, shopper, gifts, room, code):
        with refused(DomainError) as info:
            send(merchant, room, shopper, code)
        assert info.value.code == "unknown_gift"

    def test_a_foreign_merchants_gift_is_unknown(self, merchant, other_merchant, shopper, room):
        with tenant_scope(other_merchant.id):
            Gift.objects.create(merchant=other_merchant, code="boot", name="Boot", coins=1)
        with refused(DomainError) as info:
            send(merchant, room, shopper, "boot")
        assert info.value.code == "unknown_gift"

    @pytest.mark.parametrize(
        "count,nonce", [(0, "n"), (100, "n"), (True, "n"), ("2", "n"), (1, ""), (1, "x" * 65)]
    )
    def test_bad_input(self, merchant, shopper, gifts, room, count, nonce):
        with refused(DomainError) as info:
            send(merchant, room, shopper, "rose", count=count, nonce=nonce)
        assert info.value.code == "invalid"
        assert balance(merchant, shopper) == -1  # not even a wallet was opened

    def test_a_foreign_room_is_404_and_an_ended_room_refuses(
        self, merchant, other_merchant, shopper, gifts, room
    ):
        foreign = RoomFactory(merchant=other_merchant, host=UserFactory(), slug="show")
        with pytest.raises(Http404):
            send(merchant, foreign, shopper, "rose")
        ended = RoomFactory(merchant=merchant, host=room.host, slug="old-show", status="ended")
        with refused(Conflict) as info:
            send(merchant, ended, shopper, "rose")
        assert info.value.code == "room_ended"


class TestTopUps:
    def test_price_follows_the_currency(self, settings):
        settings.LIVESHOP_COINS_PER_UNIT = 10
        assert economy.topup_price(60, "USD") == 600
        assert economy.topup_price(60, "JPY") == 6
        assert economy.topup_price(5, "JPY") == 1  # rounded up

    def test_start_opens_an_order_and_a_sandbox_checkout(self, merchant, shopper):
        started = start_topup(merchant, shopper, 300)
        topup = started.topup
        assert started.pay_url.startswith(BASE + "sandbox/pay/sbx_pay_")
        with tenant_scope(merchant.id):
            order = Order.objects.get(pk=topup.order_id)
        assert (order.total, order.status, order.shopper_id) == (
            3000,
            "pending_payment",
            shopper.pk,
        )
        assert (topup.coins, topup.price, topup.status) == (300, 3000, "pending")
        charge = sandbox_decide  # the sandbox's own record returns to the wallet page
        from commerce.models import SandboxCharge

        charge = SandboxCharge.objects.get(payment_ref=payment_of(merchant, topup).external_id)
        assert charge.return_url == f"{BASE}s/acme/wallet/?topup={topup.pk}"
        assert charge.description == "300 coins"
        assert balance(merchant, shopper) == 100  # nothing credited before payment

    def test_paid_is_credited_exactly_once_under_replays(self, client, merchant, shopper):
        started = start_topup(merchant, shopper, 300)
        payment = payment_of(merchant, started.topup)
        payload = event(payment.external_id, started.topup.price)
        assert post_webhook(client, payload, webhook_id="msg_a").status_code == 200
        # The same webhook again: refused by commerce, changes nothing.
        again = post_webhook(client, payload, webhook_id="msg_a")
        assert again.status_code == 400
        # The gateway sending the success twice under new ids: captured once, credited once.
        assert post_webhook(client, payload, webhook_id="msg_b").status_code == 200
        assert balance(merchant, shopper) == 400
        topup = topup_of(merchant, started.topup)
        assert topup.status == "credited" and topup.credited_at is not None
        with tenant_scope(merchant.id):
            assert LedgerEntry.objects.filter(kind="topup").count() == 1
        invariant(merchant)

    def test_the_real_sandbox_flow(self, client, merchant, shopper):
        """Decide on the sandbox and deliver its outbox to the real webhook endpoint."""
        from django.utils import timezone

        from commerce.models import SandboxDelivery

        started = start_topup(merchant, shopper, 60)
        payment = payment_of(merchant, started.topup)
        sandbox_decide(payment_ref=payment.external_id, approve=True)
        delivery = SandboxDelivery.objects.get()

        def post(url, headers, body):
            response = client.post(
                url.replace("http://testserver", ""),
                body,
                content_type="application/json",
                **http_headers(headers),
            )
            return response.status_code, response.content.decode()

        assert sandbox_deliver_one(delivery.pk, post=post) is True
        assert balance(merchant, shopper) == 160
        # A late second attempt of the same event: a replay.
        SandboxDelivery.objects.update(delivered_at=None, next_attempt_at=timezone.now())
        assert sandbox_deliver_one(delivery.pk, post=post) is True
        assert balance(merchant, shopper) == 160

    def test_declined_credits_nothing(self, client, merchant, shopper):
        started = start_topup(merchant, shopper, 60)
        payment = payment_of(merchant, started.topup)
        post_webhook(client, event(payment.external_id, 600, "payment.failed"))
        assert balance(merchant, shopper) == 100
        assert topup_of(merchant, started.topup).status == "pending"

    def test_an_amount_mismatch_credits_nothing(self, client, merchant, shopper):
        started = start_topup(merchant, shopper, 60)
        payment = payment_of(merchant, started.topup)
        post_webhook(client, event(payment.external_id, 1))
        assert balance(merchant, shopper) == 100

    def test_expired_then_paid_late_is_still_credited(self, client, merchant, shopper):
        from datetime import timedelta

        from django.utils import timezone

        started = start_topup(merchant, shopper, 60)
        payment = payment_of(merchant, started.topup)
        sandbox_decide(payment_ref=payment.external_id, approve=True)  # decided, not voidable
        commerce.reservations_expire(now=timezone.now() + timedelta(hours=1))
        assert topup_of(merchant, started.topup).status == "expired"
        post_webhook(client, event(payment.external_id, 600))
        assert topup_of(merchant, started.topup).status == "credited"
        assert balance(merchant, shopper) == 160

    def test_idempotency_key(self, merchant, shopper):
        first = start_topup(merchant, shopper, 60, key="k-1")
        again = start_topup(merchant, shopper, 60, key="k-1")
        assert again.replayed and again.topup.pk == first.topup.pk
        assert again.pay_url == first.pay_url
        with refused(DomainError) as info:
            start_topup(merchant, shopper, 300, key="k-1")
        assert info.value.status == 422

    @pytest.mark.parametrize("coins", [0, 9, 100_001, "60", None, True, 1.5])
    def test_bad_amounts(self, merchant, shopper, coins):
        with refused(ValidationError):
            start_topup(merchant, shopper, coins)

    def test_at_most_five_waiting(self, merchant, shopper):
        for _ in range(economy.MAX_PENDING_TOPUPS):
            start_topup(merchant, shopper, 60)
        with refused(Conflict) as info:
            start_topup(merchant, shopper, 60)
        assert info.value.code == "too_many_topups"


class TestRefunds:
    def test_staff_refund_takes_the_coins_back(self, client, merchant, owner, shopper):
        topup = paid_topup(client, merchant, shopper, 300)
        refunded = economy.topup_refund(actor=actor_for(owner, merchant, "owner"), topup=topup)
        assert refunded.status == "refunded"
        assert balance(merchant, shopper) == 100
        with tenant_scope(merchant.id):
            assert Order.objects.get(pk=topup.order_id).status == "refunded"
            entry = LedgerEntry.objects.get(kind="refund")
        assert (entry.amount, entry.balance_after) == (-300, 100)
        invariant(merchant)
        with refused(Conflict) as info:
            economy.topup_refund(actor=actor_for(owner, merchant, "owner"), topup=topup)
        assert info.value.code == "not_refundable"

    def test_spent_coins_refuse_unless_forced(self, client, merchant, owner, shopper, gifts, room):
        topup = paid_topup(client, merchant, shopper, 60)  # balance 160
        send(merchant, room, shopper, "rocket", count=3)  # 120 spent → 40 left
        actor = actor_for(owner, merchant, "owner")
        with refused(Conflict) as info:
            economy.topup_refund(actor=actor, topup=topup)
        assert info.value.code == "coins_spent"
        assert topup_of(merchant, topup).status == "credited"
        assert balance(merchant, shopper) == 40
        economy.topup_refund(actor=actor, topup=topup, force=True)
        assert balance(merchant, shopper) == 0
        invariant(merchant)

    def test_only_order_managers_refund(self, client, merchant, host, agent, shopper):
        topup = paid_topup(client, merchant, shopper, 60)
        for user, role in ((host, "host"), (agent, "agent")):
            with pytest.raises(PermissionDenied):
                economy.topup_refund(actor=actor_for(user, merchant, role), topup=topup)
        assert balance(merchant, shopper) == 160

    def test_a_refund_at_the_gateway_takes_back_what_is_left(
        self, client, merchant, shopper, gifts, room
    ):
        topup = paid_topup(client, merchant, shopper, 60)
        send(merchant, room, shopper, "rocket", count=3)  # 40 left
        payment = payment_of(merchant, topup)
        response = post_webhook(client, event(payment.external_id, 600, "payment.refunded"))
        assert response.status_code == 200
        assert balance(merchant, shopper) == 0
        assert topup_of(merchant, topup).status == "refunded"
        invariant(merchant)

    def test_a_plain_order_refund_is_not_a_topup(self, client, merchant, owner, shopper, product):
        order = commerce.order_place(
            merchant=merchant,
            shopper=shopper,
            lines=[{"product": product.pk, "quantity": 1}],
            idempotency_key="plain",
        ).order
        payment = commerce.payment_start(
            merchant=merchant, shopper=shopper, order=order, base_url=BASE
        ).payment
        sandbox_decide(payment_ref=payment.external_id, approve=True)
        post_webhook(client, event(payment.external_id, 1900))
        commerce.order_refund(actor=actor_for(owner, merchant, "owner"), order=order)
        with tenant_scope(merchant.id):
            assert not TopUp.objects.exists() and not Wallet.objects.exists()


class TestLeaderboardAndTotals:
    def test_top_gifters_and_room_totals(self, merchant, gifts, room):
        alice, bob, carol = (UserFactory(display_name=n) for n in ("Alice", "Bob", "Carol"))
        send(merchant, room, alice, "rocket")  # 40
        send(merchant, room, bob, "rose", count=5)  # 5
        send(merchant, room, bob, "rocket")  # 45
        send(merchant, room, carol, "rose")  # 1
        other_room = RoomFactory(merchant=merchant, host=room.host, slug="other", status="live")
        send(merchant, other_room, carol, "rocket", count=2)
        with tenant_scope(merchant.id):
            board = economy.leaderboard(merchant=merchant, room=room)
            totals = economy.gift_totals(merchant=merchant, room=room)
        assert [(r["user"]["name"], r["coins"]) for r in board] == [
            ("Bob", 45),
            ("Alice", 40),
            ("Carol", 1),
        ]
        assert (totals["gifts"], totals["coins"], totals["senders"]) == (8, 86, 3)
        assert [(g["code"], g["count"], g["coins"]) for g in totals["by_gift"]] == [
            ("rocket", 2, 80),
            ("rose", 6, 6),
        ]
        assert totals["top"] == board


class TestSeed:
    def test_every_merchant_gets_the_demo_gifts_once(self, merchant, other_merchant):
        from rooms.economy_demo import DEMO_GIFTS, seed_gifts

        class Seed:
            merchants = {"acme": merchant, "rivalco": other_merchant}
            log = staticmethod(lambda *_: None)

        seed_gifts(Seed())
        with tenant_scope(merchant.id):
            Gift.objects.filter(merchant=merchant, code="rose").update(coins=7)
        seed_gifts(Seed())
        for m in (merchant, other_merchant):
            with tenant_scope(m.id):
                codes = list(Gift.objects.filter(merchant=m).values_list("code", flat=True))
            assert sorted(codes) == sorted(code for code, *_ in DEMO_GIFTS)
        with tenant_scope(merchant.id):
            assert Gift.objects.get(merchant=merchant, code="rose").coins == 7  # untouched


# --- the ledger invariant under random operations ------------------------------------------

OPS = st.lists(
    st.one_of(
        st.tuples(
            st.just("gift"),
            st.integers(0, 3),
            st.sampled_from(["rose", "rocket"]),
            st.integers(1, 4),
            st.integers(0, 5),
        ),
        st.tuples(st.just("topup"), st.integers(0, 3), st.sampled_from([10, 60, 300])),
        st.tuples(st.just("refund"), st.integers(0, 6), st.booleans()),
    ),
    max_size=25,
)


@hsettings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=OPS)
def test_ledger_invariant_holds_under_any_sequence(client, merchant, owner, gifts, ops):
    """balances + spent = top-ups + grants − refunds, every wallet equals the sum of its
    entries and no balance is negative, whatever gifts, top-ups and refunds happen."""
    with transaction.atomic():
        users = [UserFactory() for _ in range(4)]
        room = RoomFactory(merchant=merchant, host=owner, status="live")
        topups: list[Any] = []
        actor = actor_for(owner, merchant, "owner")
        for op in ops:
            if op[0] == "gift":
                _, who, code, count, nonce = op
                try:
                    with transaction.atomic():
                        send(merchant, room, users[who], code, count, nonce=f"n{nonce}")
                except Conflict as exc:
                    assert exc.code == "insufficient_coins"
            elif op[0] == "topup":
                topups.append(paid_topup(client, merchant, users[op[1]], op[2]))
            elif topups:
                topup = topups[op[1] % len(topups)]
                try:
                    with transaction.atomic():
                        economy.topup_refund(actor=actor, topup=topup, force=op[2])
                except Conflict as exc:
                    assert exc.code in ("coins_spent", "not_refundable")
        totals = invariant(merchant)
        with tenant_scope(merchant.id):
            assert not Wallet.objects.filter(balance__lt=0).exists()
            assert totals["spent"] == -sum(
                LedgerEntry.objects.filter(kind="gift").values_list("amount", flat=True)
            )
        transaction.set_rollback(True)
