"""The FastAPI application: creator pages, the account API, the admin API, error shapes and fault injection.

``create_app(config)`` builds everything around one :class:`~sandbox.service.Platform`. Every expected refusal
becomes ``{"error": code, "message": ...}`` on ``/api`` routes and an on-page message on pages; an unexpected bug
is logged server-side and answered with a one-line ``internal_error`` (never a traceback to the client).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox.config import SandboxConfig
from sandbox.errors import SandboxError
from sandbox.service import Platform

log = logging.getLogger("sandbox")

_FAULT_PREFIXES = ("/api/v1/", "/creator")
# the requests that publish: the late-commit fault holds only these
_PUBLISH_ROUTES = (("POST", "/api/v1/video/publish"), ("POST", "/creator/publish"))


def create_app(config: SandboxConfig) -> FastAPI:
    """Build the sandbox app over a platform for ``config`` (opens or creates its database)."""
    from sandbox.alliance import alliance_router, cdn_router
    from sandbox.api import admin_router, api_router
    from sandbox.pages import pages_router

    platform = Platform(config)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        platform.close()

    app = FastAPI(
        lifespan=lifespan,
        title="mcn sandbox platform",
        description="A local short-video platform with an affiliate program, for tests and demos.",
        version="1",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.platform = platform
    app.include_router(api_router)
    app.include_router(admin_router)
    app.include_router(pages_router)
    app.include_router(alliance_router)
    app.include_router(cdn_router)
    app.add_exception_handler(SandboxError, _sandbox_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected_error)
    app.add_middleware(FaultMiddleware, platform=platform)
    return app


def wants_json(request: Request) -> bool:
    """API routes answer JSON; pages answer HTML (the creator site's XHR endpoints are under /creator/api)."""
    path = request.url.path
    return path.startswith("/api/") or path.startswith("/creator/api/") or path.startswith("/login/qr/")


def error_response(request: Request, err: SandboxError) -> Response:
    """The answer for an expected refusal, in the form the route's clients read."""
    headers = {"Retry-After": str(err.extra["retry_after"])} if "retry_after" in err.extra else None
    if wants_json(request):
        return JSONResponse(err.body(), status_code=err.status, headers=headers)
    from sandbox.pages import render_message

    return render_message(request, "出错了 (error)", err.message, status=err.status, code=err.code)


async def _sandbox_error(request: Request, err: SandboxError) -> Response:
    return error_response(request, err)


async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(p for p in first.get("loc", ()) if isinstance(p, str) and p not in ("body", "query", "path"))
    message = f"{where}: {first.get('msg', 'invalid value')}" if where else str(first.get("msg", "invalid request"))
    return error_response(request, SandboxError("invalid_request", message, status=422))


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    return error_response(request, SandboxError(code, message, status=exc.status_code))


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(request, SandboxError("internal_error", "internal error (see the server log)", status=500))


class FaultMiddleware:
    """Injects the configured faults into creator pages and the account API (never admin routes).

    Pure ASGI (no BaseHTTPMiddleware) so the fast path, with every knob off, costs one attribute read.
    """

    def __init__(self, app: ASGIApp, platform: Platform) -> None:
        self.app = app
        self.platform = platform

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.platform.faults.active or not scope["path"].startswith(_FAULT_PREFIXES):
            await self.app(scope, receive, send)
            return
        faults = self.platform.faults
        error, slow, timeout = self.platform.fault_draws()
        is_api = scope["path"].startswith(("/api/", "/creator/api/"))
        if error:
            await _send_fault(send, is_api, 503, "server_error", "服务繁忙, 请稍后重试 (server error, try again later)")
            return
        if slow:
            await asyncio.sleep(faults.slow_seconds)
        if (scope["method"], scope["path"]) in _PUBLISH_ROUTES and self.platform.late_commit_draw():
            await self._late_commit(scope, receive, send, faults.late_commit_seconds)
            return
        if not timeout:
            await self.app(scope, receive, send)
            return

        # Let the request really happen (a publish is made), swallow its answer, answer late with a 504: the
        # client cannot tell whether its request took effect, as with a real gateway timeout.
        async def swallow(message: Message) -> None:
            return None

        await self.app(scope, receive, swallow)
        await asyncio.sleep(faults.timeout_seconds)
        await _send_fault(send, is_api, 504, "gateway_timeout", "请求超时 (gateway timeout)")

    async def _late_commit(self, scope: Scope, receive: Receive, send: Send, seconds: float) -> None:
        """Read the publish request whole, hold it ``seconds``, then let the platform handle it.

        The answer goes to the client if it is still waiting (a slow success); one that timed out is gone by then
        (the server drops the answer), and the post appears anyway: a commit after the client stopped waiting.
        """
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the request never arrived whole: nothing to commit
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        log.info("late commit: holding %s %s for %g s", scope["method"], scope["path"], seconds)
        await asyncio.sleep(seconds)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return {"type": "http.disconnect"}
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        status = 500

        async def forward(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)  # a no-op once the client is gone

        try:
            await self.app(scope, replay, forward)
        finally:
            self.platform.count_fault("late_commit_released")
            # the publish went through: the API answers 200; the creator form redirects (303) to the new post and
            # shows a refusal on the form itself
            if status == 303 if scope["path"] == "/creator/publish" else status < 300:
                self.platform.count_fault("late_commit_committed")


async def _send_fault(send: Send, is_api: bool, status: int, code: str, message: str) -> None:
    if is_api:
        body = json.dumps({"error": code, "message": message}, ensure_ascii=False).encode()
        content_type = b"application/json"
    else:
        body = (
            f'<!doctype html><meta charset="utf-8"><title>{status}</title>'
            f'<p data-testid="fault" data-error-code="{code}">{message}</p>'
        ).encode()
        content_type = b"text/html; charset=utf-8"
    headers: list[tuple[bytes, bytes]] = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def platform_of(request: Request) -> Platform:
    """The platform behind the app serving ``request``."""
    return cast(Platform, request.app.state.platform)
