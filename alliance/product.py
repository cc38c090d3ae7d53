"""One pool product in the alliance's own fields, and the checks that turn a row (a file line, an API item) into one.

Field names and units follow ``buyin.kolMaterialsProductsSearch`` / ``kolMaterialsProductsDetails``:

* ``price``, ``coupon_price``, ``cos_fee``, ``kol_cos_fee``: **fen** (integers).
* ``cos_ratio``, ``kol_cos_ratio``: **x100 of the percentage** (1/10,000: 20 % is ``2000``, 1.1 % is ``110``), as
  the search filters take them. The details call documents its ratio as a plain percentage in one place; one
  unit is kept here, and a ratio whose ``cos_fee`` only fits as a percentage is refused with that hint.
* ``sales``; 30-day ``order_num``, ``view_num``, ``kol_num``; ``comment_score`` (5-point) and ``comment_num``.
* ``in_stock``, ``sharable`` (booleans; absent means true: a hand-made file may leave them out).
* ``shop_id``, ``shop_name``; ``shop_total_score`` as the details call gives it, ``{"shop_score": {"score": "4.8",
  "level": 1}, "product_score": ..., "logistics_score": ..., "service_score": ...}`` (level 1 high, 2 mid, 3 low);
  a CSV gives flat columns ``shop_score``, ``shop_score_level``, ``product_score``... instead.
* ``imgs`` (carousel), ``cover``, ``detail_url``, ``first_cid``/``second_cid``/``third_cid``.
* Not alliance fields, kept for remixes: ``videos`` (short product videos), ``category_name``, ``attributes``.

Text is bounded and checked like the brand's product list (:mod:`clipper.products`: no control characters, no
leading ``=``), links are http(s) URLs with a host; media may also be local files next to the products file.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clipper.products import MAX_NAME_CHARS, _aliases, _check_link, _check_text, _short, _text
from remix.products import RemixProduct, _list, product_from_mapping

__all__ = [
    "MAX_MEDIA_ITEMS",
    "SCORE_NAMES",
    "PoolProduct",
    "ShopScores",
    "SubScore",
    "pool_product_from_row",
]

MAX_MEDIA_ITEMS = 50
MAX_RATIO = 10_000  # 100 % in 1/10,000
MAX_FEN = 10**11  # a billion yuan: anything above is a unit mistake
#: The sub-scores of ``shop_total_score`` (商家体验分, 商品体验分, 物流体验分, 商家服务分).
SCORE_NAMES = ("shop_score", "product_score", "logistics_score", "service_score")
_PRODUCT_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
_TRUE = {"1", "true", "yes", "y", "t", "是", "有"}
_FALSE = {"0", "false", "no", "n", "f", "否", "无"}
_URL_LIKE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:|^//")  # a scheme (two letters or more: C:\\ is a path)


@dataclass(frozen=True, slots=True)
class SubScore:
    """One part of a shop's score: 5-point ``score`` and ``level`` (1 high, 2 mid, 3 low) when given."""

    score: float
    level: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"score": self.score, "level": self.level}


@dataclass(frozen=True, slots=True)
class ShopScores:
    """``shop_total_score``: the shop, product, logistics and service experience scores."""

    shop_score: SubScore | None = None
    product_score: SubScore | None = None
    logistics_score: SubScore | None = None
    service_score: SubScore | None = None

    def as_dict(self) -> dict[str, Any]:
        """The alliance's JSON shape (absent parts left out)."""
        return {name: part.as_dict() for name in SCORE_NAMES if (part := getattr(self, name)) is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> ShopScores | None:
        """From :meth:`as_dict` output (what the database stores); ``None`` stays ``None``."""
        if not data:
            return None
        parts = {
            name: SubScore(float(v["score"]), None if v.get("level") is None else int(v["level"]))
            for name in SCORE_NAMES
            if isinstance(v := data.get(name), Mapping) and v.get("score") is not None
        }
        return cls(**parts) if parts else None


@dataclass(frozen=True, slots=True)
class PoolProduct:
    """A pool product in platform units: money in fen, ratios in 1/10,000. See the module docstring."""

    product_id: str
    title: str
    price: int
    cos_ratio: int
    cos_fee: int
    kol_cos_ratio: int
    kol_cos_fee: int
    coupon_price: int | None = None
    sales: int | None = None
    in_stock: bool = True
    sharable: bool = True
    shop_id: str | None = None
    shop_name: str | None = None
    comment_score: float | None = None
    comment_num: int | None = None
    order_num: int | None = None
    view_num: int | None = None
    kol_num: int | None = None
    shop_total_score: ShopScores | None = None
    imgs: tuple[str, ...] = ()
    videos: tuple[str, ...] = ()
    cover: str | None = None
    detail_url: str | None = None
    first_cid: int | None = None
    second_cid: int | None = None
    third_cid: int | None = None
    category_name: str | None = None
    attributes: tuple[str, ...] = field(default=())

    # -- the edge: yuan and percent for people and for remix material ------------------------------------------

    @property
    def price_yuan(self) -> float:
        return self.price / 100

    @property
    def pay_price(self) -> int:
        """What a buyer pays now, in fen: the coupon price when there is one."""
        return self.coupon_price if self.coupon_price is not None else self.price

    @property
    def kol_cos_percent(self) -> float:
        """The creator's commission ratio in percent (``kol_cos_ratio`` / 100)."""
        return self.kol_cos_ratio / 100

    @property
    def category_key(self) -> str:
        """The most specific category this product names: ``third_cid``, else second, first, the name, or ``""``."""
        for cid in (self.third_cid, self.second_cid, self.first_cid):
            if cid:
                return str(cid)
        return self.category_name or ""

    @property
    def category_ids(self) -> tuple[str, ...]:
        """Every category id and name it belongs to (what a ban may name)."""
        ids = [str(c) for c in (self.first_cid, self.second_cid, self.third_cid) if c]
        return (*ids, self.category_name) if self.category_name else tuple(ids)

    @property
    def shop_score(self) -> float | None:
        """The shop experience score (5-point), when the platform gave one."""
        scores = self.shop_total_score
        return scores.shop_score.score if scores and scores.shop_score else None

    def to_remix(self, local_media: Mapping[str, str] | None = None) -> RemixProduct:
        """The remix material of this product (:mod:`remix.products`): yuan prices, media swapped for the local
        copies in ``local_media`` (URL -> path) where there are any.

        Raises:
            ValueError: the product has no image or video (a remix needs material).
        """
        local = local_media or {}
        row: dict[str, Any] = {
            "product_id": self.product_id,
            "title": self.title,
            "imgs": [local.get(u, u) for u in self.imgs] or ([local.get(self.cover, self.cover)] if self.cover else []),
            "videos": [local.get(u, u) for u in self.videos],
            "price": self.price,
            "coupon_price": self.coupon_price,
            "category": self.category_name or "",
            "attributes": list(self.attributes),
            "sales": self.sales,
            "comment_score": self.comment_score,
            "comment_num": self.comment_num,
        }
        return product_from_mapping(row)


class RowProblems(ValueError):
    """Every problem of one row, joined with ``; `` (the caller adds the file and line)."""


def pool_product_from_row(row: Mapping[str, Any], base: Path | None = None) -> PoolProduct:
    """One pool product from an alliance-shaped mapping (a CSV row, a JSON object, an API item).

    ``base`` is the folder relative media paths resolve against (``None``: only URLs are accepted, as from an API).

    Raises:
        RowProblems: with every problem of the row, one clause each, naming the field.
    """
    row = {str(k).strip().lower(): v for k, v in row.items()}
    errors: list[str] = []
    pid = _text(row.get("product_id", row.get("id")))
    if not pid:
        errors.append("product_id is missing")
    elif not _PRODUCT_ID.match(pid):
        errors.append(f"product_id {_short(pid)} must be 1-64 letters, digits, '_', '.' or '-'")
    title = _text(row.get("title", row.get("name")))
    if not title:
        errors.append("title is missing")
    _check_text("title", title, MAX_NAME_CHARS, errors)

    price = _integer(row, "price", errors, required=True, maximum=MAX_FEN, unit="fen (9990 is 99.90 yuan)")
    coupon = _integer(row, "coupon_price", errors, maximum=MAX_FEN, unit="fen")
    if coupon == 0:
        coupon = None  # the alliance sends 0 when there is no coupon
    if coupon is not None and price is not None and coupon > price:
        errors.append(f"coupon_price {coupon} is above price {price}")
    cos_ratio = _ratio(row, "cos_ratio", errors)
    cos_fee = _integer(row, "cos_fee", errors, maximum=MAX_FEN, unit="fen")
    kol_ratio = _ratio(row, "kol_cos_ratio", errors)
    kol_fee = _integer(row, "kol_cos_fee", errors, maximum=MAX_FEN, unit="fen")
    if _blank(row.get("cos_ratio")) and _blank(row.get("cos_fee")):
        errors.append("cos_ratio and cos_fee are both missing (a pool product needs its commission)")
    if price is not None:
        base_price = coupon if coupon is not None else price
        cos_ratio, cos_fee = _commission("cos", cos_ratio, cos_fee, price, base_price, errors)
        kol_ratio, kol_fee = _commission("kol_cos", kol_ratio, kol_fee, price, base_price, errors)
        if kol_ratio is None:  # no separate creator terms: the creator gets the plan's commission
            kol_ratio, kol_fee = cos_ratio, cos_fee

    counts = {
        name: _integer(row, name, errors, maximum=10**13)
        for name in ("sales", "comment_num", "order_num", "view_num", "kol_num")
    }
    comment_score = _score(row.get("comment_score"), "comment_score", errors)
    shop_id = _text(row.get("shop_id")) or None
    shop_name = _text(row.get("shop_name")) or None
    _check_text("shop_id", shop_id or "", 100, errors)
    _check_text("shop_name", shop_name or "", MAX_NAME_CHARS, errors)
    scores = _shop_scores(row, errors)

    imgs = _media(row.get("imgs", row.get("images")), "imgs", base, errors)
    videos = _media(row.get("videos"), "videos", base, errors)
    cover_items = _media(row.get("cover"), "cover", base, errors)
    detail_url = _text(row.get("detail_url")) or None
    if detail_url is not None:
        _link(detail_url, "detail_url", errors)
    cids = {name: _integer(row, name, errors, maximum=10**15) for name in ("first_cid", "second_cid", "third_cid")}
    category_name = _text(row.get("category_name", row.get("category"))) or None
    _check_text("category_name", category_name or "", 100, errors)
    attributes = _aliases(row.get("attributes"), title, errors, column="attributes")

    in_stock = _boolean(row.get("in_stock"), "in_stock", errors)
    sharable = _boolean(row.get("sharable"), "sharable", errors)
    if errors:
        raise RowProblems("; ".join(errors))
    assert price is not None and cos_ratio is not None and cos_fee is not None
    assert kol_ratio is not None and kol_fee is not None
    return PoolProduct(
        product_id=pid,
        title=title,
        price=price,
        coupon_price=coupon,
        cos_ratio=cos_ratio,
        cos_fee=cos_fee,
        kol_cos_ratio=kol_ratio,
        kol_cos_fee=kol_fee,
        sales=counts["sales"],
        in_stock=in_stock,
        sharable=sharable,
        shop_id=shop_id,
        shop_name=shop_name,
        comment_score=comment_score,
        comment_num=counts["comment_num"],
        order_num=counts["order_num"],
        view_num=counts["view_num"],
        kol_num=counts["kol_num"],
        shop_total_score=scores,
        imgs=imgs,
        videos=videos,
        cover=cover_items[0] if cover_items else None,
        detail_url=detail_url,
        first_cid=cids["first_cid"] or None,
        second_cid=cids["second_cid"] or None,
        third_cid=cids["third_cid"] or None,
        category_name=category_name,
        attributes=attributes,
    )


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _parse_number(value: Any, name: str, errors: list[str]) -> float | None:
    if _blank(value):
        return None
    if isinstance(value, bool):
        errors.append(f"{name} {value!r} is not a number")
        return None
    try:
        number = float(str(value).strip().replace(",", "")) if not isinstance(value, int | float) else float(value)
    except ValueError:
        errors.append(f"{name} {_short(str(value).strip())} is not a number")
        return None
    if not math.isfinite(number):
        errors.append(f"{name} {_short(str(value).strip())} is not a finite number")
        return None
    return number


def _integer(
    row: Mapping[str, Any], name: str, errors: list[str], *, required: bool = False, maximum: int, unit: str = ""
) -> int | None:
    value = row.get(name)
    if _blank(value):
        if required:
            errors.append(f"{name} is missing")
        return None
    number = _parse_number(value, name, errors)
    if number is None:
        return None
    if not number.is_integer():
        hint = f" of {unit}" if unit else ""
        errors.append(f"{name} {_short(str(value).strip())} must be a whole number{hint}")
        return None
    if not 0 <= number <= maximum:
        errors.append(f"{name} {int(number)} is outside 0..{maximum}")
        return None
    return int(number)


def _ratio(row: Mapping[str, Any], name: str, errors: list[str]) -> int | None:
    number = _parse_number(row.get(name), name, errors)
    if number is None:
        return None
    if not 0 <= number <= MAX_RATIO:
        errors.append(f"{name} {number:g} is outside 0..{MAX_RATIO} (x100 of the percentage: 20% is 2000)")
        return None
    return math.floor(number + 0.5)


def _commission(
    prefix: str, ratio: int | None, fee: int | None, price: int, pay_price: int, errors: list[str]
) -> tuple[int | None, int | None]:
    """Fill a missing fee from the ratio (on the price a buyer pays) and catch a ratio given as a percentage."""
    if ratio is not None and fee is None:
        return ratio, (pay_price * ratio + 5000) // 10000
    if ratio is None and fee is not None:
        return (fee * 10000 + pay_price // 2) // pay_price if pay_price else 0, fee
    if ratio is not None and fee is not None and ratio and fee:
        fits = [abs(fee - p * ratio / 10000) <= max(1.0, 0.02 * fee) for p in (price, pay_price)]
        as_percent = [abs(fee - p * ratio / 100) <= max(1.0, 0.02 * fee) for p in (price, pay_price)]
        if not any(fits) and any(as_percent):
            errors.append(
                f"{prefix}_ratio {ratio} looks like a percentage ({prefix}_fee {fee} = price x ratio / 100); "
                f"give it x100 (20% is 2000)"
            )
    return ratio, fee


def _score(value: Any, name: str, errors: list[str]) -> float | None:
    number = _parse_number(value, name, errors)
    if number is None:
        return None
    if not 0 <= number <= 5:
        errors.append(f"{name} {number:g} is outside 0..5")
        return None
    return number


def _level(value: Any, name: str, errors: list[str]) -> int | None:
    number = _parse_number(value, name, errors)
    if number is None:
        return None
    if number not in (1, 2, 3):
        errors.append(f"{name} {number:g} is not 1 (high), 2 (mid) or 3 (low)")
        return None
    return int(number)


def _shop_scores(row: Mapping[str, Any], errors: list[str]) -> ShopScores | None:
    nested = row.get("shop_total_score")
    if isinstance(nested, str) and nested.strip():
        errors.append("shop_total_score must be an object (in a CSV use the columns shop_score, shop_score_level...)")
        return None
    if nested is not None and not isinstance(nested, Mapping | str):
        errors.append(f"shop_total_score must be an object, got {type(nested).__name__}")
        return None
    parts: dict[str, SubScore] = {}
    for name in SCORE_NAMES:
        if isinstance(nested, Mapping) and name in nested:
            item = nested[name]
            if isinstance(item, Mapping):
                raw_score, raw_level = item.get("score"), item.get("level")
            else:
                raw_score, raw_level = item, None
        else:
            raw_score, raw_level = row.get(name), row.get(f"{name}_level")
        score = _score(raw_score, name, errors)
        level = _level(raw_level, f"{name}_level", errors)
        if score is not None:
            parts[name] = SubScore(score, level)
    return ShopScores(**parts) if parts else None


def _boolean(value: Any, name: str, errors: list[str]) -> bool:
    if _blank(value):
        return True
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    errors.append(f"{name} {_short(str(value))} is not true/false (1/0, yes/no)")
    return True


def _link(url: str, name: str, errors: list[str]) -> bool:
    found: list[str] = []
    _check_link(url, found)
    errors.extend(f"{name}{message.removeprefix('link')}" for message in found)
    return not found


def _media(value: Any, name: str, base: Path | None, errors: list[str]) -> tuple[str, ...]:
    try:
        items = _list(value)
    except ValueError as exc:
        errors.append(f"{name}: {exc}")
        return ()
    if len(items) > MAX_MEDIA_ITEMS:
        errors.append(f"{name} lists {len(items)} items (at most {MAX_MEDIA_ITEMS})")
        return ()
    out: list[str] = []
    for item in items:
        if _URL_LIKE.match(item):
            if _link(item, name, errors):
                out.append(item)
            continue
        if base is None:
            errors.append(f"{name} {_short(item)} is not an http(s) URL")
            continue
        before = len(errors)
        _check_text(name, item, 1024, errors)
        if len(errors) > before:
            continue
        path = Path(item) if Path(item).is_absolute() else (base / item)
        if not path.is_file():
            errors.append(f"{name} {_short(item)}: no such file (relative paths start at the products file's folder)")
            continue
        out.append(str(path.resolve()))
    return tuple(out)
