"""Dashboard shell pages: owner sees them, wrong role 403, outsider 404, anonymous → login."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from liveshop.tenancy import services
from liveshop.tenancy.access import access_merchant
from liveshop.tenancy.models import ApiKey, Membership
from liveshop.tenancy.scope import tenant_scope

pytestmark = pytest.mark.django_db

PAGES = ["", "staff/", "keys/", "audit/", "settings/"]
OWNER_ONLY = {"audit/"}
ADMINISH = {"keys/", "settings/"}


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("page", PAGES)
def test_owner_sees_every_page(owner, merchant, page):
    response = client_for(owner).get(f"/dashboard/acme/{page}")
    assert response.status_code == 200
    assert b"Acme Live" in response.content


@pytest.mark.parametrize("page", PAGES)
def test_host_is_refused_admin_pages(host, merchant, page):
    response = client_for(host).get(f"/dashboard/acme/{page}")
    assert response.status_code == (403 if page in OWNER_ONLY | ADMINISH else 200)


@pytest.mark.parametrize("page", PAGES)
def test_outsider_gets_404(outsider, merchant, page):
    assert client_for(outsider).get(f"/dashboard/acme/{page}").status_code == 404


@pytest.mark.parametrize("page", PAGES)
def test_anonymous_goes_to_login(merchant, page):
    response = Client().get(f"/dashboard/acme/{page}")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/?next=")


def test_sidebar_follows_the_permission_table(host, owner, merchant):
    host_page = client_for(host).get("/dashboard/acme/").content.decode()
    owner_page = client_for(owner).get("/dashboard/acme/").content.decode()
    assert "/dashboard/acme/audit/" in owner_page and "/dashboard/acme/audit/" not in host_page
    assert "/dashboard/acme/keys/" in owner_page and "/dashboard/acme/keys/" not in host_page


def test_merchant_switcher_lists_only_my_merchants(owner, merchant, other_merchant, outsider):
    Membership.objects.create  # noqa: B018 - created below inside the merchant's scope
    with tenant_scope(other_merchant.id):
        Membership.objects.create(merchant=other_merchant, user=owner, role="agent")
    page = client_for(owner).get("/dashboard/acme/").content.decode()
    assert "Rival Co" in page
    only_one = client_for(outsider).get("/dashboard/rivalco/").content.decode()
    assert "Acme Live" not in only_one


def test_dashboard_home_redirects_to_the_only_merchant(owner, merchant):
    response = client_for(owner).get("/dashboard/")
    assert response.status_code == 302 and response["Location"] == "/dashboard/acme/"


def test_dashboard_home_without_merchant_offers_signup(shopper):
    response = client_for(shopper).get("/dashboard/")
    assert response.status_code == 200 and b"/merchants/new/" in response.content


def test_merchant_signup_page(shopper):
    client = client_for(shopper)
    bad = client.post(
        "/merchants/new/",
        {"name": "X", "slug": "Bad Slug!", "currency": "USD", "locale": "en", "timezone": "UTC"},
    )
    assert bad.status_code == 200 and b"errorlist" in bad.content
    ok = client.post(
        "/merchants/new/",
        {"name": "Fresh", "slug": "fresh", "currency": "USD", "locale": "en", "timezone": "UTC"},
    )
    assert ok.status_code == 302 and ok["Location"] == "/dashboard/fresh/"


def test_staff_page_invite_role_change_and_remove(
    owner, host, merchant, django_capture_on_commit_callbacks
):
    client = client_for(owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/dashboard/acme/staff/", {"email": "new@example.test", "role": "agent"}
        )
    assert response.status_code == 302 and len(mail.outbox) == 1
    with tenant_scope(merchant.id):
        host_m = Membership.objects.get(user=host)
    client.post(f"/dashboard/acme/staff/{host_m.id}/", {"action": "role", "role": "admin"})
    with tenant_scope(merchant.id):
        host_m.refresh_from_db()
    assert host_m.role == "admin"
    client.post(f"/dashboard/acme/staff/{host_m.id}/", {"action": "remove"})
    with tenant_scope(merchant.id):
        assert not Membership.objects.filter(pk=host_m.id).exists()


def test_staff_page_post_refused_for_host(host, owner, merchant):
    with tenant_scope(merchant.id):
        owner_m = Membership.objects.get(user=owner)
    client = client_for(host)
    assert (
        client.post(
            "/dashboard/acme/staff/", {"email": "x@example.test", "role": "agent"}
        ).status_code
        == 403
    )
    assert (
        client.post(f"/dashboard/acme/staff/{owner_m.id}/", {"action": "remove"}).status_code == 403
    )


def test_invite_link_page_accept(owner, merchant, shopper, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.invite_create(
            actor=access_merchant(principal=owner, slug="acme"), email=shopper.email, role="agent"
        )
    link = re.search(r"http://\S+/invites/acme/\S+/", mail.outbox[0].body).group(0)
    path = link.split("8000", 1)[1]
    anonymous = Client().get(path)
    assert anonymous.status_code == 200 and b"Log in to accept" in anonymous.content
    client = client_for(shopper)
    accepted = client.post(path)
    assert accepted.status_code == 302 and accepted["Location"] == "/dashboard/acme/"
    assert Client().get(path).status_code == 410


def test_api_keys_page_shows_key_once_and_revokes(owner, merchant):
    client = client_for(owner)
    response = client.post(
        "/dashboard/acme/keys/", {"name": "Shopify sync", "scopes": ["orders:read"]}, follow=True
    )
    raw = re.search(rb"lsk_[A-Za-z0-9_\-]+", response.content).group(0).decode()
    with tenant_scope(merchant.id):
        key = ApiKey.objects.get()
    assert key.prefix == raw[:12]
    assert raw.encode() not in client.get("/dashboard/acme/keys/").content
    client.post(f"/dashboard/acme/keys/{key.id}/revoke/")
    with tenant_scope(merchant.id):
        key.refresh_from_db()
    assert key.revoked_at is not None


def test_settings_page_saves_and_validates(owner, merchant):
    client = client_for(owner)
    data = {
        "name": "New Name",
        "currency": "EUR",
        "locale": "zh-hans",
        "timezone": "Asia/Shanghai",
        "allowed_origins": "https://shop.example\n",
    }
    assert client.post("/dashboard/acme/settings/", data).status_code == 302
    merchant.refresh_from_db()
    assert (merchant.name, merchant.currency, merchant.allowed_origins) == (
        "New Name",
        "EUR",
        ["https://shop.example"],
    )
    bad = client.post("/dashboard/acme/settings/", {**data, "allowed_origins": "not an origin"})
    assert bad.status_code == 200 and b"errorlist" in bad.content


def test_audit_page_lists_changes(owner, merchant):
    client = client_for(owner)
    client.post(
        "/dashboard/acme/settings/",
        {
            "name": "Audit Me",
            "currency": "USD",
            "locale": "en",
            "timezone": "UTC",
            "allowed_origins": "",
        },
    )
    page = client.get("/dashboard/acme/audit/?action=merchant")
    assert b"merchant.updated" in page.content and b"owner@acme.test" in page.content
