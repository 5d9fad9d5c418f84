"""A 1v1 consult in two real browsers (fake camera and microphone), against the whole stack
as `make run` starts it (relay on loopback ICE): the shopper asks from a product page, the
agent accepts in the console, both video elements play the other's media (getStats:
frames decoded increasing), the agent pushes a product and builds the cart, the shopper pays
it in the sandbox without leaving the call, the call ends with a rating, and the order shows
the consult attribution in the dashboard."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

FRAMES_JS = "async () => { const s = await window.consultSession.inboundVideo(); return s ? s.framesDecoded : 0; }"


def frames(page: Any) -> int:
    return int(page.evaluate(FRAMES_JS))


def wait_frames_increasing(page: Any, minimum: int = 10, timeout: float = 20.0) -> tuple[int, int]:
    deadline = time.monotonic() + timeout
    first = 0
    while time.monotonic() < deadline:
        first = frames(page)
        if first >= minimum:
            break
        page.wait_for_timeout(200)
    assert first >= minimum, f"only {first} frames decoded"
    page.wait_for_timeout(1000)
    later = frames(page)
    assert later > first, (first, later)
    return first, later


def a_product_id(base_url: str) -> int:
    with urllib.request.urlopen(f"{base_url}/api/v1/s/demo/products?page_size=50") as response:
        products = json.load(response)["results"]
    for product in products:
        variants = [v for v in product["variants"] if v["is_active"] and v["stock"] >= 2]
        if len(variants) == 1:
            return int(product["id"])
    return int(products[0]["id"])


def test_a_consult_from_ask_to_paid_cart_and_rating(browser, login, base_url):
    agent_ctx = browser.new_context()
    shopper_ctx = browser.new_context()
    agent = agent_ctx.new_page()
    shopper = shopper_ctx.new_page()
    log: list[str] = []
    for name, page in (("agent", agent), ("shopper", shopper)):
        page.on("console", lambda m, n=name: log.append(f"{n} console {m.type}: {m.text}"))
        page.on("pageerror", lambda e, n=name: log.append(f"{n} pageerror: {e}"))
        page.on(
            "response",
            lambda r, n=name: (
                log.append(f"{n} {r.status} {r.request.method} {r.url}")
                if r.status >= 400
                else None
            ),
        )
    try:
        # the agent goes online in the console
        login(agent, "agent@demo.test", "/dashboard/demo/consults/")
        agent.wait_for_selector('[data-test="consult-console"][data-ready="1"]')
        agent.click('[data-test="presence-online"]')
        agent.wait_for_selector('[data-test="presence-status"]:has-text("online")')

        # the shopper asks from a product page
        product_id = a_product_id(base_url)
        login(shopper, "shopper1@example.test", f"/s/demo/p/{product_id}/")
        shopper.wait_for_selector('[data-test="consult-ask-form"]', state="visible")
        shopper.fill('[data-test="consult-question"]', "Which size should I take?")
        shopper.click('[data-test="consult-ask-button"]')
        shopper.wait_for_url("**/s/demo/consults/*/")
        shopper.wait_for_selector('[data-test="consult-waiting"]', state="visible")
        shopper.wait_for_function(
            "document.getElementById('consult-call').dataset.position === '1'"
        )

        # the agent accepts the offer; both see and hear each other
        agent.wait_for_selector('[data-test="queue-row"]')
        assert "Which size should I take?" in agent.inner_text('[data-test="queue"]')
        accept_started = time.monotonic()
        agent.click('[data-test="accept-next"]')
        agent.wait_for_selector('[data-test="call-panel"]', state="visible")
        shopper.wait_for_selector('[data-test="remote-video"]', state="visible")
        wait_frames_increasing(agent, minimum=1, timeout=15)
        wait_frames_increasing(shopper, minimum=1, timeout=15)
        first_frames_s = time.monotonic() - accept_started
        wait_frames_increasing(agent)
        wait_frames_increasing(shopper)
        assert first_frames_s < 15, first_frames_s  # the ≤3 s target is the benchmark's to measure

        # chat both ways
        shopper.fill('[data-test="chat-input"]', "Hi!")
        shopper.press('[data-test="chat-input"]', "Enter")
        agent.wait_for_selector('[data-test="chat-messages"] li:has-text("Hi!")')

        # the agent pushes the product and builds the cart
        agent.fill('[data-test="product-search"]', "")
        agent.press('[data-test="product-search"]', "Enter")
        row = f'[data-test="product-result"][data-product-id="{product_id}"]'
        agent.wait_for_selector(row)
        agent.click(f'{row} [data-test="push-product"]')
        shopper.wait_for_selector(f'[data-test="pushed-product"][data-product-id="{product_id}"]')
        agent.click(f'{row} [data-test="add-to-cart"]')
        agent.wait_for_selector('[data-test="cart-status"][data-status="draft"]')
        shopper.wait_for_selector('[data-test="consult-cart"]', state="visible")
        agent.click('[data-test="send-cart"]')
        agent.wait_for_selector('[data-test="cart-status"][data-status="pending_payment"]')

        # the shopper pays in the sandbox checkout shown over the call
        shopper.wait_for_selector('[data-test="cart-pay"]', state="visible")
        shopper.click('[data-test="cart-pay"]')
        shopper.wait_for_selector('[data-test="pay-overlay"]', state="visible")
        checkout = shopper.frame_locator('[data-test="pay-frame"]')
        checkout.locator('[data-test="sandbox-confirm"]').click()
        shopper.wait_for_selector('[data-test="cart-paid"]', state="visible", timeout=30_000)
        # still in the call: the video kept playing
        wait_frames_increasing(shopper)
        agent.wait_for_selector('[data-test="cart-status"][data-status="paid"]', timeout=30_000)
        order_id = shopper.evaluate(
            "fetch(document.getElementById('consult-call').dataset.apiDetail, {credentials: 'same-origin'})"
            ".then(r => r.json()).then(c => c.cart.id)"
        )

        # the agent ends with notes; the shopper rates
        agent.fill('[data-test="end-notes"]', "Took the M")
        agent.click('[data-test="end-call"]')
        shopper.wait_for_selector('[data-test="consult-ended"]', state="visible")
        shopper.check('[data-test="rating-5"]')
        shopper.fill('[data-test="rating-comment"]', "Very helpful")
        shopper.click('[data-test="rating-submit"]')
        shopper.wait_for_selector('[data-test="rated"]', state="visible")

        # the order carries the consult and its agent in the dashboard
        agent.goto(f"{base_url}/dashboard/demo/orders/{order_id}/")
        attribution = agent.locator('[data-test="order-consult"]')
        assert attribution.count() == 1
        assert "Alex Agent" in agent.inner_text('[data-test="order-agent"]')
        agent.click('[data-test="order-consult"] a')
        agent.wait_for_selector('[data-test="consult-outcome"]')
        assert agent.inner_text('[data-test="consult-rating"]').startswith("5★")
        assert agent.inner_text('[data-test="consult-outcome"]').strip() == "Order"
    except Exception:
        print("\n".join(log[-60:]))  # what the pages said, for the failure report
        raise
    finally:
        agent_ctx.close()
        shopper_ctx.close()
