"""Benchmark of 1v1 consults (not a test): how fast a call connects, and how many calls one
relay process carries.

    python -m bench.consult_connect                                  # both parts
    python -m bench.consult_connect --consults 3 --capacity 1,2 --window 4   # a smoke run

Part 1, `connect` — accept → first frame, end to end. LiveShop runs as `make run` starts it
(bench.harness: Postgres + Redis, web, one relay, Celery; loopback ICE). For each of
`--consults` calls in turn: a shopper asks (`POST /api/v1/s/demo/consults`), opens the
consult socket with its join token and waits in the queue; the agent accepts
(`POST …/consults/accept`: the clock starts), opens its socket, and both sides publish
camera + microphone (aiortc, 640x360 VP8 + Opus, real encoders) and subscribe, through the
product's signalling. Measured per side: accept → first decoded video frame of the OTHER
party (p50/p95 over the calls), and for the call, the later of the two. Then the agent ends
it. Target (issue 9): both see each other ≤ 3 s after the accept on loopback.

Part 2, `capacity` — one relay process (`manage.py media_relay`, pinned to CPU 0) and
`--capacity` lists of concurrent consults. Each consult is what a real one is to the relay:
its own session (profile `consult`), two publishers (360p30 VP8 at `--bitrate`, Opus) and
two subscribers, each receiving the other party. Clients drive the relay over its control
channel, as the web side does (the WebSocket hop carries no media). To keep 2N publishers
cheap on a small machine they send a pre-encoded clip (encoded once with libvpx, a keyframe
every second; aiortc's packet path, no per-publisher encoder), and subscribers only count
frames from RTP marker bits after SRTP (bench.media_fanout's `sink`). After a settle, a
window measures relay CPU (1.00 = one core), client CPU, and per-subscriber delivered fps.
"Sustained" = the largest N whose every subscriber got ≥ 90 % of 30 fps; the ramp stops at
the first N that drops frames. When clients_cores nears the client CPUs, the clients, not
the relay, were the limit (see bench/README.md).

Writes JSON to bench/results/consult_connect-<UTC time>.json; logs to bench/results/logs/.
Smoke-run only while the machine is shared; the JSON records the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fractions
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FPS = 30
GOP = FPS  # the replayed clip's keyframe interval: late joiners wait at most a second
FLOOR_FPS = 0.9 * FPS

TOKENS = """
import json
from liveshop.accounts.models import User
from liveshop.accounts.services import token_issue
agent = User.objects.get(email="agent@demo.test")
shoppers = list(User.objects.filter(email__endswith="@example.test").order_by("id")[:{n}])
print(json.dumps({{
    "agent": token_issue(user=agent)[1],
    "shoppers": [token_issue(user=u)[1] for u in shoppers],
}}))
"""


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))], 3)


# --- part 1: accept → first frame through the product ---------------------------------------


class Socket:
    """A consult socket driven like the call page drives it."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(Exception):
            async for raw in self.ws:
                await self.queue.put(json.loads(raw))

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame))

    async def expect(self, kind: str, timeout: float = 15.0, **match: Any) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            frame = await asyncio.wait_for(self.queue.get(), max(0.01, deadline - time.monotonic()))
            if frame.get("type") == "error":
                raise RuntimeError(f"socket error: {frame}")
            if frame.get("type") == kind and all(frame.get(k) == v for k, v in match.items()):
                return frame

    async def close(self) -> None:
        self.reader.cancel()
        await self.ws.close()


async def _join(base: str, socket_path: str, token: str) -> Socket:
    import websockets

    sock = Socket(await websockets.connect("ws" + base[4:] + socket_path, max_size=64 * 1024))
    await sock.send({"type": "auth", "token": token})
    await sock.expect("auth.ok")
    await sock.expect("consult.state")
    return sock


async def _media(sock: Socket, width: int, height: int) -> tuple[Any, Any, dict[str, float]]:
    """Publish camera + microphone and subscribe to the other party, as the call page does.
    Returns both peer connections and a record that gets the first decoded frame's time."""
    from aiortc import RTCSessionDescription

    from tests.media.clients import SilentishAudio, SyntheticVideo, new_pc

    record: dict[str, float] = {}
    pub = new_pc()
    pub.addTrack(SilentishAudio())
    pub.addTransceiver(SyntheticVideo(90, width=width, height=height), direction="sendonly")
    await pub.setLocalDescription(await pub.createOffer())
    await sock.send({"type": "offer", "role": "publish", "sdp": pub.localDescription.sdp})
    answer = await sock.expect("answer", role="publish")
    await pub.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))

    sub = new_pc()
    sub.addTransceiver("audio", direction="recvonly")
    sub.addTransceiver("video", direction="recvonly")
    readers: list[asyncio.Future[None]] = []

    @sub.on("track")
    def on_track(track: Any) -> None:
        if track.kind != "video":
            return

        async def first() -> None:
            with contextlib.suppress(Exception):
                await track.recv()
                record.setdefault("first_frame", time.monotonic())
                while True:  # keep draining, as a player does
                    await track.recv()

        readers.append(asyncio.ensure_future(first()))

    await sub.setLocalDescription(await sub.createOffer())
    await sock.send({"type": "offer", "role": "subscribe", "sdp": sub.localDescription.sdp})
    answer = await sock.expect("answer", role="subscribe")
    await sub.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))

    async def renegotiate() -> None:  # the relay offers again when the other side publishes
        with contextlib.suppress(Exception):
            while True:
                offer = await sock.expect("offer", timeout=3600)
                await sub.setRemoteDescription(
                    RTCSessionDescription(sdp=offer["sdp"], type="offer")
                )
                await sub.setLocalDescription(await sub.createAnswer())
                await sock.send({"type": "answer", "sdp": sub.localDescription.sdp})

    readers.append(asyncio.ensure_future(renegotiate()))
    sub.bench_readers = readers  # type: ignore[attr-defined]
    return pub, sub, record


async def _shopper_side(sock: Socket) -> tuple[Socket, Any, Any, dict[str, float]]:
    await sock.expect("consult.accepted")  # the page starts its camera on this frame
    return (sock, *await _media(sock, 640, 360))


async def _agent_side(base: str, join: dict[str, Any]) -> tuple[Socket, Any, Any, dict[str, float]]:
    sock = await _join(base, join["socket"], join["token"])
    return (sock, *await _media(sock, 640, 360))


async def connect_runs(base: str, tokens: dict[str, Any], consults: int) -> list[dict[str, Any]]:
    import httpx

    from media.relay import passthrough

    passthrough.enable_loopback_ice()  # our aiortc clients offer 127.0.0.1, like the relay
    runs = []
    agent_h = {"Authorization": f"Bearer {tokens['agent']}"}
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        online = await http.post(
            "/api/v1/merchants/demo/consults/presence",
            json={"status": "online", "max_concurrent": 1},
            headers=agent_h,
        )
        online.raise_for_status()
        for i in range(consults):
            shopper_h = {"Authorization": f"Bearer {tokens['shoppers'][i]}"}
            asked = await http.post("/api/v1/s/demo/consults", json={}, headers=shopper_h)
            asked.raise_for_status()
            consult = asked.json()["consult"]["id"]
            join = asked.json()["join"]
            # the shopper waits in the queue on the consult socket, as the call page does
            shopper_sock = await _join(base, join["socket"], join["token"])
            accept_at = time.monotonic()
            accepted = await http.post(
                "/api/v1/merchants/demo/consults/accept", json={"consult": consult}, headers=agent_h
            )
            accepted.raise_for_status()
            agent_join = accepted.json()["join"]

            sides = await asyncio.gather(_shopper_side(shopper_sock), _agent_side(base, agent_join))
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not all("first_frame" in s[3] for s in sides):
                await asyncio.sleep(0.01)
            shopper_s = sides[0][3].get("first_frame")
            agent_s = sides[1][3].get("first_frame")
            run = {
                "shopper_first_frame_s": round(shopper_s - accept_at, 3) if shopper_s else None,
                "agent_first_frame_s": round(agent_s - accept_at, 3) if agent_s else None,
            }
            run["both_s"] = (
                max(run["shopper_first_frame_s"], run["agent_first_frame_s"])
                if shopper_s and agent_s
                else None
            )
            print(f"  consult {i + 1}: {run}", flush=True)
            runs.append(run)
            (
                await http.post(
                    f"/api/v1/merchants/demo/consults/{consult}/end", json={}, headers=agent_h
                )
            ).raise_for_status()
            for sock, pub, sub, _ in sides:
                for reader in sub.bench_readers:
                    reader.cancel()
                await pub.close()
                await sub.close()
                with contextlib.suppress(Exception):
                    await sock.close()
    return runs


def part_connect(args: argparse.Namespace) -> dict[str, Any]:
    from bench.harness import serving

    env = {"LIVESHOP_ICE_LOOPBACK": "1", "LIVESHOP_CONSULT_REQUEST_RATE": "1000/min"}
    with serving(name="consult_connect", shoppers=args.consults, env=env) as server:
        tokens = server.manage_json(TOKENS.format(n=args.consults))
        runs = asyncio.run(connect_runs(server.base_url, tokens, args.consults))
    shopper = [r["shopper_first_frame_s"] for r in runs if r["shopper_first_frame_s"]]
    agent = [r["agent_first_frame_s"] for r in runs if r["agent_first_frame_s"]]
    both = [r["both_s"] for r in runs if r["both_s"]]
    return {
        "consults": len(runs),
        "failed": sum(1 for r in runs if r["both_s"] is None),
        "shopper_first_frame_p50_s": _pct(shopper, 0.5),
        "shopper_first_frame_p95_s": _pct(shopper, 0.95),
        "agent_first_frame_p50_s": _pct(agent, 0.5),
        "agent_first_frame_p95_s": _pct(agent, 0.95),
        "both_p50_s": _pct(both, 0.5),
        "both_p95_s": _pct(both, 0.95),
        "target_s": 3.0,
        "runs": runs,
    }


# --- part 2: concurrent consults on one relay -----------------------------------------------


def _clip(
    width: int, height: int, bitrate: int, seconds: int = 2
) -> tuple[list[bytes], list[bytes]]:
    """A VP8 clip (keyframe every GOP frames) and an Opus clip, encoded once."""
    import av

    from tests.media.clients import SyntheticVideo

    video = av.CodecContext.create("libvpx", "w")
    video.width, video.height = width, height
    video.pix_fmt = "yuv420p"
    video.bit_rate = bitrate
    video.gop_size = GOP
    video.time_base = fractions.Fraction(1, 90000)
    video.options = {
        "deadline": "realtime",
        "cpu-used": "8",
        "lag-in-frames": "0",
        "minrate": str(bitrate),
        "maxrate": str(bitrate),
        "bufsize": str(bitrate),
    }
    source = SyntheticVideo(90, width=width, height=height)
    frames: list[bytes] = []
    for n in range(FPS * seconds):
        frame = av.VideoFrame(width, height, "yuv420p")
        for plane, data in zip(frame.planes, source._planes[n % 16], strict=True):
            plane.update(data)
        frame.pts = n * 3000
        frame.time_base = fractions.Fraction(1, 90000)
        if n % GOP == 0:
            frame.pict_type = av.video.frame.PictureType.I
        frames.append(b"".join(bytes(p) for p in video.encode(frame)))
    audio = av.CodecContext.create("libopus", "w")
    audio.sample_rate = 48000
    audio.layout = "mono"
    audio.format = "s16"
    audio.bit_rate = 32000
    packets: list[bytes] = []
    n = 0
    while len(packets) < 50 * seconds:
        pcm = av.AudioFrame(format="s16", layout="mono", samples=960)
        pcm.planes[0].update(bytes(range(0, 256, 4)) * 30)
        pcm.sample_rate = 48000
        pcm.pts = n * 960
        n += 1
        packets.extend(bytes(p) for p in audio.encode(pcm))
    return frames, packets


def _replay_tracks(frames: list[bytes], packets: list[bytes]) -> tuple[Any, Any]:
    """Tracks that hand aiortc pre-encoded packets (its packetise-only path), paced live."""
    import av
    from aiortc import MediaStreamTrack
    from aiortc.mediastreams import MediaStreamError

    class Replay(MediaStreamTrack):
        def __init__(
            self, kind: str, clip: list[bytes], rate: int, step: int, interval: float
        ) -> None:
            super().__init__()
            self.kind = kind
            self.clip, self.rate, self.step, self.interval = clip, rate, step, interval
            self.n = 0
            self.start: float | None = None

        async def recv(self) -> Any:
            if self.readyState != "live":
                raise MediaStreamError
            if self.start is None:
                self.start = time.monotonic()
            wait = self.start + self.n * self.interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            packet = av.Packet(self.clip[self.n % len(self.clip)])
            packet.pts = self.n * self.step
            packet.time_base = fractions.Fraction(1, self.rate)
            self.n += 1
            return packet

    return (
        Replay("video", frames, 90000, 90000 // FPS, 1 / FPS),
        Replay("audio", packets, 48000, 960, 0.02),
    )


async def consults_main(args: argparse.Namespace) -> None:
    """Client process: `--count` consults, two publishers and two sink subscribers each."""
    import re

    from aiortc import RTCSessionDescription

    from bench.media_fanout import _SINKS, _install_sink, _loopback, _new_pc, _until_stopped
    from media.relay.client import RelayClient

    _loopback()
    _install_sink()
    frames, packets = _clip(640, 360, args.bitrate)
    client = RelayClient(args.address, request_timeout=60)
    records: list[dict[str, Any]] = []
    pcs: list[Any] = []

    async def consult(i: int) -> None:
        session = f"consult:bench:{i}"
        parties = (f"user:s{i}", f"user:a{i}")
        for identity in parties:
            pc = _new_pc()
            pcs.append(pc)
            video, audio = _replay_tracks(frames, packets)
            pc.addTrack(audio)
            pc.addTransceiver(video, direction="sendonly")
            await pc.setLocalDescription(await pc.createOffer())
            peer = f"{identity}-pub".replace("user:", "p")
            client.events(session, peer)
            reply = await client.offer(
                session=session,
                peer=peer,
                role="publish",
                sdp=pc.localDescription.sdp,
                identity=identity,
                profile="consult",
            )
            await pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type="answer"))
        for identity in parties:
            rec: dict[str, Any] = {"t_start": time.time(), "t_first_kf": None, "vt": [], "bytes": 0}
            records.append(rec)
            pc = _new_pc()
            pcs.append(pc)
            pc.addTransceiver("audio", direction="recvonly")
            pc.addTransceiver("video", direction="recvonly")
            await pc.setLocalDescription(await pc.createOffer())
            peer = f"{identity}-sub".replace("user:", "s")
            client.events(session, peer)
            reply = await client.offer(
                session=session,
                peer=peer,
                role="subscribe",
                sdp=pc.localDescription.sdp,
                identity=identity,
                profile="consult",
            )
            await pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type="answer"))
            found = re.search(r"a=rtpmap:(\d+) VP8/90000", reply["sdp"])
            rec["vpt"] = int(found.group(1)) if found else -1
            for transceiver in pc.getTransceivers():
                _SINKS[transceiver.receiver.transport] = rec

    gate = asyncio.Semaphore(4)

    async def gated(i: int) -> None:
        async with gate:
            await consult(i)

    await asyncio.gather(*(gated(i) for i in range(args.count)))
    print(f"consults joined {args.count}", flush=True)
    await _until_stopped(args.duration)
    Path(args.out).write_text(json.dumps({"subscribers": records}))
    os._exit(0)  # tearing down many peer connections takes longer than the run


def capacity_one(n: int, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from bench.media_fanout import (
        _cpu_seconds,
        _rss_mb,
        _spawn,
        _stop,
        _wait_for_line,
        cpu_pins,
        relay_env,
    )

    tmp = Path(tempfile.mkdtemp(prefix="lscc", dir="/tmp"))  # short: unix socket paths
    address = f"unix:{tmp}/relay.sock"
    env = relay_env(
        tmp,
        LIVESHOP_MEDIA_MAX_SESSIONS=str(max(200, n + 8)),
        LIVESHOP_MEDIA_MAX_PEER_CONNECTIONS=str(max(400, 4 * n + 16)),
    )
    relay_cpu, client_cpu = cpu_pins(args)
    py = sys.executable
    tag = f"capacity-n{n}"
    load = os.getloadavg()
    procs = []
    try:
        relay = _spawn(
            [py, "manage.py", "media_relay", "--listen", address, "--relay-id", "bench"],
            workdir / f"{tag}-relay.log",
            env,
            relay_cpu,
        )
        procs.append(relay)
        _wait_for_line(workdir / f"{tag}-relay.log", "listening on", relay, 60)
        rss_before = _rss_mb(relay.pid)
        out = workdir / f"{tag}-clients.json"
        clients = _spawn(
            [
                py,
                "-m",
                "bench.consult_connect",
                "--role",
                "consults",
                "--address",
                address,
                "--count",
                str(n),
                "--bitrate",
                str(args.bitrate),
                "--duration",
                "600",
                "--out",
                str(out),
            ],
            workdir / f"{tag}-clients.log",
            env,
            client_cpu,
        )
        procs.append(clients)
        _wait_for_line(workdir / f"{tag}-clients.log", "consults joined", clients, 60 + 2 * n)
        time.sleep(3)  # settle: every subscriber past its first keyframe
        start = time.time()
        relay0, clients0 = _cpu_seconds(relay.pid), _cpu_seconds(clients.pid)
        time.sleep(args.window)
        end = time.time()
        relay1, clients1 = _cpu_seconds(relay.pid), _cpu_seconds(clients.pid)
        rss_after = _rss_mb(relay.pid)
        os.killpg(clients.pid, signal.SIGTERM)
        clients.wait(120)
        subscribers = json.loads(out.read_text())["subscribers"]
    finally:
        for proc in reversed(procs):
            _stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)
    seconds = end - start
    fps = [sum(1 for t in s["vt"] if start <= t < end) / seconds for s in subscribers]
    joins = [s["t_first_kf"] - s["t_start"] for s in subscribers if s["t_first_kf"]]
    return {
        "consults": n,
        "load_avg_at_start": [round(x, 2) for x in load],
        "relay_cores": round((relay1 - relay0) / seconds, 3),
        "clients_cores": round((clients1 - clients0) / seconds, 3),
        "fps_min": round(min(fps), 1) if fps else 0.0,
        "fps_median": round(statistics.median(fps), 1) if fps else 0.0,
        "subscribers_without_frames": sum(1 for s in subscribers if not s["t_first_kf"]),
        "join_to_first_keyframe_p95_s": _pct(joins, 0.95),
        "relay_rss_per_consult_mb": round((rss_after - rss_before) / n, 2),
        "sustained": bool(fps) and min(fps) >= FLOOR_FPS,
    }


def part_capacity(args: argparse.Namespace) -> dict[str, Any]:
    from bench.harness import RESULTS

    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    workdir = RESULTS / "logs" / f"consult_connect-{stamp}"
    workdir.mkdir(parents=True, exist_ok=True)
    runs = []
    for n in [int(x) for x in args.capacity.split(",") if x]:
        print(f"→ {n} concurrent consults", flush=True)
        result = capacity_one(n, args, workdir)
        print(json.dumps(result), flush=True)
        runs.append(result)
        if not result["sustained"]:
            break
    passing = [r["consults"] for r in runs if r["sustained"]]
    return {
        "resolution": "640x360",
        "fps": FPS,
        "bitrate": args.bitrate,
        "floor_fps": FLOOR_FPS,
        "window_s": args.window,
        "pinned": not args.no_pin and (os.cpu_count() or 1) >= 2,
        "max_sustained_consults": max(passing) if passing else 0,
        "runs": runs,
        "logs": str(workdir),
    }


def orchestrate(args: argparse.Namespace) -> None:
    import aiortc

    from bench.harness import machine_info, write_result

    report: dict[str, Any] = {
        "benchmark": "consult_connect",
        "machine": {**machine_info(), "aiortc": aiortc.__version__},
    }
    if args.part in ("all", "connect"):
        print(f"connect: {args.consults} consults, accept → first frame", flush=True)
        report["connect"] = part_connect(args)
    if args.part in ("all", "capacity"):
        report["capacity"] = part_capacity(args)
    out = write_result("consult_connect", report)
    print(json.dumps({k: v for k, v in report.items() if k != "machine"}, indent=2))
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--role", default="orchestrate", choices=["orchestrate", "consults"])
    parser.add_argument("--part", default="all", choices=["all", "connect", "capacity"])
    parser.add_argument("--consults", type=int, default=20, help="calls measured in `connect`")
    parser.add_argument("--capacity", default="1,2,4,8,12,16,24,32", help="concurrent consults")
    parser.add_argument("--bitrate", type=int, default=800_000, help="360p publisher bps")
    parser.add_argument("--window", type=float, default=10.0, help="measured seconds per run")
    parser.add_argument("--no-pin", action="store_true", help="do not taskset the processes")
    # internal, for the client process
    parser.add_argument("--address", default="")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "liveshop.settings")
    if args.role == "orchestrate":
        orchestrate(args)
        return
    asyncio.run(consults_main(args))


if __name__ == "__main__":
    main()
