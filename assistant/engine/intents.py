"""Question parsing: what is asked (intents), about what (slots: colour, size, material,
region, line-up position, product nouns), and what words are left to identify a product.

Patterns run on `tokenize.normalize`d text. Every recognised span is blanked out of the
"rest" of the question, so what remains is the product-identifying part ("牛仔裤" in
"牛仔裤M码还有吗"), which retrieval then matches against product titles.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from . import lexicon
from .lexicon import STOP_CHARS, STOP_WORDS
from .tokenize import MAX_QUERY_TOKENS, cjk_runs, fold_width, tokens, units

# --- intents that go straight to a human ---------------------------------------------------
ORDER_RE = re.compile(
    r"我的(订单|单子|快递|包裹|货|退款|钱|东西)|我(买|拍|下单|订|付款)的|我(已经|刚刚?|昨天|前天)?(下单|付款|付了款|拍了|买了|下了单)"
    r"|订单|单号|运单|物流(信息|状态|单号|到哪|怎么)|到哪(了|里了)|怎么还没(到|发|收)|还没(收到|到|发货|发)|没收到|催(一下)?发货"
    r"|我(要|想)(退|换)货|申请(退|换)货|发错|(got|received|sent me) the wrong|wrong (item|size|colou?r) (was )?(sent|delivered|arrived)"
    r"|i (want|need|would like) to (return|exchange)|取消订单|改(一下)?地址|修改地址|退款(进度|到账|还没)|(快递|物流)(一直|还)?(不|没有?)(更新|动)|卡住了"
    r"|\bmy (order|package|parcel|delivery|refund|shipment|purchase|money)"
    r"|\border\s*(number|no\b|#|id|status)|\border\s*#?\s*\d+|tracking|track (my|the|an?) (order|package|parcel)"
    r"|where(\s+is|'s)\s+my|\bi (ordered|bought|paid|purchased|placed)|(haven'?t|didn'?t|not yet|never) (received|receive|got|get|arrived?)"
    r"|cancel (my|the|an?) order|change (my )?(shipping )?address"
)
COMPLAINT_RE = re.compile(
    r"投诉|差评|骗子|骗人|诈骗|假货|垃圾|太差|很差|真差|好差|质量(太|很|好|真)?差|质量问题|(坏|破|烂)了|破损|掉色了|起球了"
    r"|退钱|气死|坑人|坑爹|被坑|不满意|失望|态度(太|很|真)?差|恶心|欺骗|虚假|举报|维权|黑心|是(坏|破|烂)的|破洞|有(个)?洞"
    r"|\bscam|\bfraud|\bfake\b|terrible|awful|horrible|\bworst\b|\bbroken\b|damaged|defective|complain"
    r"|disappointed|disappointing|\bangry\b|rip ?off|garbage|\btrash\b|unacceptable|ridiculous|\bliars?\b"
    r"|refund me|report you|(poor|bad|low|cheap) quality|waste of (money|time)|\bholes?\b in|\btorn\b|\bripped\b|stained"
)
HUMAN_RE = re.compile(
    r"人工|真人|客服|联系商家|联系卖家|私聊|私信|找主播|店长|售后"
    r"|\bhuman\b|real person|live agent|\bagent\b|customer (service|support)|speak (to|with)"
    r"|talk (to|with) (a |an |the )?(someone|somebody|person|staff|support|seller|manager)"
    r"|representative|\bstaff\b|contact (you|support|the seller|seller)"
)
SIZE_ADVICE_RE = re.compile(
    r"穿(什么|啥|哪个|几|多大)码?|适合(什么|啥|哪个|几)码|选(什么|啥|哪个|几)码|(什么|啥|哪个)码(合适|好)|拿(什么|啥|几)码"
    r"|身高|体重|\d+\s*(斤|公斤)|偏大|偏小|码(数)?(准|正)|尺码表|腰围|胸围"
    r"|what size (should|would|will|do|to) (i|you)|which size (should|would|will|do|fits|to)|size (for me|chart|guide)"
    r"|true to size|runs? (small|large|big)|\bfit me\b|\bi'?m\s+\d|\bi am\s+\d|\d+\s*(kg|lbs?|pounds)\b"
    r"|\d\s*'\s*\d|my (height|weight|waist|chest|size)"
)
# Questions about the host as a person: the host answers those, not the catalog.
HOST_RE = re.compile(
    r"主播(多高|多重|多大|几岁|身高|体重|叫什么|哪里人|结婚|男朋友|女朋友|单身)"
    r"|how (tall|old) is (the )?host|host'?s (height|age|name)|is the host (single|married)"
)
NO_DATA_RE = re.compile(
    r"批发|团购|多买|买[0-9一二两三]件|买[0-9一二两三]送|两件(优惠|便宜)|补货|什么时候(有|到)货|还会(有|上|补)|预售|下次直播|几点(开播|直播)|会员|积分|发票|优惠券|折扣码|券"
    r"|restock|back in stock|pre-?order|next (live|stream|show)|membership|loyalty|points|invoice"
    r"|coupon|promo ?code|voucher|discount code|wholesale|\bbulk\b|discount for (\d|two|three)|buy (\d|two|three)"
)

# --- policy intents ------------------------------------------------------------------------
SHIPPING_RE = re.compile(
    r"发货|发什么快递|快递|运费|邮费|包邮|寄到|寄往|寄去|能寄|可以寄|送到|配送|几天到|多久到|多久能到|几天能到|多久发"
    r"|海外|国际|邮寄|直邮|运输|物流|发到|送货|到货|寄吗|发吗"
    r"|\bship|deliver|postage|courier|\barriv|international|worldwide"
    r"|how long (does|will|would) (it |shipping |delivery |the order |an order )?(take|arrive|get here)|how long (to|until|till) (ship|arrive|deliver|get)"
    r"|overseas|send (it |them )?to|dispatch|freight"
)
RETURNS_RE = re.compile(
    r"退货|退换|换货|退款|无理由|可以退|能退|能不能退|可不可以退|退吗|包退|包换|可以换|能换|换吗|退回|退掉"
    r"|\breturn|refund|exchange|money back|send (it |them )?back"
)
PAYMENT_RE = re.compile(
    r"付款|支付|怎么付|信用卡|银行卡|花呗|微信|支付宝|货到付款|分期|刷卡|现金"
    r"|\bpay\b|\bpaying\b|payment|credit card|debit card|\bcards?\b|\bvisa\b|mastercard|\bamex\b|paypal"
    r"|apple pay|google pay|cash on delivery|\bcod\b|installment"
)

# --- product intents ------------------------------------------------------------------------
FLASH_RE = re.compile(
    r"秒杀|优惠|折扣|打折|打几折|活动价|活动|特价|限时|便宜点|便宜一点|减价|降价|福利价|福利|满减|抢购|直播价|到手价"
    r"|\bflash|\bdeals?\b|discount|on sale|sale price|\bpromo|promotion|special price|any offers?"
)
PRICE_RE = re.compile(
    r"多少钱|多少米|多钱|价格|价钱|价位|几块|几元|几刀|啥价|什么价|怎么卖|贵不贵|贵吗|便宜吗|售价|单价|报价|多少一件|几多钱"
    r"|哪个(更|比较)?(便宜|贵)|(便宜|贵)(一些|一点)?的|便宜|贵"
    r"|how much|\bprices?\b|pricing|\bcosts?\b|costing|expensive|\bcheap(er|est)?\b|\busd\b|\bdollars?\b|\$"
)
COLORS_LIST_RE = re.compile(
    r"什么颜色|啥颜色|哪些颜色|哪种颜色|几种颜色|几个颜色|几个色|几色|哪几(个|种)颜色|有哪些色|其他颜色|别的颜色"
    r"|颜色有?哪些|颜色有?几|还有(什么|啥|别的|其他)颜?色|什么色|色号|配色"
    r"|what colou?rs?|which colou?rs?|colou?r options|other colou?rs?|colou?rs? (do|does|are|is)|any colou?rs?"
)
COLORS_WORD_RE = re.compile(r"颜色|colou?rs?|shades?")
SIZES_LIST_RE = re.compile(
    r"什么码|啥码|哪些码|几个码|什么尺码|哪些尺码|尺码有?哪些|有哪些尺码|尺码有|有什么码|码数有?哪些|几种尺码|哪几个码"
    r"|其他尺码|别的码|还有(什么|啥|别的|其他)码|什么号|哪些号|哪几个号"
    r"|what sizes?|which sizes?|size options|size range|sizes? (do|does|are|is|come)|other sizes?|any sizes?"
)
SIZES_WORD_RE = re.compile(r"尺码|码数|码子|号码|\bsizes?\b")
MATERIAL_RE = re.compile(
    r"材质|面料|料子|什么料|成分|布料|材料|什么做的|啥做的|质地|含棉|什么皮|什么面"
    r"|\bmaterials?\b|\bfabric|made of|made from|what.{0,20}made|composition|\bmade out of"
)
STOCK_STRONG_RE = re.compile(
    r"有货|现货|库存|剩多少|剩几|还剩|剩下|售罄|卖完|卖光|断货|缺货|没货|抢光|几件|多少件|还有多少|还有几|能买|可以买|能拍|可以拍|拍得到|买得到|能下单"
    r"|in stock|\bstock\b|sold out|any left|\bleft\b|remaining|can i (buy|get|order)"
    r"|how many(?!\s*(ml|g|grams?|cm|mm|inch|inches|litres?|liters?|oz|hours?)\b)"
)
STOCK_WEAK_RE = re.compile(
    r"有吗|有没有|有木有|还有|有的吗|有不|有嘛|有么|有$"
    r"|available|availability|do you (have|got|carry)|have you got|got any|is there|are there|still have|\bcome in\b|comes in"
)
DETAILS_RE = re.compile(
    r"尺寸|多大|多长|多宽|多高|多重|重量|多少克|容量|多少毫升|几毫升|规格|参数|防水|机洗|水洗|干洗|手洗|怎么洗|洗碗机|能洗|保养"
    r"|详情|细节|厚不厚|厚吗|薄吗|保暖|透气|能放|装得下|放得下|几寸|多少寸|口袋|充电|续航|肤质|敏感肌|油皮|干皮|持久|防晒|版型|宽松|修身|长度|裤长|衣长|内长|毫升|几克|多久|多长时间"
    r"|dimensions?|how big|how large|how long is|how wide|how tall is|how heavy|\bweight|\bweigh\b|capacity|volume|\bsize of\b|\bspecs?\b"
    r"|specification|waterproof|water[ -]resistant|\bwash|dishwasher|dry clean|\bcare\b|\bdetails?\b|describe|description"
    r"|more info|\bthick|\bwarm\b|breathable|pockets?|fits? (a|an|my)\b|charg(e|ing)|battery|skin type|sensitive skin"
    r"|long[- ]?(lasting|wear)|\bfit\b|\blength\b|\bheavy\b|how long|how many (ml|g|grams?|cm|mm|inch|inches|hours?)\b|\bml\b"
)
SUMMARY_RE = re.compile(
    r"这是什么|这个是什么|是什么(东西|产品|商品)|什么东西|啥东西|这是啥|介绍一下|介绍下|讲一下|说一下"
    r"|what is (this|it|that)\b|what's (this|that|it)\b|tell me (more )?about|more about|info on"
    r"|what('s| is) (pinned|on screen|being shown)|现在(讲|卖)的是什么|正在讲(什么|啥)"
)
LINEUP_RE = re.compile(
    r"在卖什么|卖什么|卖啥|有什么(商品|产品|东西|宝贝|好物)|今天(有|卖|上)(什么|啥)|有哪些(商品|产品|宝贝|东西)|还有什么(商品|宝贝|东西|产品)"
    r"|上了什么|上什么链接|都有什么|(别的|其他|其它)(商品|产品|宝贝|东西|链接)|都有啥|(今天|直播间?|现在)(都|还)?有(啥|什么)(东西|商品|宝贝)?[吗呢?]*$"
    r"|what (are|do) you (sell|selling|have)|what('s| is) (on sale|on today|for sale)|what products|what items|\bline ?up\b"
    r"|what else"
)

# Keywords that are removed from the question before product matching, whatever intent won.
_INTENT_WORDS_RE = re.compile(
    "|".join(
        p.pattern
        for p in (
            PRICE_RE,
            FLASH_RE,
            COLORS_LIST_RE,
            COLORS_WORD_RE,
            SIZES_LIST_RE,
            SIZES_WORD_RE,
            MATERIAL_RE,
            STOCK_STRONG_RE,
            STOCK_WEAK_RE,
            SUMMARY_RE,
            LINEUP_RE,
            SHIPPING_RE,
            RETURNS_RE,
            PAYMENT_RE,
        )
    )
)

_CN_DIGITS = {
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
    "十": 10,
}
_LINEUP_POS_RE = re.compile(
    r"([0-9]{1,3}|[一二两三四五六七八九十])\s*号\s*(链接|宝贝|商品|产品|款)"
    r"|链接\s*([0-9]{1,3}|[一二三四五六七八九十])"
    r"|第\s*([0-9]{1,3}|[一二两三四五六七八九十])\s*(个|件|款|号)\s*(链接|宝贝|商品|产品)?"
    r"|(?<![a-z])(?:link|item|product|number|no\.?)\s*#?\s*([0-9]{1,3})\b|#\s*([0-9]{1,3})\b"
)
# "3号" alone: a line-up position or a shoe size; decided once the products are known.
_BARE_HAO_RE = re.compile(
    r"(?<![0-9])([0-9]{1,3}|[一二两三四五六七八九十])\s*号(?!链接|宝贝|商品|产品|款)"
)

_SIZE_WORD_RE = re.compile(lexicon.alternation(lexicon.SIZE_WORDS))
_NUMERIC_SIZE_RE = re.compile(
    r"(?<![0-9.])([0-9]{2,3})\s*(?:码|碼|size)|(?:size|尺码|码)\s*([0-9]{2,3})(?![0-9])"
)
_LETTER_SIZE_RE = re.compile(
    r"(?<![a-z0-9'’])(" + "|".join(lexicon.LETTER_SIZES) + r")(?![a-z0-9'’])", re.IGNORECASE
)
_LETTER_SIZE_CONTEXT_AFTER = re.compile(r"\s*(码|號|号|size|的|吗|呢|有|还|\?|？)", re.IGNORECASE)
_LETTER_SIZE_CONTEXT_BEFORE = re.compile(r"(size|尺码|码|in|an?|要|拿|有|穿)\s*$", re.IGNORECASE)
_BARE_NUMBER_RE = re.compile(r"(?<![0-9.$])([0-9]{2,3})(?![0-9.%])")
_CJK_CHAR = re.compile("[\u3400-\u9fff]")
# "纯棉吗" / "is it silk?" ask about material; "羊绒围巾" alone just names a product.
_YES_NO_RE = re.compile(r"[吗嘛么?]|是|\b(is|are|any)\b")


@dataclass(frozen=True)
class ColorSlot:
    phrase: str
    family: str | None  # None: a merchant colour name the lexicon does not know


@dataclass
class ParsedQuestion:
    norm: str
    intents: list[str] = field(default_factory=list)
    handoff: str | None = None
    colors: list[ColorSlot] = field(default_factory=list)
    sizes: list[str] = field(default_factory=list)
    materials: list[str] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)
    lineup_positions: list[int] = field(default_factory=list)
    bare_hao: list[int] = field(default_factory=list)
    bare_numbers: list[str] = field(default_factory=list)
    concepts: list[str] = field(default_factory=list)
    rest: str = ""
    rest_units: list[str] = field(default_factory=list)
    rest_tokens: list[str] = field(default_factory=list)
    detail_units: list[str] = field(default_factory=list)
    cjk_pairs: dict[str, set[str]] = field(default_factory=dict)
    explicit_colors_list: bool = False
    explicit_sizes_list: bool = False

    @property
    def subject_units(self) -> list[str]:
        """What identifies a product: product-noun concepts plus leftover content units."""
        return ["~" + c for c in self.concepts] + self.rest_units


class _Mask:
    """Blanks recognised spans out of the normalised question."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.keep = [True] * len(text)

    def free(self, start: int, end: int) -> bool:
        return all(self.keep[start:end])

    def blank(self, start: int, end: int) -> None:
        for i in range(start, end):
            self.keep[i] = False

    def rest(self) -> str:
        return "".join(ch if k else " " for ch, k in zip(self.text, self.keep, strict=True))


def _size_word(phrase: str) -> str:
    squashed = re.sub(r"[\s\-]+", " ", phrase)
    for word, size in lexicon.SIZE_WORDS.items():
        if (
            word == squashed
            or word.replace("-", " ") == squashed
            or word.replace(" ", "") == phrase
        ):
            return size
    return phrase.upper()


def _cn_int(token: str) -> int:
    return _CN_DIGITS[token] if token in _CN_DIGITS else int(token)


def _letter_size_ok(clean: str, m: re.Match[str]) -> bool:
    """A lone S/M/L is a size only with something around it that says so."""
    token = m.group(1)
    if len(token) > 1:
        return True
    before, after = clean[: m.start()], clean[m.end() :]
    if token.isupper() and token in "SML":
        # "I'M" is caught by the apostrophe guard; an uppercase lone letter is a size.
        return not re.search(r"[0-9]\s*$", before)
    if _CJK_CHAR.match(before[-1:] or " ") or _CJK_CHAR.match(after[:1] or " "):
        return True
    if _LETTER_SIZE_CONTEXT_AFTER.match(after) and not re.search(r"[0-9]\s*$", before):
        return bool(
            _LETTER_SIZE_CONTEXT_BEFORE.search(before) or re.match(r"\s*(码|號|号|size)", after)
        )
    return bool(re.search(r"(size|尺码|码)\s*$", before, re.IGNORECASE))


def parse(
    clean: str,
    norm: str,
    *,
    merchant_colors: Mapping[str, str | None] | None = None,
    merchant_colors_re: re.Pattern[str] | None = None,
) -> ParsedQuestion:
    """Parse one question (`clean` keeps case for size letters, `norm` is its normal form).

    `merchant_colors` maps the merchant's own colour names (normalised) to a lexicon family or
    None, so a colour the lexicon lacks ("sand") is still understood."""
    # Letter sizes are read case-kept but width-folded (ＸＬ is XL), aligned with `norm`.
    clean = " ".join(fold_width(clean).split())
    pq = ParsedQuestion(norm=norm)
    mask = _Mask(norm)

    for reason, pattern in (
        ("order", ORDER_RE),
        ("complaint", COMPLAINT_RE),
        ("human_requested", HUMAN_RE),
        ("size_advice", SIZE_ADVICE_RE),
        ("host_question", HOST_RE),
        ("no_data", NO_DATA_RE),
    ):
        if pattern.search(norm):
            pq.handoff = reason
            return pq

    def take(pattern: re.Pattern[str]) -> list[re.Match[str]]:
        """Slots: a span counts once, for the first pattern that claims it."""
        found = []
        for m in pattern.finditer(norm):
            if m.end() > m.start() and mask.free(m.start(), m.end()):
                mask.blank(m.start(), m.end())
                found.append(m)
        return found

    def blank_all(pattern: re.Pattern[str]) -> None:
        """Keywords: blanked wherever they match, even across a claimed slot."""
        for m in pattern.finditer(norm):
            end = m.end()
            # "deliver" matched inside "delivery": blank the whole word, not leave "y".
            while end < len(norm) and "a" <= norm[end] <= "z":
                end += 1
            mask.blank(m.start(), end)

    for m in take(_LINEUP_POS_RE):
        raw = next(g for g in (m.group(1), m.group(3), m.group(4), m.group(7), m.group(8)) if g)
        pq.lineup_positions.append(_cn_int(raw))
    for m in take(_BARE_HAO_RE):
        pq.bare_hao.append(_cn_int(m.group(1)))

    for m in take(lexicon.CONCEPT_RE):
        key = lexicon.concept_of(m.group(0))
        if key and key not in pq.concepts:
            pq.concepts.append(key)

    if merchant_colors_re is not None and merchant_colors:
        for m in take(merchant_colors_re):
            pq.colors.append(ColorSlot(m.group(0), merchant_colors.get(m.group(0))))
    for m in take(lexicon.COLOR_RE):
        pq.colors.append(ColorSlot(m.group(0), lexicon.color_family_of(m.group(0))))

    for m in take(_SIZE_WORD_RE):
        # "how large is it" asks about dimensions, not size L.
        if re.search(r"how\s*$", norm[: m.start()]):
            continue
        pq.sizes.append(_size_word(m.group(0)))
    for m in take(_NUMERIC_SIZE_RE):
        pq.sizes.append(m.group(1) or m.group(2))
    # Letter sizes are found in the case-kept text (same length as norm for everything
    # that survives NFKC + casefold, except rare ligatures, which we then skip).
    if len(clean) == len(norm):
        for m in _LETTER_SIZE_RE.finditer(clean):
            if mask.free(m.start(), m.end()) and _letter_size_ok(clean, m):
                mask.blank(m.start(), m.end())
                size = m.group(1).upper()
                pq.sizes.append(lexicon.SIZE_ALIASES.get(size, size))

    for m in take(lexicon.MATERIAL_RE):
        key = lexicon.material_of(m.group(0))
        if key and key not in pq.materials:
            pq.materials.append(key)
    for m in take(lexicon.REGION_RE):
        key = lexicon.region_of(m.group(0))
        if key and key not in pq.regions:
            pq.regions.append(key)

    pq.explicit_colors_list = bool(COLORS_LIST_RE.search(norm))
    pq.explicit_sizes_list = bool(SIZES_LIST_RE.search(norm))
    pq.intents = _intents(norm, pq)

    asked_details = " ".join(m.group(0) for m in DETAILS_RE.finditer(norm))
    blank_all(_INTENT_WORDS_RE)
    blank_all(DETAILS_RE)
    blank_all(lexicon.DEICTIC_RE)
    rest = mask.rest()
    # What the details words asked ("防水", "pockets"): matched against description sentences,
    # not against product titles.
    pq.detail_units = units(asked_details, stop_words=STOP_WORDS, stop_chars=STOP_CHARS)
    for run in cjk_runs(rest):
        for i, ch in enumerate(run):
            pairs = pq.cjk_pairs.setdefault(ch, set())
            if i > 0:
                pairs.add(run[i - 1 : i + 1])
            if i + 1 < len(run):
                pairs.add(run[i : i + 2])
    pq.bare_numbers = _BARE_NUMBER_RE.findall(rest)
    pq.rest = rest
    pq.rest_units = units(rest, stop_words=STOP_WORDS, stop_chars=STOP_CHARS)
    pq.rest_tokens = tokens(
        rest, stop_words=STOP_WORDS, stop_chars=STOP_CHARS, limit=MAX_QUERY_TOKENS
    )
    return pq


def _intents(norm: str, pq: ParsedQuestion) -> list[str]:
    found: list[str] = []
    if SHIPPING_RE.search(norm) or (pq.regions and not RETURNS_RE.search(norm)):
        found.append("shipping")
    if RETURNS_RE.search(norm):
        found.append("returns")
    if PAYMENT_RE.search(norm):
        found.append("payment")
    if FLASH_RE.search(norm):
        found.append("flash")
    if PRICE_RE.search(norm) and "flash" not in found:
        found.append("price")
    has_slot = bool(pq.colors or pq.sizes or pq.bare_hao)
    if pq.explicit_colors_list or (COLORS_WORD_RE.search(norm) and not pq.colors):
        found.append("colors")
    if pq.explicit_sizes_list or (
        SIZES_WORD_RE.search(norm) and not pq.sizes and not DETAILS_RE.search(norm)
    ):
        found.append("sizes")
    if MATERIAL_RE.search(norm):
        found.append("material")
    if LINEUP_RE.search(norm):
        found.append("lineup")  # before stock: "还有别的商品吗" asks what else is on
    if STOCK_STRONG_RE.search(norm) or (STOCK_WEAK_RE.search(norm) and (has_slot or not found)):
        found.append("stock")
    elif has_slot and not ({"colors", "sizes", "price", "flash"} & set(found)):
        # "红色M码?" names a variant and nothing else: the shopper wants to know if it exists.
        found.append("stock")
    if DETAILS_RE.search(norm) and not ({"shipping", "returns", "payment"} & set(found)):
        found.append("details")
    if pq.materials and not found and _YES_NO_RE.search(norm):
        found.append("material")  # "纯棉吗", "is it silk?"
    if SUMMARY_RE.search(norm) and not found:
        found.append("summary")
    return found
