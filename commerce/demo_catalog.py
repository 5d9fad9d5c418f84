"""The demo catalog `seed_demo` loads (and the assistant's evaluation set is written against).

Prices are integer minor units (USD cents). Each variant names its option values; stock is
per variant. Texts come in English and Simplified Chinese.
"""

from __future__ import annotations

from typing import Any

SIZES = ["S", "M", "L", "XL"]


def _grid(
    colors: list[tuple[str, str]], sizes: list[str], stock: dict[str, int] | int
) -> list[dict[str, Any]]:
    """Variants for every colour × size; `stock` per colour or one number for all."""
    variants = []
    for color, color_zh in colors:
        for size in sizes:
            units = stock if isinstance(stock, int) else stock.get(color, 0)
            variants.append({"color": color, "color_zh": color_zh, "size": size, "stock": units})
    return variants


DEMO_CATALOG: dict[str, list[dict[str, Any]]] = {
    "demo": [
        {
            "sku": "DM-TEE-01",
            "name": "Classic Cotton Tee",
            "name_zh": "经典纯棉T恤",
            "category": "tops",
            "material": "100% cotton",
            "material_zh": "100%纯棉",
            "price": 1900,
            "description": "Soft 180 g/m² combed cotton tee with a relaxed fit. Machine washable.",
            "description_zh": "180克精梳棉，宽松版型，可机洗。",
            "variants": _grid(
                [("white", "白色"), ("black", "黑色"), ("red", "红色")],
                SIZES,
                {"white": 40, "black": 30, "red": 0},
            ),
        },
        {
            "sku": "DM-HOOD-02",
            "name": "Fleece Hoodie",
            "name_zh": "加绒连帽卫衣",
            "category": "tops",
            "material": "80% cotton, 20% polyester",
            "material_zh": "80%棉 20%聚酯纤维",
            "price": 4900,
            "description": "Brushed fleece hoodie with kangaroo pocket. Warm for autumn and winter.",
            "description_zh": "磨毛加绒卫衣，袋鼠口袋，秋冬保暖。",
            "variants": _grid(
                [("grey", "灰色"), ("navy", "藏青色")], SIZES, {"grey": 12, "navy": 8}
            ),
        },
        {
            "sku": "DM-DRESS-03",
            "name": "Silk Midi Dress",
            "name_zh": "真丝中长连衣裙",
            "category": "dresses",
            "material": "100% mulberry silk",
            "material_zh": "100%桑蚕丝",
            "price": 12900,
            "description": "Bias-cut mulberry silk dress, midi length. Dry clean only.",
            "description_zh": "斜裁桑蚕丝连衣裙，中长款，仅限干洗。",
            "variants": _grid(
                [("red", "红色"), ("champagne", "香槟色")],
                ["S", "M", "L"],
                {"red": 5, "champagne": 3},
            ),
        },
        {
            "sku": "DM-JEAN-04",
            "name": "Straight Leg Jeans",
            "name_zh": "直筒牛仔裤",
            "category": "bottoms",
            "material": "98% cotton, 2% elastane",
            "material_zh": "98%棉 2%氨纶",
            "price": 5900,
            "description": "Mid-rise straight jeans in stretch denim, 30 inch inseam.",
            "description_zh": "中腰直筒弹力牛仔裤，内长30英寸。",
            "variants": _grid([("blue", "蓝色"), ("black", "黑色")], ["28", "30", "32", "34"], 10),
        },
        {
            "sku": "DM-SNEAK-05",
            "name": "Everyday Sneakers",
            "name_zh": "百搭休闲鞋",
            "category": "shoes",
            "material": "canvas upper, rubber sole",
            "material_zh": "帆布鞋面，橡胶鞋底",
            "price": 6900,
            "description": "Lightweight canvas sneakers with a cushioned insole.",
            "description_zh": "轻便帆布鞋，软垫鞋垫。",
            "variants": _grid([("white", "白色")], ["36", "37", "38", "39", "40", "41", "42"], 6),
        },
        {
            "sku": "DM-BAG-06",
            "name": "Leather Tote Bag",
            "name_zh": "真皮托特包",
            "category": "bags",
            "material": "full-grain leather",
            "material_zh": "头层牛皮",
            "price": 15900,
            "description": "Roomy full-grain leather tote that fits a 14 inch laptop.",
            "description_zh": "大容量头层牛皮托特包，可放14寸笔记本电脑。",
            "variants": _grid(
                [("brown", "棕色"), ("black", "黑色")], ["one size"], {"brown": 7, "black": 0}
            ),
        },
        {
            "sku": "DM-SCARF-07",
            "name": "Cashmere Scarf",
            "name_zh": "羊绒围巾",
            "category": "accessories",
            "material": "100% cashmere",
            "material_zh": "100%山羊绒",
            "price": 8900,
            "description": "Feather-light cashmere scarf, 180 × 30 cm.",
            "description_zh": "轻盈羊绒围巾，180×30厘米。",
            "variants": _grid(
                [("camel", "驼色"), ("grey", "灰色"), ("red", "红色")], ["one size"], 15
            ),
        },
        {
            "sku": "DM-LIP-08",
            "name": "Velvet Matte Lipstick",
            "name_zh": "丝绒哑光口红",
            "category": "beauty",
            "material": "",
            "material_zh": "",
            "price": 2500,
            "description": "Long-wear matte lipstick, 3.5 g. Cruelty free.",
            "description_zh": "持久哑光口红，3.5克，无动物测试。",
            "variants": [
                {"color": "ruby red", "color_zh": "宝石红", "size": "", "stock": 50},
                {"color": "nude", "color_zh": "裸色", "size": "", "stock": 25},
                {"color": "coral", "color_zh": "珊瑚色", "size": "", "stock": 0},
            ],
        },
        {
            "sku": "DM-CREAM-09",
            "name": "Hydrating Face Cream",
            "name_zh": "保湿面霜",
            "category": "beauty",
            "material": "",
            "material_zh": "",
            "price": 3900,
            "description": "50 ml daily moisturiser with hyaluronic acid, for all skin types.",
            "description_zh": "50毫升日常保湿面霜，含玻尿酸，适合所有肤质。",
            "variants": [{"color": "", "color_zh": "", "size": "50 ml", "stock": 100}],
        },
        {
            "sku": "DM-WATCH-10",
            "name": "Minimalist Watch",
            "name_zh": "极简手表",
            "category": "accessories",
            "material": "stainless steel, sapphire glass",
            "material_zh": "不锈钢，蓝宝石玻璃",
            "price": 19900,
            "description": "38 mm stainless steel watch, water resistant to 50 m.",
            "description_zh": "38毫米不锈钢表，50米防水。",
            "variants": _grid(
                [("silver", "银色"), ("gold", "金色")], ["38 mm"], {"silver": 4, "gold": 2}
            ),
        },
        {
            "sku": "DM-MUG-11",
            "name": "Ceramic Coffee Mug",
            "name_zh": "陶瓷咖啡杯",
            "category": "home",
            "material": "stoneware ceramic",
            "material_zh": "炻瓷",
            "price": 1500,
            "description": "350 ml hand-glazed stoneware mug. Dishwasher safe.",
            "description_zh": "350毫升手工釉陶瓷杯，可用洗碗机清洗。",
            "variants": _grid(
                [("white", "白色"), ("green", "绿色"), ("blue", "蓝色")], ["350 ml"], 30
            ),
        },
        {
            "sku": "DM-LAMP-12",
            "name": "LED Desk Lamp",
            "name_zh": "LED台灯",
            "category": "home",
            "material": "aluminium",
            "material_zh": "铝合金",
            "price": 4500,
            "description": "Dimmable LED desk lamp with USB-C charging port, 3 colour temperatures.",
            "description_zh": "可调光LED台灯，带USB-C充电口，三档色温。",
            "variants": _grid([("black", "黑色"), ("white", "白色")], [""], 9),
        },
    ],
    "rival": [
        {
            "sku": "RV-JACKET-01",
            "name": "Down Puffer Jacket",
            "name_zh": "羽绒服",
            "category": "outerwear",
            "material": "90% duck down",
            "material_zh": "90%鸭绒",
            "price": 14900,
            "description": "Warm down jacket rated to -20 °C, packable.",
            "description_zh": "保暖羽绒服，适合零下20度，可收纳。",
            "variants": _grid([("black", "黑色"), ("orange", "橙色")], SIZES, 6),
        },
        {
            "sku": "RV-BOOT-02",
            "name": "Hiking Boots",
            "name_zh": "登山靴",
            "category": "shoes",
            "material": "waterproof leather",
            "material_zh": "防水皮革",
            "price": 11900,
            "description": "Waterproof leather hiking boots with Vibram soles.",
            "description_zh": "防水皮革登山靴，Vibram大底。",
            "variants": _grid([("brown", "棕色")], ["39", "40", "41", "42", "43", "44"], 5),
        },
        {
            "sku": "RV-PACK-03",
            "name": "Trail Backpack 30L",
            "name_zh": "30升登山背包",
            "category": "bags",
            "material": "ripstop nylon",
            "material_zh": "防撕裂尼龙",
            "price": 7900,
            "description": "30 litre trail backpack with rain cover.",
            "description_zh": "30升登山背包，附防雨罩。",
            "variants": _grid([("green", "绿色"), ("grey", "灰色")], ["30 L"], 12),
        },
        {
            "sku": "RV-FLASK-04",
            "name": "Insulated Bottle",
            "name_zh": "保温水杯",
            "category": "home",
            "material": "stainless steel",
            "material_zh": "不锈钢",
            "price": 2900,
            "description": "750 ml vacuum insulated bottle keeps drinks hot for 12 hours.",
            "description_zh": "750毫升真空保温杯，保温12小时。",
            "variants": _grid([("silver", "银色"), ("red", "红色")], ["750 ml"], 40),
        },
    ],
}

# Merchant policies the assistant answers from (the merchant edits them in the dashboard).
DEMO_POLICIES: dict[str, list[dict[str, str]]] = {
    "demo": [
        {
            "topic": "shipping",
            "question": "Where do you ship and how long does it take?",
            "answer": "We ship to the United States, Canada, the United Kingdom, Singapore and Malaysia. Orders leave within 2 business days; delivery takes 3–7 business days. Shipping is free over $50.",
            "question_zh": "你们发货到哪里？多久能到？",
            "answer_zh": "我们发货到美国、加拿大、英国、新加坡和马来西亚。订单2个工作日内发出，3-7个工作日送达。满50美元包邮。",
        },
        {
            "topic": "returns",
            "question": "What is your return policy?",
            "answer": "Unworn items can be returned within 30 days of delivery for a full refund. Beauty products can be returned only unopened.",
            "question_zh": "可以退货吗？",
            "answer_zh": "未穿着的商品在签收后30天内可全额退款。美妆产品仅限未开封退货。",
        },
        {
            "topic": "payment",
            "question": "Which payment methods do you accept?",
            "answer": "We accept all major cards, Apple Pay and Google Pay.",
            "question_zh": "支持哪些付款方式？",
            "answer_zh": "支持各大银行卡、Apple Pay 和 Google Pay。",
        },
    ],
    "rival": [
        {
            "topic": "shipping",
            "question": "Where do you ship?",
            "answer": "We ship within China and to Hong Kong. Delivery takes 2–4 days.",
            "question_zh": "发货到哪里？",
            "answer_zh": "我们发货到中国大陆和香港，2-4天送达。",
        },
    ],
}
