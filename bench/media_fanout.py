"""Benchmark of one media relay process fanning one publisher out to N viewers (not a test).

    python -m bench.media_fanout --n 1,8,32,64 --res 720            # passthrough + baseline
    python -m bench.media_fanout --n 32,64,128 --res 360 --baseline-n 1,4,6
    python -m bench.media_fanout --n 4 --baseline-n 1 --window 5     # a smoke run
    python -m bench.media_fanout --hls [--seconds 20 ...]             # the HLS worker (hls_worker.py)
    python -m bench.media_fanout --pk 2,16 --res 360 --window 5       # a PK room pair (issue 8)

PK room pair (`--pk N,...`): two relay processes, one room each with its own host publishing;
each relay pulls the other room's host (the cascade `pull` a PK issues, media/pk.py), and N
viewers (N−1 sinks and a decoding probe) watch room A, so each receives both hosts. Reported:
the pull set-up time, both relays' CPU, video frames per viewer per second over both feeds
(2 × 30 expected), the probe's decoded fps per feed and time to the partner's first frame.

Each run starts, in separate processes:
- the relay: `manage.py media_relay` exactly as `make run` starts it (encoded passthrough), or
  for the baseline, aiortc's stock `MediaRelay` (decode once, re-encode for every viewer)
  behind the same control protocol, so both are driven by the same clients;
- one synthetic publisher: 30 fps, 1280x720 (or 640x360), VP8 at a fixed bitrate (2 Mbps,
  1 Mbps at 360p) plus Opus; a wall-clock stamp is written into the picture's pixels;
- N−1 cheap viewers in one process: `sink` (SRTP is decrypted, frames are counted by RTP
  marker bits, keyframes recognised in the VP8 payload, nothing is depacketised or decoded)
  or `count` (aiortc's full receive path, no decode);
- one probe viewer in its own process that really decodes (libvpx) and joins mid-stream: it
  measures time to first decoded frame and glass-to-glass latency from the pixel stamp.

Measured per run: relay CPU (Δ utime+stime of the relay process over the window, 1.00 = one
core), relay RSS before and after the viewers joined (per viewer), delivered fps per viewer,
join → first keyframe for every viewer (p50/p95) and → first decoded frame for the probe,
latency p50/p95, client CPU (to tell a client-bound run from a relay-bound one). With two or
more CPUs the relay is pinned to CPU 0 and every client to the others (taskset).

Writes JSON to bench/results/media_fanout-<UTC time>.json (or --out), logs to
bench/results/logs/. Do not record numbers while other work loads the machine: the JSON
records the load average at the start of each run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fractions
import json
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SESSION = "room:bench:1"
PUBLISHER = "bench:host"
TCK = os.sysconf("SC_CLK_TCK")
RESOLUTIONS = {"720": (1280, 720, 2_000_000), "360": (640, 360, 1_000_000)}

# --- the pixel stamp: 24-bit ms clock + 8-bit checksum in 32 blocks of 16x16 luma ---------

BLOCK = 16
BITS = 32


def _stamp_word() -> int:
    ms = int(time.time() * 1000) & 0xFFFFFF
    check = ((ms & 0xFF) + ((ms >> 8) & 0xFF) + ((ms >> 16) & 0xFF)) & 0xFF
    return ms | (check << 24)


def _stamp_row(word: int) -> bytes:
    return b"".join((b"\xeb" if (word >> i) & 1 else b"\x10") * BLOCK for i in range(BITS))


def read_stamp(frame: Any) -> int | None:
    """The ms clock stamped into a decoded frame, or None if the checksum fails."""
    plane = frame.planes[0]
    data = bytes(plane)
    row = (BLOCK // 2) * plane.line_size
    word = 0
    for i in range(BITS):
        if data[row + i * BLOCK + BLOCK // 2] > 128:
            word |= 1 << i
    ms, check = word & 0xFFFFFF, word >> 24
    if ((ms & 0xFF) + ((ms >> 8) & 0xFF) + ((ms >> 16) & 0xFF)) & 0xFF != check:
        return None
    return ms


def latency_ms(stamp: int) -> int:
    return ((int(time.time() * 1000) & 0xFFFFFF) - stamp) & 0xFFFFFF


# --- media sources ------------------------------------------------------------------------


def _tracks(width: int, height: int) -> tuple[Any, Any]:
    import av
    from aiortc import MediaStreamTrack
    from aiortc.mediastreams import MediaStreamError

    class StampedVideo(MediaStreamTrack):
        """A panning texture (enough detail for the encoder to spend its bitrate on) with
        the wall clock stamped into the top-left blocks."""

        kind = "video"

        def __init__(self) -> None:
            super().__init__()
            wide = 2 * width
            a = [int(60 * math.sin(x / 23) + 30 * math.sin(x / 7)) for x in range(wide)]
            b = [int(50 * math.cos(y / 17)) for y in range(height)]
            c = [int(25 * math.sin(i / 5)) for i in range(97)]
            self.rows = [
                bytes((128 + a[x] + b[y] + c[(x + y) % 97]) & 0xFF for x in range(wide))
                for y in range(height)
            ]
            self.u = bytes((128 + (x % 64) - 32) & 0xFF for x in range(width // 2)) * (height // 2)
            self.v = bytes((128 + (y % 48) - 24) & 0xFF for y in range(width // 2)) * (height // 2)
            self.n = 0
            self.start: float | None = None

        async def recv(self) -> Any:
            if self.readyState != "live":
                raise MediaStreamError
            if self.start is None:
                self.start = time.monotonic()
            wait = self.start + self.n / 30 - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            offset = (self.n * 4) % width
            luma = bytearray(b"".join(row[offset : offset + width] for row in self.rows))
            stamp = _stamp_row(_stamp_word())
            for r in range(BLOCK):
                luma[r * width : r * width + len(stamp)] = stamp
            frame = av.VideoFrame(width, height, "yuv420p")
            frame.planes[0].update(bytes(luma))
            frame.planes[1].update(self.u)
            frame.planes[2].update(self.v)
            frame.pts = self.n * 3000
            frame.time_base = fractions.Fraction(1, 90000)
            self.n += 1
            return frame

    class Tone(MediaStreamTrack):
        kind = "audio"

        def __init__(self) -> None:
            super().__init__()
            pcm = [int(3000 * math.sin(2 * math.pi * 440 * i / 48000)) for i in range(960)]
            self.pcm = b"".join(v.to_bytes(2, "little", signed=True) for v in pcm)
            self.n = 0
            self.start: float | None = None

        async def recv(self) -> Any:
            if self.readyState != "live":
                raise MediaStreamError
            if self.start is None:
                self.start = time.monotonic()
            wait = self.start + self.n * 0.02 - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            frame = av.AudioFrame(format="s16", layout="mono", samples=960)
            frame.planes[0].update(self.pcm)
            frame.sample_rate = 48000
            frame.pts = self.n * 960
            frame.time_base = fractions.Fraction(1, 48000)
            self.n += 1
            return frame

    return StampedVideo(), Tone()


def _new_pc() -> Any:
    from aiortc import RTCConfiguration, RTCPeerConnection

    return RTCPeerConnection(RTCConfiguration(iceServers=[]))  # no STUN on loopback


def _loopback() -> None:
    from media.relay import passthrough

    passthrough.enable_loopback_ice()


async def _until_stopped(duration: float) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), duration)


# --- role: publisher ----------------------------------------------------------------------


async def publisher_main(args: argparse.Namespace) -> None:
    _loopback()
    if args.bitrate:
        # A fixed bitrate, as an encoder configured for 2 Mbps sends, instead of following
        # the relay's REMB (which moves with the relay's own load).
        import aiortc.codecs.vpx as vpx

        vpx.Vp8Encoder.target_bitrate = property(  # type: ignore[assignment]
            lambda self: args.bitrate, lambda self, value: None
        )
    from aiortc import RTCRtpSender, RTCSessionDescription

    from media.relay.client import RelayClient

    width, height, _ = RESOLUTIONS[args.res]
    video, audio = _tracks(width, height)
    pc = _new_pc()
    pc.addTrack(audio)
    transceiver = pc.addTransceiver(video, direction="sendonly")
    caps = RTCRtpSender.getCapabilities("video").codecs
    transceiver.setCodecPreferences([c for c in caps if c.name in ("VP8", "rtx")])
    await pc.setLocalDescription(await pc.createOffer())
    client = RelayClient(args.address)
    client.events(args.session, "bench-publisher")
    reply = await client.offer(
        session=args.session,
        peer="bench-publisher",
        role="publish",
        sdp=pc.localDescription.sdp,
        identity=args.identity,
    )
    await pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type="answer"))
    print("publisher started", flush=True)
    await _until_stopped(args.duration)
    await pc.close()
    await client.close()


# --- role: viewers ------------------------------------------------------------------------

_SINKS: dict[Any, dict[str, Any]] = {}


def _vp8_keyframe_start(data: bytes) -> bool:
    """Whether an RTP packet (decrypted) starts a VP8 keyframe (RFC 7741 descriptor)."""
    cc = data[0] & 0x0F
    offset = 12 + 4 * cc
    if data[0] & 0x10:  # header extension
        length = int.from_bytes(data[offset + 2 : offset + 4], "big")
        offset += 4 + 4 * length
    if offset >= len(data):
        return False
    descriptor = data[offset]
    start, pid = descriptor & 0x10, descriptor & 0x07
    offset += 1
    if descriptor & 0x80:
        flags = data[offset]
        offset += 1
        if flags & 0x80:
            offset += 2 if data[offset] & 0x80 else 1
        if flags & 0x40:
            offset += 1
        if flags & 0x30:
            offset += 1
    return bool(start) and pid == 0 and offset < len(data) and data[offset] & 0x01 == 0


def _install_sink() -> None:
    """`sink` viewers: SRTP is decrypted (the cost a real receiver cannot avoid), then frames
    are counted from RTP marker bits; no jitter buffer, depacketising or decoding. This
    keeps N viewers cheap enough that the relay, not the clients, is what saturates."""
    from aiortc.rtcdtlstransport import RTCDtlsTransport

    async def sink(self: Any, data: bytes, arrival_time_ms: int) -> None:
        rec = _SINKS.get(self)
        if rec is None or len(data) < 12:
            return
        now = time.time()
        rec["bytes"] += len(data)
        if (data[1] & 0x7F) != rec["vpt"]:
            return
        if rec["t_first_kf"] is None and _vp8_keyframe_start(data):
            rec["t_first_kf"] = now
        if data[1] & 0x80 and rec["t_first_kf"] is not None:
            rec["vt"].append(now)

    RTCDtlsTransport._handle_rtp_data = sink  # type: ignore[method-assign]


async def viewers_main(args: argparse.Namespace) -> None:
    _loopback()
    if args.kind == "sink":
        _install_sink()
    from aiortc import MediaStreamTrack, RTCSessionDescription
    from aiortc.mediastreams import MediaStreamError

    from media.relay.client import RelayClient

    client = RelayClient(args.address, request_timeout=60)
    records: list[dict[str, Any]] = []
    pcs: list[Any] = []
    tasks: list[asyncio.Future[None]] = []  # kept: the loop holds only weak references

    async def consume(track: MediaStreamTrack, rec: dict[str, Any]) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                if track.kind != "video":
                    continue
                now = time.time()
                per = rec.setdefault("per_track", {}).setdefault(track.id, [])
                per.append(now)
                if rec["t_first_kf"] is None:
                    rec["t_first_kf"] = now  # the first frame that decoded
                    rec["res"] = [frame.width, frame.height]
                rec["vt"].append(now)
                if args.kind == "decode":
                    stamp = read_stamp(frame)
                    if stamp is not None:
                        rec["lat"].append((now, latency_ms(stamp)))

    async def join(i: int, gate: asyncio.Semaphore) -> None:
        async with gate:
            rec: dict[str, Any] = {
                "t_start": time.time(),
                "t_conn": None,
                "t_first_kf": None,
                "vt": [],
                "lat": [],
                "bytes": 0,
                "res": None,
            }
            records.append(rec)
            pc = _new_pc()
            pcs.append(pc)
            pc.addTransceiver("audio", direction="recvonly")
            pc.addTransceiver("video", direction="recvonly")

            @pc.on("track")
            def on_track(track: MediaStreamTrack) -> None:
                if args.kind != "sink":
                    tasks.append(asyncio.ensure_future(consume(track, rec)))

            @pc.on("connectionstatechange")
            def on_state() -> None:
                if pc.connectionState == "connected" and rec["t_conn"] is None:
                    rec["t_conn"] = time.time()

            await pc.setLocalDescription(await pc.createOffer())
            peer = f"bench-{args.kind}-{os.getpid()}-{i}"
            events = client.events(args.session, peer)
            rec["t_start"] = time.time()
            reply = await client.offer(
                session=args.session, peer=peer, role="subscribe", sdp=pc.localDescription.sdp
            )
            tasks.append(
                asyncio.ensure_future(_answer_offers(client, events, pc, args.session, peer))
            )
            await pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type="answer"))
            if args.kind == "sink":
                found = re.search(r"a=rtpmap:(\d+) VP8/90000", reply["sdp"])
                rec["vpt"] = int(found.group(1)) if found else -1
                for transceiver in pc.getTransceivers():  # BUNDLE: one transport for all
                    _SINKS[transceiver.receiver.transport] = rec
            deadline = time.time() + 20
            while rec["t_conn"] is None and time.time() < deadline:
                await asyncio.sleep(0.01)

    gate = asyncio.Semaphore(8)
    await asyncio.gather(*(join(i, gate) for i in range(args.count)))
    print(f"viewers joined {len(records)}", flush=True)
    await _until_stopped(args.duration)
    Path(args.out).write_text(json.dumps({"kind": args.kind, "viewers": records}))
    os._exit(0)  # tearing down hundreds of peer connections takes longer than the run


async def _answer_offers(client: Any, events: Any, pc: Any, session: str, peer: str) -> None:
    """The relay renegotiates when a publisher comes (the PK partner): answer like a page."""
    from aiortc import RTCSessionDescription

    with contextlib.suppress(Exception):
        async for event in events:
            if event.get("event") != "offer":
                continue
            await pc.setRemoteDescription(RTCSessionDescription(sdp=event["sdp"], type="offer"))
            await pc.setLocalDescription(await pc.createAnswer())
            # BUNDLE: a new m-line shares the transport a sink already counts on.
            await client.answer(session=session, peer=peer, sdp=pc.localDescription.sdp)


# --- role: the baseline relay (stock MediaRelay, re-encoding per viewer) -------------------


async def baseline_main(args: argparse.Namespace) -> None:
    """aiortc's MediaRelay behind the relay's control protocol (hello, offer, leave), so the
    same clients drive both. It decodes the publisher once and every viewer's sender
    encodes its own copy, audio included: what the passthrough relay avoids."""
    _loopback()
    from aiortc import RTCSessionDescription
    from aiortc.contrib.media import MediaRelay

    from media.relay.protocol import encode_frame, parse_address, read_frame

    relay = MediaRelay()
    sources: dict[str, Any] = {}
    pcs: dict[str, Any] = {}
    drains: list[asyncio.Future[None]] = []

    async def offer(msg: dict[str, Any]) -> dict[str, Any]:
        pc = _new_pc()
        pcs[msg["peer"]] = pc
        if msg["role"] == "publish":

            @pc.on("track")
            def on_track(track: Any) -> None:
                sources[track.kind] = track
                # Read the source from the start: otherwise its decoded frames pile up in
                # aiortc's receive queue until the first viewer, who then lags by seconds.
                drain = relay.subscribe(track)

                async def discard() -> None:
                    with contextlib.suppress(Exception):
                        while True:
                            await drain.recv()

                drains.append(asyncio.ensure_future(discard()))

        else:
            for kind in ("audio", "video"):
                if kind in sources:
                    pc.addTrack(relay.subscribe(sources[kind]))
        await pc.setRemoteDescription(RTCSessionDescription(sdp=msg["sdp"], type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        return {"type": "answer", "sdp": pc.localDescription.sdp, "tracks": []}

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                msg = await read_frame(reader)
            except Exception:
                break
            if msg is None:
                break
            reply: dict[str, Any] = {"id": msg.get("id"), "ok": True}
            try:
                if msg.get("op") == "hello":
                    reply["relay"] = "baseline"
                elif msg.get("op") == "offer":
                    reply.update(await offer(msg))
                elif msg.get("op") == "leave":
                    pc = pcs.pop(msg.get("peer"), None)
                    if pc is not None:
                        await pc.close()
            except Exception as exc:
                reply = {
                    "id": msg.get("id"),
                    "ok": False,
                    "error": {"code": "internal", "message": str(exc)},
                }
            writer.write(encode_frame(reply))
        writer.close()

    _, path, _ = parse_address(args.listen)
    server = await asyncio.start_unix_server(serve, path=path)
    print(f"baseline relay listening on {args.listen}", flush=True)
    await _until_stopped(3600)
    server.close()
    for pc in pcs.values():
        await pc.close()


# --- the orchestrator ---------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TCK


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _pin(cpus: str | None) -> list[str]:
    return ["taskset", "-c", cpus] if cpus and shutil.which("taskset") else []


def _spawn(
    argv: list[str], log: Path, env: dict[str, str], cpus: str | None
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*_pin(cpus), *argv],
        cwd=ROOT,
        env=env,
        stdout=open(log, "wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _wait_for_line(log: Path, needle: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if needle in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError(
        f"{needle!r} not seen; see {log}:\n{log.read_text(errors='replace')[-2000:]}"
    )


def _stop(proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))]


def relay_env(tmp: Path, **settings: str) -> dict[str, str]:
    """The environment of a relay or client process of a media bench: this one without the
    server's database, Redis and LIVESHOP_ settings, plus loopback ICE, a private var dir
    and `settings` (LIVESHOP_… limits sized for the run)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL", "REDIS_URL", "LIVESHOP_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="liveshop.settings",
        LIVESHOP_VAR_DIR=str(tmp),
        LIVESHOP_ICE_LOOPBACK="1",
        PYTHONUNBUFFERED="1",
        **settings,
    )
    return env


def cpu_pins(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """(relay CPU, client CPUs) for taskset: the relay alone on core 0 when there are two or
    more cores and pinning is on, else no pinning."""
    cpus = os.cpu_count() or 1
    relay_cpu = "0" if cpus >= 2 and not args.no_pin else None
    return relay_cpu, (f"1-{cpus - 1}" if relay_cpu else None)


def run_one(mode: str, n: int, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    width, height, default_bitrate = RESOLUTIONS[args.res]
    bitrate = args.bitrate or default_bitrate
    tag = f"{mode}-{args.res}p-n{n}"
    tmp = Path(tempfile.mkdtemp(prefix="lsmf", dir="/tmp"))  # short: unix socket paths
    address = f"unix:{tmp}/relay.sock"
    env = relay_env(
        tmp,
        LIVESHOP_MEDIA_ROOM_MAX_SUBSCRIBERS=str(max(300, n + 8)),
        LIVESHOP_MEDIA_MAX_PEER_CONNECTIONS=str(max(400, n + 16)),
    )
    relay_cpu, client_cpu = cpu_pins(args)
    py = sys.executable
    if mode == "passthrough":
        relay_argv = [py, "manage.py", "media_relay", "--listen", address, "--relay-id", "bench"]
        ready = "listening on"
    else:
        relay_argv = [py, "-m", "bench.media_fanout", "--role", "baseline", "--listen", address]
        ready = "baseline relay listening"
    load = os.getloadavg()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        relay = _spawn(relay_argv, workdir / f"{tag}-relay.log", env, relay_cpu)
        procs.append(relay)
        _wait_for_line(workdir / f"{tag}-relay.log", ready, relay, 60)
        role = [py, "-m", "bench.media_fanout", "--address", address, "--res", args.res]
        publisher = _spawn(
            [*role, "--role", "publisher", "--bitrate", str(bitrate), "--duration", "600"],
            workdir / f"{tag}-publisher.log",
            env,
            client_cpu,
        )
        procs.append(publisher)
        _wait_for_line(workdir / f"{tag}-publisher.log", "publisher started", publisher, 60)
        time.sleep(2.5)  # the publisher's stream settles
        rss_before = _rss_mb(relay.pid)
        bulk_out, probe_out = workdir / f"{tag}-bulk.json", workdir / f"{tag}-probe.json"
        run_for = 600.0
        clients: list[subprocess.Popen[bytes]] = []
        if n > 1:
            bulk = _spawn(
                [
                    *role,
                    "--role",
                    "viewers",
                    "--kind",
                    args.bulk,
                    "--count",
                    str(n - 1),
                    "--duration",
                    str(run_for),
                    "--out",
                    str(bulk_out),
                ],
                workdir / f"{tag}-bulk.log",
                env,
                client_cpu,
            )
            procs.append(bulk)
            clients.append(bulk)
            _wait_for_line(workdir / f"{tag}-bulk.log", "viewers joined", bulk, 60 + n)
        probe = _spawn(
            [
                *role,
                "--role",
                "viewers",
                "--kind",
                "decode",
                "--count",
                "1",
                "--duration",
                str(run_for),
                "--out",
                str(probe_out),
            ],
            workdir / f"{tag}-probe.log",
            env,
            client_cpu,
        )
        procs.append(probe)
        clients.append(probe)
        _wait_for_line(workdir / f"{tag}-probe.log", "viewers joined", probe, 60)
        time.sleep(3)  # the probe's first frames; steady state
        start = time.time()
        relay0 = _cpu_seconds(relay.pid)
        clients0 = sum(_cpu_seconds(p.pid) for p in [publisher, *clients])
        time.sleep(args.window)
        end = time.time()
        relay1 = _cpu_seconds(relay.pid)
        clients1 = sum(_cpu_seconds(p.pid) for p in [publisher, *clients])
        rss_after = _rss_mb(relay.pid)
        for proc in clients:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in clients:
            proc.wait(120)
        viewers: list[dict[str, Any]] = []
        if n > 1:
            viewers += [dict(v, probe=False) for v in json.loads(bulk_out.read_text())["viewers"]]
        viewers += [dict(v, probe=True) for v in json.loads(probe_out.read_text())["viewers"]]
    finally:
        for proc in reversed(procs):
            _stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)

    seconds = end - start
    fps = [sum(1 for t in v["vt"] if start <= t < end) / seconds for v in viewers]
    joins = [v["t_first_kf"] - v["t_start"] for v in viewers if v["t_first_kf"]]
    probe_rec = next(v for v in viewers if v["probe"])
    latencies = [ms for t, ms in probe_rec["lat"] if start <= t < end]
    return {
        "mode": mode,
        "res": f"{width}x{height}",
        "publisher_bitrate": bitrate,
        "n": n,
        "bulk_kind": args.bulk,
        "load_avg_at_start": [round(x, 2) for x in load],
        "relay_cores": round((relay1 - relay0) / seconds, 3),
        "clients_cores": round((clients1 - clients0) / seconds, 3),
        "fps_min": round(min(fps), 1),
        "fps_median": round(statistics.median(fps), 1),
        "probe_fps": round(fps[-1], 1),
        "viewers_without_frames": sum(1 for v in viewers if not v["t_first_kf"]),
        "join_to_first_frame_p50_s": round(_pct(joins, 0.5) or 0, 3) if joins else None,
        "join_to_first_frame_p95_s": round(_pct(joins, 0.95) or 0, 3) if joins else None,
        "probe_connect_s": round(probe_rec["t_conn"] - probe_rec["t_start"], 3)
        if probe_rec["t_conn"]
        else None,
        "probe_first_decoded_s": round(probe_rec["t_first_kf"] - probe_rec["t_start"], 3)
        if probe_rec["t_first_kf"]
        else None,
        "probe_resolution": probe_rec.get("res"),
        "latency_p50_ms": _pct([float(x) for x in latencies], 0.5),
        "latency_p95_ms": _pct([float(x) for x in latencies], 0.95),
        "latency_samples": len(latencies),
        "relay_rss_before_mb": round(rss_before, 1),
        "relay_rss_after_mb": round(rss_after, 1),
        "relay_rss_per_viewer_mb": round((rss_after - rss_before) / n, 2),
    }


def run_pk(n: int, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """A PK room pair: two relays, a host on each, each relay pulling the other's host,
    N viewers of room A."""
    from media.relay.client import RelayClient

    width, height, default_bitrate = RESOLUTIONS[args.res]
    bitrate = args.bitrate or default_bitrate
    tag = f"pk-{args.res}p-n{n}"
    tmp = Path(tempfile.mkdtemp(prefix="lspk", dir="/tmp"))
    addresses = {"a": f"unix:{tmp}/relay-a.sock", "b": f"unix:{tmp}/relay-b.sock"}
    sessions = {"a": "room:bench:pk-a", "b": "room:bench:pk-b"}
    hosts = {"a": "bench:host-a", "b": "bench:host-b"}
    env = relay_env(
        tmp,
        LIVESHOP_MEDIA_ROOM_MAX_SUBSCRIBERS=str(max(300, n + 8)),
        LIVESHOP_MEDIA_MAX_PEER_CONNECTIONS=str(max(400, n + 16)),
    )
    relay_cpu, client_cpu = cpu_pins(args)
    py = sys.executable
    load = os.getloadavg()
    procs: list[subprocess.Popen[bytes]] = []
    relays: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for side in ("a", "b"):
            log = workdir / f"{tag}-relay-{side}.log"
            argv = [py, "manage.py", "media_relay", "--listen", addresses[side]]
            relays[side] = _spawn([*argv, "--relay-id", f"bench-{side}"], log, env, relay_cpu)
            procs.append(relays[side])
            _wait_for_line(log, "listening on", relays[side], 60)
        publishers = []
        for side in ("a", "b"):
            log = workdir / f"{tag}-publisher-{side}.log"
            role = [py, "-m", "bench.media_fanout", "--address", addresses[side], "--res", args.res]
            publisher = _spawn(
                [
                    *role,
                    "--role",
                    "publisher",
                    "--bitrate",
                    str(bitrate),
                    "--duration",
                    "600",
                    "--session",
                    sessions[side],
                    "--identity",
                    hosts[side],
                ],
                log,
                env,
                client_cpu,
            )
            procs.append(publisher)
            publishers.append(publisher)
            _wait_for_line(log, "publisher started", publisher, 60)
        time.sleep(2.0)

        async def link() -> list[float]:
            took = []
            for here, there in (("a", "b"), ("b", "a")):
                client = RelayClient(addresses[here])
                t0 = time.time()
                await client.pull(
                    session=sessions[here],
                    address=addresses[there],
                    remote_session=sessions[there],
                    publisher=hosts[there],
                )
                took.append(time.time() - t0)
                await client.close()
            return took

        pull_s = asyncio.run(link())
        time.sleep(1.0)
        role = [py, "-m", "bench.media_fanout", "--address", addresses["a"], "--res", args.res]
        role += ["--session", sessions["a"]]
        bulk_out, probe_out = workdir / f"{tag}-bulk.json", workdir / f"{tag}-probe.json"
        clients: list[subprocess.Popen[bytes]] = []
        for kind, count, out in (("sink", n - 1, bulk_out), ("decode", 1, probe_out)):
            if count < 1:
                continue
            log = workdir / f"{tag}-{kind}.log"
            proc = _spawn(
                [
                    *role,
                    *("--role", "viewers", "--kind", kind, "--count", str(count)),
                    *("--duration", "600", "--out", str(out)),
                ],
                log,
                env,
                client_cpu,
            )
            procs.append(proc)
            clients.append(proc)
            _wait_for_line(log, "viewers joined", proc, 60 + n)
        time.sleep(3)
        start = time.time()
        cpu0 = {side: _cpu_seconds(p.pid) for side, p in relays.items()}
        time.sleep(args.window)
        end = time.time()
        cpu1 = {side: _cpu_seconds(p.pid) for side, p in relays.items()}
        for proc in clients:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in clients:
            proc.wait(120)
        viewers: list[dict[str, Any]] = []
        if n > 1:
            viewers += [dict(v, probe=False) for v in json.loads(bulk_out.read_text())["viewers"]]
        viewers += [dict(v, probe=True) for v in json.loads(probe_out.read_text())["viewers"]]
    finally:
        for proc in reversed(procs):
            _stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)
    seconds = end - start
    fps = [sum(1 for t in v["vt"] if start <= t < end) / seconds for v in viewers]
    probe_rec = next(v for v in viewers if v["probe"])
    per_track = probe_rec.get("per_track", {})
    firsts = sorted(min(times) for times in per_track.values() if times)
    return {
        "mode": "pk_pair",
        "res": f"{width}x{height}",
        "publisher_bitrate": bitrate,
        "n": n,
        "load_avg_at_start": [round(x, 2) for x in load],
        "pull_setup_s": [round(x, 3) for x in pull_s],
        "relay_a_cores": round((cpu1["a"] - cpu0["a"]) / seconds, 3),
        "relay_b_cores": round((cpu1["b"] - cpu0["b"]) / seconds, 3),
        "video_fps_per_viewer_median": round(statistics.median(fps), 1),
        "video_fps_per_viewer_min": round(min(fps), 1),
        "probe_feeds": len(per_track),
        "probe_fps_per_feed": [
            round(sum(1 for t in times if start <= t < end) / seconds, 1)
            for times in per_track.values()
        ],
        "probe_second_feed_after_first_s": round(firsts[1] - firsts[0], 3)
        if len(firsts) > 1
        else None,
        "viewers_without_frames": sum(1 for v in viewers if not v["t_first_kf"]),
    }


def orchestrate(args: argparse.Namespace) -> None:
    import aiortc

    from bench.harness import RESULTS, machine_info, write_result

    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    workdir = RESULTS / "logs" / f"media_fanout-{stamp}"
    workdir.mkdir(parents=True, exist_ok=True)
    plan = [("passthrough", int(n)) for n in args.n.split(",") if n]
    plan += [("reencode", int(n)) for n in args.baseline_n.split(",") if n]
    plan += [("pk_pair", int(n)) for n in args.pk.split(",") if n]
    machine = machine_info()
    runs = []
    for mode, n in plan:
        print(f"→ {mode} {args.res}p N={n}", flush=True)
        result = run_pk(n, args, workdir) if mode == "pk_pair" else run_one(mode, n, args, workdir)
        print(json.dumps(result), flush=True)
        runs.append(result)
    report = {
        "benchmark": "media_fanout",
        "machine": {**machine, "aiortc": aiortc.__version__},
        "pinned": not args.no_pin and (os.cpu_count() or 1) >= 2,
        "window_s": args.window,
        "bulk_viewers": args.bulk,
        "runs": runs,
        "logs": str(workdir),
    }
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    else:
        out = write_result("media_fanout", report)
    print(f"wrote {out} (logs in {workdir})")


def main() -> None:
    if "--hls" in sys.argv[1:]:
        # The HLS process's CPU per rendition (issue 8) lives in bench/hls_worker.py; the
        # options after --hls are its own (--seconds, --renditions, --publishers, ...).
        from bench.hls_worker import main as hls_main

        sys.argv.remove("--hls")
        hls_main()
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--role", default="orchestrate", choices=["orchestrate", "publisher", "viewers", "baseline"]
    )
    parser.add_argument("--n", default="1,8,32,64", help="viewer counts, passthrough relay")
    parser.add_argument("--baseline-n", default="1,2,4", help="viewer counts, MediaRelay baseline")
    parser.add_argument("--res", default="720", choices=sorted(RESOLUTIONS))
    parser.add_argument("--pk", default="", help="viewer counts of room A in a PK room pair")
    parser.add_argument("--bitrate", type=int, default=0, help="publisher bps (default by res)")
    parser.add_argument("--window", type=float, default=10.0, help="measured seconds per run")
    parser.add_argument("--bulk", default="sink", choices=["sink", "count"])
    parser.add_argument("--no-pin", action="store_true", help="do not taskset the processes")
    parser.add_argument("--out", default="", help="default: bench/results/media_fanout-<time>.json")
    # internal, for the child processes
    parser.add_argument("--address", default="")
    parser.add_argument("--listen", default="")
    parser.add_argument("--kind", default="sink", choices=["sink", "count", "decode"])
    parser.add_argument("--count", type=int, default=1, help="viewers in this process")
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--session", default=SESSION)
    parser.add_argument("--identity", default=PUBLISHER)
    args = parser.parse_args()
    if args.role == "orchestrate":
        orchestrate(args)
        return
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "liveshop.settings")
    entry = {"publisher": publisher_main, "viewers": viewers_main, "baseline": baseline_main}
    asyncio.run(entry[args.role](args))


if __name__ == "__main__":
    main()
