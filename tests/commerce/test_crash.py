"""A process that dies during payment loses no paid order (Postgres, real processes).

1. The web process handling the webhook is SIGKILLed half-way (after it wrote the webhook
   record, while it waits for the order row): nothing it wrote survives, the sandbox's outbox
   still holds the event, and the redelivery to a fresh server pays the order exactly once.
2. The Celery worker delivering the webhook is SIGKILLed while the server works on it: the
   server commits the payment; the outbox, not knowing, redelivers; the server answers
   "already processed", and the order stays paid once.

The half-way point is made by holding the order's row lock from another connection.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from django.conf import settings
from django.utils import timezone

from commerce import services
from commerce.models import OrderTransition, SandboxDelivery, WebhookEvent
from commerce.payments.sandbox import sandbox_deliver_one, sandbox_redeliver_due
from liveshop.tenancy.scope import tenant_scope
from tests.commerce.conftest import key, order_of
from tests.factories import MerchantFactory, ProductFactory, UserFactory

pytestmark = [pytest.mark.pg, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def db_url() -> str:
    db = settings.DATABASES["default"]
    return f"postgres://postgres@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.pop("REDIS_URL", None)  # the server: embedded cache/limits, eager tasks
    env.update(
        DJANGO_SETTINGS_MODULE="liveshop.settings",
        DATABASE_URL=db_url(),  # the test database, as the app role (RLS on)
        LIVESHOP_DB_CONNECT_AS_APP="1",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


@contextmanager
def server(port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """uvicorn serving the app on 127.0.0.1:port, as `manage.py serve` runs it."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "liveshop.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--lifespan",
            "off",
            "--no-access-log",
        ],
        cwd=ROOT,
        env=child_env(),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def kill(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


@contextmanager
def order_row_locked(order_id: int) -> Iterator[None]:
    """Hold the order's row lock from a superuser connection (RLS does not apply to it)."""
    with psycopg.connect(db_url()) as conn:
        conn.execute("SELECT id FROM commerce_order WHERE id = %s FOR UPDATE", [order_id])
        yield
        conn.rollback()


def wait_for_lock_waiter(timeout: float = 20) -> None:
    """Until a backend of the app role waits on a row lock (the webhook handler, half-way)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(db_url(), autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE usename = %s AND wait_event_type = 'Lock'",
                [settings.LIVESHOP_DB_APP_ROLE],
            ).fetchone()
            if row and row[0]:
                return
            time.sleep(0.05)
    raise AssertionError("the webhook handler never reached the order lock")


def paid_once(order: Any) -> None:
    with tenant_scope(order.merchant_id):
        assert order_of(order, order.merchant).status == "paid"
        assert OrderTransition.objects.filter(order_id=order.pk, to_status="paid").count() == 1
        assert WebhookEvent.objects.filter(payment__order_id=order.pk).count() == 1


def confirmed_payment(port: int) -> tuple[Any, SandboxDelivery]:
    """An order whose shopper confirmed in the sandbox; its webhook not yet delivered."""
    from commerce.payments.sandbox import sandbox_decide

    merchant = MerchantFactory.create()
    product = ProductFactory.create(merchant=merchant, stock=5)
    shopper = UserFactory()
    order = services.order_place(
        merchant=merchant,
        shopper=shopper,
        lines=[{"product": product.pk, "quantity": 1}],
        idempotency_key=key(),
    ).order
    payment = services.payment_start(
        merchant=merchant, shopper=shopper, order=order, base_url=f"http://127.0.0.1:{port}/"
    ).payment
    # Its immediate delivery fails (no server listens yet) and waits in the outbox.
    sandbox_decide(payment_ref=payment.external_id, approve=True)
    return order, SandboxDelivery.objects.get(payload__data__payment=payment.external_id)


def make_due(delivery: SandboxDelivery) -> None:
    SandboxDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())


def test_web_process_killed_mid_webhook_loses_no_payment(tmp_path):
    port = free_port()
    order, delivery = confirmed_payment(port)
    log = tmp_path / "server.log"
    with server(port, log) as proc, order_row_locked(order.pk):
        make_due(delivery)
        sender = threading.Thread(target=sandbox_deliver_one, args=(delivery.pk,))
        sender.start()
        wait_for_lock_waiter()
        kill(proc)  # the web process dies half-way through the webhook
        sender.join(timeout=30)
    delivery.refresh_from_db()
    assert delivery.delivered_at is None and delivery.last_error
    assert order_of(order, order.merchant).status == "pending_payment"
    with tenant_scope(order.merchant_id):
        assert not WebhookEvent.objects.exists()
    # The outbox retries against a fresh server: the order is paid, once.
    with server(port, log):
        make_due(delivery)
        assert sandbox_redeliver_due() == 1
    paid_once(order)


def test_celery_worker_killed_while_delivering_loses_no_payment(tmp_path):
    import redis
    from celery import Celery

    port = free_port()
    order, delivery = confirmed_payment(port)
    log = tmp_path / "server.log"
    # A Redis namespace of its own for the worker and the producer, removed afterwards.
    prefix = f"{settings.LIVESHOP_REDIS_PREFIX}-crash{os.getpid()}"
    producer = Celery(
        "crash-test",
        broker=settings.REDIS_URL,
        broker_transport_options={"global_keyprefix": prefix + ":celery:"},
    )
    worker_env = child_env(REDIS_URL=settings.REDIS_URL, LIVESHOP_REDIS_PREFIX=prefix)
    with server(port, log):
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "liveshop",
                "worker",
                "--pool",
                "solo",
                "--concurrency",
                "1",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
                "--loglevel",
                "INFO",
            ],
            cwd=ROOT,
            env=worker_env,
            stdout=(tmp_path / "worker.log").open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            with order_row_locked(order.pk):
                make_due(delivery)
                producer.send_task("commerce.sandbox_deliver", args=[delivery.pk])
                wait_for_lock_waiter(timeout=60)
                kill(worker)  # the worker dies mid-delivery; the server carries on
            deadline = time.monotonic() + 20
            while order_of(order, order.merchant).status != "paid":
                assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()[-2000:]
                time.sleep(0.1)
            delivery.refresh_from_db()
            assert delivery.delivered_at is None  # the worker never recorded it
            make_due(delivery)
            assert sandbox_redeliver_due() == 1  # "already processed" counts as delivered
        finally:
            if worker.poll() is None:
                kill(worker)
            client = redis.Redis.from_url(settings.REDIS_URL)
            for name in client.scan_iter(match=f"{prefix}*"):
                client.delete(name)
    paid_once(order)
