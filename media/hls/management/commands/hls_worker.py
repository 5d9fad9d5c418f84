"""`manage.py hls_worker`: render live rooms to HLS (and record them) until SIGTERM.

It takes its work from the database (Broadcast rows: media/hls/README.md), so any number of
workers may run, on any host that shares the output directory; each renders at most
LIVESHOP_HLS MAX_SESSIONS broadcasts. Prints `hls worker <id> running` once polling."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Render live rooms to HLS renditions and recordings until SIGTERM."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--worker-id", default=None, help="name in Broadcast.worker")

    def handle(self, *args: Any, **options: Any) -> None:
        from media.hls.config import HlsSettings

        try:
            hls = HlsSettings.from_settings()
        except ValueError as exc:
            raise CommandError(f"LIVESHOP_HLS: {exc}") from exc
        if not hls.enabled:
            raise CommandError("HLS is off: set LIVESHOP_HLS=1 to run the worker")
        worker_id = options["worker_id"] or f"{socket.gethostname()}-{os.getpid()}"
        hls.root.mkdir(parents=True, exist_ok=True)
        asyncio.run(self._run(hls, worker_id))

    async def _run(self, hls: Any, worker_id: str) -> None:
        # Imported here: `manage.py help` must not need aiortc.
        from media.hls.worker import HlsWorker
        from media.relay import passthrough
        from media.relay.config import RelayConfig
        from media.relay.registry import relay_pool

        if settings.LIVESHOP_ICE_LOOPBACK:
            passthrough.enable_loopback_ice()
        pool = relay_pool()
        worker = HlsWorker(
            hls,
            worker_id=worker_id,
            pool=pool,
            rtc_configuration=RelayConfig.from_settings().rtc_configuration(),
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        self.stdout.write(f"hls worker {worker_id} running, output in {hls.root}")
        self.stdout.flush()
        try:
            await worker.run(stop)
        finally:
            await pool.close()
        self.stdout.write(f"hls worker {worker_id} stopped")
