"""Flash sale: many buyers, few units, open-loop arrivals. `python -m bench.flash_sale`

Starts LiveShop as `make run` does (Postgres + Redis, auth and rate limits on, keyed per
account) on throwaway state, gives every buyer an account and a token, puts a product with
`--units` units on sale through the merchant API, and sends one order per buyer at a fixed
arrival rate (open loop: arrivals do not wait for answers, latency counts from the planned
send time). The same run measures the naive read-then-write baseline on the same server.

Reports decisions/s (orders placed or refused), latency percentiles, CPU per decision, and
oversold units (must be 0 for the real endpoint), and writes JSON to bench/results/.

    python -m bench.flash_sale                       # 2,000 buyers, 100 units, 600/s
    python -m bench.flash_sale --buyers 300 --units 20 --rate 200   # a smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from .harness import (
    CpuMeter,
    HttpPool,
    Server,
    latency_summary,
    machine_info,
    serving,
    write_result,
)

VARIANTS = {
    "strict": "/api/v1/s/demo/orders",  # the product's endpoint
    "naive": "/bench/s/demo/naive-orders",  # read-then-write baseline (bench/naive.py)
}
TARGET = {"decisions_per_s": 500, "p99_ms": 200}

TOKENS = """
import json
from django.conf import settings
from liveshop.accounts.models import User
from liveshop.accounts.services import token_issue
emails = [f"shopper{{i}}@example.test" for i in range(1, {n} + 1)]
users = {{u.email: u for u in User.objects.filter(email__in=emails)}}
buyers = [token_issue(user=users[e], client="bench")[1] for e in emails]
owner = token_issue(user=User.objects.get(email="owner@demo.test"), client="bench")[1]
print(json.dumps({{"buyers": buyers, "owner": owner, "throttles": settings.LIVESHOP_THROTTLES,
                  "pool": settings.DATABASES["default"].get("OPTIONS", {{}}).get("pool")}}))
"""


@dataclass
class Sample:
    status: int
    latency_s: float
    error: str = ""


def product_create(server: Server, owner: str, name: str, units: int) -> int:
    response = httpx.post(
        f"{server.base_url}/api/v1/merchants/demo/products",
        json={"name": name, "price": 990, "stock": units},
        headers={"Authorization": f"Bearer {owner}"},
        timeout=30,
    )
    response.raise_for_status()
    return int(response.json()["id"])


async def open_loop(
    server: Server,
    path: str,
    tokens: list[str],
    product: int,
    *,
    rate: float,
    warm_connections: int,
    max_connections: int,
    poisson: bool,
    seed: int,
) -> tuple[list[Sample], float]:
    """One request per token at `rate`/s; returns the samples and the span from the first
    planned send to the last answer."""
    pool = HttpPool(server.host, server.port, max_connections=max_connections)
    await pool.warm(warm_connections)
    loop = asyncio.get_running_loop()
    rng = random.Random(seed)
    body = json.dumps({"lines": [{"product": product, "quantity": 1}]}).encode()
    samples: list[Sample] = []

    async def send(token: str, planned: float) -> None:
        headers = {
            "Authorization": f"Bearer {token}",
            "Idempotency-Key": uuid.uuid4().hex,
            "Content-Type": "application/json",
        }
        try:
            status, payload = await pool.request("POST", path, headers, body)
            error = "" if status in (201, 409) else payload[:200].decode(errors="replace")
        except Exception as exc:  # counted as a failed decision
            status, error = 0, f"{type(exc).__name__}: {exc}"[:200]
        samples.append(Sample(status, loop.time() - planned, error))

    tasks = []
    start = loop.time() + 0.05
    planned = start
    for token in tokens:
        now = loop.time()
        if planned > now:
            await asyncio.sleep(planned - now)
        tasks.append(asyncio.create_task(send(token, planned)))
        planned += rng.expovariate(rate) if poisson else 1.0 / rate
    await asyncio.gather(*tasks)
    span = loop.time() - start
    pool.close()
    return samples, span


async def browse(server: Server, tokens: list[str], concurrency: int = 16) -> None:
    """Before the sale every buyer is signed in and looking (here: GET /api/v1/me), as
    viewers of a live room are; so the sale measures orders, not first logins."""
    pool = HttpPool(server.host, server.port)
    queue = list(tokens)

    async def worker() -> None:
        while queue:
            token = queue.pop()
            await pool.request("GET", "/api/v1/me", {"Authorization": f"Bearer {token}"})

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    pool.close()


def sold_and_left(server: Server, product: int) -> tuple[int, int]:
    sold = server.psql(
        "SELECT coalesce(sum(quantity), 0) FROM commerce_orderline WHERE product_id = %s",
        [product],
    )[0][0]
    left = server.psql(
        "SELECT coalesce(sum(stock), 0) FROM commerce_variant WHERE product_id = %s", [product]
    )[0][0]
    return int(sold), int(left)


def run_variant(
    server: Server, name: str, tokens: list[str], owner: str, args: argparse.Namespace
) -> dict[str, Any]:
    path = VARIANTS[name]
    # Warm up this path (code, connection pools) on a product that does not sell out.
    warm_product = product_create(server, owner, f"warm-up {name}", 10**6)
    asyncio.run(
        open_loop(
            server,
            path,
            tokens[: args.warmup],
            warm_product,
            rate=min(args.rate, 200),
            warm_connections=args.warm_connections,
            max_connections=args.max_connections,
            poisson=False,
            seed=1,
        )
    )
    product = product_create(server, owner, f"flash sale {name}", args.units)
    time.sleep(args.settle)
    meter = CpuMeter(server)
    meter.start()
    samples, span = asyncio.run(
        open_loop(
            server,
            path,
            tokens,
            product,
            rate=args.rate,
            warm_connections=args.warm_connections,
            max_connections=args.max_connections,
            poisson=args.poisson,
            seed=args.seed,
        )
    )
    cpu = meter.stop()
    sold, left = sold_and_left(server, product)
    placed = sum(1 for s in samples if s.status == 201)
    refused = sum(1 for s in samples if s.status == 409)
    decided = [s.latency_s for s in samples if s.status in (201, 409)]
    errors: dict[str, int] = {}
    for s in samples:
        if s.status not in (201, 409):
            label = f"{s.status} {s.error[:80]}"
            errors[label] = errors.get(label, 0) + 1
    decisions = placed + refused
    return {
        "variant": name,
        "path": path,
        "requests": len(samples),
        "placed": placed,
        "refused": refused,
        "errors": errors,
        "span_s": round(span, 3),
        "decisions_per_s": round(decisions / span, 1) if span else 0.0,
        "latency": latency_summary(decided),
        "units": args.units,
        "sold": sold,
        "stock_left": left,
        "oversold": max(0, sold - args.units),
        "lost_updates": sold + left - args.units,
        "cpu": {
            **cpu,
            "server_ms_per_decision": round(1000 * cpu["server_cpu_s"] / decisions, 2)
            if decisions
            else None,
            "postgres_ms_per_decision": round(1000 * cpu["postgres_cpu_s"] / decisions, 2)
            if decisions
            else None,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--buyers", type=int, default=2000)
    parser.add_argument("--units", type=int, default=100)
    parser.add_argument("--rate", type=float, default=600.0, help="arrivals per second")
    parser.add_argument("--poisson", action="store_true", help="Poisson instead of even arrivals")
    parser.add_argument(
        "--workers", type=int, default=None, help="uvicorn workers (serve --workers)"
    )
    parser.add_argument("--variants", default="strict,naive")
    parser.add_argument("--warmup", type=int, default=200, help="warm-up requests per variant")
    parser.add_argument("--warm-connections", type=int, default=32)
    parser.add_argument("--max-connections", type=int, default=512)
    parser.add_argument("--settle", type=float, default=1.0, help="pause before measuring (s)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--no-browse", action="store_true", help="skip the buyers' sign-in traffic before the sale"
    )
    parser.add_argument("--label", default="", help="free text stored with the result")
    args = parser.parse_args()
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = set(names) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants: {', '.join(sorted(unknown))}")

    before = machine_info()
    with serving(
        name="flash_sale",
        shoppers=args.buyers,
        workers=args.workers,
        env={"DJANGO_SETTINGS_MODULE": "bench.settings"},
    ) as server:
        setup = server.manage_json(TOKENS.format(n=args.buyers))
        if not args.no_browse:
            asyncio.run(browse(server, setup["buyers"]))
        results = [
            run_variant(server, name, setup["buyers"], setup["owner"], args) for name in names
        ]
    strict = next((r for r in results if r["variant"] == "strict"), None)
    verdict = None
    if strict is not None:
        verdict = {
            "decisions_per_s_ok": strict["decisions_per_s"] >= TARGET["decisions_per_s"],
            "p99_ok": strict["latency"]["p99_ms"] <= TARGET["p99_ms"],
            "oversold_ok": strict["oversold"] == 0 and strict["lost_updates"] == 0,
        }
    data = {
        "benchmark": "flash_sale",
        "label": args.label,
        "params": {
            k: getattr(args, k)
            for k in (
                "buyers",
                "units",
                "rate",
                "poisson",
                "workers",
                "warmup",
                "seed",
                "no_browse",
            )
        },
        "server": {
            "command": "manage.py serve" + (f" --workers {args.workers}" if args.workers else ""),
            "settings": "bench.settings (liveshop.settings + the naive baseline URL)",
            "throttles": setup["throttles"],
            "db_pool": setup["pool"],
        },
        "target": TARGET,
        "verdict": verdict,
        "machine_before": before,
        "machine_after": {"load_average": machine_info()["load_average"]},
        "results": results,
    }
    path = write_result("flash_sale", data)
    print(f"\nflash_sale: {args.buyers} buyers, {args.units} units, {args.rate:g}/s offered")
    print(
        f"{'variant':8} {'placed':>6} {'refused':>7} {'err':>4} {'dec/s':>7} {'p50':>7} {'p99':>7} "
        f"{'oversold':>8} {'srv ms/dec':>10} {'pg ms/dec':>9}"
    )
    for r in results:
        print(
            f"{r['variant']:8} {r['placed']:6} {r['refused']:7} {sum(r['errors'].values()):4} "
            f"{r['decisions_per_s']:7} {r['latency']['p50_ms']:7} {r['latency']['p99_ms']:7} "
            f"{r['oversold']:8} {r['cpu']['server_ms_per_decision']!s:>10} "
            f"{r['cpu']['postgres_ms_per_decision']!s:>9}"
        )
        for label, count in list(r["errors"].items())[:5]:
            print(f"         {count} × {label}")
    print(
        f"verdict: {verdict}\nload average before/after: {before['load_average']} → "
        f"{data['machine_after']['load_average']}\nwrote {path}"
    )


if __name__ == "__main__":
    main()
