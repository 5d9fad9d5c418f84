"""Shared benchmark plumbing: start LiveShop the way `make run` does, drive it over HTTP,
measure, and write the result as JSON to bench/results/.

    with serving(name="flash_sale", shoppers=2000) as server:
        token = server.manage_json("...")        # setup through Django, not measured
        client = HttpPool(server.host, server.port)
        ...
        write_result("flash_sale", {...})

`serving` makes a throwaway Postgres database and Redis namespace, runs `db_bootstrap`,
`migrate` and `seed_demo` (as `make run` does), then `manage.py serve` on a free port in its
own process group, waits for /healthz, and on exit stops the group and drops both again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
REDIS = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/0")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=5, check=False
        ).stdout.strip()
    except OSError:
        return ""


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on, and how busy the machine was."""
    cpu_model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    versions: dict[str, str] = {"python": platform.python_version()}
    for module in ("django", "psycopg", "uvicorn", "rest_framework", "redis", "celery"):
        with contextlib.suppress(Exception):
            versions[module] = str(__import__(module).__version__)
    pg_version = ""
    with contextlib.suppress(Exception):
        import psycopg

        with psycopg.connect(f"{PG}/postgres", connect_timeout=3) as conn:
            pg_version = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
    return {
        "host": platform.node(),
        "os": platform.platform(),
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "postgres": pg_version,
        "versions": versions,
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain")),
    }


def write_result(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"{name}-{stamp}.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


# --- the server ---------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    host: str
    port: int
    env: dict[str, str]
    proc: subprocess.Popen[bytes]
    database: str
    redis_prefix: str
    log_path: Path
    started_at: float = field(default_factory=time.monotonic)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def manage(self, *args: str, timeout: float = 600) -> str:
        """Run a manage.py command against this server's database (not measured)."""
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stderr[-3000:]}")
        return done.stdout

    def manage_json(self, code: str, timeout: float = 600) -> Any:
        """Run Python in `manage.py shell` that prints one JSON document last."""
        out = self.manage("shell", "-c", code, timeout=timeout)
        return json.loads(out.strip().splitlines()[-1])

    def psql(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Read the database as its owner (past row-level security): for checking results."""
        import psycopg

        with psycopg.connect(f"{PG}/{self.database}", autocommit=True) as conn:
            return list(conn.execute(sql, params).fetchall())  # type: ignore[arg-type]

    def processes(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.proc.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []


def _run(argv: list[str], env: dict[str, str], timeout: float = 600) -> None:
    done = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode:
        raise RuntimeError(
            f"{' '.join(argv[1:4])} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        )


def _drop(database: str, redis_prefix: str) -> None:
    with contextlib.suppress(Exception):
        import psycopg

        with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    with contextlib.suppress(Exception):
        import redis

        client = redis.Redis.from_url(REDIS)
        for key in client.scan_iter(match=f"{redis_prefix}*", count=1000):
            client.delete(key)


@contextlib.contextmanager
def serving(
    *,
    name: str,
    shoppers: int = 5,
    workers: int | None = None,
    env: dict[str, str] | None = None,
    keep: bool = False,
    ready_timeout: float = 120,
) -> Iterator[Server]:
    """LiveShop on Postgres + Redis as `make run` starts it, on a free port, on throwaway
    state. `workers` passes `--workers` to serve (uvicorn processes; default serve's own)."""
    tag = f"{name}_{os.getpid()}_{int(time.time())}"
    database = f"bench_{tag}"
    redis_prefix = f"bench-{tag}"
    child_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PYTEST")},
        "DATABASE_URL": f"{PG}/{database}",
        "REDIS_URL": REDIS,
        "LIVESHOP_REDIS_PREFIX": redis_prefix,
        "LIVESHOP_DEMO_COINS": os.environ.get("LIVESHOP_DEMO_COINS", "1000"),
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    python = sys.executable
    port = free_port()
    log_path = RESULTS / "logs" / f"{tag}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    proc: subprocess.Popen[bytes] | None = None
    try:
        _run([python, "manage.py", "db_bootstrap"], child_env)
        _run([python, "manage.py", "migrate", "--noinput", "-v0"], child_env)
        _run([python, "manage.py", "seed_demo", "--shoppers", str(shoppers)], child_env)
        argv = [python, "manage.py", "serve", "--port", str(port)]
        if workers:
            argv += ["--workers", str(workers)]
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=child_env,
            stdout=log_path.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # one process group: stopped together
        )
        server = Server(name, "127.0.0.1", port, child_env, proc, database, redis_prefix, log_path)
        _wait_ready(server, ready_timeout)
        yield server
    finally:
        if proc is not None:
            _stop(proc)
        if not keep:
            _drop(database, redis_prefix)


def _wait_ready(server: Server, timeout: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"serve exited:\n{server.log_path.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.base_url}/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.3)
    raise RuntimeError(f"serve not ready after {timeout}s:\n{server.log_path.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)  # serve stops its children, like Ctrl-C
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # stragglers of the group


# --- CPU accounting -------------------------------------------------------------------------


def _cpu_seconds(processes: Sequence[psutil.Process]) -> float:
    total = 0.0
    for proc in processes:
        with contextlib.suppress(psutil.Error):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def postgres_processes() -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["name"]):
        with contextlib.suppress(psutil.Error):
            if (proc.info["name"] or "").startswith("postgres"):
                found.append(proc)
    return found


class CpuMeter:
    """CPU seconds used by the server's process tree, all of Postgres and this process
    between `start()` and `stop()` (Postgres is shared: other users' load counts too)."""

    def __init__(self, server: Server) -> None:
        self.server = server

    def start(self) -> None:
        self.t0 = time.monotonic()
        self.server_procs = self.server.processes()
        self.pg_procs = postgres_processes()
        self.s0 = _cpu_seconds(self.server_procs)
        self.p0 = _cpu_seconds(self.pg_procs)
        self.l0 = _cpu_seconds([psutil.Process()])
        self.machine0 = psutil.cpu_times()

    def stop(self) -> dict[str, float]:
        wall = time.monotonic() - self.t0
        machine1 = psutil.cpu_times()
        busy = sum(
            getattr(machine1, f) - getattr(self.machine0, f)
            for f in ("user", "system", "nice", "irq", "softirq")
        )
        return {
            "wall_s": round(wall, 3),
            "server_cpu_s": round(_cpu_seconds(self.server_procs) - self.s0, 3),
            "postgres_cpu_s": round(_cpu_seconds(self.pg_procs) - self.p0, 3),
            "loadgen_cpu_s": round(_cpu_seconds([psutil.Process()]) - self.l0, 3),
            "machine_busy_cores": round(busy / wall, 2) if wall else 0.0,
        }


# --- a lean HTTP/1.1 client for open-loop load ------------------------------------------------


class HttpConnection:
    """One keep-alive HTTP/1.1 connection (Content-Length bodies only: enough for our server,
    and cheap enough that the load generator is not the bottleneck)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> HttpConnection:
        reader, writer = await asyncio.open_connection(host, port)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, bytes]:
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        close = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            lowered = name.strip().lower()
            if lowered == b"content-length":
                length = int(value)
            elif lowered == b"connection" and value.strip().lower() == b"close":
                close = True
        payload = await self.reader.readexactly(length) if length else b""
        if close:
            self.close()
            raise ConnectionResetError("server closed the connection")
        return status, payload

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class HttpPool:
    """Idle keep-alive connections; a request that finds none opens another (open-loop load
    must not wait for a free connection, or it would hide the server's queueing)."""

    def __init__(self, host: str, port: int, *, max_connections: int = 512) -> None:
        self.host, self.port = host, port
        self.idle: list[HttpConnection] = []
        self.opened = 0
        self.max_connections = max_connections
        self.slots = asyncio.Semaphore(max_connections)

    async def warm(self, count: int) -> None:
        conns = await asyncio.gather(
            *(HttpConnection.open(self.host, self.port) for _ in range(count))
        )
        self.opened += len(conns)
        self.idle.extend(conns)

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, bytes]:
        async with self.slots:
            conn = self.idle.pop() if self.idle else None
            if conn is None:
                conn = await HttpConnection.open(self.host, self.port)
                self.opened += 1
            try:
                result = await conn.request(method, path, headers, body)
            except BaseException:
                conn.close()
                raise
            self.idle.append(conn)
            return result

    def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()


def percentile(values: Sequence[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def latency_summary(latencies_s: Sequence[float]) -> dict[str, float]:
    ms = [x * 1000 for x in latencies_s]
    return {
        "p50_ms": round(percentile(ms, 50), 1),
        "p90_ms": round(percentile(ms, 90), 1),
        "p99_ms": round(percentile(ms, 99), 1),
        "max_ms": round(max(ms), 1) if ms else 0.0,
        "mean_ms": round(sum(ms) / len(ms), 1) if ms else 0.0,
    }
