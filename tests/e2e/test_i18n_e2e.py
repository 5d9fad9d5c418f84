"""A shopper in a real browser: a Chinese browser gets the shop in Chinese, the switcher
changes the language, and static scripts translate through the /jsi18n/ catalog."""

from __future__ import annotations


def test_chinese_browser_switcher_and_script_catalog(browser, base_url):
    context = browser.new_context(locale="zh-CN")  # Accept-Language: zh-CN
    try:
        page = context.new_page()
        page.goto(f"{base_url}/s/demo/")
        header = page.locator("header.shop-head")
        assert "购物车" in header.inner_text()  # Cart
        assert page.evaluate("document.documentElement.lang") == "zh-hans"
        # The catalog is loaded before page scripts and answers in the page's language.
        assert page.evaluate("window.gettext('Connection lost.')") == "连接已断开。"
        assert (
            page.evaluate(
                "interpolate(gettext('Media answer failed: %(error)s'), {error: 'x'}, true)"
            )
            == "媒体应答失败：x"
        )

        with page.expect_navigation():
            page.select_option("header.shop-head select[name=language]", "en")
        assert "Cart" in page.locator("header.shop-head").inner_text()
        assert page.evaluate("window.gettext('Connection lost.')") == "Connection lost."
        page.goto(f"{base_url}/s/demo/")  # the choice sticks (cookie) over the browser's
        assert "Cart" in page.locator("header.shop-head").inner_text()
    finally:
        context.close()
