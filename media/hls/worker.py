"""The HLS worker process (`manage.py hls_worker`): every POLL_SECONDS it claims the
broadcasts it should render (Broadcast rows, see jobs.py), starts a BroadcastRun for each new
one, finishes those whose show ended, and deletes old unrecorded output.

Database work runs on one dedicated thread (Django connections are per thread; the event
loop carries the relay subscribers and must not block)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from aiortc import RTCConfiguration
from django.db import close_old_connections, connections

from media.relay.registry import RelayPool

from . import jobs
from .config import HlsSettings
from .output import EpochWriter, remove_epoch
from .pipeline import BroadcastRun, Job

logger = logging.getLogger(__name__)

T = TypeVar("T")
JANITOR_EVERY = 30  # polls


def worker_identity(worker_id: str) -> str:
    """The worker's publisher-style identity on relays (token characters only)."""
    return "hls:" + re.sub(r"[^A-Za-z0-9_.:@/+=-]", "-", worker_id)[:120]


class HlsWorker:
    def __init__(
        self,
        settings: HlsSettings,
        *,
        worker_id: str,
        pool: RelayPool,
        rtc_configuration: RTCConfiguration | None = None,
    ) -> None:
        self.settings = settings
        self.worker_id = worker_id[:128]
        self.identity = worker_identity(worker_id)
        self.pool = pool
        self.rtc_configuration = rtc_configuration
        self.runs: dict[int, BroadcastRun] = {}
        self.finished: list[int] = []  # broadcasts this worker ended (tests and logs)
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hls-db")
        self._polls = 0

    async def _in_db(self, fn: Any, /, **kwargs: Any) -> Any:
        def call() -> Any:
            close_old_connections()  # a long-lived process outlives its connections
            return fn(**kwargs)

        return await asyncio.get_running_loop().run_in_executor(self._db, call)

    async def run(self, stop: asyncio.Event) -> None:
        """Poll and render until `stop` is set; then hand running broadcasts back (they are
        not over: another worker, or this one restarted, resumes them)."""
        try:
            while not stop.is_set():
                try:
                    await self.poll()
                except Exception:  # the database blinked: keep rendering, try again
                    logger.exception("hls worker %s: poll failed", self.worker_id)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.settings.poll_seconds)
        finally:
            await self.shutdown()

    async def poll(self) -> None:
        running = {pk for pk, run in self.runs.items() if not run.failed}
        claimed: list[jobs.Claimed] = await self._in_db(
            jobs.claim,
            worker=self.worker_id,
            running=running,
            capacity=self.settings.max_sessions,
            lease=self.settings.lease_seconds,
        )
        held = {c.job.broadcast_id for c in claimed}
        for pk in [pk for pk in self.runs if pk not in held]:
            # Lost the lease (we stalled) or the room was deleted: someone else's now.
            logger.warning("hls worker %s: no longer holds broadcast %s", self.worker_id, pk)
            await self.runs.pop(pk).stop(final=False)
        for item in claimed:
            job = item.job
            run = self.runs.get(job.broadcast_id)
            if item.stopping:
                await self._finish(job, run)
            elif run is None:
                self._start(job)
            elif run.failed:
                await self._finish(job, run, error=run.render.stats.error or "render failed")
            else:
                await self._in_db(
                    jobs.report, worker=self.worker_id, job=job, progress=run.progress()
                )
        self._polls += 1
        if self._polls % JANITOR_EVERY == 1:
            await self._janitor()

    def _start(self, job: Job) -> None:
        logger.info("hls worker %s: rendering %s epoch %s", self.worker_id, job.session, job.epoch)
        run = BroadcastRun(
            self.settings,
            job,
            pool=self.pool,
            identity=self.identity,
            rtc_configuration=self.rtc_configuration,
        )
        self.runs[job.broadcast_id] = run
        run.start()

    async def _finish(self, job: Job, run: BroadcastRun | None, error: str = "") -> None:
        if run is not None:
            self.runs.pop(job.broadcast_id, None)
            summary = await run.stop(final=True)
        else:
            # Nobody was rendering it (the worker that was died): end what is on disk.
            summary = await asyncio.get_running_loop().run_in_executor(
                None, self._finish_files, job
            )
        await self._in_db(jobs.finish, worker=self.worker_id, job=job, summary=summary, error=error)
        self.finished.append(job.broadcast_id)
        logger.info("hls worker %s: %s ended (%s)", self.worker_id, job.session, summary)

    def _finish_files(self, job: Job) -> dict[str, Any]:
        writer = EpochWriter(
            self.settings,
            self.settings.root,
            job.merchant_id,
            job.room_id,
            job.epoch,
            record=job.record,
        )
        writer.open()
        return writer.finish(None)

    async def _janitor(self) -> None:
        for job in await self._in_db(jobs.purgeable, age=self.settings.janitor_age):
            remove_epoch(self.settings.root, job.merchant_id, job.room_id, job.epoch)
            await self._in_db(jobs.mark_purged, job=job)

    async def shutdown(self) -> None:
        runs, self.runs = self.runs, {}
        for run in runs.values():
            await run.stop(final=False)
            try:
                await self._in_db(jobs.release, worker=self.worker_id, job=run.job)
            except Exception:
                logger.exception("hls worker %s: could not release %s", self.worker_id, run.job)
        # The database thread's connection goes with it.
        await asyncio.get_running_loop().run_in_executor(self._db, connections.close_all)
        self._db.shutdown(wait=True)
