"""The cross-tenant sweep: walks the OpenAPI schema and calls every merchant endpoint, every
method, as staff of ANOTHER merchant (with the victim's slug and ids), and as the merchant's
own owner with ANOTHER merchant's ids. Only 404 is acceptable — never 200, 403 or 405.

New endpoints join automatically. An endpoint with a new kind of path parameter fails until
`MAKERS` learns how to create an object of that kind for a merchant.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator

from liveshop.tenancy import services
from liveshop.tenancy.access import access_merchant
from liveshop.tenancy.models import Membership, Merchant
from liveshop.tenancy.scope import tenant_scope
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

MERCHANT_PREFIX = "/api/v1/merchants/{m}"
METHODS = ("get", "post", "put", "patch", "delete")


def _actor(merchant: Merchant, owner: Any) -> Any:
    return access_merchant(principal=owner, slug=merchant.slug)


def _membership(merchant: Merchant, owner: Any, made: dict[str, Any]) -> str:
    return str(MembershipFactory(merchant=merchant, role="agent").pk)


def _invite(merchant: Merchant, owner: Any, made: dict[str, Any]) -> str:
    invite, _raw = services.invite_create(
        actor=_actor(merchant, owner), email=f"sweep-{merchant.slug}@example.test", role="agent"
    )
    return str(invite.pk)


def _api_key(merchant: Merchant, owner: Any, made: dict[str, Any]) -> str:
    return str(
        services.api_key_create(
            actor=_actor(merchant, owner), name="sweep", scopes=["products:read"]
        )[0].pk
    )


def _product(merchant: Merchant, owner: Any, made: dict[str, Any]) -> str:
    from commerce.services import product_create

    if "product" not in made:
        made["product"] = product_create(
            actor=_actor(merchant, owner), data={"name": "Sweep tee", "price": 1000}, stock=5
        )
    return str(made["product"].pk)


def _variant(merchant: Merchant, owner: Any, made: dict[str, Any]) -> str:
    _product(merchant, owner, made)
    with tenant_scope(merchant.id):
        return str(made["product"].variants.first().pk)


def _order(merchant: Merchant, owner: Any, made: dict[str, Any]) -> str:
    from commerce.services import order_place

    product_id = _product(merchant, owner, made)
    shopper = UserFactory.create(email=f"sweep-shopper@{merchant.slug}.test")
    result = order_place(
        merchant=merchant,
        shopper=shopper,
        lines=[{"product": int(product_id), "quantity": 1}],
        idempotency_key=f"sweep-{merchant.slug}",
    )
    return str(result.order.pk)


def _room_slug(merchant: Merchant, owner: Any, made: dict[str, Any]) -> str:
    from rooms.services import room_create

    if "room" not in made:
        made["room"] = room_create(
            actor=_actor(merchant, owner), data={"slug": f"sweep-{merchant.slug}", "title": "Sweep"}
        )
    return str(made["room"].slug)


def _question(merchant: Merchant, owner: Any, made: dict[str, Any]) -> str:
    from assistant.models import Handoff, Question

    if "question" not in made:
        _room_slug(merchant, owner, made)
        with tenant_scope(merchant.id):
            made["question"] = Question.objects.create(
                merchant=merchant,
                room=made["room"],
                seq=1,
                text="where is my order?",
                lang="en",
                status="unanswered",
                reason="order",
            )
            made["handoff"] = Handoff.objects.create(
                merchant=merchant,
                question=made["question"],
                room=made["room"],
                reason="order",
                lang="en",
            )
    return str(made["question"].pk)


def _handoff(merchant: Merchant, owner: Any, made: dict[str, Any]) -> str:
    _question(merchant, owner, made)
    return str(made["handoff"].pk)


def _faq(merchant: Merchant, owner: Any, made: dict[str, Any]) -> str:
    from assistant.services import faq_create

    return str(
        faq_create(
            actor=_actor(merchant, owner), data={"topic": "shipping", "answer": "We ship."}
        ).pk
    )


def _consult(merchant: Merchant, owner: Any, made: dict[str, Any]) -> str:
    from consults import services as consults

    if "consult" not in made:
        agent = MembershipFactory(merchant=merchant, role="agent").user
        agent_actor = access_merchant(principal=agent, slug=merchant.slug)
        consults.agent_presence_set(actor=agent_actor, status="online")
        shopper = UserFactory.create(email=f"sweep-asker@{merchant.slug}.test")
        consult = consults.consult_request(merchant=merchant, shopper=shopper).consult
        consults.consult_accept(actor=agent_actor, consult=consult)
        consults.recording_consent_set(consult=consult, user=shopper, party="shopper", granted=True)
        consults.recording_consent_set(consult=consult, user=agent, party="agent", granted=True)
        made["consult"] = consult
    return str(made["consult"].public_id)


def _recording(merchant: Merchant, owner: Any, made: dict[str, Any]) -> str:
    from consults.models import ConsultRecording

    _consult(merchant, owner, made)
    with tenant_scope(merchant.id):
        return str(ConsultRecording.objects.get(consult=made["consult"]).pk)


def _window(merchant: Merchant, owner: Any, made: dict[str, Any]) -> str:
    from datetime import timedelta

    from django.utils import timezone

    from consults.services import availability_add

    start = timezone.now() + timedelta(days=1)
    return str(
        availability_add(
            actor=_actor(merchant, owner), starts_at=start, ends_at=start + timedelta(hours=1)
        ).pk
    )


def _gift_code(merchant: Merchant, owner: Any, made: dict[str, Any]) -> str:
    from rooms.economy import gift_create

    return gift_create(
        actor=_actor(merchant, owner),
        data={"code": f"sweep-{merchant.slug}", "name": "Sweep", "coins": 5},
    ).code


def _topup(merchant: Merchant, owner: Any, made: dict[str, Any]) -> str:
    from commerce.models import Payment
    from commerce.payments.sandbox import sandbox_decide
    from commerce.services.orders import order_mark_paid
    from rooms.economy import topup_start

    shopper = UserFactory.create(email=f"sweep-coins@{merchant.slug}.test")
    topup = topup_start(
        merchant=merchant, user=shopper, coins=60, base_url="http://testserver/"
    ).topup
    with tenant_scope(merchant.id):
        payment = Payment.objects.get(order_id=topup.order_id)
        sandbox_decide(payment_ref=payment.external_id, approve=True)
        Payment.objects.filter(pk=payment.pk).update(status="succeeded")
        order_mark_paid(order=topup.order, gateway="sandbox")  # credited: refundable
    return str(topup.pk)


def _live_room(merchant: Merchant, owner: Any, made: dict[str, Any]) -> Any:
    from rooms.models import RoomStatus
    from rooms.services import room_go_live

    _room_slug(merchant, owner, made)
    if made["room"].status != RoomStatus.LIVE:
        made["room"] = room_go_live(actor=_actor(merchant, owner), room=made["room"])
    return made["room"]


def _stage_user(merchant: Merchant, owner: Any, made: dict[str, Any]) -> str:
    from media.stage import stage_invite

    room = _live_room(merchant, owner, made)
    guest = UserFactory.create(email=f"sweep-guest@{merchant.slug}.test")
    stage_invite(actor=_actor(merchant, owner), room=room, user_id=guest.pk)
    return str(guest.pk)


def _pk(merchant: Merchant, owner: Any, made: dict[str, Any]) -> str:
    """A PK between this merchant and a third one (a PK is visible to both of its sides only)."""
    from media.pk import pk_invite
    from rooms.models import RoomStatus
    from tests.factories import MerchantFactory, RoomFactory

    room = _live_room(merchant, owner, made)
    partner = MerchantFactory.create(slug=f"pk-{merchant.slug}")
    host = MembershipFactory.create(merchant=partner, role="owner").user
    RoomFactory.create(merchant=partner, host=host, slug="arena", status=RoomStatus.LIVE)
    battle = pk_invite(
        actor=_actor(merchant, owner),
        room=room,
        merchant_slug=partner.slug,
        room_slug="arena",
        duration_s=300,
    )
    return str(battle.pk)


# path parameter name → makes one object of that kind in a merchant, returns its URL value.
MAKERS: dict[str, Callable[[Merchant, Any, dict[str, Any]], str]] = {
    "membership_id": _membership,
    "invite_id": _invite,
    "key_id": _api_key,
    "product_id": _product,
    "variant_id": _variant,
    "order_id": _order,
    "slug": _room_slug,
    "question_id": _question,
    "handoff_id": _handoff,
    "faq_id": _faq,
    "consult_id": _consult,
    "recording_id": _recording,
    "window_id": _window,
    "gift_code": _gift_code,
    "topup_id": _topup,
    "user": _stage_user,
    "pk_id": _pk,
    "action": lambda merchant, owner, made: "end",
}


def merchant_operations() -> list[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    # Every method, not only the documented ones: an outsider gets 404 even where 405 is due.
    paths = [path for path in schema["paths"] if path.startswith(MERCHANT_PREFIX)]
    return [(path, method) for path in sorted(paths) for method in METHODS]


def params_of(path: str) -> list[str]:
    return [p for p in re.findall(r"{(\w+)}", path) if p != "m"]


def fill(path: str, slug: str, values: dict[str, str]) -> str:
    return re.sub(r"{(\w+)}", lambda m: slug if m.group(1) == "m" else values[m.group(1)], path)


@pytest.fixture
def two_tenants(db: Any) -> dict[str, Any]:
    from tests.factories import MerchantFactory

    cast: dict[str, Any] = {}
    for name in ("victim", "attacker"):
        merchant = MerchantFactory.create(slug=f"{name}-shop")
        owner = UserFactory.create(email=f"owner@{name}.test")
        with tenant_scope(merchant.id):
            Membership.objects.create(merchant=merchant, user=owner, role="owner")
        cast[name] = {"merchant": merchant, "owner": owner, "ids": {}}
    return cast


def test_the_sweep_covers_the_merchant_api():
    paths = {p for p, _m in merchant_operations()}
    assert len(paths) >= 8, paths  # the sweep would pass vacuously if the schema lost them


def tenant_rows(merchant: Merchant) -> dict[str, list[tuple[Any, ...]]]:
    """Every tenant row of a merchant, as values, to prove a sweep changed nothing."""
    from liveshop.tenancy.rls import tenant_models
    from liveshop.tenancy.scope import rls_bypass

    rows = {}
    with rls_bypass("test: cross-tenant sweep snapshot"):
        for model in tenant_models():
            fields = [
                f.attname for f in model._meta.concrete_fields if f.attname not in ("last_used_at",)
            ]
            rows[model._meta.label] = sorted(
                map(
                    repr,
                    model.objects.filter(merchant=merchant).order_by("pk").values_list(*fields),
                )
            )
    return rows


def test_every_merchant_endpoint_is_404_across_tenants(two_tenants, api):
    victim, attacker = two_tenants["victim"], two_tenants["attacker"]
    operations = merchant_operations()
    needed = sorted({p for path, _m in operations for p in params_of(path)})
    unknown = [p for p in needed if p not in MAKERS]
    assert not unknown, f"teach MAKERS how to create: {unknown}"
    for side in (victim, attacker):
        made: dict[str, Any] = {}
        for param in needed:
            side["ids"][param] = MAKERS[param](side["merchant"], side["owner"], made)

    outsider = api(attacker["owner"])
    insider_with_foreign_ids = api(victim["owner"])
    before = tenant_rows(victim["merchant"])
    failures = []
    for path, method in operations:
        # 1. staff of another merchant, the victim's slug and ids
        url = fill(path, victim["merchant"].slug, victim["ids"])
        response = getattr(outsider, method)(url, {}, format="json")
        if response.status_code != 404:
            failures.append(f"outsider {method.upper()} {url} → {response.status_code}")
        # 2. the victim's own owner, asking for the attacker's objects by id
        if params_of(path):
            url = fill(path, victim["merchant"].slug, attacker["ids"])
            response = getattr(insider_with_foreign_ids, method)(url, {}, format="json")
            if response.status_code not in (404, 405):
                failures.append(f"foreign ids {method.upper()} {url} → {response.status_code}")
    assert not failures, "\n".join(failures)
    assert tenant_rows(victim["merchant"]) == before, "a refused request changed the victim's data"


def test_staff_never_get_a_5xx_for_an_empty_body(two_tenants, api):
    owner = two_tenants["victim"]
    made: dict[str, Any] = {}
    ids = {p: MAKERS[p](owner["merchant"], owner["owner"], made) for p in sorted(MAKERS)}
    client = api(owner["owner"])
    for path, method in merchant_operations():
        if method == "delete":
            continue
        response = getattr(client, method)(
            fill(path, owner["merchant"].slug, ids), {}, format="json"
        )
        assert response.status_code < 500, (method, path, response.content[:200])


def test_schema_generates_without_warnings(capsys):
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")
