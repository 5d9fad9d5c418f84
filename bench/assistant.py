"""The shopping assistant against a running stack: accuracy, fact errors, refusals, latency.

    python -m bench.assistant [--via auto|ws|worker] [--limit N] [--repeat N]

Starts LiveShop as `make run` does (bench/harness.py: Postgres + Redis, uvicorn, the Celery
worker with beat, on throwaway state), creates one room per room context of the evaluation
set (assistant/eval/questions.jsonl: merchant, line-up, pinned product) with the assistant
on, and asks every question as room chat:

- `--via ws`: a signed-in shopper sends `chat.send` over the room WebSocket and waits for
  the `assistant.answer` whose `question_seq` is its message's seq. Latency: question sent
  → answer received (chat path, broker, worker, catalog read, engine, publish, fan-out).
- `--via worker`: the room socket is not on main yet, so this process plays the chat
  service: it calls the chat hook `chat_observed` with a chat event (as the stack's Django),
  which queues the answering task on the stack's Redis broker; the stack's Celery worker
  answers. Latency: hook called → the answer committed (the `Question` row; the
  `assistant.answer` event is published at that commit and every one is checked in the
  room's stream afterwards). Leaves out the socket and the fan-out.
- `auto` (default): ws when the server's room socket answers, else worker; the JSON says
  which ran.

Scoring is the offline evaluator's (`assistant.eval.evaluate.judge`). FACT ERRORS are
checked against the DATABASE with the ORM, not through the assistant's code: every number in
an answer must be a price, variant price, stock, option value or text number of a product
the answer cites, its line-up position, or a number of a FAQ entry the stored Question used.
Must be 0 (exit code 1 otherwise). The keyword-only baseline answers the same questions from
the same database in the same run. Questions whose room has a flash sale are skipped until
the rooms app has flash sales. The assistant's rates are raised and de-duplication is off
for the run (recorded). Writes bench/results/assistant-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .harness import Server, latency_summary, machine_info, serving, write_result

BENCH_ENV = {
    "LIVESHOP_ASSISTANT_ROOM_RATE": "100000/min",
    "LIVESHOP_ASSISTANT_USER_RATE": "100000/min",
    "LIVESHOP_ASSISTANT_DEDUP_S": "0",
    "LIVESHOP_THROTTLES": "auth=10000/min,anon=100000/min,user=100000/min",
}
ANSWER_TIMEOUT_S = 10.0
TARGET = {"accuracy": 0.9, "fact_errors": 0, "p95_ms": 2000}


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


# --- set-up (this process runs as the stack's Django) -----------------------------------------


def _context_key(row: dict[str, Any]) -> tuple[Any, ...]:
    room = row.get("room") or {}
    return (row.get("merchant", "demo"), room.get("pinned"), tuple(room.get("lineup", [])))


def prepare_rooms(rows: list[dict[str, Any]]) -> dict[tuple[Any, ...], str]:
    """One live room per (merchant, pinned, line-up) with the assistant on. The pin is the
    host's (`Room.pinned_product`) where the rooms app has it, else a virtual host parked on
    that product (its next step a day away)."""
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


def _room(cache: dict[str, Any], item: Asked) -> Any:
    from liveshop.tenancy.models import Merchant
    from liveshop.tenancy.scope import tenant_scope
    from rooms.models import Room

    if item.room_slug not in cache:
        merchant = Merchant.objects.get(slug=item.merchant)
        with tenant_scope(merchant.id):
            cache[item.room_slug] = Room.objects.get(merchant=merchant, slug=item.room_slug)
    return cache[item.room_slug]


# --- asking: the chat hook, the stack's Celery worker ---------------------------------------


def ask_worker(asked: list[Asked], repeat: int) -> None:
    from assistant.models import Question, QuestionStatus
    from assistant.services import chat_observed
    from liveshop.accounts.models import User
    from liveshop.tenancy.scope import tenant_scope

    shoppers = list(User.objects.filter(email__endswith="@example.test").order_by("id"))
    rooms: dict[str, Any] = {}
    seq = 1_000_000
    for round_ in range(repeat):
        for i, item in enumerate(asked):
            room = _room(rooms, item)
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
            if not chat_observed(room=room, event=event):  # autocommit: queued right away
                item.error = item.error or "not queued"
                continue
            row = None
            while row is None and time.perf_counter() - started < ANSWER_TIMEOUT_S:
                with tenant_scope(room.merchant_id):
                    row = (
                        Question.objects.filter(merchant_id=room.merchant_id, room=room, seq=seq)
                        .values("answer", "lang", "product_ids", "status")
                        .first()
                    )
                if row is None:
                    time.sleep(0.002)
            if row is None:
                item.error = item.error or f"no answer within {ANSWER_TIMEOUT_S:.0f} s"
                continue
            item.samples.append((time.perf_counter() - started) * 1000)
            if round_ == 0:
                item.text, item.lang = row["answer"], row["lang"]
                item.product_ids = list(row["product_ids"])
                item.confident = row["status"] == QuestionStatus.ANSWERED
                item.seq = seq


def events_published(asked: list[Asked]) -> int:
    """How many answered questions have no `assistant.answer` in their room's stream."""
    from rooms.events import room_key
    from rooms.realtime.engine import get_engine

    rooms: dict[str, Any] = {}
    wanted: dict[str, set[int]] = {}
    for item in asked:
        if item.seq is not None:
            key = room_key(_room(rooms, item))
            wanted.setdefault(key, set()).add(item.seq)

    async def missing() -> int:
        stream = get_engine().stream
        gone = 0
        for key, seqs in wanted.items():
            seen: set[int] = set()
            since = 0
            while True:
                page = await stream.read_after(key, since, 5000)
                if not page.events:
                    break
                since = page.events[-1]["seq"]
                seen.update(
                    e["question_seq"] for e in page.events if e["type"] == "assistant.answer"
                )
            gone += len(seqs - seen)
        return gone

    return asyncio.run(missing())


# --- asking: over the room WebSocket -----------------------------------------------------------


async def _ws_room(ws_base: str, slug_m: str, items: list[Asked], token: str) -> None:
    import websockets

    uri = f"{ws_base}/ws/rooms/{slug_m}/{items[0].room_slug}/"
    async with websockets.connect(uri, max_size=2**20) as sock:
        await sock.send(json.dumps({"type": "auth", "token": token}))
        seq_of: dict[str, int] = {}
        answers: dict[int, tuple[float, dict[str, Any]]] = {}

        async def reader() -> None:
            async for raw in sock:
                frame = json.loads(raw)
                for e in frame.get("events", []) if frame.get("type") == "batch" else []:
                    if e.get("type") == "chat.message" and e.get("nonce"):
                        seq_of[e["nonce"]] = e["seq"]
                    elif e.get("type") == "assistant.answer":
                        answers[e["question_seq"]] = (time.perf_counter(), e)

        task = asyncio.create_task(reader())
        try:
            for item in items:
                nonce = uuid.uuid4().hex[:16]
                sent = time.perf_counter()
                await sock.send(
                    json.dumps({"type": "chat.send", "text": item.row["q"], "nonce": nonce})
                )
                while time.perf_counter() - sent < ANSWER_TIMEOUT_S:
                    seq = seq_of.get(nonce)
                    if seq is not None and seq in answers:
                        at, answer = answers.pop(seq)
                        item.samples.append((at - sent) * 1000)
                        item.text, item.lang = answer["text"], answer.get("lang", "")
                        item.product_ids = [c["id"] for c in answer.get("products", [])]
                        item.confident = bool(answer.get("confident"))
                        item.seq = seq
                        break
                    await asyncio.sleep(0.002)
                else:
                    item.error = f"no answer within {ANSWER_TIMEOUT_S:.0f} s"
                await asyncio.sleep(0.05)  # one viewer stays under the chat rate limit
        finally:
            task.cancel()


def ws_available(server: Server, slug_m: str, room: str) -> bool:
    import websockets

    async def probe() -> bool:
        uri = server.base_url.replace("http", "ws", 1) + f"/ws/rooms/{slug_m}/{room}/"
        try:
            async with websockets.connect(uri, open_timeout=5) as sock:
                frame = json.loads(await asyncio.wait_for(sock.recv(), 5))
                return frame.get("type") in ("hello", "auth.ok")
        except Exception:
            return False

    return asyncio.run(probe())


def ask_ws(server: Server, asked: list[Asked]) -> None:
    from liveshop.accounts.models import User
    from liveshop.accounts.services import token_issue

    groups: dict[tuple[str, str], list[Asked]] = {}
    for item in asked:
        groups.setdefault((item.merchant, item.room_slug), []).append(item)
    shoppers = list(User.objects.filter(email__endswith="@example.test").order_by("id"))
    ws_base = server.base_url.replace("http", "ws", 1)
    for n, ((slug_m, _room), items) in enumerate(groups.items()):
        token = token_issue(user=shoppers[n % len(shoppers)], client="bench")[1]
        asyncio.run(_ws_room(ws_base, slug_m, items, token))


# --- scoring -------------------------------------------------------------------------------


def db_allowed_numbers(item: Asked, lineup: list[int], faq_text: str = "") -> set[str]:
    """Numbers an answer may state, read from the database with the ORM: the cited
    products' prices, variant prices, stock, option values and text numbers, their line-up
    positions, and the numbers of the FAQ entries the stored Question used."""
    from assistant.engine.answer import format_money, numbers_in
    from assistant.models import FaqEntry, Question
    from commerce.models import Product, Variant
    from liveshop.tenancy.models import Merchant
    from liveshop.tenancy.scope import tenant_scope

    merchant = Merchant.objects.get(slug=item.merchant)
    allowed: set[str] = set(numbers_in(faq_text))
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
            if p.pk in lineup:
                allowed.add(str(lineup.index(p.pk) + 1))
        if item.seq is not None:
            question = Question.objects.filter(
                merchant=merchant, room__slug=item.room_slug, seq=item.seq
            ).first()
            ids = [int(x[3:]) for x in (question.policy_ids if question else []) if x[3:].isdigit()]
            for faq in FaqEntry.objects.filter(merchant=merchant, pk__in=ids):
                for text in (faq.question, faq.answer, faq.question_zh, faq.answer_zh):
                    allowed.update(numbers_in(text))
    return {str(int(n)) if re.fullmatch(r"\d+", n) else n for n in allowed}


def _lineups_and_skus(asked: list[Asked]) -> tuple[dict[str, list[int]], dict[int, str]]:
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
    return lineups, sku_of


def score(asked: list[Asked]) -> dict[str, Any]:
    from assistant.engine.answer import Answer, Handoff, numbers_in
    from assistant.eval.evaluate import judge

    lineups, sku_of = _lineups_and_skus(asked)
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


def _summary(
    outcomes: list[tuple[Asked, bool, str]], fact_errors: list[dict[str, Any]], ms: list[float]
) -> dict[str, Any]:
    answerable = [(i, ok) for i, ok, _w in outcomes if i.row["expect"]["answerable"]]
    unanswerable = [(i, ok) for i, ok, _w in outcomes if not i.row["expect"]["answerable"]]

    def rate(items: list[tuple[Asked, bool]]) -> float:
        return round(sum(ok for _i, ok in items) / len(items), 4) if items else 0.0

    return {
        "questions": len(outcomes),
        "answerable": len(answerable),
        "answerable_correct": sum(ok for _i, ok in answerable),
        "accuracy": rate(answerable),
        "accuracy_zh": rate([(i, ok) for i, ok in answerable if i.row["lang"] == "zh"]),
        "accuracy_en": rate([(i, ok) for i, ok in answerable if i.row["lang"] == "en"]),
        "handoff_recall": rate(unanswerable),
        "false_refusals": sum(1 for i, _ok in answerable if not i.confident),
        "refusal_rate": round(sum(not i.confident for i, _o, _w in outcomes) / len(outcomes), 4)
        if outcomes
        else 0.0,
        "fact_errors": sum(len(e["numbers"]) for e in fact_errors),
        "fact_error_answers": fact_errors[:50],
        "latency": latency_summary([x / 1000 for x in ms])
        | {"p95_ms": _p95(ms), "samples": len(ms)},
        "failures": [
            {"id": i.row["id"], "q": i.row["q"], "why": why, "answer": i.text}
            for i, ok, why in outcomes
            if not ok
        ][:100],
    }


def _p95(ms: list[float]) -> float:
    from .harness import percentile

    return round(percentile(ms, 95), 1)


def baseline(asked: list[Asked]) -> dict[str, Any]:
    """The keyword-only baseline on the same questions, from the same database."""
    from dataclasses import replace

    from assistant.catalog import catalog_load
    from assistant.engine.answer import numbers_in
    from assistant.engine.snapshot import RoomContext
    from assistant.eval.evaluate import baseline_answer, judge
    from liveshop.tenancy.models import Merchant
    from liveshop.tenancy.scope import tenant_scope

    _lineups, sku_of = _lineups_and_skus(asked)
    outcomes = []
    fact_errors: list[dict[str, Any]] = []
    ms: list[float] = []
    catalogs: dict[str, Any] = {}
    for item in asked:
        if item.merchant not in catalogs:
            merchant = Merchant.objects.get(slug=item.merchant)
            with tenant_scope(merchant.id):
                catalogs[item.merchant] = catalog_load(merchant=merchant)
        catalog = catalogs[item.merchant]
        started = time.perf_counter()
        answer = baseline_answer(item.row["q"], catalog.snapshot, RoomContext())
        ms.append((time.perf_counter() - started) * 1000)
        cited = [int(p) for p in answer.product_ids]
        ok, why = judge(item.row, replace(answer, product_ids=tuple(sku_of[p] for p in cited)))
        shadow = Asked(row=item.row, room_slug=item.room_slug, merchant=item.merchant)
        shadow.text, shadow.product_ids, shadow.confident = answer.text, cited, answer.confident
        quoted = " ".join(  # the baseline quotes one FAQ entry whole
            f"{catalog.snapshot.policies_by_id[p].answer} {catalog.snapshot.policies_by_id[p].answer_zh}"
            for p in answer.policy_ids
        )
        allowed = db_allowed_numbers(shadow, [], quoted)
        wrong = [n for n in numbers_in(answer.text) if n not in allowed]
        if wrong:
            fact_errors.append({"id": item.row["id"], "answer": answer.text, "numbers": wrong})
        outcomes.append((shadow, ok, why))
    return _summary(outcomes, fact_errors, ms)


# --- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--via", choices=["auto", "ws", "worker"], default="auto")
    parser.add_argument("--limit", type=int, default=0, help="ask only the first N questions")
    parser.add_argument("--repeat", type=int, default=1, help="worker path: ask each N times")
    args = parser.parse_args(argv)

    from assistant.eval.evaluate import load_questions

    rows = load_questions()
    skipped_flash = [r for r in rows if (r.get("room") or {}).get("flash")]
    rows = [r for r in rows if not (r.get("room") or {}).get("flash")]
    if args.limit:
        rows = rows[: args.limit]
    before = machine_info()
    with serving(name="assistant", shoppers=50, env=BENCH_ENV) as server:
        # This process is the stack's Django too (the chat service's side of the hook).
        os.environ.update(server.env)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "liveshop.settings")
        os.environ["LIVESHOP_LOG_LEVEL"] = "WARNING"
        import django

        django.setup()
        rooms = prepare_rooms(rows)
        asked = [
            Asked(row=r, room_slug=rooms[_context_key(r)], merchant=r.get("merchant", "demo"))
            for r in rows
        ]
        via = args.via
        if via != "worker":
            first = asked[0]
            if ws_available(server, first.merchant, first.room_slug):
                via = "ws"
            elif via == "ws":
                print("the server has no room WebSocket yet: use --via worker", file=sys.stderr)
                return 2
            else:
                via = "worker"
        print(f"asking {len(asked)} questions via {via} …", flush=True)
        if via == "ws":
            ask_ws(server, asked)
            missing = 0
        else:
            ask_worker(asked, max(1, args.repeat))
            missing = events_published(asked)
        data = {
            "bench": "assistant",
            "via": via,
            "latency_means": (
                "question sent over the room WebSocket → assistant.answer received"
                if via == "ws"
                else "chat hook called → answer committed by the stack's Celery worker "
                "(broker hop included; socket and fan-out not)"
            ),
            "throttles": BENCH_ENV,
            "engine": {
                "embeddings": os.environ.get("LIVESHOP_ASSISTANT_EMBEDDINGS", "off"),
                "llm": bool(os.environ.get("LIVESHOP_ASSISTANT_LLM_URL")),
            },
            "target": TARGET,
            "skipped_flash": len(skipped_flash),
            "answers_missing_from_the_room_stream": missing,
            "status": dict(Counter("answered" if a.seq else a.error for a in asked)),
            "assistant": score(asked),
            "baseline_keyword": baseline(asked),
            "machine": before,
            "machine_after": {"load_average": machine_info()["load_average"]},
        }
    path = write_result("assistant", data)
    for name in ("assistant", "baseline_keyword"):
        r = data[name]
        print(
            f"{name:17} correct {r['answerable_correct']}/{r['answerable']} ({r['accuracy']:.1%})"
            f" hand-off recall {r['handoff_recall']:.1%} refusals {r['refusal_rate']:.1%}"
            f" fact errors {r['fact_errors']}"
            f" p50/p95 {r['latency']['p50_ms']}/{r['latency']['p95_ms']} ms"
        )
    print(f"via {via}; flash-sale questions skipped: {len(skipped_flash)}; → {path}")
    return 0 if data["assistant"]["fact_errors"] == 0 and missing == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
