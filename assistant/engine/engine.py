"""`answer_question`: one danmaku question in, one fact-based answer out.

Steps: clean and bound the text → language → parse intents and slots → questions about
orders, complaints or for a human go straight to a handoff → find the product(s) (line-up
position, product words in the question, then the pinned product, then the line-up) →
write the answer from the snapshot → check its numbers → optionally let an LLM rephrase it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from . import lexicon
from .answer import (
    Answer,
    Composer,
    Handoff,
    canonical_size,
    handoff_text,
    match_colors,
    match_sizes,
    numeric_sizes,
    sentences,
    unsupported_numbers,
)
from .detect import detect_language, strip_mention
from .index import CatalogIndex, index_for
from .intents import ParsedQuestion, parse
from .lexicon import STOP_CHARS, STOP_WORDS
from .providers import (
    EmbeddingProvider,
    PhrasingError,
    PhrasingProvider,
    cosine,
    guard_phrased,
    phrase_with_deadline,
)
from .snapshot import CatalogSnapshot, PolicyDoc, ProductDoc, RoomContext
from .tokenize import clean, normalize, units

PRODUCT_INTENTS = ("flash", "price", "stock", "colors", "sizes", "material", "details", "summary")
POLICY_INTENTS = ("shipping", "returns", "payment")
# Share of a question's content a product must explain to be "the product asked about".
COVERAGE = 0.6

_DIMENSION_RE = re.compile(
    r"尺寸|多大|多长|多宽|多高|多重|重量|多少克|容量|多少毫升|几毫升|规格|几寸|多少寸|长度"
    r"|dimension|how big|how large|how long|how wide|how tall|how heavy|weigh|capacity|volume|size of|length"
)
_MEASURE_RE = re.compile(
    r"\d\s*(cm|mm|ml|g\b|m\b|l\b|inch|kg|厘米|毫米|毫升|克|米|寸|升|英寸)|×|x\s*\d", re.IGNORECASE
)
# Aspects of a question that select sentences by what they state rather than by shared words:
# "寄加拿大要多久" wants the sentence with the delivery time, "包邮吗" the one about cost.
_TIME_Q_RE = re.compile(
    r"多久|几天|多长时间|什么时候|时效|how long|how many (days|hours)|how soon|\bwhen\b"
)
_TIME_S_RE = re.compile(r"天|工作日|小时|分钟|\b(days?|hours?|minutes?|weeks?)\b", re.IGNORECASE)
_COST_Q_RE = re.compile(r"运费|邮费|包邮|免运费|多少钱|\bfree\b|\bfees?\b|\bcost|\bcharge|how much")
_COST_S_RE = re.compile(r"包邮|运费|免费|\bfree\b|\$|美元|\bfees?\b|\bcost", re.IGNORECASE)
_GENERIC_DETAILS_RE = re.compile(
    r"详情|细节|介绍|参数|details?|describe|description|more info|tell me (more )?about"
)
_DETAIL_SYNONYMS = {
    "waterproof": ("water",),
    "computer": ("laptop",),
    "notebook": ("laptop",),
    "pc": ("laptop",),
    "moisturizing": ("moisturiser",),
    "wash": ("clean",),
    "肌": ("肤",),  # 敏感肌 / 干皮 ask about 肤质
    "皮": ("肤",),
}


class AssistantInputError(ValueError):
    """The question cannot be answered as given (empty after cleaning)."""


@dataclass(frozen=True)
class AssistantSettings:
    """Per-room assistant settings (the integration reads them from the merchant's config)."""

    enabled: bool = True
    name: str = "assistant"
    mentions_only: bool = False
    show_stock_counts: bool = True
    low_stock_threshold: int = 5
    max_products: int = 3
    embeddings: EmbeddingProvider | None = None
    phraser: PhrasingProvider | None = None


@dataclass
class _Resolution:
    products: list[ProductDoc] = field(default_factory=list)
    via: str = ""  # position | subject | embedding | pinned | lineup | catalog
    failure: str | None = None


def answer_question(
    question: str,
    snapshot: CatalogSnapshot,
    room: RoomContext | None = None,
    settings: AssistantSettings | None = None,
    *,
    now: datetime | None = None,
) -> Answer:
    """Answer one shopper question from `snapshot` (one merchant's data) in `room`.

    Never raises for odd text (emoji, control characters, huge input are cleaned and cut);
    raises AssistantInputError only when nothing is left to answer."""
    room = room or RoomContext()
    settings = settings or AssistantSettings()
    now = now or datetime.now(UTC)
    text, _ = strip_mention(clean(question), settings.name)
    if not text:
        raise AssistantInputError("empty question")
    lang = detect_language(text)
    norm = normalize(text)
    index = index_for(snapshot)
    pq = parse(
        text,
        norm,
        merchant_colors=index.merchant_colors,
        merchant_colors_re=index.merchant_colors_re,
    )
    if pq.handoff:
        return _handoff(text, lang, pq.handoff, pq)

    composer = Composer(
        lang,
        show_stock_counts=settings.show_stock_counts,
        low_stock=settings.low_stock_threshold,
    )
    policy_intents = [i for i in pq.intents if i in POLICY_INTENTS]
    product_intents = [i for i in pq.intents if i in PRODUCT_INTENTS]
    missing: str | None = None

    for topic in policy_intents:
        if not _policy_section(composer, topic, pq, index, snapshot):
            missing = "no_policy"

    if "lineup" in pq.intents and not product_intents:
        _lineup_section(composer, snapshot, room)
    elif product_intents or not policy_intents:
        missing = _product_sections(
            composer, pq, product_intents, index, snapshot, room, settings, now, lang
        ) or (missing if not composer.sections else None)

    if not composer.sections:
        return _handoff(text, lang, missing or "low_confidence", pq)

    draft = composer.text()
    facts = tuple(composer.facts)
    if unsupported_numbers(draft, facts):
        # A template wrote a number that no fact carries: a bug, never shown to a shopper.
        return _handoff(text, lang, "guard", pq)
    answer = Answer(
        text=draft,
        lang=lang,
        product_ids=tuple(composer.product_ids),
        facts=facts,
        confident=True,
        handoff=None,
        unanswered_reason=None,
        policy_ids=tuple(composer.policy_ids),
        intents=tuple(pq.intents) or ("summary",),
    )
    if settings.phraser is not None:
        answer = _phrase(answer, text, settings.phraser)
    return answer


def _handoff(question: str, lang: str, reason: str, pq: ParsedQuestion) -> Answer:
    return Answer(
        text=handoff_text(reason, lang),
        lang=lang,
        product_ids=(),
        facts=(),
        confident=False,
        handoff=Handoff(question=question, reason=reason),
        unanswered_reason=reason,
        intents=tuple(pq.intents),
    )


def _phrase(answer: Answer, question: str, phraser: PhrasingProvider) -> Answer:
    try:
        phrased = phrase_with_deadline(
            phraser, question=question, draft=answer.text, lang=answer.lang
        )
    except PhrasingError:
        return answer
    if guard_phrased(phrased, draft=answer.text, facts=answer.facts, lang=answer.lang):
        return answer
    return replace(answer, text=phrased, phrased_by=phraser.name)


# --- products -------------------------------------------------------------------------------
def _product_sections(
    c: Composer,
    pq: ParsedQuestion,
    intents: list[str],
    index: CatalogIndex,
    snapshot: CatalogSnapshot,
    room: RoomContext,
    settings: AssistantSettings,
    now: datetime,
    lang: str,
) -> str | None:
    """Write the product part of the answer; return why not when nothing could be said."""
    res = _resolve(pq, intents, index, snapshot, room, settings)
    if res.failure:
        if intents:
            return res.failure
        # No shop intent and no product: maybe it is one of the merchant's FAQ entries.
        reason = _faq_fallback(c, pq, index, snapshot)
        if reason and settings.embeddings is not None:
            reason = _embedding_faq(c, pq, snapshot, index, settings)
        if reason is None:
            return None
        return "low_confidence" if res.failure == "no_subject" else res.failure
    products = res.products

    if not intents:
        # No shop intent. A bare product name gets its summary; anything more ("does the
        # hoodie have pockets", "is it warm") only a description sentence that clearly
        # covers it can answer.
        named = res.via in ("subject", "position", "embedding")
        intents = ["summary" if named and not _leftover(pq, products, index) else "details"]
    if "stock" in intents and any(canonical_size(s) == "ONE SIZE" for s in pq.sizes):
        intents = ["sizes", *intents]  # "包是均码吗": say it is one size, then the stock

    if (
        res.via == "lineup"
        and len(products) > 1
        and set(intents) <= {"price", "flash"}
        and not (pq.colors or pq.sizes or pq.materials)
    ):
        _lineup_section(c, snapshot, room, only=[p.id for p in products])
        return None

    said = False
    unsaid = False
    for p in products:
        sale = room.flash_sale_for(p.id, now)
        sizes = list(pq.sizes)
        if not sizes and pq.bare_numbers:
            sizes = [n for n in pq.bare_numbers if n in numeric_sizes(p)]
        generic = bool(_GENERIC_DETAILS_RE.search(pq.norm))
        for intent in intents:
            ok = True
            if intent in ("flash", "price"):
                c.section_price(p, sale, room.timezone, asked_flash=intent == "flash")
            elif intent == "stock":
                ok = c.section_stock(p, pq.colors, sizes)
            elif intent == "colors":
                ok = c.section_colors(p)
            elif intent == "sizes":
                ok = c.section_sizes(p)
            elif intent == "material":
                ok = c.section_material(p)
            elif intent == "details":
                if generic:
                    c.section_summary(p, sale, room.timezone)
                ok = c.section_detail(p, _pick_sentences(p, lang, pq, generic=generic)) or generic
            elif intent == "summary":
                c.section_summary(p, sale, room.timezone)
                if generic:  # "介绍一下", "tell me about": the description too
                    c.section_detail(p, _pick_sentences(p, lang, pq, generic=True))
            said |= ok
            unsaid |= not ok
    if said and unsaid:
        # Part of the question has no answer in the data: say so rather than skip it.
        c.add(c.t["partial"])
    return None if said else "no_data"


def _resolve(
    pq: ParsedQuestion,
    intents: Sequence[str],
    index: CatalogIndex,
    snapshot: CatalogSnapshot,
    room: RoomContext,
    settings: AssistantSettings,
) -> _Resolution:
    by_id = snapshot.products_by_id
    lineup = [pid for pid in room.lineup if pid in by_id]
    pinned = by_id.get(room.pinned_product_id or "")
    context = [pinned] if pinned else [by_id[pid] for pid in lineup]

    # 1. "3号链接": a line-up position.
    positions = list(pq.lineup_positions)
    for n in pq.bare_hao:
        context_sizes = set().union(*(numeric_sizes(p) for p in context)) if context else set()
        if 1 <= n <= len(room.lineup) and str(n) not in context_sizes:
            positions.append(n)
        else:
            pq.sizes.append(str(n))
    if positions:
        found = [
            by_id[room.lineup[n - 1]]
            for n in positions
            if 1 <= n <= len(room.lineup) and room.lineup[n - 1] in by_id
        ]
        return _Resolution(found, "position") if found else _Resolution(failure="no_product")

    # 2. Product words in the question.
    subject = pq.subject_units
    if subject:
        found = _match_subject(pq, subject, index, snapshot, settings)
        if found:
            return _Resolution(_filter_material(found, pq, intents, index, snapshot), "subject")
        if settings.embeddings is not None:
            hit = _embedding_product(pq, index, snapshot, settings.embeddings)
            if hit is not None:
                return _Resolution([hit], "embedding")
        if pq.concepts:
            # The shopper named a kind of product this merchant does not sell.
            return _Resolution(failure="no_match")
        if not context:
            found = _match_body(pq, subject, index, snapshot, settings)
            if found:
                return _Resolution(found, "catalog")
            if not intents:
                return _Resolution(failure="no_subject")
            return _Resolution(failure="no_match")

    # 3. The room: the pinned product, else the line-up. Not when the question names
    # something this merchant has no word for ("how much is this sweater"): answering about
    # the pinned product would answer a question nobody asked.
    unknown = [
        u
        for u in pq.rest_units
        if u.isascii() and u.isalpha() and len(u) >= 3 and u not in index.vocabulary
    ]
    if unknown and not set(intents) <= {"details", "summary"}:
        return _Resolution(failure="no_match")
    if pinned:
        products = _filter_material([pinned], pq, intents, index, snapshot, widen=lineup)
        return _Resolution(products, "pinned" if products == [pinned] else "catalog")
    if context:
        narrowed = _filter_slots(context, pq, intents, index)
        if len(narrowed) == 1:
            return _Resolution(narrowed, "lineup")
        if len(narrowed) > 1 and (
            pq.colors or pq.sizes or pq.materials or set(intents) <= {"price", "flash"}
        ):
            cap = len(narrowed) if set(intents) <= {"price", "flash"} else settings.max_products
            return _Resolution(narrowed[:cap], "lineup")
        if not narrowed and (pq.colors or pq.sizes or pq.materials):
            return _Resolution(context[: settings.max_products], "lineup")
        return _Resolution(failure="ambiguous" if intents else "no_subject")

    # 4. No room context: a catalog-wide question about a colour, size or material.
    if pq.colors or pq.sizes or pq.materials:
        narrowed = _filter_slots(list(snapshot.products), pq, intents, index)
        if narrowed:
            return _Resolution(narrowed[: settings.max_products], "catalog")
        return _Resolution(failure="no_match")
    return _Resolution(failure="ambiguous" if intents else "no_subject")


def _match_subject(
    pq: ParsedQuestion,
    subject: list[str],
    index: CatalogIndex,
    snapshot: CatalogSnapshot,
    settings: AssistantSettings,
) -> list[ProductDoc]:
    """Products whose title names what the question names (greedy cover: "T恤和卫衣" gives
    both), ties kept when the question does not tell them apart."""
    query = pq.rest_tokens + ["~" + c for c in pq.concepts]
    hits = index.title.search(query, top_k=50)
    concepts = {"~" + c for c in pq.concepts}
    candidates = []
    for hit in hits:
        title = index.title_coverage(hit.doc, subject, pq.cjk_pairs)
        if not title or (concepts and not (title & concepts)):
            continue
        covered = index.body_coverage(hit.doc, subject, pq.cjk_pairs)
        candidates.append((hit.doc, title, covered, hit.score))
    if not candidates:
        return []
    candidates.sort(key=lambda c: (-len(c[1]), -len(c[2]), -c[3], c[0]))
    chosen: list[int] = []
    covered_all: set[str] = set()
    for doc, title, covered, _score in candidates:
        if len(chosen) >= settings.max_products:
            break
        first = candidates[0]
        tie = title == first[1] and covered == first[2]
        if not chosen or (title - covered_all) or tie:
            chosen.append(doc)
            covered_all |= covered
    if _weight(covered_all) < COVERAGE * _weight(subject):
        return []
    # Ties beyond the first product are kept only when nothing distinguishes them.
    return [
        snapshot.products_by_id[index.product_ids[d]]
        for d in chosen
        if index.product_ids[d] in snapshot.products_by_id
    ]


def _leftover(pq: ParsedQuestion, products: Sequence[ProductDoc], index: CatalogIndex) -> list[str]:
    """Content of the question that the products' titles do not explain."""
    pos = index.position
    explained: set[str] = set()
    for p in products:
        if p.id in pos:
            explained |= index.title_units[pos[p.id]]
    return [u for u in pq.rest_units if u not in explained]


def _weight(subject_units: Iterable[str]) -> int:
    """A product noun ("~dress") weighs two plain words: "口红几块钱" is about the lipstick
    even though 钱 is not in its title."""
    return sum(2 if u.startswith("~") else 1 for u in subject_units)


def _match_body(
    pq: ParsedQuestion,
    subject: list[str],
    index: CatalogIndex,
    snapshot: CatalogSnapshot,
    settings: AssistantSettings,
) -> list[ProductDoc]:
    best: list[tuple[int, int]] = []
    for doc in range(len(index.product_ids)):
        covered = index.body_coverage(doc, subject, pq.cjk_pairs)
        if len(covered) >= math.ceil(COVERAGE * len(subject)):
            best.append((len(covered), doc))
    best.sort(key=lambda x: (-x[0], x[1]))
    top = [d for n, d in best if n == best[0][0]] if best else []
    return [snapshot.products_by_id[index.product_ids[d]] for d in top[: settings.max_products]]


def _filter_material(
    products: list[ProductDoc],
    pq: ParsedQuestion,
    intents: Sequence[str],
    index: CatalogIndex,
    snapshot: CatalogSnapshot,
    widen: Sequence[str] = (),
) -> list[ProductDoc]:
    """ "羊绒的多少钱": a material names the product unless the question asks about material.
    When the products at hand are not made of it, look in the line-up, then the catalog."""
    if not pq.materials or "material" in intents:
        return products
    pos = index.position

    def made_of(p: ProductDoc) -> bool:
        return p.id in pos and bool(set(pq.materials) & index.material_keys[pos[p.id]])

    kept = [p for p in products if made_of(p)]
    if kept:
        return kept
    for pool in (
        [snapshot.products_by_id[i] for i in widen if i in snapshot.products_by_id],
        list(snapshot.products),
    ):
        kept = [p for p in pool if made_of(p)]
        if kept:
            return kept[:3]
    return products


def _filter_slots(
    products: list[ProductDoc], pq: ParsedQuestion, intents: Sequence[str], index: CatalogIndex
) -> list[ProductDoc]:
    pos = index.position
    out = []
    for p in products:
        if pq.colors and not match_colors(p.variants, pq.colors):
            continue
        if pq.sizes and not match_sizes(p.variants, pq.sizes):
            continue
        if pq.materials and not (set(pq.materials) & index.material_keys[pos[p.id]]):
            continue
        out.append(p)
    return out


def _embedding_query(pq: ParsedQuestion) -> str:
    """The leftover words for the embedding provider; empty when too little is left to
    compare (one character matches anything by chance)."""
    text = " ".join(w for w in pq.rest.split() if w not in STOP_WORDS)
    return text if len(text.replace(" ", "")) >= 3 else ""


def _best_vector(query: list[float], tagged: list[tuple[int, list[float]]]) -> tuple[float, int]:
    return max(((cosine(query, v), i) for i, v in tagged), default=(0.0, -1))


def _embedding_product(
    pq: ParsedQuestion, index: CatalogIndex, snapshot: CatalogSnapshot, provider: EmbeddingProvider
) -> ProductDoc | None:
    """The optional embedding provider's best product for words BM25 could not place
    (a typo, a paraphrase), if it is similar enough."""
    text = _embedding_query(pq)
    if not snapshot.products or not text:
        return None
    tagged = index.embeddings(provider.name, provider.embed, snapshot).products
    (query,) = provider.embed([text])
    score, doc = _best_vector(query, tagged)
    if doc < 0 or score < provider.min_similarity:
        return None
    return snapshot.products_by_id.get(index.product_ids[doc])


# --- details ----------------------------------------------------------------------------------
def _pick_sentences(p: ProductDoc, lang: str, pq: ParsedQuestion, *, generic: bool) -> list[str]:
    text = (
        p.description_zh
        if lang == "zh" and p.description_zh
        else (p.description or p.description_zh)
    )
    found = sentences(text)
    if generic or not found:
        return found if generic else []
    wanted = set(pq.rest_units) | set(pq.detail_units)
    for unit in list(wanted):
        wanted.update(_DETAIL_SYNONYMS.get(unit, ()))
    dimension = bool(_DIMENSION_RE.search(pq.norm))
    duration = bool(_TIME_Q_RE.search(pq.norm))
    scored = []
    for s in found:
        have = set(units(normalize(s), stop_words=STOP_WORDS, stop_chars=STOP_CHARS))
        overlap = len(wanted & have)
        if dimension and _MEASURE_RE.search(s):
            overlap += 2
        if duration and re.search(r"\d", s) and _TIME_S_RE.search(s):
            overlap += 2
        scored.append((overlap, s))
    dimension = dimension or duration
    best = max(score for score, _ in scored)
    need = 2 if dimension else max(1, math.ceil(0.5 * len(wanted)))
    if best < need or (not wanted and not dimension):
        return []
    return [s for score, s in scored if score == best]


# --- policies ---------------------------------------------------------------------------------
def _policy_section(
    c: Composer, topic: str, pq: ParsedQuestion, index: CatalogIndex, snapshot: CatalogSnapshot
) -> bool:
    doc = index.policy_for_topic(topic)
    if doc is None:
        hits = index.policies.search([*pq.rest_tokens, topic], top_k=1)
        if not hits:
            return False
        doc = hits[0].doc
    policy = snapshot.policies_by_id.get(index.policy_ids[doc])
    if policy is None:
        return False
    text = (
        policy.answer_zh
        if c.lang == "zh" and policy.answer_zh
        else (policy.answer or policy.answer_zh)
    )
    found = sentences(text) or [text]
    prefix = ""
    if topic == "shipping" and pq.regions:
        listed = set(lexicon.regions_in(normalize(f"{policy.answer} {policy.answer_zh}")))
        if listed:
            asked = pq.regions[0]
            key = "ship_yes" if asked in listed else "ship_no"
            prefix = c.t[key].format(region=c.region(asked))
            if c.lang == "en":
                prefix += " "
    c.section_policy(policy, _best_policy_sentences(found, pq), prefix)
    return True


def _best_policy_sentences(found: list[str], pq: ParsedQuestion) -> list[str]:
    """The sentences of a policy that answer the question: those naming the regions asked
    about, stating a time when it asks "how long", a cost when it asks about cost; else
    those sharing what is left of the question once the topic words are gone ("free" in
    "free shipping?"); the whole policy when nothing singles a sentence out."""
    picked = set()
    if pq.regions:
        picked |= {s for s in found if lexicon.regions_in(normalize(s))}
    if _TIME_Q_RE.search(pq.norm):
        picked |= {s for s in found if re.search(r"\d", s) and _TIME_S_RE.search(s)}
    if _COST_Q_RE.search(pq.norm):
        picked |= {s for s in found if _COST_S_RE.search(s)}
    if picked:
        return [s for s in found if s in picked]
    asked = set(pq.rest_units)
    if not asked:
        return found
    scored = [
        (len(asked & set(units(normalize(s), stop_words=STOP_WORDS, stop_chars=STOP_CHARS))), s)
        for s in found
    ]
    best = max((n for n, _ in scored), default=0)
    if best < max(1, math.ceil(0.5 * len(asked))):
        return found
    return [s for n, s in scored if n == best]


def _faq_fallback(
    c: Composer, pq: ParsedQuestion, index: CatalogIndex, snapshot: CatalogSnapshot
) -> str | None:
    """A question with no shop intent may still be one of the merchant's FAQ entries."""
    subject = pq.subject_units
    if not subject or not snapshot.policies:
        return "low_confidence"
    hits = index.policies.search(pq.rest_tokens, top_k=1)
    if not hits:
        return "low_confidence"
    covered = [u for u in subject if u in index.policy_units[hits[0].doc]]
    if len(covered) < math.ceil(COVERAGE * len(subject)):
        return "low_confidence"
    policy = snapshot.policies_by_id[index.policy_ids[hits[0].doc]]
    _write_policy(c, policy, pq)
    return None


def _embedding_faq(
    c: Composer,
    pq: ParsedQuestion,
    snapshot: CatalogSnapshot,
    index: CatalogIndex,
    settings: AssistantSettings,
) -> str | None:
    provider = settings.embeddings
    text = _embedding_query(pq)
    if provider is None or not snapshot.policies or not text:
        return "low_confidence"
    tagged = index.embeddings(provider.name, provider.embed, snapshot).policies
    (query,) = provider.embed([text])
    score, doc = _best_vector(query, tagged)
    if doc < 0 or score < provider.min_similarity:
        return "low_confidence"
    _write_policy(c, snapshot.policies_by_id[index.policy_ids[doc]], pq)
    return None


def _write_policy(c: Composer, policy: PolicyDoc, pq: ParsedQuestion) -> None:
    text = (
        policy.answer_zh
        if c.lang == "zh" and policy.answer_zh
        else (policy.answer or policy.answer_zh)
    )
    c.section_policy(policy, _best_policy_sentences(sentences(text) or [text], pq))


def _lineup_section(
    c: Composer, snapshot: CatalogSnapshot, room: RoomContext, only: Sequence[str] | None = None
) -> None:
    by_id = snapshot.products_by_id
    items = [
        (n, by_id[pid])
        for n, pid in enumerate(room.lineup, start=1)
        if pid in by_id and (only is None or pid in only)
    ][:10]
    if items:
        c.section_lineup(items)
        return
    if room.pinned_product_id in by_id:
        c.section_summary(by_id[room.pinned_product_id], None, room.timezone)  # type: ignore[index]
        return
    c.section_catalog(list(snapshot.products)[:8])
