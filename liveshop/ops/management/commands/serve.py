"""`manage.py serve`: everything `make run` starts, in one process group that Ctrl-C stops.

uvicorn on 127.0.0.1:<port>; each app's extra processes (the media relay, the HLS worker)
through `AppConfig.serve_processes(options)`; with REDIS_URL a Celery worker with beat.
Without Redis, periodic jobs run in the uvicorn process (ASGI lifespan, see liveshop/asgi.py).
If any child dies, the others are stopped and serve exits non-zero.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

DEMO_LOGINS = """\
  Demo logins (password liveshop-demo):
    staff     owner@demo.test  host@demo.test  agent@demo.test   (and @rival.test)
    shoppers  shopper1@example.test … shopper5@example.test
    platform  admin@liveshop.test  (Django admin at /admin/)"""


class Command(BaseCommand):
    help = "Run the web server and its companion processes until Ctrl-C."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--workers", type=int, default=1, help="uvicorn workers (Postgres + Redis only)"
        )
        parser.add_argument(
            "--server",
            choices=["uvicorn", "daphne"],
            default="uvicorn",
            help="ASGI server (daphne has no lifespan: the room engine starts with the first "
            "room socket and the embedded scheduler does not run)",
        )
        parser.add_argument(
            "--web-only",
            action="store_true",
            help="only the web server: no relay, HLS or Celery processes (tests, benchmarks)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        host, port = options["host"], options["port"]
        python = sys.executable
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if not settings.REDIS_URL:
            env["LIVESHOP_SCHEDULER"] = "inprocess"
        if settings.DB_IS_POSTGRES:
            env["LIVESHOP_DB_CONNECT_AS_APP"] = "1"  # row-level security binds this role
        workers = options["workers"] if settings.REDIS_URL and settings.DB_IS_POSTGRES else 1
        web = [
            python,
            "-m",
            "uvicorn",
            "liveshop.asgi:application",
            "--host",
            host,
            "--port",
            str(port),
            "--lifespan",
            "on",
            "--workers",
            str(workers),
            "--no-access-log",
            "--ws-max-size",
            str(64 * 1024),
            # Room batches are the same bytes for every viewer; per-connection compression
            # would make each socket pay to deflate them again (rooms/realtime/README.md).
            "--ws-per-message-deflate",
            "false",
        ]
        if options["server"] == "daphne":
            web = [python, "-m", "daphne", "-b", host, "-p", str(port), "liveshop.asgi:application"]
        children: list[tuple[str, list[str]]] = [("web", web)]
        web_only = options["web_only"]
        for config in apps.get_app_configs():
            extra = getattr(config, "serve_processes", None)
            if extra is not None and not web_only:
                children.extend(extra(python=python, host=host, port=port))
        if settings.REDIS_URL and not web_only:
            children.append(
                (
                    "celery",
                    [
                        python,
                        "-m",
                        "celery",
                        "-A",
                        "liveshop",
                        "worker",
                        "-B",
                        "--loglevel",
                        "INFO",
                        "--concurrency",
                        "2",
                    ],
                )
            )
        procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        stopping = False

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        for name, argv in children:
            self.stdout.write(f"serve: starting {name}: {' '.join(argv[1:4])} …")
            # Each child leads its own process group: stopping it stops what it forked too
            # (Celery's pool and beat), even when it has to be killed.
            procs.append((name, subprocess.Popen(argv, env=env, start_new_session=True)))  # noqa: S603 - our own argv

        base = f"http://{host}:{port}"
        self.stdout.write(
            self.style.SUCCESS(
                f"\nLiveShop is up on {base}/\n"
                f"  storefronts  {base}/s/demo/   {base}/s/rival/\n"
                f"  live room    {base}/s/demo/live/launch/\n"
                f"  dashboard    {base}/dashboard/demo/\n"
                f"  API docs     {base}/api/docs/\n"
                f"  database     {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}"
                f"{'  + Redis' if settings.REDIS_URL else ' (embedded default)'}\n"
                f"{DEMO_LOGINS}\n  Ctrl-C stops everything.\n"
            )
        )
        exit_code = 0
        while not stopping:
            for name, proc in procs:
                if proc.poll() is not None:
                    self.stderr.write(
                        f"serve: {name} exited with {proc.returncode}; stopping the rest"
                    )
                    exit_code = proc.returncode or 1
                    stopping = True
            time.sleep(0.3)
        for _name, proc in procs:
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for name, proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"serve: {name} did not stop in time; killing it")
            _signal_group(proc, signal.SIGKILL)  # whatever it left behind
        self.stdout.write("serve: stopped")
        sys.exit(exit_code)


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    """Signal a child's whole process group (it leads one: start_new_session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
