"""The affiliate alliance API (精选联盟, ``buyin.*``): product search, details, share links, and product media.

Routes (JSON bodies, as the doudian SDK posts its ``param_json``):

* ``POST /api/v1/buyin/kolMaterialsProductsSearch``: filters ``title``, ``first_cids``/``second_cids``/
  ``third_cids``, ``price_min``/``price_max`` (fen), ``sell_num_min``/``max``, ``cos_fee_min``/``max`` (fen),
  ``cos_ratio_min``/``max`` (1/10,000: 1.1 % is 110), ``share_status`` (1: sharable only); ``search_type`` 0
  default order, 1 sales, 2 price, 3 commission amount, 4 commission ratio; ``sort_type`` 0 ascending, 1
  descending; ``page`` from 1, ``page_size`` 1..20. A ``*_max`` of 0 means no upper bound, as in the SDK's int
  fields. Answers ``{"total", "page", "page_size", "products": [...]}`` with the search fields.
* ``POST /api/v1/buyin/kolMaterialsProductsDetails``: ``product_ids`` (1..20) -> the details fields (30-day
  ``order_num``/``view_num``/``kol_num``, ``comment_score``/``comment_num``, ``imgs``, ``shop_total_score``...) plus
  ``videos`` (the sandbox's short product videos); unknown ids are listed in ``missing``.
* ``POST /api/v1/buyin/kolProductShare`` (account bearer token): ``product_id`` or ``product_url``, and our
  tracking code as ``external_info`` (1..40 letters, digits or ``_``; anything else is a 400
  ``invalid_external_info``) -> ``share_link`` (the product page, which the publish API's ``product_link``
  accepts), ``dy_password``, ``dy_deeplink``. A product that is not sharable is a 400 ``product_not_sharable``.
* ``GET /cdn/alliance/{product_id}/{file}``: carousel images (``img1.jpg``...) and videos (``video1.mp4``), drawn
  on first request and cached in the data dir (:mod:`sandbox.product_media`).

Search and details need no token (the sandbox's pool is public; the real alliance wants the author's token). The
catalogue is :func:`sandbox.catalogue.catalogue` of the platform's market; its products are added to the
platform's own product table on first use, so share links can be linked to posts and earn orders.
"""

from __future__ import annotations

import hashlib
import re
import threading
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from sandbox.api import Account
from sandbox.app import platform_of
from sandbox.catalogue import CatalogueProduct, catalogue, score_view
from sandbox.errors import SandboxError
from sandbox.product_media import media_file, media_names
from sandbox.service import Platform

__all__ = ["EXTERNAL_INFO", "MAX_PAGE_SIZE", "alliance_router", "cdn_router"]

alliance_router = APIRouter(prefix="/api/v1/buyin", tags=["affiliate alliance (buyin)"])
cdn_router = APIRouter(prefix="/cdn/alliance", tags=["affiliate alliance (buyin)"])

MAX_PAGE_SIZE = 20
#: ``external_info``: the tracking code a share link carries back on every order (pid_info.external_info).
EXTERNAL_INFO = re.compile(r"^[A-Za-z0-9_]{1,40}$")
_MEDIA_NAME = re.compile(r"^(img|video)\d{1,2}\.(jpg|mp4)$")
_seed_lock = threading.Lock()


class SearchParams(BaseModel):
    """``buyin.kolMaterialsProductsSearch`` parameters (every one optional)."""

    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(default=None, max_length=100)
    first_cids: list[int] | None = Field(default=None, max_length=50)
    second_cids: list[int] | None = Field(default=None, max_length=50)
    third_cids: list[int] | None = Field(default=None, max_length=50)
    price_min: int | None = None
    price_max: int | None = None
    sell_num_min: int | None = None
    sell_num_max: int | None = None
    cos_fee_min: int | None = None
    cos_fee_max: int | None = None
    cos_ratio_min: int | None = None
    cos_ratio_max: int | None = None
    search_type: int = 0
    sort_type: int = 0
    share_status: int = 0
    page: int = 1
    page_size: int = MAX_PAGE_SIZE


class DetailsParams(BaseModel):
    """``buyin.kolMaterialsProductsDetails`` parameters."""

    model_config = ConfigDict(extra="forbid")
    product_ids: list[int | str] = Field(max_length=200)
    with_share_status: bool = True


class ShareParams(BaseModel):
    """``buyin.kolProductShare`` parameters: the product by id or link, and our tracking code."""

    model_config = ConfigDict(extra="forbid")
    product_id: int | str | None = None
    product_url: str | None = Field(default=None, max_length=500)
    external_info: str | None = Field(default=None, max_length=1000)
    pid: str | None = Field(default=None, max_length=100)


def _catalogue(request: Request) -> tuple[CatalogueProduct, ...]:
    """The catalogue, with its products in the platform's product table (added once, on first use)."""
    platform = platform_of(request)
    products = catalogue(platform.world)
    state = request.app.state
    if not getattr(state, "alliance_seeded", False):
        with _seed_lock:
            if not getattr(state, "alliance_seeded", False):
                _seed(platform, products)
                state.alliance_seeded = True
    return products


def _seed(platform: Platform, products: tuple[CatalogueProduct, ...]) -> None:
    known = {p.id for p in platform.products()}
    for product in products:
        if product.product_id not in known:
            # orders pay the creator's share (kol_cos_ratio) of what the buyer pays (the coupon price)
            platform.create_product(product.title, product.pay_price, product.kol_cos_ratio, product.product_id)


def _bad(message: str) -> SandboxError:
    return SandboxError("invalid_param", message, status=400)


def _check_range(params: SearchParams, low: str, high: str) -> None:
    lo, hi = getattr(params, low), getattr(params, high)
    for name, value in ((low, lo), (high, hi)):
        if value is not None and value < 0:
            raise _bad(f"{name} must not be negative")
    if lo is not None and hi and lo > hi:
        raise _bad(f"{low} {lo} is above {high} {hi}")


def _in_range(value: int, low: int | None, high: int | None) -> bool:
    return (low is None or value >= low) and (not high or value <= high)


def _search_item(product: CatalogueProduct, base: str) -> dict[str, Any]:
    category = product.category
    return {
        "product_id": product.product_id,
        "title": product.title,
        "price": product.price,
        "coupon_price": product.coupon_price or 0,
        "cos_ratio": product.cos_ratio,
        "cos_fee": product.cos_fee,
        "kol_cos_ratio": product.kol_cos_ratio,
        "kol_cos_fee": product.kol_cos_fee,
        "commission_type": 1,
        "sales": product.sales,
        "in_stock": product.in_stock,
        "sharable": product.sharable,
        "activity_id": 0,
        "post_free": True,
        "presell_type": 0,
        "shop_id": product.shop_id,
        "shop_name": product.shop_name,
        "cover": f"{base}/cdn/alliance/{product.product_id}/img1.jpg",
        "detail_url": f"{base}/item/{product.product_id}",
        "first_cid": category.first_cid,
        "second_cid": category.second_cid,
        "third_cid": category.third_cid,
    }


def _details_item(product: CatalogueProduct, base: str) -> dict[str, Any]:
    images, videos = media_names(product)
    root = f"{base}/cdn/alliance/{product.product_id}"
    return {
        **_search_item(product, base),
        "comment_score": product.comment_score,
        "comment_num": product.comment_num,
        "order_num": product.order_num,
        "view_num": product.view_num,
        "kol_num": product.kol_num,
        "imgs": [f"{root}/{name}" for name in images],
        "videos": [f"{root}/{name}" for name in videos],
        "category_name": product.category.name,
        "attributes": list(product.attributes),
        "is_assured": True,
        "has_sxt": True,
        "shop_total_score": score_view(product.shop_scores),
    }


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


_SORT_KEYS = {
    1: lambda p: p.sales,
    2: lambda p: p.price,
    3: lambda p: p.cos_fee,
    4: lambda p: p.cos_ratio,
}


@alliance_router.post("/kolMaterialsProductsSearch")
def search(params: SearchParams, request: Request) -> dict[str, Any]:
    """Search the alliance's products (see the module docstring for filters, order and paging)."""
    if not 1 <= params.page_size <= MAX_PAGE_SIZE:
        raise _bad(f"page_size must be 1..{MAX_PAGE_SIZE}")
    if params.page < 1:
        raise _bad("page starts at 1")
    if params.search_type not in (0, 1, 2, 3, 4):
        raise _bad("search_type must be 0 (default), 1 (sales), 2 (price), 3 (commission) or 4 (commission ratio)")
    if params.sort_type not in (0, 1):
        raise _bad("sort_type must be 0 (ascending) or 1 (descending)")
    if params.share_status not in (0, 1):
        raise _bad("share_status must be 0 (all) or 1 (sharable only)")
    for low, high in (("price_min", "price_max"), ("sell_num_min", "sell_num_max")):
        _check_range(params, low, high)
    for low, high in (("cos_fee_min", "cos_fee_max"), ("cos_ratio_min", "cos_ratio_max")):
        _check_range(params, low, high)
    words = (params.title or "").strip().casefold()
    found = [
        p
        for p in _catalogue(request)
        if (not words or words in p.title.casefold())
        and (not params.first_cids or p.category.first_cid in params.first_cids)
        and (not params.second_cids or p.category.second_cid in params.second_cids)
        and (not params.third_cids or p.category.third_cid in params.third_cids)
        and _in_range(p.price, params.price_min, params.price_max)
        and _in_range(p.sales, params.sell_num_min, params.sell_num_max)
        and _in_range(p.cos_fee, params.cos_fee_min, params.cos_fee_max)
        and _in_range(p.cos_ratio, params.cos_ratio_min, params.cos_ratio_max)
        and (params.share_status == 0 or p.sharable)
    ]
    if params.search_type:
        key = _SORT_KEYS[params.search_type]
        # ties in product id order (stable pages); descending flips the key, not the tie-break
        found.sort(key=lambda p: ((-key(p) if params.sort_type == 1 else key(p)), p.product_id))
    start = (params.page - 1) * params.page_size
    base = _base(request)
    return {
        "total": len(found),
        "page": params.page,
        "page_size": params.page_size,
        "products": [_search_item(p, base) for p in found[start : start + params.page_size]],
    }


@alliance_router.post("/kolMaterialsProductsDetails")
def details(params: DetailsParams, request: Request) -> dict[str, Any]:
    """Details of up to 20 products by id; unknown ids are listed in ``missing``."""
    if not 1 <= len(params.product_ids) <= MAX_PAGE_SIZE:
        raise _bad(f"product_ids must list 1..{MAX_PAGE_SIZE} ids")
    by_id = {p.product_id: p for p in _catalogue(request)}
    wanted = [str(i).strip() for i in params.product_ids]
    base = _base(request)
    items = [_details_item(by_id[i], base) for i in wanted if i in by_id]
    if not params.with_share_status:
        for item in items:
            item.pop("sharable")
    return {"total": len(items), "products": items, "missing": [i for i in wanted if i not in by_id]}


@alliance_router.post("/kolProductShare")
def share(params: ShareParams, request: Request, account: Account) -> dict[str, Any]:
    """A share link for one product that carries ``external_info`` (our tracking code) back on its orders."""
    code = params.external_info or None
    if code is not None and not EXTERNAL_INFO.match(code):
        raise SandboxError(
            "invalid_external_info", "external_info must be 1-40 letters, digits or '_' (no other characters)"
        )
    by_id = {p.product_id: p for p in _catalogue(request)}
    product_id = str(params.product_id).strip() if params.product_id is not None else None
    if product_id is None and params.product_url:
        match = re.search(r"/item/([A-Za-z0-9_.-]{1,64})/?$", params.product_url.split("?", 1)[0])
        product_id = match.group(1) if match else None
    if product_id is None:
        raise _bad("give product_id or product_url")
    product = by_id.get(product_id)
    if product is None:
        raise SandboxError("product_not_found", f"未搜索到对应商品 (no product {product_id[:64]!r})", status=404)
    if not product.sharable:
        raise SandboxError("product_not_sharable", f"product {product_id} is not open for sharing")
    token = hashlib.sha256(f"{account.buyin_id}:{product_id}:{code or ''}".encode()).hexdigest()[:10]
    query = f"?author={account.buyin_id}&share={token}" + (f"&external_info={code}" if code else "")
    link = f"{_base(request)}/item/{product_id}{query}"
    return {
        "product_id": product_id,
        "external_info": code or "",
        "share_link": link,
        "dy_password": f"8.{token[:2]} {token[2:6]}:/ 复制打开抖音, 看看【{product.title[:20]}】",
        "dy_deeplink": f"snssdk1128://ec_goods_detail?id={product_id}&share={token}",
        "qr_code": None,  # the sandbox draws no QR code
    }


@cdn_router.get("/{product_id}/{name}")
async def media(product_id: str, name: str, request: Request) -> FileResponse:
    """A product image or video, drawn on first request and cached in the data dir."""
    if not _MEDIA_NAME.match(name):
        raise SandboxError("not_found", "no such media file", status=404)
    platform = platform_of(request)
    product = next((p for p in catalogue(platform.world) if p.product_id == product_id), None)
    if product is None:
        raise SandboxError("not_found", "no such product", status=404)
    root = platform.config.data_dir / "alliance"
    path = await run_in_threadpool(media_file, product, name, root, platform.world.seed)
    if path is None:
        raise SandboxError("not_found", "no such media file", status=404)
    media_type = "image/jpeg" if name.endswith(".jpg") else "video/mp4"
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"})
