"""Consult API: the shopper side and the merchant side, each with its cast — the shopper,
another shopper, the merchant's agent and owner, a host (wrong role), the outsider (staff of
another merchant: 404) and anonymous callers (401) — and bad input (error envelope)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from consults import services
from consults.models import Consult, ConsultStatus
from liveshop.tenancy import services as tenancy_services
from liveshop.tenancy.scope import tenant_scope
from tests.conftest import error_code
from tests.consults.conftest import actor_of, ask, reload, shopper_named

pytestmark = pytest.mark.django_db

S = "/api/v1/s/acme/consults"
M = "/api/v1/merchants/acme/consults"


def in_call(merchant, shopper, agent, **kw):
    consult = ask(merchant, shopper, **kw)
    services.consult_accept(actor=actor_of(agent, merchant))
    return reload(consult)


# --- shopper side ---------------------------------------------------------------------------------


class TestAsking:
    def test_ask_returns_the_consult_a_join_token_and_the_call_page(
        self, api, merchant, shopper, online_agent, product, room
    ):
        response = api(shopper).post(
            S,
            {"room": "launch", "product": product.pk, "topic": "sizing", "language": "en"},
            format="json",
        )
        assert response.status_code == 201, response.json()
        body = response.json()
        consult_id = body["consult"]["id"]
        assert len(consult_id) == 22
        assert body["consult"]["status"] == "offered"
        assert body["consult"]["room"] == "launch"
        assert body["consult"]["product"] == {"id": product.pk, "name": "Linen shirt"}
        assert body["consult"]["queue"] == {"position": 1, "eta_s": 10}
        assert body["join"]["party"] == "shopper"
        assert body["join"]["socket"] == f"/ws/consults/acme/{consult_id}/"
        assert body["call_url"] == f"/s/acme/consults/{consult_id}/"

    def test_anonymous_401_and_api_keys_403(self, api, merchant, owner, online_agent):
        assert api().post(S, {}, format="json").status_code == 401
        _key, raw = tenancy_services.api_key_create(
            actor=actor_of(owner, merchant), name="k", scopes=["consults:write"]
        )
        assert api(key=raw).post(S, {}, format="json").status_code == 403

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"product": 999_999}, "product"),
            ({"room": "nope"}, "room"),
            ({"language": "??"}, "language"),
            ({"question": "x" * 501}, "question"),
            ({"colour": "red"}, "colour"),
        ],
    )
    def test_bad_input_is_an_envelope_naming_the_field(
        self, api, merchant, shopper, online_agent, body, field
    ):
        response = api(shopper).post(S, body, format="json")
        assert response.status_code == 400
        assert error_code(response) == "invalid"
        assert field in response.json()["error"]["fields"]
        with tenant_scope(merchant.id):
            assert not Consult.objects.exists()

    def test_not_json_and_not_an_object(self, api, merchant, shopper, online_agent):
        assert api(shopper).post(S, "[1]", content_type="application/json").status_code == 400
        assert api(shopper).post(S, "{", content_type="application/json").status_code == 400

    def test_no_agent_online_409_says_whether_booking_is_possible(self, api, merchant, shopper):
        response = api(shopper).post(S, {}, format="json")
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "no_agent_online"
        assert response.json()["error"]["booking"] is False

    def test_second_request_names_the_open_one(self, api, merchant, shopper, online_agent):
        first = api(shopper).post(S, {}, format="json").json()["consult"]["id"]
        again = api(shopper).post(S, {}, format="json")
        assert again.status_code == 409
        assert again.json()["error"] == {
            "code": "consult_open",
            "message": again.json()["error"]["message"],
            "consult": first,
        }

    def test_unknown_merchant_404(self, api, shopper):
        assert api(shopper).post("/api/v1/s/nope/consults", {}, format="json").status_code == 404


class TestShopperConsult:
    @pytest.fixture
    def consult(self, merchant, shopper, online_agent):
        return ask(merchant, shopper)

    def test_only_its_shopper_sees_it(self, api, consult, shopper, outsider, agent):
        url = f"{S}/{consult.public_id}"
        assert api(shopper).get(url).status_code == 200
        for other in (shopper_named("eve"), outsider, agent):
            assert api(other).get(url).status_code == 404
            assert api(other).post(url + "/join").status_code == 404
            assert api(other).post(url + "/cancel").status_code == 404
        assert api().get(url).status_code == 401
        assert api(shopper).get(f"{S}/{'x' * 22}").status_code == 404

    def test_list_join_cancel(self, api, consult, shopper):
        listed = api(shopper).get(S).json()
        assert listed["count"] == 1 and listed["results"][0]["id"] == consult.public_id
        join = api(shopper).post(f"{S}/{consult.public_id}/join")
        assert join.status_code == 200 and join.json()["party"] == "shopper"
        cancelled = api(shopper).post(f"{S}/{consult.public_id}/cancel")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        again = api(shopper).post(f"{S}/{consult.public_id}/cancel")
        assert again.status_code == 409
        assert api(shopper).post(f"{S}/{consult.public_id}/join").status_code == 409

    def test_end_and_rate(self, api, merchant, shopper, online_agent, consult):
        services.consult_accept(actor=actor_of(online_agent, merchant))
        url = f"{S}/{consult.public_id}"
        assert api(shopper).post(url + "/rating", {"rating": 5}, format="json").status_code == 409
        ended = api(shopper).post(url + "/end")
        assert ended.status_code == 200 and ended.json()["status"] == "ended"
        for bad in ({"rating": 0}, {"rating": "5"}, {"rating": 3, "comment": "x" * 1001}, {}):
            response = api(shopper).post(url + "/rating", bad, format="json")
            assert response.status_code == 400, bad
        rated = api(shopper).post(url + "/rating", {"rating": 5, "comment": "Great"}, format="json")
        assert rated.status_code == 200
        assert (rated.json()["rating"], rated.json()["comment"]) == (5, "Great")
        assert api(shopper).post(url + "/rating", {"rating": 1}, format="json").status_code == 409

    def test_detail_carries_chat_pushed_cart_and_consent(
        self, api, merchant, shopper, online_agent, consult, product
    ):
        services.consult_accept(actor=actor_of(online_agent, merchant))
        consult = reload(consult)
        services.chat_post(consult=consult, user=online_agent, party="agent", text="Hi there")
        services.product_push(consult=consult, user=online_agent, product=product.pk)
        services.cart_set(
            actor=actor_of(online_agent, merchant),
            consult=consult,
            lines=[{"product": product.pk, "quantity": 1}],
        )
        body = api(shopper).get(f"{S}/{consult.public_id}").json()
        assert [m["text"] for m in body["messages"]] == ["Hi there"]
        assert body["pushed"][0]["product"]["id"] == product.pk
        assert body["cart"]["status"] == "draft" and body["cart"]["total"] == 4500
        assert body["consent"] == {"shopper": None, "agent": None, "recording": False}
        assert body["agent"]["id"] == online_agent.pk


class TestOptionsAndBookings:
    def test_options_for_anonymous_and_signed_in(self, api, merchant, shopper, online_agent):
        anonymous = api().get(f"{S}/options")
        assert anonymous.status_code == 200
        assert anonymous.json()["agents_online"] == 1 and anonymous.json()["signed_in"] is False
        assert anonymous.json()["accepting"] is True
        consult = ask(merchant, shopper)
        mine = api(shopper).get(f"{S}/options").json()
        assert mine["open_consult"] == consult.public_id and mine["signed_in"] is True

    def test_slots_book_cancel_and_start(self, api, merchant, agent, shopper):
        start = (timezone.now() + timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
        services.availability_add(
            actor=actor_of(agent, merchant), starts_at=start, ends_at=start + timedelta(hours=1)
        )
        slots = api().get(f"{S}/slots?days=2")
        assert slots.status_code == 200 and slots.json()["count"] == 3
        assert api().get(f"{S}/slots?days=99").status_code == 400
        assert api().get(f"{S}/slots?language=!!").status_code == 400
        first = slots.json()["results"][0]
        assert api().post(f"{S}/bookings", {}, format="json").status_code == 401
        booked = api(shopper).post(
            f"{S}/bookings", {"starts_at": first["starts_at"], "topic": "sizing"}, format="json"
        )
        assert booked.status_code == 201, booked.json()
        booking_id = booked.json()["id"]
        assert booked.json()["agent"]["id"] == agent.pk
        taken = api(shopper_named("late")).post(
            f"{S}/bookings", {"starts_at": first["starts_at"]}, format="json"
        )
        assert taken.status_code == 409
        assert api(shopper).get(f"{S}/bookings").json()["count"] == 1
        # too early to start; another shopper cannot touch it
        assert api(shopper).post(f"{S}/bookings/{booking_id}/start").status_code == 409
        assert (
            api(shopper_named("eve")).post(f"{S}/bookings/{booking_id}/cancel").status_code == 404
        )
        cancelled = api(shopper).post(f"{S}/bookings/{booking_id}/cancel")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        assert (
            api(shopper).post(f"{S}/bookings", {"starts_at": "soon"}, format="json").status_code
            == 400
        )


# --- merchant side --------------------------------------------------------------------------------


class TestMerchantAccess:
    @pytest.mark.parametrize("path", ["", "/queue", "/analytics", "/availability", "/bookings"])
    def test_outsider_404_anonymous_401(self, api, merchant, outsider, path):
        assert api(outsider).get(M + path).status_code == 404
        assert api().get(M + path).status_code == 401

    def test_hosts_are_refused(self, api, merchant, host):
        for path in ("/queue", "/analytics", "/availability"):
            assert api(host).get(M + path).status_code == 403, path
        assert (
            api(host).post(M + "/presence", {"status": "online"}, format="json").status_code == 403
        )
        assert api(host).post(M + "/accept", {}, format="json").status_code == 403

    def test_api_keys_read_but_do_not_take_consults(
        self, api, merchant, owner, shopper, online_agent
    ):
        ask(merchant, shopper)
        _key, read = tenancy_services.api_key_create(
            actor=actor_of(owner, merchant), name="r", scopes=["consults:read"]
        )
        assert api(key=read).get(M).json()["count"] == 1
        _key, other = tenancy_services.api_key_create(
            actor=actor_of(owner, merchant), name="p", scopes=["products:read"]
        )
        assert api(key=other).get(M).status_code == 403
        _key, write = tenancy_services.api_key_create(
            actor=actor_of(owner, merchant), name="w", scopes=["consults:write"]
        )
        refused = api(key=write).post(M + "/accept", {}, format="json")
        assert refused.status_code == 403 and error_code(refused) == "person_required"


class TestConsole:
    def test_presence_and_bad_presence(self, api, merchant, agent):
        response = api(agent).post(
            M + "/presence",
            {
                "status": "online",
                "languages": ["en", "zh-hans"],
                "skills": ["sizing"],
                "max_concurrent": 2,
            },
            format="json",
        )
        assert response.status_code == 200
        assert response.json()["status"] == "online"
        assert response.json()["languages"] == ["en", "zh-hans"]
        for bad in (
            {"status": "asleep"},
            {"max_concurrent": 0},
            {"max_concurrent": 11},
            {"languages": "en"},
            {"skills": ["Not A Tag"]},
            {"mood": "happy"},
        ):
            assert api(agent).post(M + "/presence", bad, format="json").status_code == 400, bad

    def test_the_queue_shows_context(self, api, merchant, shopper, online_agent, product, room):
        from commerce import services as commerce

        commerce.order_place(
            merchant=merchant,
            shopper=shopper,
            lines=[{"product": product.pk, "quantity": 1}],
            idempotency_key="past-1",
        )
        ask(merchant, shopper, room="launch", product=product.pk, question="Size?")
        feed = api(online_agent).get(M + "/queue").json()
        assert feed["presence"]["status"] == "online"
        assert len(feed["queue"]) == 1 and len(feed["offers"]) == 1
        item = feed["queue"][0]
        assert item["shopper"]["email"] == shopper.email
        context = item["shopper_context"]
        assert context["room"] == "launch" and context["product"]["id"] == product.pk
        assert context["orders_count"] == 1 and len(context["past_orders"]) == 1
        assert item["question"] == "Size?"

    def test_accept_next_chosen_and_refusals(self, api, merchant, online_agent, agent2):
        assert error_code(api(online_agent).post(M + "/accept", {}, format="json")) == "queue_empty"
        one = ask(merchant, shopper_named("one"))
        accepted = api(online_agent).post(M + "/accept", {}, format="json")
        assert accepted.status_code == 200
        assert accepted.json()["consult"]["id"] == one.public_id
        assert accepted.json()["join"]["party"] == "agent"
        two = ask(merchant, shopper_named("two"))
        # agent holds one (max 1): refused; agent2 takes it by id
        full = api(online_agent).post(M + "/accept", {"consult": two.public_id}, format="json")
        assert full.status_code == 409 and error_code(full) == "at_capacity"
        took = api(agent2).post(M + "/accept", {"consult": two.public_id}, format="json")
        assert took.status_code == 200
        assert (
            api(agent2).post(M + "/accept", {"consult": "x" * 22}, format="json").status_code == 404
        )
        assert api(agent2).post(M + "/accept", {"consult": 5}, format="json").status_code == 400
        # agent2 cannot see or touch agent's call
        assert api(agent2).get(f"{M}/{one.public_id}").status_code == 404
        assert api(agent2).post(f"{M}/{one.public_id}/join").status_code == 404


class TestTheCall:
    @pytest.fixture
    def consult(self, merchant, shopper, online_agent, product, room):
        return in_call(merchant, shopper, online_agent, room="launch", product=product.pk)

    def test_join_tokens_for_agent_and_supervisor(self, api, consult, online_agent, owner, admin):
        agent_join = api(online_agent).post(f"{M}/{consult.public_id}/join")
        assert agent_join.status_code == 200 and agent_join.json()["party"] == "agent"
        for supervisor in (owner, admin):
            join = api(supervisor).post(f"{M}/{consult.public_id}/join")
            assert join.json()["party"] == "supervisor" and join.json()["grants"] == ["subscribe"]

    def test_push_cart_send_end_notes(self, api, merchant, consult, online_agent, product, shopper):
        base = f"{M}/{consult.public_id}"
        pushed = api(online_agent).post(base + "/products", {"product": product.pk}, format="json")
        assert pushed.status_code == 201
        unknown = api(online_agent).post(base + "/products", {"product": 999_999}, format="json")
        assert unknown.status_code == 400 and "product" in unknown.json()["error"]["fields"]
        cart = api(online_agent).put(
            base + "/cart", {"lines": [{"product": product.pk, "quantity": 2}]}, format="json"
        )
        assert cart.status_code == 200 and cart.json()["status"] == "draft"
        assert cart.json()["total"] == 9000
        too_many = api(online_agent).put(
            base + "/cart", {"lines": [{"product": product.pk, "quantity": 50}]}, format="json"
        )
        assert too_many.status_code == 409 and error_code(too_many) == "out_of_stock"
        bad = api(online_agent).put(base + "/cart", {"lines": "all"}, format="json")
        assert bad.status_code == 400
        sent = api(online_agent).post(base + "/cart/send", {}, format="json")
        assert sent.status_code == 200 and sent.json()["status"] == "pending_payment"
        # the order shows its attribution in the merchant API
        order_id = sent.json()["id"]
        order = api(online_agent).get(f"/api/v1/merchants/acme/orders/{order_id}").json()
        assert order["consult"] == consult.public_id and order["created_by"] == online_agent.pk
        # the shopper sees it as an order to pay
        assert api(shopper).get(f"/api/v1/s/acme/orders/{order_id}").status_code == 200
        ended = api(online_agent).post(base + "/end", {"notes": "Wants the M"}, format="json")
        assert ended.status_code == 200
        assert ended.json()["status"] == "ended" and ended.json()["notes"] == "Wants the M"
        noted = api(online_agent).patch(base, {"notes": "Follow up Friday"}, format="json")
        assert noted.status_code == 200 and noted.json()["notes"] == "Follow up Friday"
        assert api(online_agent).post(base + "/end", {}, format="json").status_code == 409

    def test_other_agents_and_hosts_cannot_act(self, api, consult, agent2, host, product):
        base = f"{M}/{consult.public_id}"
        assert (
            api(agent2).post(base + "/products", {"product": product.pk}, format="json").status_code
            == 404
        )
        assert api(host).post(base + "/end", {}, format="json").status_code == 403
        assert api(host).get(base).status_code == 403

    def test_recordings_by_role(self, api, merchant, consult, shopper, online_agent, owner):
        services.recording_consent_set(consult=consult, user=shopper, party="shopper", granted=True)
        services.recording_consent_set(
            consult=consult, user=online_agent, party="agent", granted=True
        )
        base = f"{M}/{consult.public_id}"
        assert api(online_agent).get(base + "/consent").json()["recording"] is True
        assert api(online_agent).get(base + "/recordings").status_code == 403
        listed = api(owner).get(base + "/recordings").json()
        assert listed["count"] == 1
        recording_id = listed["results"][0]["id"]
        assert api(online_agent).delete(f"{base}/recordings/{recording_id}").status_code == 403
        deleted = api(owner).delete(f"{base}/recordings/{recording_id}")
        assert deleted.status_code == 200 and deleted.json()["state"] == "deleted"
        assert api(owner).get(f"{base}/recordings/999999").status_code == 404
        detail = api(owner).get(base).json()
        assert [c["party"] for c in detail["consents"]] == ["shopper", "agent"]
        assert detail["recordings"][0]["state"] == "deleted"
        assert api(online_agent).get(base).json()["recordings"] == []


class TestAnalyticsAndAvailability:
    def test_per_agent_wait_handle_conversion_and_ratings(self, api, merchant, online_agent, owner):
        for n, rating in enumerate((5, 3)):
            shopper = shopper_named(f"r{n}")
            consult = in_call(merchant, shopper, online_agent)
            services.consult_end_by_staff(actor=actor_of(online_agent, merchant), consult=consult)
            services.consult_rate(
                merchant=merchant, shopper=shopper, consult=reload(consult), rating=rating
            )
        response = api(owner).get(M + "/analytics?days=7")
        assert response.status_code == 200
        row = response.json()["agents"][0]
        assert row["agent"]["id"] == online_agent.pk
        assert row["handled"] == 2 and row["avg_rating"] == 4.0 and row["ratings"] == 2
        assert row["conversions"] == 0 and row["conversion_rate"] == 0.0
        assert row["avg_wait_s"] is not None and row["avg_handle_s"] is not None
        assert response.json()["totals"]["requests"] == 2
        assert api(owner).get(M + "/analytics?days=0").status_code == 400
        assert api(online_agent).get(M + "/analytics").status_code == 403

    def test_availability_windows(self, api, merchant, agent, agent2):
        start = (timezone.now() + timedelta(days=1)).replace(microsecond=0)
        created = api(agent).post(
            M + "/availability",
            {"starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=2)).isoformat()},
            format="json",
        )
        assert created.status_code == 201, created.json()
        window_id = created.json()["id"]
        assert api(agent).get(M + "/availability").json()["count"] == 1
        assert api(agent2).get(M + "/availability").json()["count"] == 0
        assert api(agent2).delete(f"{M}/availability/{window_id}").status_code == 404
        bad = api(agent).post(
            M + "/availability", {"starts_at": "x", "ends_at": "y"}, format="json"
        )
        assert bad.status_code == 400
        # Well-formed but impossible times (found by the API fuzz test) are a 400, not a 500.
        impossible = api(agent).post(
            M + "/availability",
            {"starts_at": "5219-07-26T05:48:52Z", "ends_at": "2024-01-01T12:99:00Z"},
            format="json",
        )
        assert impossible.status_code == 400
        assert "ends_at" in impossible.json()["error"]["fields"]
        assert api(agent).delete(f"{M}/availability/{window_id}").status_code == 204

    def test_staff_list_filters(self, api, merchant, online_agent, owner):
        consult = in_call(merchant, shopper_named("f"), online_agent)
        assert api(owner).get(M + "?status=active").json()["count"] == 1
        assert api(owner).get(M + "?status=ended").json()["count"] == 0
        assert api(owner).get(M + "?status=bogus").status_code == 400
        assert (
            api(owner).get(f"{M}?agent={online_agent.pk}").json()["results"][0]["id"]
            == consult.public_id
        )
        assert api(owner).get(M + "?agent=x").status_code == 400
        with tenant_scope(merchant.id):
            assert Consult.objects.get(pk=consult.pk).status == ConsultStatus.ACTIVE
