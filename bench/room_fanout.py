"""Room fan-out: many viewers, chat writers and gifts in one live room. `python -m bench.room_fanout`

Starts LiveShop as `make run` does (Postgres + Redis, `manage.py serve`: one uvicorn process,
auth and rate limits on) on throwaway state, then drives the demo room `launch` over real
WebSockets from load-client processes (not the server's): `--viewers` anonymous readers
and `--writers` signed-in shoppers (token `auth` frame) each sending `--rate` chat messages
per second, plus gifts when the gift catalog exists. The same run then measures the
tutorial-style room (one `group_send` per message to every viewer's channel,
bench/room_baseline.py, routed only because the benchmark sets `LIVESHOP_ROOM_BASELINE`).

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


async def _connect(url: str) -> Any:
    from websockets.asyncio.client import connect

    # No per-message deflate: the server sends the same bytes to every viewer.
    return await connect(
        url, compression=None, max_size=2**20, ping_interval=None, open_timeout=120
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
                    {"type": "chat.send", "text": f"ts:{_now_ms()} w{i} m{n}", "nonce": f"{n}"}
                )
            )
            sent["chat"] += 1
            if gift_code and time.time() >= next_gift:
                await ws.send(
                    json.dumps({"type": "gift.send", "gift": gift_code, "nonce": f"g{n}"})
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


async def _go() -> tuple[float, float]:
    line = await asyncio.to_thread(sys.stdin.readline)
    _, t0, t1 = line.split()
    await asyncio.sleep(max(float(t0) - time.time(), 0))
    return float(t0), float(t1)


def run_client() -> None:
    spec = json.loads(sys.stdin.readline())
    func = client_writers if spec["role"] == "writers" else client_viewers
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
        }
    )
    writer_client.line()
    clients = [*viewer_clients, writer_client]
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
    parser.add_argument("--label", default="", help="free text stored with the result")
    args = parser.parse_args()
    if args.client:
        run_client()
        return
    if not args.viewer_procs:
        args.viewer_procs = max(1, math.ceil(args.viewers / 1500))

    before = machine_info()
    shoppers = max(args.writers, 0 if args.no_baseline else args.baseline_writers, 5)
    with serving(
        name="room_fanout", shoppers=shoppers, env={"LIVESHOP_ROOM_BASELINE": "1"}
    ) as server:
        setup = server.manage_json(TOKENS.format(n=shoppers))
        tokens = setup["tokens"]
        results = [
            run_variant(
                server,
                name="engine",
                path=ROOM_PATH,
                viewers=args.viewers,
                writers=args.writers,
                rate=args.rate,
                tokens=tokens,
                args=args,
            )
        ]
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
    engine = results[0]
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
    print(
        f"verdict (engine): {verdict}\nmachine busy cores: "
        f"{[r['machine_busy_cores'] for r in results]}, load average before/after: "
        f"{before['load_average']} → {data['machine_after']['load_average']}\nwrote {path}"
    )


if __name__ == "__main__":
    if "--client" in sys.argv:
        os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
