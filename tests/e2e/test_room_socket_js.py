"""The room pages' shared scripts in Chromium, without a server: static/js/rooms/socket.js
(resume with `since`, duplicates dropped, a hole or a `gap` handled, backoff, fatal close
codes) against a scripted fake WebSocket, and static/js/rooms/chat.js (one render per
frame, at most `max` nodes, moderation removals)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

STATIC = Path(settings.BASE_DIR) / "static" / "js" / "rooms"

FAKE_SOCKET = """
window.gettext = (s) => s;
window.sockets = [];
window.seen = {hello: [], events: [], stats: [], states: [], errors: [], closed: []};
class FakeSocket {
  constructor(url) { this.url = url; this.readyState = 0; this.sent = []; window.sockets.push(this); }
  send(text) { this.sent.push(JSON.parse(text)); }
  close(code) { this.readyState = 3; if (this.onclose) this.onclose({code: code || 1000}); }
  // the server's side
  open() { this.readyState = 1; }
  frame(data) { this.onmessage({data: JSON.stringify(data)}); }
  drop(code) { this.readyState = 3; this.onclose({code: code}); }
}
FakeSocket.OPEN = 1;
window.WebSocket = FakeSocket;
window.last = () => window.sockets[window.sockets.length - 1];
window.batch = (from, to, extra) => Object.assign({type: "batch", from: from, to: to, folded: 0,
  stats: {viewers: 1, likes: 0},
  events: Array.from({length: Math.max(0, to - from + 1)}, (_, i) => ({seq: from + i, type: "chat.message", ts: 1, user: {id: 1, name: "a"}, text: "m" + (from + i)}))}, extra || {});
"""

START = """() => {
  window.room = new LiveShopRoomSocket({
    url: "/ws/rooms/acme/launch/",
    onHello: (f, info) => seen.hello.push({seq: f.seq, fresh: info.fresh}),
    onEvents: (events, b) => seen.events.push(...events.map(e => e.seq)),
    onStats: (s) => seen.stats.push(s.viewers),
    onError: (f) => seen.errors.push(f.code),
    onState: (s) => seen.states.push(s),
    onClosed: (code) => seen.closed.push(code),
  });
  room.connect();
}"""


@pytest.fixture
def page(browser: Any) -> Any:
    context = browser.new_context()
    page = context.new_page()
    page.set_content("<!doctype html><html lang='en'><body><ul id='chat'></ul></body></html>")
    page.add_script_tag(content=FAKE_SOCKET)
    page.add_script_tag(content=(STATIC / "socket.js").read_text())
    page.add_script_tag(content=(STATIC / "chat.js").read_text())
    yield page
    context.close()


def seen(page: Any) -> dict[str, Any]:
    return dict(page.evaluate("() => JSON.parse(JSON.stringify(seen))"))


def test_resume_with_since_delivers_each_event_once(page):
    page.evaluate(START)
    page.evaluate(
        "() => { last().open(); last().frame({type: 'hello', seq: 5, room: {}, recent: [], gap: false}); }"
    )
    page.evaluate("() => last().frame(batch(6, 7))")
    assert page.evaluate("() => last().url").endswith("/ws/rooms/acme/launch/")
    assert seen(page)["events"] == [6, 7]

    # the connection drops: a reconnect after the backoff asks for what came after seq 7
    page.evaluate("() => last().drop(1006)")
    assert seen(page)["states"][-1] == "reconnecting"
    page.wait_for_function("() => sockets.length === 2", timeout=3000)
    assert page.evaluate("() => last().url").endswith("/ws/rooms/acme/launch/?since=7")
    page.evaluate(
        "() => { last().open(); last().frame({type: 'hello', seq: 9, room: {}, recent: [], gap: false}); }"
    )
    # a resume keeps its place: the missed events follow; seen ones are dropped
    page.evaluate(
        "() => { last().frame(batch(6, 7)); last().frame(batch(8, 9)); last().frame(batch(10, 10)); }"
    )
    result = seen(page)
    assert result["hello"] == [{"seq": 5, "fresh": True}, {"seq": 9, "fresh": False}]
    assert result["events"] == [6, 7, 8, 9, 10]
    assert result["states"][-1] == "open"
    assert page.evaluate("() => room.lastSeq") == 10


def test_a_hole_reconnects_at_once_and_a_gap_starts_over(page):
    page.evaluate(START)
    page.evaluate(
        "() => { last().open(); last().frame({type: 'hello', seq: 3, room: {}, recent: []}); }"
    )
    page.evaluate("() => last().frame(batch(6, 6))")  # 4 and 5 are missing
    assert seen(page)["events"] == []
    assert page.evaluate("() => sockets.length") == 2
    assert page.evaluate("() => last().url").endswith("?since=3")
    # the events were trimmed meanwhile: hello says gap and the page reloads what it shows
    page.evaluate(
        "() => { last().open(); last().frame({type: 'hello', seq: 500, room: {}, recent: [], gap: true}); }"
    )
    page.evaluate("() => last().frame(batch(501, 501))")
    result = seen(page)
    assert result["hello"][-1] == {"seq": 500, "fresh": True}
    assert result["events"] == [501]


def test_stats_only_batches_and_folded_chat(page):
    page.evaluate(START)
    page.evaluate(
        "() => { last().open(); last().frame({type: 'hello', seq: 10, room: {}, recent: []}); }"
    )
    # a stats-only batch covers no seq (from = S + 1, to = S)
    page.evaluate(
        "() => last().frame({type: 'batch', from: 11, to: 10, events: [], folded: 0, stats: {viewers: 7, likes: 3}})"
    )
    assert page.evaluate("() => room.lastSeq") == 10
    # 11..20 with chat folded: only two events shown, the position still moves to 20
    page.evaluate("() => last().frame(Object.assign(batch(19, 20), {from: 11, folded: 8}))")
    result = seen(page)
    assert result["stats"][-2:] == [7, 1]
    assert result["events"] == [19, 20]
    assert page.evaluate("() => room.lastSeq") == 20


def test_refusals_that_retrying_cannot_fix_stop_the_client(page):
    page.evaluate(START)
    page.evaluate(
        "() => { last().open(); last().frame({type: 'error', code: 'auth_required', message: 'x'}); }"
    )
    page.evaluate("() => last().drop(4403)")
    page.wait_for_timeout(1200)
    result = seen(page)
    assert result["errors"] == ["auth_required"]
    assert result["closed"] == [4403]
    assert result["states"][-1] == "closed"
    assert page.evaluate("() => sockets.length") == 1
    # a slow viewer (4408) resumes by itself
    page.evaluate(START)
    page.evaluate(
        "() => { last().open(); last().frame({type: 'hello', seq: 1, room: {}, recent: []}); last().drop(4408); }"
    )
    page.wait_for_function("() => sockets.length === 3", timeout=3000)
    assert page.evaluate("() => last().url").endswith("?since=1")


def test_the_chat_list_renders_per_frame_keeps_60_and_removes(page):
    page.evaluate(
        """() => {
        window.chat = new LiveShopChatList(document.getElementById('chat'), {max: 60, render: (e) => {
          const li = document.createElement('li'); li.textContent = e.text; return li; }});
        for (let i = 1; i <= 500; i++) chat.push({seq: i, type: 'chat.message', text: 'm' + i});
        window.before = document.querySelectorAll('#chat li').length;
        chat.remove(499);  // removed while still queued
      }"""
    )
    assert page.evaluate("() => before") == 0  # nothing rendered until the next frame
    page.wait_for_function("() => document.querySelectorAll('#chat li').length > 0")
    texts = page.evaluate(
        "() => [...document.querySelectorAll('#chat li')].map(li => li.textContent)"
    )
    assert len(texts) == 59 and texts[-1] == "m500" and "m499" not in texts
    page.evaluate("() => chat.remove(500)")
    assert page.evaluate("() => document.querySelector('#chat li[data-seq=\"500\"]')") is None
