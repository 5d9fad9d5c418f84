"""Start a whole LiveShop stack the way `make run` does — for tests and benchmarks.

Each stack gets its own run-time directory, its own database (a SQLite file, or a fresh
Postgres database) and its own Redis key prefix, runs `db_bootstrap`, `migrate` and
`seed_demo`, then `manage.py serve` in its own process group on a free loopback port.
`stop()` sends SIGINT to the group like Ctrl-C; `destroy()` also drops what it created.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Stack:
    port: int
    env: dict[str, str]
    var_dir: Path
    pg_admin_url: str | None = None
    db_name: str | None = None
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path = field(default_factory=lambda: Path(os.devnull))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def manage(self, *args: str, timeout: float = 300) -> None:
        subprocess.run(  # noqa: S603 - our own interpreter and manage.py
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            check=True,
            timeout=timeout,
            stdout=subprocess.DEVNULL,
        )

    def start(self, timeout: float = 60, serve_args: tuple[str, ...] = ()) -> None:
        """`manage.py serve` on this stack's port (extra `serve_args`, e.g. `--web-only`,
        `--server daphne`); returns once /healthz answers."""
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the child's lifetime
        self.proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "manage.py", "serve", "--port", str(self.port), *serve_args],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited with {self.proc.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(
            f"LiveShop did not answer on {self.url} within {timeout}s; see {self.log_path}"
        )

    def stop(self, timeout: float = 20) -> int | None:
        """Ctrl-C the process group; returns serve's exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            raise

    def sibling(self) -> Stack:
        """Another web process on the same database and Redis namespace (not started): a
        second server of the same deployment, on its own port."""
        port = free_port()
        return Stack(
            port=port,
            env=dict(self.env),
            var_dir=self.var_dir,
            log_path=self.var_dir / f"serve-{port}.log",
        )

    def destroy(self) -> None:
        try:
            self.stop()
        finally:
            if self.db_name and self.pg_admin_url:
                import psycopg

                with psycopg.connect(self.pg_admin_url, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
            redis_url = self.env.get("REDIS_URL")
            if redis_url:
                import redis

                client = redis.Redis.from_url(redis_url)
                prefix = self.env["LIVESHOP_REDIS_PREFIX"]
                for key in client.scan_iter(match=f"{prefix}*", count=1000):
                    client.delete(key)
            shutil.rmtree(self.var_dir, ignore_errors=True)


def stack_prepare(
    *,
    postgres_url: str | None = None,
    redis_url: str | None = None,
    extra_env: dict[str, str] | None = None,
    seed_args: tuple[str, ...] = (),
) -> Stack:
    """Create and seed a stack without starting it. `postgres_url` names the server (any
    database on it); the stack creates its own database there."""
    run_id = uuid.uuid4().hex[:10]
    var_dir = Path(tempfile.mkdtemp(prefix=f"liveshop-{run_id}-"))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL", "REDIS_URL", "PYTEST", "LIVESHOP_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="liveshop.settings",
        LIVESHOP_VAR_DIR=str(var_dir),
        PYTHONUNBUFFERED="1",
        LIVESHOP_REDIS_PREFIX=f"stack{run_id}",
        LIVESHOP_DEMO_COINS="1000",
    )
    port = free_port()
    # The stack's own address is the platform origin: WebSockets check Origin against it.
    env["LIVESHOP_BASE_URL"] = f"http://127.0.0.1:{port}"
    env.update(extra_env or {})
    stack = Stack(port=port, env=env, var_dir=var_dir, log_path=var_dir / "serve.log")
    if postgres_url:
        base = postgres_url.rsplit("/", 1)[0]
        stack.db_name = f"liveshop_stack_{run_id}"
        stack.pg_admin_url = f"{base}/postgres"
        env["DATABASE_URL"] = f"{base}/{stack.db_name}"
    if redis_url:
        env["REDIS_URL"] = redis_url
    stack.manage("db_bootstrap")
    stack.manage("migrate", "--noinput")
    stack.manage("seed_demo", *seed_args)
    return stack
