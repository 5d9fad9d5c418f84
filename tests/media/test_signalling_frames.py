"""Signalling frame validation and the per-connection budget, without a relay."""

from __future__ import annotations

import pytest

from media.signalling import FrameBudget, SignallingError, event_frame, parse_ice, parse_offer


def test_offer_needs_a_role_and_an_sdp() -> None:
    assert parse_offer({"role": "subscribe", "sdp": "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n"})[0] == (
        "subscribe"
    )
    for frame, code in [
        ({"sdp": "v=0\r\n"}, "bad_frame"),
        ({"role": "subscribe", "sdp": ""}, "sdp_invalid"),
        ({"role": "subscribe", "sdp": "v=1\r\n"}, "sdp_invalid"),
        ({"role": "subscribe", "sdp": "v=0\r\n" + "a" * 70_000}, "sdp_too_large"),
    ]:
        with pytest.raises(SignallingError) as caught:
            parse_offer(frame)
        assert caught.value.code == code


def test_ice_accepts_browser_candidates_and_end_of_candidates() -> None:
    chrome = (
        "candidate:842163049 1 udp 1677729535 203.0.113.7 46154 typ srflx raddr 0.0.0.0 rport 0"
        " generation 0 ufrag sXh3 network-cost 999"
    )
    ice = parse_ice({"candidate": chrome, "sdpMid": "0", "sdpMLineIndex": 0})
    assert (ice.candidate, ice.sdp_mid, ice.sdp_mline_index) == (chrome, "0", 0)
    # RTCIceCandidate.toJSON() sent whole
    assert parse_ice({"candidate": {"candidate": chrome, "sdpMid": "1"}}).sdp_mid == "1"
    assert parse_ice({"candidate": ""}).candidate == ""
    assert parse_ice({}).candidate == ""
    assert parse_ice({"candidate": chrome, "role": "publish"}).role == "publish"


@pytest.mark.parametrize(
    "frame",
    [
        {"candidate": "candidate:1 3 udp 1 1.2.3.4 9 typ host"},  # component 3
        {"candidate": "candidate:1 1 sctp 1 1.2.3.4 9 typ host"},
        {"candidate": "candidate:1 1 udp 1 1.2.3.4 9 typ magic"},
        {"candidate": "candidate:1 1 udp 1 1.2.3.4 9 typ host\nm=video"},
        {"candidate": 12},
        {"candidate": "", "sdpMLineIndex": True},
        {"candidate": "", "sdpMLineIndex": 64},
        {"candidate": "", "role": "admin"},
    ],
)
def test_ice_refuses_what_is_not_a_candidate(frame: dict) -> None:
    with pytest.raises(SignallingError):
        parse_ice(frame)


def test_budget_refills_and_flags_abuse() -> None:
    now = [0.0]
    budget = FrameBudget(clock=lambda: now[0])
    assert all(budget.take("offer") for _ in range(6))
    assert not budget.take("offer")
    now[0] += 10.0  # 6 per minute: one more after 10 s
    assert budget.take("offer") and not budget.take("offer")
    for _ in range(FrameBudget.ABUSE_AFTER):
        budget.take("offer")
    assert budget.abusive
    now[0] += 10.0
    assert budget.take("offer") and not budget.abusive


def test_relay_events_become_frames() -> None:
    assert event_frame({"event": "publisher.away", "identity": "user:1", "reason": "no_media"}) == {
        "type": "publisher.away",
        "identity": "user:1",
        "reason": "no_media",
    }
    assert event_frame({"event": "closed", "role": "subscribe", "reason": "failed"}) == {
        "type": "closed",
        "role": "subscribe",
        "reason": "failed",
    }
    assert event_frame({"event": "something.internal"}) is None
