"""Fact-based answer building with Chinese and English templates.

Every value that goes into an answer (a name, a price, a stock figure, a size, a policy
sentence) is registered as a `Fact` by the `Composer` as it is written, and taken from the
snapshot: templates themselves contain no digits. `numbers_in` / `unsupported_numbers` then
check the finished text: a number that no fact carries is a bug and the answer is withheld.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import lexicon
from .intents import ColorSlot
from .snapshot import FlashSale, PolicyDoc, ProductDoc, VariantDoc
from .tokenize import normalize

Lang = str  # "zh" | "en"


@dataclass(frozen=True)
class Fact:
    """One value an answer states, with where it came from."""

    kind: (
        str  # name, price, flash_price, stock, color, size, material, text, policy, position, time
    )
    value: str
    product_id: str | None = None
    variant_id: str | None = None
    policy_id: str | None = None


@dataclass(frozen=True)
class Handoff:
    """Offer of a 1v1 consult; `question` is the shopper's question as asked."""

    question: str
    reason: str


@dataclass(frozen=True)
class Answer:
    text: str
    lang: Lang
    product_ids: tuple[str, ...]
    facts: tuple[Fact, ...]
    confident: bool
    handoff: Handoff | None
    unanswered_reason: str | None
    policy_ids: tuple[str, ...] = ()
    intents: tuple[str, ...] = ()
    phrased_by: str = "extractive"


# --- numbers -------------------------------------------------------------------------------
_NUMBER_RE = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?")


def _canon(number: str) -> str:
    try:
        value = Decimal(number.replace(",", "")).normalize()
    except InvalidOperation:  # pragma: no cover - the regex only yields decimals
        return number
    return format(value, "f")


def numbers_in(text: str) -> list[str]:
    """Every number written with digits in `text` (after NFKC, so １９ is 19), canonical:
    "19.00" and "19" are the same number, "1,299" is 1299."""
    return [_canon(n) for n in _NUMBER_RE.findall(normalize(text, limit=10_000))]


def unsupported_numbers(text: str, facts: Sequence[Fact]) -> list[str]:
    """Numbers in `text` that no fact states."""
    allowed = {n for f in facts for n in numbers_in(f.value)}
    return [n for n in numbers_in(text) if n not in allowed]


# --- money and time ------------------------------------------------------------------------
_CURRENCIES: dict[str, tuple[str, int]] = {
    "USD": ("$", 2),
    "CAD": ("CA$", 2),
    "AUD": ("A$", 2),
    "SGD": ("S$", 2),
    "HKD": ("HK$", 2),
    "GBP": ("£", 2),
    "EUR": ("€", 2),
    "MYR": ("RM", 2),
    "CNY": ("¥", 2),
    "JPY": ("¥", 0),
    "KRW": ("₩", 0),
}


def format_money(minor: int, currency: str) -> str:
    """Minor units to display text: 1900 USD -> "$19.00"."""
    symbol, digits = _CURRENCIES.get(currency.upper(), ("", 2))
    amount = Decimal(minor).scaleb(-digits)
    text = f"{amount:,.{digits}f}"
    return f"{symbol}{text}" if symbol else f"{text} {currency.upper()}"


def format_time(moment: datetime, tz_name: str) -> str:
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")
        tz_name = "UTC"
    local = moment.astimezone(tz)
    return f"{local:%H:%M}" + (" UTC" if tz_name == "UTC" else "")


# --- templates -----------------------------------------------------------------------------
T: dict[str, dict[str, str]] = {
    "zh": {
        "sep": "，",
        "list": "、",
        "end": "。",
        "join": "",
        "price": "{name}售价{price}。",
        "flash": "{name}秒杀价{flash}（原价{price}），还剩{units}件{ends}。",
        "flash_ends": "，{time}结束",
        "flash_gone": "{name}的秒杀已抢光，原价{price}。",
        "no_flash": "{name}目前没有秒杀活动，售价{price}。",
        "stock_count": "{n}件",
        "stock_each": "各{n}件",
        "stock_in": "有货",
        "stock_low": "库存紧张",
        "sold_out": "已售罄",
        "all_sold_out": "{name}已全部售罄。",
        "stock_line": "{name}：{groups}。",
        "no_color": "{name}没有{color}。",
        "no_size": "{name}没有这个尺码。",
        "colors_available": "有货的颜色：{colors}。",
        "sizes_available": "有货的尺码：{sizes}。",
        "colors": "{name}的颜色：{colors}。",
        "sizes": "{name}的尺码：{sizes}。",
        "one_size": "{name}是均码。",
        "no_sizes": "{name}没有尺码选项。",
        "spec": "{name}的规格：{sizes}。",
        "material": "{name}的材质：{material}。",
        "detail": "{name}：{text}",
        "summary_stock_in": "有货",
        "summary_sold_out": "已售罄",
        "summary": "{name}，{price}{options}{stock}。",
        "summary_price": "{price}，",
        "partial": "其他的我这里没有信息，可以发起一对一咨询。",
        "summary_colors": "颜色：{colors}，",
        "summary_sizes": "尺码：{sizes}，",
        "lineup": "直播间商品：{items}。",
        "lineup_item": "{pos}号{name} {price}",
        "catalog": "店里的商品：{items}。",
        "catalog_item": "{name} {price}",
        "ship_yes": "可以寄到{region}。",
        "ship_no": "配送范围里没有{region}。",
        "handoff_low_confidence": "这个问题我不太确定，已转给主播，您也可以发起一对一咨询。",
        "handoff_no_match": "店里没有找到您说的商品，已转给主播，您也可以发起一对一咨询。",
        "handoff_no_data": "这个信息我这里没有，已转给主播，您也可以发起一对一咨询。",
        "handoff_no_policy": "这个问题需要客服解答，已转给主播，您也可以发起一对一咨询。",
        "handoff_ambiguous": "请问您问的是哪一款商品？也可以发起一对一咨询。",
        "handoff_order": "订单相关的问题需要客服帮您查询，请发起一对一咨询。",
        "handoff_complaint": "非常抱歉给您带来不好的体验，已通知客服，请发起一对一咨询，我们会尽快处理。",
        "handoff_human_requested": "好的，已通知客服，请发起一对一咨询。",
        "handoff_size_advice": "尺码建议需要客服根据您的情况推荐，请发起一对一咨询。",
        "handoff_host_question": "这个问题留给主播回答哦。",
        "handoff_guard": "这个问题我不太确定，已转给主播，您也可以发起一对一咨询。",
        "one_size_label": "均码",
    },
    "en": {
        "sep": ", ",
        "list": ", ",
        "end": ".",
        "join": " ",
        "price": "{name}: {price}.",
        "flash": "{name}: flash sale {flash} (was {price}), {units} left{ends}.",
        "flash_ends": ", ends {time}",
        "flash_gone": "The flash sale on {name} is sold out; it is {price}.",
        "no_flash": "No flash sale on {name} right now; it is {price}.",
        "stock_count": "{n} left",
        "stock_each": "{n} left each",
        "stock_in": "in stock",
        "stock_low": "only a few left",
        "sold_out": "sold out",
        "all_sold_out": "{name} is sold out.",
        "stock_line": "{name}: {groups}.",
        "no_color": "{name} doesn't come in {color}.",
        "no_size": "{name} doesn't come in that size.",
        "colors_available": "In stock: {colors}.",
        "sizes_available": "Sizes in stock: {sizes}.",
        "colors": "{name} comes in {colors}.",
        "sizes": "{name} sizes: {sizes}.",
        "one_size": "{name} is one size.",
        "no_sizes": "{name} has no size options.",
        "spec": "{name}: {sizes}.",
        "material": "{name} is made of {material}.",
        "detail": "{name}: {text}",
        "summary_stock_in": "in stock",
        "summary_sold_out": "sold out",
        "summary": "{name}: {price}{options}{stock}.",
        "summary_price": "{price}, ",
        "partial": "For the rest I don't have the information; you can start a one-to-one consult.",
        "summary_colors": "colours {colors}, ",
        "summary_sizes": "sizes {sizes}, ",
        "lineup": "In this live: {items}.",
        "lineup_item": "#{pos} {name} {price}",
        "catalog": "In our shop: {items}.",
        "catalog_item": "{name} {price}",
        "ship_yes": "Yes, we ship to {region}.",
        "ship_no": "{region} is not on our shipping list.",
        "handoff_low_confidence": "I'm not sure about that one, so I've passed it to the host. You can also start a one-to-one consult.",
        "handoff_no_match": "I couldn't find that in our shop, so I've passed it to the host. You can also start a one-to-one consult.",
        "handoff_no_data": "I don't have that information, so I've passed it to the host. You can also start a one-to-one consult.",
        "handoff_no_policy": "Our staff will answer that one: I've passed it to the host. You can also start a one-to-one consult.",
        "handoff_ambiguous": "Which product do you mean? You can also start a one-to-one consult.",
        "handoff_order": "For questions about your order, please start a one-to-one consult so our staff can look it up.",
        "handoff_complaint": "I'm sorry about that. I've flagged it for our staff; please start a one-to-one consult and we'll sort it out.",
        "handoff_human_requested": "Sure, please start a one-to-one consult and a member of staff will join you.",
        "handoff_size_advice": "Our staff can recommend a size for you: please start a one-to-one consult.",
        "handoff_host_question": "I'll leave that one for the host to answer.",
        "handoff_guard": "I'm not sure about that one, so I've passed it to the host. You can also start a one-to-one consult.",
        "one_size_label": "one size",
    },
}


def handoff_text(reason: str, lang: Lang) -> str:
    table = T[lang]
    return table.get(f"handoff_{reason}", table["handoff_low_confidence"])


# --- the composer --------------------------------------------------------------------------
class Composer:
    """Writes answer sections and records every value it writes as a Fact."""

    def __init__(self, lang: Lang, *, show_stock_counts: bool = True, low_stock: int = 5) -> None:
        self.lang = lang
        self.t = T[lang]
        self.show_stock_counts = show_stock_counts
        self.low_stock = low_stock
        self.facts: list[Fact] = []
        self.product_ids: list[str] = []
        self.policy_ids: list[str] = []
        self.sections: list[str] = []

    # values -------------------------------------------------------------------------------
    def fact(self, kind: str, value: str, **where: str | None) -> str:
        self.facts.append(Fact(kind=kind, value=value, **where))  # type: ignore[arg-type]
        return value

    def cite(self, product: ProductDoc) -> None:
        if product.id not in self.product_ids:
            self.product_ids.append(product.id)

    def name(self, p: ProductDoc) -> str:
        self.cite(p)
        label = p.name_zh if self.lang == "zh" and p.name_zh else p.name
        return self.fact("name", label, product_id=p.id)

    def price(self, p: ProductDoc) -> str:
        low, high = p.price_range
        if low == high:
            return self.fact("price", format_money(low, p.currency), product_id=p.id)
        # Variants priced differently: state the range, never one variant's price as the
        # product's.
        span = f"{format_money(low, p.currency)}–{format_money(high, p.currency)}"
        return self.fact("price", span, product_id=p.id)

    def color(self, p: ProductDoc, v: VariantDoc) -> str:
        label = v.color_zh if self.lang == "zh" and v.color_zh else (v.color or v.color_zh)
        return self.fact("color", label, product_id=p.id, variant_id=v.id)

    def size(self, p: ProductDoc, size: str) -> str:
        if normalize(size) in ("one size", "均码", "free size"):
            return self.fact("size", self.t["one_size_label"], product_id=p.id)
        return self.fact("size", size, product_id=p.id)

    def count(self, p: ProductDoc, n: int, variant_id: str | None = None) -> str:
        return self.fact("stock", str(n), product_id=p.id, variant_id=variant_id)

    def join(self, items: Sequence[str]) -> str:
        return self.t["list"].join(items)

    def add(self, text: str) -> None:
        if text:
            self.sections.append(text)

    def text(self) -> str:
        return self.t["join"].join(self.sections)

    # stock --------------------------------------------------------------------------------
    def stock_phrase(self, p: ProductDoc, variants: Sequence[VariantDoc], *, each: bool) -> str:
        stocks = {v.stock for v in variants}
        if stocks == {0}:
            return self.t["sold_out"]
        if not self.show_stock_counts:
            low = max(stocks) <= self.low_stock
            return self.t["stock_low"] if low else self.t["stock_in"]
        (n,) = stocks if len(stocks) == 1 else (None,)
        if n is not None:
            vid = variants[0].id if len(variants) == 1 else None
            key = "stock_each" if each and len(variants) > 1 else "stock_count"
            return self.t[key].format(n=self.count(p, n, vid))
        raise ValueError("stock_phrase needs variants with one stock level")

    def stock_groups(self, p: ProductDoc, variants: Sequence[VariantDoc]) -> str:
        """'白色（S/M/L/XL）各40件，红色已售罄' — grouped by colour, sizes condensed."""
        groups: dict[str, list[VariantDoc]] = {}
        for v in variants:
            groups.setdefault(v.color or v.color_zh, []).append(v)
        parts = []
        for vs in groups.values():
            color = self.color(p, vs[0]) if (vs[0].color or vs[0].color_zh) else ""
            sizes = [v.size for v in vs if v.size]
            stocks = {v.stock for v in vs}
            if len(stocks) == 1:
                if len(sizes) > 1 and stocks != {0}:
                    label = "/".join(self.size(p, s) for s in sizes)
                    head = f"{color}（{label}）" if self.lang == "zh" else f"{color} ({label}):"
                elif len(sizes) == 1 and len({x.size for x in p.variants}) > 1:
                    size = self.size(p, sizes[0])
                    head = (
                        f"{color}{size}码"
                        if self.lang == "zh" and color
                        else f"{color} {size}".strip()
                    )
                    head = head if self.lang == "zh" else head + ":"
                else:
                    head = color if self.lang == "zh" else (color + ":" if color else "")
                phrase = self.stock_phrase(p, vs, each=True)
                parts.append(f"{head}{phrase}" if self.lang == "zh" else f"{head} {phrase}".strip())
            else:
                inner = []
                for v in vs:
                    size = self.size(p, v.size) if v.size else ""
                    phrase = self.stock_phrase(p, [v], each=False)
                    inner.append(f"{size} {phrase}".strip())
                sep = "，" if self.lang == "zh" else ", "
                head = f"{color}：" if self.lang == "zh" else f"{color}: "
                parts.append(head + sep.join(inner) if color else sep.join(inner))
        return ("；" if self.lang == "zh" else "; ").join(parts)

    # sections -----------------------------------------------------------------------------
    def section_price(
        self, p: ProductDoc, sale: FlashSale | None, tz: str, *, asked_flash: bool
    ) -> None:
        name = self.name(p)
        price = self.price(p)
        if sale is None:
            self.add(self.t["no_flash" if asked_flash else "price"].format(name=name, price=price))
            return
        if sale.units_left <= 0:
            self.add(self.t["flash_gone"].format(name=name, price=price))
            return
        flash = self.fact("flash_price", format_money(sale.price, p.currency), product_id=p.id)
        units = self.fact("stock", str(sale.units_left), product_id=p.id)
        ends = ""
        if sale.ends_at is not None:
            ends = self.t["flash_ends"].format(
                time=self.fact("time", format_time(sale.ends_at, tz), product_id=p.id)
            )
        self.add(
            self.t["flash"].format(name=name, flash=flash, price=price, units=units, ends=ends)
        )

    def section_stock(
        self,
        p: ProductDoc,
        colors: Sequence[ColorSlot],
        sizes: Sequence[str],
    ) -> bool:
        """Stock of the variants the question names (all of them when it names none)."""
        if not p.variants:
            return False
        name = self.name(p)
        selected = list(p.variants)
        if colors:
            by_color = match_colors(p.variants, colors)
            if not by_color:
                asked = colors[0].phrase
                self.add(
                    self.t["no_color"].format(
                        name=name, color=asked if not re.search(r"\d", asked) else ""
                    )
                )
                self._alternatives(p, p.variants, by="color")
                return True
            selected = by_color
        if sizes:
            by_size = match_sizes(selected, sizes)
            if not by_size:
                self.add(self.t["no_size"].format(name=name))
                self._alternatives(p, selected, by="size")
                return True
            selected = by_size
        if not colors and not sizes and all(v.stock == 0 for v in selected):
            self.add(self.t["all_sold_out"].format(name=name))
            return True
        self.add(self.t["stock_line"].format(name=name, groups=self.stock_groups(p, selected)))
        if all(v.stock == 0 for v in selected) and (colors or sizes):
            others = [v for v in p.variants if v.stock > 0]
            if others:
                self._alternatives(
                    p,
                    others if not colors else p.variants,
                    by="color" if colors and not sizes else "size",
                )
        return True

    def _alternatives(self, p: ProductDoc, pool: Sequence[VariantDoc], *, by: str) -> None:
        in_stock = [v for v in pool if v.stock > 0]
        if by == "color":
            seen: dict[str, VariantDoc] = {}
            for v in in_stock:
                if v.color or v.color_zh:
                    seen.setdefault(v.color or v.color_zh, v)
            if seen:
                colors = self.join([self.color(p, v) for v in seen.values()])
                self.add(self.t["colors_available"].format(colors=colors))
        else:
            sizes = list(dict.fromkeys(v.size for v in in_stock if v.size))
            if sizes:
                self.add(
                    self.t["sizes_available"].format(
                        sizes=self.join([self.size(p, s) for s in sizes])
                    )
                )

    def section_colors(self, p: ProductDoc) -> bool:
        groups: dict[str, list[VariantDoc]] = {}
        for v in p.variants:
            if v.color or v.color_zh:
                groups.setdefault(v.color or v.color_zh, []).append(v)
        if not groups:
            return False
        items = []
        for vs in groups.values():
            label = self.color(p, vs[0])
            if all(v.stock == 0 for v in vs):
                label += (
                    f"（{self.t['sold_out']}）" if self.lang == "zh" else f" ({self.t['sold_out']})"
                )
            items.append(label)
        self.add(self.t["colors"].format(name=self.name(p), colors=self.join(items)))
        return True

    def section_sizes(self, p: ProductDoc) -> bool:
        sizes = list(dict.fromkeys(v.size for v in p.variants))
        name = self.name(p)
        real = [s for s in sizes if s]
        if not real:
            self.add(self.t["no_sizes"].format(name=name))
            return True
        if len(real) == 1 and normalize(real[0]) in ("one size", "均码", "free size"):
            self.add(self.t["one_size"].format(name=name))
            return True
        if len(real) == 1:
            self.add(self.t["spec"].format(name=name, sizes=self.size(p, real[0])))
            return True
        items = []
        for s in real:
            label = self.size(p, s)
            if all(v.stock == 0 for v in p.variants if v.size == s):
                label += (
                    f"（{self.t['sold_out']}）" if self.lang == "zh" else f" ({self.t['sold_out']})"
                )
            items.append(label)
        self.add(self.t["sizes"].format(name=name, sizes=self.join(items)))
        return True

    def section_material(self, p: ProductDoc) -> bool:
        material = p.material_zh if self.lang == "zh" and p.material_zh else p.material
        material = material or p.material_zh
        if not material.strip():
            return False
        value = self.fact("material", material, product_id=p.id)
        self.add(self.t["material"].format(name=self.name(p), material=value))
        return True

    def section_detail(self, p: ProductDoc, sentences: Sequence[str]) -> bool:
        if not sentences:
            return False
        text = self.fact(
            "text",
            "".join(sentences) if self.lang == "zh" else " ".join(sentences),
            product_id=p.id,
        )
        if not re.search(r"[。.!！?？]$", text):
            text += self.t["end"]
        self.add(self.t["detail"].format(name=self.name(p), text=text))
        return True

    def section_summary(self, p: ProductDoc, sale: FlashSale | None, tz: str) -> None:
        colors: dict[str, VariantDoc] = {}
        for v in p.variants:
            if v.color or v.color_zh:
                colors.setdefault(v.color or v.color_zh, v)
        sizes = [s for s in dict.fromkeys(v.size for v in p.variants) if s]
        options = ""
        if colors:
            options += self.t["summary_colors"].format(
                colors=self.join([self.color(p, v) for v in colors.values()])
            )
        if len(sizes) > 1:
            options += self.t["summary_sizes"].format(
                sizes=self.join([self.size(p, s) for s in sizes])
            )
        stock = self.t["summary_stock_in" if p.total_stock > 0 else "summary_sold_out"]
        if sale is not None and sale.units_left > 0:
            # The flash-sale line already states both prices.
            self.section_price(p, sale, tz, asked_flash=True)
            price = ""
        else:
            price = self.t["summary_price"].format(price=self.price(p))
        self.add(
            self.t["summary"].format(name=self.name(p), price=price, options=options, stock=stock)
        )

    def section_lineup(self, products: Sequence[tuple[int, ProductDoc]]) -> None:
        items = [
            self.t["lineup_item"].format(
                pos=self.fact("position", str(pos), product_id=p.id),
                name=self.name(p),
                price=self.price(p),
            )
            for pos, p in products
        ]
        self.add(self.t["lineup"].format(items=self.join(items)))

    def section_catalog(self, products: Sequence[ProductDoc]) -> None:
        items = [
            self.t["catalog_item"].format(name=self.name(p), price=self.price(p)) for p in products
        ]
        self.add(self.t["catalog"].format(items=self.join(items)))

    def section_policy(self, policy: PolicyDoc, sentences: Sequence[str], prefix: str = "") -> None:
        if policy.id not in self.policy_ids:
            self.policy_ids.append(policy.id)
        joined = ("" if self.lang == "zh" else " ").join(sentences)
        self.add(prefix + self.fact("policy", joined, policy_id=policy.id))

    def region(self, key: str) -> str:
        region = lexicon.REGION_BY_KEY[key]
        return self.fact("region", region.zh if self.lang == "zh" else region.en)


# --- variant matching ----------------------------------------------------------------------
@lru_cache(maxsize=8192)
def _variant_colors(color: str, color_zh: str) -> tuple[str | None, frozenset[str], frozenset[str]]:
    """(primary family, families, exact names) of a variant colour."""
    en, zh = normalize(color, limit=100), normalize(color_zh, limit=100)
    primary, families = lexicon.color_families(en)
    primary_zh, families_zh = lexicon.color_families(zh)
    names = frozenset(n for n in (en, zh) if n)
    return primary or primary_zh, families | families_zh, names


def match_colors(variants: Sequence[VariantDoc], slots: Sequence[ColorSlot]) -> list[VariantDoc]:
    """Variants of the colour asked for: exact name first, then colour family
    (蓝色 finds navy; navy does not find plain blue)."""
    for slot in slots:
        exact = [v for v in variants if slot.phrase in _variant_colors(v.color, v.color_zh)[2]]
        if exact:
            return exact
    for slot in slots:
        if slot.family is None:
            continue
        found = [v for v in variants if slot.family in _variant_colors(v.color, v.color_zh)[1]]
        if found:
            return found
    return []


def canonical_size(size: str) -> str:
    s = normalize(size, limit=50).upper().replace(" ", "")
    s = lexicon.SIZE_ALIASES.get(s, s)
    if s in ("ONESIZE", "均码", "FREESIZE"):
        return "ONE SIZE"
    return s


def match_sizes(variants: Sequence[VariantDoc], sizes: Sequence[str]) -> list[VariantDoc]:
    wanted = {canonical_size(s) for s in sizes}
    out = []
    for v in variants:
        mine = canonical_size(v.size)
        lead = re.match(r"\d+", mine)
        if mine in wanted or (lead and lead.group(0) in wanted):
            out.append(v)
    return out


def numeric_sizes(p: ProductDoc) -> set[str]:
    out = set()
    for v in p.variants:
        lead = re.match(r"\d+", canonical_size(v.size))
        if lead:
            out.add(lead.group(0))
    return out


# --- sentences -----------------------------------------------------------------------------
_SENTENCE_RE = re.compile(r"[^。！？；!?]+[。！？；!?]?|[^。！？；!?]+$")


def sentences(text: str) -> list[str]:
    """Split into sentences without breaking "3.5 g" (a dot is a boundary only before
    whitespace and a capital letter or the end)."""
    out: list[str] = []
    for chunk in _SENTENCE_RE.findall(text):
        out.extend(s for s in re.split(r"(?<=\.)\s+(?=[A-Z])", chunk.strip()) if s.strip())
    return [s.strip() for s in out if s.strip()]
