"""Sign-up, login, logout, password reset, landing and storefront shell pages."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from liveshop.accounts.models import User

pytestmark = pytest.mark.django_db


def test_landing_links_demo_and_dashboard(merchant):
    response = Client().get("/")
    assert response.status_code == 200
    assert b"/dashboard/" in response.content and b"/api/docs/" in response.content


def test_signup_logs_in_and_follows_next():
    client = Client()
    response = client.post(
        "/accounts/signup/?next=/merchants/new/",
        {
            "email": "A@Example.test",
            "display_name": "A",
            "password": "s3cret-pass!",
            "locale": "en",
            "next": "/merchants/new/",
        },
    )
    assert response.status_code == 302 and response["Location"] == "/merchants/new/"
    assert User.objects.get().email == "a@example.test"
    assert client.get("/merchants/new/").status_code == 200


def test_signup_refuses_open_redirect_and_weak_password():
    client = Client()
    ok = client.post(
        "/accounts/signup/",
        {
            "email": "b@example.test",
            "display_name": "B",
            "password": "s3cret-pass!",
            "locale": "en",
            "next": "https://evil.example/",
        },
    )
    assert ok["Location"] == "/"
    weak = Client().post(
        "/accounts/signup/",
        {"email": "c@example.test", "display_name": "C", "password": "password", "locale": "en"},
    )
    assert weak.status_code == 200 and b"errorlist" in weak.content


def test_login_and_logout(shopper, password):
    client = Client()
    bad = client.post("/accounts/login/", {"username": shopper.email, "password": "wrong"})
    assert bad.status_code == 200 and b"Email or password is wrong" in bad.content
    ok = client.post("/accounts/login/", {"username": shopper.email.upper(), "password": password})
    assert ok.status_code == 302
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/dashboard/").status_code == 302


def test_password_reset_by_email(shopper):
    client = Client()
    client.post("/accounts/password-reset/", {"email": shopper.email})
    assert len(mail.outbox) == 1
    path = re.search(r"http://[^/]+(/accounts/reset/\S+/)", mail.outbox[0].body).group(1)
    form = client.get(path, follow=True)
    assert form.status_code == 200
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "brand-new-pass-9", "new_password2": "brand-new-pass-9"},
    )
    assert done.status_code == 302
    shopper.refresh_from_db()
    assert shopper.check_password("brand-new-pass-9")


def test_storefront_shell_and_unknown_merchant(merchant):
    assert Client().get("/s/acme/").status_code == 200
    assert Client().get("/s/nope/").status_code == 404


def test_language_switch_to_chinese(merchant):
    client = Client()
    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    assert client.get("/").status_code == 200


def test_healthz():
    assert Client().get("/healthz").json()["ok"] is True


def test_api_docs_and_schema():
    assert Client().get("/api/docs/").status_code == 200
    schema = Client().get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
