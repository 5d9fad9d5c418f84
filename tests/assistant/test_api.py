"""Assistant API: settings, FAQ, the questions of a room with the host's one-click answer,
the virtual host, hand-offs; the shopper side's recommendations, replay and own hand-off.
Each with the outsider (404), the wrong role (403), anonymous (401) and bad input."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from assistant.models import FaqEntry, Handoff, Question, QuestionStatus, VirtualShow
from liveshop.tenancy.scope import tenant_scope
from tests.conftest import error_code
from tests.factories import ProductFactory

from .conftest import answers, make_catalog, make_room

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(merchant: Any, host: Any) -> dict[str, Any]:
    items = make_catalog(merchant)
    items["room"] = make_room(merchant, host, [items["tee"], items["hoodie"]])
    return items


def base(merchant: Any, room: Any = None) -> str:
    url = f"/api/v1/merchants/{merchant.slug}"
    return f"{url}/rooms/{room.slug}" if room is not None else url


def make_question(room: Any, seq: int = 1, **values: Any) -> Question:
    data = {
        "text": "where is my order?",
        "lang": "en",
        "status": QuestionStatus.UNANSWERED,
        "reason": "order",
    }
    data.update(values)
    with tenant_scope(room.merchant_id):
        return Question.objects.create(merchant_id=room.merchant_id, room=room, seq=seq, **data)


class TestRoomSettings:
    def test_read_and_change(self, shop, api, owner, host):
        url = f"{base(shop['room'].merchant, shop['room'])}/assistant"
        response = api(owner).get(url)
        assert response.status_code == 200
        assert response.json() == {
            "enabled": True,
            "mentions_only": False,
            "display_name": "Assistant",
            "show_stock_counts": True,
        }
        response = api(host).patch(
            url, {"mentions_only": True, "display_name": "  Mia  Li "}, format="json"
        )
        assert response.status_code == 200, response.json()
        assert response.json()["display_name"] == "Mia Li" and response.json()["mentions_only"]

    def test_a_room_without_settings_reads_as_off(self, merchant, host, api, owner):
        from tests.factories import RoomFactory

        room = RoomFactory.create(merchant=merchant, host=host)
        response = api(owner).get(f"{base(merchant, room)}/assistant")
        assert response.json()["enabled"] is False

    @pytest.mark.parametrize(
        "body, field",
        [
            ({"display_name": "@everyone"}, "display_name"),
            ({"display_name": ""}, "display_name"),
            ({"display_name": "x" * 33}, "display_name"),
            ({"enabled": "yes"}, "enabled"),
            ({"colour": "red"}, "colour"),
        ],
    )
    def test_bad_input(self, shop, api, owner, body, field):
        response = api(owner).patch(
            f"{base(shop['room'].merchant, shop['room'])}/assistant", body, format="json"
        )
        assert response.status_code == 400
        assert field in response.json()["error"]["fields"]

    def test_not_a_json_object(self, shop, api, owner):
        response = api(owner).patch(
            f"{base(shop['room'].merchant, shop['room'])}/assistant", [1, 2], format="json"
        )
        assert response.status_code == 400

    def test_access(self, shop, api, agent, outsider):
        url = f"{base(shop['room'].merchant, shop['room'])}/assistant"
        assert api().get(url).status_code == 401
        assert api(agent).get(url).status_code == 403
        assert api(outsider).get(url).status_code == 404
        assert api(outsider).patch(url, {"enabled": False}, format="json").status_code == 404


class TestFaq:
    def test_create_list_change_delete(self, merchant, api, owner):
        client = api(owner)
        response = client.post(
            f"{base(merchant)}/faq",
            {"topic": "Returns", "answer": "30 days.", "answer_zh": "30天内可退。"},
            format="json",
        )
        assert response.status_code == 201, response.json()
        entry = response.json()
        assert entry["topic"] == "returns"
        listed = client.get(f"{base(merchant)}/faq").json()
        assert listed["count"] == 1 and listed["results"][0]["id"] == entry["id"]
        url = f"{base(merchant)}/faq/{entry['id']}"
        assert client.patch(url, {"is_active": False}, format="json").json()["is_active"] is False
        assert client.delete(url).status_code == 204
        assert client.get(url).status_code == 404

    @pytest.mark.parametrize(
        "body, field",
        [
            ({"topic": "ship ping", "answer": "x"}, "topic"),
            ({"topic": "shipping"}, "answer"),
            ({"topic": "shipping", "answer": "   "}, "answer"),
            ({"topic": "shipping", "answer": "x" * 2001}, "answer"),
            ({"topic": "shipping", "answer": 5}, "answer"),
            ({"topic": "shipping", "answer": "x", "position": -1}, "position"),
            ({"topic": "shipping", "answer": "x", "merchant": 1}, "merchant"),
        ],
    )
    def test_bad_input(self, merchant, api, owner, body, field):
        response = api(owner).post(f"{base(merchant)}/faq", body, format="json")
        assert response.status_code == 400
        assert field in response.json()["error"]["fields"]

    def test_clearing_both_answers_is_refused(self, merchant, api, owner):
        client = api(owner)
        entry = client.post(
            f"{base(merchant)}/faq", {"topic": "payment", "answer": "Cards."}, format="json"
        ).json()
        response = client.patch(
            f"{base(merchant)}/faq/{entry['id']}", {"answer": ""}, format="json"
        )
        assert response.status_code == 400

    def test_access(self, merchant, other_merchant, api, agent, outsider, owner):
        with tenant_scope(other_merchant.id):
            theirs = FaqEntry.objects.create(merchant=other_merchant, topic="shipping", answer="x")
        assert api().get(f"{base(merchant)}/faq").status_code == 401
        assert api(agent).get(f"{base(merchant)}/faq").status_code == 403
        assert api(outsider).get(f"{base(merchant)}/faq").status_code == 404
        assert api(owner).get(f"{base(merchant)}/faq/{theirs.pk}").status_code == 404
        assert api(owner).delete(f"{base(merchant)}/faq/{theirs.pk}").status_code == 404


class TestQuestions:
    def test_the_unanswered_list(self, shop, api, host):
        room = shop["room"]
        waiting = make_question(room, 1)
        make_question(room, 2, status=QuestionStatus.ANSWERED, text="tee price?", reason="")
        with tenant_scope(room.merchant_id):
            handoff = Handoff.objects.create(
                merchant=room.merchant, question=waiting, room=room, reason="order", lang="en"
            )
        response = api(host).get(f"{base(room.merchant, room)}/questions?status=unanswered")
        assert response.status_code == 200
        (row,) = response.json()["results"]
        assert (row["id"], row["seq"], row["reason"], row["handoff"]) == (
            waiting.pk,
            1,
            "order",
            handoff.pk,
        )
        assert api(host).get(f"{base(room.merchant, room)}/questions").json()["count"] == 2

    def test_bad_status_filter(self, shop, api, host):
        response = api(host).get(f"{base(shop['room'].merchant, shop['room'])}/questions?status=x")
        assert response.status_code == 400 and error_code(response) == "invalid"

    def test_one_click_answer_is_published_pinned(
        self, shop, api, host, published, django_capture_on_commit_callbacks
    ):
        room = shop["room"]
        question = make_question(room, 41, text="能寄到泰国吗？", lang="zh")
        with tenant_scope(room.merchant_id):
            Handoff.objects.create(
                merchant=room.merchant, question=question, room=room, reason="no_policy", lang="zh"
            )
        url = f"{base(room.merchant, room)}/questions/{question.pk}/answer"
        with django_capture_on_commit_callbacks(execute=True):
            response = api(host).post(
                url, {"text": "可以，泰国5-9天送达。", "products": [shop["tee"].pk]}, format="json"
            )
        assert response.status_code == 200, response.json()
        assert response.json()["status"] == "host_answered"
        (event,) = answers(published, room)
        assert event["by"] == "host" and event["pinned"] is True
        assert event["question_seq"] == 41 and event["question"] == "能寄到泰国吗？"
        assert event["text"] == "可以，泰国5-9天送达。" and event["host"]["id"] == host.pk
        assert [c["id"] for c in event["products"]] == [shop["tee"].pk]
        assert event["products"][0]["name"] == "经典纯棉T恤"  # cards follow the answer's language
        with tenant_scope(room.merchant_id):
            assert Handoff.objects.get(question=question).status == "closed"
        # A double click answers once.
        with django_capture_on_commit_callbacks(execute=True):
            again = api(host).post(url, {"text": "again"}, format="json")
        assert again.status_code == 200 and len(answers(published)) == 1

    def test_dismiss(self, shop, api, host):
        room = shop["room"]
        question = make_question(room)
        url = f"{base(room.merchant, room)}/questions/{question.pk}/dismiss"
        response = api(host).post(url, format="json")
        assert response.status_code == 200 and response.json()["status"] == "dismissed"
        assert (
            api(host)
            .get(f"{base(room.merchant, room)}/questions?status=unanswered")
            .json()["count"]
            == 0
        )

    @pytest.mark.parametrize(
        "body, field",
        [
            ({}, "text"),
            ({"text": "   "}, "text"),
            ({"text": "x" * 501}, "text"),
            ({"text": 5}, "text"),
            ({"text": "ok", "products": [1, 2, 3, 4]}, "products"),
            ({"text": "ok", "products": ["one"]}, "products"),
            ({"text": "ok", "products": [True]}, "products"),
            ({"text": "ok", "pin": True}, "pin"),
        ],
    )
    def test_bad_answers(self, shop, api, host, body, field):
        room = shop["room"]
        question = make_question(room)
        response = api(host).post(
            f"{base(room.merchant, room)}/questions/{question.pk}/answer", body, format="json"
        )
        assert response.status_code == 400
        assert field in response.json()["error"]["fields"]

    def test_another_merchants_product_cannot_be_shown(
        self, shop, api, host, other_merchant, published, django_capture_on_commit_callbacks
    ):
        theirs = ProductFactory.create(merchant=other_merchant, name="Rival boots", stock=3)
        room = shop["room"]
        question = make_question(room)
        with django_capture_on_commit_callbacks(execute=True):
            response = api(host).post(
                f"{base(room.merchant, room)}/questions/{question.pk}/answer",
                {"text": "Try these", "products": [theirs.pk]},
                format="json",
            )
        assert response.status_code == 400 and answers(published) == []

    def test_access(self, shop, merchant, host, api, agent, outsider, other_merchant):
        from tests.factories import RoomFactory

        room = shop["room"]
        question = make_question(room)
        other_room = make_room(merchant, host, [])
        questions = f"{base(merchant, room)}/questions"
        answer = f"{questions}/{question.pk}/answer"
        assert api().get(questions).status_code == 401
        assert api(agent).get(questions).status_code == 403
        assert api(agent).post(answer, {"text": "hi"}, format="json").status_code == 403
        assert api(outsider).get(questions).status_code == 404
        assert api(outsider).post(answer, {"text": "hi"}, format="json").status_code == 404
        # The question exists, but not in that room.
        wrong_room = f"{base(merchant, other_room)}/questions/{question.pk}/answer"
        assert api(host).post(wrong_room, {"text": "hi"}, format="json").status_code == 404
        theirs = RoomFactory.create(merchant=other_merchant, host=outsider)
        their_question = make_question(theirs)
        foreign = f"{questions}/{their_question.pk}/dismiss"
        assert api(host).post(foreign, format="json").status_code == 404


class TestVirtualHost:
    def test_schedule_with_a_timeline_and_remove(self, shop, api, owner):
        room = shop["room"]
        url = f"{base(room.merchant, room)}/virtual-host"
        assert api(owner).get(url).status_code == 404
        starts = (timezone.now() + timedelta(hours=1)).isoformat()
        body = {
            "starts_at": starts,
            "slide_seconds": 15,
            "entries": [
                {"product": shop["hoodie"].pk, "caption": "Warm for winter", "seconds": 30},
                {"product": shop["tee"].pk, "caption_zh": "纯棉"},
            ],
        }
        response = api(owner).put(url, body, format="json")
        assert response.status_code == 200, response.json()
        data = response.json()
        assert data["mode"] == "slideshow" and data["running"] is False
        assert [(e["product"], e["seconds"]) for e in data["entries"]] == [
            (shop["hoodie"].pk, 30),
            (shop["tee"].pk, None),
        ]
        assert api(owner).get(url).json()["slide_seconds"] == 15
        assert api(owner).delete(url).status_code == 204
        assert api(owner).get(url).status_code == 404

    @pytest.mark.parametrize(
        "body, field",
        [
            ({}, "starts_at"),
            ({"starts_at": "tomorrow"}, "starts_at"),
            ({"starts_at": "2026-12-01T10:00:00Z", "ends_at": "2026-12-01T09:00:00Z"}, "ends_at"),
            ({"starts_at": "2026-12-01T10:00:00Z", "slide_seconds": 1}, "slide_seconds"),
            ({"starts_at": "2026-12-01T10:00:00Z", "mode": "hologram"}, "mode"),
            ({"starts_at": "2026-12-01T10:00:00Z", "mode": "recording"}, "recording"),
            (
                {"starts_at": "2026-12-01T10:00:00Z", "entries": [{"product": "x"}]},
                "entries.0.product",
            ),
            (
                {"starts_at": "2026-12-01T10:00:00Z", "entries": [{"product": 1, "seconds": 0}]},
                "entries.0.seconds",
            ),
            ({"starts_at": "2026-12-01T10:00:00Z", "entries": "all"}, "entries"),
        ],
    )
    def test_bad_input(self, shop, api, owner, body, field):
        room = shop["room"]
        response = api(owner).put(f"{base(room.merchant, room)}/virtual-host", body, format="json")
        assert response.status_code == 400, response.json()
        assert field in response.json()["error"]["fields"]

    def test_another_merchants_product_cannot_join_the_timeline(
        self, shop, api, owner, other_merchant
    ):
        theirs = ProductFactory.create(merchant=other_merchant, name="Rival boots", stock=3)
        room = shop["room"]
        response = api(owner).put(
            f"{base(room.merchant, room)}/virtual-host",
            {"starts_at": "2026-12-01T10:00:00Z", "entries": [{"product": theirs.pk}]},
            format="json",
        )
        assert response.status_code == 400
        with tenant_scope(room.merchant_id):
            assert not VirtualShow.objects.filter(room=room).exists()  # all or nothing

    def test_access(self, shop, api, agent, outsider):
        url = f"{base(shop['room'].merchant, shop['room'])}/virtual-host"
        body = {"starts_at": "2026-12-01T10:00:00Z"}
        assert api().put(url, body, format="json").status_code == 401
        assert api(agent).put(url, body, format="json").status_code == 403
        assert api(outsider).put(url, body, format="json").status_code == 404


class TestHandoffs:
    def test_agents_see_open_handoffs_and_close_them(self, shop, api, agent, host):
        room = shop["room"]
        question = make_question(room)
        with tenant_scope(room.merchant_id):
            handoff = Handoff.objects.create(
                merchant=room.merchant,
                question=question,
                room=room,
                reason="order",
                lang="en",
                pinned_product=shop["tee"],
                lineup=[shop["tee"].pk],
            )
        url = f"{base(room.merchant)}/handoffs"
        (row,) = api(agent).get(url).json()["results"]
        assert row["question"] == "where is my order?" and row["room"] == room.slug
        assert row["pinned_product"] == shop["tee"].pk and row["lineup"] == [shop["tee"].pk]
        assert api(host).get(url).status_code == 403
        closed = api(agent).post(f"{url}/{handoff.pk}/close", format="json")
        assert closed.status_code == 200 and closed.json()["status"] == "closed"
        assert api(agent).get(url).json()["count"] == 0
        assert api(agent).get(f"{url}?status=all").json()["count"] == 1
        assert api(agent).get(f"{url}?status=nope").status_code == 400


class TestShopperSide:
    def test_own_handoff_only(self, shop, api, shopper, admin):
        room = shop["room"]
        question = make_question(room, user=shopper)
        with tenant_scope(room.merchant_id):
            handoff = Handoff.objects.create(
                merchant=room.merchant,
                question=question,
                room=room,
                shopper=shopper,
                reason="order",
                lang="en",
            )
        url = f"/api/v1/s/{room.merchant.slug}/handoffs/{handoff.pk}"
        response = api(shopper).get(url)
        assert response.status_code == 200 and response.json()["question"] == "where is my order?"
        assert api(admin).get(url).status_code == 404
        assert api().get(url).status_code == 401
        assert api(shopper).get(f"/api/v1/s/nope/handoffs/{handoff.pk}").status_code == 404

    def test_replay_state(self, shop, api, owner):
        room = shop["room"]
        url = f"/api/v1/s/{room.merchant.slug}/rooms/{room.slug}/replay"
        assert api().get(url).status_code == 404
        api(owner).put(
            f"{base(room.merchant, room)}/virtual-host",
            {
                "starts_at": timezone.now().isoformat(),
                "entries": [{"product": shop["tee"].pk, "caption": "Soft", "caption_zh": "柔软"}],
            },
            format="json",
        )
        from assistant.virtual_host import shows_advance

        assert shows_advance() == 1
        state = api().get(url).json()
        assert state["replay"] is True and state["running"] is True
        assert state["current"]["product"]["id"] == shop["tee"].pk
        assert state["current"]["caption"] == "Soft"
        assert api().get(url + "?lang=zh").json()["current"]["caption"] == "柔软"
        assert api().get(f"/api/v1/s/{room.merchant.slug}/rooms/nope/replay").status_code == 404
