"""ICE servers for pages and encoders: coturn REST credentials (`use-auth-secret`), settings
checks, and WHIP Link headers."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from django.test import override_settings

from media.ice import anonymous_key, check_ice_settings, ice_servers, link_headers, turn_credential


def test_turn_credential_is_coturns_rest_scheme() -> None:
    username, credential = turn_credential(secret="s3cret", user_key="42", expires_at=1767225600)
    assert username == "1767225600:42"
    digest = hmac.new(b"s3cret", b"1767225600:42", hashlib.sha1).digest()
    assert credential == base64.b64encode(digest).decode()


@pytest.mark.parametrize("user_key", ["", "a b", "x" * 65, "42:43", "é"])
def test_turn_credential_refuses_odd_user_keys(user_key: str) -> None:
    with pytest.raises(ValueError):
        turn_credential(secret="s", user_key=user_key, expires_at=1)


def test_turn_credential_needs_a_secret() -> None:
    with pytest.raises(ValueError):
        turn_credential(secret="", user_key="42", expires_at=1)


def test_no_servers_by_default() -> None:
    assert ice_servers(user_key="42") == []  # and aiortc/browsers add no public STUN then


@override_settings(
    LIVESHOP_ICE_STUN_URLS=["stun:stun.example.net:3478"],
    LIVESHOP_ICE_TURN_URLS=["turn:turn.example.net:3478", "turns:turn.example.net:5349"],
    LIVESHOP_ICE_TURN_SECRET="s3cret",
    LIVESHOP_ICE_TURN_TTL=600,
)
def test_servers_carry_a_fresh_expiring_credential_per_user() -> None:
    servers = ice_servers(user_key="42", now=1000.0)
    assert servers[0] == {"urls": ["stun:stun.example.net:3478"]}
    turn = servers[1]
    assert turn["urls"] == ["turn:turn.example.net:3478", "turns:turn.example.net:5349"]
    assert turn["username"] == "1600:42"
    assert turn["credential"] == turn_credential(secret="s3cret", user_key="42", expires_at=1600)[1]
    other = ice_servers(user_key="43", now=1000.0)[1]
    assert other["credential"] != turn["credential"]
    assert "s3cret" not in str(servers)
    links = link_headers(servers)
    assert links[0] == '<stun:stun.example.net:3478>; rel="ice-server"'
    assert links[2].startswith(
        '<turns:turn.example.net:5349>; rel="ice-server"; username="1600:42"'
    )
    assert links[2].endswith('; credential-type="password"')


def test_anonymous_keys_differ() -> None:
    assert anonymous_key() != anonymous_key()
    assert turn_credential(secret="s", user_key=anonymous_key(), expires_at=1)


@override_settings(LIVESHOP_ICE_TURN_URLS=["turn:t.example.net"], LIVESHOP_ICE_TURN_SECRET="")
def test_check_refuses_turn_without_a_secret() -> None:
    assert [e.id for e in check_ice_settings(None)] == ["media.E002"]


@override_settings(LIVESHOP_ICE_STUN_URLS=["http://stun.example.net"], LIVESHOP_ICE_TURN_TTL=5)
def test_check_refuses_bad_urls_and_short_ttls() -> None:
    assert [e.id for e in check_ice_settings(None)] == ["media.E001", "media.E003"]
