"""The product material file of ``mcn remix make``: products in the affiliate alliance's shape, plus media.

JSON (a list, or ``{"products": [...]}``) or CSV (list fields ``|``-separated). Fields, as the alliance's
product search/details give them (``buyin.kolMaterialsProductsSearch``/``Details``):

* ``product_id`` (or ``id``), ``title`` (or ``name``): required.
* ``imgs`` (or ``images``) and ``videos``: local paths (relative to the file's folder) or http(s) URLs; at least
  one of the two. ``cover`` counts as an image when ``imgs`` is empty.
* ``price``, ``coupon_price``: **fen** (integers, as the platform gives them); converted to yuan here, at the edge.
* ``category`` (a name or path such as ``Home > Kitchen``; else ``category_name``/``third_cname``...).
* ``attributes``: key facts (``"material: 304 stainless steel"``, ``"keeps drinks hot for 12 hours"``).
* ``brand``: the brand name (``brand`` or ``brand_name``), kept in its own spelling when the voice names the
  product (other title words are lower-cased).
* ``short_name``: what the voice-over calls it (default: derived from the title); ``language`` (``en``/``zh``,
  default: ``zh`` when the title has Chinese characters); ``sales``, ``comment_score`` (5-point),
  ``comment_num``.

Bad rows are reported by CSV line or JSON index, one line each, and the good rows are kept.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from clipper.errors import DownloadError, InputFileError
from clipper.fetch import FetchOptions, MediaKind, download

__all__ = [
    "MATERIAL_FETCH",
    "LoadedProducts",
    "RemixProduct",
    "fetch_material",
    "load_remix_products",
    "localise_media",
    "material_fetch_options",
    "product_from_mapping",
]

#: Default limits for product material: public addresses only, 500 MB and 10 minutes a file.
MATERIAL_FETCH = FetchOptions(max_bytes=500 * 1024**2, deadline_seconds=600.0, require_audio=False)

_CJK = re.compile(r"[\u4e00-\u9fff]")
_CATEGORY_KEYS = ("category", "category_name", "third_cname", "second_cname", "first_cname")


@dataclass(frozen=True, slots=True)
class RemixProduct:
    """One product to remix. Prices are yuan (converted from the alliance's fen)."""

    id: str
    title: str
    images: tuple[str, ...] = ()
    videos: tuple[str, ...] = ()
    category: str = ""
    attributes: tuple[str, ...] = ()
    price: float | None = None
    coupon_price: float | None = None
    short_name: str = ""
    language: str = ""
    sales: int | None = None
    comment_score: float | None = None
    comment_num: int | None = None
    brand: str = ""

    @property
    def lang(self) -> str:
        """``language`` when set, else ``zh`` for a title with Chinese characters, else ``en``."""
        return self.language or ("zh" if _CJK.search(self.title) else "en")

    @property
    def display_price(self) -> float | None:
        """The price a buyer pays now: the coupon price when there is one, else the list price."""
        return self.coupon_price if self.coupon_price is not None else self.price

    @property
    def media(self) -> tuple[str, ...]:
        return (*self.images, *self.videos)


@dataclass(frozen=True, slots=True)
class LoadedProducts:
    """The good products of a file, and one line per bad row."""

    products: tuple[RemixProduct, ...]
    problems: tuple[str, ...]


def _list(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(x.strip() for x in value.split("|") if x.strip())
    if isinstance(value, list | tuple):
        items = []
        for item in value:
            # The alliance's imgs may be objects with a url.
            text = item.get("url", "") if isinstance(item, Mapping) else item
            if str(text).strip():
                items.append(str(text).strip())
        return tuple(items)
    raise ValueError(f"expected a list, got {type(value).__name__}")


def _fen(value: Any, field: str) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        fen = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{field} must be a number of fen, got {value!r}") from None
    if not fen >= 0:  # negative, or NaN
        raise ValueError(f"{field} must not be negative, got {value!r}")
    return round(fen / 100, 2)


def _number(value: Any, field: str, kind: type[int] | type[float]) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = kind(float(value))
    except (TypeError, ValueError):
        raise ValueError(f"{field} must be a number, got {value!r}") from None
    if number < 0:
        raise ValueError(f"{field} must not be negative")
    return number


def _media(items: tuple[str, ...], base: Path | None) -> tuple[str, ...]:
    out = []
    for item in items:
        if re.match(r"^https?://", item) or base is None or Path(item).is_absolute():
            out.append(item)
        else:
            out.append(str((base / item).resolve()))
    return tuple(out)


def product_from_mapping(row: Mapping[str, Any], base: Path | None = None) -> RemixProduct:
    """One product from an alliance-shaped mapping; relative media paths resolve against ``base``.

    Raises:
        ValueError: a required field is missing or a value has the wrong type (the message names the field).
    """
    pid = str(row.get("product_id") or row.get("id") or "").strip()
    title = " ".join(str(row.get("title") or row.get("name") or "").split())
    if not pid:
        raise ValueError("product_id is missing")
    if not title:
        raise ValueError("title is missing")
    images = _list(row.get("imgs", row.get("images")))
    if not images and row.get("cover"):
        images = _list([row["cover"]])
    videos = _list(row.get("videos"))
    if not images and not videos:
        raise ValueError("no imgs or videos: a remix needs product material")
    category = next((str(row[k]).strip() for k in _CATEGORY_KEYS if row.get(k)), "")
    language = str(row.get("language") or "").strip().lower()
    if language and language not in ("en", "zh"):
        raise ValueError(f"language must be en or zh, got {language!r}")
    score = _number(row.get("comment_score"), "comment_score", float)
    if score is not None and score > 5:
        raise ValueError("comment_score is out of 5")
    return RemixProduct(
        id=pid,
        title=title,
        images=_media(images, base),
        videos=_media(videos, base),
        category=category,
        attributes=_list(row.get("attributes")),
        price=_fen(row.get("price"), "price"),
        coupon_price=_fen(row.get("coupon_price"), "coupon_price"),
        short_name=" ".join(str(row.get("short_name") or "").split()),
        language=language,
        sales=_number(row.get("sales"), "sales", int),
        comment_score=score,
        comment_num=_number(row.get("comment_num"), "comment_num", int),
        brand=" ".join(str(row.get("brand") or row.get("brand_name") or "").split()),
    )


def load_remix_products(path: str | Path) -> LoadedProducts:
    """Read a product material file (see the module docstring).

    Raises:
        InputFileError: the file is missing, unreadable, not JSON/CSV, or holds no product at all; bad rows
            alone do not raise, they are listed in :attr:`LoadedProducts.problems`.
    """
    file = Path(path)
    subject = str(file)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(subject, f"cannot read the products file ({type(exc).__name__})") from None
    if not text.strip():
        raise InputFileError(subject, "the products file is empty")
    rows: list[tuple[str, Mapping[str, Any]]] = []
    if file.suffix.lower() == ".json" or text.lstrip()[:1] in "[{":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputFileError(subject, f"not valid JSON (line {exc.lineno}: {exc.msg})") from None
        items = data.get("products") if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise InputFileError(subject, 'expected a list of products or {"products": [...]}')
        for i, item in enumerate(items):
            rows.append((f"products[{i}]", item if isinstance(item, Mapping) else {"_bad": item}))
    else:
        reader = csv.DictReader(io.StringIO(text))
        for record in reader:
            rows.append((f"line {reader.line_num}", {str(k).strip(): v for k, v in record.items() if k}))
    products: list[RemixProduct] = []
    problems: list[str] = []
    seen: set[str] = set()
    for where, row in rows:
        try:
            if "_bad" in row:
                raise ValueError("not an object")
            product = product_from_mapping(row, file.parent)
            if product.id in seen:
                raise ValueError(f"duplicate product_id {product.id!r}")
        except ValueError as exc:
            problems.append(f"{subject} {where}: {exc}")
            continue
        seen.add(product.id)
        products.append(product)
    if not products:
        detail = f": {problems[0]}" if problems else ""
        raise InputFileError(subject, f"no usable product{detail}")
    return LoadedProducts(tuple(products), tuple(problems))


def material_fetch_options(*, max_bytes: int, deadline_seconds: float, allow_private: bool) -> FetchOptions:
    """:data:`MATERIAL_FETCH` within the operator's settings (``MCN_MAX_DOWNLOAD_BYTES``,
    ``MCN_DOWNLOAD_DEADLINE_SECONDS``: the smaller limit wins; ``MCN_FETCH_ALLOW_PRIVATE``)."""
    return replace(
        MATERIAL_FETCH,
        max_bytes=min(max_bytes, MATERIAL_FETCH.max_bytes),
        deadline_seconds=min(deadline_seconds, MATERIAL_FETCH.deadline_seconds),
        allow_private=allow_private,
    )


def fetch_material(url: str, dest_dir: Path, kind: MediaKind, options: FetchOptions | None = None) -> str:
    """Download one image or video of a product into ``dest_dir`` through :func:`clipper.fetch.download` (public
    addresses only unless ``options`` allow more, redirects checked, overall deadline, kept only when it decodes
    as ``kind``; cached by URL hash) and return the local path. A video need not have sound.

    Raises:
        DownloadError: the URL could not be fetched or is not usable ``kind`` (one line naming the redacted URL).
    """
    chosen = replace(options or MATERIAL_FETCH, kind=kind, require_audio=False)
    return str(download(url, dest_dir, chosen))


def localise_media(
    product: RemixProduct, dest_dir: Path, options: FetchOptions | None = None
) -> tuple[RemixProduct, tuple[str, ...]]:
    """The product with its http(s) images and videos downloaded into ``dest_dir`` (:func:`fetch_material`,
    ``options`` default :data:`MATERIAL_FETCH`), and a note per item that could not be fetched (it is left out;
    the renderer needs at least one usable item)."""
    notes: list[str] = []

    def fetch(items: tuple[str, ...], kind: MediaKind) -> tuple[str, ...]:
        local = []
        for item in items:
            if not re.match(r"^https?://", item):
                local.append(item)
                continue
            try:
                local.append(fetch_material(item, dest_dir, kind, options))
            except DownloadError as exc:
                notes.append(f"{exc}, skipped")
        return tuple(local)

    return replace(product, images=fetch(product.images, "image"), videos=fetch(product.videos, "video")), tuple(notes)


def material_variant(product: RemixProduct, per_variant: int, variant: int) -> RemixProduct | None:
    """The product with only the ``variant``-th set of ``per_variant`` of its images and videos, or ``None`` when
    the material has no such set (the material, not the software, limits the variants).

    Sets are the combinations of its media in order, so any two variants share at most ``per_variant - 1`` items:
    with two items a set, two variants of one product share at most half their material (the plan's footage
    limit, :mod:`publisher.footage`) and differ in what they show, never in hash-evasion tricks. ``per_variant``
    of 0 keeps all the material for every variant (they then differ in order, motion, script and music only);
    a product with no more media than ``per_variant`` has one set, all of it.
    """
    media = product.media
    if per_variant <= 0:
        return product
    if len(media) <= per_variant:
        return product if variant == 0 else None
    chosen = next(itertools.islice(itertools.combinations(range(len(media)), per_variant), variant, None), None)
    if chosen is None:
        return None
    keep = {media[i] for i in chosen}
    return replace(
        product,
        images=tuple(m for m in product.images if m in keep),
        videos=tuple(m for m in product.videos if m in keep),
    )


def material_variants(product: RemixProduct, per_variant: int) -> int:
    """How many distinct material sets :func:`material_variant` gives ``product`` (1 with ``per_variant`` 0: all
    variants then show the same material)."""
    n = len(product.media)
    if per_variant <= 0 or n <= per_variant:
        return 1
    return math.comb(n, per_variant)
