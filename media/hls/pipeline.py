"""One broadcast being rendered: the relay subscriber (network, on the worker's event loop)
feeding the render thread, which writes the epoch's files."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from aiortc import RTCConfiguration

from media.relay.registry import RelayPool

from .config import HlsSettings
from .output import EpochWriter
from .render import MediaInputs, RenderLoop
from .subscriber import StageSubscriber


@dataclass(frozen=True)
class Job:
    """What the worker is told to render (from a Broadcast row)."""

    broadcast_id: int
    merchant_id: int
    room_id: int
    epoch: str
    record: bool
    host: str | None = None  # the host's publisher identity: shown first

    @property
    def session(self) -> str:
        # media.access.room_session_key(room), from ids (the worker has no Room). Only
        # rooms: consults are never rendered.
        return f"room:{self.merchant_id}:{self.room_id}"


class BroadcastRun:
    def __init__(
        self,
        settings: HlsSettings,
        job: Job,
        *,
        pool: RelayPool,
        identity: str,
        rtc_configuration: RTCConfiguration | None = None,
    ) -> None:
        self.settings = settings
        self.job = job
        self.inputs = MediaInputs(delay=settings.av_delay, host=job.host)
        self.writer = EpochWriter(
            settings, settings.root, job.merchant_id, job.room_id, job.epoch, record=job.record
        )
        self.render = RenderLoop(
            settings, self.writer, self.inputs, name=f"hls-render-{job.broadcast_id}"
        )
        self.subscriber = StageSubscriber(
            job.session,
            identity,
            self.inputs,
            pool=pool,
            rtc_configuration=rtc_configuration,
        )
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start rendering (call on the worker's event loop)."""
        self.render.start()
        self._task = asyncio.ensure_future(self.subscriber.run())

    @property
    def failed(self) -> bool:
        return self.render.stats.error is not None

    def progress(self) -> dict[str, Any]:
        return {
            "segments": self.writer.next_seq,
            "started_at": self.writer.first_wall,
            "connected": self.subscriber.connected,
            "error": self.render.stats.error or None,
        }

    async def stop(self, *, final: bool = True) -> dict[str, Any]:
        """Stop subscribing and rendering. `final` finishes the files (EXT-X-ENDLIST, the
        recording's manifest); otherwise they are left for another worker to resume."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self.render.stop(final=final)
        await asyncio.get_running_loop().run_in_executor(None, self.render.join)
        return self.render.summary or self.writer.summary()
