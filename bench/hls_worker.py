"""HLS worker cost: CPU of the HLS process per rendition set and publisher count.

    python -m bench.hls_worker                                   # full matrix, 20 s each
    python -m bench.hls_worker --seconds 4 --renditions both --publishers 1   # smoke

A media relay runs as `make run` starts it (`manage.py media_relay`, loopback ICE). Synthetic
publishers (a panning texture at --publisher-size, 30 fps VP8, plus an Opus tone each) publish
into a room session from this process. For each configuration the HLS pipeline runs in its
own process (`--child`): the same `BroadcastRun` the worker runs for a Broadcast row —
subscribe on the relay, decode each feed once, compose, mix, one x264 encode per rendition,
MPEG-TS segments and playlists on disk — minus the database polling (one query a second).

Reported per configuration, over a steady window after the first segments:
- `cpu_cores`: CPU seconds of the HLS process per wall second (1.0 = one core busy);
- `encode_cores` per rendition (wall time inside scale + encode calls, per second), and the
  same for composing and for audio (mix + AAC);
- `encode_fps`: frames encoded per second per rendition (30 is the target), `skipped_ticks`;
- `decoded_fps`: frames decoded from the publishers per second (all feeds);
- `segment_write_ms`: last frame of a segment → the segment on disk (p50/p95/max); a frame
  reaches a player's playlist at most one segment duration + the A/V delay + this later;
- CPU of this process (publishers) and of the relay over the same window, and machine load.

The baseline (same run): `decode_only` — the subscriber decoding the feeds with a single
tiny rendition (16x16), to separate decoding from encoding. Writes JSON to bench/results/.
Do not record numbers while other work loads the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fractions
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from bench.harness import ROOT, machine_info, percentile, write_result

RENDITION_SETS = {
    "720p": [
        {
            "name": "720p",
            "width": 1280,
            "height": 720,
            "video_bitrate": 2_500_000,
            "profile": "high",
        }
    ],
    "360p": [
        {"name": "360p", "width": 640, "height": 360, "video_bitrate": 800_000, "profile": "main"}
    ],
    "both": [
        {
            "name": "720p",
            "width": 1280,
            "height": 720,
            "video_bitrate": 2_500_000,
            "profile": "high",
        },
        {"name": "360p", "width": 640, "height": 360, "video_bitrate": 800_000, "profile": "main"},
    ],
    "decode_only": [
        {"name": "tiny", "width": 16, "height": 16, "video_bitrate": 50_000, "profile": "main"}
    ],
}


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="liveshop.settings",
        LIVESHOP_VAR_DIR=str(tmp / "var"),
        LIVESHOP_ICE_LOOPBACK="1",
        PYTHONUNBUFFERED="1",
    )
    return env


# --- the child: one BroadcastRun, measured ----------------------------------------------


async def _child(args: argparse.Namespace) -> dict[str, Any]:
    from media.hls.config import HlsSettings, Rendition
    from media.hls.pipeline import BroadcastRun, Job
    from media.relay import passthrough
    from media.relay.registry import LocalDirectory, RelayPool

    passthrough.enable_loopback_ice()
    renditions = tuple(Rendition(**r) for r in RENDITION_SETS[args.renditions])
    settings = HlsSettings().with_(
        enabled=True, root=Path(args.root), renditions=renditions, fps=30, segment_seconds=2.0
    )
    pool = RelayPool(LocalDirectory(args.address))
    job = Job(1, 0, int(args.session.rsplit(":", 1)[1]), "20260101T000000-bench0", record=False)
    run = BroadcastRun(settings, job, pool=pool, identity="hls:bench")
    run.start()
    deadline = time.monotonic() + 30
    while run.writer.written < 2:  # warm: connected, decoding, two segments out
        if time.monotonic() > deadline:
            raise SystemExit(f"no segments: {run.subscriber.last_error}")
        await asyncio.sleep(0.1)
    stats = run.render.stats
    proc = psutil.Process()
    cpu0, wall0 = proc.cpu_times(), time.monotonic()
    enc0, comp0, aud0 = dict(stats.encode_seconds), stats.compose_seconds, stats.audio_seconds
    ticks0, skipped0, frames0 = stats.ticks, stats.skipped, run.inputs.frames_in
    lat0 = len(run.writer.latencies)
    await asyncio.sleep(args.seconds)
    cpu1, wall = proc.cpu_times(), time.monotonic() - wall0
    latencies = run.writer.latencies[lat0:]
    result = {
        "renditions": args.renditions,
        "window_s": round(wall, 2),
        "cpu_cores": round((cpu1.user + cpu1.system - cpu0.user - cpu0.system) / wall, 3),
        "encode_cores": {
            name: round((stats.encode_seconds[name] - enc0[name]) / wall, 3) for name in enc0
        },
        "compose_cores": round((stats.compose_seconds - comp0) / wall, 3),
        "audio_cores": round((stats.audio_seconds - aud0) / wall, 3),
        "encode_fps": round((stats.ticks - ticks0) / wall, 2),
        "skipped_ticks": stats.skipped - skipped0,
        "decoded_fps": round((run.inputs.frames_in - frames0) / wall, 2),
        "segment_write_ms": {
            "p50": round(percentile(latencies, 50) * 1000, 1),
            "p95": round(percentile(latencies, 95) * 1000, 1),
            "max": round(max(latencies, default=0) * 1000, 1),
            "segments": len(latencies),
        },
        "threads": proc.num_threads(),
        "rss_mb": round(proc.memory_info().rss / 2**20, 1),
    }
    await run.stop(final=True)
    await pool.close()
    return result


# --- the parent: relay, publishers, one child per configuration ---------------------------


def _texture(width: int, height: int) -> Any:
    import numpy as np

    rng = np.random.default_rng(7)
    small = rng.integers(16, 235, (height // 8 + 2, width // 4 + 2), dtype=np.uint8)
    big = np.kron(small, np.ones((8, 8), dtype=np.uint8))  # blocky noise: x264 has work
    return np.ascontiguousarray(big)


class _Publisher:
    """Panning-texture video and a tone, published into the relay like a browser host."""

    def __init__(self, client: Any, session: str, index: int, size: tuple[int, int]) -> None:
        self.client, self.session, self.index, self.size = client, session, index, size
        self.peer = f"bench-pub-{index}"
        self.pc: Any = None

    async def start(self) -> None:
        import av
        import numpy as np
        from aiortc import (
            MediaStreamTrack,
            RTCConfiguration,
            RTCPeerConnection,
            RTCSessionDescription,
        )

        width, height = self.size
        texture = _texture(width, height)
        offset = self.index * 97

        class Video(MediaStreamTrack):
            kind = "video"

            def __init__(self) -> None:
                super().__init__()
                self.n = 0
                self.start: float | None = None

            async def recv(self) -> av.VideoFrame:
                if self.start is None:
                    self.start = time.monotonic()
                wait = self.start + self.n / 30 - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                x = (self.n * 2 + offset) % (texture.shape[1] - width)
                y = (self.n + offset) % (texture.shape[0] - height)
                yuv = np.full((height * 3 // 2, width), 128, np.uint8)
                yuv[:height] = texture[y : y + height, x : x + width]
                frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
                frame.pts, frame.time_base = self.n * 3000, fractions.Fraction(1, 90000)
                self.n += 1
                return frame

        class Tone(MediaStreamTrack):
            kind = "audio"

            def __init__(self, freq: float) -> None:
                super().__init__()
                self.freq, self.n, self.start = freq, 0, None

            async def recv(self) -> av.AudioFrame:
                if self.start is None:
                    self.start = time.monotonic()
                wait = self.start + self.n * 0.02 - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                t = np.arange(self.n * 960, (self.n + 1) * 960) / 48000
                pcm = (np.sin(2 * np.pi * self.freq * t) * 6000).astype(np.int16)
                frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
                frame.sample_rate, frame.pts = 48000, self.n * 960
                frame.time_base = fractions.Fraction(1, 48000)
                self.n += 1
                return frame

        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pc.addTrack(Tone(440.0 * (self.index + 1)))
        self.pc.addTrack(Video())
        await self.pc.setLocalDescription(await self.pc.createOffer())
        reply = await self.client.offer(
            session=self.session,
            peer=self.peer,
            role="publish",
            sdp=self.pc.localDescription.sdp,
            identity=f"user:{1000 + self.index}",
        )
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type="answer"))

    async def close(self) -> None:
        with contextlib.suppress(Exception):  # the relay may be gone already
            await self.client.leave(session=self.session, peer=self.peer)
        await self.pc.close()


async def _measure(
    args: argparse.Namespace, tmp: Path, address: str, relay_pid: int
) -> list[dict[str, Any]]:
    from media.relay import passthrough
    from media.relay.client import RelayClient

    passthrough.enable_loopback_ice()
    client = RelayClient(address)
    sets = ["decode_only", *args.renditions] if args.baseline else list(args.renditions)
    size = tuple(int(x) for x in args.publisher_size.split("x"))
    results = []
    for k, publishers in enumerate(args.publishers):
        for j, renditions in enumerate(sets):
            session = f"room:0:{k * 10 + j + 1}"
            pubs = [_Publisher(client, session, i, size) for i in range(publishers)]  # type: ignore[arg-type]
            for pub in pubs:
                await pub.start()
            child = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.hls_worker", "--child",
                "--address", address, "--session", session, "--renditions", renditions,
                "--seconds", str(args.seconds), "--root", str(tmp / "out"),
                cwd=ROOT, env=_env(tmp), stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            me, relay = psutil.Process(), psutil.Process(relay_pid)
            await asyncio.sleep(3)  # roughly the child's warm-up; its own window is exact
            me0, relay0, t0 = me.cpu_times(), relay.cpu_times(), time.monotonic()
            out, _ = await child.communicate()
            wall = time.monotonic() - t0
            me1, relay1 = me.cpu_times(), relay.cpu_times()
            for pub in pubs:
                await pub.close()
            if child.returncode != 0:
                raise SystemExit(f"child failed for {renditions} x {publishers}")
            row = json.loads(out.decode().strip().splitlines()[-1])
            row.update(
                publishers=publishers,
                publisher_size=args.publisher_size,
                publishers_process_cores=round(
                    (me1.user + me1.system - me0.user - me0.system) / wall, 3
                ),
                relay_cores=round(
                    (relay1.user + relay1.system - relay0.user - relay0.system) / wall, 3
                ),
                load_average=[round(x, 2) for x in os.getloadavg()],
            )
            print(json.dumps(row), flush=True)
            results.append(row)
    await client.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="measuring window per run")
    parser.add_argument(
        "--renditions",
        nargs="+",
        choices=list(RENDITION_SETS),
        default=["720p", "360p", "both"],
    )
    parser.add_argument("--publishers", nargs="+", type=int, default=[1, 2], choices=[1, 2, 3, 4])
    parser.add_argument("--publisher-size", default="1280x720")
    parser.add_argument("--no-baseline", dest="baseline", action="store_false")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--address", help=argparse.SUPPRESS)
    parser.add_argument("--session", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "liveshop.settings")
    import django

    django.setup()
    if args.child:
        args.renditions = (
            args.renditions if isinstance(args.renditions, str) else args.renditions[0]
        )
        print(json.dumps(asyncio.run(_child(args))), flush=True)
        return

    tmp = Path(tempfile.mkdtemp(prefix="bench-hls-"))
    before = machine_info()
    relay = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "media_relay", "--listen", f"unix:{tmp}/relay.sock"],
        env=_env(tmp), stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert relay.stdout is not None
        line = relay.stdout.readline()
        if " listening on " not in line:
            raise SystemExit(f"relay did not start: {line}")
        address = line.strip().rsplit(" ", 1)[-1]
        results = asyncio.run(_measure(args, tmp, address, relay.pid))
    finally:
        relay.terminate()
        relay.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    path = write_result(
        "hls_worker",
        {
            "benchmark": "hls_worker",
            "params": {
                "seconds": args.seconds,
                "fps": 30,
                "segment_seconds": 2.0,
                "preset": "veryfast",
                "publisher_size": args.publisher_size,
                "renditions": RENDITION_SETS,
            },
            "machine_before": before,
            "machine_after": machine_info(),
            "results": results,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
