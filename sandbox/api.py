"""JSON routes: the account API (``/api/v1``, bearer token per account) and the admin API (``/api/admin``).

The account API follows the shape of the official ones: a three-step upload (init, PUT the bytes, publish), post
status and metrics, and the buyin-style order export. The admin API sets up accounts and products, moves the
simulated clock, turns fault knobs, and exposes the evaluation views (every post; the oracle). Nothing in mcn
may read the oracle: it is the ground truth the feedback loop is judged against.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from sandbox import db
from sandbox.app import platform_of
from sandbox.clock import format_local, parse_time
from sandbox.config import as_dict
from sandbox.errors import SandboxError
from sandbox.rules import PostFields
from sandbox.service import Platform, UploadResult, public_post_id

log = logging.getLogger("sandbox")

api_router = APIRouter(prefix="/api/v1", tags=["account API"])
admin_router = APIRouter(prefix="/api/admin", tags=["admin API (evaluation and setup)"])

_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,128}$")
# After a body is known to be too large, keep reading (and discarding) this much more so a browser that is still
# sending gets the 413 answer rather than a reset connection; beyond it the connection is dropped.
_DRAIN_LIMIT = 16 * 1024 * 1024


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def current_account(request: Request) -> db.Account:
    """Dependency: the account of the request's bearer token."""
    token = _bearer(request)
    if token is None:
        raise SandboxError("missing_token", "send 'Authorization: Bearer <access token>'", status=401)
    return platform_of(request).account_by_token(token)


def require_admin(request: Request) -> None:
    """Dependency: the admin token, as a bearer token or an ``X-Admin-Token`` header."""
    from sandbox.security import same_secret

    given = _bearer(request) or request.headers.get("x-admin-token", "")
    if not given or not same_secret(given, platform_of(request).config.admin_token):
        raise SandboxError("admin_token_required", "this admin route needs the sandbox admin token", status=401)


Account = Annotated[db.Account, Depends(current_account)]


class UploadInit(BaseModel):
    """Start an upload; ``file_size`` lets the platform refuse an oversized file before any byte is sent."""

    model_config = ConfigDict(extra="forbid")
    file_size: int | None = Field(default=None, ge=1, le=2**53)
    file_name: str | None = Field(default=None, max_length=255)


class PublishRequest(BaseModel):
    """Publish an uploaded video. ``is_aigc`` is the AI-generated declaration (required to be true)."""

    model_config = ConfigDict(extra="forbid")
    upload_id: str = Field(min_length=1, max_length=64)
    title: str = Field(max_length=500)
    description: str = Field(default="", max_length=5000)
    is_aigc: bool = False
    ad_disclosure: bool = False
    product_link: str | None = Field(default=None, max_length=500)
    product_id: str | None = Field(default=None, max_length=64)
    external_info: str | None = Field(default=None, max_length=500)
    schedule_time: int | float | str | None = Field(
        default=None, description="epoch seconds or 'YYYY-MM-DD HH:MM' (UTC+8); 2 h to 14 days ahead"
    )
    hook_style: str | None = Field(
        default=None, max_length=64, description="the clip's hook style; the title decides when absent"
    )


def post_fields(body: PublishRequest) -> PostFields:
    """The publish request as the rules see it."""
    schedule = None
    if body.schedule_time is not None and body.schedule_time != "":
        try:
            schedule = parse_time(body.schedule_time)
        except ValueError as exc:
            raise SandboxError("invalid_schedule_time", str(exc)) from None
    return PostFields(
        title=body.title,
        description=body.description,
        ai_declared=body.is_aigc,
        ad_disclosed=body.ad_disclosure,
        product_link=body.product_link or None,
        external_info=body.external_info or None,
        schedule_at=schedule,
        hook_style=body.hook_style,
    )


async def receive_body(request: Request, platform: Platform, upload: db.Upload) -> UploadResult:
    """Stream a PUT body into ``upload``'s file (at the offset Content-Range names), then record it.

    The size limit is checked against Content-Length/Content-Range before reading and against the bytes actually
    received while reading, so a lying or missing header cannot get a larger file in.
    """
    offset, total = upload.size, None
    content_range = request.headers.get("content-range")
    if content_range:
        match = _CONTENT_RANGE.match(content_range.strip())
        if not match:
            raise SandboxError("bad_content_range", "Content-Range must be 'bytes START-END/TOTAL'")
        start, end, total = (int(g) for g in match.groups())
        if start != upload.size or end < start or end >= total:
            raise SandboxError("bad_content_range", f"the next chunk must start at byte {upload.size}", status=416)
        platform.check_size(total)
    length = request.headers.get("content-length")
    if length and length.isdigit():
        try:
            platform.check_size(offset + int(length))
        except SandboxError:
            await _drain(request)
            await run_in_threadpool(platform.discard_upload, upload)
            raise
    limit = platform.rules.max_upload_bytes
    received = offset
    path = Path(upload.path)
    with path.open("r+b" if offset else "wb") as fh:
        fh.seek(offset)
        try:
            async for chunk in request.stream():
                received += len(chunk)
                if received > limit:
                    break
                fh.write(chunk)
        except ClientDisconnect:
            # The client went away mid-body (closed tab, killed uploader, network cut): an everyday event, not a
            # server fault. The upload keeps its recorded size, so the next PUT starts over from there.
            log.warning(
                "upload %s: the client went away after %d bytes of this request; the upload stays incomplete at %d",
                upload.id,
                received - offset,
                upload.size,
            )
            raise SandboxError("client_disconnected", "the client closed the connection during the upload") from None
    if received > limit:
        await _drain(request)
        await run_in_threadpool(platform.discard_upload, upload)
        platform.check_size(received)
    if received == offset and total is None:
        raise SandboxError("empty_upload", "the request body is empty")
    return await run_in_threadpool(platform.record_put, upload, received, total)


async def _drain(request: Request) -> None:
    drained = 0
    try:
        async for chunk in request.stream():
            drained += len(chunk)
            if drained > _DRAIN_LIMIT:
                break
    except Exception:  # noqa: BLE001 - the client went away or the stream was consumed; the 413 stands either way
        return


# -- account API -------------------------------------------------------------------------------------------


@api_router.get("/account")
def me(account: Account) -> dict[str, Any]:
    """The token's account."""
    return {"account_id": account.id, "handle": account.handle, "author_buyin_id": account.buyin_id}


@api_router.post("/video/upload/init")
def upload_init(body: UploadInit, account: Account, request: Request) -> dict[str, Any]:
    """Step 1: reserve an upload; PUT the bytes to ``upload_url`` next (whole, or in Content-Range chunks)."""
    platform = platform_of(request)
    upload = platform.init_upload(account.id, body.file_size)
    return {
        "upload_id": upload.id,
        "upload_url": f"/api/v1/video/upload/{upload.id}",
        "max_bytes": platform.rules.max_upload_bytes,
    }


@api_router.put("/video/upload/{upload_id}")
async def upload_put(upload_id: str, account: Account, request: Request) -> dict[str, Any]:
    """Step 2: the video bytes. ``complete`` turns true with the last byte; the sha256 is then known."""
    platform = platform_of(request)
    upload = await run_in_threadpool(platform.upload_for_put, account.id, upload_id)
    result = await receive_body(request, platform, upload)
    return {
        "upload_id": result.upload_id,
        "received": result.received,
        "complete": result.complete,
        "sha256": result.sha256,
        "duration": result.duration,
    }


@api_router.post("/video/publish")
def publish(body: PublishRequest, account: Account, request: Request, response: Response) -> dict[str, Any]:
    """Step 3: publish (or schedule) the uploaded video with its declarations.

    An ``Idempotency-Key`` header (1-128 visible ASCII characters) makes the publish safe to send again: a key this
    account already published with answers that post (header ``Idempotent-Replayed: true``) and publishes nothing.
    """
    platform = platform_of(request)
    key = idempotency_key(request)
    post = platform.publish(
        account.id, body.upload_id, post_fields(body), via="api", product_id=body.product_id, idempotency_key=key
    )
    if key is not None and post.upload_id != body.upload_id:
        response.headers["Idempotent-Replayed"] = "true"
    return platform.post_status(post)


def idempotency_key(request: Request) -> str | None:
    """The request's ``Idempotency-Key`` header, or ``None``; ``invalid_idempotency_key`` when malformed."""
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not _IDEMPOTENCY_KEY.match(key):
        raise SandboxError("invalid_idempotency_key", "Idempotency-Key must be 1-128 visible ASCII characters")
    return key


@api_router.get("/video/list")
def video_list(
    account: Account,
    request: Request,
    cursor: Annotated[int, Query(ge=0)] = 0,
    count: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    """The account's posts, newest first (to reconcile a publish whose answer was lost)."""
    platform = platform_of(request)
    posts, next_cursor, more = platform.posts_of(account.id, cursor, count)
    return {"posts": [platform.post_status(p) for p in posts], "cursor": next_cursor, "has_more": more}


@api_router.get("/video/{post_id}/status")
def video_status(post_id: str, account: Account, request: Request) -> dict[str, Any]:
    """One of the account's posts: scheduled or published, throttled or not."""
    platform = platform_of(request)
    return platform.post_status(platform.post(post_id, account.id))


@api_router.get("/video/{post_id}/metrics")
def video_metrics(post_id: str, account: Account, request: Request) -> dict[str, Any]:
    """Plays, completion, likes, product clicks and paid orders so far (simulated clock)."""
    platform = platform_of(request)
    return platform.post_metrics(platform.post(post_id, account.id))


@api_router.get("/buyin/orders")
def buyin_orders(
    account: Account,
    request: Request,
    start_time: str | None = None,
    end_time: str | None = None,
    time_type: Literal["update", "pay"] = "update",
    cursor: str | None = None,
    count: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    """The account's affiliate orders (buyin kolOrderAds fields), by update or pay time, at most 90 days."""
    try:
        start = parse_time(start_time) if start_time else None
        end = parse_time(end_time) if end_time else None
    except ValueError as exc:
        raise SandboxError("invalid_time", str(exc)) from None
    orders, next_cursor, more = platform_of(request).orders(account, start, end, time_type, cursor, count)
    return {"orders": orders, "cursor": next_cursor, "has_more": more}


# -- admin API ---------------------------------------------------------------------------------------------

admin = [Depends(require_admin)]


class AccountCreate(BaseModel):
    """A test account; a handle and password are generated when absent."""

    model_config = ConfigDict(extra="forbid")
    handle: str | None = Field(default=None, max_length=64)
    password: str | None = Field(default=None, max_length=128)


class ProductCreate(BaseModel):
    """A catalogue product. Price in yuan (or ``price_fen``); ``commission_rate`` as a fraction (0.2 = 20 %)."""

    model_config = ConfigDict(extra="forbid")
    product_id: str | None = Field(default=None, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    price: float | None = Field(default=None, gt=0)
    price_fen: int | None = Field(default=None, gt=0)
    commission_rate: float = Field(gt=0, le=1)
    link: str | None = Field(default=None, max_length=500)


class ClockChange(BaseModel):
    """Advance the simulated clock (seconds and days add up), jump forward to a time, or change its mode."""

    model_config = ConfigDict(extra="forbid")
    advance_seconds: float = Field(default=0, ge=0, le=3650 * 86_400)
    advance_days: float = Field(default=0, ge=0, le=3650)
    set_time: int | float | str | None = None
    mode: Literal["running", "manual"] | None = None


class ExpireSessions(BaseModel):
    """Force web sessions (and, with ``api_tokens``, API tokens) to expire now: one account's, or everyone's."""

    model_config = ConfigDict(extra="forbid")
    account_id: int | None = None
    api_tokens: bool = False


def product_view(product: db.Product, request: Request) -> dict[str, Any]:
    """A product as the admin API shows it (the link defaults to this server's product page)."""
    return {
        "product_id": product.id,
        "name": product.name,
        "price": product.price_fen / 100,
        "price_fen": product.price_fen,
        "commission_rate": product.commission_rate / 10000,
        "commission_rate_x10000": product.commission_rate,
        "link": product.link or str(request.url_for("product_page", product_id=product.id)),
    }


@admin_router.post("/accounts", dependencies=admin)
def create_account(body: AccountCreate, request: Request) -> dict[str, Any]:
    """Create a test account; the answer is the only place its password and API token appear."""
    new = platform_of(request).create_account(body.handle, body.password)
    return {
        "account_id": new.account_id,
        "handle": new.handle,
        "password": new.password,
        "api_token": new.api_token,
        "author_buyin_id": new.author_buyin_id,
    }


@admin_router.get("/accounts", dependencies=admin)
def list_accounts(request: Request) -> dict[str, Any]:
    """Every account, without secrets."""
    return {
        "accounts": [
            {
                "account_id": a.id,
                "handle": a.handle,
                "author_buyin_id": a.buyin_id,
                "created_at": format_local(a.created_at),
            }
            for a in platform_of(request).accounts()
        ]
    }


@admin_router.post("/products", dependencies=admin)
def create_product(body: ProductCreate, request: Request) -> dict[str, Any]:
    """Add a product to the affiliate catalogue."""
    if (body.price is None) == (body.price_fen is None):
        raise SandboxError("invalid_product", "give exactly one of price (yuan) and price_fen")
    price_fen = body.price_fen if body.price_fen is not None else round((body.price or 0) * 100)
    product = platform_of(request).create_product(
        body.name, price_fen, round(body.commission_rate * 10000), body.product_id, body.link
    )
    return product_view(product, request)


@admin_router.get("/products", dependencies=admin)
def list_products(request: Request) -> dict[str, Any]:
    """The catalogue."""
    return {"products": [product_view(p, request) for p in platform_of(request).products()]}


@admin_router.get("/posts", dependencies=admin)
def list_posts(request: Request) -> dict[str, Any]:
    """Every accepted post, for evaluation: account, title, file sha256, perceptual hash, declarations, times."""
    rows = []
    for post, handle in platform_of(request).all_posts():
        rows.append(
            {
                "post_id": public_post_id(post.id),
                "account_id": post.account_id,
                "handle": handle,
                "title": post.title,
                "description": post.description,
                "file_sha256": post.file_sha256,
                "phash": post.phash,
                "external_info": post.external_info,
                "ai_declared": post.ai_declared,
                "ad_disclosed": post.ad_disclosed,
                "product_id": post.product_id,
                "hook_style": post.hook_style,
                "limited": post.limited,
                "duplicate_of": public_post_id(post.duplicate_of) if post.duplicate_of else None,
                "via": post.via,
                "created_at": format_local(post.created_at),
                "created_timestamp": post.created_at,
                "publish_at": format_local(post.publish_at),
                "publish_timestamp": post.publish_at,
            }
        )
    return {"posts": rows}


def _clock_view(platform: Platform) -> dict[str, Any]:
    now = platform.now()
    return {"now": format_local(now), "timestamp": now, "mode": platform.clock.mode}


@admin_router.get("/clock", dependencies=admin)
def get_clock(request: Request) -> dict[str, Any]:
    """The simulated time (UTC+8 text and epoch seconds) and the clock's mode."""
    return _clock_view(platform_of(request))


@admin_router.post("/clock", dependencies=admin)
def change_clock(body: ClockChange, request: Request) -> dict[str, Any]:
    """Move the simulated clock forward (30 days take one call) or switch it between running and manual."""
    platform = platform_of(request)
    try:
        if body.mode is not None:
            platform.clock.set_mode(body.mode)
        if body.set_time is not None and body.set_time != "":
            platform.clock.set_time(parse_time(body.set_time))
        seconds = body.advance_seconds + body.advance_days * 86_400
        if seconds:
            platform.clock.advance(seconds)
    except ValueError as exc:
        raise SandboxError("invalid_clock_change", str(exc)) from None
    return _clock_view(platform)


@admin_router.get("/oracle", dependencies=admin)
def oracle(request: Request) -> dict[str, Any]:
    """Ground truth for evaluation ONLY: expected commission per product and hook style. mcn must never read it."""
    return platform_of(request).oracle()


@admin_router.get("/faults", dependencies=admin)
def get_faults(request: Request) -> dict[str, Any]:
    """The fault knobs."""
    return as_dict(platform_of(request).faults)


@admin_router.get("/faults/injected", dependencies=admin)
def injected_faults(request: Request) -> dict[str, int]:
    """Faults injected since the server started: late commits held, released to the platform after their hold,
    and of those the ones that published (the others were refused by a rule or a duplicate check)."""
    counts = platform_of(request).fault_counts
    return {name: int(counts[name]) for name in ("late_commit_held", "late_commit_released", "late_commit_committed")}


@admin_router.patch("/faults", dependencies=admin)
def change_faults(body: dict[str, Any], request: Request) -> dict[str, Any]:
    """Change some fault knobs (error_rate, slow_rate, slow_seconds, timeout_rate, timeout_seconds, spam_rate,
    late_commit_rate, late_commit_seconds)."""
    try:
        return as_dict(platform_of(request).set_faults(body))
    except ValueError as exc:
        raise SandboxError("invalid_faults", str(exc)) from None


@admin_router.get("/rules", dependencies=admin)
def get_rules(request: Request) -> dict[str, Any]:
    """The platform rules in force."""
    return as_dict(platform_of(request).rules)


@admin_router.patch("/rules", dependencies=admin)
def change_rules(body: dict[str, Any], request: Request) -> dict[str, Any]:
    """Change some platform rules (daily_cap, min_interval_seconds, max_upload_bytes, session_ttl_seconds, ...)."""
    try:
        return as_dict(platform_of(request).set_rules(body))
    except ValueError as exc:
        raise SandboxError("invalid_rules", str(exc)) from None


@admin_router.post("/sessions/expire", dependencies=admin)
def expire_sessions(body: ExpireSessions, request: Request) -> dict[str, Any]:
    """Force web sessions to expire now (the next page load goes to the login page); API tokens too if asked."""
    platform = platform_of(request)
    answer = {"expired": platform.expire_sessions(body.account_id)}
    if body.api_tokens:
        answer["expired_api_tokens"] = platform.expire_api_tokens(body.account_id)
    return answer
