"""The token API of the contract: register, token, revoke, me."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from liveshop.accounts.models import AuthToken, User
from tests.conftest import error_code

pytestmark = pytest.mark.django_db


def test_register_returns_a_token_that_authenticates(api):
    response = api().post(
        "/api/v1/auth/register",
        {"email": "New@Example.test", "password": "s3cret-pass!", "display_name": "New"},
        format="json",
    )
    assert response.status_code == 201
    token = response.json()["token"]
    assert token.startswith("lst_")
    me = api().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert me.status_code == 200
    assert me.json()["email"] == "new@example.test"


def test_token_is_stored_hashed(api):
    response = api().post(
        "/api/v1/auth/register",
        {"email": "h@example.test", "password": "s3cret-pass!", "display_name": "H"},
        format="json",
    )
    raw = response.json()["token"]
    stored = AuthToken.objects.get()
    assert raw not in (stored.key_hash, stored.prefix) and len(stored.key_hash) == 64


def test_register_rejects_taken_email_and_weak_password(api, shopper):
    taken = api().post(
        "/api/v1/auth/register",
        {"email": shopper.email.upper(), "password": "s3cret-pass!", "display_name": "X"},
        format="json",
    )
    assert taken.status_code == 400
    assert "email" in taken.json()["error"]["fields"]
    weak = api().post(
        "/api/v1/auth/register",
        {"email": "w@example.test", "password": "12345678", "display_name": "W"},
        format="json",
    )
    assert weak.status_code == 400
    assert "password" in weak.json()["error"]["fields"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"email": "not-an-email", "password": "s3cret-pass!", "display_name": "X"},
        {"email": ["a@b.c"], "password": 1, "display_name": None},
        {"email": "a@example.test", "password": "s3cret-pass!", "display_name": "x" * 10_000},
    ],
)
def test_register_bad_input_gets_the_error_envelope(api, body):
    response = api().post("/api/v1/auth/register", body, format="json")
    assert response.status_code == 400
    assert error_code(response) == "invalid"
    assert response.json()["error"]["message"]


def test_register_non_json_body(api):
    response = api().post("/api/v1/auth/register", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert error_code(response) == "parse_error"


def test_token_login_and_wrong_password(api, shopper, password):
    ok = api().post(
        "/api/v1/auth/token", {"email": shopper.email, "password": password}, format="json"
    )
    assert ok.status_code == 200 and ok.json()["token"].startswith("lst_")
    bad = api().post(
        "/api/v1/auth/token", {"email": shopper.email, "password": "nope-nope"}, format="json"
    )
    assert bad.status_code == 401
    assert error_code(bad) == "authentication_failed"


def test_revoke_token(api, shopper, password):
    raw = (
        api()
        .post("/api/v1/auth/token", {"email": shopper.email, "password": password}, format="json")
        .json()["token"]
    )
    client = api()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.delete("/api/v1/auth/token").status_code == 204
    after = client.get("/api/v1/me")
    assert after.status_code == 401


def test_expired_token_is_refused(api, shopper):
    client = api(shopper)
    AuthToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get("/api/v1/me").status_code == 401


def test_inactive_user_token_is_refused(api, shopper):
    client = api(shopper)
    User.objects.filter(pk=shopper.pk).update(is_active=False)
    assert client.get("/api/v1/me").status_code == 401


@pytest.mark.parametrize(
    "header", ["Bearer", "Bearer a b", "Bearer lst_nope", "Bearer lsk_nope", "Bearer " + "x" * 5000]
)
def test_bad_credentials_are_401(api, header):
    response = api().get("/api/v1/me", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response.json()["error"]["code"] in ("authentication_failed", "not_authenticated")


def test_anonymous_is_401(api):
    response = api().get("/api/v1/me")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"


def test_delete_token_without_token_is_401(api):
    assert api().delete("/api/v1/auth/token").status_code == 401


def test_auth_is_throttled_per_ip(api, settings, shopper):
    settings.LIVESHOP_THROTTLES = {**settings.LIVESHOP_THROTTLES, "auth": "3/min"}
    client = api()
    codes = [
        client.post(
            "/api/v1/auth/token", {"email": shopper.email, "password": "wrong-one"}, format="json"
        ).status_code
        for _ in range(5)
    ]
    assert codes[:3] == [401, 401, 401]
    assert codes[3:] == [429, 429]
    response = client.post(
        "/api/v1/auth/token", {"email": shopper.email, "password": "wrong-one"}, format="json"
    )
    assert error_code(response) == "throttled"
    assert int(response["Retry-After"]) >= 1


def test_register_is_throttled(api, settings):
    settings.LIVESHOP_THROTTLES = {**settings.LIVESHOP_THROTTLES, "register": "2/min"}
    codes = [
        api()
        .post(
            "/api/v1/auth/register",
            {"email": f"r{i}@example.test", "password": "s3cret-pass!", "display_name": "R"},
            format="json",
        )
        .status_code
        for i in range(3)
    ]
    assert codes == [201, 201, 429]


def test_user_rate_is_per_account(api, settings, shopper, owner):
    settings.LIVESHOP_THROTTLES = {**settings.LIVESHOP_THROTTLES, "user": "2/min"}
    one, two = api(shopper), api(owner)
    assert [one.get("/api/v1/me").status_code for _ in range(3)] == [200, 200, 429]
    assert two.get("/api/v1/me").status_code == 200  # another account is not affected


def test_purge_expired_tokens(shopper):
    from liveshop.accounts.services import token_issue, tokens_purge_expired

    token, _ = token_issue(user=shopper)
    AuthToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(days=2))
    live, _ = token_issue(user=shopper)
    assert tokens_purge_expired() == 1
    assert list(AuthToken.objects.values_list("pk", flat=True)) == [live.pk]


def test_nul_characters_are_refused_at_the_edge(api, shopper):
    # Found by the API fuzzer: Postgres cannot store NUL; it must be a 400, never a 500.
    client = api(shopper)
    assert client.get("/api/v1/me?q=a%00b").status_code == 400
    body = client.post(
        "/api/v1/auth/register",
        {"email": "n@example.test", "password": "s3cret-pass!", "display_name": "a\x00b"},
        format="json",
    )
    assert body.status_code == 400 and body.json()["error"]["code"] == "parse_error"
