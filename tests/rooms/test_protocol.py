import pytest
from jsonschema import Draft202012Validator

from rooms.protocol import CLIENT_FRAMES, EVENTS, SERVER_FRAMES, client_frame_problem, is_foldable

VALID = [
    {"type": "auth", "token": "lst_abc"},
    {"type": "chat.send", "text": "有红色吗", "nonce": "n1"},
    {"type": "like", "count": 3},
    {"type": "gift.send", "gift": "rose", "nonce": "g1"},
    {"type": "gift.send", "gift": "rose", "count": 5, "nonce": "g2"},
    {"type": "pin", "product": 7},
    {"type": "unpin"},
    {"type": "moderate", "action": "mute", "user": 3, "seconds": 600},
    {"type": "moderate", "action": "delete", "seq": 42},
    {"type": "flash_sale.start", "product": 1, "price": 990, "units": 50, "duration_s": 60},
]

INVALID = [
    ({"type": "chat.send", "text": "", "nonce": "n"}, "invalid"),
    ({"type": "chat.send", "text": "x" * 301, "nonce": "n"}, "invalid"),
    ({"type": "chat.send", "text": "hi"}, "invalid"),
    ({"type": "chat.send", "text": 5, "nonce": "n"}, "invalid"),
    ({"type": "chat.send", "text": "hi", "nonce": "n", "extra": 1}, "invalid"),
    ({"type": "like", "count": 0}, "invalid"),
    ({"type": "like", "count": 51}, "invalid"),
    ({"type": "gift.send", "gift": "rose"}, "invalid"),
    ({"type": "pin", "product": "seven"}, "invalid"),
    ({"type": "moderate", "action": "nuke"}, "invalid"),
    (
        {"type": "flash_sale.start", "product": 1, "price": 1, "units": 1, "duration_s": 5},
        "invalid",
    ),
    (
        {"type": "flash_sale.start", "product": 1, "price": -1, "units": 1, "duration_s": 60},
        "invalid",
    ),
    ({"type": "dance"}, "unknown_type"),
]


@pytest.mark.parametrize("frame", VALID)
def test_valid_frames(frame):
    assert client_frame_problem(frame) is None


@pytest.mark.parametrize(("frame", "code"), INVALID)
def test_invalid_frames_name_the_problem(frame, code):
    problem = client_frame_problem(frame)
    assert problem is not None and problem[0] == code and problem[1]


def test_every_schema_is_a_valid_json_schema():
    for schema in [*CLIENT_FRAMES.values(), *EVENTS.values(), *SERVER_FRAMES.values()]:
        Draft202012Validator.check_schema(schema)


def test_only_chat_is_foldable():
    assert [t for t in EVENTS if is_foldable(t)] == ["chat.message"]
