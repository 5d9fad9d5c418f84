"""Room fan-out: many viewers, chat writers and gifts in one live room. `python -m bench.room_fanout`

Starts LiveShop as `make run` does (Postgres + Redis, `manage.py serve`: one uvicorn process,
auth and rate limits on) on throwaway state, then drives the demo room `launch` over real
WebSockets from load-client processes (not the server's): `--viewers` anonymous readers
and `--writers` signed-in shoppers (token `auth` frame) each sending `--rate` chat messages
per second, plus gifts when the gift catalog exists. The same run then measures the
tutorial-style room (one `group_send` per message to every viewer's channel,
bench/room_baseline.py, routed only because the benchmark sets `LIVESHOP_ROOM_BASELINE`).
With `--flooders N` the engine room runs a second time with the same load plus N signed-in
chat flooders (`--flood-rate` msg/s each, refusals ignored, reconnecting after 4429): the
`flood` section compares the ordinary readers' latency without / with them (issue 6: within
+20 %) and reports how soon each flooder was throttled (≤ 1 s) and how much it got through.

Reports, per variant: per reader the share of chat delivered (listed in a batch rather than
folded or lost) and of gifts delivered, delivery latency p50/p99 (send → receive, sampled
readers), readers closed early, server CPU cores (the uvicorn process), RSS per viewer,
frames/s delivered per core; writes JSON to bench/results/.

    python -m bench.room_fanout                              # 3,000 viewers, 250 × 2/s, 30 s
    python -m bench.room_fanout --viewers 200 --writers 20 --seconds 10   # a smoke run

Targets (issue 5, one server process, one room): 3,000 viewers with 500 chat msg/s in at
≤ 60 % of one core, every viewer ≥ 99 % of chat and 100 % of gifts, p50 ≤ 150 ms,
p99 ≤ 500 ms, ≤ 40 KB per viewer. Record numbers only on a quiet machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import subprocess
import sys
import time
from typing import Any

import psutil

from .harness import Server, latency_summary, machine_info, percentile, serving, write_result

ROOM_PATH = "/ws/rooms/demo/launch/"
BASELINE_PATH = "/ws/baseline/demo/launch/"
TARGET = {
    "server_cores": 0.6,
    "chat_delivered_min_pct": 99.0,
    "gifts_delivered_min_pct": 100.0,
    "p50_ms": 150,
    "p99_ms": 500,
    "rss_per_viewer_kb": 40,
}

TOKENS = """
import json
from django.conf import settings
from liveshop.accounts.models import User
from liveshop.accounts.services import token_issue
emails = [f"shopper{{i}}@example.test" for i in range(1, {n} + 1)]
users = {{u.email: u for u in User.objects.filter(email__in=emails)}}
tokens = [token_issue(user=users[e], client="bench")[1] for e in emails]
room = {{k[len("LIVESHOP_ROOM_"):].lower(): getattr(settings, k) for k in dir(settings)
        if k.startswith("LIVESHOP_ROOM_")}}
print(json.dumps({{"tokens": tokens, "throttles": settings.LIVESHOP_THROTTLES, "room": room}}))
"""


# --- load clients (run in their own processes: `--client`) -------------------------------------


END = "end-of-run-marker"
"""Text of one last chat message the writers send after the run: a reader has everything
sent before it once it has this (latency is not mistaken for loss)."""


def _now_ms() -> int:
    return int(time.time() * 1000)


async def _connect(url: str, local_ip: str = "") -> Any:
    from websockets.asyncio.client import connect

    # No per-message deflate: the server sends the same bytes to every viewer.
    extra: dict[str, Any] = {"local_addr": (local_ip, 0)} if local_ip else {}
    return await connect(
        url, compression=None, max_size=2**20, ping_interval=None, open_timeout=120, **extra
    )


class Reader:
    __slots__ = (
        "chat",
        "closed",
        "done",
        "folded",
        "frames",
        "gaps",
        "gifts",
        "last_to",
        "latencies",
        "resumes",
        "sampled",
        "ws",
    )

    def __init__(self, sampled: bool) -> None:
        self.ws: Any = None
        self.last_to = 0
        self.resumes: dict[str, int] = {}
        self.gaps = 0
        self.done = asyncio.Event()
        self.frames = 0
        self.chat = 0
        self.gifts = 0
        self.folded = 0
        self.closed: int | None = None
        self.sampled = sampled
        self.latencies: list[int] = []

    def take(self, raw: str, baseline: bool) -> None:
        self.frames += 1
        if END in raw:  # the writers' last message: everything sent before it is in
            self.done.set()
            self.chat -= 1  # not part of the measured load
        if baseline:
            if raw.startswith('{"type":"event"'):
                self.chat += 1
                if self.sampled:
                    self._latency(json.loads(raw)["event"])
            return
        if not raw.startswith('{"type":"batch"'):
            return
        at = raw.find('"to":')
        self.last_to = int(raw[at + 5 : raw.find(",", at)])
        # Counting substrings is cheap enough for thousands of readers per process; only the
        # sampled readers parse the JSON (for latency).
        self.chat += raw.count('"type":"chat.message"')
        self.gifts += raw.count('"type":"gift"')
        at = raw.find('"folded":')
        if at >= 0:
            end = raw.find(",", at)
            self.folded += int(raw[at + 9 : end])
        if self.sampled:
            for event in json.loads(raw)["events"]:
                if event["type"] == "chat.message":
                    self._latency(event)

    def _latency(self, event: dict[str, Any]) -> None:
        text = event.get("text", "")
        if text.startswith("ts:"):
            self.latencies.append(_now_ms() - int(text[3:16]))


RESUME_CODES = frozenset({1001, 1011, 1012, 4408})
"""Closes after which a client reconnects with `?since=<last to>`, as the contract says."""


async def _read(url: str, reader: Reader, baseline: bool) -> None:
    while True:
        ws = reader.ws
        with contextlib.suppress(Exception):  # the close code says how it ended
            async for raw in ws:
                reader.take(raw, baseline)
        code = ws.close_code
        if baseline or reader.done.is_set() or code not in RESUME_CODES:
            reader.closed = code
            break
        reader.resumes[str(code)] = reader.resumes.get(str(code), 0) + 1
        try:
            reader.ws = await _connect(f"{url}?since={reader.last_to}")
            hello = json.loads(await reader.ws.recv())
        except Exception:
            reader.closed = code
            break
        if hello.get("gap"):
            reader.gaps += 1
            reader.last_to = hello["seq"]
    reader.done.set()


async def client_viewers(spec: dict[str, Any]) -> dict[str, Any]:
    url, count, baseline = spec["url"], spec["count"], spec["baseline"]
    readers = [Reader(i % spec["sample_every"] == 0) for i in range(count)]
    tasks = []
    connected = 0
    failed = 0
    pause = 1.0 / spec["connect_rate"]
    for reader in readers:
        try:
            ws = await _connect(url)
            hello = json.loads(await ws.recv())
            assert hello["type"] == "hello", hello
        except Exception:
            failed += 1
            reader.closed = -1
            continue
        reader.ws = ws
        reader.last_to = int(hello["seq"])
        connected += 1
        tasks.append(asyncio.create_task(_read(url, reader, baseline)))
        await asyncio.sleep(pause)
    print(json.dumps({"ready": connected, "failed": failed}), flush=True)
    _t0, t1 = await _go()
    await asyncio.sleep(max(t1 - time.time(), 0))
    # Until every reader has the end marker (or it was closed), at most drain_s more.
    waits = [asyncio.create_task(r.done.wait()) for r in readers if r.closed is None]
    if waits:
        await asyncio.wait(waits, timeout=spec["drain_s"])
    for r in readers:
        r.done.set()  # no more resumes
        if r.ws is not None:
            await r.ws.close()
    await asyncio.gather(*tasks, return_exceptions=True)
    resumes: dict[str, int] = {}
    for r in readers:
        for code, n in r.resumes.items():
            resumes[code] = resumes.get(code, 0) + n
    return {
        "readers": [
            [r.chat, r.gifts, r.folded, r.closed if r.closed not in (1000, None) else 0, r.frames]
            for r in readers
        ],
        "latencies_ms": [x for r in readers for x in r.latencies],
        "resumes": resumes,
        "gaps": sum(r.gaps for r in readers),
    }


async def client_writers(spec: dict[str, Any]) -> dict[str, Any]:
    url, tokens, rate, baseline = spec["url"], spec["tokens"], spec["rate"], spec["baseline"]
    # Gifts are idempotent by (wallet, nonce): a second run with the same accounts needs
    # nonces of its own, or its gifts are replays of the first run's.
    run = spec.get("nonce_prefix", "")
    sockets: list[Any] = []
    errors: dict[str, int] = {}
    gift_code = None
    drains = []

    async def drain(ws: Any) -> None:
        with contextlib.suppress(Exception):
            async for raw in ws:
                if raw.startswith('{"type":"error"'):
                    code = json.loads(raw)["code"]
                    errors[code] = errors.get(code, 0) + 1

    for token in tokens:
        ws = await _connect(url)
        hello = json.loads(await ws.recv())
        if not baseline and hello["room"].get("gifts"):
            gift_code = hello["room"]["gifts"][0]["code"]
        await ws.send(json.dumps({"type": "auth", "token": token}))
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] in ("auth.ok", "error"):
                assert frame["type"] == "auth.ok", frame
                break
        sockets.append(ws)
        drains.append(asyncio.create_task(drain(ws)))
    print(json.dumps({"ready": len(sockets), "gifts": gift_code}), flush=True)
    t0, t1 = await _go()
    sent = {"chat": 0, "gift": 0}
    gift_every = spec["gift_every_s"]

    async def write(i: int, ws: Any) -> None:
        rng = random.Random(i)
        period = 1.0 / rate
        at = t0 + rng.random() * period  # spread the writers over one period
        next_gift = t0 + rng.random() * gift_every if gift_every else math.inf
        n = 0
        while at < t1:
            await asyncio.sleep(max(at - time.time(), 0))
            n += 1
            await ws.send(
                json.dumps(
                    {"type": "chat.send", "text": f"ts:{_now_ms()} w{i} m{n}", "nonce": f"{run}{n}"}
                )
            )
            sent["chat"] += 1
            if gift_code and time.time() >= next_gift:
                await ws.send(
                    json.dumps({"type": "gift.send", "gift": gift_code, "nonce": f"{run}g{n}"})
                )
                sent["gift"] += 1
                next_gift += gift_every
            at += period

    await asyncio.gather(*(write(i, ws) for i, ws in enumerate(sockets)))
    await asyncio.sleep(0.5)  # a quiet tick: the marker is never folded
    if sockets:
        await sockets[0].send(json.dumps({"type": "chat.send", "text": END, "nonce": "end"}))
    await asyncio.sleep(1.0)
    for ws in sockets:
        await ws.close()
    await asyncio.gather(*drains, return_exceptions=True)
    return {"sent": sent, "errors": errors, "gift_code": gift_code}


FLOOD = "flood:"
"""Prefix of the flooders' chat text (readers take no latency from it; the database count of
accepted flood messages looks for it)."""


async def client_flooders(spec: dict[str, Any]) -> dict[str, Any]:
    """Signed-in writers that send chat at `rate`/s each whatever the server answers; after a
    close (4429 once they have been refused ABUSE_STRIKES times) they reconnect, sign in again
    and go on, as a determined flooder would, until the window ends."""
    url, tokens, rate, ip = spec["url"], spec["tokens"], spec["rate"], spec["local_ip"]

    async def open_signed_in(token: str) -> tuple[Any, bool]:
        ws = await _connect(url, ip)
        await ws.recv()  # hello
        await ws.send(json.dumps({"type": "auth", "token": token}))
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if frame["type"] in ("auth.ok", "error"):
                return ws, frame["type"] == "auth.ok"

    first = [await open_signed_in(token) for token in tokens]
    print(json.dumps({"ready": sum(ok for _ws, ok in first)}), flush=True)
    t0, t1 = await _go()

    async def flood(i: int, ws: Any, token: str) -> dict[str, Any]:
        st: dict[str, Any] = {
            "sent": 0,
            "listed": 0,
            "errors": {},
            "closes": {},
            "connections": 1,
            "auth_refused": 0,
            "first_send": None,
            "first_refusal": None,
        }
        own = f'"text":"{FLOOD}f{i} '

        async def drain(sock: Any) -> None:
            with contextlib.suppress(Exception):
                async for raw in sock:
                    if raw.startswith('{"type":"error"'):
                        code = json.loads(raw)["code"]
                        st["errors"][code] = st["errors"].get(code, 0) + 1
                        if code == "rate_limited" and st["first_refusal"] is None:
                            st["first_refusal"] = time.time()
                    elif raw.startswith('{"type":"batch"'):
                        st["listed"] += raw.count(own)

        period = 1.0 / rate
        at = t0 + (i / max(len(tokens), 1)) * period
        n = 0
        while at < t1:
            reading = asyncio.create_task(drain(ws))
            while at < t1 and not reading.done():
                await asyncio.sleep(max(at - time.time(), 0))
                at += period
                n += 1
                try:
                    await ws.send(
                        json.dumps(
                            {"type": "chat.send", "text": f"{FLOOD}f{i} m{n}", "nonce": f"{n}"}
                        )
                    )
                except Exception:
                    break
                st["sent"] += 1
                if st["first_send"] is None:
                    st["first_send"] = time.time()
            if at >= t1:
                await asyncio.sleep(0.5)  # answers to the last frames
                await ws.close()
                await reading
                break
            await reading
            code = str(ws.close_code)
            st["closes"][code] = st["closes"].get(code, 0) + 1
            try:
                ws, ok = await open_signed_in(token)
            except Exception:
                st["closes"]["reconnect_failed"] = st["closes"].get("reconnect_failed", 0) + 1
                await asyncio.sleep(0.2)
                continue
            st["connections"] += 1
            st["auth_refused"] += 0 if ok else 1
        first_send, first_refusal = st.pop("first_send"), st.pop("first_refusal")
        st["throttled_within_s"] = (
            round(first_refusal - first_send, 3)
            if first_send is not None and first_refusal is not None
            else None
        )
        return st

    flooders = await asyncio.gather(
        *(
            flood(i, ws, token)
            for i, ((ws, _ok), token) in enumerate(zip(first, tokens, strict=True))
        )
    )
    return {"flooders": list(flooders)}


async def _go() -> tuple[float, float]:
    line = await asyncio.to_thread(sys.stdin.readline)
    _, t0, t1 = line.split()
    await asyncio.sleep(max(float(t0) - time.time(), 0))
    return float(t0), float(t1)


def run_client() -> None:
    spec = json.loads(sys.stdin.readline())
    func = {"writers": client_writers, "flooders": client_flooders}.get(
        spec["role"], client_viewers
    )
    result = asyncio.run(func(spec))
    print(json.dumps({"result": result}), flush=True)


# --- the run ----------------------------------------------------------------------------------


def _web_process(server: Server) -> psutil.Process:
    for proc in server.processes():
        try:
            if any("uvicorn" in part for part in proc.cmdline()):
                return proc
        except psutil.Error:
            continue
    raise RuntimeError("no uvicorn process under serve")


def _cpu(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


class Client:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.room_fanout", "--client"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(spec) + "\n")
        self.proc.stdin.flush()

    def line(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        raw = self.proc.stdout.readline()
        if not raw:
            raise RuntimeError(f"load client exited with {self.proc.wait()}")
        return dict(json.loads(raw))

    def go(self, t0: float, t1: float) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"go {t0} {t1}\n")
        self.proc.stdin.flush()

    def cpu_seconds(self) -> float:
        try:
            return _cpu(psutil.Process(self.proc.pid))
        except psutil.Error:
            return 0.0


def run_variant(
    server: Server,
    *,
    name: str,
    path: str,
    viewers: int,
    writers: int,
    rate: float,
    tokens: list[str],
    args: argparse.Namespace,
    flooders: int = 0,
) -> dict[str, Any]:
    url = f"ws://{server.host}:{server.port}{path}"
    baseline = name == "baseline"
    web = _web_process(server)
    rss0 = web.memory_info().rss
    per_proc = max(1, math.ceil(viewers / max(args.viewer_procs, 1)))
    viewer_clients = []
    left = viewers
    while left > 0:
        count = min(per_proc, left)
        left -= count
        viewer_clients.append(
            Client(
                {
                    "role": "viewers",
                    "url": url,
                    "count": count,
                    "baseline": baseline,
                    "sample_every": args.sample_every,
                    "connect_rate": args.connect_rate,
                    "drain_s": args.drain,
                }
            )
        )
    ready = [c.line() for c in viewer_clients]
    time.sleep(2.0)  # presence and hub settle
    rss1 = web.memory_info().rss
    writer_client = Client(
        {
            "role": "writers",
            "url": url,
            "tokens": tokens[:writers],
            "rate": rate,
            "baseline": baseline,
            "gift_every_s": 0 if baseline else args.gift_every,
            "drain_s": args.drain,
            "nonce_prefix": "f" if flooders else "",
        }
    )
    writer_client.line()
    clients = [*viewer_clients, writer_client]
    flood_client = None
    if flooders:  # their own accounts (after the writers'), from their own address
        flood_client = Client(
            {
                "role": "flooders",
                "url": url,
                "tokens": tokens[writers : writers + flooders],
                "rate": args.flood_rate,
                "local_ip": args.flood_ip,
            }
        )
        flood_client.line()
        clients.append(flood_client)
    t0 = time.time() + 1.0
    t1 = t0 + args.seconds
    for c in clients:
        c.go(t0, t1)
    time.sleep(max(t0 - time.time(), 0))
    web_cpu0, load_cpu0, wall0 = _cpu(web), sum(c.cpu_seconds() for c in clients), time.monotonic()
    busy0 = psutil.cpu_times()
    time.sleep(max(t1 - time.time(), 0))
    web_cpu1, load_cpu1, wall = (
        _cpu(web),
        sum(c.cpu_seconds() for c in clients),
        time.monotonic() - wall0,
    )
    busy1 = psutil.cpu_times()
    machine_busy = sum(
        getattr(busy1, f) - getattr(busy0, f) for f in ("user", "system", "nice", "irq", "softirq")
    )
    results = [c.line()["result"] for c in clients]
    flood = results.pop()["flooders"] if flood_client is not None else None
    # Frames per CPU-second over the whole delivery, sending window plus catching up.
    web_cpu_all, wall_all = _cpu(web) - web_cpu0, time.monotonic() - wall0
    for c in clients:
        c.proc.wait(timeout=60)
    writer = results[-1]
    readers = [r for res in results[:-1] for r in res["readers"]]
    latencies = [x / 1000 for res in results[:-1] for x in res["latencies_ms"]]
    # Total chat (and gifts) in the window: what a reader that stayed got, listed or folded.
    total_chat = max((r[0] + r[2] for r in readers if r[3] == 0), default=0)
    total_gifts = max((r[1] for r in readers if r[3] == 0), default=0)
    chat_pct = sorted(100.0 * r[0] / total_chat if total_chat else 0.0 for r in readers)
    gift_pct = sorted(100.0 * r[1] / total_gifts if total_gifts else 0.0 for r in readers)
    resumes: dict[str, int] = {}
    for res in results[:-1]:
        for code, n in res["resumes"].items():
            resumes[code] = resumes.get(code, 0) + n
    gaps = sum(res["gaps"] for res in results[:-1])
    closed: dict[str, int] = {}
    for r in readers:
        if r[3]:
            closed[str(r[3])] = closed.get(str(r[3]), 0) + 1
    cores = (web_cpu1 - web_cpu0) / wall if wall else 0.0
    frames = sum(r[4] for r in readers)  # received over the run (incl. drain)
    extra: dict[str, Any] = {}
    if flood is not None:
        extra["flooders"] = _flood_summary(flood, args)
    return {
        "variant": name,
        "path": path,
        "viewers": viewers,
        "viewers_connected": sum(x["ready"] for x in ready),
        "writers": writers,
        "rate_per_writer": rate,
        "chat_sent": writer["sent"]["chat"],
        "chat_sent_per_s": round(writer["sent"]["chat"] / args.seconds, 1),
        "gifts_sent": writer["sent"]["gift"],
        "gift_code": writer.get("gift_code"),
        "writer_errors": writer["errors"],
        "chat_in_window": total_chat,
        "chat_delivered_pct": {
            "min": round(chat_pct[0], 2) if chat_pct else None,
            "p1": round(percentile(chat_pct, 1), 2),
            "p50": round(percentile(chat_pct, 50), 2),
            "readers_at_least_99": sum(1 for p in chat_pct if p >= 99.0),
        },
        "gifts_delivered_pct": None
        if not total_gifts
        else {
            "min": round(gift_pct[0], 2),
            "p50": round(percentile(gift_pct, 50), 2),
            "readers_all": sum(1 for p in gift_pct if p >= 100.0),
        },
        "readers_closed": closed,
        "reader_resumes": resumes,
        "reader_resumes_with_gap": gaps,
        "latency": latency_summary(latencies),
        "latency_samples": len(latencies),
        "server": {
            "web_cpu_cores": round(cores, 3),
            "rss_before_mb": round(rss0 / 2**20, 1),
            "rss_with_viewers_mb": round(rss1 / 2**20, 1),
            "rss_per_viewer_kb": round((rss1 - rss0) / 1024 / max(viewers, 1), 1),
            "frames_received": frames,
            "delivery_wall_s": round(wall_all, 2),
            "frames_per_s": round(frames / wall_all) if wall_all else None,
            "frames_per_s_per_core": round(frames / web_cpu_all) if web_cpu_all else None,
        },
        "loadgen_cpu_cores": round((load_cpu1 - load_cpu0) / wall, 2) if wall else None,
        "machine_busy_cores": round(machine_busy / wall, 2) if wall else None,
        "wall_s": round(wall, 2),
        **extra,
    }


def _flood_summary(flood: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    within = [f["throttled_within_s"] for f in flood]
    errors: dict[str, int] = {}
    closes: dict[str, int] = {}
    for f in flood:
        for code, n in f["errors"].items():
            errors[code] = errors.get(code, 0) + n
        for code, n in f["closes"].items():
            closes[code] = closes.get(code, 0) + n
    return {
        "count": len(flood),
        "rate_per_flooder": args.flood_rate,
        "local_ip": args.flood_ip,
        "sent": sum(f["sent"] for f in flood),
        "refused_rate_limited": errors.get("rate_limited", 0),
        "errors": errors,
        "closes": closes,
        "connections": sum(f["connections"] for f in flood),
        "auth_refused": sum(f["auth_refused"] for f in flood),
        "listed_to_flooders": [f["listed"] for f in flood],
        "throttled_within_s": within,
        "throttled_within_max_s": None if None in within else max(within, default=None),
        "per_flooder": flood,
    }


def _flood_section(
    results: list[dict[str, Any]], stored: dict[str, int], setup: dict[str, Any]
) -> dict[str, Any]:
    """Issue 6: the ordinary readers' latency without and with the flooders (same server,
    same load), and how fast the flooders were throttled."""
    without = next(r for r in results if r["variant"] == "engine")
    with_ = next(r for r in results if r["variant"] == "flooded")
    flood = with_["flooders"]

    def ratio(key: str) -> float | None:
        a, b = without["latency"][key], with_["latency"][key]
        return round(b / a, 3) if a else None

    p50, p99 = ratio("p50_ms"), ratio("p99_ms")
    return {
        "flooders": flood["count"],
        "order": [r["variant"] for r in results if r["variant"] in ("engine", "flooded")],
        "rate_per_flooder": flood["rate_per_flooder"],
        "local_ip": flood["local_ip"],
        "p50_ms": {"without": without["latency"]["p50_ms"], "with": with_["latency"]["p50_ms"]},
        "p99_ms": {"without": without["latency"]["p99_ms"], "with": with_["latency"]["p99_ms"]},
        "p50_ratio": p50,
        "p99_ratio": p99,
        "within_20pct": None if p50 is None or p99 is None else p50 <= 1.2 and p99 <= 1.2,
        "server_cores": {
            "without": without["server"]["web_cpu_cores"],
            "with": with_["server"]["web_cpu_cores"],
        },
        "chat_delivered_min_pct": {
            "without": without["chat_delivered_pct"]["min"],
            "with": with_["chat_delivered_pct"]["min"],
        },
        "writer_errors_with": with_["writer_errors"],
        "throttled_within_s": flood["throttled_within_s"],
        "throttled_within_max_s": flood["throttled_within_max_s"],
        "throttled_within_1s": None
        if flood["throttled_within_max_s"] is None
        else flood["throttled_within_max_s"] <= 1.0,
        "sent": flood["sent"],
        "accepted_stored": sum(stored.values()),
        "accepted_stored_per_flooder": stored,
        "listed_to_flooders": flood["listed_to_flooders"],
        "refused_rate_limited": flood["refused_rate_limited"],
        "closes": flood["closes"],
        "connections": flood["connections"],
        "throttles": setup["throttles"],
        "room_limits": {
            k: v for k, v in setup["room"].items() if k.endswith("_rate") or "strikes" in k
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--viewers", type=int, default=3000)
    parser.add_argument("--writers", type=int, default=250)
    parser.add_argument("--rate", type=float, default=2.0, help="chat messages/s per writer")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--gift-every", type=float, default=5.0, help="s between a writer's gifts")
    parser.add_argument("--viewer-procs", type=int, default=0, help="load processes for viewers")
    parser.add_argument("--connect-rate", type=float, default=300.0, help="per load process")
    parser.add_argument("--sample-every", type=int, default=10, help="latency from 1 in N")
    parser.add_argument(
        "--drain", type=float, default=30.0, help="longest wait for the end marker (s)"
    )
    parser.add_argument("--baseline-viewers", type=int, default=500)
    parser.add_argument("--baseline-writers", type=int, default=50)
    parser.add_argument("--baseline-rate", type=float, default=1.0)
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument(
        "--flooders",
        type=int,
        default=0,
        help="signed-in chat flooders; > 0 runs the engine room again with them (issue 6)",
    )
    parser.add_argument("--flood-rate", type=float, default=50.0, help="msg/s per flooder")
    parser.add_argument(
        "--flood-first", action="store_true", help="run the flooded engine room before the plain"
    )
    parser.add_argument(
        "--flood-ip",
        default="127.0.0.2",
        help="loopback address the flooders connect from ('' = the others' address)",
    )
    parser.add_argument("--label", default="", help="free text stored with the result")
    args = parser.parse_args()
    if args.client:
        run_client()
        return
    if not args.viewer_procs:
        args.viewer_procs = max(1, math.ceil(args.viewers / 1500))

    before = machine_info()
    shoppers = max(
        args.writers + args.flooders, 0 if args.no_baseline else args.baseline_writers, 5
    )
    with serving(
        name="room_fanout", shoppers=shoppers, env={"LIVESHOP_ROOM_BASELINE": "1"}
    ) as server:
        setup = server.manage_json(TOKENS.format(n=shoppers))
        tokens = setup["tokens"]
        # With flooders: the same room and load again, plus the flooders (after the plain
        # run, or before it with --flood-first: the first run pays the warm-up).
        order = [0, args.flooders] if args.flooders else [0]
        if args.flood_first:
            order.reverse()
        results = []
        for i, flooders in enumerate(order):
            if i:
                time.sleep(3)
            results.append(
                run_variant(
                    server,
                    name="flooded" if flooders else "engine",
                    path=ROOM_PATH,
                    viewers=args.viewers,
                    writers=args.writers,
                    rate=args.rate,
                    tokens=tokens,
                    args=args,
                    flooders=flooders,
                )
            )
        if not args.no_baseline:
            time.sleep(3)
            results.append(
                run_variant(
                    server,
                    name="baseline",
                    path=BASELINE_PATH,
                    viewers=args.baseline_viewers,
                    writers=args.baseline_writers,
                    rate=args.baseline_rate,
                    tokens=tokens,
                    args=args,
                )
            )
        stored = server.psql("SELECT count(*) FROM rooms_roomevent WHERE type = 'chat.message'")[0][
            0
        ]
        flood_stored = dict(
            server.psql(
                "SELECT substring(data->>'text' from '^flood:(f[0-9]+) '), count(*) "
                "FROM rooms_roomevent WHERE type = 'chat.message' "
                "AND data->>'text' LIKE 'flood:%%' GROUP BY 1"
            )
        )
    engine = next(r for r in results if r["variant"] == "engine")
    verdict = {
        "server_cores_ok": engine["server"]["web_cpu_cores"] <= TARGET["server_cores"],
        "chat_ok": (engine["chat_delivered_pct"]["min"] or 0) >= TARGET["chat_delivered_min_pct"],
        "gifts_ok": None
        if engine["gifts_delivered_pct"] is None
        else engine["gifts_delivered_pct"]["min"] >= TARGET["gifts_delivered_min_pct"],
        "p50_ok": engine["latency"]["p50_ms"] <= TARGET["p50_ms"],
        "p99_ok": engine["latency"]["p99_ms"] <= TARGET["p99_ms"],
        "rss_ok": engine["server"]["rss_per_viewer_kb"] <= TARGET["rss_per_viewer_kb"],
    }
    data = {
        "benchmark": "room_fanout",
        "label": args.label,
        "params": {k: v for k, v in vars(args).items() if k != "client"},
        "server": {
            "command": "manage.py serve (one uvicorn process, Postgres + Redis)",
            "env": {"LIVESHOP_ROOM_BASELINE": "1 (routes the baseline room only)"},
            "throttles": setup["throttles"],
            "room_settings": setup["room"],
        },
        "chat_events_stored": stored,
        "target": TARGET,
        "verdict": verdict,
        "machine_before": before,
        "machine_after": {"load_average": machine_info()["load_average"]},
        "results": results,
    }
    if args.flooders:
        data["flood"] = _flood_section(results, flood_stored, setup)
    path = write_result("room_fanout", data)
    print(f"\nroom_fanout: {args.seconds:g} s per variant")
    print(
        f"{'variant':9} {'viewers':>7} {'msg/s':>6} {'chat min%':>9} {'p1%':>6} {'gifts min%':>10} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'cores':>6} {'KB/viewer':>9} {'frames/s/core':>13} closed"
    )
    for r in results:
        gifts = r["gifts_delivered_pct"]["min"] if r["gifts_delivered_pct"] else "-"
        print(
            f"{r['variant']:9} {r['viewers_connected']:7} {r['chat_sent_per_s']:6} "
            f"{r['chat_delivered_pct']['min']!s:>9} {r['chat_delivered_pct']['p1']!s:>6} "
            f"{gifts!s:>10} {r['latency']['p50_ms']:7} {r['latency']['p99_ms']:7} "
            f"{r['server']['web_cpu_cores']:6} {r['server']['rss_per_viewer_kb']:9} "
            f"{r['server']['frames_per_s_per_core']!s:>13} {r['readers_closed']} "
            f"resumed {r['reader_resumes']} (gap {r['reader_resumes_with_gap']})"
        )
    if "flood" in data:
        f = data["flood"]
        print(
            f"flood: {args.flooders} flooder(s) × {args.flood_rate:g}/s from "
            f"{args.flood_ip or 'the same address'}: readers' p50 {f['p50_ms']['without']} → "
            f"{f['p50_ms']['with']} ms (× {f['p50_ratio']}), p99 {f['p99_ms']['without']} → "
            f"{f['p99_ms']['with']} ms (× {f['p99_ratio']}); throttled within "
            f"{f['throttled_within_s']} s, accepted {f['accepted_stored']} (stored), refused "
            f"{f['refused_rate_limited']}, closes {f['closes']}, ordinary writers refused "
            f"{f['writer_errors_with']}; within +20 %: {f['within_20pct']}"
        )
    print(
        f"verdict (engine): {verdict}\nmachine busy cores: "
        f"{[r['machine_busy_cores'] for r in results]}, load average before/after: "
        f"{before['load_average']} → {data['machine_after']['load_average']}\nwrote {path}"
    )


if __name__ == "__main__":
    if "--client" in sys.argv:
        os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
