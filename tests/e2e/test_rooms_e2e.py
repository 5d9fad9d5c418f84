"""Live selling in two real browsers against the whole stack as `make run` starts it: the
host goes live from the console (fake camera) in a new room, host and shopper chat both
ways, the host pins a product and the shopper buys it from the card and pays in the sandbox
checkout shown over the video, the host deletes a message and it disappears on the shopper's
screen, and a gift animates on the room page and puts the shopper on the leaderboard."""

from __future__ import annotations

import json
import urllib.request
import uuid
from typing import Any

SHOPPER = "shopper2@example.test"
HOST = "host@demo.test"


def a_product_id(base_url: str) -> int:
    """A product with one active variant and stock: one tap on the card buys it."""
    with urllib.request.urlopen(f"{base_url}/api/v1/s/demo/products?page_size=50") as response:
        products = json.load(response)["results"]
    for product in products:
        variants = [v for v in product["variants"] if v["is_active"] and v["stock"] >= 3]
        if len(variants) == 1 and product["stock"] >= 3:
            return int(product["id"])
    raise AssertionError("the demo catalog has no product with one variant in stock")


API_JS = """async ([method, url, body]) => {
    const csrf = (document.cookie.match(/csrftoken=([^;]+)/) || [])[1] || "";
    const r = await fetch(url, {method, credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRFToken": csrf, Accept: "application/json"},
        body: body === null ? undefined : JSON.stringify(body)});
    return {status: r.status, data: await r.json().catch(() => null)};
}"""


def api(page: Any, method: str, url: str, body: Any = None) -> dict[str, Any]:
    return dict(page.evaluate(API_JS, [method, url, body]))


def chat_line(text: str) -> str:
    return f'[data-test="chat-messages"] li:has-text("{text}")'


def console_line(text: str) -> str:
    return f'[data-test="console-chat"] li:has-text("{text}")'


def test_live_selling_in_the_room(browser, login, base_url):
    host_ctx = browser.new_context()
    shopper_ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    anonymous_ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    host = host_ctx.new_page()
    shopper = shopper_ctx.new_page()
    log: list[str] = []
    for name, page in (("host", host), ("shopper", shopper)):
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
        # a new room with one product in its line-up
        product_id = a_product_id(base_url)
        slug = f"e2e-{uuid.uuid4().hex[:8]}"
        login(host, HOST, "/dashboard/demo/rooms/")
        created = api(
            host,
            "POST",
            "/api/v1/merchants/demo/rooms",
            {"title": "E2E show", "slug": slug, "products": [product_id]},
        )
        assert created["status"] == 201, created

        # the host goes live from the console: one Go live button, the camera panel's
        host.goto(f"{base_url}/dashboard/demo/rooms/{slug}/console/")
        host.wait_for_selector('[data-host-console][data-ready="1"][data-socket="open"]')
        assert host.locator("text=Go live").count() == 1
        host.wait_for_function(
            "() => window.liveshopPublisher && window.liveshopPublisher.canPublish"
            " && !!window.liveshopPublisher.stream",
            timeout=15_000,
        )
        host.click("[data-role=go-live]")
        host.wait_for_function("() => window.liveshopPublisher.state === 'live'", timeout=20_000)
        host.wait_for_selector('[data-test="room-status"]:has-text("Live")')

        # the shopper opens the room on a phone
        login(shopper, SHOPPER, f"/s/demo/live/{slug}/")
        shopper.wait_for_selector('[data-live-room][data-ready="1"][data-socket="open"]')
        assert shopper.locator('[data-test="room-ended"]').is_hidden()

        # chat both ways
        shopper.fill('[data-test="chat-input"]', "Hello from the shopper")
        shopper.press('[data-test="chat-input"]', "Enter")
        host.wait_for_selector(console_line("Hello from the shopper"))
        host.fill('[data-test="console-chat-input"]', "Welcome, everyone!")
        host.press('[data-test="console-chat-input"]', "Enter")
        shopper.wait_for_selector(chat_line("Welcome, everyone!"))
        shopper.wait_for_selector(chat_line("Hello from the shopper"))
        # an anonymous viewer watches and reads along, and is asked to sign in to take part
        anonymous = anonymous_ctx.new_page()
        anonymous.goto(f"{base_url}/s/demo/live/{slug}/")
        anonymous.wait_for_selector('[data-live-room][data-ready="1"][data-socket="open"]')
        anonymous.wait_for_selector(chat_line("Welcome, everyone!"))
        assert anonymous.locator('[data-test="chat-input"]').count() == 0
        assert anonymous.locator('[data-test="sign-in-to-chat"]').is_visible()
        anonymous.click('[data-test="like"]')
        anonymous.wait_for_selector('[data-test="room-notice"] a:has-text("Sign in")')

        # viewers and likes reach the console from batch stats
        shopper.click('[data-test="like"]')
        shopper.click('[data-test="like"]')
        host.wait_for_function(
            "() => parseInt(document.querySelector('[data-counter=likes]').textContent, 10) >= 2",
            timeout=20_000,
        )
        host.wait_for_function(
            "() => parseInt(document.querySelector('[data-counter=viewers]').textContent, 10) >= 1",
            timeout=20_000,
        )

        # the shopper's socket drops; what was said meanwhile arrives once on resume (since)
        shopper.evaluate("() => window.liveRoom.socket.close()")
        shopper.wait_for_selector('[data-live-room][data-socket="closed"]')
        host.fill('[data-test="console-chat-input"]', "While you were away")
        host.press('[data-test="console-chat-input"]', "Enter")
        host.wait_for_selector(console_line("While you were away"))
        shopper.evaluate("() => window.liveRoom.socket.connect()")
        shopper.wait_for_selector(chat_line("While you were away"))
        shopper.wait_for_selector('[data-live-room][data-socket="open"]')
        assert shopper.locator(chat_line("While you were away")).count() == 1
        assert shopper.locator(chat_line("Welcome, everyone!")).count() == 1
        assert shopper.locator('[data-test="reconnect-banner"]').is_hidden()

        # a gift animates and the leaderboard updates
        shopper.click('[data-test="gift-open"]')
        shopper.wait_for_selector('[data-test="gift-panel"]', state="visible")
        shopper.wait_for_function(
            "() => /\\d/.test(document.querySelector('[data-test=wallet-balance]').textContent)"
        )
        before = int(shopper.inner_text('[data-test="wallet-balance"]'))
        shopper.click('[data-test="gift-rose"]')
        shopper.wait_for_selector('[data-test="gift-animation"]', state="attached", timeout=10_000)
        shopper.wait_for_function(
            f"() => parseInt(document.querySelector('[data-test=wallet-balance]').textContent, 10) < {before}",
            timeout=10_000,
        )
        shopper.click('[data-action="close-sheet"] >> nth=0')
        shopper.click('[data-test="leaderboard-toggle"]')
        name = shopper.evaluate(
            "() => JSON.parse(document.getElementById('live-room-config').textContent).me.name"
        )
        shopper.wait_for_selector(
            f'[data-test="leaderboard"] li:has-text("{name}")', timeout=10_000
        )

        # the host pins the product; the shopper buys it from the card and pays over the video
        host.click(f'[data-product-id="{product_id}"] [data-test="pin"]')
        card = f'[data-test="pinned-card"][data-product-id="{product_id}"]'
        shopper.wait_for_selector(card, state="visible")
        shopper.click(f'{card} [data-test="buy"]')
        shopper.wait_for_selector('[data-test="pay-overlay"]', state="visible")
        checkout = shopper.frame_locator('[data-test="pay-frame"]')
        checkout.locator('[data-test="sandbox-confirm"]').click()
        shopper.wait_for_selector('[data-test="paid"]', state="visible", timeout=30_000)
        assert shopper.url.endswith(f"/s/demo/live/{slug}/")  # never left the stream
        order = shopper.evaluate("() => window.liveRoom.state.lastOrder")
        detail = api(shopper, "GET", f"/api/v1/s/demo/orders/{order['id']}")
        assert detail["data"]["status"] == "paid", detail
        assert detail["data"]["room"] == slug

        # a flash sale: a countdown on the phone, the sale price on the card; its one unit
        # held by the shopper's unpaid order sells it out and the waitlist opens
        host.fill('[data-test="flash-price"]', "1.00")
        host.fill('[data-test="flash-units"]', "1")
        host.fill('[data-test="flash-seconds"]', "60")
        host.click('[data-test="flash-start"]')
        shopper.wait_for_selector('[data-test="flash-sale"]', state="visible")
        assert shopper.inner_text('[data-test="flash-countdown"]') in {"1:00", "0:59", "0:58"}
        host.wait_for_selector('[data-test="flash-running"]', state="visible")
        shopper.wait_for_selector(f'{card} .price:has-text("1.00")')
        shopper.click(f'{card} [data-test="buy"]')
        shopper.wait_for_selector('[data-test="pay-overlay"]', state="visible")
        sale_order = shopper.evaluate("() => window.liveRoom.state.lastOrder")
        assert sale_order["total"] == 100, sale_order
        shopper.click('[data-test="pay-overlay"] [data-action="close-sheet"]')
        shopper.wait_for_selector('[data-test="waitlist-join"]', state="visible", timeout=10_000)
        assert "Sold out" in shopper.inner_text('[data-test="flash-sale"]')
        # the shopper holds the sale's only unit (unpaid): the waitlist is for others, and the
        # page says so (the waitlist's order is tested on Postgres: tests/rooms/test_selling_race.py)
        shopper.click('[data-test="waitlist-join"]')
        shopper.wait_for_selector(
            '[data-test="waitlist-status"]:has-text("already have an order from this flash sale")'
        )

        host.wait_for_function(
            "() => parseInt(document.querySelector('[data-counter=orders]').textContent, 10) >= 1",
            timeout=15_000,
        )
        # the counters of this show (selling's stats API) count the gift too
        host.wait_for_function(
            "() => parseInt(document.querySelector('[data-counter=gifts]').textContent, 10) >= 1",
            timeout=15_000,
        )

        # the host deletes a message: it disappears on the shopper's screen
        shopper.fill('[data-test="chat-input"]', "something rude")
        shopper.press('[data-test="chat-input"]', "Enter")
        shopper.wait_for_selector(chat_line("something rude"))
        host.click(f'{console_line("something rude")} [data-test="mod-delete"]')
        shopper.wait_for_selector(chat_line("something rude"), state="detached", timeout=10_000)
        host.wait_for_selector(console_line("something rude"), state="detached")
        assert shopper.locator(chat_line("Hello from the shopper")).count() == 1

        # the host mutes the shopper for 5 minutes: the phone says so and keeps the text
        host.click(f'{console_line("Hello from the shopper")} [data-test="mod-mute"]')
        shopper.wait_for_selector('[data-test="room-notice"]:has-text("muted")', timeout=10_000)
        shopper.fill('[data-test="chat-input"]', "am I muted?")
        shopper.press('[data-test="chat-input"]', "Enter")
        assert shopper.input_value('[data-test="chat-input"]') == "am I muted?"
        host.wait_for_selector(console_line("was muted"))

        # a flood of chat keeps at most 60 messages on the phone, newest last
        shopper.evaluate(
            "() => { for (let i = 0; i < 3000; i++) window.liveRoom.handle({type: 'chat.message',"
            " seq: 1000000 + i, ts: 1, user: {id: 1, name: 'x'}, text: 'flood ' + i}); }"
        )
        shopper.wait_for_function(
            "() => { const items = document.querySelectorAll('[data-test=chat-messages] li');"
            " return items.length === 60 && items[59].textContent.endsWith('flood 2999'); }"
        )
    except Exception:
        print("\n".join(log[-80:]))  # what the pages said, for the failure report
        raise
    finally:
        host_ctx.close()
        shopper_ctx.close()
        anonymous_ctx.close()
