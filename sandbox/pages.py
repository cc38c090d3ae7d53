"""Creator web pages for browser automation: login (QR-style approval or password), upload, result, manage.

Every element a publisher needs has an ``id`` and a ``data-testid`` that stay stable across versions; errors are
shown in place (``data-testid="form-error"`` / ``"upload-error"`` with ``data-error-code``), the way platforms show
them. A missing or expired session sends the browser to ``/login`` (with ``expired=1`` for an expired one).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import jinja2
from fastapi import APIRouter, Cookie, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from sandbox import db
from sandbox.app import error_response, platform_of
from sandbox.clock import format_local, parse_time
from sandbox.errors import SandboxError
from sandbox.market import commission_per_order
from sandbox.rules import PostFields
from sandbox.service import public_post_id

SESSION_COOKIE = "sbx_session"
QR_COOKIE = "sbx_qr"
pages_router = APIRouter(include_in_schema=False)
_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def render(name: str, http_status: int = 200, **context: Any) -> HTMLResponse:
    """Render a template from ``sandbox/templates`` as an HTML answer with ``http_status``."""
    return HTMLResponse(_templates.get_template(name).render(**context), status_code=http_status)


def render_message(request: Request, title: str, message: str, status: int = 200, code: str = "") -> HTMLResponse:
    """A page that only shows a message (errors outside a form)."""
    return render("message.html", http_status=status, title=title, message=message, code=code)


def safe_next(target: str | None, default: str = "/creator/upload") -> str:
    """Only same-site paths may be a post-login destination (no open redirects)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


def login_redirect(next_path: str, expired: bool) -> RedirectResponse:
    """Send the browser to the login page, remembering where it was going."""
    url = f"/login?next={quote(next_path, safe='/')}" + ("&expired=1" if expired else "")
    return RedirectResponse(url, status_code=303)


def page_account(request: Request, session: str | None, next_path: str) -> db.Account | RedirectResponse:
    """The logged-in account, or the redirect to the login page."""
    try:
        return platform_of(request).session_account(session)
    except SandboxError as err:
        return login_redirect(next_path, expired=err.code == "session_expired")


def set_session_cookie(response: Response, token: str) -> None:
    # A browser-session cookie: the server decides expiry (on the simulated clock), as platforms whose cookies
    # outlive the login do; the browser keeps sending it and gets redirected once it is stale.
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", path="/")


def qr_svg(challenge: str, modules: int = 25) -> str:
    """A decorative QR-like SVG derived from the challenge id (three finder squares, hashed modules)."""
    bits = "".join(f"{b:08b}" for b in hashlib.sha256(challenge.encode()).digest() * 3)
    cells = []
    for y in range(modules):
        for x in range(modules):
            finder = any(
                x0 <= x < x0 + 7 and y0 <= y < y0 + 7 for x0, y0 in ((0, 0), (modules - 7, 0), (0, modules - 7))
            )
            if finder:
                dx, dy = x % (modules - 7) if x >= 7 else x, y % (modules - 7) if y >= 7 else y
                on = dx in (0, 6) or dy in (0, 6) or (2 <= dx <= 4 and 2 <= dy <= 4)
            else:
                on = bits[(y * modules + x) % len(bits)] == "1"
            if on:
                cells.append(f'<rect x="{x}" y="{y}" width="1" height="1"/>')
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="-2 -2 {modules + 4} {modules + 4}" width="200" '
        f'height="200" data-testid="qr-code" id="qr-code"><rect x="-2" y="-2" width="{modules + 4}" '
        f'height="{modules + 4}" fill="#fff"/><g fill="#000">{"".join(cells)}</g></svg>'
    )


# -- login ---------------------------------------------------------------------------------------------------


@pages_router.get("/")
def home() -> RedirectResponse:
    """The creator site's front door."""
    return RedirectResponse("/creator/upload", status_code=303)


@pages_router.get("/login")
def login_page(request: Request, next: str | None = None, expired: str | None = None) -> HTMLResponse:
    """Login: a QR code to approve (the default tab) and a password form."""
    return _login_page(request, safe_next(next), notice_expired=bool(expired))


def _login_page(
    request: Request, next_path: str, notice_expired: bool = False, error: str = "", handle: str = "", status: int = 200
) -> HTMLResponse:
    challenge, nonce = platform_of(request).new_qr()
    response = render(
        "login.html",
        http_status=status,
        next_path=next_path,
        expired=notice_expired,
        error=error,
        handle=handle,
        challenge=challenge,
        qr=qr_svg(challenge),
        approve_path=f"/qr/{challenge}",
        ttl=int(platform_of(request).rules.qr_ttl_seconds),
    )
    response.set_cookie(QR_COOKIE, nonce, httponly=True, samesite="lax", path="/login/qr/")
    return response


@pages_router.post("/login")
def login_submit(
    request: Request,
    handle: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    """Password login; errors come back on the login page."""
    target = safe_next(next)
    if not handle.strip() or not password:
        return _login_page(
            request, target, error="请输入账号和密码 (enter the handle and password)", handle=handle, status=400
        )
    try:
        token = platform_of(request).login_password(handle, password)
    except SandboxError as err:
        return _login_page(request, target, error=err.message, handle=handle, status=err.status)
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, token)
    return response


@pages_router.get("/login/qr/{challenge}/status")
def qr_status(challenge: str, request: Request) -> dict[str, str]:
    """Polled by the login page: pending, approved, denied, used, expired or unknown."""
    return {"status": platform_of(request).qr_status(challenge)}


@pages_router.get("/login/qr/{challenge}/complete")
def qr_complete(
    challenge: str, request: Request, next: str | None = None, sbx_qr: Annotated[str | None, Cookie()] = None
) -> Response:
    """The browser that showed an approved code turns it into a session."""
    try:
        token = platform_of(request).complete_qr(challenge, sbx_qr)
    except SandboxError as err:
        return render_message(request, "登录失败 (login failed)", err.message, status=err.status, code=err.code)
    response = RedirectResponse(safe_next(next), status_code=303)
    set_session_cookie(response, token)
    response.delete_cookie(QR_COOKIE, path="/login/qr/")
    return response


@pages_router.get("/qr/{challenge}")
def qr_approve_page(challenge: str, request: Request, handle: str = "") -> HTMLResponse:
    """What the operator's phone shows after scanning: confirm the login as an account, or deny it."""
    platform = platform_of(request)
    return render(
        "approve.html",
        challenge=challenge,
        status=platform.qr_status(challenge),
        handle=handle,
        error="",
        result="",
        code="",
        secret_required=platform.config.approval_secret is not None,
    )


@pages_router.post("/qr/{challenge}")
def qr_answer(
    challenge: str,
    request: Request,
    handle: Annotated[str, Form()] = "",
    action: Annotated[str, Form()] = "approve",
    secret: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """The operator's answer to a login code (with the approval secret when the server has one)."""
    platform = platform_of(request)
    secret_required = platform.config.approval_secret is not None
    try:
        if not platform.config.may_answer_qr(secret):
            # Checked before the handle, so a caller without the secret learns nothing about which handles exist.
            raise SandboxError(
                "approval_secret_required",
                "需要确认密钥 (this server needs the approval secret printed when it started)",
                status=403,
            )
        if action == "approve" and not handle.strip():
            raise SandboxError("handle_required", "请输入要登录的账号 (enter the account handle)")
        account = platform.answer_qr(challenge, handle, approve=action == "approve")
    except SandboxError as err:
        return render(
            "approve.html",
            http_status=err.status,
            challenge=challenge,
            status=platform.qr_status(challenge),
            handle=handle,
            error=err.message,
            result="",
            code=err.code,
            secret_required=secret_required,
        )
    result = f"已确认登录 {account.handle} (login approved)" if account else "已拒绝登录 (login denied)"
    return render(
        "approve.html",
        challenge=challenge,
        status=platform.qr_status(challenge),
        handle=handle,
        error="",
        result=result,
        code="",
        secret_required=secret_required,
    )


@pages_router.get("/logout")
def logout(request: Request, sbx_session: Annotated[str | None, Cookie()] = None) -> RedirectResponse:
    """End the session."""
    platform_of(request).logout(sbx_session)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# -- creator -------------------------------------------------------------------------------------------------


def _form_defaults() -> dict[str, Any]:
    return {
        "upload_id": "",
        "title": "",
        "description": "",
        "ai_declaration": False,
        "ad_disclosure": False,
        "product_link": "",
        "schedule_time": "",
        "hook_style": "",
    }


def _upload_page(
    account: db.Account, request: Request, form: dict[str, Any], error: SandboxError | None = None
) -> HTMLResponse:
    rules = platform_of(request).rules
    return render(
        "upload.html",
        http_status=error.status if error else 200,
        account=account,
        form=form,
        error_code=error.code if error else "",
        error=error.message if error else "",
        max_title=rules.max_title_chars,
        max_topics=rules.max_topics,
        max_bytes=rules.max_upload_bytes,
        now=format_local(platform_of(request).now())[:16],
    )


@pages_router.get("/creator/upload")
def upload_page(request: Request, sbx_session: Annotated[str | None, Cookie()] = None) -> Response:
    """The upload page: file input with progress, title, description with #topics, declarations, product link,
    optional schedule, publish button."""
    account = page_account(request, sbx_session, "/creator/upload")
    if isinstance(account, RedirectResponse):
        return account
    return _upload_page(account, request, _form_defaults())


@pages_router.put("/creator/api/upload")
async def upload_bytes(request: Request, sbx_session: Annotated[str | None, Cookie()] = None) -> Response:
    """The page's XHR upload (raw body, with progress events in the browser)."""
    from sandbox.api import receive_body

    platform = platform_of(request)
    try:
        account = await run_in_threadpool(platform.session_account, sbx_session)
    except SandboxError as err:
        login_url = "/login?next=/creator/upload" + ("&expired=1" if err.code == "session_expired" else "")
        return JSONResponse({**err.body(), "login_url": login_url}, status_code=err.status)
    try:
        upload = await run_in_threadpool(platform.init_upload, account.id, None)
        result = await receive_body(request, platform, upload)  # checks the size limit before and while reading
    except SandboxError as err:
        return error_response(request, err)
    return JSONResponse({"upload_id": result.upload_id, "size": result.received, "duration": result.duration})


@pages_router.post("/creator/publish")
def publish_submit(
    request: Request,
    upload_id: Annotated[str, Form()] = "",
    title: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    ai_declaration: Annotated[str, Form()] = "",
    ad_disclosure: Annotated[str, Form()] = "",
    product_link: Annotated[str, Form()] = "",
    schedule_time: Annotated[str, Form()] = "",
    hook_style: Annotated[str, Form()] = "",
    sbx_session: Annotated[str | None, Cookie()] = None,
) -> Response:
    """Publish from the page; success goes to the post's page, a refusal comes back on the form."""
    account = page_account(request, sbx_session, "/creator/upload")
    if isinstance(account, RedirectResponse):
        return account
    form = {
        "upload_id": upload_id,
        "title": title,
        "description": description,
        "ai_declaration": bool(ai_declaration),
        "ad_disclosure": bool(ad_disclosure),
        "product_link": product_link,
        "schedule_time": schedule_time,
        "hook_style": hook_style,
    }
    platform = platform_of(request)
    try:
        if not upload_id:
            raise SandboxError("upload_required", "请先上传视频 (upload a video first)")
        schedule = None
        if schedule_time.strip():
            try:
                schedule = parse_time(schedule_time.replace("T", " "))
            except ValueError as exc:
                raise SandboxError("invalid_schedule_time", str(exc)) from None
        fields = PostFields(
            title=title,
            description=description,
            ai_declared=bool(ai_declaration),
            ad_disclosed=bool(ad_disclosure),
            product_link=product_link.strip() or None,
            schedule_at=schedule,
            hook_style=hook_style or None,
        )
        post = platform.publish(account.id, upload_id, fields, via="web")
    except SandboxError as err:
        if err.code in ("upload_not_found", "upload_already_published"):
            form["upload_id"] = ""  # that upload cannot be used again: ask for a new file
        return _upload_page(account, request, form, err)
    return RedirectResponse(f"/creator/posts/{public_post_id(post.id)}?new=1", status_code=303)


@pages_router.get("/creator/posts/{post_id}")
def post_page(
    post_id: str, request: Request, new: str | None = None, sbx_session: Annotated[str | None, Cookie()] = None
) -> Response:
    """The post's page (the success page right after publishing)."""
    account = page_account(request, sbx_session, f"/creator/posts/{post_id}")
    if isinstance(account, RedirectResponse):
        return account
    platform = platform_of(request)
    post = platform.post(post_id, account.id)
    return render(
        "post.html",
        account=account,
        new=bool(new),
        status=platform.post_status(post),
        metrics=platform.post_metrics(post),
    )


@pages_router.get("/creator/manage")
def manage_page(request: Request, sbx_session: Annotated[str | None, Cookie()] = None) -> Response:
    """The account's posts, newest first."""
    account = page_account(request, sbx_session, "/creator/manage")
    if isinstance(account, RedirectResponse):
        return account
    platform = platform_of(request)
    posts, _, _ = platform.posts_of(account.id, 0, 100)
    return render("manage.html", account=account, posts=[platform.post_status(p) for p in posts])


@pages_router.get("/item/{product_id}", name="product_page")
def product_page(product_id: str, request: Request) -> HTMLResponse:
    """A product's public page (what a product link opens)."""
    product = platform_of(request).product(product_id)
    return render(
        "product.html",
        product=product,
        price=f"{product.price_fen / 100:.2f}",
        commission=f"{commission_per_order(product.price_fen, product.commission_rate) / 100:.2f}",
    )


@pages_router.get("/creator/developer")
def developer_page(request: Request, sbx_session: Annotated[str | None, Cookie()] = None) -> Response:
    """Authorise an app (mcn) to use the account API: the sandbox's stand-in for an OAuth consent screen."""
    account = page_account(request, sbx_session, "/creator/developer")
    if isinstance(account, RedirectResponse):
        return account
    return render("developer.html", account=account, token=None)


@pages_router.post("/creator/developer")
def developer_authorise(request: Request, sbx_session: Annotated[str | None, Cookie()] = None) -> Response:
    """Issue a new API token for the logged-in account (the old one stops working); shown on this page once."""
    account = page_account(request, sbx_session, "/creator/developer")
    if isinstance(account, RedirectResponse):
        return account
    token = platform_of(request).issue_api_token(account.id)
    return render("developer.html", account=account, token=token)
