"""FrameQueue: the bounded per-connection queue and its writer."""

from __future__ import annotations

import asyncio

import pytest

from rooms.realtime.connection import FrameQueue

from .conftest import run


class Socket:
    def __init__(self, stall: bool = False) -> None:
        self.sent: list[str] = []
        self.closed: list[int] = []
        self.release = asyncio.Event()
        if not stall:
            self.release.set()

    async def send(self, text: str) -> None:
        await self.release.wait()
        self.sent.append(text)

    async def close(self, code: int) -> None:
        self.closed.append(code)


def test_frames_are_sent_in_order_then_the_socket_is_closed() -> None:
    async def scenario() -> None:
        sock = Socket()
        q = FrameQueue(sock.send, sock.close, limit=10)
        writer = asyncio.create_task(q.run())
        for i in range(5):
            assert q.offer(f"f{i}")
        while len(sock.sent) < 5:
            await asyncio.sleep(0.001)
        q.close(1000)
        await asyncio.wait_for(writer, 2)
        assert sock.sent == ["f0", "f1", "f2", "f3", "f4"]
        assert sock.closed == [1000] and q.sent == 5
        assert not q.offer("late")

    run(scenario())


def test_a_full_queue_refuses_and_close_frees_a_stalled_writer() -> None:
    async def scenario() -> None:
        sock = Socket(stall=True)
        q = FrameQueue(sock.send, sock.close, limit=3)
        writer = asyncio.create_task(q.run())
        await asyncio.sleep(0)
        offered = [q.offer(f"f{i}") for i in range(10)]
        await asyncio.sleep(0.01)
        # One frame is stuck in the socket's send; three wait; the rest are refused.
        assert offered.count(True) <= 4 and offered[-1] is False
        assert len(q) <= 3
        q.close(4408)
        assert len(q) == 0  # nothing is kept for a socket that takes nothing
        await asyncio.wait_for(writer, 2)  # the stuck send was cancelled
        assert sock.sent == [] and sock.closed == [4408]
        q.close(1000)  # idempotent
        assert sock.closed == [4408] and q.close_code == 4408

    run(scenario())


def test_wait_below_returns_as_the_queue_drains() -> None:
    async def scenario() -> None:
        sock = Socket(stall=True)
        q = FrameQueue(sock.send, sock.close, limit=10)
        writer = asyncio.create_task(q.run())
        for i in range(8):
            q.offer(f"f{i}")
        waiting = asyncio.create_task(q.wait_below(3))
        await asyncio.sleep(0.01)
        assert not waiting.done()
        sock.release.set()
        await asyncio.wait_for(waiting, 2)
        assert len(q) < 3
        q.close(1000)
        await writer

    run(scenario())


def test_a_failing_send_closes_with_1011() -> None:
    async def scenario() -> None:
        closed: list[int] = []

        async def broken(text: str) -> None:
            raise ConnectionResetError("peer gone")

        async def close(code: int) -> None:
            closed.append(code)

        q = FrameQueue(broken, close, limit=5)
        writer = asyncio.create_task(q.run())
        q.offer("x")
        await asyncio.wait_for(writer, 2)
        assert closed == [1011] and q.closed

    run(scenario())


def test_limit_must_be_positive() -> None:
    async def scenario() -> None:
        sock = Socket()
        with pytest.raises(ValueError):
            FrameQueue(sock.send, sock.close, limit=0)

    run(scenario())
