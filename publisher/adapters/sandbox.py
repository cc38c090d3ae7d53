"""The sandbox platform (``mcn sandbox serve``): publish through its account API (httpx) or its creator pages
(Playwright in real Chromium), reconcile lost answers, check logins and capture new ones.

Which path publishes (``via``): ``api`` needs the account's ``api_token``; ``pages`` needs its ``session`` (a
browser storage state); ``auto`` (the default, ``MCN_SANDBOX_PUBLISH_VIA``) takes the API when a token is stored,
else the pages. ``find`` and ``check_session`` follow the same path as ``publish``.

The line between "retry" and "outcome unknown" is the publish request. Everything before it (upload init, the
PUT of the bytes, opening and filling the upload page) failing with a 5xx, a network error or a timeout is a
:class:`RetryableError`: nothing can have been published. Once the publish request may have left (the API call;
the click on 发布) a timeout, a 504, a reset connection or any 5xx is :class:`OutcomeUnknown`: the sandbox's
timeout fault really publishes and then answers 504 late, exactly like a gateway on a real platform, so the
dispatcher must reconcile with :meth:`SandboxAdapter.find` instead of posting again. A connection that could not
even be opened (connect error or connect timeout) sent nothing and stays retryable.

Every API publish sends the post's idempotency key (``Idempotency-Key``): the sandbox answers a key the account
already published with by that post, so a retry after a lost answer, or a publish the platform commits after the
client gave up, never makes a second post. The creator pages have no such field; there only the dispatcher's
reconcile grace protects.

Reconciliation: API posts carry the package's tracking code as ``external_info``; ``find`` pages through
``GET /api/v1/video/list`` (newest first) for it. The creator pages have no external-info field (as on real
platforms), so in pages mode ``find`` reads ``/creator/manage`` and matches the tracking code or, for rows without
one, the exact title (and the scheduled time when the post was scheduled): the newest such row wins.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from playwright.sync_api import Browser, BrowserContext, Page
from playwright.sync_api import Error as PlaywrightError

from mcn.tables import as_utc
from publisher.adapters.base import (
    AccountRestricted,
    Credentials,
    OutcomeUnknown,
    PlatformAdapter,
    PostPackage,
    PostRejected,
    ProgressCallback,
    PublishError,
    PublishReceipt,
    RateLimited,
    RemotePost,
    RetryableError,
    SessionExpired,
    register_adapter,
    video_file,
)
from publisher.adapters.browser import BrowserHost, by_testid, is_under, screenshot_on_failure, wait_until
from publisher.adapters.insights import OrderPage, PostMetrics

log = logging.getLogger(__name__)

VIA_CHOICES = ("auto", "api", "pages")
#: files larger than this go up in Content-Range chunks of this size (the sandbox and Douyin both accept them)
UPLOAD_CHUNK_BYTES = 64 * 1024 * 1024
_READ_BLOCK = 1024 * 1024
#: the slowest upload rate a bounded wait allows for (bytes/s), on top of the adapter's timeout
_MIN_UPLOAD_RATE = 512 * 1024
#: find stops after this many pages of 100 posts (2,000 posts: months of a capped account)
FIND_MAX_PAGES = 20
_FIND_PAGE_SIZE = 100
#: a scheduled post is created at most 14 days before its publish time; posts published earlier than that (plus a
#: day of margin) cannot be it, and everything below them in the newest-first list is older still
_FIND_LOOKBACK = timedelta(days=15)
_DEFAULT_RETRY_AFTER = 600.0
_CST = timezone(timedelta(hours=8))  # the creator pages take schedule times in UTC+8

_SESSION_CODES = {"missing_token", "invalid_token", "token_expired", "not_logged_in", "session_expired"}
# refusals that leave nothing published and that a fresh attempt (a new upload) can get past
_RETRY_CODES = {
    "server_error",
    "network_error",
    "upload_not_found",
    "upload_incomplete",
    "upload_complete",
    "upload_required",
    "bad_content_range",
    "empty_upload",
}
_UNKNOWN_CODES = {"gateway_timeout", "internal_error"}
_TRY_AGAIN = re.compile(r"try again in (\d+(?:\.\d+)?) s")

# One round trip that tells where the upload page is: reading the DOM this way cannot hang on a missing element.
_UPLOAD_STATE_JS = """() => {
  const box = document.querySelector('[data-testid="upload-progress"]');
  const err = document.querySelector('[data-testid="upload-error"]');
  const bar = document.getElementById('upload-bar');
  return {path: location.pathname, state: box ? box.dataset.state : null,
          percent: bar ? Number(bar.value) : 0,
          code: err ? err.dataset.errorCode : '', message: err ? err.textContent : ''};
}"""
_OUTCOME_JS = """() => {
  const q = (id) => document.querySelector(`[data-testid="${id}"]`);
  const text = (el) => (el ? el.textContent.trim() : '');
  const path = location.pathname;
  if (path === '/login' || path.startsWith('/login/')) {
    return {kind: 'login', expired: location.search.includes('expired=1')};
  }
  const fault = q('fault');
  if (fault) { return {kind: 'fault', code: fault.dataset.errorCode || '', message: text(fault)}; }
  if (path.startsWith('/creator/posts/')) {
    const id = q('post-id');
    if (!id || !q('publish-success')) { return null; }
    const status = q('post-status');
    return {kind: 'posted', post_id: text(id), status: text(status),
            limited: status ? status.dataset.limited === 'true' : false};
  }
  const form = q('form-error');
  if (form) { return {kind: 'form', code: form.dataset.errorCode || '', message: text(form)}; }
  const page = q('page-error');
  if (page) { return {kind: 'page', code: page.dataset.errorCode || '', message: text(page)}; }
  return null;
}"""
_MANAGE_ROWS_JS = """rows => rows.map(r => ({
  post_id: r.dataset.postId || '', external_info: r.dataset.externalInfo || '', title: r.dataset.title || '',
  publish_timestamp: r.dataset.publishTimestamp ? Number(r.dataset.publishTimestamp) : null}))"""


@register_adapter("sandbox")
class SandboxAdapter(PlatformAdapter):
    """Publishes to the sandbox platform through its API or its creator pages (see the module docstring).

    One HTTP client and (when pages are used) one Chromium per adapter, reused across posts; each post gets a
    fresh browser context from the account's stored session. Use one adapter from one thread.
    """

    name = "sandbox"
    method = "api"  # the API when a token is stored; the creator pages (browser) otherwise or when told
    secret_kinds = ("api_token", "session")

    def __init__(
        self,
        base_url: str | None = None,
        via: str | None = None,
        timeout_s: float | None = None,
        headless: bool | None = None,
        screenshot_dir: Path | None = None,
        *,
        browser: Browser | None = None,
        upload_chunk_bytes: int = UPLOAD_CHUNK_BYTES,
    ) -> None:
        """Defaults come from ``mcn.settings``: ``sandbox_url``, ``sandbox_publish_via``,
        ``publish_request_timeout_seconds``, ``browser_headless`` and ``<data_dir>/screenshots``. ``browser`` lends
        an open Chromium (tests); otherwise one is launched on first use of the pages. ``upload_chunk_bytes`` is the
        Content-Range chunk size for large files."""
        settings = None
        if base_url is None or via is None or timeout_s is None or headless is None or screenshot_dir is None:
            from mcn.settings import get_settings

            settings = get_settings()
        self.base_url = (base_url or (settings.sandbox_url if settings else "")).rstrip("/")
        self.via = (via or (settings.sandbox_publish_via if settings else "auto")).strip().lower()
        if self.via not in VIA_CHOICES:
            raise ValueError(f"sandbox publish path {self.via!r} is not one of {', '.join(VIA_CHOICES)}")
        if timeout_s is None:
            timeout_s = settings.publish_request_timeout_seconds if settings else 30.0
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        if upload_chunk_bytes < 1:
            raise ValueError(f"upload_chunk_bytes must be positive, got {upload_chunk_bytes}")
        self.timeout_s = float(timeout_s)
        self.screenshot_dir = screenshot_dir or (settings.resolved_data_dir / "screenshots" if settings else Path("."))
        self.upload_chunk_bytes = upload_chunk_bytes
        headless = headless if headless is not None else (settings.browser_headless if settings else True)
        self._host = BrowserHost(headless=headless, browser=browser)
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(self.timeout_s, connect=min(10.0, self.timeout_s)),
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"SandboxAdapter(base_url={self.base_url!r}, via={self.via!r})"

    @property
    def request_timeout_s(self) -> float:
        return self.timeout_s

    # -- the interface ---------------------------------------------------------------------------------------

    def publish(
        self, post: PostPackage, credentials: Credentials, progress: ProgressCallback | None = None
    ) -> PublishReceipt:
        """Upload ``post.video_path`` and publish it with its labels, link and tracking code (module docstring
        for which errors mean what)."""
        problem = post.compliance_problem()
        if problem:
            raise PostRejected("compliance", f"post {post.post_id}: {problem}")
        video = video_file(post.video_path)
        path, secret = self._path_for(credentials)
        if path == "api":
            return self._publish_api(post, video, secret, progress)
        return self._publish_pages(post, video, secret, credentials, progress)

    def find(self, post: PostPackage, credentials: Credentials) -> RemotePost | None:
        """The sandbox's post for ``post`` (tracking code; title in pages mode), or ``None``; bounded scan."""
        path, secret = self._path_for(credentials)
        if path == "api":
            return self._find_api(post, secret)
        return self._find_pages(post, secret)

    def check_session(self, credentials: Credentials) -> bool:
        """API: ``GET /api/v1/account`` answers 200 (401: expired). Pages: the upload page opens without a
        detour through ``/login``. RetryableError when the sandbox cannot be asked."""
        path, secret = self._path_for(credentials)
        if path == "api":
            response = self._request("GET", "/api/v1/account", secret, stage="account check")
            if response.status_code == 401:
                return False
            if response.status_code != 200:
                raise self._http_error(response, "account check")
            return True
        with self._host.context(secret, base_url=self.base_url, timeout_s=self.timeout_s) as context:
            page = _new_page(context)
            try:
                self._open(page, "/creator/upload", "session check")
            except SessionExpired:
                return False
            return True

    def login_url(self) -> str:
        return f"{self.base_url}/login"

    def capture_login(self, page: Any, timeout_s: float) -> dict[str, Any]:
        """Wait until the operator has logged in on ``page`` (QR approval or password), then authorise mcn on
        ``/creator/developer`` and return ``{"session": storage_state, "api_token": token}``."""

        def logged_in() -> bool | None:
            url = str(page.url)
            return True if self._same_origin(url) and not is_under(url, "/login") else None

        if wait_until(logged_in, timeout_s, page) is None:
            raise SessionExpired("login_timeout", f"nobody logged in on {self.login_url()} within {timeout_s:g} s")
        try:
            page.goto(f"{self.base_url}/creator/developer", timeout=self.timeout_s * 1000)
            if is_under(page.url, "/login"):
                raise SessionExpired("login_lost", "the new login was refused by /creator/developer; log in again")
            page.click(by_testid("authorize-button"), timeout=self.timeout_s * 1000)
            token = page.locator(by_testid("api-token")).inner_text(timeout=self.timeout_s * 1000).strip()
        except PlaywrightError as exc:
            raise RetryableError(
                "login_capture_failed", f"authorising mcn on the sandbox failed: {_first_line(exc)}"
            ) from None
        if not token:
            raise RetryableError("login_capture_failed", "the developer page showed no API token")
        return {"session": page.context.storage_state(), "api_token": token}

    def close(self) -> None:
        """Close the HTTP client and the browser this adapter launched."""
        self._http.close()
        self._host.close()

    # -- choosing the path -----------------------------------------------------------------------------------

    def _path_for(self, credentials: Credentials) -> tuple[str, Any]:
        token, session = credentials.get("api_token"), credentials.get("session")
        if self.via == "api" or (self.via == "auto" and token):
            if not token:
                raise SessionExpired("no_api_token", f"account {credentials.account_id} has no stored API token")
            return "api", str(token)
        if not session:
            raise SessionExpired(
                "no_session", f"account {credentials.account_id} has no stored sandbox login (session or API token)"
            )
        return "pages", session

    def _same_origin(self, url: str) -> bool:
        a, b = urlsplit(url), urlsplit(self.base_url)
        return (a.scheme, a.netloc) == (b.scheme, b.netloc)

    # -- API -------------------------------------------------------------------------------------------------

    def _request(self, method: str, path: str, token: str, stage: str, **kwargs: Any) -> httpx.Response:
        """One API call; transport failures become RetryableError, or OutcomeUnknown on the publish request when
        the request may have been sent (anything but a connection that could not be opened)."""
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        try:
            return self._http.request(method, path, headers=headers, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise RetryableError("network_error", f"sandbox {stage}: cannot connect ({_first_line(exc)})") from None
        except httpx.TransportError as exc:
            what = "timed out" if isinstance(exc, httpx.TimeoutException) else f"failed ({_first_line(exc)})"
            if stage == "publish":
                raise OutcomeUnknown(
                    "publish_answer_lost", f"sandbox publish {what} after the request was sent"
                ) from None
            raise RetryableError("network_error", f"sandbox {stage} {what}") from None

    def _http_error(self, response: httpx.Response, stage: str) -> PublishError:
        body = _json_or_empty(response)
        code = str(body.get("error") or f"http_{response.status_code}")
        message = str(body.get("message") or response.reason_phrase or "request failed")
        retry_after = body.get("retry_after") or response.headers.get("retry-after")
        return classify(
            code,
            f"{message} (HTTP {response.status_code})",
            stage=stage,
            status=response.status_code,
            retry_after=_float_or_none(retry_after),
        )

    def _api_json(self, response: httpx.Response, stage: str) -> dict[str, Any]:
        if response.status_code != 200:
            raise self._http_error(response, stage)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise classify("bad_answer", "the answer is not a JSON object", stage=stage, status=502)
        return body

    def _publish_api(
        self, post: PostPackage, video: Path, token: str, progress: ProgressCallback | None
    ) -> PublishReceipt:
        size = video.stat().st_size
        init = self._api_json(
            self._request(
                "POST",
                "/api/v1/video/upload/init",
                token,
                "upload init",
                json={"file_size": size, "file_name": video.name[-255:]},
            ),
            "upload init",
        )
        upload_id, upload_url = str(init.get("upload_id") or ""), str(init.get("upload_url") or "")
        if not upload_id or not upload_url:
            raise RetryableError("bad_answer", "sandbox upload init: the answer has no upload_id/upload_url")
        self._put_file(upload_url, token, video, size, progress)
        if progress:
            progress("publish", 0.0)
        body: dict[str, Any] = {
            "upload_id": upload_id,
            "title": post.title,
            "description": post.description(),
            "is_aigc": True,
            "ad_disclosure": bool(post.ad_disclosure),
            "product_link": post.product_link,
            "product_id": post.product_id,
            "external_info": post.tracking_code,
            "hook_style": post.hook_style,
        }
        if post.schedule_at is not None:
            body["schedule_time"] = int(as_utc(post.schedule_at).timestamp())
        # Every attempt of one post sends the post's idempotency key: a retry after a lost answer (or a request the
        # platform commits after we gave up) gets the first post back instead of making a second.
        headers = {"Idempotency-Key": post.idempotency_key}
        response = self._request("POST", "/api/v1/video/publish", token, "publish", json=body, headers=headers)
        if response.status_code == 409:
            answer = _json_or_empty(response)
            if answer.get("error") == "upload_already_published" and answer.get("post_id"):
                # the upload was published by an earlier request whose answer was lost: that post is ours
                return self._receipt(str(answer["post_id"]), upload_id, False, "upload_already_published")
        answer = self._api_json(response, "publish")
        post_id = str(answer.get("post_id") or "")
        if not post_id:
            raise OutcomeUnknown("bad_answer", "sandbox publish: the answer has no post_id")
        if progress:
            progress("publish", 1.0)
        detail = str(answer.get("status") or "")
        if response.headers.get("idempotent-replayed") == "true":
            detail += " (an earlier attempt's post: the platform recognised the idempotency key)"
        if answer.get("limited"):
            detail += f" (limited: {answer.get('limited_reason') or 'throttled'})"
        return self._receipt(post_id, upload_id, bool(answer.get("limited")), detail)

    def _receipt(self, post_id: str, upload_id: str | None, limited: bool, detail: str) -> PublishReceipt:
        return PublishReceipt(
            remote_id=post_id,
            remote_url=f"{self.base_url}/creator/posts/{post_id}",
            upload_id=upload_id,
            limited=limited,
            detail=detail,
        )

    def _put_file(self, url: str, token: str, video: Path, size: int, progress: ProgressCallback | None) -> None:
        """PUT the bytes, streamed from disk: whole, or in Content-Range chunks when larger than one chunk."""
        sent = 0

        def blocks(fh: Any, length: int) -> Iterator[bytes]:
            nonlocal sent
            left = length
            while left > 0:
                block = fh.read(min(_READ_BLOCK, left))
                if not block:
                    raise RetryableError("video_changed", f"{video}: the file shrank while it was uploaded")
                left -= len(block)
                sent += len(block)
                if progress:
                    progress("upload", sent / size)
                yield block

        answer: dict[str, Any] = {}
        with video.open("rb") as fh:
            for start in range(0, size, self.upload_chunk_bytes):
                length = min(self.upload_chunk_bytes, size - start)
                headers = {"Content-Length": str(length), "Content-Type": "video/mp4"}
                if length < size:
                    headers["Content-Range"] = f"bytes {start}-{start + length - 1}/{size}"
                response = self._request("PUT", url, token, "upload", content=blocks(fh, length), headers=headers)
                answer = self._api_json(response, "upload")
        if not answer.get("complete"):
            raise RetryableError("upload_incomplete", f"sandbox upload: {sent} of {size} bytes were accepted")

    def _find_api(self, post: PostPackage, token: str) -> RemotePost | None:
        cutoff = as_utc(post.schedule_at) - _FIND_LOOKBACK if post.schedule_at is not None else None
        cursor = 0
        for _ in range(FIND_MAX_PAGES):
            response = self._request(
                "GET", "/api/v1/video/list", token, "find", params={"cursor": cursor, "count": _FIND_PAGE_SIZE}
            )
            if response.status_code >= 500:
                raise RetryableError("find_unavailable", f"sandbox find: HTTP {response.status_code}")
            page = self._api_json(response, "find")
            for row in page.get("posts") or []:
                if row.get("external_info") == post.tracking_code:
                    return self._remote(row, post.tracking_code)
                published = _float_or_none(row.get("publish_timestamp"))
                if cutoff is not None and published is not None and published < cutoff.timestamp():
                    return None
            if not page.get("has_more"):
                return None
            cursor = int(page.get("cursor") or 0)
        # Not reaching the end is not proof of absence: saying None here could publish the post a second time.
        raise RetryableError(
            "find_incomplete",
            f"sandbox find: post {post.post_id}: not in the newest {FIND_MAX_PAGES * _FIND_PAGE_SIZE} posts; "
            "check the account's post list by hand",
        )

    def _remote(self, row: dict[str, Any], tracking_code: str | None) -> RemotePost:
        post_id = str(row["post_id"])
        published = _float_or_none(row.get("publish_timestamp"))
        return RemotePost(
            remote_id=post_id,
            tracking_code=tracking_code,
            remote_url=f"{self.base_url}/creator/posts/{post_id}",
            published_at=datetime.fromtimestamp(published, UTC) if published is not None else None,
        )

    # -- creator pages ---------------------------------------------------------------------------------------

    def _open(self, page: Page, path: str, stage: str) -> None:
        """Go to a creator page; a detour to /login is SessionExpired, a 5xx or network failure RetryableError."""
        try:
            response = page.goto(path, timeout=self.timeout_s * 1000)
        except PlaywrightError as exc:
            raise RetryableError("network_error", f"sandbox {stage}: {_first_line(exc)}") from None
        if is_under(page.url, "/login"):
            expired = "expired=1" in page.url
            raise SessionExpired(
                "session_expired" if expired else "not_logged_in",
                f"sandbox {stage}: the stored login {'expired' if expired else 'is not valid'}; log in again",
            )
        if response is not None and response.status >= 400:
            marker = page.locator(f"{by_testid('fault')}, {by_testid('page-error')}").first
            try:
                error_code = marker.get_attribute("data-error-code", timeout=1000) or f"http_{response.status}"
            except PlaywrightError:
                error_code = f"http_{response.status}"
            raise RetryableError(error_code, f"sandbox {stage}: HTTP {response.status} on {path}")

    def _publish_pages(
        self,
        post: PostPackage,
        video: Path,
        session: Any,
        credentials: Credentials,
        progress: ProgressCallback | None,
    ) -> PublishReceipt:
        with self._host.context(session, base_url=self.base_url, timeout_s=self.timeout_s) as context:
            page = _new_page(context)
            with screenshot_on_failure(page, self.screenshot_dir, self.name, post.post_id):
                self._upload_on_page(page, video, progress)
                self._fill_form(page, post)
                receipt = self._submit_on_page(page, progress)
            try:
                credentials.renew("session", context.storage_state())
            except Exception as exc:  # noqa: BLE001 - the post is published; a lost session save must not undo that
                log.warning("sandbox: account %s: re-saving the session failed: %s", credentials.account_id, exc)
        return receipt

    def _upload_on_page(self, page: Page, video: Path, progress: ProgressCallback | None) -> None:
        self._open(page, "/creator/upload", "upload page")
        try:
            page.set_input_files(by_testid("upload-input"), str(video))
        except PlaywrightError as exc:
            raise RetryableError("page_changed", f"sandbox upload page: {_first_line(exc)}") from None

        def settled() -> dict[str, Any] | None:
            state = page.evaluate(_UPLOAD_STATE_JS)
            if is_under(str(state["path"]), "/login") or state["state"] in ("done", "error"):
                return dict(state)
            if progress:
                progress("upload", float(state["percent"] or 0) / 100)
            return None

        bound = self.timeout_s + video.stat().st_size / _MIN_UPLOAD_RATE
        state = wait_until(settled, bound, page)
        if state is None:
            raise RetryableError("upload_timeout", f"sandbox upload page: the upload did not finish in {bound:.0f} s")
        if is_under(str(state["path"]), "/login"):
            raise SessionExpired("session_expired", "sandbox upload: the stored login expired; log in again")
        if state["state"] == "error":
            code = str(state["code"] or "upload_failed")
            raise classify(code, str(state["message"]) or "upload failed", stage="upload")
        if progress:
            progress("upload", 1.0)

    def _fill_form(self, page: Page, post: PostPackage) -> None:
        try:
            page.fill(by_testid("title-input"), post.title)
            page.fill(by_testid("description-input"), post.description())
            page.check(by_testid("ai-declaration"))  # always: every mcn clip is AI-generated
            if post.ad_disclosure:
                page.check(by_testid("ad-disclosure"))
            link = post.product_link or (f"{self.base_url}/item/{post.product_id}" if post.product_id else None)
            if link:
                page.fill(by_testid("product-link"), link)
            if post.hook_style:
                page.fill(by_testid("hook-style"), post.hook_style)
            if post.schedule_at is not None:
                page.fill(by_testid("schedule-time"), page_time(post.schedule_at))
            button = page.locator(by_testid("publish-button"))
            button.wait_for(state="visible")
            if not button.is_enabled():
                raise RetryableError("page_changed", "sandbox upload page: the publish button stays disabled")
        except PlaywrightError as exc:
            raise RetryableError("page_changed", f"sandbox upload page: {_first_line(exc)}") from None

    def _submit_on_page(self, page: Page, progress: ProgressCallback | None) -> PublishReceipt:
        if progress:
            progress("publish", 0.0)
        # From the click on, the publish may have happened: every failure below is OutcomeUnknown unless the page
        # itself says it refused.
        try:
            page.locator(by_testid("publish-button")).click(no_wait_after=True)
        except PlaywrightError as exc:
            raise OutcomeUnknown("publish_click_failed", f"sandbox publish: {_first_line(exc)}") from None
        outcome = wait_until(lambda: page.evaluate(_OUTCOME_JS), self.timeout_s, page)
        if outcome is None:
            raise OutcomeUnknown("publish_timeout", f"sandbox publish: no answer page within {self.timeout_s:g} s")
        kind = outcome["kind"]
        if kind == "posted":
            if progress:
                progress("publish", 1.0)
            return self._receipt(str(outcome["post_id"]), None, bool(outcome["limited"]), str(outcome["status"]))
        if kind == "login":
            # the session is checked before anything is published; an expired one publishes nothing
            raise SessionExpired(
                "session_expired" if outcome["expired"] else "not_logged_in",
                "sandbox publish: the stored login expired; log in again",
            )
        code, message = str(outcome["code"] or "unknown"), str(outcome["message"])
        if kind == "form":  # the form came back with the platform's refusal: nothing was published
            raise classify(code, message, stage="publish form", refused=True, retry_after=_retry_hint(message))
        raise classify(code, message, stage="publish")  # a fault or error page: the publish may have happened

    def _find_pages(self, post: PostPackage, session: Any) -> RemotePost | None:
        with self._host.context(session, base_url=self.base_url, timeout_s=self.timeout_s) as context:
            page = _new_page(context)
            self._open(page, "/creator/manage", "find")
            try:
                rows = page.eval_on_selector_all(by_testid("post-row"), _MANAGE_ROWS_JS)
            except PlaywrightError as exc:
                raise RetryableError("page_changed", f"sandbox manage page: {_first_line(exc)}") from None
        scheduled = as_utc(post.schedule_at).timestamp() if post.schedule_at is not None else None
        for row in rows:  # newest first
            if row["external_info"]:
                if row["external_info"] == post.tracking_code:
                    return self._remote(row, post.tracking_code)
                continue
            if row["title"] != post.title.strip():
                continue
            published = row["publish_timestamp"]
            # the page takes minutes: a scheduled post lands within a minute of the package's time
            if scheduled is None or (isinstance(published, int | float) and abs(published - scheduled) <= 60):
                return self._remote(row, None)
        return None

    # -- insights: metrics and affiliate orders (API only; analytics.collect reads them) ---------------------

    def post_metrics(self, remote_id: str, credentials: Credentials) -> PostMetrics:
        """``GET /api/v1/video/{id}/metrics``: plays, completion, likes, product clicks and paid orders so far."""
        token = self._insights_token(credentials)
        path = f"/api/v1/video/{quote(remote_id, safe='')}/metrics"
        body = self._api_json(self._request("GET", path, token, "metrics"), "metrics")
        as_of = _float_or_none(body.get("as_of_timestamp"))
        return PostMetrics(
            remote_id=remote_id,
            as_of=datetime.fromtimestamp(as_of, UTC) if as_of is not None else datetime.now(UTC),
            plays=int(body.get("play_count") or 0),
            likes=int(body.get("like_count") or 0),
            product_clicks=int(body.get("product_click_count") or 0),
            completion_rate=_float_or_none(body.get("completion_rate")),
            comments=_int_or_none(body.get("comment_count")),
            shares=_int_or_none(body.get("share_count")),
            orders=_int_or_none(body.get("order_count")),
        )

    def post_published_at(self, remote_id: str, credentials: Credentials) -> datetime | None:
        """``GET /api/v1/video/{id}/status``: the publish time on the sandbox's simulated clock."""
        token = self._insights_token(credentials)
        path = f"/api/v1/video/{quote(remote_id, safe='')}/status"
        body = self._api_json(self._request("GET", path, token, "post status"), "post status")
        published = _float_or_none(body.get("publish_timestamp"))
        return datetime.fromtimestamp(published, UTC) if published is not None else None

    def order_page(
        self,
        credentials: Credentials,
        start: datetime | None,
        end: datetime | None,
        cursor: str | None,
        count: int,
    ) -> OrderPage:
        """``GET /api/v1/buyin/orders`` by update time (at most 90 days per window), one page after ``cursor``."""
        token = self._insights_token(credentials)
        params: dict[str, Any] = {"time_type": "update", "count": max(1, min(count, 100))}
        if start is not None:
            params["start_time"] = f"{as_utc(start).timestamp():.6f}"
        if end is not None:
            params["end_time"] = f"{as_utc(end).timestamp():.6f}"
        if cursor:
            params["cursor"] = cursor
        body = self._api_json(self._request("GET", "/api/v1/buyin/orders", token, "orders", params=params), "orders")
        orders = [o for o in body.get("orders") or [] if isinstance(o, dict)]
        return OrderPage(orders=orders, cursor=str(body.get("cursor") or ""), has_more=bool(body.get("has_more")))

    def _insights_token(self, credentials: Credentials) -> str:
        token = credentials.get("api_token")
        if not token:
            raise SessionExpired(
                "no_api_token", f"account {credentials.account_id}: metrics and orders need a stored API token"
            )
        return str(token)


def classify(
    code: str,
    message: str,
    *,
    stage: str,
    status: int | None = None,
    retry_after: float | None = None,
    refused: bool = False,
) -> PublishError:
    """The adapter error for a sandbox refusal ``code`` at ``stage`` ("publish" is the request that publishes).

    ``status`` is the HTTP status when known; ``refused`` says the platform answered with a refusal (a form error),
    so nothing was published whatever the code.
    """
    text = f"sandbox {stage}: {message}"
    on_publish = stage == "publish"
    if code in _SESSION_CODES or status == 401:
        return SessionExpired(code, text)
    if code == "spam_risk_too_many_posts":
        return AccountRestricted(code, text, retry_after)
    if code == "posting_too_often" or status == 429:
        return RateLimited(code, text, retry_after if retry_after is not None else _DEFAULT_RETRY_AFTER)
    if code == "upload_already_published":
        return OutcomeUnknown(code, text)  # published earlier under an id this answer did not carry
    if (status is not None and status >= 500) or code in _UNKNOWN_CODES:
        return OutcomeUnknown(code, text) if on_publish and not refused else RetryableError(code, text)
    if code in _RETRY_CODES:
        return RetryableError(code, text)
    if refused or (status is not None and 400 <= status < 500):
        return PostRejected(code, text)
    return OutcomeUnknown(code, text) if on_publish else RetryableError(code, text)


def page_time(when: datetime) -> str:
    """``when`` as the upload page's ``YYYY-MM-DD HH:MM`` (UTC+8), rounded up to the minute so a time that
    just meets the "2 hours ahead" rule still does."""
    local = as_utc(when).astimezone(_CST)
    if local.second or local.microsecond:
        local = local.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return local.strftime("%Y-%m-%d %H:%M")


def _retry_hint(message: str) -> float | None:
    match = _TRY_AGAIN.search(message)
    return float(match.group(1)) if match else None


def _float_or_none(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _int_or_none(value: Any) -> int | None:
    number = _float_or_none(value)
    return int(number) if number is not None else None


def _json_or_empty(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _new_page(context: BrowserContext) -> Page:
    try:
        return context.new_page()
    except PlaywrightError as exc:
        raise RetryableError("browser_unavailable", f"cannot open a browser page: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
