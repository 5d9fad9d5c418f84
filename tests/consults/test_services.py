"""Consult services: asking and the queue, routing (language and skill first, then least
busy; lapsed offers back to the queue head for others; at most N per agent), accepting,
the call (chat, pushed products, the cart as a draft order attributed to the consult),
recording consent, ending and rating, the sweep, and join tokens."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils import timezone

from commerce import services as commerce
from commerce.models import Order, OrderStatus, Variant
from consults import selectors, services
from consults.models import (
    AgentProfile,
    AgentStatus,
    ConsentRecord,
    Consult,
    ConsultMessage,
    ConsultRecording,
    ConsultStatus,
    EndReason,
    Outcome,
    RecordingState,
)
from consults.tokens import join_token_burn, join_token_issue, join_token_read
from liveshop.errors import Conflict, DomainError, NotAllowed
from liveshop.tenancy.scope import tenant_scope
from tests.consults.conftest import actor_of, ask, go_online, reload, shopper_named
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db


# --- asking -----------------------------------------------------------------------------------


def test_asking_queues_the_request_and_offers_it_to_the_online_agent(
    merchant, shopper, online_agent, product, room
):
    requested = services.consult_request(
        merchant=merchant,
        shopper=shopper,
        topic="sizing",
        language="en",
        question="Does it run small?",
        room="launch",
        product=product.pk,
    )
    consult = reload(requested.consult)
    assert consult.status == ConsultStatus.OFFERED
    assert consult.offered_to_id == online_agent.pk
    assert consult.room_id == room.pk and consult.product_id == product.pk
    assert len(consult.public_id) == 22 and not consult.public_id.isdigit()
    # the shopper's question opens the chat; the shopper got a join token for this consult
    with tenant_scope(merchant.id):
        assert list(
            ConsultMessage.objects.filter(consult=consult).values_list("text", flat=True)
        ) == ["Does it run small?"]
    claim = join_token_read(
        requested.join.token, merchant_id=merchant.id, consult=consult.public_id
    )
    assert claim is not None and claim.party == "shopper" and claim.user_id == shopper.pk
    assert set(claim.grants) == {"publish", "subscribe"}


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"product": 999_999}, "product"),
        ({"product": "abc"}, "product"),
        ({"room": "no-such-room"}, "room"),
        ({"room": 5}, "room"),
        ({"language": "English!"}, "language"),
        ({"topic": "Not A Tag"}, "topic"),
        ({"question": "x" * 501}, "question"),
    ],
)
def test_bad_input_names_the_field_and_queues_nothing(merchant, shopper, online_agent, kw, field):
    with pytest.raises(ValidationError) as refused:
        ask(merchant, shopper, **kw)
    assert field in refused.value.message_dict
    with tenant_scope(merchant.id):
        assert not Consult.objects.filter(merchant=merchant).exists()


def test_another_merchants_product_is_unknown(merchant, other_merchant, shopper, online_agent):
    foreign = ProductFactory.create(merchant=other_merchant)
    with pytest.raises(ValidationError) as refused:
        ask(merchant, shopper, product=foreign.pk)
    assert refused.value.message_dict["product"] == ["Unknown product."]


def test_nobody_online_suggests_booking(merchant, shopper, agent):
    with pytest.raises(Conflict) as refused:
        ask(merchant, shopper)
    assert refused.value.code == "no_agent_online"
    # an agent who is away, or whose console went quiet, does not count
    go_online(agent, merchant)
    with tenant_scope(merchant.id):
        AgentProfile.objects.filter(user=agent).update(
            last_seen_at=timezone.now() - timedelta(minutes=5)
        )
    with pytest.raises(Conflict):
        ask(merchant, shopper)


def test_one_open_consult_per_shopper(merchant, shopper, online_agent):
    first = ask(merchant, shopper)
    with pytest.raises(Conflict) as refused:
        ask(merchant, shopper)
    assert refused.value.code == "consult_open"
    assert refused.value.extra["consult"] == first.public_id


def test_requests_are_rate_limited_per_shopper(merchant, shopper, online_agent, settings):
    settings.LIVESHOP_CONSULTS = {**settings.LIVESHOP_CONSULTS, "REQUEST_RATE": "2/min"}
    for _ in range(2):
        consult = ask(merchant, shopper)
        services.consult_cancel(merchant=merchant, shopper=shopper, consult=consult)
    with pytest.raises(DomainError) as refused:
        ask(merchant, shopper)
    assert refused.value.status == 429


# --- routing ----------------------------------------------------------------------------------


def test_language_first_then_skill_then_least_busy(merchant, agent, agent2, owner):
    go_online(agent, merchant, languages=["en"], skills=["sizing"], max_concurrent=3)
    go_online(agent2, merchant, languages=["zh-hans"], skills=["styling"], max_concurrent=3)
    go_online(owner, merchant, languages=["en"], skills=["styling"], max_concurrent=3)
    zh = ask(merchant, shopper_named("li"), language="zh-hans", topic="sizing")
    # agent2 is the only Chinese speaker: language beats the skill match
    assert reload(zh).offered_to_id == agent2.pk
    styling = ask(merchant, shopper_named("ann"), language="en", topic="styling")
    assert reload(styling).offered_to_id == owner.pk  # skill among English speakers
    sizing = ask(merchant, shopper_named("bo"), language="en", topic="sizing")
    assert reload(sizing).offered_to_id == agent.pk
    # no skill asked: the least busy English speaker (both hold one) → whoever waited longer
    general = ask(merchant, shopper_named("cy"), language="en")
    assert reload(general).offered_to_id == owner.pk


def test_a_language_nobody_present_speaks_goes_to_anyone(merchant, online_agent):
    consult = ask(merchant, shopper_named("dora"), language="de")
    assert reload(consult).offered_to_id == online_agent.pk


def test_busy_agents_still_queue_requests(merchant, shopper, agent):
    services.agent_presence_set(actor=actor_of(agent, merchant), status="busy")
    consult = ask(merchant, shopper)
    assert reload(consult).status == ConsultStatus.WAITING
    go_online(agent, merchant)
    assert reload(consult).offered_to_id == agent.pk


def test_a_busy_speaker_is_waited_for(merchant, agent, agent2):
    go_online(agent, merchant, languages=["en"])
    services.agent_presence_set(
        actor=actor_of(agent2, merchant), status="busy", languages=["zh-hans"]
    )
    consult = ask(merchant, shopper_named("mei"), language="zh-hans")
    # the Chinese speaker is present but busy: the request waits for them
    assert reload(consult).status == ConsultStatus.WAITING
    go_online(agent2, merchant)
    assert reload(consult).offered_to_id == agent2.pk


def test_an_agent_holds_at_most_max_concurrent(merchant, online_agent):
    first = ask(merchant, shopper_named("a1"))
    second = ask(merchant, shopper_named("a2"))
    assert reload(first).status == ConsultStatus.OFFERED
    assert reload(second).status == ConsultStatus.WAITING  # max_concurrent = 1
    services.consult_accept(actor=actor_of(online_agent, merchant))
    with pytest.raises(Conflict) as refused:
        services.consult_accept(actor=actor_of(online_agent, merchant), consult=second)
    assert refused.value.code == "at_capacity"
    go_online(online_agent, merchant, max_concurrent=2)
    assert reload(second).offered_to_id == online_agent.pk


def test_a_lapsed_offer_goes_back_to_the_queue_head_for_others(merchant, agent, agent2):
    go_online(agent, merchant)
    old = ask(merchant, shopper_named("old"))
    assert reload(old).offered_to_id == agent.pk
    # agent holds it (max 1); a newer request waits behind it
    go_online(agent2, merchant, max_concurrent=1)
    newer = ask(merchant, shopper_named("new"))
    assert reload(newer).offered_to_id == agent2.pk
    with tenant_scope(merchant.id):
        Consult.objects.filter(pk=old.pk).update(
            offer_expires_at=timezone.now() - timedelta(seconds=1)
        )
    services.agent_presence_set(actor=actor_of(agent2, merchant))  # keep consoles fresh
    services.consults_sweep()
    old = reload(old)
    assert old.passed_by == [agent.pk]
    # back at the head (its original queue time), and not offered to the agent who let it lapse
    with tenant_scope(merchant.id):
        assert selectors.queue_position(consult=old)["position"] == 1
    assert old.offered_to_id != agent.pk
    # agent2 frees up: the lapsed request is offered to them before anyone newer
    services.consult_accept(actor=actor_of(agent2, merchant), consult=newer)
    services.consult_end_by_staff(actor=actor_of(agent2, merchant), consult=reload(newer))
    assert reload(old).offered_to_id == agent2.pk


def test_going_away_hands_offers_back(merchant, agent, agent2):
    go_online(agent, merchant)
    consult = ask(merchant, shopper_named("zed"))
    assert reload(consult).offered_to_id == agent.pk
    go_online(agent2, merchant)
    services.agent_presence_set(actor=actor_of(agent, merchant), status="away")
    assert reload(consult).offered_to_id == agent2.pk


def test_booking_routes_to_the_booked_agent_first(merchant, agent, agent2):
    go_online(agent, merchant, languages=["en"])
    go_online(agent2, merchant, languages=["en"])
    start = _window(agent, merchant)
    shopper = shopper_named("booker")
    booking = services.booking_create(merchant=merchant, shopper=shopper, starts_at=start)
    assert booking.agent_id == agent.pk
    with tenant_scope(merchant.id):
        type(booking).objects.filter(pk=booking.pk).update(
            starts_at=timezone.now(), ends_at=timezone.now() + timedelta(minutes=20)
        )
        booking.refresh_from_db()
    # both free and equal; routing would pick the longest idle, but the booking decides
    services.agent_presence_set(actor=actor_of(agent, merchant))
    consult = services.booking_start(merchant=merchant, shopper=shopper, booking=booking).consult
    assert reload(consult).offered_to_id == agent.pk
    services.consult_accept(actor=actor_of(agent, merchant))
    with tenant_scope(merchant.id):
        booking.refresh_from_db()
    assert booking.status == "started"


# --- accepting ----------------------------------------------------------------------------------


def test_accept_next_takes_my_offer_and_sets_wait_time(merchant, shopper, online_agent):
    consult = ask(merchant, shopper)
    accepted = services.consult_accept(actor=actor_of(online_agent, merchant))
    consult = reload(consult)
    assert accepted.consult.pk == consult.pk
    assert consult.status == ConsultStatus.ACTIVE and consult.agent_id == online_agent.pk
    assert consult.wait_seconds is not None and consult.accepted_at is not None
    assert accepted.join.party == "agent"


def test_accept_a_chosen_request_and_not_one_offered_elsewhere(merchant, agent, agent2):
    go_online(agent, merchant, max_concurrent=2)
    first = ask(merchant, shopper_named("p1"))
    second = ask(merchant, shopper_named("p2"))
    assert reload(second).offered_to_id == agent.pk
    # agent2 (not online) picks `first` from the queue... it is offered to agent: refused
    with pytest.raises(Conflict) as refused:
        services.consult_accept(actor=actor_of(agent2, merchant), consult=first)
    assert refused.value.code == "offered_elsewhere"
    # the offer lapses: now anyone may take it
    with tenant_scope(merchant.id):
        Consult.objects.filter(pk=first.pk).update(offer_expires_at=timezone.now())
    services.consult_accept(actor=actor_of(agent2, merchant), consult=first)
    assert reload(first).agent_id == agent2.pk
    with pytest.raises(Conflict) as taken:
        services.consult_accept(actor=actor_of(agent, merchant), consult=first)
    assert taken.value.code == "already_taken"


def test_accept_next_with_an_empty_queue(merchant, online_agent):
    with pytest.raises(Conflict) as refused:
        services.consult_accept(actor=actor_of(online_agent, merchant))
    assert refused.value.code == "queue_empty"


def test_hosts_cannot_take_consults(merchant, host, shopper, online_agent):
    ask(merchant, shopper)
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.consult_accept(actor=actor_of(host, merchant))


# --- in the call ----------------------------------------------------------------------------------


@pytest.fixture
def call(merchant, shopper, online_agent, product, room):
    consult = ask(merchant, shopper, product=product.pk, room="launch")
    services.consult_accept(actor=actor_of(online_agent, merchant))
    return reload(consult)


def test_chat_from_both_parties_and_bad_input(call, shopper, online_agent, outsider):
    services.chat_post(consult=call, user=shopper, party="shopper", text="Hi!")
    services.chat_post(consult=call, user=online_agent, party="agent", text="Hello")
    with pytest.raises(DomainError) as long:
        services.chat_post(consult=call, user=shopper, party="shopper", text="x" * 1001)
    assert long.value.code == "text_too_long"
    with pytest.raises(ValidationError):
        services.chat_post(consult=call, user=shopper, party="shopper", text="   ")
    with pytest.raises(NotAllowed):
        services.chat_post(consult=call, user=outsider, party="shopper", text="let me in")
    with pytest.raises(NotAllowed):  # the shopper cannot speak as the agent
        services.chat_post(consult=call, user=shopper, party="agent", text="I am staff")
    with tenant_scope(call.merchant_id):
        texts = list(ConsultMessage.objects.filter(consult=call).values_list("text", flat=True))
    assert texts == ["Hi!", "Hello"]


def test_push_product_and_unknown_product(call, online_agent, shopper, product, other_merchant):
    pushed = services.product_push(consult=call, user=online_agent, product=product.pk)
    assert pushed.product_id == product.pk
    foreign = ProductFactory.create(merchant=other_merchant)
    for bad in (999_999, foreign.pk, None, "x"):
        with pytest.raises(ValidationError) as refused:
            services.product_push(consult=call, user=online_agent, product=bad)
        assert "product" in refused.value.message_dict
    with pytest.raises(NotAllowed):
        services.product_push(consult=call, user=shopper, product=product.pk)


def test_the_cart_is_a_draft_order_with_reserved_stock_attributed_to_the_consult(
    api, merchant, call, online_agent, shopper, product
):
    actor = actor_of(online_agent, merchant)
    order = services.cart_set(
        actor=actor, consult=call, lines=[{"product": product.pk, "quantity": 2}]
    )
    with tenant_scope(merchant.id):
        order = Order.objects.get(pk=order.pk)
        assert order.status == OrderStatus.DRAFT
        assert order.consult_id == call.pk and order.created_by_id == online_agent.pk
        assert order.shopper_id == shopper.pk and order.room_id == call.room_id
        assert Variant.objects.get(product=product).stock == 8  # reserved
    # editing replaces the lines; stock follows
    services.cart_set(actor=actor, consult=call, lines=[{"product": product.pk, "quantity": 1}])
    with tenant_scope(merchant.id):
        assert Variant.objects.get(product=product).stock == 9
    sent = services.cart_send(actor=actor, consult=call)
    assert sent.status == OrderStatus.PENDING_PAYMENT
    # the shopper sees it among their orders now, and pays it: the consult converted
    with tenant_scope(merchant.id):
        order = Order.objects.get(pk=order.pk)
    _pay(api, merchant, shopper, order)
    services.consult_end_by_staff(actor=actor, consult=call, notes="Sold one in M")
    call = reload(call)
    assert call.outcome == Outcome.ORDER and call.notes == "Sold one in M"


def test_cart_refusals(merchant, call, online_agent, agent2, product):
    actor = actor_of(online_agent, merchant)
    with pytest.raises(ValidationError):
        services.cart_set(actor=actor, consult=call, lines=[{"product": 999_999, "quantity": 1}])
    with pytest.raises(ValidationError):
        services.cart_set(actor=actor, consult=call, lines=[{"product": product.pk, "quantity": 0}])
    with pytest.raises(commerce.OutOfStock):
        services.cart_set(
            actor=actor, consult=call, lines=[{"product": product.pk, "quantity": 11}]
        )
    with pytest.raises(Conflict):
        services.cart_send(actor=actor, consult=call)  # nothing built yet
    with pytest.raises(Http404):  # not their consult
        services.cart_set(
            actor=actor_of(agent2, merchant),
            consult=call,
            lines=[{"product": product.pk, "quantity": 1}],
        )
    with tenant_scope(merchant.id):
        assert not Order.objects.filter(consult=call).exists()
        assert Variant.objects.get(product=product).stock == 10


def test_ending_gives_back_an_unsent_cart_and_records_times(merchant, call, online_agent, product):
    actor = actor_of(online_agent, merchant)
    services.cart_set(actor=actor, consult=call, lines=[{"product": product.pk, "quantity": 3}])
    services.consult_end_by_staff(actor=actor, consult=call)
    call = reload(call)
    assert call.status == ConsultStatus.ENDED and call.end_reason == EndReason.AGENT
    assert call.handle_seconds is not None and call.outcome == Outcome.NO_ORDER
    with tenant_scope(merchant.id):
        assert Order.objects.get(consult=call).status == OrderStatus.CANCELLED
        assert Variant.objects.get(product=product).stock == 10


def test_rating_once_after_the_end(merchant, call, shopper, online_agent, outsider):
    with pytest.raises(Conflict):
        services.consult_rate(merchant=merchant, shopper=shopper, consult=call, rating=5)
    services.consult_end_by_shopper(merchant=merchant, shopper=shopper, consult=call)
    for bad in (0, 6, "5", True, None):
        with pytest.raises(ValidationError):
            services.consult_rate(merchant=merchant, shopper=shopper, consult=call, rating=bad)
    with pytest.raises(Http404):
        services.consult_rate(merchant=merchant, shopper=outsider, consult=call, rating=1)
    services.consult_rate(
        merchant=merchant, shopper=shopper, consult=call, rating=4, comment="Helpful"
    )
    with pytest.raises(Conflict):
        services.consult_rate(merchant=merchant, shopper=shopper, consult=call, rating=1)
    call = reload(call)
    assert (call.rating, call.comment, call.end_reason) == (4, "Helpful", EndReason.SHOPPER)


def test_recording_needs_both_and_either_revocation_stops_it(call, shopper, online_agent):
    state = services.recording_consent_set(
        consult=call, user=shopper, party="shopper", granted=True
    )
    assert state["recording"] is False
    state = services.recording_consent_set(
        consult=call, user=online_agent, party="agent", granted=True
    )
    assert state["recording"] is True
    state = services.recording_consent_set(
        consult=call, user=shopper, party="shopper", granted=False
    )
    assert state["recording"] is False
    with tenant_scope(call.merchant_id):
        recordings = list(ConsultRecording.objects.filter(consult=call))
        consents = list(ConsentRecord.objects.filter(consult=call).values_list("party", "granted"))
    assert len(recordings) == 1 and recordings[0].state == RecordingState.STOPPED
    assert recordings[0].stopped_at >= recordings[0].started_at
    assert consents == [("shopper", True), ("agent", True), ("shopper", False)]
    with pytest.raises(ValidationError):
        services.recording_consent_set(consult=call, user=shopper, party="shopper", granted="yes")
    with pytest.raises(NotAllowed):
        services.recording_consent_set(consult=call, user=shopper, party="supervisor", granted=True)


def test_recordings_are_deleted_by_supervisors_only(
    merchant, call, shopper, online_agent, owner, settings, tmp_path
):
    settings.MEDIA_ROOT = str(tmp_path)
    services.recording_consent_set(consult=call, user=shopper, party="shopper", granted=True)
    services.recording_consent_set(consult=call, user=online_agent, party="agent", granted=True)
    with tenant_scope(merchant.id):
        recording = ConsultRecording.objects.get(consult=call)
        (tmp_path / "rec.webm").write_bytes(b"media")
        ConsultRecording.objects.filter(pk=recording.pk).update(storage_path="rec.webm")
        recording.refresh_from_db()
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.recording_delete(actor=actor_of(online_agent, merchant), recording=recording)
    with django_capture_on_commit():
        deleted = services.recording_delete(actor=actor_of(owner, merchant), recording=recording)
    assert deleted.state == RecordingState.DELETED and deleted.deleted_by_id == owner.pk
    assert not (tmp_path / "rec.webm").exists()


def django_capture_on_commit():  # run on_commit callbacks of the block (tests are in a transaction)
    from django.test import TestCase

    return TestCase.captureOnCommitCallbacks(execute=True)


def _pay(api, merchant, shopper, order):
    """Pay through the sandbox gateway: open the checkout, then deliver its signed webhook to
    the real endpoint (as the gateway's outbox does)."""
    from tests.commerce.conftest import event, http_headers, signed

    payment = commerce.payment_start(
        merchant=merchant, shopper=shopper, order=order, base_url="http://testserver/"
    ).payment
    body, headers = signed(event(payment.external_id, order.total))
    response = api().post(
        "/api/v1/payments/webhook/sandbox",
        body,
        content_type="application/json",
        **http_headers(headers),
    )
    assert response.status_code == 200, response.json()
    with tenant_scope(merchant.id):
        order.refresh_from_db()
    assert order.status == OrderStatus.PAID


# --- ending by the sweep ----------------------------------------------------------------------------


def test_sweep_ends_calls_a_party_left_and_queues_a_shopper_left(
    merchant, online_agent, agent2, settings
):
    go_online(agent2, merchant)
    call = ask(merchant, shopper_named("c1"))
    services.consult_accept(actor=actor_of(online_agent, merchant))
    waiting = ask(merchant, shopper_named("c2"))
    past = timezone.now() - timedelta(seconds=settings.LIVESHOP_CONSULTS["CALL_GRACE_S"] + 5)
    with tenant_scope(merchant.id):
        Consult.objects.filter(pk=call.pk).update(shopper_seen_at=past)
        Consult.objects.filter(pk=waiting.pk).update(shopper_seen_at=past)
    services.consults_sweep()
    assert reload(call).status == ConsultStatus.ENDED
    assert reload(call).end_reason == EndReason.DISCONNECTED
    assert reload(waiting).status == ConsultStatus.ABANDONED
    assert reload(waiting).end_reason == EndReason.LEFT_QUEUE


def test_sweep_takes_quiet_agents_offline(merchant, online_agent):
    consult = ask(merchant, shopper_named("q"))
    with tenant_scope(merchant.id):
        AgentProfile.objects.filter(user=online_agent).update(
            last_seen_at=timezone.now() - timedelta(minutes=2)
        )
    result = services.consults_sweep()
    assert result["agents_offline"] == 1
    with tenant_scope(merchant.id):
        assert AgentProfile.objects.get(user=online_agent).status == AgentStatus.OFFLINE
    assert reload(consult).status == ConsultStatus.WAITING


def test_the_console_heartbeat_keeps_an_agents_calls_alive(merchant, online_agent, settings):
    call = ask(merchant, shopper_named("h"))
    services.consult_accept(actor=actor_of(online_agent, merchant))
    past = timezone.now() - timedelta(seconds=settings.LIVESHOP_CONSULTS["CALL_GRACE_S"] + 5)
    with tenant_scope(merchant.id):
        Consult.objects.filter(pk=call.pk).update(
            agent_seen_at=past, shopper_seen_at=timezone.now()
        )
    services.agent_heartbeat(actor=actor_of(online_agent, merchant))
    services.consults_sweep()
    assert reload(call).status == ConsultStatus.ACTIVE


# --- bookings ------------------------------------------------------------------------------------


def _window(agent, merchant, hours_ahead=2):
    start = (timezone.now() + timedelta(hours=hours_ahead)).replace(
        minute=0, second=0, microsecond=0
    )
    services.availability_add(
        actor=actor_of(agent, merchant), starts_at=start, ends_at=start + timedelta(hours=2)
    )
    return start


def slot_starts(merchant):
    with tenant_scope(merchant.id):
        return [s["starts_at"] for s in selectors.booking_slots(merchant=merchant)]


def test_slots_bookings_and_no_double_booking(merchant, agent, shopper):
    start = _window(agent, merchant)
    slots = slot_starts(merchant)
    assert slots[:2] == [start, start + timedelta(minutes=20)]
    booking = services.booking_create(
        merchant=merchant, shopper=shopper, starts_at=start.isoformat(), topic="sizing"
    )
    assert booking.agent_id == agent.pk and booking.ends_at == start + timedelta(minutes=20)
    assert start not in slot_starts(merchant)
    with pytest.raises(Conflict) as taken:
        services.booking_create(merchant=merchant, shopper=shopper_named("late"), starts_at=start)
    assert taken.value.code == "slot_unavailable"
    for bad in ("tomorrow", "2030-01-01T10:00:00", start + timedelta(minutes=7)):
        with pytest.raises((ValidationError, Conflict)):
            services.booking_create(merchant=merchant, shopper=shopper, starts_at=bad)
    services.booking_cancel(merchant=merchant, shopper=shopper, booking=booking)
    assert start in slot_starts(merchant)


def test_availability_windows_are_checked(merchant, agent, host):
    now = timezone.now()
    actor = actor_of(agent, merchant)
    with pytest.raises(ValidationError):
        services.availability_add(
            actor=actor, starts_at=now + timedelta(hours=2), ends_at=now + timedelta(hours=1)
        )
    with pytest.raises(ValidationError):
        services.availability_add(actor=actor, starts_at=now, ends_at=now + timedelta(hours=13))
    with pytest.raises(ValidationError):
        services.availability_add(actor=actor, starts_at="soon", ends_at="later")
    _window(agent, merchant)
    with pytest.raises(ValidationError):  # overlapping
        _window(agent, merchant)
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.availability_add(
            actor=actor_of(host, merchant), starts_at=now, ends_at=now + timedelta(hours=1)
        )


def test_reminders_are_sent_once_before_the_slot(merchant, agent, shopper, settings):
    from consults.tasks import booking_reminders

    settings.LIVESHOP_CONSULTS = {**settings.LIVESHOP_CONSULTS, "REMINDER_LEAD_S": 3 * 3600}
    start = _window(agent, merchant)
    services.booking_create(merchant=merchant, shopper=shopper, starts_at=start)
    mail.outbox.clear()
    assert booking_reminders() == 1
    assert sorted(m.to[0] for m in mail.outbox) == sorted([shopper.email, agent.email])
    assert "video consult" in mail.outbox[0].subject
    assert booking_reminders() == 0  # marked: not again
    assert len(mail.outbox) == 2


def test_reminders_wait_until_the_lead_time(merchant, agent, shopper):
    from consults.tasks import booking_reminders

    start = _window(agent, merchant, hours_ahead=5)
    services.booking_create(merchant=merchant, shopper=shopper, starts_at=start)
    assert booking_reminders() == 0


# --- join tokens ---------------------------------------------------------------------------------


def test_tokens_name_one_consult_expire_and_work_once(merchant, other_merchant, settings):
    token = join_token_issue(merchant_id=merchant.id, consult="A" * 22, user_id=7, party="shopper")
    assert join_token_read(token.token, merchant_id=merchant.id, consult="B" * 22) is None
    assert join_token_read(token.token, merchant_id=other_merchant.id, consult="A" * 22) is None
    assert join_token_read(token.token + "x", merchant_id=merchant.id, consult="A" * 22) is None
    claim = join_token_read(token.token, merchant_id=merchant.id, consult="A" * 22)
    assert claim is not None
    assert join_token_burn(claim) is True
    assert join_token_burn(claim) is False  # reused
    assert token.expires_at - timezone.now() <= timedelta(seconds=120)
    settings.LIVESHOP_CONSULTS = {**settings.LIVESHOP_CONSULTS, "JOIN_TOKEN_TTL_S": 1}
    short = join_token_issue(merchant_id=merchant.id, consult="A" * 22, user_id=7, party="agent")
    time.sleep(2.1)
    assert join_token_read(short.token, merchant_id=merchant.id, consult="A" * 22) is None


def test_staff_join_tokens(merchant, call, online_agent, agent2, owner, shopper):
    agent_token = services.staff_join_token(actor=actor_of(online_agent, merchant), consult=call)
    assert agent_token.party == "agent"
    supervisor = services.staff_join_token(actor=actor_of(owner, merchant), consult=call)
    assert supervisor.party == "supervisor" and supervisor.grants == ("subscribe",)
    with pytest.raises(Conflict):  # another agent is not a party
        services.staff_join_token(actor=actor_of(agent2, merchant), consult=call)
    services.consult_end_by_staff(actor=actor_of(online_agent, merchant), consult=call)
    with pytest.raises(Conflict):
        services.shopper_join_token(merchant=merchant, shopper=shopper, consult=reload(call))


def test_queue_positions_and_waits():
    snapshot = {
        "order": ["a", "b", "c", "d"],
        "offered": ["a"],
        "capacity": 2,
        "free": 1,
        "handle_s": 200,
    }
    assert selectors.queue_entry("a", 1, snapshot) == {"position": 1, "eta_s": 10}  # connecting
    assert selectors.queue_entry("b", 2, snapshot) == {"position": 2, "eta_s": 10}  # a free seat
    assert selectors.queue_entry("c", 3, snapshot) == {"position": 3, "eta_s": 200}  # next round
    assert selectors.queue_entry("d", 4, snapshot) == {"position": 4, "eta_s": 200}  # same round
    # beyond the listed part of a long queue
    assert selectors.queue_entry("z", 8, snapshot)["eta_s"] == 600


def test_waiting_shoppers_see_their_position(merchant, online_agent):
    first = ask(merchant, shopper_named("w1"))
    second = ask(merchant, shopper_named("w2"))
    third = ask(merchant, shopper_named("w3"))
    with tenant_scope(merchant.id):
        positions = [selectors.queue_position(consult=reload(c)) for c in (first, second, third)]
    assert [p["position"] for p in positions] == [1, 2, 3]
    assert positions[0]["eta_s"] == 10  # offered to the agent
    assert positions[1]["eta_s"] == positions[2]["eta_s"] // 2 == 300  # default handle time
