"""Live video in real Chromium (fake camera and microphone) against a stack started like
`make run` (its media relay process, loopback ICE): the host goes live from the console, a
shopper's room page plays it (frames decoded keep increasing), the host's browser drops, the
viewer shows "host away", the host comes back and the viewer resumes by itself."""

from __future__ import annotations

from typing import Any

CONSOLE = "/dashboard/demo/rooms/launch/console/"
ROOM_PAGE = "/s/demo/live/launch/"

FRAMES = "() => window.liveshopPlayers[0].videoStats().then(s => s ? s.framesDecoded || 0 : 0)"


def frames_increase(page: Any, by: int = 10, timeout: float = 15_000) -> None:
    start = page.evaluate(FRAMES)
    page.wait_for_function(
        f"""async () => {{
            const s = await window.liveshopPlayers[0].videoStats();
            return !!s && (s.framesDecoded || 0) >= {start + by};
        }}""",
        timeout=timeout,
        polling=250,
    )


def go_live(page: Any, base_url: str) -> None:
    page.goto(f"{base_url}{CONSOLE}")
    page.wait_for_function(
        "() => window.liveshopPublisher && window.liveshopPublisher.canPublish"
        " && !!window.liveshopPublisher.stream",
        timeout=15_000,
    )
    page.click("[data-role=go-live]")
    page.wait_for_function("() => window.liveshopPublisher.state === 'live'", timeout=20_000)


def test_host_goes_live_shopper_watches_host_drops_and_returns(browser, login, base_url):
    host_context = browser.new_context()
    viewer_context = browser.new_context()
    try:
        host = host_context.new_page()
        login(host, "host@demo.test", CONSOLE)
        go_live(host, base_url)
        assert host.locator("[data-media-publisher]").get_attribute("data-state") == "live"

        viewer = viewer_context.new_page()  # an anonymous shopper
        viewer.goto(f"{base_url}{ROOM_PAGE}")
        viewer.wait_for_function("() => window.liveshopPlayers[0].state === 'live'", timeout=20_000)
        frames_increase(viewer)
        player = viewer.locator("[data-media-player]")
        assert player.get_attribute("data-state") == "live"
        assert viewer.evaluate("() => document.querySelector('[data-role=video]').muted") is True
        # the host console shows the relay's view of the show
        host.wait_for_function(
            "() => parseInt(document.querySelector('[data-stat=viewers]').textContent, 10) >= 1",
            timeout=10_000,
        )
        assert host.locator("[data-stat=resolution]").inner_text() != "–"

        # The host's browser drops (no goodbye): the viewer sees the host away ...
        host.close()
        viewer.wait_for_function("() => window.liveshopPlayers[0].state === 'away'", timeout=15_000)
        assert "right back" in player.inner_text()

        # ... and resumes by itself when the host is back within the grace period.
        host = host_context.new_page()
        go_live(host, base_url)
        viewer.wait_for_function("() => window.liveshopPlayers[0].state === 'live'", timeout=20_000)
        frames_increase(viewer)

        # tap to unmute
        viewer.click("[data-role=unmute]")
        assert viewer.evaluate("() => document.querySelector('[data-role=video]').muted") is False
    finally:
        host_context.close()
        viewer_context.close()
