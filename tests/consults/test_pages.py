"""Consult pages: the console, history, analytics, availability, consult detail with
recordings, supervision (dashboard) and the shopper's call and booking pages, each with the
outsider (404), anonymous visitors (login) and the wrong role (403); the product page's
"ask an expert" partial; the order page's consult attribution."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from consults import services
from consults.models import AvailabilityWindow, ConsultRecording
from liveshop.tenancy.scope import tenant_scope
from tests.consults.conftest import actor_of, ask, reload, shopper_named

pytestmark = pytest.mark.django_db

D = "/dashboard/acme/consults/"


@pytest.fixture
def call(merchant, shopper, online_agent, product, room):
    consult = ask(merchant, shopper, product=product.pk, room="launch")
    services.consult_accept(actor=actor_of(online_agent, merchant))
    return reload(consult)


class TestDashboard:
    def test_console(self, client, merchant, agent, host, outsider):
        client.force_login(agent)
        page = client.get(D)
        assert page.status_code == 200
        assert b'data-test="consult-console"' in page.content
        assert b"/api/v1/merchants/acme/consults/queue" in page.content
        client.force_login(host)
        assert client.get(D).status_code == 403
        client.force_login(outsider)
        assert client.get(D).status_code == 404
        client.logout()
        assert client.get(D).status_code == 302

    def test_nav_shows_consults_to_agents_only(self, client, merchant, agent, host):
        client.force_login(agent)
        assert b'href="/dashboard/acme/consults/"' in client.get("/dashboard/acme/").content
        client.force_login(host)
        assert b'href="/dashboard/acme/consults/"' not in client.get("/dashboard/acme/").content

    def test_history_and_detail(
        self, client, merchant, call, online_agent, agent2, owner, outsider
    ):
        services.chat_post(consult=call, user=online_agent, party="agent", text="Welcome!")
        client.force_login(online_agent)
        history = client.get(D + "history/")
        assert history.status_code == 200 and call.public_id.encode() in history.content
        detail = client.get(f"{D}{call.public_id}/")
        assert detail.status_code == 200 and b"Welcome!" in detail.content
        assert b"Recordings" not in detail.content  # agents do not see recordings
        saved = client.post(f"{D}{call.public_id}/", {"notes": "Likes linen"})
        assert saved.status_code == 302
        assert reload(call).notes == "Likes linen"
        client.force_login(agent2)  # not their call
        assert client.get(f"{D}{call.public_id}/").status_code == 404
        assert call.public_id.encode() not in client.get(D + "history/").content
        client.force_login(owner)
        assert b"Recordings" in client.get(f"{D}{call.public_id}/").content
        client.force_login(outsider)
        assert client.get(f"{D}{call.public_id}/").status_code == 404
        assert client.get(f"{D}{'x' * 22}/").status_code == 404

    def test_analytics_for_supervisors(self, client, merchant, call, online_agent, owner):
        services.consult_end_by_staff(actor=actor_of(online_agent, merchant), consult=call)
        client.force_login(owner)
        page = client.get(D + "analytics/?days=30")
        assert page.status_code == 200
        assert (
            b'data-test="agent-row"' in page.content and online_agent.email.encode() in page.content
        )
        assert client.get(D + "analytics/?days=abc").status_code == 200
        client.force_login(online_agent)
        assert client.get(D + "analytics/").status_code == 403

    def test_availability(self, client, merchant, agent):
        client.force_login(agent)
        assert client.get(D + "availability/").status_code == 200
        tomorrow = (timezone.now() + timedelta(days=1)).date().isoformat()
        added = client.post(
            D + "availability/", {"date": tomorrow, "start": "09:00", "end": "11:00"}
        )
        assert added.status_code == 302
        with tenant_scope(merchant.id):
            window = AvailabilityWindow.objects.get(agent=agent)
        assert window.ends_at - window.starts_at == timedelta(hours=2)
        bad = client.post(
            D + "availability/", {"date": tomorrow, "start": "11:00", "end": "09:00"}, follow=True
        )
        assert b"End after the start" in bad.content
        garbage = client.post(
            D + "availability/", {"date": "never", "start": "x", "end": "y"}, follow=True
        )
        assert garbage.status_code == 200
        client.post(D + "availability/", {"action": "delete", "window": window.pk})
        with tenant_scope(merchant.id):
            assert not AvailabilityWindow.objects.filter(agent=agent).exists()

    def test_supervise_and_delete_recordings(
        self, client, merchant, call, shopper, online_agent, owner
    ):
        client.force_login(online_agent)
        assert client.get(f"{D}{call.public_id}/supervise/").status_code == 403
        client.force_login(owner)
        page = client.get(f"{D}{call.public_id}/supervise/")
        assert page.status_code == 200 and b"/join" in page.content
        services.recording_consent_set(consult=call, user=shopper, party="shopper", granted=True)
        services.recording_consent_set(consult=call, user=online_agent, party="agent", granted=True)
        with tenant_scope(merchant.id):
            recording = ConsultRecording.objects.get(consult=call)
        client.force_login(online_agent)
        url = f"{D}{call.public_id}/recordings/{recording.pk}/delete/"
        assert client.post(url).status_code == 403
        client.force_login(owner)
        assert client.post(url).status_code == 302
        with tenant_scope(merchant.id):
            assert ConsultRecording.objects.get(pk=recording.pk).state == "deleted"

    def test_the_order_page_shows_the_consult(self, client, merchant, call, online_agent, product):
        order = services.cart_set(
            actor=actor_of(online_agent, merchant),
            consult=call,
            lines=[{"product": product.pk, "quantity": 1}],
        )
        client.force_login(online_agent)
        page = client.get(f"/dashboard/acme/orders/{order.pk}/")
        assert page.status_code == 200
        assert f'data-consult="{call.public_id}"'.encode() in page.content
        assert online_agent.display_name.encode() in page.content


class TestStorefront:
    def test_call_page_is_its_shoppers_only(
        self, client, merchant, shopper, online_agent, outsider
    ):
        consult = ask(merchant, shopper)
        url = f"/s/acme/consults/{consult.public_id}/"
        assert client.get(url).status_code == 302  # log in first
        client.force_login(shopper)
        page = client.get(url)
        assert page.status_code == 200
        assert b'data-test="consult-call"' in page.content
        assert f"/api/v1/s/acme/consults/{consult.public_id}/join".encode() in page.content
        for other in (shopper_named("eve"), outsider, online_agent):
            client.force_login(other)
            assert client.get(url).status_code == 404
        assert client.get(f"/s/rivalco/consults/{consult.public_id}/").status_code == 404

    def test_booking_page(self, client, merchant, agent, shopper):
        start = (timezone.now() + timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
        services.availability_add(
            actor=actor_of(agent, merchant), starts_at=start, ends_at=start + timedelta(hours=1)
        )
        booking = services.booking_create(merchant=merchant, shopper=shopper, starts_at=start)
        url = f"/s/acme/consults/bookings/{booking.public_id}/"
        client.force_login(shopper)
        page = client.get(url)
        assert page.status_code == 200 and b'data-test="booking"' in page.content
        assert b'id="booking-start"' not in page.content  # not yet: no join button
        client.force_login(shopper_named("eve"))
        assert client.get(url).status_code == 404

    def test_the_product_page_offers_a_video_call(self, client, merchant, product):
        page = client.get(f"/s/acme/p/{product.pk}/")
        assert page.status_code == 200
        assert b"data-consult-ask" in page.content
        assert f'data-product="{product.pk}"'.encode() in page.content
        assert b"js/consults/ask.js" in page.content


def test_checkout_pages_may_be_framed_by_the_same_origin_only(
    client, merchant, shopper, online_agent, product
):
    """The call page shows the sandbox checkout (and the order page it returns to) in an
    overlay: same-origin framing is allowed, other origins are not."""
    from commerce import services as commerce

    order = commerce.order_place(
        merchant=merchant,
        shopper=shopper,
        lines=[{"product": product.pk, "quantity": 1}],
        idempotency_key="frame-1",
    ).order
    payment = commerce.payment_start(
        merchant=merchant, shopper=shopper, order=order, base_url="http://testserver/"
    ).payment
    client.force_login(shopper)
    assert client.get(f"/sandbox/pay/{payment.external_id}/")["X-Frame-Options"] == "SAMEORIGIN"
    assert client.get(f"/s/acme/orders/{order.pk}/")["X-Frame-Options"] == "SAMEORIGIN"
    assert client.get("/s/acme/orders/")["X-Frame-Options"] == "DENY"
