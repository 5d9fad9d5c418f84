"""The shopping vocabulary the engine understands, in Chinese and English: colours, sizes,
materials, shipping regions, common product nouns, and the stop words of danmaku questions.

This is general e-commerce vocabulary, not a copy of any merchant's catalog: a merchant's own
colour names (from the snapshot) are recognised as well, see `index.py`. Entries are matched
against `tokenize.normalize`d text. An entry prefixed with "re:" is a raw regular expression
(used for single characters that are also parts of other words: 包 but not 包邮).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass


def _entry(term: str, plural: bool) -> str:
    if term.startswith("re:"):
        return term[3:]
    if term.isascii():
        body = re.escape(term).replace(r"\ ", r"[\s\-]?")
        suffix = "(?:s|es)?" if plural else ""
        return rf"(?<![a-z0-9]){body}{suffix}(?![a-z0-9])"
    return re.escape(term)


def _literal(term: str) -> str:
    """The text a term matches, for ordering: lookarounds of re: entries do not count."""
    return re.sub(r"\(\?<?[!=][^)]*\)", "", term.removeprefix("re:"))


def alternation(terms: Iterable[str], *, plural: bool = False) -> str:
    """One regex alternative per term, longest first so 宝石红 wins over 红."""
    ordered = sorted(set(terms), key=lambda t: (-len(_literal(t)), t))
    return "|".join(_entry(t, plural) for t in ordered)


# --- colours -----------------------------------------------------------------------------
# family -> (terms, broader families). A shade names its broader family so that a shopper
# asking for 蓝色 finds navy, while one asking for navy does not get plain blue.
COLOR_FAMILIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "red": (
        ("red", "scarlet", "crimson", "ruby", "红色", "大红", "正红", "酒红", "re:红(?!包|利)"),
        (),
    ),
    "white": (("white", "ivory", "off white", "白色", "米白", "re:(?<!明|空|坦)白(?!天|菜)"), ()),
    "black": (("black", "黑色", "re:黑(?!五|卡|名单)"), ()),
    "gray": (("gray", "grey", "charcoal", "灰色", "深灰", "浅灰", "灰"), ()),
    "navy": (("navy", "navy blue", "藏青色", "藏青", "藏蓝", "海军蓝", "深蓝"), ("blue",)),
    "blue": (("blue", "sky blue", "蓝色", "天蓝", "浅蓝", "re:蓝(?!牙)"), ()),
    "green": (("green", "olive", "sage", "绿色", "军绿", "绿"), ()),
    "yellow": (("yellow", "mustard", "黄色", "re:(?<!大)黄(?!金)"), ()),
    "orange": (("orange", "橙色", "橘色", "橙"), ()),
    "pink": (("pink", "粉色", "粉红", "re:粉(?!底|丝|饼|末)"), ()),
    "purple": (("purple", "violet", "lilac", "紫色", "紫"), ()),
    "brown": (("brown", "chocolate", "coffee", "tan", "棕色", "咖啡色", "褐色", "咖色", "棕"), ()),
    "camel": (("camel", "驼色", "re:驼(?!峰)"), ("brown",)),
    "beige": (("beige", "khaki", "米色", "卡其", "杏色"), ()),
    "champagne": (("champagne", "香槟色", "香槟"), ()),
    "gold": (("gold", "golden", "金色", "re:(?<!现|资|押|定|租|奖|基|美|退|订)金(?!额|融)"), ()),
    "silver": (("silver", "银色", "re:银(?!行|联)"), ()),
    "nude": (("nude", "裸色", "肉色"), ()),
    "coral": (("coral", "珊瑚色", "珊瑚"), ()),
}

COLOR_TERM_FAMILY: dict[str, str] = {}
for _family, (_terms, _) in COLOR_FAMILIES.items():
    for _t in _terms:
        COLOR_TERM_FAMILY[_t.removeprefix("re:")] = _family

COLOR_RE = re.compile(alternation(t for terms, _ in COLOR_FAMILIES.values() for t in terms))


def color_family_of(phrase: str) -> str | None:
    """The family of a colour phrase the COLOR_RE matched (re: entries are single chars)."""
    if phrase in COLOR_TERM_FAMILY:
        return COLOR_TERM_FAMILY[phrase]
    for family, (terms, _) in COLOR_FAMILIES.items():
        for term in terms:
            if term.startswith("re:") and re.fullmatch(term[3:], phrase):
                return family
            if term.replace(" ", "") == phrase.replace(" ", "").replace("-", ""):
                return family
    return None


def color_families(text: str) -> tuple[str | None, frozenset[str]]:
    """(primary family, all families incl. broader ones) of a variant colour text."""
    primary: str | None = None
    families: set[str] = set()
    for match in COLOR_RE.finditer(text):
        family = color_family_of(match.group(0))
        if family is None:
            continue
        primary = primary or family
        families.add(family)
        families.update(COLOR_FAMILIES[family][1])
    return primary, frozenset(families)


# --- sizes -------------------------------------------------------------------------------
LETTER_SIZES = ("xxxl", "xxl", "3xl", "2xl", "xl", "xs", "s", "m", "l")
# Words for sizes; 大码 is "large" in shop talk, 加大 one up.
SIZE_WORDS: dict[str, str] = {
    "小码": "S",
    "中码": "M",
    "大码": "L",
    "加大码": "XL",
    "特大码": "XXL",
    "加大": "XL",
    "均码": "ONE SIZE",
    "one size": "ONE SIZE",
    "free size": "ONE SIZE",
    "onesize": "ONE SIZE",
    "extra small": "XS",
    "extra large": "XL",
    "x large": "XL",
    "x-large": "XL",
    "xx large": "XXL",
    "small": "S",
    "medium": "M",
    "large": "L",
}
SIZE_ALIASES = {"2XL": "XXL", "3XL": "XXXL"}

# --- materials ---------------------------------------------------------------------------
MATERIALS: dict[str, tuple[str, ...]] = {
    "cotton": ("cotton", "纯棉", "全棉", "棉质", "re:(?<!加)棉(?!服|袄)"),
    "silk": ("silk", "mulberry silk", "真丝", "桑蚕丝", "蚕丝", "re:(?<!粉)丝(?!绒|袜)"),
    "leather": ("leather", "真皮", "皮革", "牛皮", "羊皮", "皮质", "头层"),
    "cashmere": ("cashmere", "羊绒", "山羊绒"),
    "wool": ("wool", "羊毛", "毛呢"),
    "polyester": ("polyester", "涤纶", "聚酯纤维", "聚酯"),
    "linen": ("linen", "亚麻"),
    "nylon": ("nylon", "尼龙"),
    "down": ("duck down", "goose down", "鸭绒", "鹅绒"),
    "steel": ("steel", "stainless steel", "不锈钢"),
    "ceramic": ("ceramic", "stoneware", "porcelain", "陶瓷", "炻瓷", "瓷"),
    "aluminum": ("aluminum", "aluminium", "铝合金", "铝"),
    "canvas": ("canvas", "帆布"),
    "rubber": ("rubber", "橡胶"),
    "elastane": ("elastane", "spandex", "氨纶"),
    "glass": ("glass", "玻璃"),
    "plastic": ("plastic", "塑料"),
    "metal": ("metal", "金属"),
    "wood": ("wood", "wooden", "木质", "实木"),
}
MATERIAL_TERM: dict[str, str] = {
    t.removeprefix("re:"): key for key, terms in MATERIALS.items() for t in terms
}
MATERIAL_RE = re.compile(alternation(t for terms in MATERIALS.values() for t in terms))


def material_of(phrase: str) -> str | None:
    if phrase in MATERIAL_TERM:
        return MATERIAL_TERM[phrase]
    for key, terms in MATERIALS.items():
        for term in terms:
            if term.startswith("re:") and re.fullmatch(term[3:], phrase):
                return key
            if term.replace(" ", "") == phrase.replace(" ", "").replace("-", ""):
                return key
    return None


# --- shipping regions --------------------------------------------------------------------
@dataclass(frozen=True)
class Region:
    key: str
    en: str
    zh: str
    terms: tuple[str, ...]


REGIONS: tuple[Region, ...] = (
    Region(
        "us",
        "the United States",
        "美国",
        ("united states", "usa", "u.s.a", "u.s", "us", "america", "美国"),
    ),
    Region("ca", "Canada", "加拿大", ("canada", "加拿大")),
    Region(
        "gb",
        "the United Kingdom",
        "英国",
        ("united kingdom", "uk", "u.k", "britain", "great britain", "england", "英国"),
    ),
    Region("sg", "Singapore", "新加坡", ("singapore", "新加坡")),
    Region("my", "Malaysia", "马来西亚", ("malaysia", "马来西亚", "大马")),
    Region("jp", "Japan", "日本", ("japan", "日本")),
    Region("kr", "South Korea", "韩国", ("korea", "south korea", "韩国")),
    Region("au", "Australia", "澳大利亚", ("australia", "澳大利亚", "澳洲")),
    Region("nz", "New Zealand", "新西兰", ("new zealand", "新西兰")),
    Region(
        "cn",
        "mainland China",
        "中国大陆",
        ("china", "mainland china", "mainland", "中国大陆", "中国", "大陆", "内地"),
    ),
    Region("hk", "Hong Kong", "香港", ("hong kong", "hongkong", "香港")),
    Region("tw", "Taiwan", "台湾", ("taiwan", "台湾")),
    Region("mo", "Macau", "澳门", ("macau", "macao", "澳门")),
    Region("de", "Germany", "德国", ("germany", "德国")),
    Region("fr", "France", "法国", ("france", "法国")),
    Region("it", "Italy", "意大利", ("italy", "意大利")),
    Region("es", "Spain", "西班牙", ("spain", "西班牙")),
    Region("in", "India", "印度", ("india", "re:印度(?!尼)")),
    Region("th", "Thailand", "泰国", ("thailand", "泰国")),
    Region("vn", "Vietnam", "越南", ("vietnam", "越南")),
    Region("ph", "the Philippines", "菲律宾", ("philippines", "菲律宾")),
    Region("id", "Indonesia", "印度尼西亚", ("indonesia", "印度尼西亚", "印尼")),
    Region("mx", "Mexico", "墨西哥", ("mexico", "墨西哥")),
    Region("br", "Brazil", "巴西", ("brazil", "巴西")),
    Region("ae", "the UAE", "阿联酋", ("uae", "united arab emirates", "dubai", "阿联酋", "迪拜")),
)
REGION_BY_KEY = {r.key: r for r in REGIONS}
_REGION_TERM = {t.removeprefix("re:"): r.key for r in REGIONS for t in r.terms}
REGION_RE = re.compile(alternation(t for r in REGIONS for t in r.terms))


def region_of(phrase: str) -> str | None:
    return _REGION_TERM.get(phrase) or _REGION_TERM.get(phrase.rstrip("."))


def regions_in(text: str) -> list[str]:
    """Region keys named in normalised text, in order of first mention, without repeats."""
    found: dict[str, None] = {}
    for match in REGION_RE.finditer(text):
        key = region_of(match.group(0))
        if key:
            found[key] = None
    return list(found)


# --- product nouns -----------------------------------------------------------------------
# concept -> (terms, broader concepts). Lets 裙子 find 连衣裙 and "t-shirt" find a "Tee".
PRODUCT_CONCEPTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "tee": (("tee", "t shirt", "tshirt", "t恤", "体恤", "短袖", "半袖"), ("tops",)),
    "hoodie": (("hoodie", "hoody", "sweatshirt", "hooded", "卫衣", "连帽衫", "帽衫"), ("tops",)),
    "tops": (("top", "tops", "上衣"), ()),
    "dress": (("dress", "gown", "连衣裙", "裙子", "长裙", "短裙", "裙"), ()),
    "jeans": (("jeans", "jean", "denim", "牛仔裤", "牛仔"), ("pants",)),
    "pants": (("pants", "trousers", "bottoms", "裤子", "长裤", "裤"), ()),
    "shoes": (
        ("shoe", "sneaker", "trainer", "鞋子", "球鞋", "运动鞋", "休闲鞋", "板鞋", "帆布鞋", "鞋"),
        (),
    ),
    "boots": (("boot", "靴子", "登山靴", "靴"), ("shoes",)),
    "bag": (
        (
            "bag",
            "tote",
            "handbag",
            "purse",
            "包包",
            "托特包",
            "手提包",
            "单肩包",
            "挎包",
            "re:(?<!红|钱|面|书|背)包(?!邮|装|括|含|退|换|子铺)",
        ),
        (),
    ),
    "backpack": (("backpack", "rucksack", "背包", "双肩包"), ("bag",)),
    "scarf": (("scarf", "scarves", "围巾", "丝巾"), ()),
    "lipstick": (("lipstick", "lip", "口红", "唇膏", "唇釉"), ("beauty",)),
    "cream": (
        ("face cream", "cream", "moisturizer", "moisturiser", "面霜", "乳霜", "保湿霜"),
        ("beauty",),
    ),
    "beauty": (("beauty", "makeup", "cosmetic", "skincare", "美妆", "化妆品", "护肤品"), ()),
    "watch": (
        (
            "watch",
            "wristwatch",
            "timepiece",
            "手表",
            "腕表",
            "re:(?<![代发图列报外])表(?![示面情达格演])",
        ),
        (),
    ),
    "mug": (("mug", "cup", "杯子", "马克杯", "咖啡杯", "水杯", "杯"), ()),
    "bottle": (("bottle", "flask", "保温杯", "水壶", "水瓶"), ()),
    "lamp": (("lamp", "desk lamp", "台灯", "灯"), ()),
    "jacket": (("jacket", "coat", "puffer", "parka", "外套", "夹克", "羽绒服", "大衣", "棉服"), ()),
    "accessory": (("accessory", "accessories", "配饰", "饰品"), ()),
    "home": (("homeware", "家居"), ()),
}
_CONCEPT_TERM = {
    t.removeprefix("re:"): key for key, (terms, _) in PRODUCT_CONCEPTS.items() for t in terms
}
CONCEPT_RE = re.compile(
    alternation((t for terms, _ in PRODUCT_CONCEPTS.values() for t in terms), plural=True)
)


def concept_of(phrase: str) -> str | None:
    for candidate in (phrase, phrase.rstrip("s"), phrase[:-2] if phrase.endswith("es") else ""):
        if candidate in _CONCEPT_TERM:
            return _CONCEPT_TERM[candidate]
    squashed = re.sub(r"[\s\-]", "", phrase)
    for key, (terms, _) in PRODUCT_CONCEPTS.items():
        for term in terms:
            if term.startswith("re:"):
                if re.fullmatch(term[3:], phrase):
                    return key
            elif term.replace(" ", "") in (squashed, squashed.rstrip("s")):
                return key
    return None


def concept_tokens(text: str) -> list[str]:
    """Concept tokens ("~dress", and broader ones) for product title text."""
    out: list[str] = []
    for match in CONCEPT_RE.finditer(text):
        key = concept_of(match.group(0))
        if key:
            out.append("~" + key)
            out.extend("~" + broader for broader in PRODUCT_CONCEPTS[key][1])
    return out


# --- stop words --------------------------------------------------------------------------
def _words(text: str) -> list[str]:
    return text.split()


STOP_WORDS = frozenset(
    _words(
        """
    a an the this that these those it its it's is are was were be been being am do does did
    done have has had having got get gets can could will would shall should may might must
    i me my mine we us our you your yours he she they them their his her what which who whom
    whose when where why how any anything some something there here in on at by for of to from
    with without about as into onto and or but if so than then too also just only very really
    please pls plz thanks thank thx hi hello hey hiya dear sis bro guys host anchor ok okay yes
    no not still now today one ones item items product products thing things stuff else other
    another more most much many left want wanted need looking look like tell know let see show
    available availability stock sold out price cost how much please come comes came offer
    sell selling sale sell good nice pretty cute lovely love wow omg lol haha you're i'm
    clothes clothing wear option options version type kind which one pick buy buying get
    s re ve ll d babe hun honey darling girl girls lady ladies sir madam friend friends
    everyone everybody bb btw also again yet maybe gonna wanna u r ur pls plz hii hiii
    pinned pin live stream streaming video shown showing holding wearing end ends ending
    start starts starting link
    """
    )
)

# Single characters that carry no product meaning in questions (particles, pronouns,
# measure words, question words). Bigrams made of them are still indexed.
STOP_CHARS = frozenset(
    "的了吗呢吧啊呀哦么嘛有是在我你您他她它们这那个件款还也都和与就要想请问下一能可以会没不"
    "多少几什哪怎样子儿给把被对哈喔嗯亲宝贝啥些吖呐噢哇耶滴嘞咯呗么嘛好看卖买拍链接号主播家"
    "今天现再又很太更最挺真的得地着过来去上到说看见让用做给跟从向为啦喽哟诶欸货只支双条套"
)

DEICTIC_RE = re.compile(
    alternation(
        [
            "这个",
            "这件",
            "这款",
            "这条",
            "这双",
            "这只",
            "这支",
            "这块",
            "这顶",
            "那个",
            "那件",
            "那款",
            "这一款",
            "宝贝",
            "宝宝",
            "亲",
            "主播",
            "小姐姐",
            "姐妹",
            "衣服",
            "东西",
            "商品",
            "产品",
            "身上",
            "手上",
            "现在",
            "正在",
            "在讲",
            "讲解",
        ]
    )
)
