"""The live room page and the host console (issue 6): who sees what, what the page hands its
scripts, and that outsiders get 404 and non-hosts cannot open the console."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from liveshop.tenancy.scope import tenant_scope
from rooms.models import RoomProduct
from tests.commerce.conftest import isolated
from tests.factories import PASSWORD, ProductFactory, RoomFactory

pytestmark = pytest.mark.django_db

PAGE = "/s/acme/live/launch/"
CONSOLE = "/dashboard/acme/rooms/launch/console/"


@pytest.fixture
def room(merchant, host):
    room = RoomFactory(merchant=merchant, slug="launch", title="Launch night", host=host)
    mug = ProductFactory(
        merchant=merchant,
        name="Blue mug",
        price=1500,
        variants=[
            {"options": {"size": "S"}, "stock": 3},
            {"options": {"size": "L"}, "stock": 0, "price": 1800},
            {"options": {"size": "XL"}, "stock": 9, "is_active": False},
        ],
    )
    ProductFactory(merchant=merchant, name="Not in the show", stock=4)
    with tenant_scope(merchant.id):
        RoomProduct.objects.create(merchant=merchant, room=room, product=mug, position=0)
    return room


def signed_in(user=None):
    client = Client()
    if user is not None:
        assert client.login(username=user.email, password=PASSWORD)
    return client


def config(response, element_id):
    match = re.search(
        rf'<script id="{element_id}" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    assert match, f"no #{element_id} in the page"
    return json.loads(match.group(1))


class TestRoomPage:
    def test_anonymous_watch_and_are_asked_to_sign_in_to_chat(self, room):
        response = signed_in().get(PAGE)
        assert response.status_code == 200
        html = response.content.decode()
        assert 'data-test="sign-in-to-chat"' in html
        assert 'data-test="chat-input"' not in html
        assert "/accounts/login/?next=/s/acme/live/launch/" in html
        data = config(response, "live-room-config")
        assert data["me"] is None
        assert data["ws"] == "/ws/rooms/acme/launch/"

    def test_a_shopper_gets_the_chat_box_and_the_lineup_as_cards(self, room, shopper):
        response = signed_in(shopper).get(PAGE)
        assert response.status_code == 200
        html = response.content.decode()
        assert 'data-test="chat-input"' in html
        assert "media-player" in html  # the video area is the media app's partial
        assert "/jsi18n/" in html  # strings of the scripts are translatable
        data = config(response, "live-room-config")
        assert data["me"] == {"id": shopper.pk, "name": "Sam Shopper"}
        assert data["room"] == "launch" and data["merchant"] == "acme"
        assert data["api"]["orders"] == "/api/v1/s/acme/orders"
        assert data["api"]["leaderboard"] == "/api/v1/s/acme/rooms/launch/leaderboard"
        [card] = data["lineup"]
        assert card["name"] == "Blue mug" and card["price"] == 1500
        assert card["currency"] == "USD"
        # inactive variants are not offered; prices are the variants' own
        assert [(v["name"], v["price"], v["stock"]) for v in card["variants"]] == [
            ("S", 1500, 3),
            ("L", 1800, 0),
        ]
        assert card["stock"] == 3
        assert "Not in the show" not in html

    def test_staff_see_the_room_page_too(self, room, host):
        assert signed_in(host).get(PAGE).status_code == 200

    def test_suggests_products_of_the_shop_in_stock(self, room, shopper):
        html = signed_in(shopper).get(PAGE).content.decode()
        assert 'data-test="recommendations"' in html
        suggestions = html[html.index('data-test="recommendations"') :]
        suggestions = suggestions[: suggestions.index("</section>")]
        assert "/s/acme/p/" in suggestions

    def test_the_ended_state_lists_the_lineup(self, room, shopper):
        html = signed_in(shopper).get(PAGE).content.decode()
        ended = html[html.index('data-test="room-ended"') :]
        assert "Blue mug" in ended[: ended.index("</section>")]

    def test_unknown_and_foreign_rooms_are_404(self, room, other_merchant, shopper):
        foreign = RoomFactory(merchant=other_merchant, slug="theirs")
        client = signed_in(shopper)
        assert isolated(client.get, "/s/acme/live/nope/").status_code == 404
        assert isolated(client.get, "/s/acme/live/theirs/").status_code == 404
        assert isolated(client.get, "/s/nobody/live/launch/").status_code == 404
        assert foreign.slug == "theirs"


class TestConsole:
    def test_the_host_gets_the_console_with_one_go_live_button(self, room, host):
        response = signed_in(host).get(CONSOLE)
        assert response.status_code == 200
        html = response.content.decode()
        assert html.count('data-role="go-live"') == 1  # the camera panel's, nothing else
        assert "Go live" in html and html.count(">Go live<") == 1
        assert 'data-test="pin"' in html and "Blue mug" in html
        assert 'data-test="flash-form"' in html
        for name in ("viewers", "likes", "gifts", "orders", "gmv"):
            assert f'data-counter="{name}"' in html
        data = config(response, "host-console-config")
        assert data["api"]["stats"] == "/api/v1/merchants/acme/rooms/launch/stats"
        assert data["me"]["id"] == host.pk

    def test_owner_may_host(self, room, owner):
        assert signed_in(owner).get(CONSOLE).status_code == 200

    def test_staff_without_host_rights_are_refused(self, room, agent):
        assert isolated(signed_in(agent).get, CONSOLE).status_code == 403

    def test_shoppers_and_outsiders_get_404_and_anonymous_the_login(self, room, shopper, outsider):
        assert isolated(signed_in(shopper).get, CONSOLE).status_code == 404
        assert isolated(signed_in(outsider).get, CONSOLE).status_code == 404
        anonymous = signed_in().get(CONSOLE)
        assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]

    def test_unknown_room_is_404(self, room, host):
        response = isolated(signed_in(host).get, "/dashboard/acme/rooms/nope/console/")
        assert response.status_code == 404


def test_the_javascript_catalog_is_served():
    response = Client().get("/jsi18n/")
    assert response.status_code == 200
    assert b"gettext" in response.content


def test_the_demo_room_renders(settings):
    from django.core.management import call_command

    from tests.factories import plan_default

    plan_default()
    call_command("seed_demo", verbosity=0)
    assert Client().get("/s/demo/live/launch/").status_code == 200
    host = Client()
    host.login(username="host@demo.test", password="liveshop-demo")
    assert host.get("/dashboard/demo/rooms/launch/console/").status_code == 200


class TestReplay:
    """An ended, recorded show: the room page plays the recording with the line-up as
    chapters at the moments the host pinned each product."""

    def test_recorded_show_plays_with_its_lineup_as_chapters(
        self, room, shopper, settings, tmp_path
    ):
        import json as _json
        from datetime import timedelta

        from django.utils import timezone

        from media.hls.models import Broadcast, BroadcastStatus
        from media.hls.output import room_dir
        from rooms.models import RoomEvent, RoomStatus
        from tests.media.hls.helpers import hls_setting_dict

        settings.LIVESHOP_HLS = hls_setting_dict(tmp_path)
        started = timezone.now() - timedelta(minutes=10)
        merchant = room.merchant
        with tenant_scope(merchant.id):
            room.status = RoomStatus.ENDED
            room.save(update_fields=["status"])
            Broadcast.objects.create(
                merchant=merchant,
                room=room,
                epoch="e1",
                record=True,
                status=BroadcastStatus.ENDED,
                started_at=started,
                segments=30,
                duration=60.0,
            )
            mug = RoomProduct.objects.get(room=room).product
            for seq, (seconds, replay) in enumerate([(12.5, False), (500.0, False), (20, True)], 1):
                ts = int((started + timedelta(seconds=seconds)).timestamp() * 1000)
                data = {
                    "seq": seq,
                    "type": "product.pinned",
                    "ts": ts,
                    "product": {"id": mug.pk, "name": "Blue mug", "price": 1500, "currency": "USD"},
                }
                if replay:
                    data["replay"] = True  # a virtual host's pin, not the show's
                RoomEvent.objects.create(
                    merchant=merchant, room=room, seq=seq, type="product.pinned", ts=ts, data=data
                )
        folder = room_dir(tmp_path, merchant.id, room.id) / "e1"
        folder.mkdir(parents=True)
        # One 60 s run of media from the show's start (uri, media start, wall start, duration).
        (folder / "recording.json").write_text(
            _json.dumps(
                {"duration": 60.0, "segments": [["s0", 0.0, started.timestamp(), 60.0, False]]}
            )
        )
        html = signed_in(shopper).get(PAGE).content.decode()
        assert 'data-test="replay"' in html
        assert "/e1/replay.m3u8" in html
        chapters = [float(x) for x in re.findall(r'data-seek="([0-9.]+)"', html)]
        # The pin after the recording and the virtual host's are not chapters (ts is in ms).
        assert chapters == [pytest.approx(12.5, abs=0.01)]

    def test_a_live_or_unrecorded_room_has_no_replay(self, room, shopper):
        assert 'data-test="replay"' not in signed_in(shopper).get(PAGE).content.decode()
