"""The virtual host: the periodic job walks each show's timeline in a loop, pins each step's
product in the room (labelled as a replay), stops at the end time, and the assistant's "this
one" follows the timeline."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from assistant import virtual_host
from assistant.models import VirtualShow
from assistant.services import chat_observed
from commerce.models import Product
from liveshop.tenancy.access import Actor
from liveshop.tenancy.scope import tenant_scope
from rooms.events import room_key
from tests.factories import ProductFactory

from .conftest import answers, chat, make_catalog, make_room

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(merchant: Any, host: Any, owner: Any) -> dict[str, Any]:
    items = make_catalog(merchant)
    items["room"] = make_room(merchant, host, [items["tee"], items["hoodie"]])
    items["actor"] = Actor(merchant=merchant, user=owner, role="owner")
    return items


def schedule(
    shop: dict[str, Any], start: Any, entries: list[dict[str, Any]], **data: Any
) -> VirtualShow:
    show = virtual_host.show_save(
        actor=shop["actor"],
        room=shop["room"],
        data={"starts_at": start, "slide_seconds": 10, **data},
    )
    virtual_host.show_entries_set(actor=shop["actor"], show=show, entries=entries)
    return show


def pins(published: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Pin events as published (without the stream's seq and ts)."""
    return [
        {k: v for k, v in e.items() if k not in ("seq", "ts")}
        for _k, e in published
        if e["type"] in ("product.pinned", "product.unpinned")
    ]


def advance(at: Any, capture: Any) -> int:
    with capture(execute=True):
        return virtual_host.shows_advance(now=at)


def reload(show: VirtualShow) -> VirtualShow:
    with tenant_scope(show.merchant_id):
        show.refresh_from_db()
    return show


class TestTimeline:
    def test_walks_the_timeline_in_a_loop(
        self, shop, published, django_capture_on_commit_callbacks
    ):
        t0 = timezone.now()
        show = schedule(
            shop,
            t0 + timedelta(seconds=5),
            [
                {"product": shop["tee"].pk, "caption": "Soft cotton", "seconds": 4},
                {"product": shop["hoodie"].pk, "caption": "Warm"},
            ],
        )
        assert advance(t0, django_capture_on_commit_callbacks) == 0  # not started yet
        assert advance(t0 + timedelta(seconds=5), django_capture_on_commit_callbacks) == 1
        first = pins(published)[-1]
        assert first["type"] == "product.pinned" and first["replay"] is True
        assert first["product"]["id"] == shop["tee"].pk and first["caption"] == "Soft cotton"
        assert first["product"]["price"] == 1900 and first["show"]["seconds"] == 4
        assert reload(show).running
        assert advance(t0 + timedelta(seconds=8), django_capture_on_commit_callbacks) == 0  # 4 s
        assert advance(t0 + timedelta(seconds=9), django_capture_on_commit_callbacks) == 1
        assert pins(published)[-1]["product"]["id"] == shop["hoodie"].pk
        assert advance(t0 + timedelta(seconds=19), django_capture_on_commit_callbacks) == 1  # 10 s
        again = pins(published)[-1]
        assert again["product"]["id"] == shop["tee"].pk and again["show"]["loop"] == 1

    def test_a_job_that_was_down_does_not_replay_what_it_missed(
        self, shop, published, django_capture_on_commit_callbacks
    ):
        t0 = timezone.now()
        schedule(shop, t0, [{"product": shop["tee"].pk}, {"product": shop["hoodie"].pk}])
        advance(t0, django_capture_on_commit_callbacks)
        assert advance(t0 + timedelta(hours=3), django_capture_on_commit_callbacks) == 1
        assert len(pins(published)) == 2

    def test_inactive_products_are_skipped(
        self, shop, published, django_capture_on_commit_callbacks
    ):
        t0 = timezone.now()
        schedule(shop, t0, [{"product": shop["tee"].pk}, {"product": shop["hoodie"].pk}])
        with tenant_scope(shop["tee"].merchant_id):
            Product.objects.filter(pk=shop["tee"].pk).update(is_active=False)
        advance(t0, django_capture_on_commit_callbacks)
        advance(t0 + timedelta(seconds=10), django_capture_on_commit_callbacks)
        assert [p["product"]["id"] for p in pins(published)] == [shop["hoodie"].pk] * 2

    def test_stops_at_its_end_time_and_when_switched_off(
        self, shop, published, django_capture_on_commit_callbacks
    ):
        t0 = timezone.now()
        show = schedule(
            shop,
            t0,
            [{"product": shop["tee"].pk, "seconds": 600}],
            ends_at=t0 + timedelta(seconds=30),
        )
        advance(t0, django_capture_on_commit_callbacks)
        assert advance(t0 + timedelta(seconds=31), django_capture_on_commit_callbacks) == 0
        assert pins(published)[-1] == {"type": "product.unpinned", "replay": True}
        assert not reload(show).running
        assert advance(t0 + timedelta(seconds=60), django_capture_on_commit_callbacks) == 0
        # Switched off while running.
        with django_capture_on_commit_callbacks(execute=True):
            virtual_host.show_save(actor=shop["actor"], room=shop["room"], data={"ends_at": None})
        advance(t0 + timedelta(seconds=61), django_capture_on_commit_callbacks)
        assert reload(show).running
        with django_capture_on_commit_callbacks(execute=True):
            virtual_host.show_save(
                actor=shop["actor"], room=shop["room"], data={"is_active": False}
            )
        assert not reload(show).running
        assert pins(published)[-1]["type"] == "product.unpinned"

    def test_an_empty_timeline_never_pins(
        self, shop, published, django_capture_on_commit_callbacks
    ):
        schedule(shop, timezone.now(), [])
        assert advance(timezone.now(), django_capture_on_commit_callbacks) == 0
        assert pins(published) == []


class TestWithTheAssistant:
    def test_a_new_show_turns_the_assistant_on(self, merchant, host, owner):
        room = make_room(merchant, host, [], enabled=False)
        virtual_host.show_save(
            actor=Actor(merchant=merchant, user=owner, role="owner"),
            room=room,
            data={"starts_at": timezone.now()},
        )
        from assistant.selectors import room_settings

        with tenant_scope(merchant.id):
            assert room_settings(merchant=merchant, room=room).enabled

    def test_this_one_follows_the_timeline(
        self, shop, shopper, published, django_capture_on_commit_callbacks
    ):
        t0 = timezone.now()
        room = shop["room"]
        schedule(shop, t0, [{"product": shop["hoodie"].pk}, {"product": shop["tee"].pk}])
        advance(t0, django_capture_on_commit_callbacks)
        with django_capture_on_commit_callbacks(execute=True):
            chat_observed(room=room, event=chat(room, 1, "how much is this?", shopper))
        advance(t0 + timedelta(seconds=10), django_capture_on_commit_callbacks)
        with django_capture_on_commit_callbacks(execute=True):
            chat_observed(room=room, event=chat(room, 2, "这个多少钱", shopper))
        hoodie, tee = answers(published, room)
        assert "$49.00" in hoodie["text"] and hoodie["products"][0]["id"] == shop["hoodie"].pk
        assert "$19.00" in tee["text"] and tee["products"][0]["id"] == shop["tee"].pk


class TestIsolation:
    def test_each_merchants_show_pins_its_own_products(
        self, shop, other_merchant, outsider, published, django_capture_on_commit_callbacks
    ):
        boots = ProductFactory.create(merchant=other_merchant, name="Rival boots", stock=2)
        their_room = make_room(other_merchant, outsider, [boots])
        their_actor = Actor(merchant=other_merchant, user=outsider, role="owner")
        t0 = timezone.now()
        schedule(shop, t0, [{"product": shop["tee"].pk}])
        show = virtual_host.show_save(actor=their_actor, room=their_room, data={"starts_at": t0})
        virtual_host.show_entries_set(actor=their_actor, show=show, entries=[{"product": boots.pk}])
        assert advance(t0, django_capture_on_commit_callbacks) == 2
        by_room = {key: e["product"]["id"] for key, e in published if e["type"] == "product.pinned"}
        assert by_room == {room_key(shop["room"]): shop["tee"].pk, room_key(their_room): boots.pk}

    def test_a_timeline_cannot_hold_another_merchants_product(self, shop, other_merchant):
        from django.core.exceptions import ValidationError

        boots = ProductFactory.create(merchant=other_merchant, name="Rival boots", stock=2)
        show = virtual_host.show_save(
            actor=shop["actor"], room=shop["room"], data={"starts_at": timezone.now()}
        )
        with pytest.raises(ValidationError):
            virtual_host.show_entries_set(
                actor=shop["actor"], show=show, entries=[{"product": boots.pk}]
            )

    def test_staff_without_the_permission_are_refused(self, shop, merchant, agent):
        from django.core.exceptions import PermissionDenied

        with pytest.raises(PermissionDenied):
            virtual_host.show_save(
                actor=Actor(merchant=merchant, user=agent, role="agent"),
                room=shop["room"],
                data={"starts_at": timezone.now()},
            )


def recorded(
    merchant: Any, room: Any, seconds: float = 120.0, epoch: str = "20261120T200000-abc123"
) -> Any:
    """A finished recording of `room` (issue 8's Broadcast row, as the HLS worker leaves it)."""
    from media.hls.models import Broadcast, BroadcastStatus

    with tenant_scope(merchant.id):
        return Broadcast.objects.create(
            merchant=merchant,
            room=room,
            epoch=epoch,
            record=True,
            status=BroadcastStatus.ENDED,
            segments=30,
            duration=seconds,
        )


class TestRecording:
    def test_a_recording_of_the_merchant_plays_from_its_hls_replay(self, shop):
        room = shop["room"]
        recorded(room.merchant, room)
        show = schedule(
            shop,
            timezone.now(),
            [{"product": shop["tee"].pk}],
            mode="recording",
            recording=f"{room.slug}/20261120T200000-abc123",
        )
        with tenant_scope(room.merchant_id):
            url = virtual_host.recording_source(show)
            assert virtual_host.recording_seconds(show) == 120.0
        assert url == f"/hls/{room.merchant.slug}/{room.slug}/20261120T200000-abc123/replay.m3u8"

    def test_an_external_video_url_plays_as_it_is(self, shop):
        show = schedule(
            shop,
            timezone.now(),
            [{"product": shop["tee"].pk}],
            mode="recording",
            recording="https://cdn.example/show-42.mp4",
        )
        assert virtual_host.recording_source(show) == "https://cdn.example/show-42.mp4"
        assert virtual_host.recording_seconds(show) is None
        show.mode = "slideshow"
        assert virtual_host.recording_source(show) is None

    @pytest.mark.parametrize(
        "recording", ["nope/20261120T200000-abc123", "javascript:alert(1)", "rec_42"]
    )
    def test_unknown_recordings_are_refused(self, shop, recording):
        from django.core.exceptions import ValidationError

        with pytest.raises(ValidationError) as info:
            virtual_host.show_save(
                actor=shop["actor"],
                room=shop["room"],
                data={"starts_at": timezone.now(), "mode": "recording", "recording": recording},
            )
        assert "recording" in info.value.message_dict

    def test_another_merchants_recording_is_refused(self, shop, other_merchant, outsider):
        from django.core.exceptions import ValidationError

        from tests.factories import RoomFactory

        theirs = RoomFactory.create(merchant=other_merchant, host=outsider, slug=shop["room"].slug)
        recorded(other_merchant, theirs)
        with pytest.raises(ValidationError):
            virtual_host.show_save(
                actor=shop["actor"],
                room=shop["room"],
                data={
                    "starts_at": timezone.now(),
                    "mode": "recording",
                    "recording": f"{theirs.slug}/20261120T200000-abc123",
                },
            )

    def test_pins_follow_the_moment_every_viewer_is_playing(
        self, shop, published, django_capture_on_commit_callbacks
    ):
        room = shop["room"]
        recorded(room.merchant, room, seconds=100.0)
        t0 = timezone.now()
        show = schedule(
            shop,
            t0,
            [
                {"product": shop["tee"].pk, "seconds": 30},
                {"product": shop["hoodie"].pk, "seconds": 40},
            ],
            mode="recording",
            recording=f"{room.slug}/20261120T200000-abc123",
        )
        # 45 s in: the hoodie (30–70 s), until 70 s.
        advance(t0 + timedelta(seconds=45), django_capture_on_commit_callbacks)
        pin = pins(published)[-1]
        assert pin["product"]["id"] == shop["hoodie"].pk
        assert reload(show).next_at == t0 + timedelta(seconds=70)
        # 70–100 s: the hoodie is the last entry and holds to the end of the recording.
        advance(t0 + timedelta(seconds=70), django_capture_on_commit_callbacks)
        assert pins(published)[-1]["product"]["id"] == shop["hoodie"].pk
        assert reload(show).next_at == t0 + timedelta(seconds=100)
        # The recording loops: 105 s is 5 s into the second loop, the tee.
        advance(t0 + timedelta(seconds=105), django_capture_on_commit_callbacks)
        last = pins(published)[-1]
        assert last["product"]["id"] == shop["tee"].pk and last["show"]["loop"] == 1
        with tenant_scope(room.merchant_id):
            state = virtual_host.show_state(show=reload(show))
        assert state["recording_seconds"] == 100.0 and 0 <= state["recording_offset"] < 100
