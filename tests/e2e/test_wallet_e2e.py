"""A shopper tops up coins in a real browser against a stack started like `make run`: a
package → the sandbox checkout → back on the wallet, where the webhook (delivered by the
Celery worker) has credited the coins once; the owner sees the top-up and refunds it."""

from __future__ import annotations

import re


def test_topup_through_the_sandbox_and_a_refund(page, browser, login, base_url):
    login(page, "shopper2@example.test", "/s/demo/wallet/")
    balance = int(page.get_attribute("[data-test=wallet-balance]", "data-balance") or "-1")
    assert balance >= 0
    page.click("[data-test=topup-package][data-coins='300']")
    page.wait_for_url(re.compile(r".*/sandbox/pay/.*"))
    assert "300 coins" in page.content()
    page.click("button[value=confirm]")
    page.wait_for_url(re.compile(r".*/s/demo/wallet/\?topup=\d+.*"))
    page.wait_for_selector("[data-test=topup-credited]", timeout=20_000)
    credited = int(page.get_attribute("[data-test=wallet-balance]", "data-balance") or "-1")
    assert credited == balance + 300
    page.reload()
    assert int(page.get_attribute("[data-test=wallet-balance]", "data-balance") or "-1") == credited
    topup_id = re.search(r"topup=(\d+)", page.url).group(1)  # type: ignore[union-attr]

    owner = browser.new_context().new_page()
    login(owner, "owner@demo.test", "/dashboard/demo/gifts/")
    row = owner.locator(f"[data-test=topup-row][data-topup-id='{topup_id}']")
    assert "Credited" in row.inner_text()
    owner.on("dialog", lambda dialog: dialog.accept())
    row.locator("[data-test=topup-refund]").click()
    owner.wait_for_load_state("domcontentloaded")
    assert "Refunded" in owner.locator(f"[data-topup-id='{topup_id}']").inner_text()

    page.goto(f"{base_url}/s/demo/wallet/")
    assert int(page.get_attribute("[data-test=wallet-balance]", "data-balance") or "-1") == balance
    assert page.locator("[data-test=ledger-entry][data-kind=refund]").count() >= 1
