"""Catalog: products with variants and stock, through services and the merchant API."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from commerce import services
from commerce.models import Product
from liveshop.errors import Conflict
from liveshop.tenancy.scope import tenant_scope
from tests.commerce.conftest import actor_for, refused, stock_of, variants_of
from tests.conftest import error_code
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db


def products_url(slug: str = "acme") -> str:
    return f"/api/v1/merchants/{slug}/products"


class TestServices:
    def test_name_price_stock_makes_one_default_variant(self, merchant, owner):
        product = services.product_create(
            actor=actor_for(owner, merchant, "owner"),
            data={"name": "Mug", "price": 1500},
            stock=7,
        )
        [variant] = variants_of(product)
        assert variant.stock == 7 and variant.options == {} and variant.price is None

    def test_variants_with_own_prices_and_stock(self, merchant, owner):
        product = services.product_create(
            actor=actor_for(owner, merchant, "owner"),
            data={"name": "Tee", "price": 1900, "sku": "TEE"},
            variants=[
                {"options": {"color": "red", "size": "S"}, "stock": 3, "sku": "TEE-R-S"},
                {"options": {"color": "red", "size": "M"}, "stock": 0, "price": 2100},
            ],
        )
        small, medium = variants_of(product)
        assert (small.label, small.stock, small.effective_price(product)) == ("red / S", 3, 1900)
        assert medium.effective_price(product) == 2100

    @pytest.mark.parametrize(
        "data, stock, field",
        [
            ({"name": "", "price": 100}, 1, "name"),
            ({"name": "X"}, 1, "price"),
            ({"name": "X", "price": -1}, 1, "price"),
            ({"name": "X", "price": 10**15}, 1, "price"),
            ({"name": "X", "price": "12.50"}, 1, "price"),
            ({"name": "X", "price": True}, 1, "price"),
            ({"name": "X", "price": 100}, -5, "stock"),
            ({"name": "X", "price": 100}, 10**9, "stock"),
            ({"name": "X", "price": 100, "images": ["javascript:alert(1)"]}, 1, "images"),
            ({"name": "X", "price": 100, "colour": "red"}, 1, "colour"),
            ({"name": "X" * 201, "price": 100}, 1, "name"),
        ],
    )
    def test_bad_input_names_the_field(self, merchant, owner, data, stock, field):
        with refused(ValidationError) as exc:
            services.product_create(
                actor=actor_for(owner, merchant, "owner"), data=data, stock=stock
            )
        assert field in exc.value.message_dict

    def test_duplicate_sku_is_a_field_error(self, merchant, owner):
        actor = actor_for(owner, merchant, "owner")
        services.product_create(actor=actor, data={"name": "A", "price": 1, "sku": "S1"}, stock=1)
        with refused(ValidationError) as exc:
            services.product_create(
                actor=actor, data={"name": "B", "price": 1, "sku": "S1"}, stock=1
            )
        assert "sku" in exc.value.message_dict

    @pytest.mark.parametrize("role", ["host", "agent"])
    def test_hosts_and_agents_cannot_change_the_catalog(self, merchant, host, agent, role):
        user = host if role == "host" else agent
        with refused(PermissionDenied):
            services.product_create(
                actor=actor_for(user, merchant, role), data={"name": "X", "price": 1}, stock=1
            )

    def test_stock_adjust_never_goes_below_zero(self, merchant, owner, product):
        actor = actor_for(owner, merchant, "owner")
        [variant] = variants_of(product)
        assert services.stock_adjust(actor=actor, variant=variant, delta=5) == 15
        assert services.stock_adjust(actor=actor, variant=variant, delta=-15) == 0
        with refused(Conflict):
            services.stock_adjust(actor=actor, variant=variant, delta=-1)
        assert stock_of(variant) == 0

    def test_the_database_refuses_negative_stock(self, merchant, product):
        from django.db import IntegrityError, transaction

        from commerce.models import Variant

        [variant] = variants_of(product)
        with pytest.raises(IntegrityError), transaction.atomic(), tenant_scope(merchant.id):
            Variant.objects.filter(pk=variant.pk).update(stock=-1)

    def test_product_with_orders_cannot_be_deleted(self, merchant, owner, shopper, product):
        services.order_place(
            merchant=merchant,
            shopper=shopper,
            lines=[{"product": product.pk, "quantity": 1}],
            idempotency_key="k1",
        )
        with refused(Conflict) as exc:
            services.product_delete(actor=actor_for(owner, merchant, "owner"), product=product)
        assert exc.value.code == "product_has_orders"


class TestApi:
    def test_create_with_name_price_stock_reads_total_stock_and_variants(
        self, api, owner, merchant
    ):
        response = api(owner).post(
            products_url(), {"name": "Cap", "price": 1200, "stock": 25}, format="json"
        )
        assert response.status_code == 201, response.json()
        body = response.json()
        assert body["stock"] == 25 and body["currency"] == "USD" and body["price"] == 1200
        assert len(body["variants"]) == 1 and body["variants"][0]["stock"] == 25
        detail = api(owner).get(f"{products_url()}/{body['id']}").json()
        assert detail["stock"] == 25

    def test_total_stock_sums_variants(self, api, owner, sized):
        body = api(owner).get(f"{products_url()}/{sized.pk}").json()
        assert body["stock"] == 6
        assert [v["price"] for v in body["variants"]] == [4900, 2500, 4900]

    def test_list_is_paginated_and_searchable(self, api, owner, product, sized):
        body = api(owner).get(products_url(), {"q": "hood"}).json()
        assert set(body) == {"count", "next", "previous", "results"}
        assert [p["name"] for p in body["results"]] == ["Hoodie"]

    def test_patch_and_variant_stock(self, api, owner, product):
        client = api(owner)
        patched = client.patch(
            f"{products_url()}/{product.pk}", {"price": 2900, "is_active": False}, format="json"
        )
        assert patched.status_code == 200 and patched.json()["price"] == 2900
        variant_id = patched.json()["variants"][0]["id"]
        url = f"{products_url()}/{product.pk}/variants/{variant_id}"
        assert client.patch(url, {"stock": 3}, format="json").json()["stock"] == 3
        adjusted = client.post(f"{url}/adjust-stock", {"delta": -2}, format="json")
        assert adjusted.json() == {"variant": variant_id, "stock": 1}
        refused = client.post(f"{url}/adjust-stock", {"delta": -2}, format="json")
        assert refused.status_code == 409 and error_code(refused) == "stock_out_of_range"

    def test_add_variant(self, api, owner, product):
        response = api(owner).post(
            f"{products_url()}/{product.pk}/variants",
            {"options": {"size": "XL"}, "stock": 4, "price": 2500},
            format="json",
        )
        assert response.status_code == 201
        assert response.json()["label"] == "XL" and response.json()["price"] == 2500

    @pytest.mark.parametrize(
        "body",
        [
            {"name": "X", "price": -1, "stock": 1},
            {"name": "X", "price": 1, "stock": -1},
            {"name": "X", "price": 1, "stock": 10**12},
            {"price": 1},
            ["not", "an", "object"],
            {"name": "X", "price": 1, "stock": 1, "variants": [{"stock": 1}]},
            {"name": "X", "price": 1, "variants": [{"stock": "many"}]},
            {"name": "X", "price": 1, "variants": "S,M"},
        ],
    )
    def test_bad_input_gets_the_envelope(self, api, owner, body):
        response = api(owner).post(products_url(), body, format="json")
        assert response.status_code == 400
        assert error_code(response) == "invalid"

    def test_anonymous_is_401(self, api, merchant, product):
        assert api().get(products_url()).status_code == 401

    def test_outsider_gets_404_everywhere(self, api, outsider, merchant, product):
        client = api(outsider)
        [variant] = variants_of(product)
        assert client.get(products_url()).status_code == 404
        assert (
            client.post(products_url(), {"name": "X", "price": 1}, format="json").status_code == 404
        )
        assert client.get(f"{products_url()}/{product.pk}").status_code == 404
        assert client.delete(f"{products_url()}/{product.pk}").status_code == 404
        assert (
            client.patch(
                f"{products_url()}/{product.pk}/variants/{variant.pk}", {"stock": 0}, format="json"
            ).status_code
            == 404
        )
        assert stock_of(variant) == 10

    def test_another_merchants_product_is_404_in_my_merchant(self, api, owner, foreign_product):
        assert api(owner).get(f"{products_url()}/{foreign_product.pk}").status_code == 404
        [variant] = variants_of(foreign_product)
        response = api(owner).patch(
            f"{products_url()}/{foreign_product.pk}/variants/{variant.pk}",
            {"stock": 0},
            format="json",
        )
        assert response.status_code == 404
        assert stock_of(variant) == 10

    @pytest.mark.parametrize("role", ["host", "agent"])
    def test_wrong_role_reads_but_cannot_write(self, api, merchant, host, agent, product, role):
        client = api(host if role == "host" else agent)
        assert client.get(products_url()).status_code == 200
        response = client.post(products_url(), {"name": "X", "price": 1, "stock": 1}, format="json")
        assert response.status_code == 403 and error_code(response) == "permission_denied"
        assert client.delete(f"{products_url()}/{product.pk}").status_code == 403

    def test_delete_unordered_product(self, api, owner, merchant, product):
        assert api(owner).delete(f"{products_url()}/{product.pk}").status_code == 204
        with tenant_scope(merchant.id):
            assert not Product.objects.filter(pk=product.pk).exists()


class TestStorefrontApi:
    def test_public_catalog_hides_inactive_products_and_variants(self, api, merchant, sized):
        hidden = ProductFactory(merchant=merchant, name="Secret", is_active=False)
        body = api().get("/api/v1/s/acme/products").json()
        assert [p["name"] for p in body["results"]] == ["Hoodie"]
        assert api().get(f"/api/v1/s/acme/products/{hidden.pk}").status_code == 404

    def test_unknown_merchant_is_404(self, api):
        assert api().get("/api/v1/s/nope/products").status_code == 404

    def test_other_merchants_product_is_404(self, api, merchant, foreign_product):
        assert api().get(f"/api/v1/s/acme/products/{foreign_product.pk}").status_code == 404
