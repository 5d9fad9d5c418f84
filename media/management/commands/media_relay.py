"""`manage.py media_relay`: run a media relay process (or a supervisor of several).

Each relay is one asyncio process (one core: the GIL) that owns whole sessions. Without
Redis there is exactly one, on settings.LIVESHOP_MEDIA_RELAY_LISTEN, where web processes
find it. With Redis, `--workers N` runs N relays (one per core), each registering the
address it bound in Redis, where web processes look sessions up (media/relay/registry.py).

Prints `media relay <id> listening on <address>` once it accepts connections; SIGTERM or
SIGINT closes every peer connection and deregisters.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from media.relay.protocol import parse_address


def worker_address(listen: str, index: int) -> str:
    """Worker i's listen address: unix sockets get a suffix, TCP ports count up (0 stays 0)."""
    kind, where, port = parse_address(listen)
    if kind == "unix":
        path = Path(where)
        return f"unix:{path.with_name(f'{path.stem}-{index}{path.suffix}')}"
    return f"tcp:{where}:{port + index if port else 0}"


class Command(BaseCommand):
    help = "Run the media relay (aiortc SFU forwarding encoded media) until SIGTERM."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--listen",
            default=None,
            help="unix:<path> or tcp:<host>:<port> (default: LIVESHOP_MEDIA_RELAY_LISTEN)",
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=1,
            help="relay processes to run (more than 1 needs Redis)",
        )
        parser.add_argument("--relay-id", default=None, help="name in the registry")

    def handle(self, *args: Any, **options: Any) -> None:
        listen = options["listen"] or settings.LIVESHOP_MEDIA_RELAY_LISTEN
        try:
            parse_address(listen)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        relay_id = options["relay_id"] or f"{socket.gethostname()}-{os.getpid()}"
        workers = options["workers"]
        if workers < 1:
            raise CommandError("--workers must be at least 1")
        if workers > 1:
            if not settings.REDIS_URL:
                raise CommandError(
                    "several relays need REDIS_URL: web processes find sessions' relays there"
                )
            self._supervise(listen, relay_id, workers)
            return
        try:
            asyncio.run(self._run(listen, relay_id))
        except (ValueError, RuntimeError) as exc:
            raise CommandError(str(exc)) from exc

    async def _run(self, listen: str, relay_id: str) -> None:
        # Imported here: `manage.py help` must not need aiortc.
        from media.relay import passthrough
        from media.relay.config import RelayConfig
        from media.relay.engine import Relay
        from media.relay.registry import RedisDirectory, RelayRegistration
        from media.relay.server import ControlServer

        if settings.LIVESHOP_ICE_LOOPBACK:
            passthrough.enable_loopback_ice()
        passthrough.self_check()
        relay = Relay(RelayConfig.from_settings(), relay_id=relay_id)
        server = ControlServer(relay, listen=listen, secret=settings.LIVESHOP_MEDIA_RELAY_SECRET)
        address = await server.start()
        registration: RelayRegistration | None = None
        if settings.REDIS_URL:
            directory = RedisDirectory(settings.REDIS_URL, settings.LIVESHOP_REDIS_PREFIX)
            registration = RelayRegistration(directory, relay_id, address)
            relay.directory = registration
            await registration.heartbeat(relay.status())
            registration.start(relay.status)
        await relay.start()

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        self.stdout.write(f"media relay {relay_id} listening on {address}")
        self.stdout.flush()
        await stop.wait()

        await server.close()
        await relay.close()
        if registration is not None:
            await registration.stop()
            await registration.directory.close()
        self.stdout.write(f"media relay {relay_id} stopped")

    def _supervise(self, listen: str, relay_id: str, workers: int) -> None:
        manage = str(settings.BASE_DIR / "manage.py")
        procs: list[subprocess.Popen[bytes]] = []
        stopping = False

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        for i in range(workers):
            argv = [
                sys.executable,
                manage,
                "media_relay",
                "--listen",
                worker_address(listen, i),
                "--relay-id",
                f"{relay_id}-{i}",
            ]
            procs.append(subprocess.Popen(argv))  # noqa: S603 - our own argv
        exit_code = 0
        while not stopping:
            for proc in procs:
                if proc.poll() is not None:
                    self.stderr.write(f"media relay worker exited with {proc.returncode}")
                    exit_code = proc.returncode or 1
                    stopping = True
            time.sleep(0.3)
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
        if exit_code:
            raise CommandError(f"a relay worker failed (exit {exit_code})")
