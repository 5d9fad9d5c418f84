"""`make run` smoke test: on a warm venv the stack answers /, /api/schema/ and, after login,
/dashboard/demo/ within a minute, and Ctrl-C stops the whole process group cleanly."""

from __future__ import annotations

import contextlib
import http.cookiejar
import os
import re
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from liveshop.ops.launch import ROOT, free_port

pytestmark = pytest.mark.pg


def _children(pgid: int) -> list[str]:
    out = subprocess.run(
        ["ps", "-o", "pid=,cmd=", "-g", str(pgid)], capture_output=True, text=True
    ).stdout
    # Zombies are already dead; in a container without an init that reaps, they linger.
    return [line for line in out.splitlines() if line.strip() and "<defunct>" not in line]


def _login_and_get(base: str, path: str) -> tuple[int, str]:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base}/accounts/login/", timeout=10).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode(
        {
            "csrfmiddlewaretoken": token,
            "username": "owner@demo.test",
            "password": "liveshop-demo",
            "next": path,
        }
    ).encode()
    request = urllib.request.Request(
        f"{base}/accounts/login/", data=data, headers={"Referer": f"{base}/accounts/login/"}
    )
    response = opener.open(request, timeout=10)
    return response.status, response.read().decode()


@pytest.mark.parametrize("backend", ["embedded", "postgres+redis"])
def test_make_run_serves_and_stops_on_ctrl_c(backend, tmp_path: Path):
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL", "REDIS_URL", "PYTEST", "LIVESHOP_", "DJANGO_"))
    }
    env["LIVESHOP_VAR_DIR"] = str(tmp_path)
    db_name = f"liveshop_smoke_{os.getpid()}_{port}"
    if backend != "embedded":
        base = settings.DATABASES["default"]
        env["DATABASE_URL"] = (
            f"postgres://{os.environ.get('LIVESHOP_TEST_PG_USER', 'postgres')}@{base['HOST']}:{base['PORT']}/{db_name}"
        )
        env["REDIS_URL"] = settings.REDIS_URL
        env["LIVESHOP_REDIS_PREFIX"] = f"smoke{port}"
    log = open(tmp_path / "make-run.log", "wb")  # noqa: SIM115
    started = time.monotonic()
    proc = subprocess.Popen(
        ["make", "run", f"PORT={port}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        while True:
            assert proc.poll() is None, (tmp_path / "make-run.log").read_text()[-3000:]
            assert time.monotonic() - started < 60, (
                "no answer within a minute:\n" + (tmp_path / "make-run.log").read_text()[-3000:]
            )
            try:
                with urllib.request.urlopen(f"{base_url}/", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                time.sleep(0.3)
        with urllib.request.urlopen(f"{base_url}/api/schema/", timeout=10) as response:
            assert response.status == 200 and b"openapi" in response.read()
        status, body = _login_and_get(base_url, "/dashboard/demo/")
        assert status == 200 and "Demo Boutique" in body
        output = (tmp_path / "make-run.log").read_text()
        assert "owner@demo.test" in output and f"http://127.0.0.1:{port}/" in output
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail("Ctrl-C did not stop make run within 20 s")
        if backend != "embedded":
            import psycopg

            with psycopg.connect(
                env["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres", autocommit=True
            ) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
    time.sleep(0.5)
    assert _children(proc.pid) == [], "processes left behind after Ctrl-C"
    assert "serve: stopped" in (tmp_path / "make-run.log").read_text()
