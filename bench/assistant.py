"""The shopping assistant against a real stack: accuracy, fact errors, refusals, latency.

    python -m bench.assistant [--via auto|ws|task] [--postgres URL] [--redis URL]
                              [--limit N] [--repeat N] [--out PATH]

Starts a stack the way `make run` does (liveshop/ops/launch.py: its own database, Redis
prefix and run directory; migrate, seed_demo), creates one room per room context of the
evaluation set (assistant/eval/questions.jsonl: line-up, pinned product) in the demo
merchants, and asks every question as room chat:

- `--via ws`: a shopper posts `chat.send` over the room WebSocket of the running server and
  waits for the `assistant.answer` whose `question_seq` is its message's seq. Latency is
  question sent → answer event received (the chat path, the task queue, the answer, the
  room fan-out).
- `--via task`: the same questions through the chat hook and the answering task in this
  process (`chat_observed` → Celery task, eager → `assistant.answer` published to the
  room's stream of the stack). Latency is hook called → answer event published: no socket
  and no broker hop. Used while the server has no room socket yet (`auto` picks ws when the
  socket answers, else task, and the report says which ran).

Scoring is the offline evaluator's (`assistant.eval.evaluate.judge`: facts expected,
forbidden text, cited products, language, hand-off on unanswerable questions). FACT ERRORS
are checked against the DATABASE, not the engine: every number in an answer must be a
price, variant price, stock, option value, text number or line-up position of a product the
answer cites (read from the database after the run), or a number of a FAQ entry it used
(the stored Question names them). Must be 0.

The keyword-only baseline (best word overlap → that product's name and price, or that FAQ
entry's text) answers the same questions from the same database in the same run.

Questions whose room has a flash sale are skipped until flash sales exist in the rooms app
(counted in `skipped_flash`). Throttles: the stack runs with the assistant's per-room and
per-viewer rates raised and de-duplication off (recorded in the JSON), so every question is
answered; the defaults apply in production. Writes bench/results/assistant.json. Smoke-run
with --limit on a shared machine; record numbers on a quiet one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import statistics
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
BENCH_ENV = {
    "LIVESHOP_ASSISTANT_ROOM_RATE": "100000/min",
    "LIVESHOP_ASSISTANT_USER_RATE": "100000/min",
    "LIVESHOP_ASSISTANT_DEDUP_S": "0",
    "LIVESHOP_THROTTLES": "auth=10000/min,anon=100000/min,user=100000/min",
}
ANSWER_TIMEOUT_S = 10.0


@dataclass
class Asked:
    row: dict[str, Any]
    room_slug: str
    merchant: str
    text: str = ""
    lang: str = ""
    product_ids: list[int] = field(default_factory=list)
    confident: bool = False
    seq: int | None = None
    samples: list[float] = field(default_factory=list)
    error: str = ""


# --- set-up (inside the stack's Django) ------------------------------------------------------


def _context_key(row: dict[str, Any]) -> tuple[Any, ...]:
    room = row.get("room") or {}
    return (row.get("merchant", "demo"), room.get("pinned"), tuple(room.get("lineup", [])))


def prepare_rooms(rows: list[dict[str, Any]]) -> dict[tuple[Any, ...], str]:
    """One room per (merchant, pinned, line-up) with the assistant on. The pin is the host's
    (`Room.pinned_product`) where the rooms app has it, else a virtual host parked on it."""
    from datetime import timedelta

    from django.utils import timezone

    from assistant.models import RoomAssistant, ShowEntry, VirtualShow
    from commerce.models import Product
    from liveshop.accounts.models import User
    from liveshop.tenancy.models import Merchant
    from liveshop.tenancy.scope import tenant_scope
    from rooms.models import Room, RoomProduct, RoomStatus

    rooms: dict[tuple[Any, ...], str] = {}
    has_pin_field = any(f.name == "pinned_product" for f in Room._meta.get_fields())
    for n, key in enumerate(sorted({_context_key(r) for r in rows}, key=str)):
        slug_m, pinned, lineup = key
        merchant = Merchant.objects.get(slug=slug_m)
        host = User.objects.get(email=f"host@{slug_m}.test")
        with tenant_scope(merchant.id):
            by_sku = dict(Product.objects.filter(merchant=merchant).values_list("sku", "pk"))
            room = Room.objects.create(
                merchant=merchant,
                slug=f"bench-{n}-{uuid.uuid4().hex[:6]}",
                title=f"Assistant bench {n}",
                host=host,
                status=RoomStatus.LIVE,
            )
            RoomProduct.objects.bulk_create(
                [
                    RoomProduct(merchant=merchant, room=room, product_id=by_sku[sku], position=i)
                    for i, sku in enumerate(lineup)
                ]
            )
            RoomAssistant.objects.create(merchant=merchant, room=room, enabled=True)
            if pinned and has_pin_field:
                Room.objects.filter(pk=room.pk).update(pinned_product_id=by_sku[pinned])
            elif pinned:
                now = timezone.now()
                show = VirtualShow.objects.create(
                    merchant=merchant,
                    room=room,
                    starts_at=now,
                    slide_seconds=3600,
                    entry_started_at=now,
                    next_at=now + timedelta(days=1),
                )
                ShowEntry.objects.create(
                    merchant=merchant, show=show, product_id=by_sku[pinned], position=0
                )
        rooms[key] = room.slug
    return rooms


# --- asking: through the task path ------------------------------------------------------------


def ask_task_path(asked: list[Asked], repeat: int) -> None:
    from celery import current_app

    from assistant.services import chat_observed
    from liveshop.accounts.models import User
    from liveshop.tenancy.models import Merchant
    from liveshop.tenancy.scope import tenant_scope
    from rooms.models import Room
    from rooms.realtime.engine import get_engine

    current_app.conf.task_always_eager = True  # the worker's code, run here
    writer = get_engine().writer
    original = writer.publish_sync
    seen: dict[int, tuple[float, dict[str, Any]]] = {}

    def record(room: str, events: Any) -> Any:
        for e in events:
            if e.get("type") == "assistant.answer":
                seen[e["question_seq"]] = (time.perf_counter(), dict(e))
        return original(room, events)

    writer.publish_sync = record  # type: ignore[method-assign]
    shoppers = list(User.objects.filter(email__endswith="@example.test").order_by("id"))
    rooms: dict[str, Room] = {}
    seq = 1_000_000
    for round_ in range(repeat):
        for i, item in enumerate(asked):
            if item.room_slug not in rooms:
                merchant = Merchant.objects.get(slug=item.merchant)
                with tenant_scope(merchant.id):
                    rooms[item.room_slug] = Room.objects.get(merchant=merchant, slug=item.room_slug)
            room = rooms[item.room_slug]
            user = shoppers[i % len(shoppers)]
            seq += 1
            event = {
                "type": "chat.message",
                "seq": seq,
                "ts": int(time.time() * 1000),
                "user": {"id": user.pk, "name": user.display_name},
                "text": item.row["q"],
            }
            started = time.perf_counter()
            queued = chat_observed(room=room, event=event)
            answered = seen.pop(seq, None)
            if not queued or answered is None:
                if round_ == 0:
                    item.error = "not answered" if queued else "not queued"
                continue
            at, answer = answered
            item.samples.append((at - started) * 1000)
            if round_ == 0:
                _take(item, answer, seq)


def _take(item: Asked, answer: dict[str, Any], seq: int) -> None:
    item.text = answer["text"]
    item.lang = answer.get("lang", "")
    item.product_ids = [c["id"] for c in answer.get("products", [])]
    item.confident = bool(answer.get("confident"))
    item.seq = seq


# --- asking: over the room WebSocket ---------------------------------------------------------


async def _ws_room(base: str, ws_base: str, slug_m: str, items: list[Asked], token: str) -> None:
    import websockets

    room = items[0].room_slug
    uri = f"{ws_base}/ws/rooms/{slug_m}/{room}/"
    async with websockets.connect(uri, max_size=2**20) as sock:
        await sock.send(json.dumps({"type": "auth", "token": token}))
        pending: dict[str, tuple[Asked, float]] = {}
        by_seq: dict[int, tuple[Asked, float]] = {}
        answers: dict[int, tuple[float, dict[str, Any]]] = {}

        async def reader() -> None:
            async for raw in sock:
                frame = json.loads(raw)
                if frame.get("type") != "batch":
                    continue
                for e in frame.get("events", []):
                    if e.get("type") == "chat.message" and e.get("nonce") in pending:
                        by_seq[e["seq"]] = pending.pop(e["nonce"])
                    elif e.get("type") == "assistant.answer":
                        answers[e["question_seq"]] = (time.perf_counter(), e)

        task = asyncio.create_task(reader())
        try:
            for item in items:
                nonce = uuid.uuid4().hex[:16]
                sent = time.perf_counter()
                pending[nonce] = (item, sent)
                await sock.send(
                    json.dumps({"type": "chat.send", "text": item.row["q"], "nonce": nonce})
                )
                deadline = sent + ANSWER_TIMEOUT_S
                while time.perf_counter() < deadline:
                    seq = next((s for s, (it, _t) in by_seq.items() if it is item), None)
                    if seq is not None and seq in answers:
                        at, answer = answers.pop(seq)
                        item.samples.append((at - sent) * 1000)
                        _take(item, answer, seq)
                        break
                    await asyncio.sleep(0.005)
                else:
                    item.error = f"no answer within {ANSWER_TIMEOUT_S:.0f} s"
                # Stay under the chat rate limit of one viewer.
                await asyncio.sleep(0.05)
        finally:
            task.cancel()


def ws_available(stack: Any, slug_m: str, room: str) -> bool:
    import websockets

    async def probe() -> bool:
        uri = stack.url.replace("http", "ws", 1) + f"/ws/rooms/{slug_m}/{room}/"
        try:
            async with websockets.connect(uri, open_timeout=5) as sock:
                frame = json.loads(await asyncio.wait_for(sock.recv(), 5))
                return frame.get("type") in ("hello", "auth.ok")
        except Exception:
            return False

    return asyncio.run(probe())


def ask_ws(stack: Any, asked: list[Asked]) -> None:
    import httpx

    groups: dict[tuple[str, str], list[Asked]] = {}
    for item in asked:
        groups.setdefault((item.merchant, item.room_slug), []).append(item)
    tokens: dict[int, str] = {}

    def token(n: int) -> str:
        if n not in tokens:
            response = httpx.post(
                f"{stack.url}/api/v1/auth/token",
                json={"email": f"shopper{n}@example.test", "password": "liveshop-demo"},
                timeout=10,
            )
            response.raise_for_status()
            tokens[n] = response.json()["token"]
        return tokens[n]

    ws_base = stack.url.replace("http", "ws", 1)
    for n, ((slug_m, _room), items) in enumerate(groups.items()):
        asyncio.run(_ws_room(stack.url, ws_base, slug_m, items, token(n % 50 + 1)))


# --- scoring ---------------------------------------------------------------------------------


def db_allowed_numbers(item: Asked, room_lineup: list[int]) -> set[str]:
    """Numbers an answer may state, read from the database: the cited products' prices,
    variant prices, stock, option values and text numbers, their line-up positions, and the
    numbers of the FAQ entries the stored Question says it used."""
    from assistant.engine.answer import format_money, numbers_in
    from assistant.models import FaqEntry, Question
    from commerce.models import Product, Variant
    from liveshop.tenancy.models import Merchant
    from liveshop.tenancy.scope import tenant_scope

    merchant = Merchant.objects.get(slug=item.merchant)
    allowed: set[str] = set()
    with tenant_scope(merchant.id):
        for p in Product.objects.filter(merchant=merchant, pk__in=item.product_ids):
            for text in (
                p.name,
                p.name_zh,
                p.description,
                p.description_zh,
                p.material,
                p.material_zh,
            ):
                allowed.update(numbers_in(text))
            allowed.update(numbers_in(format_money(p.price, merchant.currency)))
            for v in Variant.objects.filter(merchant=merchant, product=p):
                allowed.add(str(v.stock))
                if v.price is not None:
                    allowed.update(numbers_in(format_money(v.price, merchant.currency)))
                for value in [*v.options.values(), *v.options_zh.values()]:
                    allowed.update(numbers_in(str(value)))
            if p.pk in room_lineup:
                allowed.add(str(room_lineup.index(p.pk) + 1))
        question = Question.objects.filter(
            merchant=merchant, room__slug=item.room_slug, seq=item.seq
        ).first()
        faq_ids = [
            int(x[3:]) for x in (question.policy_ids if question else []) if x.startswith("faq")
        ]
        for faq in FaqEntry.objects.filter(merchant=merchant, pk__in=faq_ids):
            for text in (faq.question, faq.answer, faq.question_zh, faq.answer_zh):
                allowed.update(numbers_in(text))
    return {str(int(n)) if re.fullmatch(r"\d+", n) else n for n in allowed}


def score(asked: list[Asked]) -> dict[str, Any]:
    from assistant.engine.answer import Answer, Handoff, numbers_in
    from assistant.eval.evaluate import judge
    from commerce.models import Product
    from liveshop.tenancy.models import Merchant
    from liveshop.tenancy.scope import tenant_scope
    from rooms.models import Room, RoomProduct

    sku_of: dict[int, str] = {}
    lineups: dict[str, list[int]] = {}
    for merchant in Merchant.objects.filter(slug__in={a.merchant for a in asked}):
        with tenant_scope(merchant.id):
            sku_of.update(Product.objects.filter(merchant=merchant).values_list("pk", "sku"))
            for room in Room.objects.filter(merchant=merchant, slug__startswith="bench-"):
                lineups[room.slug] = list(
                    RoomProduct.objects.filter(merchant=merchant, room=room)
                    .order_by("position", "id")
                    .values_list("product_id", flat=True)
                )
    outcomes = []
    fact_errors: list[dict[str, Any]] = []
    for item in asked:
        if item.seq is None:
            outcomes.append((item, False, item.error or "no answer"))
            continue
        answer = Answer(
            text=item.text,
            lang=item.lang,
            product_ids=tuple(sku_of.get(pid, str(pid)) for pid in item.product_ids),
            facts=(),
            confident=item.confident,
            handoff=None if item.confident else Handoff(item.row["q"], "unsure"),
            unanswered_reason=None if item.confident else "unsure",
        )
        ok, why = judge(item.row, answer)
        allowed = db_allowed_numbers(item, lineups.get(item.room_slug, []))
        wrong = [n for n in numbers_in(item.text) if n not in allowed]
        if wrong:
            fact_errors.append({"id": item.row["id"], "answer": item.text, "numbers": wrong})
        outcomes.append((item, ok, why))
    return _summary(outcomes, fact_errors, [ms for a in asked for ms in a.samples])


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))]


def _summary(
    outcomes: list[tuple[Any, bool, str]], fact_errors: list[dict], ms: list[float]
) -> dict:
    answerable = [(i, ok) for i, ok, _w in outcomes if i.row["expect"]["answerable"]]
    unanswerable = [(i, ok) for i, ok, _w in outcomes if not i.row["expect"]["answerable"]]
    refused = [i for i, _ok, _w in outcomes if not getattr(i, "confident", False)]

    def rate(items: list[Any]) -> float:
        return round(sum(ok for _i, ok in items) / len(items), 4) if items else 0.0

    return {
        "questions": len(outcomes),
        "answerable": len(answerable),
        "answerable_correct": sum(ok for _i, ok in answerable),
        "accuracy": rate(answerable),
        "accuracy_zh": rate([(i, ok) for i, ok in answerable if i.row["lang"] == "zh"]),
        "accuracy_en": rate([(i, ok) for i, ok in answerable if i.row["lang"] == "en"]),
        "handoff_recall": rate(unanswerable),
        "false_refusals": sum(1 for i, _ok in answerable if not getattr(i, "confident", False)),
        "refusal_rate": round(len(refused) / len(outcomes), 4) if outcomes else 0.0,
        "fact_errors": sum(len(e["numbers"]) for e in fact_errors),
        "fact_error_answers": fact_errors[:50],
        "latency_ms_p50": round(statistics.median(ms), 2) if ms else None,
        "latency_ms_p95": round(_percentile(ms, 0.95), 2) if ms else None,
        "latency_ms_max": round(max(ms), 2) if ms else None,
        "failures": [
            {"id": i.row["id"], "q": i.row["q"], "why": why, "answer": i.text}
            for i, ok, why in outcomes
            if not ok
        ][:100],
    }


def baseline(asked: list[Asked]) -> dict[str, Any]:
    """The keyword-only baseline on the same questions, from the same database."""
    from assistant.catalog import catalog_load
    from assistant.engine.answer import numbers_in
    from assistant.eval.evaluate import baseline_answer, judge
    from commerce.models import Product
    from liveshop.tenancy.models import Merchant
    from liveshop.tenancy.scope import tenant_scope

    outcomes = []
    fact_errors: list[dict[str, Any]] = []
    ms: list[float] = []
    catalogs: dict[str, Any] = {}
    for item in asked:
        merchant = Merchant.objects.get(slug=item.merchant)
        with tenant_scope(merchant.id):
            if item.merchant not in catalogs:
                sku_of = dict(Product.objects.filter(merchant=merchant).values_list("pk", "sku"))
                catalogs[item.merchant] = (catalog_load(merchant=merchant), sku_of)
            catalog, sku_of = catalogs[item.merchant]
            started = time.perf_counter()
            answer = baseline_answer(item.row["q"], catalog.snapshot, None)  # type: ignore[arg-type]
            ms.append((time.perf_counter() - started) * 1000)
        from dataclasses import replace

        cited = [int(p) for p in answer.product_ids]
        judged = replace(answer, product_ids=tuple(sku_of.get(p, str(p)) for p in cited))
        ok, why = judge(item.row, judged)
        shadow = Asked(row=item.row, room_slug=item.room_slug, merchant=item.merchant)
        shadow.text, shadow.product_ids, shadow.confident = answer.text, cited, answer.confident
        allowed = db_allowed_numbers(shadow, [])
        for pol in answer.policy_ids:  # the baseline quotes one FAQ entry whole
            entry = catalog.snapshot.policies_by_id[pol]
            allowed.update(numbers_in(f"{entry.answer} {entry.answer_zh}"))
        wrong = [n for n in numbers_in(answer.text) if n not in allowed]
        if wrong:
            fact_errors.append({"id": item.row["id"], "answer": answer.text, "numbers": wrong})
        outcomes.append((shadow, ok, why))
    return _summary(outcomes, fact_errors, ms)


# --- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--via", choices=["auto", "ws", "task"], default="auto")
    parser.add_argument("--postgres", help="a Postgres server URL (default: SQLite)")
    parser.add_argument("--redis", help="a Redis URL (default: the embedded default)")
    parser.add_argument("--limit", type=int, default=0, help="ask only the first N questions")
    parser.add_argument("--repeat", type=int, default=1, help="task path: ask each N times")
    parser.add_argument("--out", type=Path, default=RESULTS / "assistant.json")
    args = parser.parse_args(argv)

    from assistant.eval.evaluate import load_questions
    from liveshop.ops.launch import stack_prepare

    rows = load_questions()
    skipped_flash = [r for r in rows if (r.get("room") or {}).get("flash")]
    rows = [r for r in rows if not (r.get("room") or {}).get("flash")]
    if args.limit:
        rows = rows[: args.limit]
    print(
        f"preparing a stack ({'Postgres' if args.postgres else 'SQLite'}"
        f"{' + Redis' if args.redis else ''}) …",
        flush=True,
    )
    stack = stack_prepare(
        postgres_url=args.postgres,
        redis_url=args.redis,
        extra_env=BENCH_ENV,
        seed_args=("--shoppers", "50"),
    )
    try:
        os.environ.update(stack.env)
        os.environ.setdefault("LIVESHOP_LOG_LEVEL", "WARNING")  # not a line per task
        import django

        django.setup()
        rooms = prepare_rooms(rows)
        asked = [
            Asked(row=r, room_slug=rooms[_context_key(r)], merchant=r.get("merchant", "demo"))
            for r in rows
        ]
        via = args.via
        if via in ("auto", "ws"):
            stack.start()
            first = asked[0]
            if ws_available(stack, first.merchant, first.room_slug):
                via = "ws"
            elif via == "ws":
                print("the server has no room WebSocket yet: use --via task", file=sys.stderr)
                return 2
            else:
                via = "task"
                stack.stop()
        print(f"asking {len(asked)} questions via {via} …", flush=True)
        if via == "ws":
            ask_ws(stack, asked)
        else:
            ask_task_path(asked, max(1, args.repeat))
        report = {
            "bench": "assistant",
            "via": via,
            "note": (
                "question sent over the room WebSocket → assistant.answer received"
                if via == "ws"
                else "task path in the bench process: chat hook → answering task (eager) → "
                "assistant.answer published to the room stream; no socket, no broker hop"
            ),
            "database": "postgres" if args.postgres else "sqlite",
            "redis": bool(args.redis),
            "throttles": BENCH_ENV,
            "engine": {
                "embeddings": os.environ.get("LIVESHOP_ASSISTANT_EMBEDDINGS", "off"),
                "llm": bool(os.environ.get("LIVESHOP_ASSISTANT_LLM_URL")),
            },
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
            "skipped_flash": len(skipped_flash),
            "assistant": score(asked),
            "baseline_keyword": baseline(asked),
            "answered_by_status": dict(Counter("answered" if a.seq else a.error for a in asked)),
        }
    finally:
        stack.destroy()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    for name in ("assistant", "baseline_keyword"):
        r = report[name]
        print(
            f"{name:17} correct {r['answerable_correct']}/{r['answerable']} ({r['accuracy']:.1%}) "
            f"hand-off recall {r['handoff_recall']:.1%} refusals {r['refusal_rate']:.1%} "
            f"fact errors {r['fact_errors']} p50/p95 {r['latency_ms_p50']}/{r['latency_ms_p95']} ms"
        )
    print(
        f"via {report['via']}; skipped (flash sale rooms): {report['skipped_flash']}; → {args.out}"
    )
    ok = report["assistant"]["fact_errors"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
