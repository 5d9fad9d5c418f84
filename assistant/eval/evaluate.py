"""Offline evaluation of the assistant engine on assistant/eval/questions.jsonl.

    python -m assistant.eval.evaluate [--json PATH] [--failures]
        [--engine assistant|assistant-hashing|baseline|both]

Builds one snapshot per merchant from `commerce.demo_catalog`, runs every question through
the engine in its room (pinned product, line-up, flash sales), and reports:

- accuracy on answerable questions: the answer is in the question's language, every expected
  fact is in it, no forbidden text is, the expected products are cited, and the engine did
  not hand off;
- hand-off recall on unanswerable questions (orders, complaints, unknown products…);
- FACT ERRORS: numbers in an answer that are not true of what it cites. The allowed numbers
  are computed here from the snapshot, independently of the engine's own fact list: the
  cited products' prices, flash-sale prices, units and end times, variant stock and sizes,
  line-up positions and the numbers written in their texts, and the cited policies' texts.
  Must be 0;
- refusal rate, and latency p50/p95 per question (index warm) plus the cold index build;
- questions the chat path would not take as questions (`detect_question`): they count as
  failures, answerable or not, since in a room they never reach the assistant.

A keyword-only baseline (best word overlap → that product's name and price, or that
policy's answer) runs on the same questions for comparison.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from assistant.engine.answer import Answer, Handoff, format_money, numbers_in
from assistant.engine.detect import detect_language, detect_question
from assistant.engine.engine import AssistantSettings, answer_question
from assistant.engine.index import index_cache_clear, index_for
from assistant.engine.providers import HashingEmbeddings
from assistant.engine.snapshot import CatalogSnapshot, FlashSale, RoomContext
from assistant.engine.tokenize import clean, normalize
from commerce.demo_catalog import DEMO_CATALOG, DEMO_POLICIES

QUESTIONS = Path(__file__).with_name("questions.jsonl")
# The evaluation's clock: flash sales in the question file end relative to it.
EVAL_NOW = datetime(2026, 11, 28, 20, 0, tzinfo=UTC)

Engine = Callable[[str, CatalogSnapshot, RoomContext], Answer]


def demo_snapshots() -> dict[str, CatalogSnapshot]:
    """One snapshot per demo merchant; product ids are the skus."""
    return {
        slug: CatalogSnapshot.from_dicts(
            slug, products, DEMO_POLICIES.get(slug, []), version="demo-catalog"
        )
        for slug, products in DEMO_CATALOG.items()
    }


def load_questions(path: Path = QUESTIONS) -> list[dict[str, Any]]:
    rows = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{n}: {exc}") from exc
    return rows


def room_of(row: dict[str, Any]) -> RoomContext:
    raw = row.get("room") or {}
    sales = tuple(
        FlashSale(
            product_id=s["product"],
            price=s["price"],
            units_left=s["units"],
            ends_at=datetime.fromisoformat(s["ends_at"].replace("Z", "+00:00")),
        )
        for s in raw.get("flash", [])
    )
    return RoomContext(
        pinned_product_id=raw.get("pinned"), lineup=tuple(raw.get("lineup", [])), flash_sales=sales
    )


# --- fact errors (independent of the engine's own facts) -----------------------------------
def allowed_numbers(answer: Answer, snapshot: CatalogSnapshot, room: RoomContext) -> set[str]:
    allowed: set[str] = set()

    def add_text(text: str) -> None:
        allowed.update(numbers_in(text))

    for pid in answer.product_ids:
        p = snapshot.products_by_id.get(pid)
        if p is None:
            continue
        for text in (p.name, p.name_zh, p.description, p.description_zh, p.material, p.material_zh):
            add_text(text)
        add_text(format_money(p.price, p.currency))
        for v in p.variants:
            allowed.add(str(v.stock))
            if v.price is not None:
                add_text(format_money(v.price, p.currency))
            add_text(v.size)
            add_text(v.color)
        for sale in room.flash_sales:
            if sale.product_id == pid:
                add_text(format_money(sale.price, p.currency))
                allowed.add(str(sale.units_left))
                if sale.ends_at is not None:
                    allowed.update({str(sale.ends_at.hour), str(sale.ends_at.minute)})
        for n, lid in enumerate(room.lineup, 1):
            if lid == pid:
                allowed.add(str(n))
    for pol_id in answer.policy_ids:
        pol = snapshot.policies_by_id.get(pol_id)
        if pol is not None:
            for text in (pol.answer, pol.answer_zh, pol.question, pol.question_zh):
                add_text(text)
    return {str(int(n)) if re.fullmatch(r"\d+", n) else n for n in allowed}


def fact_errors(answer: Answer, snapshot: CatalogSnapshot, room: RoomContext) -> list[str]:
    allowed = allowed_numbers(answer, snapshot, room)
    return [n for n in numbers_in(answer.text) if n not in allowed]


# --- keyword-only baseline -----------------------------------------------------------------
def _keywords(text: str) -> set[str]:
    norm = normalize(text, limit=5000)
    words = set(re.findall(r"[a-z0-9]+", norm))
    chars = set(re.findall(r"[\u4e00-\u9fff]", norm))
    return (words | chars) - _BASELINE_STOP


_BASELINE_STOP = {
    *[
        "the",
        "a",
        "an",
        "is",
        "it",
        "this",
        "that",
        "do",
        "you",
        "have",
        "what",
        "how",
        "much",
        "are",
        "for",
        "of",
        "in",
        "to",
        "i",
        "my",
        "me",
        "can",
        "any",
    ],
    *"吗呢的了有是我你这个吧啊多少么什",
}


def baseline_answer(question: str, snapshot: CatalogSnapshot, room: RoomContext) -> Answer:
    """What a keyword bot does: the document sharing most words with the question wins; a
    product is answered with its name and price, a policy with its text. No context."""
    lang = detect_language(clean(question))
    asked = _keywords(question)
    best: tuple[int, str, str] = (0, "", "")
    for p in snapshot.products:
        score = len(
            asked & _keywords(" ".join([p.name, p.name_zh, p.description, p.description_zh]))
        )
        if score > best[0]:
            best = (score, "product", p.id)
    for pol in snapshot.policies:
        text = " ".join([pol.topic, pol.question, pol.question_zh, pol.answer, pol.answer_zh])
        score = len(asked & _keywords(text))
        if score > best[0]:
            best = (score, "policy", pol.id)
    if best[0] == 0:
        return Answer(
            text="?",
            lang=lang,
            product_ids=(),
            facts=(),
            confident=False,
            handoff=Handoff(question, "low_confidence"),
            unanswered_reason="low_confidence",
        )
    if best[1] == "product":
        p = snapshot.products_by_id[best[2]]
        name = p.name_zh if lang == "zh" and p.name_zh else p.name
        text = f"{name} {format_money(p.price, p.currency)}"
        return Answer(text, lang, (p.id,), (), True, None, None)
    pol = snapshot.policies_by_id[best[2]]
    text = pol.answer_zh if lang == "zh" and pol.answer_zh else pol.answer
    return Answer(text, lang, (), (), True, None, None, policy_ids=(pol.id,))


def engine_answer(question: str, snapshot: CatalogSnapshot, room: RoomContext) -> Answer:
    return answer_question(question, snapshot, room, AssistantSettings(), now=EVAL_NOW)


_HASHING = AssistantSettings(embeddings=HashingEmbeddings())


def engine_hashing_answer(question: str, snapshot: CatalogSnapshot, room: RoomContext) -> Answer:
    return answer_question(question, snapshot, room, _HASHING, now=EVAL_NOW)


ENGINES: dict[str, Engine] = {
    "assistant": engine_answer,
    "assistant-hashing": engine_hashing_answer,
    "baseline": baseline_answer,
}


# --- scoring -------------------------------------------------------------------------------
def _has(text: str, wanted: str | list[str]) -> bool:
    options = wanted if isinstance(wanted, list) else [wanted]
    norm = normalize(text, limit=10_000)
    return any(normalize(o, limit=1000) in norm for o in options)


@dataclass
class Outcome:
    id: str
    split: str
    lang: str
    question: str
    answerable: bool
    ok: bool
    answer: str
    handoff: bool
    why: str = ""
    fact_errors: list[str] = field(default_factory=list)
    ms: float = 0.0


@dataclass
class Report:
    engine: str
    questions: int
    answerable: int
    unanswerable: int
    answerable_correct: int
    accuracy: float
    accuracy_zh: float
    accuracy_en: float
    accuracy_dev: float
    accuracy_heldout: float
    accuracy_blind: float
    handoff_correct: int
    handoff_recall: float
    false_refusals: int
    refusal_rate: float
    fact_errors: int
    not_detected: int
    latency_ms_p50: float
    latency_ms_p95: float
    latency_ms_max: float
    index_build_ms: float
    failures: list[Outcome] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("failures")
        return data


def judge(row: dict[str, Any], answer: Answer) -> tuple[bool, str]:
    expect = row["expect"]
    if not expect["answerable"]:
        return (
            answer.handoff is not None,
            "" if answer.handoff else "answered instead of handing off",
        )
    if answer.handoff is not None:
        return False, f"handed off ({answer.unanswered_reason})"
    if answer.lang != row["lang"]:
        return False, f"answered in {answer.lang}"
    missing = [w for w in expect.get("contains", []) if not _has(answer.text, w)]
    if missing:
        return False, f"missing {missing}"
    present = [w for w in expect.get("absent", []) if _has(answer.text, w)]
    if present:
        return False, f"should not say {present}"
    uncited = [p for p in expect.get("products", []) if p not in answer.product_ids]
    if uncited:
        return False, f"did not cite {uncited}"
    return True, ""


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[k]


def evaluate(engine: str = "assistant", rows: Iterable[dict[str, Any]] | None = None) -> Report:
    run = ENGINES[engine]
    rows = list(rows if rows is not None else load_questions())
    snapshots = demo_snapshots()
    index_cache_clear()
    t0 = time.perf_counter()
    for snap in snapshots.values():
        index_for(snap)
    build_ms = (time.perf_counter() - t0) * 1000

    outcomes: list[Outcome] = []
    fact_error_count = 0
    not_detected = 0
    for row in rows:
        snapshot = snapshots[row.get("merchant", "demo")]
        room = room_of(row)
        started = time.perf_counter()
        answer = run(row["q"], snapshot, room)
        ms = (time.perf_counter() - started) * 1000
        ok, why = judge(row, answer)
        if not detect_question(row["q"]).is_question:
            # In a room the message would never reach the assistant (nor the host's list).
            ok, why = False, "not taken as a question in the chat"
            not_detected += 1
        errors = fact_errors(answer, snapshot, room)
        fact_error_count += len(errors)
        outcomes.append(
            Outcome(
                id=row["id"],
                split=row.get("split", "dev"),
                lang=row["lang"],
                question=row["q"],
                answerable=row["expect"]["answerable"],
                ok=ok,
                answer=answer.text,
                handoff=answer.handoff is not None,
                why=why,
                fact_errors=errors,
                ms=ms,
            )
        )

    answerable = [o for o in outcomes if o.answerable]
    unanswerable = [o for o in outcomes if not o.answerable]

    def acc(items: list[Outcome]) -> float:
        return round(sum(o.ok for o in items) / len(items), 4) if items else 0.0

    latencies = [o.ms for o in outcomes]
    return Report(
        engine=engine,
        questions=len(outcomes),
        answerable=len(answerable),
        unanswerable=len(unanswerable),
        answerable_correct=sum(o.ok for o in answerable),
        accuracy=acc(answerable),
        accuracy_zh=acc([o for o in answerable if o.lang == "zh"]),
        accuracy_en=acc([o for o in answerable if o.lang == "en"]),
        accuracy_dev=acc([o for o in answerable if o.split == "dev"]),
        accuracy_heldout=acc([o for o in answerable if o.split == "heldout"]),
        accuracy_blind=acc([o for o in answerable if o.split == "blind"]),
        handoff_correct=sum(o.ok for o in unanswerable),
        handoff_recall=acc(unanswerable),
        false_refusals=sum(o.handoff for o in answerable),
        refusal_rate=round(sum(o.handoff for o in outcomes) / len(outcomes), 4)
        if outcomes
        else 0.0,
        fact_errors=fact_error_count,
        not_detected=not_detected,
        latency_ms_p50=round(statistics.median(latencies), 3) if latencies else 0.0,
        latency_ms_p95=round(_percentile(latencies, 0.95), 3),
        latency_ms_max=round(max(latencies, default=0.0), 3),
        index_build_ms=round(build_ms, 3),
        failures=[o for o in outcomes if not o.ok or o.fact_errors],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--engine", choices=[*ENGINES, "both"], default="both", help="both = assistant + baseline"
    )
    parser.add_argument("--json", type=Path, help="write the reports as JSON to this file")
    parser.add_argument("--failures", action="store_true", help="list every failed question")
    args = parser.parse_args(argv)

    names = ["assistant", "baseline"] if args.engine == "both" else [args.engine]
    reports = [evaluate(name) for name in names]
    for report in reports:
        print(f"== {report.engine} ==")
        for key, value in report.summary().items():
            if key != "engine":
                print(f"  {key:20} {value}")
        if args.failures:
            for o in report.failures:
                extra = f" FACT ERRORS {o.fact_errors}" if o.fact_errors else ""
                print(
                    f"  ✗ {o.id} {o.split} [{o.lang}] {o.question!r}: {o.why}{extra}\n      → {o.answer}"
                )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "questions": str(QUESTIONS.name),
            "reports": [
                {**r.summary(), "failures": [asdict(o) for o in r.failures]} for r in reports
            ],
        }
        args.json.write_text(json.dumps(payload, ensure_ascii=False, indent=2), encoding="utf-8")
    main_report = reports[0]
    return (
        0
        if main_report.engine != "assistant"
        or (main_report.fact_errors == 0 and main_report.accuracy >= 0.9)
        else 1
    )


if __name__ == "__main__":
    sys.exit(main())
