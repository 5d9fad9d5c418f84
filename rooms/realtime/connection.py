"""The connection side of fan-out: what the hub offers frames to.

The hub never awaits a socket: it calls `offer(frame)` on every subscriber, which must not
block. `FrameQueue` is the subscriber a WebSocket consumer uses: a bounded queue of frame
references (the same `str` objects for every viewer, so a full queue costs pointers, not
copies) drained by one writer coroutine that awaits the socket's send. When a viewer cannot
keep up the queue fills, `offer` returns False and the hub closes it with 4408.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol

log = logging.getLogger("liveshop.rooms.realtime")

CLOSE_TOO_SLOW = 4408
"""Contract: the viewer did not take frames fast enough; it resumes with `since`."""
CLOSE_RESET = 1012
"""Service restart: the room's stream was lost or skipped; resume with `since` (gap: true)."""


class Subscriber(Protocol):
    def offer(self, frame: str) -> bool:
        """Queue `frame` without blocking; False when it cannot (full or closed)."""
        ...

    def close(self, code: int) -> None:
        """Stop taking frames and close the socket with `code`, without blocking. Idempotent."""
        ...

    async def wait_below(self, frames: int) -> None:
        """Wait until fewer than `frames` are queued (or the subscriber is closed). The hub
        paces resume replays with it, so a resume never fills the queue by itself."""
        ...


class FrameQueue:
    """A bounded frame queue with its writer. Usage in a consumer::

        frames = FrameQueue(self.send, self.close, limit=config.queue_frames)
        writer = asyncio.create_task(frames.run())
        await registry.join(room_key, frames, since=since, room=room_payload)
        ...
        registry.leave(room_key, frames); frames.close(1000); await writer

    `send(text)` sends one text frame; `close_socket(code)` closes the socket. Frames are
    sent in the order offered; after `close` nothing more is sent.
    """

    def __init__(
        self,
        send: Callable[[str], Awaitable[None]],
        close_socket: Callable[[int], Awaitable[None]],
        *,
        limit: int,
        close_timeout: float = 5.0,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.close_code: int | None = None
        self.sent = 0
        self._send = send
        self._close_socket = close_socket
        self._close_timeout = close_timeout
        self._frames: deque[str] = deque()
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._in_send = False
        self._cancelled_by_close = False
        self._finish_code: int | None = None

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def closed(self) -> bool:
        return self.close_code is not None

    def offer(self, frame: str) -> bool:
        if self._finish_code is not None and self.close_code is None:
            return True  # closing after what is queued: take no more, but this is no stall
        if self.close_code is not None or len(self._frames) >= self.limit:
            return False
        self._frames.append(frame)
        self._wake.set()
        return True

    def close(self, code: int) -> None:
        if self.close_code is not None:
            return
        self.close_code = code
        self._frames.clear()  # a stalled socket keeps nothing alive
        self._wake.set()
        self._drained.set()
        # A send blocked on a socket that takes nothing would hold the writer forever.
        if self._in_send and self._runner is not None and not self._runner.done():
            self._cancelled_by_close = True
            self._runner.cancel()

    def finish(self, code: int) -> None:
        """Close with `code` once the frames already queued are sent (an `error` frame
        before its close code). Frames offered after this are dropped."""
        if self.close_code is None and self._finish_code is None:
            self._finish_code = code
            self._wake.set()

    async def wait_below(self, frames: int) -> None:
        while self.close_code is None and len(self._frames) >= frames:
            self._drained.clear()
            await self._drained.wait()

    async def run(self) -> None:
        """The writer: sends queued frames until closed, then closes the socket with the code.
        A send stuck on a dead socket is cancelled by `close` (this task is cancelled: no
        task per frame, which at thousands of viewers × ten batches a second costs)."""
        self._runner = asyncio.current_task()
        try:
            while True:
                while not self._frames and self.close_code is None:
                    if self._finish_code is not None:
                        self.close(self._finish_code)
                        break
                    self._wake.clear()
                    await self._wake.wait()
                if self.close_code is not None:
                    break
                frame = self._frames.popleft()
                self._drained.set()
                self._in_send = True
                try:
                    await self._send(frame)
                finally:
                    self._in_send = False
                self.sent += 1
        except asyncio.CancelledError:
            if not self._cancelled_by_close:
                raise
            if self._runner is not None:
                self._runner.uncancel()  # cancelled by close(): stop sending, go close
        except Exception:
            log.exception("room socket send failed")
            self.close(1011)
        if self.close_code is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._close_socket(self.close_code), self._close_timeout)
