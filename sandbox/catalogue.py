"""The sandbox's affiliate alliance catalogue (精选联盟): 24 products in six categories, drawn from the seed.

Everything is a pure function of the sandbox seed: product ids, prices, commission terms, shops and their scores,
stock and share status, and the 30-day statistics. The 30-day ``order_num`` is drawn from ``view_num`` product page
views at the product's hidden conversion rate in the market model (:meth:`sandbox.market.World.product_appeal`),
so ``order_num / view_num`` is an honest but noisy signal of what a linked post will sell: a product with few
views has a noisy rate, which is what shrinkage in mcn's ranking is for.

Every seed has at least two products out of stock, two that are not sharable and two whose shop score is low, so
exclusions always have something to exclude. Units are the platform's: fen, and ratios in 1/10,000.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from sandbox.market import World

__all__ = ["CATEGORIES", "CatalogueProduct", "Category", "catalogue", "score_view"]


@dataclass(frozen=True, slots=True)
class Category:
    """A third-level category with its parents (ids as the alliance numbers them) and its product templates."""

    first_cid: int
    second_cid: int
    third_cid: int
    name: str
    shape: str  # how its product shots are drawn (sandbox.product_media)
    shops: tuple[str, ...]
    # (title, short name for the picture, price range in yuan, attributes)
    items: tuple[tuple[str, str, tuple[int, int], tuple[str, ...]], ...]


# fmt: off
CATEGORIES: tuple[Category, ...] = (
    Category(
        20000, 20010, 20011, "Kitchen 厨房用品", "bottle", ("Steel Works 钢铁工坊", "Hearth Home 暖灶"),
        (
            ("Insulated steel bottle 500 ml", "BOTTLE", (59, 129), (
                "304 stainless steel inside", "keeps drinks hot for 12 hours", "leak-proof lid")),
            ("Non-stick frying pan 28 cm", "PAN", (89, 199), (
                "ceramic non-stick coating", "works on induction hobs", "cool-touch handle")),
            ("Glass lunch box set of 3", "LUNCH", (39, 89), (
                "borosilicate glass", "microwave and oven safe", "snap-lock lids")),
            ("Ceramic chef knife 6 inch", "KNIFE", (49, 119), (
                "zirconia ceramic blade", "stays sharp for months", "weighs only 90 grams")),
        ),
    ),
    Category(
        30000, 30010, 30011, "Skincare 护肤", "jar", ("Dew Lab 露研", "Petal Care 花瓣"),
        (
            ("Hydrating face cream 50 g", "CREAM", (69, 199), (
                "hyaluronic acid and ceramides", "fragrance free", "for dry and normal skin")),
            ("Vitamin C brightening serum 30 ml", "SERUM", (99, 259), (
                "ten percent vitamin C", "light texture that absorbs fast", "dropper bottle")),
            ("Mineral sunscreen SPF 50", "SPF50", (59, 139), (
                "zinc oxide filter", "no white cast", "water resistant for 80 minutes")),
            ("Green clay face mask 100 g", "CLAY", (39, 99), (
                "French green clay", "ten-minute treatment", "cleans pores without drying")),
        ),
    ),
    Category(
        40000, 40010, 40011, "Outdoor 户外装备", "chair", ("Trailhead 山径", "North Camp 北营"),
        (
            ("Folding camping chair", "CHAIR", (99, 259), (
                "aluminium frame", "holds 120 kilograms", "folds into a carry bag")),
            ("Ultralight rain jacket", "JACKET", (199, 499), (
                "weighs 210 grams", "taped seams", "packs into its own pocket")),
            ("LED camping lantern", "LANTERN", (49, 129), (
                "three brightness levels", "runs 40 hours on one charge", "USB-C charging")),
            ("Carbon trekking poles pair", "POLES", (129, 299), (
                "carbon fibre shafts", "flick locks", "cork grips")),
        ),
    ),
    Category(
        50000, 50010, 50011, "Digital 数码配件", "pods", ("Volt Bay 伏特湾", "Pixel Mart 像素"),
        (
            ("Wireless earbuds with charging case", "BUDS", (99, 299), (
                "active noise cancelling", "30 hours with the case", "splash resistant")),
            ("Power bank 10000 mAh", "POWER", (69, 159), (
                "charges two phones at once", "20 watt fast charging", "fits in a pocket")),
            ("Aluminium phone stand", "STAND", (29, 79), (
                "adjustable angle", "non-slip silicone pads", "folds flat")),
            ("USB-C charger 65 W", "65W", (79, 169), (
                "gallium nitride chips", "charges a laptop", "three ports")),
        ),
    ),
    Category(
        60000, 60010, 60011, "Snacks and tea 零食茶饮", "box", ("Orchard Lane 果园", "Leaf & Cup 叶杯"),
        (
            ("Roasted mixed nuts 750 g", "NUTS", (59, 129), (
                "six kinds of nuts", "lightly salted", "thirty daily packs")),
            ("Oolong tea gift box", "OOLONG", (99, 299), (
                "high mountain oolong", "twenty tea bags of whole leaf", "gift box with a card")),
            ("Dried mango slices 500 g", "MANGO", (29, 69), (
                "no added sugar", "thick cut slices", "resealable bag")),
            ("Instant oatmeal 30 packs", "OATS", (39, 89), (
                "whole grain oats", "ready in three minutes", "five flavours")),
        ),
    ),
    Category(
        70000, 70010, 70011, "Bedding 家纺", "pillow", ("Cloud Nine 九云", "Linen Loft 麻阁"),
        (
            ("Memory foam pillow", "PILLOW", (99, 259), (
                "slow rebound memory foam", "removable washable cover", "supports the neck")),
            ("Cotton bath towel set", "TOWELS", (59, 149), (
                "long staple cotton", "two bath and two hand towels", "quick drying")),
            ("Weighted blanket 5 kg", "BLANKET", (199, 459), (
                "glass bead filling", "breathable cotton shell", "for single beds")),
            ("Mulberry silk sleep mask", "MASK", (39, 99), (
                "22 momme mulberry silk", "adjustable strap", "blocks out light")),
        ),
    ),
)
# fmt: on


@dataclass(frozen=True, slots=True)
class CatalogueProduct:
    """One alliance product as the sandbox serves it (platform units: fen, ratios in 1/10,000)."""

    index: int
    product_id: str
    title: str
    label: str  # short ASCII name drawn on its pictures
    category: Category
    attributes: tuple[str, ...]
    price: int
    coupon_price: int | None
    cos_ratio: int
    kol_cos_ratio: int
    sales: int
    in_stock: bool
    sharable: bool
    shop_id: str
    shop_name: str
    comment_score: float
    comment_num: int
    order_num: int
    view_num: int
    kol_num: int
    shop_scores: tuple[float, float, float, float]  # shop, product, logistics, service
    image_count: int
    video_count: int
    hue: int  # 0-179 (OpenCV hue) of the product's colour in its pictures

    @property
    def pay_price(self) -> int:
        return self.coupon_price if self.coupon_price is not None else self.price

    @property
    def cos_fee(self) -> int:
        return (self.pay_price * self.cos_ratio + 5000) // 10000

    @property
    def kol_cos_fee(self) -> int:
        return (self.pay_price * self.kol_cos_ratio + 5000) // 10000


def _level(score: float) -> int:
    return 1 if score >= 4.6 else 2 if score >= 4.2 else 3


def score_view(scores: tuple[float, float, float, float]) -> dict[str, dict[str, object]]:
    """``shop_total_score`` in the details call's shape (scores as strings, levels 1 high / 2 mid / 3 low)."""
    names = ("shop_score", "product_score", "logistics_score", "service_score")
    texts = {1: "高", 2: "中", 3: "低"}
    return {
        name: {"score": f"{score:.2f}", "level": _level(score), "text": texts[_level(score)]}
        for name, score in zip(names, scores, strict=True)
    }


def _product_id(seed: int, index: int) -> str:
    digest = int.from_bytes(hashlib.sha256(f"alliance:{seed}:{index}".encode()).digest()[:8], "big")
    return str(3_600_000_000_000_000_000 + digest % 10**15)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


@lru_cache(maxsize=8)
def catalogue(world: World) -> tuple[CatalogueProduct, ...]:
    """The alliance catalogue of the market ``world`` (its seed and parameters), in listing order."""
    seed = world.seed
    rng = np.random.default_rng([seed, 0xA11A])
    templates = [(c, item) for c in CATEGORIES for item in c.items]
    count = len(templates)
    special = rng.permutation(count)
    out_of_stock = set(special[:2].tolist())
    not_sharable = set(special[2:4].tolist())
    low_shop = set(special[4:6].tolist())
    few_views = set(special[6:9].tolist())  # new products: a handful of views, a noisy rate
    products = []
    for index, (category, (title, label, (low, high), attributes)) in enumerate(templates):
        product_id = _product_id(seed, index)
        price = int(rng.integers(low, high + 1)) * 100 - int(rng.choice([0, 10, 100]))
        coupon = price - int(price * rng.uniform(0.05, 0.2)) // 100 * 100 if rng.random() < 0.5 else None
        cos_ratio = int(rng.integers(5, 41)) * 100
        kol_cos_ratio = round(cos_ratio * float(rng.uniform(0.8, 0.9)))
        appeal = world.product_appeal(product_id)
        cvr = _sigmoid(math.log(world.params.cvr_base / (1 - world.params.cvr_base)) + appeal.cvr)
        if index in few_views:
            view_num = int(rng.integers(20, 120))
        else:
            view_num = int(np.clip(np.exp(rng.normal(math.log(15000), 1.2)), 300, 2_000_000))
        order_num = int(rng.binomial(view_num, cvr))
        kol_num = 1 + int(rng.poisson(view_num / 400))
        sales = order_num * int(rng.integers(3, 30)) + int(rng.integers(0, 50))
        comment_num = int(sales * rng.uniform(0.08, 0.3))
        comment_score = round(float(rng.uniform(4.2, 4.95)), 1)
        shop_index = int(rng.integers(0, len(category.shops)))
        base = float(rng.uniform(3.3, 3.9)) if index in low_shop else float(rng.uniform(4.4, 4.95))
        subs = tuple(round(min(5.0, max(0.0, base + float(rng.normal(0, 0.08)))), 2) for _ in range(4))
        shop_scores = (round(base, 2), subs[1], subs[2], subs[3])
        products.append(
            CatalogueProduct(
                index=index,
                product_id=product_id,
                title=title,
                label=label,
                category=category,
                attributes=attributes,
                price=price,
                coupon_price=coupon,
                cos_ratio=cos_ratio,
                kol_cos_ratio=kol_cos_ratio,
                sales=sales,
                in_stock=index not in out_of_stock,
                sharable=index not in not_sharable,
                shop_id=f"{category.first_cid // 1000}{shop_index:02d}{seed % 1000:03d}",
                shop_name=category.shops[shop_index],
                comment_score=comment_score,
                comment_num=comment_num,
                order_num=order_num,
                view_num=view_num,
                kol_num=kol_num,
                shop_scores=shop_scores,
                image_count=int(rng.integers(5, 7)),  # five or six angles: enough pairs for a day of remixes
                video_count=1,
                hue=int(rng.integers(0, 180)),
            )
        )
    return tuple(products)
