"""Merchant-side tenancy API: owner works, wrong role 403, outsider 404, anonymous 401."""

from __future__ import annotations

import pytest

from liveshop.tenancy import services
from liveshop.tenancy.access import access_merchant
from liveshop.tenancy.models import Membership
from liveshop.tenancy.scope import tenant_scope
from tests.conftest import error_code
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def membership_id(merchant, user) -> int:
    with tenant_scope(merchant.id):
        return Membership.objects.get(merchant=merchant, user=user).pk


def test_merchant_list_shows_only_my_merchants(api, owner, outsider, merchant):
    response = api(owner).get("/api/v1/merchants")
    assert response.status_code == 200
    body = response.json()
    assert {"count", "next", "previous", "results"} <= set(body)
    assert [m["slug"] for m in body["results"]] == ["acme"]


def test_merchant_signup_via_api(api, shopper):
    response = api(shopper).post(
        "/api/v1/merchants", {"slug": "my-shop", "name": "My Shop"}, format="json"
    )
    assert response.status_code == 201 and response.json()["slug"] == "my-shop"
    again = api(shopper).post(
        "/api/v1/merchants", {"slug": "my-shop", "name": "Again"}, format="json"
    )
    assert again.status_code == 400 and "slug" in again.json()["error"]["fields"]


def test_merchant_detail_and_settings(api, owner, host, outsider, merchant):
    assert api(owner).get("/api/v1/merchants/acme").json()["name"] == "Acme Live"
    assert api(host).get("/api/v1/merchants/acme").status_code == 200
    patched = api(owner).patch(
        "/api/v1/merchants/acme",
        {"name": "Renamed", "allowed_origins": ["https://x.example"]},
        format="json",
    )
    assert patched.status_code == 200 and patched.json()["allowed_origins"] == ["https://x.example"]
    assert (
        api(host).patch("/api/v1/merchants/acme", {"name": "Nope"}, format="json").status_code
        == 403
    )
    assert api(outsider).get("/api/v1/merchants/acme").status_code == 404
    assert (
        api(outsider).patch("/api/v1/merchants/acme", {"name": "x"}, format="json").status_code
        == 404
    )
    assert api().get("/api/v1/merchants/acme").status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {"currency": "XXX"},
        {"timezone": "Nowhere/City"},
        {"allowed_origins": "https://a"},
        {"allowed_origins": ["ftp://a"]},
        {"name": "x" * 500},
    ],
)
def test_settings_bad_input_is_400(api, owner, merchant, body):
    response = api(owner).patch("/api/v1/merchants/acme", body, format="json")
    assert response.status_code == 400 and error_code(response) == "invalid"


def test_outsider_gets_404_for_every_method_even_unsupported(api, outsider, merchant):
    client = api(outsider)
    for method in ("get", "post", "put", "patch", "delete"):
        response = getattr(client, method)("/api/v1/merchants/acme/audit-log", {}, format="json")
        assert response.status_code == 404, method
        assert error_code(response) == "not_found"


def test_unknown_merchant_is_404(api, owner, merchant):
    assert api(owner).get("/api/v1/merchants/nope/staff").status_code == 404


def test_staff_list_and_role_change(api, owner, host, admin, merchant):
    staff = api(host).get("/api/v1/merchants/acme/staff").json()["results"]
    assert {s["email"] for s in staff} == {"owner@acme.test", "host@acme.test", "admin@acme.test"}
    url = f"/api/v1/merchants/acme/staff/{membership_id(merchant, host)}"
    assert api(host).patch(url, {"role": "agent"}, format="json").status_code == 403
    response = api(admin).patch(url, {"role": "agent"}, format="json")
    assert response.status_code == 200 and response.json()["role"] == "agent"
    assert api(admin).patch(url, {"role": "wizard"}, format="json").status_code == 400
    owner_url = f"/api/v1/merchants/acme/staff/{membership_id(merchant, owner)}"
    last_owner = api(owner).patch(owner_url, {"role": "admin"}, format="json")
    assert last_owner.status_code == 409 and error_code(last_owner) == "last_owner"
    assert api(owner).delete(url).status_code == 204


def test_staff_of_another_merchant_is_404(api, owner, outsider, other_merchant, merchant):
    foreign = membership_id(other_merchant, outsider)
    assert api(owner).get(f"/api/v1/merchants/acme/staff/{foreign}").status_code == 404
    assert api(owner).delete(f"/api/v1/merchants/acme/staff/{foreign}").status_code == 404


def test_invites_api(api, owner, host, merchant):
    created = api(owner).post(
        "/api/v1/merchants/acme/invites",
        {"email": "n@example.test", "role": "agent"},
        format="json",
    )
    assert created.status_code == 201 and created.json()["status"] == "pending"
    assert api(owner).get("/api/v1/merchants/acme/invites").json()["count"] == 1
    assert api(host).get("/api/v1/merchants/acme/invites").status_code == 403
    assert (
        api(owner)
        .post("/api/v1/merchants/acme/invites", {"email": "bad", "role": "agent"}, format="json")
        .status_code
        == 400
    )
    assert (
        api(owner).delete(f"/api/v1/merchants/acme/invites/{created.json()['id']}").status_code
        == 204
    )
    assert api(owner).delete("/api/v1/merchants/acme/invites/999999").status_code == 404


def test_api_keys_api_and_key_authentication(api, owner, host, merchant, other_merchant):
    created = api(owner).post(
        "/api/v1/merchants/acme/api-keys",
        {"name": "ERP", "scopes": ["products:read"]},
        format="json",
    )
    assert created.status_code == 201
    raw = created.json()["key"]
    assert raw.startswith("lsk_")
    listed = api(owner).get("/api/v1/merchants/acme/api-keys").json()["results"]
    assert "key" not in listed[0] and listed[0]["prefix"] == raw[:12]
    keyed = api(key=raw)
    assert keyed.get("/api/v1/merchants/acme").status_code == 200
    # a key acts only inside its own merchant, and only within its scopes
    assert keyed.get(f"/api/v1/merchants/{other_merchant.slug}").status_code == 404
    assert keyed.get("/api/v1/merchants/acme/api-keys").status_code == 403
    assert keyed.patch("/api/v1/merchants/acme", {"name": "x"}, format="json").status_code == 403
    assert keyed.get("/api/v1/me").status_code == 403
    assert (
        api(host)
        .post(
            "/api/v1/merchants/acme/api-keys",
            {"name": "x", "scopes": ["products:read"]},
            format="json",
        )
        .status_code
        == 403
    )
    bad = api(owner).post(
        "/api/v1/merchants/acme/api-keys", {"name": "x", "scopes": ["root"]}, format="json"
    )
    assert bad.status_code == 400
    assert (
        api(owner).delete(f"/api/v1/merchants/acme/api-keys/{created.json()['id']}").status_code
        == 204
    )
    assert keyed.get("/api/v1/merchants/acme").status_code == 401


def test_api_key_is_throttled_at_its_plan_rate(api, owner, merchant):
    merchant.plan.api_rate_per_min = 2
    merchant.plan.save()
    actor = access_merchant(principal=owner, slug="acme")
    _key, raw = services.api_key_create(actor=actor, name="k", scopes=["products:read"])
    client = api(key=raw)
    assert [client.get("/api/v1/merchants/acme").status_code for _ in range(3)] == [200, 200, 429]


def test_audit_log_is_owner_only(api, owner, admin, merchant):
    api(owner).patch("/api/v1/merchants/acme", {"name": "Audited"}, format="json")
    log = api(owner).get("/api/v1/merchants/acme/audit-log")
    assert log.status_code == 200
    assert log.json()["results"][0]["action"] == "merchant.updated"
    assert log.json()["results"][0]["actor"] == "owner@acme.test"
    filtered = api(owner).get("/api/v1/merchants/acme/audit-log?action=staff.")
    assert filtered.json()["count"] == 0
    assert api(admin).get("/api/v1/merchants/acme/audit-log").status_code == 403


def test_failed_request_writes_nothing(api, owner, merchant):
    # An invalid settings change must not leave a half-applied change or an audit line.
    response = api(owner).patch(
        "/api/v1/merchants/acme", {"name": "Fine", "timezone": "Bad/Zone"}, format="json"
    )
    assert response.status_code == 400
    merchant.refresh_from_db()
    assert merchant.name == "Acme Live"


def test_unknown_api_path_is_json_404(api, owner):
    response = api(owner).get("/api/v1/nothing-here")
    assert response.status_code == 404 and error_code(response) == "not_found"


def test_huge_body_is_refused(api, owner, merchant):
    response = api(owner).patch("/api/v1/merchants/acme", {"name": "x" * 300_000}, format="json")
    assert response.status_code == 413 and error_code(response) == "too_large"


def test_a_merchant_view_lists_only_its_merchants_rows_by_default(merchant, other_merchant):
    """MerchantAPIView.merchant_queryset without an override: the view's model, filtered by
    the URL's merchant; a view without a queryset says so instead of listing anything."""
    from django.core.exceptions import ImproperlyConfigured

    from commerce.models import Product
    from liveshop.api.views import MerchantAPIView
    from tests.factories import ProductFactory

    mine = ProductFactory(merchant=merchant)
    ProductFactory(merchant=other_merchant)

    class Products(MerchantAPIView):
        queryset = Product.objects.none()

    view = Products()
    view.actor = access_merchant(
        principal=MembershipFactory(merchant=merchant, role="owner").user, slug=merchant.slug
    )
    with tenant_scope(merchant.id):
        assert list(view.get_queryset()) == [mine]

    class Nothing(MerchantAPIView):
        pass

    nothing = Nothing()
    nothing.actor = view.actor
    with pytest.raises(ImproperlyConfigured):
        nothing.get_queryset()
