"""Pages speak zh-hans and en: from Accept-Language, the language switcher, the user's own
locale (after login and without a cookie) and, for visitors with no usable preference, the
merchant's locale. The JavaScript catalog is served and loaded before page scripts."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from liveshop.tenancy.scope import tenant_scope
from tests.factories import ProductFactory, RoomFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("compiled_messages")]

ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9,en;q=0.5"}
EN = {"HTTP_ACCEPT_LANGUAGE": "en-US,en;q=0.9"}


def page(client: Client, path: str, **headers: str) -> str:
    response = client.get(path, **headers)
    assert response.status_code == 200, (path, response.status_code)
    return response.content.decode()


@pytest.fixture
def room(merchant, host):
    return RoomFactory.create(merchant=merchant, slug="launch", title="Launch", host=host)


class TestStorefront:
    def test_home_in_chinese_from_accept_language(self, merchant):
        ProductFactory.create(merchant=merchant, name="Tee", price=1900, stock=3)
        html = page(Client(), "/s/acme/", **ZH)
        assert '<html lang="zh-hans">' in html
        assert "购物车" in html  # Cart
        assert "由 LiveShop 提供技术支持" in html  # the footer
        assert "剩 3 件" in html  # the product card's stock, a plural entry
        assert "powered by LiveShop" not in html

    def test_home_in_english(self, merchant):
        html = page(Client(), "/s/acme/", **EN)
        assert '<html lang="en">' in html and "Cart" in html and "购物车" not in html

    def test_product_page_in_chinese(self, merchant):
        product = ProductFactory.create(merchant=merchant, name="Tee", price=1900, stock=3)
        html = page(Client(), f"/s/acme/p/{product.pk}/", **ZH)
        assert "加入购物车" in html and "立即购买" in html  # Add to cart, Buy now
        assert "剩 3 件" in html

    def test_room_page_in_chinese(self, merchant, room):
        html = page(Client(), "/s/acme/live/launch/", **ZH)
        assert "连接中…" in html  # the player's first state
        assert "待开播" in html  # the room's status (Scheduled)
        assert "Connecting…" not in html

    def test_switcher_sets_the_language(self, merchant):
        client = Client()
        response = client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/s/acme/"})
        assert response.status_code == 302 and response["Location"] == "/s/acme/"
        assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
        assert "购物车" in page(client, "/s/acme/", **EN)  # the choice beats the browser
        assert 'name="language"' in page(client, "/s/acme/")  # the switcher is on the page

    def test_merchant_locale_for_visitors_without_a_usable_preference(self, merchant):
        merchant.locale = "zh-hans"
        merchant.save(update_fields=["locale"])
        assert "购物车" in page(Client(), "/s/acme/", HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9")
        assert "购物车" in page(Client(), "/s/acme/")  # no header at all
        assert "Cart" in page(Client(), "/s/acme/", **EN)  # the browser's English wins
        client = Client()
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        assert "Cart" in page(client, "/s/acme/")  # so does the switcher's choice


class TestDashboard:
    def test_dashboard_in_chinese(self, merchant, owner):
        client = Client()
        client.force_login(owner)
        client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/dashboard/acme/"})
        html = page(client, "/dashboard/acme/", **EN)
        assert "概览" in html and "商家后台" in html  # Overview, Dashboard
        assert "查看店铺" in html  # View storefront
        assert '<span class="badge">店主</span>' in html  # the role (owner)
        assert 'name="language"' in html  # the switcher

    def test_staff_page_labels_in_chinese(self, merchant, owner):
        from liveshop.tenancy import services
        from liveshop.tenancy.access import access_merchant

        actor = access_merchant(principal=owner, slug=merchant.slug)
        services.invite_create(actor=actor, email="new@example.test", role="agent")
        client = Client()
        client.force_login(owner)
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
        html = page(client, "/dashboard/acme/staff/")
        assert "待接受" in html and ">pending<" not in html  # the invitation's status
        assert "<th>客服</th>" in html  # role names in the permission table

    def test_the_users_locale_beats_the_browser(self, merchant, owner):
        owner.locale = "zh-hans"
        owner.save(update_fields=["locale"])
        client = Client()
        client.force_login(owner)
        assert "概览" in page(client, "/dashboard/acme/", **EN)
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"  # …until they choose otherwise
        assert "Overview" in page(client, "/dashboard/acme/", **ZH)

    def test_login_switches_to_the_users_language(self, merchant, owner, password):
        owner.locale = "zh-hans"
        owner.save(update_fields=["locale"])
        client = Client()
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"  # chosen before logging in
        response = client.post(
            "/accounts/login/",
            {"username": owner.email, "password": password, "next": "/dashboard/acme/"},
        )
        assert response.status_code == 302
        assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
        assert "概览" in page(client, "/dashboard/acme/", **EN)

    def test_switching_language_saves_it_on_the_user(self, merchant, owner):
        client = Client()
        client.force_login(owner)
        client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/dashboard/acme/"})
        owner.refresh_from_db()
        assert owner.locale == "zh-hans"
        client.post("/i18n/setlang/", {"language": "xx", "next": "/"})  # not a language
        owner.refresh_from_db()
        assert owner.locale == "zh-hans"

    def test_anonymous_switch_changes_no_user(self, merchant, shopper):
        Client().post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
        shopper.refresh_from_db()
        assert shopper.locale == "en"


class TestAccounts:
    def test_signup_remembers_the_chosen_language(self, db):
        client = Client()
        form = page(client, "/accounts/signup/", **ZH)
        assert '<option value="zh-hans" selected>' in form  # preselected from the browser
        response = client.post(
            "/accounts/signup/",
            {
                "email": "mei@example.test",
                "display_name": "Mei",
                "password": "a-long-password-1",
                "locale": "zh-hans",
            },
            **EN,
        )
        assert response.status_code == 302
        assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"

    def test_login_page_and_errors_in_chinese(self, db):
        html = page(Client(), "/accounts/login/", **ZH)
        assert "忘记密码？" in html
        bad = Client().post("/accounts/login/", {"username": "a@b.test", "password": "x"}, **ZH)
        assert "邮箱或密码错误。" in bad.content.decode()

    def test_api_errors_follow_accept_language(self, db):
        response = Client().post(
            "/api/v1/auth/token",
            {"email": "nobody@example.test", "password": "wrong"},
            content_type="application/json",
            **ZH,
        )
        assert response.status_code == 401
        assert response.json()["error"]["message"] == "邮箱或密码错误。"

    def test_api_registration_takes_the_request_language(self, db):
        from liveshop.accounts.models import User

        for email, headers, body_locale, expected in [
            ("li@example.test", ZH, None, "zh-hans"),
            ("al@example.test", EN, None, "en"),
            ("jo@example.test", ZH, "en", "en"),  # an explicit choice wins
        ]:
            body = {"email": email, "password": "a-long-password-1", "display_name": "X"}
            if body_locale:
                body["locale"] = body_locale
            response = Client().post(
                "/api/v1/auth/register", body, content_type="application/json", **headers
            )
            assert response.status_code == 201, response.content
            assert User.objects.get(email=email).locale == expected

    def test_token_clients_get_their_users_locale(self, merchant, shopper):
        from rest_framework.test import APIClient

        from liveshop.accounts.services import token_issue

        shopper.locale = "zh-hans"
        shopper.save(update_fields=["locale"])
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_issue(user=shopper)[1]}")
        body = {"lines": [{"product": 1, "quantity": 1}]}
        refused = client.post("/api/v1/s/acme/orders", body, format="json")  # no Idempotency-Key
        assert refused.status_code == 400
        assert "请在请求中附带 Idempotency-Key" in refused.json()["error"]["message"]
        asked = client.post("/api/v1/s/acme/orders", body, format="json", **EN)
        assert "Send an Idempotency-Key header" in asked.json()["error"]["message"]


class TestJavaScriptCatalog:
    def test_catalog_in_both_languages(self, db):
        zh = Client().get("/jsi18n/", **ZH)
        assert zh.status_code == 200 and zh["Content-Type"].startswith("text/javascript")
        body = zh.content.decode()
        assert "\\u8fde\\u63a5\\u5df2\\u65ad\\u5f00" in body  # "Connection lost." → 连接已断开
        assert "Choose all" not in body  # the admin's strings are not shipped to every page
        assert "max-age=3600" in zh["Cache-Control"] and "Accept-Language" in zh["Vary"]
        en = Client().get("/jsi18n/", **EN).content.decode()
        assert "function gettext" in en or "django.gettext" in en
        assert "\\u8fde" not in en

    def test_pages_ask_for_their_languages_catalog(self, merchant):
        client = Client()
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
        assert '<script src="/jsi18n/?l=zh-hans"></script>' in page(client, "/s/acme/")

    def test_loaded_before_page_scripts(self, merchant):
        product = ProductFactory.create(merchant=merchant, name="Tee", price=1900, stock=3)
        html = page(Client(), f"/s/acme/p/{product.pk}/")
        catalog = html.index('<script src="/jsi18n/?l=en"></script>')
        assert catalog < html.index("</head>") < html.index("js/consults/rtc.js")


def test_status_labels_render_in_chinese(merchant, shopper):
    """Model choices (order statuses) on the shopper's pages."""
    from commerce import services

    product = ProductFactory.create(merchant=merchant, name="Tee", price=1900, stock=3)
    order = services.order_place(
        merchant=merchant,
        shopper=shopper,
        lines=[{"product": product.pk, "quantity": 1}],
        idempotency_key="i18n-status-1",
    ).order
    client = Client()
    client.force_login(shopper)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    html = page(client, "/s/acme/orders/")
    assert "待付款" in html  # Awaiting payment
    html = page(client, f"/s/acme/orders/{order.pk}/")
    assert "pending_payment" not in html.replace('data-status="pending_payment"', "")
    assert html.count("待付款") >= 2  # the badge and the timeline
    with tenant_scope(merchant.id):
        assert order.status == "pending_payment"


def test_users_made_by_factories_default_to_english(db):
    assert UserFactory().locale == "en"
