"""The console's FastAPI app: server-rendered pages (Jinja2) for brands and the operator.

Guards, on every request: the ``Host`` must be one the console serves (loopback names unless the operator bound
another interface), a POST or PUT carrying an ``Origin`` must come from that host, every page but the login page
and ``/healthz`` needs a valid session cookie (:mod:`console.auth`), and every POST or PUT needs the session's CSRF
token (form field ``csrf_token`` or header ``X-CSRF-Token``; the login form gets one tied to a pre-login nonce
cookie). Brands reach only their brand's projects and clips (others answer 404); the operator pages answer 403 to
brands. Errors are one line, as the CLI would print them.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from console import outbox, projects
from console.auth import (
    SESSION_COOKIE,
    SESSION_SECONDS,
    ConsoleError,
    LoginThrottle,
    SessionInfo,
    Signer,
    User,
    authenticate,
)
from console.logins import ConsoleLogins, browser_login_supported
from console.projects import NotFound, OffsetMismatch
from console.runs import ClipJob, RunSubmitter
from mcn.review_web import is_loopback_host

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
NONCE_COOKIE = "mcn_console_login"
HERE = Path(__file__).parent
_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, undefined=jinja2.StrictUndefined
)
_SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
}


@dataclass(frozen=True, slots=True)
class ConsoleOptions:
    """How the console serves.

    Attributes:
        data_dir: where uploads go (``<data_dir>/console/projects/<project>/<upload>/``).
        max_upload_bytes: the largest recording accepted (``MCN_MAX_DOWNLOAD_BYTES``: the same limit as a source
            URL's download).
        hosts: ``Host`` names answered besides loopback ones (the interface bound off loopback).
        secure_cookies: mark cookies ``Secure`` (behind an HTTPS proxy).
        job_defaults: make-clips parameters for every run (clip lengths, rendered size).
        prefect_ui: the Prefect UI's URL, linked from the pages when known.
        chunk_bytes: how much the browser sends per request (at most :data:`console.projects.MAX_CHUNK`).
    """

    data_dir: Path
    max_upload_bytes: int
    hosts: tuple[str, ...] = ()
    secure_cookies: bool = False
    job_defaults: dict[str, Any] = field(default_factory=dict)
    prefect_ui: str | None = None
    chunk_bytes: int = 4 * 1024**2


@dataclass(frozen=True, slots=True)
class ConsoleApp:
    """The app and what a caller (the CLI, a test) needs besides it."""

    app: FastAPI
    signer: Signer
    submitter: RunSubmitter


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def create_console_app(
    options: ConsoleOptions, submitter: RunSubmitter, secret: bytes, logins: ConsoleLogins | None = None
) -> ConsoleApp:
    """Build the console over mcn's database; runs go to ``submitter``; cookies are signed with ``secret``;
    account logins run through ``logins`` (a headless browser on this machine by default)."""
    signer = Signer(secret)
    logins = logins or ConsoleLogins()
    throttle = LoginThrottle()
    root = options.data_dir / "console"
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    allowed = {h.lower() for h in options.hosts}

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Any]) -> Response:
        host = urlsplit(f"//{request.headers.get('host', '')}").hostname or ""
        if not (is_loopback_host(host) or host.lower() in allowed):
            return _error(f"Host {host or '(none)'!r}: this console does not answer for it", 400, None)
        if request.method in ("POST", "PUT", "DELETE"):
            origin = request.headers.get("origin")
            if origin and origin != "null":
                origin_host = urlsplit(origin).hostname or ""
                if origin_host.lower() != host.lower() and not (
                    is_loopback_host(origin_host) and is_loopback_host(host)
                ):
                    return _error(f"Origin {origin!r}: cross-site requests are refused", 403, None)
        response: Response = await call_next(request)
        for name, value in _SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        reason = "not found" if exc.status_code == 404 else str(exc.detail)
        return _error(f"{request.method} {request.url.path}: {reason}", exc.status_code, None)

    @app.exception_handler(_Refused)
    async def refused(request: Request, exc: _Refused) -> Response:
        if exc.status == 401:
            if _wants_json(request):
                return JSONResponse({"error": "log in first"}, status_code=401)
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
        if _wants_json(request):
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        return _error(str(exc), exc.status, _session(request))

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        if _wants_json(request):
            return JSONResponse({"error": str(exc)}, status_code=404)
        return _error(str(exc), 404, _session(request))

    def _session(request: Request) -> SessionInfo | None:
        return signer.check(request.cookies.get(SESSION_COOKIE))

    def _user(request: Request) -> SessionInfo:
        info = _session(request)
        if info is None:
            raise _Refused(401, "log in first")
        return info

    def _operator(request: Request) -> SessionInfo:
        info = _user(request)
        if not info.user.is_operator:
            raise _Refused(403, f"{request.url.path}: for the operator only")
        return info

    async def _form(request: Request, info: SessionInfo) -> Any:
        form = await request.form()
        given = str(form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or "")
        if not signer.csrf_ok(info.sid, given):
            raise _Refused(403, f"{CSRF_FIELD}: missing or wrong (reload the page)")
        return form

    def _csrf_header(request: Request, info: SessionInfo) -> None:
        if not signer.csrf_ok(info.sid, request.headers.get(CSRF_HEADER, "")):
            raise _Refused(403, f"{CSRF_HEADER}: missing or wrong (reload the page)")

    def page(name: str, info: SessionInfo | None, status: int = 200, **context: Any) -> HTMLResponse:
        html = _templates.get_template(name).render(
            user=info.user if info else None,
            csrf_field=CSRF_FIELD,
            csrf_token=signer.csrf(info.sid) if info else "",
            prefect_ui=options.prefect_ui,
            **context,
        )
        return HTMLResponse(html, status_code=status)

    # -- login ---------------------------------------------------------------------------------------------------

    @app.get("/healthz")
    def healthz() -> Response:
        return JSONResponse({"ok": True})

    @app.get("/login", response_class=HTMLResponse)
    def login_page(request: Request, next: str = "/") -> Response:
        nonce = request.cookies.get(NONCE_COOKIE) or secrets.token_urlsafe(16)
        response = page("login.html", None, next_path=_local_path(next), login_token=signer.csrf(nonce), error=None)
        response.set_cookie(NONCE_COOKIE, nonce, httponly=True, samesite="lax", secure=options.secure_cookies)
        return response

    @app.post("/login")
    async def login(request: Request) -> Response:
        form = await request.form()
        nonce = request.cookies.get(NONCE_COOKIE, "")
        next_path = _local_path(str(form.get("next") or "/"))
        if not nonce or not signer.csrf_ok(nonce, str(form.get(CSRF_FIELD) or "")):
            return _error(f"{CSRF_FIELD}: missing or wrong (reload the login page)", 403, None)
        name, client = str(form.get("name") or ""), request.client.host if request.client else ""
        wait = throttle.wait_seconds(name, client)
        if wait > 0:
            return page(
                "login.html",
                None,
                429,
                next_path=next_path,
                login_token=signer.csrf(nonce),
                error=f"too many failed logins: try again in {wait / 60:.0f} min",
            )
        user = authenticate(name, str(form.get("password") or ""))
        if user is None:
            throttle.failed(name, client)
            return page(
                "login.html",
                None,
                401,
                next_path=next_path,
                login_token=signer.csrf(nonce),
                error="wrong name or password",
            )
        throttle.succeeded(name)
        response = RedirectResponse(next_path, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            signer.issue(user),
            max_age=SESSION_SECONDS,
            httponly=True,
            samesite="lax",
            secure=options.secure_cookies,
        )
        response.delete_cookie(NONCE_COOKIE)
        return response

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        await _form(request, _user(request))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    # -- projects ------------------------------------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request) -> Response:
        info = _user(request)
        return page("home.html", info, projects=projects.projects_for(info.user), error=None)

    @app.post("/projects")
    async def new_project(request: Request) -> Response:
        info = _user(request)
        form = await _form(request, info)
        try:
            project = projects.create_project(
                info.user,
                str(form.get("name") or ""),
                str(form.get("brand") or ""),
                require_approval=_checked(form, "require_approval", default=True),
            )
        except ConsoleError as exc:
            return page("home.html", info, 400, projects=projects.projects_for(info.user), error=str(exc))
        return RedirectResponse(f"/projects/{project.id}", status_code=303)

    @app.get("/projects/{project_id}", response_class=HTMLResponse)
    def project_page(request: Request, project_id: str) -> Response:
        info = _user(request)
        project = projects.get_project(info.user, project_id)
        rows = []
        busy = False
        for upload in projects.uploads_of(project.id):
            run = projects.run_of(upload)
            progress = submitter.progress(upload.run_ref) if upload.run_ref else None
            busy = busy or (upload.status == "submitted" and (run is None or run.status == "running"))
            clips = projects.clips_of(upload)
            rows.append({"upload": upload, "run": run, "progress": progress, "clips": clips})
        return page(
            "project.html",
            info,
            project=project,
            rows=rows,
            busy=busy,
            max_bytes=options.max_upload_bytes,
            chunk_bytes=min(options.chunk_bytes, projects.MAX_CHUNK),
        )

    @app.post("/projects/{project_id}/approval")
    async def project_approval(request: Request, project_id: str) -> Response:
        info = _user(request)
        form = await _form(request, info)
        projects.set_require_approval(info.user, project_id, _checked(form, "require_approval", default=False))
        return RedirectResponse(f"/projects/{project_id}", status_code=303)

    # -- uploads (JSON, driven by static/upload.js) ---------------------------------------------------------------

    @app.post("/projects/{project_id}/uploads")
    async def start_upload(request: Request, project_id: str) -> Response:
        info = _user(request)
        form = await _form(request, info)
        products_file = form.get("products")
        products_bytes, products_name = b"", ""
        if products_file is not None and hasattr(products_file, "read"):
            products_bytes = await products_file.read(1024 * 1024 + 1)
            products_name = str(getattr(products_file, "filename", "") or "products.csv")
            if len(products_bytes) > 1024 * 1024:
                return JSONResponse({"error": "products: the list is over 1 MiB"}, status_code=400)
        try:
            size = int(str(form.get("size") or ""))
        except ValueError:
            return JSONResponse({"error": "size: must be a whole number of bytes"}, status_code=400)
        try:
            upload = await run_in_threadpool(
                projects.start_upload,
                info.user,
                project_id,
                str(form.get("filename") or ""),
                size,
                products_bytes,
                products_name,
                root,
                options.max_upload_bytes,
            )
        except NotFound:
            raise
        except ConsoleError as exc:
            return JSONResponse({"error": str(exc), "lines": _lines(str(exc))}, status_code=400)
        return JSONResponse({"id": upload.id, "received": 0, "size": upload.size})

    @app.get("/uploads/{upload_id}")
    def upload_state(request: Request, upload_id: str) -> Response:
        info = _user(request)
        upload, _ = projects.get_upload(info.user, upload_id)
        part = projects.incoming(upload)
        received = part.stat().st_size if upload.status == "receiving" and part.exists() else upload.received
        return JSONResponse(
            {"id": upload.id, "received": received, "size": upload.size, "status": upload.status, "error": upload.error}
        )

    @app.put("/uploads/{upload_id}")
    async def upload_chunk(request: Request, upload_id: str, offset: int) -> Response:
        info = _user(request)
        _csrf_header(request, info)
        body = await request.body()
        try:
            upload = await run_in_threadpool(projects.append_chunk, info.user, upload_id, offset, body)
        except OffsetMismatch as exc:
            return JSONResponse({"error": str(exc), "received": exc.received}, status_code=409)
        except NotFound:
            raise
        except ConsoleError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"received": upload.received, "size": upload.size})

    @app.post("/uploads/{upload_id}/finish")
    async def finish_upload(request: Request, upload_id: str) -> Response:
        info = _user(request)
        _csrf_header(request, info)
        try:
            upload = await run_in_threadpool(projects.finish_upload, info.user, upload_id)  # probing takes a while
        except NotFound:
            raise
        except ConsoleError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        if upload.status == "rejected":
            return JSONResponse({"status": upload.status, "error": upload.error}, status_code=400)
        if upload.status == "stored":
            _, project = projects.get_upload(info.user, upload_id)
            job = ClipJob(
                source=upload.path,
                brand=project.brand,
                out=str(Path(upload.path).parent / "clips"),
                products=upload.products_path,
                **options.job_defaults,
            )
            try:
                ref = await run_in_threadpool(submitter.submit, job)
            except Exception as exc:  # noqa: BLE001 - e.g. the Prefect server went away: say so, keep the file
                reason = f"{upload.filename}: the run could not be started ({str(exc).splitlines()[0][:200]})"
                projects.mark_unsubmitted(upload.id, reason)
                return JSONResponse({"status": "stored", "error": reason}, status_code=503)
            projects.mark_submitted(upload.id, ref)
        return JSONResponse({"status": "submitted", "project": upload.project_id})

    # -- clips ---------------------------------------------------------------------------------------------------

    @app.get("/clips/{clip_id}/video")
    def clip_video(request: Request, clip_id: str) -> Response:
        info = _user(request)
        clip = projects.get_clip(info.user, clip_id)
        if not clip.path.is_file():
            raise NotFound(f"clip {clip_id[:60]}: its file is gone")
        # FileResponse answers Range requests (206), which the video element needs to seek
        return FileResponse(clip.path, media_type="video/mp4", headers={"Cache-Control": "private, no-store"})

    @app.post("/clips/{clip_id}/review")
    async def review(request: Request, clip_id: str) -> Response:
        info = _user(request)
        form = await _form(request, info)
        try:
            clip = projects.review_clip(info.user, clip_id, str(form.get("verdict") or ""), str(form.get("note") or ""))
        except NotFound:
            raise
        except ConsoleError as exc:
            raise _Refused(400, str(exc)) from None
        return RedirectResponse(_back(form, clip), status_code=303)

    @app.post("/clips/{clip_id}/edit")
    async def edit(request: Request, clip_id: str) -> Response:
        info = _operator(request)
        form = await _form(request, info)
        try:
            clip = projects.edit_clip(info.user, clip_id, str(form.get("title") or ""), str(form.get("hook") or ""))
        except NotFound:
            raise
        except ConsoleError as exc:
            raise _Refused(400, str(exc)) from None
        return RedirectResponse(_back(form, clip), status_code=303)

    # -- operator ------------------------------------------------------------------------------------------------

    @app.get("/operator/clips", response_class=HTMLResponse)
    def gallery(request: Request) -> Response:
        info = _operator(request)
        return page("clips.html", info, clips=projects.recent_clips())

    @app.get("/operator/calendar", response_class=HTMLResponse)
    def calendar_page(request: Request, start: str | None = None, notice: str | None = None) -> Response:
        info = _operator(request)
        try:
            first = date.fromisoformat(start) if start else date.today()
        except ValueError:
            raise _Refused(400, f"start {str(start)[:20]!r}: give a date YYYY-MM-DD") from None
        cal = outbox.calendar(first)
        return page(
            "calendar.html",
            info,
            cal=cal,
            prev=(first - timedelta(days=7)).isoformat(),
            next=(first + timedelta(days=7)).isoformat(),
            notice=notice,
            error=None,
        )

    @app.post("/posts/{post_id}/move")
    async def move(request: Request, post_id: str) -> Response:
        info = _operator(request)
        form = await _form(request, info)
        try:
            slot = datetime.fromisoformat(str(form.get("slot") or ""))
        except ValueError:
            raise _Refused(400, f"slot {str(form.get('slot'))[:30]!r}: give a local date and time") from None
        try:
            moved = outbox.move_post(post_id, slot, info.user.name)
        except ConsoleError as exc:
            raise _Refused(409, str(exc)) from None
        notice = f"post {post_id[:12]} moved to {moved.slot_local:%Y-%m-%d %H:%M}"
        return RedirectResponse(f"/operator/calendar?start={_week_of(form)}&notice={quote(notice)}", status_code=303)

    @app.post("/posts/{post_id}/cancel")
    async def cancel(request: Request, post_id: str) -> Response:
        info = _operator(request)
        form = await _form(request, info)
        try:
            outbox.cancel_post(post_id, info.user.name)
        except ConsoleError as exc:
            raise _Refused(409, str(exc)) from None
        notice = f"post {post_id[:12]} cancelled"
        return RedirectResponse(f"/operator/calendar?start={_week_of(form)}&notice={quote(notice)}", status_code=303)

    @app.get("/operator/problems", response_class=HTMLResponse)
    def problems(request: Request, notice: str | None = None) -> Response:
        info = _operator(request)
        return page("problems.html", info, posts=outbox.problem_posts(), notice=notice)

    @app.post("/posts/{post_id}/retry")
    async def retry(request: Request, post_id: str) -> Response:
        info = _operator(request)
        await _form(request, info)
        try:
            notice = outbox.retry_post(post_id, info.user.name)
        except ConsoleError as exc:
            raise _Refused(409, str(exc)) from None
        return RedirectResponse(f"/operator/problems?notice={quote(notice)}", status_code=303)

    @app.get("/operator/accounts", response_class=HTMLResponse)
    def accounts_page(request: Request) -> Response:
        from accounts.registry import list_accounts

        info = _operator(request)
        accounts = list_accounts()
        needing = {a.platform for a in accounts if a.status == "needs_login"}
        browser = {platform for platform in needing if browser_login_supported(platform)}
        return page("accounts.html", info, accounts=accounts, browser_login=browser)

    @app.post("/accounts/{account_id}/login")
    async def start_login(request: Request, account_id: int) -> Response:
        info = _operator(request)
        await _form(request, info)
        _account_or_404(account_id)
        logins.start(account_id)
        return RedirectResponse(f"/operator/accounts/{account_id}/login", status_code=303)

    @app.get("/operator/accounts/{account_id}/login", response_class=HTMLResponse)
    def login_status(request: Request, account_id: int) -> Response:
        info = _operator(request)
        account = _account_or_404(account_id)
        return page("account_login.html", info, account=account, state=logins.state(account_id))

    @app.get("/operator/accounts/{account_id}/login.png")
    def login_picture(request: Request, account_id: int) -> Response:
        _operator(request)
        state = logins.state(account_id)
        if state is None or state.picture is None:
            raise NotFound(f"account {account_id}: no login picture now")
        return Response(state.picture, media_type="image/png", headers={"Cache-Control": "no-store"})

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        files = {"upload.js": "text/javascript", "console.css": "text/css"}
        if name not in files:
            raise NotFound(f"/static/{name[:40]}: not found")
        return FileResponse(HERE / "static" / name, media_type=files[name])

    return ConsoleApp(app, signer, submitter)


def _account_or_404(account_id: int) -> Any:
    from accounts.errors import AccountError
    from accounts.registry import get_account

    try:
        return get_account(account_id)
    except AccountError:
        raise NotFound(f"account {account_id}: not found") from None


def _checked(form: Any, name: str, default: bool) -> bool:
    """A checkbox sent after a hidden ``off`` field of the same name: ``on`` among the values when ticked, only
    ``off`` when not; a form without the field (a script) gets ``default``."""
    values = [str(v) for v in form.getlist(name)]
    return "on" in values if values else default


def _wants_json(request: Request) -> bool:
    return (
        request.method == "PUT"
        or request.url.path.startswith("/uploads")
        or (request.method == "POST" and request.url.path.endswith("/uploads"))
    )


def _local_path(target: str) -> str:
    """Only a path on this site (no scheme, no host, no ``//``): the login's ``next`` is no open redirect."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def _back(form: Any, clip: projects.ClipView) -> str:
    back = _local_path(str(form.get("back") or ""))
    if back == "/" and clip.project_id:
        back = f"/projects/{clip.project_id}"
    return f"{back}#clip-{clip.id}"


def _week_of(form: Any) -> str:
    try:
        return date.fromisoformat(str(form.get("start") or "")).isoformat()
    except ValueError:
        return date.today().isoformat()


def _lines(message: str) -> list[str]:
    """A products error as one entry per bad line (the loader joins them with " | " after the file's name)."""
    head, _, rest = message.partition(": ")
    return [f"{head}: {part.strip()}" for part in rest.split(" | ")] if rest else [message]


def _error(message: str, status: int, info: SessionInfo | None) -> HTMLResponse:
    """A one-line error page (the same line a terminal would print)."""
    html = _templates.get_template("error.html").render(
        message=message, user=info.user if info else None, csrf_field=CSRF_FIELD, csrf_token="", prefect_ui=None
    )
    return HTMLResponse(html, status_code=status)


def user_of(signer: Signer, cookie: str) -> User | None:
    """The user of a session cookie (tests)."""
    info = signer.check(cookie)
    return info.user if info else None
