"""A merchant owner in a real browser: logs in, reaches the dashboard, creates an API key
that is shown once, and is refused another merchant's dashboard."""

from __future__ import annotations

import re


def test_owner_creates_an_api_key_shown_once(page, login, base_url):
    login(page, "owner@demo.test", "/dashboard/demo/")
    assert page.url.endswith("/dashboard/demo/")
    assert page.locator(".merchant-name").inner_text().startswith("Demo Boutique")
    page.click("text=API keys")
    page.fill("input[name=name]", "E2E key")
    page.check("input[value='products:read']")
    page.click("button:has-text('Create key')")
    key = page.locator("#new-key").inner_text()
    assert re.fullmatch(r"lsk_[A-Za-z0-9_\-]{20,}", key)
    page.reload()
    assert page.locator("#new-key").count() == 0
    assert "E2E key" in page.content()
    # the key works against the API, and only for its own merchant
    response = page.request.get(
        f"{base_url}/api/v1/merchants/demo", headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status == 200 and response.json()["slug"] == "demo"
    other = page.request.get(
        f"{base_url}/api/v1/merchants/rival", headers={"Authorization": f"Bearer {key}"}
    )
    assert other.status == 404


def test_staff_cannot_open_another_merchants_dashboard(page, login, base_url):
    login(page, "host@demo.test", "/dashboard/demo/")
    response = page.goto(f"{base_url}/dashboard/rival/")
    assert response.status == 404
    response = page.goto(f"{base_url}/dashboard/demo/audit/")
    assert response.status == 403
