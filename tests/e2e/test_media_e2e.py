"""Live video in real Chromium (fake camera and microphone) against a stack started like
`make run` (its media relay process, loopback ICE): the host goes live from the console, a
shopper's room page plays it (frames decoded keep increasing), the host's browser drops, the
viewer shows "host away", the host comes back and the viewer resumes by itself."""

from __future__ import annotations

import asyncio
import threading
import urllib.request
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


def csrf_token(context: Any) -> str:
    return next(c["value"] for c in context.cookies() if c["name"] == "csrftoken")


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
        # the publisher's own getStats poll fills the resolution (on its own timer)
        host.wait_for_function(
            "() => document.querySelector('[data-stat=resolution]').textContent.trim() !== '–'",
            timeout=10_000,
        )

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


class Encoder(threading.Thread):
    """An OBS-like WHIP encoder (aiortc, H.264 + Opus) on its own thread and event loop:
    Playwright's sync API owns this thread's loop."""

    def __init__(self, url: str, key: str) -> None:
        super().__init__(daemon=True)
        self.url, self.key = url, key
        self.started = threading.Event()
        self.stop = threading.Event()
        self.status: int | None = None
        self.location = ""
        self.error: BaseException | None = None

    def _http(self, method: str, url: str, body: bytes | None = None) -> tuple[int, Any, bytes]:
        request = urllib.request.Request(url, data=body, method=method)
        request.add_header("Authorization", f"Bearer {self.key}")
        if body is not None:
            request.add_header("Content-Type", "application/sdp")
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, response.headers, response.read()

    async def _run(self) -> None:
        from media.relay import passthrough
        from tests.media.ws_clients import WhipClient

        passthrough.enable_loopback_ice()
        encoder = WhipClient(level=90)
        loop = asyncio.get_running_loop()
        offer = (await encoder.offer_sdp()).encode()
        self.status, headers, answer = await loop.run_in_executor(
            None, self._http, "POST", self.url, offer
        )
        self.location = headers["Location"]
        await encoder.apply(answer.decode())
        await encoder.wait_connected(10)
        self.started.set()
        while not self.stop.is_set():
            await asyncio.sleep(0.1)
        base = self.url.split("/whip/")[0]
        await loop.run_in_executor(None, self._http, "DELETE", base + self.location)
        await encoder.close()

    def run(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as exc:  # reported by the test
            self.error = exc
            self.started.set()


def test_obs_like_whip_encoder_plays_as_h264_in_the_browser(browser, base_url):
    api = browser.new_context()
    viewer_context = browser.new_context()
    encoder: Encoder | None = None
    try:
        token = api.request.post(
            f"{base_url}/api/v1/auth/token",
            data={"email": "host@demo.test", "password": "liveshop-demo"},
        ).json()["token"]
        made = api.request.post(
            f"{base_url}/api/v1/merchants/demo/rooms/launch/stream-key",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert made.status == 201
        whip_url = made.json()["whip_url"]
        assert whip_url == f"{base_url}/whip/demo/launch"

        encoder = Encoder(whip_url, made.json()["key"])
        encoder.start()
        assert encoder.started.wait(30) and encoder.error is None, encoder.error
        assert encoder.status == 201

        viewer = viewer_context.new_page()
        viewer.goto(f"{base_url}{ROOM_PAGE}")
        viewer.wait_for_function("() => window.liveshopPlayers[0].state === 'live'", timeout=20_000)
        frames_increase(viewer)
        codec = viewer.evaluate(
            """async () => {
                const report = await window.liveshopPlayers[0].pc.getStats();
                let inbound = null, codecs = {};
                report.forEach(s => {
                    if (s.type === 'inbound-rtp' && s.kind === 'video' && s.framesDecoded) inbound = s;
                    if (s.type === 'codec') codecs[s.id] = s.mimeType;
                });
                return inbound ? codecs[inbound.codecId] : null;
            }"""
        )
        assert codec == "video/H264"  # forwarded as published: no transcoding
    finally:
        if encoder is not None:
            encoder.stop.set()
            encoder.join(20)
        api.close()
        viewer_context.close()


def test_scheduled_room_goes_live_when_the_host_publishes(browser, login, base_url):
    host_context = browser.new_context()
    viewer_context = browser.new_context()
    try:
        host = host_context.new_page()
        login(host, "host@demo.test", "/dashboard/demo/")
        made = host.request.post(
            f"{base_url}/api/v1/merchants/demo/rooms",
            data={"slug": "e2e-premiere", "title": "E2E premiere"},
            headers={"X-CSRFToken": csrf_token(host_context)},
        )
        assert made.status == 201, made.text()
        assert made.json()["status"] == "scheduled"

        viewer = viewer_context.new_page()
        viewer.goto(f"{base_url}/s/demo/live/e2e-premiere/")
        viewer.wait_for_function(
            "() => window.liveshopPlayers[0].state === 'waiting'", timeout=10_000
        )
        assert "starts soon" in viewer.locator("[data-media-player]").inner_text()

        host.goto(f"{base_url}/dashboard/demo/rooms/e2e-premiere/console/")
        host.wait_for_function(
            "() => window.liveshopPublisher && window.liveshopPublisher.canPublish"
            " && !!window.liveshopPublisher.stream",
            timeout=15_000,
        )
        host.click("[data-role=go-live]")
        host.wait_for_function("() => window.liveshopPublisher.state === 'live'", timeout=20_000)
        # the host's media puts the room live (when the relay reports it, a moment later)
        status = ""
        for _ in range(40):
            status = host.request.get(f"{base_url}/api/v1/s/demo/rooms/e2e-premiere").json()[
                "status"
            ]
            if status == "live":
                break
            host.wait_for_timeout(250)
        problem = host.locator("[data-role=problem]").inner_text()
        assert status == "live", problem
        viewer.wait_for_function("() => window.liveshopPlayers[0].state === 'live'", timeout=20_000)
        frames_increase(viewer)
    finally:
        host_context.close()
        viewer_context.close()
