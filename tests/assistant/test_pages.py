"""Assistant pages: the dashboard (overview, FAQ, a room's assistant and virtual host), the
host console's unanswered partial with its one-click answer, the storefront replay page and
the "you may also like" partial after a purchase. Outsider 404, wrong role 403, anonymous to
the login page, bad input shown on the form."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from assistant.models import FaqEntry, Question, QuestionStatus, RoomAssistant, VirtualShow
from liveshop.tenancy.scope import tenant_scope
from tests.factories import PASSWORD

from .conftest import answers, make_catalog, make_room

pytestmark = pytest.mark.django_db


def login(user: Any) -> Client:
    client = Client()
    assert client.login(username=user.email, password=PASSWORD)
    return client


@pytest.fixture
def shop(merchant: Any, host: Any) -> dict[str, Any]:
    items = make_catalog(merchant)
    items["room"] = make_room(merchant, host, [items["tee"], items["hoodie"]])
    return items


def dash(merchant: Any, rest: str = "") -> str:
    return f"/dashboard/{merchant.slug}/assistant/{rest}"


class TestOverview:
    def test_lists_rooms_faq_and_handoffs(self, shop, owner):
        response = login(owner).get(dash(shop["room"].merchant))
        assert response.status_code == 200
        body = response.content.decode()
        assert shop["room"].title in body and "Where do you ship?" in body
        row = body.split(f'data-room="{shop["room"].slug}"', 1)[1].split("</tr>", 1)[0]
        assert 'badge badge-ok">on<' in row

    def test_access(self, shop, merchant, host, agent, outsider):
        assert login(host).get(dash(merchant)).status_code == 200
        assert login(agent).get(dash(merchant)).status_code == 403
        assert login(outsider).get(dash(merchant)).status_code == 404
        response = Client().get(dash(merchant))
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]

    def test_sidebar_entry_by_permission(self, shop, merchant, owner, agent):
        assert dash(merchant) in login(owner).get(f"/dashboard/{merchant.slug}/").content.decode()
        assert (
            dash(merchant) not in login(agent).get(f"/dashboard/{merchant.slug}/").content.decode()
        )


class TestFaqPages:
    def test_create_edit_delete(self, merchant, owner):
        client = login(owner)
        response = client.post(
            dash(merchant, "faq/new/"),
            {"topic": "returns", "answer": "30 days, unworn.", "is_active": "on"},
        )
        assert response.status_code == 302
        with tenant_scope(merchant.id):
            entry = FaqEntry.objects.get(merchant=merchant)
        assert entry.answer == "30 days, unworn." and entry.is_active
        client.post(dash(merchant, f"faq/{entry.pk}/"), {"topic": "returns", "answer_zh": "30天内"})
        with tenant_scope(merchant.id):
            entry.refresh_from_db()
        assert (entry.answer, entry.answer_zh, entry.is_active) == ("", "30天内", False)
        assert client.post(dash(merchant, f"faq/{entry.pk}/delete/")).status_code == 302
        with tenant_scope(merchant.id):
            assert not FaqEntry.objects.filter(merchant=merchant).exists()

    def test_bad_input_is_shown_on_the_form(self, merchant, owner):
        response = login(owner).post(
            dash(merchant, "faq/new/"), {"topic": "Ship Ping", "answer": ""}
        )
        assert response.status_code == 200
        body = response.content.decode()
        assert "errorlist" in body
        with tenant_scope(merchant.id):
            assert not FaqEntry.objects.exists()
        response = login(owner).post(dash(merchant, "faq/new/"), {"topic": "shipping"})
        assert "Write the answer" in response.content.decode()

    def test_outsider_and_wrong_role(self, shop, merchant, agent, outsider):
        faq = shop["faq"]
        assert login(outsider).get(dash(merchant, f"faq/{faq.pk}/")).status_code == 404
        assert login(outsider).post(dash(merchant, f"faq/{faq.pk}/delete/")).status_code == 404
        assert login(agent).post(dash(merchant, f"faq/{faq.pk}/delete/")).status_code == 403
        with tenant_scope(merchant.id):
            assert FaqEntry.objects.filter(pk=faq.pk).exists()


class TestRoomPage:
    def test_settings_form(self, shop, merchant, owner):
        room = shop["room"]
        url = dash(merchant, f"rooms/{room.slug}/")
        assert login(owner).get(url).status_code == 200
        response = login(owner).post(
            url, {"form": "settings", "enabled": "on", "display_name": "Mia", "mentions_only": "on"}
        )
        assert response.status_code == 302
        with tenant_scope(merchant.id):
            config = RoomAssistant.objects.get(room=room)
        assert (config.display_name, config.mentions_only, config.show_stock_counts) == (
            "Mia",
            True,
            False,
        )
        response = login(owner).post(url, {"form": "settings", "display_name": "@all"})
        assert response.status_code == 200 and "errorlist" in response.content.decode()

    def test_schedule_a_virtual_host_from_the_line_up(self, shop, merchant, owner):
        room = shop["room"]
        url = dash(merchant, f"rooms/{room.slug}/")
        starts = (timezone.now() + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M")
        response = login(owner).post(
            url,
            {
                "form": "show",
                "mode": "slideshow",
                "starts_at": starts,
                "slide_seconds": "12",
                "is_active": "on",
            },
        )
        assert response.status_code == 302
        with tenant_scope(merchant.id):
            show = VirtualShow.objects.get(room=room)
            products = list(show.entries.order_by("position").values_list("product_id", flat=True))
        assert show.slide_seconds == 12 and products == [shop["tee"].pk, shop["hoodie"].pk]
        # Edit the timeline: caption the hoodie, drop the tee.
        response = login(owner).post(
            dash(merchant, f"rooms/{room.slug}/timeline/"),
            {
                "product-0": str(shop["tee"].pk),
                "remove-0": "1",
                "product-1": str(shop["hoodie"].pk),
                "caption-1": "Warm",
                "seconds-1": "9",
            },
        )
        assert response.status_code == 302
        with tenant_scope(merchant.id):
            (entry,) = show.entries.all()
        assert (entry.product_id, entry.caption, entry.seconds) == (shop["hoodie"].pk, "Warm", 9)
        page = login(owner).get(url).content.decode()
        assert "Warm" in page and 'data-test="timeline-form"' in page

    def test_bad_schedule_is_shown_on_the_form(self, shop, merchant, owner):
        room = shop["room"]
        response = login(owner).post(
            dash(merchant, f"rooms/{room.slug}/"),
            {
                "form": "show",
                "mode": "recording",
                "starts_at": "2026-12-01T10:00",
                "slide_seconds": "20",
            },
        )
        assert response.status_code == 200 and "Give the recording" in response.content.decode()

    def test_access(self, shop, merchant, agent, outsider):
        room = shop["room"]
        assert login(agent).get(dash(merchant, f"rooms/{room.slug}/")).status_code == 403
        assert login(outsider).get(dash(merchant, f"rooms/{room.slug}/")).status_code == 404
        assert (
            login(outsider).post(dash(merchant, f"rooms/{room.slug}/timeline/")).status_code == 404
        )


class TestUnansweredPartial:
    def question(self, room: Any, shopper: Any) -> Question:
        with tenant_scope(room.merchant_id):
            return Question.objects.create(
                merchant=room.merchant,
                room=room,
                seq=3,
                user=shopper,
                user_name="Sam",
                text="能寄到泰国吗？",
                lang="zh",
                status=QuestionStatus.UNANSWERED,
                reason="no_policy",
            )

    def test_lists_and_answers_with_one_click(
        self, shop, merchant, host, shopper, published, django_capture_on_commit_callbacks
    ):
        room = shop["room"]
        q = self.question(room, shopper)
        url = dash(merchant, f"rooms/{room.slug}/unanswered/")
        body = login(host).get(url).content.decode()
        assert "能寄到泰国吗？" in body and f'data-question="{q.pk}"' in body
        with django_capture_on_commit_callbacks(execute=True):
            response = login(host).post(
                url,
                {
                    "question": q.pk,
                    "action": "answer",
                    "text": "可以",
                    "product": shop["tee"].pk,
                    "next": "//evil.example/",
                },
            )
        assert response.status_code == 302 and response["Location"].startswith("/dashboard/")
        (event,) = answers(published, room)
        assert event["by"] == "host" and event["text"] == "可以"
        assert 'data-test="unanswered-empty"' in login(host).get(url).content.decode()

    def test_script_requests_get_the_partial_back(self, shop, merchant, host, shopper):
        room = shop["room"]
        q = self.question(room, shopper)
        url = dash(merchant, f"rooms/{room.slug}/unanswered/")
        response = login(host).post(
            url, {"question": q.pk, "action": "answer", "text": ""}, HTTP_X_REQUESTED_WITH="fetch"
        )
        assert response.status_code == 400 and response["X-Error"]
        response = login(host).post(
            url, {"question": q.pk, "action": "dismiss"}, HTTP_X_REQUESTED_WITH="fetch"
        )
        assert response.status_code == 200 and "unanswered-empty" in response.content.decode()

    def test_access(self, shop, merchant, agent, outsider, shopper):
        room = shop["room"]
        q = self.question(room, shopper)
        url = dash(merchant, f"rooms/{room.slug}/unanswered/")
        assert login(agent).get(url).status_code == 403
        assert login(outsider).get(url).status_code == 404
        assert login(outsider).post(url, {"question": q.pk, "action": "dismiss"}).status_code == 404
        assert Client().get(url).status_code == 302
        with tenant_scope(merchant.id):
            assert Question.objects.get(pk=q.pk).status == QuestionStatus.UNANSWERED

    def test_the_template_tag_renders_for_the_console(self, shop, merchant, host, shopper, rf):
        from django.template import Context, Template

        from liveshop.tenancy.access import access_merchant

        room = shop["room"]
        self.question(room, shopper)
        request = rf.get("/")
        request.actor = access_merchant(principal=host, slug=merchant.slug)
        with tenant_scope(merchant.id):
            html = Template("{% load assistant %}{% assistant_unanswered room %}").render(
                Context({"request": request, "room": room})
            )
        assert "能寄到泰国吗？" in html and 'data-test="answer"' in html


class TestStorefront:
    def test_replay_page(self, shop, merchant, owner):
        room = shop["room"]
        url = f"/s/{merchant.slug}/replay/{room.slug}/"
        assert Client().get(url).status_code == 404
        from assistant import virtual_host
        from liveshop.tenancy.access import Actor

        actor = Actor(merchant=merchant, user=owner, role="owner")
        show = virtual_host.show_save(actor=actor, room=room, data={"starts_at": timezone.now()})
        virtual_host.show_entries_set(
            actor=actor, show=show, entries=[{"product": shop["hoodie"].pk, "caption": "Cosy"}]
        )
        virtual_host.shows_advance()
        body = Client().get(url).content.decode()
        assert 'data-test="replay-badge"' in body and "REPLAY" in body
        assert "Fleece Hoodie" in body and "Cosy" in body and "$49.00" in body
        assert Client().get(f"/s/{merchant.slug}/replay/nope/").status_code == 404

    def test_recommendations_after_purchase(self, shop, merchant, shopper):
        from commerce.services import order_place

        result = order_place(
            merchant=merchant,
            shopper=shopper,
            lines=[{"product": shop["hoodie"].pk, "quantity": 1}],
            idempotency_key="k1",
        )
        body = login(shopper).get(f"/s/{merchant.slug}/orders/{result.order.pk}/").content.decode()
        assert 'data-test="recommendations"' in body
        section = body.split('data-test="recommendations"', 1)[1]
        assert "Classic Cotton Tee" in section and "Fleece Hoodie" not in section
