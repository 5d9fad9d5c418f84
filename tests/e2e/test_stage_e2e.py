"""On stage in real Chromium (fake camera and microphone) against a stack started like
`make run`: the host invites a signed-in viewer on stage from the console, the guest accepts
and publishes, an anonymous viewer sees the co-host's picture beside the host's, and revoking
takes it away; a PK between the two demo merchants' rooms shows both hosts on one room's
page and its score moves after a purchase in that room."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

from tests.e2e.test_media_e2e import go_live

CONSOLE_A = "/dashboard/demo/rooms/launch/console/"
CONSOLE_B = "/dashboard/rival/rooms/launch/console/"
ROOM_A = "/s/demo/live/launch/"

TILE_PLAYING = """(publisher) => {
    const tiles = [...document.querySelectorAll('[data-media-player] .media-player-tile')];
    return tiles.some(t => (!publisher || t.dataset.publisher === publisher) && t.videoWidth > 0
        && t.readyState >= 2);
}"""


def go_live_at(page: Any, base_url: str, console: str) -> None:
    page.goto(f"{base_url}{console}")
    page.wait_for_function(
        "() => window.liveshopPublisher && window.liveshopPublisher.canPublish"
        " && !!window.liveshopPublisher.stream",
        timeout=15_000,
    )
    page.click("[data-role=go-live]")
    page.wait_for_function("() => window.liveshopPublisher.state === 'live'", timeout=20_000)


def report(*pages: Any) -> list[str]:
    lines: list[str] = []
    for page in pages:
        page.on("console", lambda m, p=page: lines.append(f"{p.url}: {m.type}: {m.text}"))
    return lines


def test_a_cohost_appears_for_the_viewer_and_goes_when_revoked(browser, login, base_url):
    contexts = [browser.new_context() for _ in range(3)]
    try:
        host, guest, viewer = (c.new_page() for c in contexts)
        logs = report(host, guest, viewer)
        login(host, "host@demo.test", CONSOLE_A)
        go_live(host, base_url)

        login(guest, "shopper1@example.test", ROOM_A)
        guest.goto(f"{base_url}{ROOM_A}")
        guest_id = guest.evaluate(
            "fetch('/api/v1/me', {credentials: 'same-origin'}).then(r => r.json()).then(u => u.id)"
        )
        viewer.goto(f"{base_url}{ROOM_A}")
        viewer.wait_for_function("() => window.liveshopPlayers[0].state === 'live'", timeout=20_000)

        # the host invites the viewer by id from the console
        host.fill("[data-stage-console] input[name=user]", str(guest_id))
        host.click("[data-stage-console] [data-role=invite-form] button")
        host.wait_for_selector(f"[data-stage-console] li[data-user='{guest_id}']", timeout=10_000)

        # the guest gets a clear invite, accepts, previews and publishes
        guest.wait_for_selector(
            "[data-stage-room] [data-role=invite]", state="visible", timeout=10_000
        )
        guest.click("[data-stage-room] [data-role=accept]")
        guest.wait_for_selector(
            "[data-stage-room] [data-role=guest]", state="visible", timeout=10_000
        )
        guest.wait_for_function(
            "() => { const r = window.liveshopStage.room;"
            " return r.pc && r.pc.connectionState === 'connected'; }",
            timeout=20_000,
        )
        assert guest.locator("[data-stage-room] [data-role=leave]").is_visible()

        # the viewer sees the co-host's picture beside the host's
        viewer.wait_for_function(TILE_PLAYING, arg=f"user:{guest_id}", timeout=20_000)
        assert viewer.locator("[data-media-player]").get_attribute("data-tiles") == "1"
        assert viewer.evaluate("() => window.liveshopPlayers[0].state") == "live"

        # the host takes the guest off stage: the tile goes, the guest is told
        host.click(f"[data-stage-console] li[data-user='{guest_id}'] button")
        viewer.wait_for_function(
            "() => document.querySelectorAll('.media-player-tile').length === 0", timeout=15_000
        )
        guest.wait_for_selector(
            "[data-stage-room] [data-role=note]", state="visible", timeout=10_000
        )
        assert guest.locator("[data-stage-room] [data-role=guest]").is_hidden()
    except Exception:
        print("\n".join(logs[-60:]))
        raise
    finally:
        for context in contexts:
            context.close()


def a_variant(base_url: str) -> tuple[int, int]:
    with urllib.request.urlopen(f"{base_url}/api/v1/s/demo/products?page_size=50") as response:
        products = json.load(response)["results"]
    for product in products:
        for variant in product["variants"]:
            if variant["is_active"] and variant["stock"] >= 2:
                return int(product["id"]), int(variant["id"])
    raise AssertionError("no product in stock")


def test_a_pk_shows_both_hosts_and_the_score_moves_after_a_purchase(browser, login, base_url):
    contexts = [browser.new_context() for _ in range(4)]
    try:
        host_a, host_b, viewer, shopper = (c.new_page() for c in contexts)
        logs = report(host_a, host_b, viewer)
        login(host_a, "host@demo.test", CONSOLE_A)
        go_live_at(host_a, base_url, CONSOLE_A)
        login(host_b, "host@rival.test", CONSOLE_B)
        go_live_at(host_b, base_url, CONSOLE_B)

        # A invites B's room (another merchant); B accepts in its own console
        form = "[data-stage-console] [data-role=pk-form]"
        host_a.fill(f"{form} input[name=merchant]", "rival")
        host_a.fill(f"{form} input[name=room]", "launch")
        host_a.select_option(f"{form} select[name=duration_s]", "180")
        host_a.click(f"{form} button")
        host_b.wait_for_selector("[data-role=pk-accept]", state="visible", timeout=10_000)
        host_b.click("[data-role=pk-accept]")

        viewer.goto(f"{base_url}{ROOM_A}")
        viewer.wait_for_function("() => window.liveshopPlayers[0].state === 'live'", timeout=20_000)
        viewer.wait_for_selector("[data-stage-room] [data-pk]", state="visible", timeout=10_000)
        viewer.wait_for_function(
            "() => { const b = window.liveshopStage.pk[0]; return b.pk && b.pk.status === 'live'; }",
            timeout=10_000,
        )
        pk = viewer.evaluate("() => window.liveshopStage.pk[0].pk")
        assert pk["a"]["merchant"] == "Demo Boutique" and pk["b"]["merchant"] == "Rival Outfitters"
        bar = viewer.locator("[data-stage-room] [data-pk]")
        assert "(demo)" in bar.locator("[data-role=a-host]").inner_text()
        assert "(rival)" in bar.locator("[data-role=b-host]").inner_text()
        # both hosts: A's in the main picture, B's (pulled by the relay) beside it
        viewer.wait_for_function(TILE_PLAYING, arg=pk["b"]["identity"], timeout=20_000)
        before = int(bar.locator("[data-role=a-score]").inner_text())

        # a shopper buys in room A during the PK
        login(shopper, "shopper2@example.test", ROOM_A)
        shopper.goto(f"{base_url}{ROOM_A}")
        product, variant = a_variant(base_url)
        token = next(c["value"] for c in contexts[3].cookies() if c["name"] == "csrftoken")
        placed = shopper.evaluate(
            """async ([product, variant, token]) => {
                const headers = {"Content-Type": "application/json", "X-CSRFToken": token};
                const order = await fetch('/api/v1/s/demo/orders', {method: 'POST',
                    credentials: 'same-origin',
                    headers: {...headers, "Idempotency-Key": crypto.randomUUID()},
                    body: JSON.stringify({lines: [{product, variant, quantity: 1}], room: 'launch'})})
                    .then(r => r.json());
                const pay = await fetch(`/api/v1/s/demo/orders/${order.id}/pay`, {method: 'POST',
                    credentials: 'same-origin', headers}).then(r => r.json());
                return {order, pay};
            }""",
            [product, variant, token],
        )
        assert placed["pay"].get("redirect_url"), placed
        shopper.goto(placed["pay"]["redirect_url"])
        shopper.click('[data-test="sandbox-confirm"]')
        viewer.wait_for_function(
            f"() => parseInt(document.querySelector('[data-stage-room] [data-role=a-score]')"
            f".textContent, 10) > {before}",
            timeout=30_000,
        )

        # either host can end it: a winner is shown
        host_b.click("[data-role=pk-end]")
        viewer.wait_for_function(
            "() => window.liveshopStage.pk[0].pk.status === 'ended'", timeout=10_000
        )
        assert bar.locator("[data-role=result]").inner_text().strip() != ""
    except Exception:
        print("\n".join(logs[-60:]))
        raise
    finally:
        for context in contexts:
            context.close()


def _set_viewer_cap(stack: Any, cap: int) -> int:
    """Set the demo merchant plan's WebRTC viewer cap; returns the old one."""
    out = Path(stack.var_dir) / "cap.txt"
    stack.manage(
        "shell",
        "-c",
        "from liveshop.tenancy.models import Merchant; "
        "p = Merchant.objects.get(slug='demo').plan; "
        f"open({str(out)!r}, 'w').write(str(p.webrtc_viewers_per_room)); "
        f"p.webrtc_viewers_per_room = {cap}; p.save(update_fields=['webrtc_viewers_per_room'])",
    )
    return int(out.read_text())


def _fresh_room(stack: Any, slug: str) -> None:
    """A new demo room for a test that must not meet viewers other tests left in `launch`
    (the relay notices a closed browser's peer connection only after its ICE timeout)."""
    stack.manage(
        "shell",
        "-c",
        "from liveshop.accounts.models import User; "
        "from liveshop.tenancy.access import access_merchant; "
        "from rooms.services import room_create; "
        "actor = access_merchant(principal=User.objects.get(email='host@demo.test'), slug='demo'); "
        f"room_create(actor=actor, data={{'slug': {slug!r}, 'title': 'Crowded show'}})",
    )


def test_past_the_viewer_cap_the_player_switches_to_hls_and_says_so(
    browser, login, base_url, stack
):
    _fresh_room(stack, "crowded")
    console, room = "/dashboard/demo/rooms/crowded/console/", "/s/demo/live/crowded/"
    old = _set_viewer_cap(stack, 1)
    contexts = [browser.new_context() for _ in range(3)]
    try:
        host, first, second = (c.new_page() for c in contexts)
        login(host, "host@demo.test", console)
        go_live_at(host, base_url, console)
        first.goto(f"{base_url}{room}")
        first.wait_for_function("() => window.liveshopPlayers[0].state === 'live'", timeout=20_000)
        assert first.locator("[data-media-player]").get_attribute("data-mode") == "webrtc"

        second.goto(f"{base_url}{room}")
        second.wait_for_function("() => window.liveshopPlayers[0].mode === 'hls'", timeout=20_000)
        player = second.locator("[data-media-player]")
        assert player.get_attribute("data-mode") == "hls"
        assert player.locator("[data-role=mode]").inner_text().strip() == "HLS"
        src = second.evaluate("() => window.liveshopPlayers[0].hlsSrc")
        assert src.endswith("/hls/demo/crowded/master.m3u8")
        assert second.evaluate("() => window.liveshopPlayers[0].pc") is None  # no WebRTC leg
    finally:
        for context in contexts:
            context.close()
        _set_viewer_cap(stack, old)
