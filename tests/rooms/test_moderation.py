"""Moderation tools (rooms/moderation.py below `# --- tools`, rooms/textfilter.py): keyword
lists in Chinese and English with their evasions, merchant settings, slow mode, timed
mutes, bans per room or merchant, room moderators."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from liveshop.errors import Conflict, DomainError
from liveshop.tenancy.access import Actor
from liveshop.tenancy.scope import tenant_scope
from rooms import moderation
from rooms.models import Restriction, RoomStatus
from rooms.textfilter import custom_filter, keyword_filter, latin_words
from tests.commerce.conftest import refused
from tests.factories import RoomFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh() -> None:
    cache.clear()
    moderation.chat_rules_forget()


@pytest.fixture
def published(monkeypatch: Any) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(moderation, "publish", lambda room, ev: calls.append(dict(ev)))
    return calls


@pytest.fixture
def room(merchant: Any, host: Any) -> Any:
    return RoomFactory.create(merchant=merchant, host=host, slug="show", status=RoomStatus.LIVE)


def owner_actor(owner: Any, merchant: Any) -> Actor:
    return Actor(merchant=merchant, user=owner, role="owner")


class TestKeywordFilter:
    @pytest.mark.parametrize(
        "text",
        [
            "bullshit",  # at a word's end
            "fucking great",  # at a word's start
            "sh1t",  # digits for letters
            "$hit happens",
            "f-u-c-k-ing",  # spelled out, then a suffix
            "Ｆ　Ｕ　Ｃ　Ｋ",  # full-width letters and spaces
            "傻x逼",  # a Latin letter slipped between ideographs
            "傻1逼",
            "草 泥 马",
            "加ｖｘ",
        ],
    )
    def test_evasions_are_caught(self, text):
        assert keyword_filter().find(text) is not None, text

    @pytest.mark.parametrize(
        "text",
        [
            "Scunthorpe is a town",
            "classic assistant",
            "shitake? no: shiitake",
            "代表团",
            "有 M 码吗",
        ],
    )
    def test_words_inside_other_words_pass(self, text):
        found = keyword_filter().find(text)
        assert found is None or text.startswith("shitake"), (text, found)

    def test_latin_words_joins_spelled_out_letters(self):
        assert latin_words("F.U.C.K you, s h i t") == ["fuck", "you", "shit"]

    def test_a_merchant_without_the_defaults(self):
        only = custom_filter(["competitor"])
        assert only.find("fuck") is None
        assert only.find("c o m p e t i t o r") == "competitor"


class TestSettings:
    def test_saved_words_and_slow_mode_apply_to_chat(self, merchant, owner, room, shopper):
        moderation.moderation_settings_save(
            actor=owner_actor(owner, merchant), keywords="竞品店\n  cheaper \n", slow_mode_s=20
        )
        with refused(DomainError) as info:
            moderation.chat_filter(room=room, text="去竞 品店看看", user=shopper)
        assert info.value.code == "blocked"
        assert moderation.chat_filter(room=room, text="好看", user=shopper) == "好看"
        with refused(DomainError) as info:
            moderation.chat_filter(room=room, text="again", user=shopper)
        assert info.value.code == "slow_mode"

    @pytest.mark.parametrize(
        ("keywords", "slow"),
        [("x", 0), ("a" * 41, 0), ("ok\n" * 2, -1), ("ok", 601), (None, 0), ("ok", "5")],
    )
    def test_bad_settings(self, merchant, owner, keywords, slow):
        with refused(ValidationError):
            moderation.moderation_settings_save(
                actor=owner_actor(owner, merchant), keywords=keywords, slow_mode_s=slow
            )

    def test_only_owners_and_admins_save(self, merchant, host):
        with refused(Exception):
            moderation.moderation_settings_save(
                actor=Actor(merchant=merchant, user=host, role="host"), keywords="", slow_mode_s=0
            )


class TestSlowMode:
    def test_room_slow_mode_spaces_shoppers_and_exempts_staff(self, room, host, shopper):
        moderation.slow_mode_set(room=room, seconds=30, by=host)
        moderation.chat_filter(room=room, text="one", user=shopper)
        with refused(DomainError):
            moderation.chat_filter(room=room, text="two", user=shopper)
        for text in ("a", "b", "c"):
            moderation.chat_filter(room=room, text=text, user=host)
        moderation.slow_mode_set(room=room, seconds=0, by=host)
        cache.clear()
        moderation.chat_filter(room=room, text="three", user=shopper)

    @pytest.mark.parametrize("seconds", [-1, 601, "10", True])
    def test_bad_values(self, room, host, seconds):
        with pytest.raises(ValidationError):
            moderation.slow_mode_set(room=room, seconds=seconds, by=host)


class TestRestrictions:
    def test_a_timed_mute_expires(self, room, host, shopper, published):
        moderation.restrict(room=room, target_id=shopper.pk, kind="mute", seconds=60, by=host)
        assert moderation.write_refusal(room=room, user=shopper)[0] == "muted"
        assert published[0]["type"] == "moderation.muted" and published[0]["until"] is not None
        with tenant_scope(room.merchant_id):
            Restriction.objects.update(until=timezone.now() - timedelta(seconds=1))
        assert moderation.write_refusal(room=room, user=shopper) is None

    def test_a_merchant_wide_ban_reaches_every_room(self, merchant, room, host, shopper):
        other = RoomFactory.create(merchant=merchant, host=host, status=RoomStatus.LIVE)
        moderation.restrict(room=room, target_id=shopper.pk, kind="ban", scope="merchant", by=host)
        assert moderation.write_refusal(room=other, user=shopper)[0] == "banned"
        assert moderation.unrestrict(
            room=room, target_id=shopper.pk, kind="ban", scope="merchant", by=host
        )
        assert moderation.write_refusal(room=other, user=shopper) is None

    def test_a_room_mute_stays_in_its_room(self, merchant, room, host, shopper):
        other = RoomFactory.create(merchant=merchant, host=host, status=RoomStatus.LIVE)
        moderation.restrict(room=room, target_id=shopper.pk, kind="mute", by=host)
        assert moderation.write_refusal(room=other, user=shopper) is None

    def test_staff_and_self_are_not_targets(self, room, host, owner, shopper):
        with refused(Conflict):
            moderation.restrict(room=room, target_id=owner.pk, kind="mute", by=host)
        with refused(ValidationError):
            moderation.restrict(room=room, target_id=shopper.pk, kind="mute", by=shopper)
        with refused(ValidationError):
            moderation.restrict(room=room, target_id=10**9, kind="mute", by=host)


class TestModerators:
    def test_promoted_for_one_room(self, merchant, owner, room, host, shopper):
        other = RoomFactory.create(merchant=merchant, host=host, status=RoomStatus.LIVE)
        moderation.moderator_promote(
            actor=owner_actor(owner, merchant), room=room, user_id=shopper.pk
        )
        assert moderation.is_room_moderator(room=room, user=shopper)
        assert not moderation.is_room_moderator(room=other, user=shopper)
        troll, fellow = UserFactory.create(), UserFactory.create()
        moderation.moderate(
            actor=None,
            user=shopper,
            room=room,
            frame={"action": "mute", "user": troll.pk, "seconds": 30},
        )
        moderation.moderator_promote(
            actor=owner_actor(owner, merchant), room=room, user_id=fellow.pk
        )
        with refused(Conflict):  # moderators do not mute each other
            moderation.restrict(room=room, target_id=fellow.pk, kind="mute", by=shopper)
        with refused(PermissionDenied):
            moderation.moderate(
                actor=None, user=shopper, room=room, frame={"action": "ban", "user": troll.pk}
            )
        assert moderation.moderator_demote(
            actor=owner_actor(owner, merchant), room=room, user_id=shopper.pk
        )
        assert not moderation.is_room_moderator(room=room, user=shopper)

    def test_another_merchants_staff_cannot_promote_here(
        self, other_merchant, outsider, room, shopper
    ):
        with refused(Exception):
            moderation.moderator_promote(
                actor=owner_actor(outsider, other_merchant), room=room, user_id=shopper.pk
            )
