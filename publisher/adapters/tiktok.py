"""TikTok through the official Content Posting API (Direct Post, FILE_UPLOAD), with OAuth tokens.

NOT LIVE-TESTED: nothing here can reach open.tiktokapis.com. The requests follow TikTok's public API reference
(creator_info/query, video/init, chunked PUT to ``upload_url``, status/fetch, oauth/token) and are tested against
recorded answers replayed by a local server (``tests/test_adapter_official_apis.py``). ``live_tested`` stays False
until someone has published through it on the live platform.

Flow: query creator info (privacy options; ``SELF_ONLY`` while the app is unaudited), init the direct post with
``is_aigc`` always true and ``brand_content_toggle`` set for ad-disclosed posts, PUT the file in chunks with
``Content-Range``, then poll status/fetch (bounded) until ``PUBLISH_COMPLETE``.

Reconciliation is limited: TikTok cannot search a creator's posts by our tracking code. :meth:`TikTokAdapter.find`
answers only what this adapter instance itself knows (the ``publish_id`` of an attempt whose answer was lost, or
that an init's answer was lost before any byte was sent, in which case nothing can have been published); anything
else raises ``RetryableError("cannot_reconcile")`` so the post stays ``unknown`` for a human to check, instead of
guessing and double-posting.

Metrics (:class:`~publisher.adapters.insights.InsightsSource`): ``POST /v2/video/query/`` (Display API, scope
``video.list``, at most 20 video ids a request) answers the account's own videos' ``view_count``, ``like_count``,
``comment_count``, ``share_count`` and ``create_time``. TikTok's API gives no completion rate, no product clicks
and no affiliate order export: those stay empty and :meth:`TikTokAdapter.order_page` raises
``InsightsUnsupported``. A post published ``SELF_ONLY`` by an unaudited client has no public video id (its remote
id is the ``publish_id``), so it has no metrics either.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import httpx

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
from publisher.adapters.insights import InsightsUnsupported, OrderPage, PostMetrics
from publisher.adapters.oauth import (
    OAuthToken,
    TokenKeeper,
    client_pair,
    json_body,
    refresh_with_form,
    request_sent,
)

log = logging.getLogger(__name__)

API_BASE = "https://open.tiktokapis.com"
CREATOR_INFO_PATH = "/v2/post/publish/creator_info/query/"
INIT_PATH = "/v2/post/publish/video/init/"
STATUS_PATH = "/v2/post/publish/status/fetch/"
TOKEN_PATH = "/v2/oauth/token/"
# Display API "Query Videos" (scope video.list): https://developers.tiktok.com/doc/tiktok-api-v2-video-query
# (overview: https://developers.tiktok.com/doc/display-api-overview/; 600 requests/min, 429 rate_limit_exceeded:
# https://developers.tiktok.com/docs/en/tiktok-api-v2-rate-limit). ``fields`` is a query parameter.
VIDEO_QUERY_PATH = "/v2/video/query/"
VIDEO_QUERY_FIELDS = "id,create_time,view_count,like_count,comment_count,share_count"
VIDEO_QUERY_BATCH = 20  # video ids per request, TikTok's limit
MAX_TITLE_CHARS = 2200  # TikTok counts UTF-16 code units; CJK and ASCII are one unit each
#: TikTok's chunk rules: 5-64 MB per chunk, a file under one chunk goes whole, the last chunk takes the remainder
DEFAULT_CHUNK_SIZE = 10 * 1024 * 1024

RESTRICTED_CODES = frozenset(
    {
        "spam_risk_too_many_posts",
        "spam_risk_user_banned_from_posting",
        "spam_risk_too_many_pending_share",
        "reached_active_user_cap",
    }
)
SESSION_CODES = frozenset({"access_token_invalid", "scope_not_authorized", "scope_permission_missed"})


@dataclass(frozen=True, slots=True)
class _Attempt:
    """What this instance remembers of a publish whose answer was lost (for :meth:`TikTokAdapter.find`)."""

    publish_id: str | None  # None: init's answer was lost, no byte was sent


@register_adapter("tiktok")
class TikTokAdapter(PlatformAdapter):
    """TikTok Content Posting API, Direct Post. NOT live-tested (no access to TikTok from here); see module doc.

    Options: ``api_base`` (tests point it at a local server), ``audited`` (False: posts go out ``SELF_ONLY``, the
    only level an unaudited client may use), ``privacy_level`` for audited clients (default
    ``PUBLIC_TO_EVERYONE``), ``client_key``/``client_secret`` (the OAuth app, used to refresh tokens when the
    token set does not carry them), ``chunk_size``, and the bounds ``timeout_s``, ``upload_timeout_s``,
    ``status_timeout_s``, ``status_interval_s``.
    """

    name: ClassVar[str] = "tiktok"
    method: ClassVar[str] = "api"
    live_tested: ClassVar[bool] = False
    secret_kinds: ClassVar[tuple[str, ...]] = ("oauth",)

    def __init__(
        self,
        *,
        api_base: str = API_BASE,
        audited: bool = False,
        privacy_level: str = "PUBLIC_TO_EVERYONE",
        client_key: str | None = None,
        client_secret: str | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        timeout_s: float = 30.0,
        upload_timeout_s: float = 120.0,
        status_timeout_s: float = 120.0,
        status_interval_s: float = 3.0,
    ) -> None:
        if chunk_size <= 0:
            raise ValueError(f"tiktok: chunk_size must be positive, got {chunk_size}")
        self.api_base = api_base.rstrip("/")
        self.audited = audited
        self.privacy_level = privacy_level
        self.client_key = client_key
        self.client_secret = client_secret
        self.chunk_size = chunk_size
        self.upload_timeout_s = upload_timeout_s
        self.status_timeout_s = status_timeout_s
        self.status_interval_s = status_interval_s
        self._client = httpx.Client(timeout=httpx.Timeout(timeout_s), follow_redirects=False)
        self._attempts: dict[str, _Attempt] = {}

    def __repr__(self) -> str:
        return f"TikTokAdapter(api_base={self.api_base!r}, audited={self.audited})"

    # -- the interface ---------------------------------------------------------------------------------------

    def publish(
        self, post: PostPackage, credentials: Credentials, progress: ProgressCallback | None = None
    ) -> PublishReceipt:
        """Direct-post ``post``; raises the :mod:`publisher.adapters.base` error classes (see module doc)."""
        problem = post.compliance_problem()
        if problem:
            raise PostRejected("compliance", f"tiktok: post {post.post_id}: {problem}")
        if post.schedule_at is not None:
            # The Content Posting API has no scheduled publish; the dispatcher must send the post at its slot.
            raise PostRejected("schedule_unsupported", f"tiktok: post {post.post_id}: the API cannot schedule posts")
        path = video_file(post.video_path)
        keeper = TokenKeeper(self.name, credentials, self._refresh)
        report = progress or (lambda _step, _fraction: None)

        report("creator_info", 0.0)
        privacy = self._privacy_level(post, keeper)
        size = path.stat().st_size
        ranges = chunk_ranges(size, self.chunk_size)
        body = {
            "post_info": {
                "title": caption(post),
                "privacy_level": privacy,
                "disable_duet": False,
                "disable_comment": False,
                "disable_stitch": False,
                # 广告 posts promote a third party's product: TikTok's "paid partnership" (branded content) label
                "brand_content_toggle": bool((post.ad_disclosure or "").strip()),
                "brand_organic_toggle": False,
                "is_aigc": True,  # every mcn clip is AI-generated; never sent without the label
            },
            "source_info": {
                "source": "FILE_UPLOAD",
                "video_size": size,
                "chunk_size": ranges[0][1] - ranges[0][0] + 1,
                "total_chunk_count": len(ranges),
            },
        }
        report("init", 0.05)
        data = self._init(post, keeper, body)
        publish_id = str(data.get("publish_id") or "")
        upload_url = str(data.get("upload_url") or "")
        if not publish_id or not upload_url:
            raise RetryableError("bad_answer", f"tiktok: post {post.post_id}: init answered without publish_id")
        log.info("tiktok: post %s: initialised as %s, %d chunk(s)", post.post_id, publish_id, len(ranges))

        self._upload(post, path, upload_url, ranges, publish_id, report)
        report("processing", 0.9)
        status = self._wait_published(post, keeper, publish_id)
        self._attempts.pop(post.tracking_code, None)
        post_ids = [str(x) for x in status.get("publicaly_available_post_id") or [] if x]
        remote_id = post_ids[0] if post_ids else publish_id
        url = f"https://www.tiktok.com/@{post.account_handle}/video/{post_ids[0]}" if post_ids else None
        report("done", 1.0)
        log.info("tiktok: post %s: published as %s (%s)", post.post_id, remote_id, privacy)
        return PublishReceipt(remote_id=remote_id, remote_url=url, upload_id=publish_id, detail=privacy)

    def find(self, post: PostPackage, credentials: Credentials) -> RemotePost | None:
        """Reconcile from what this instance remembers; otherwise ``RetryableError("cannot_reconcile")``.

        TikTok offers no search by caption text, so a post whose attempt this process does not remember (another
        worker, a restart) cannot be found here: a human checks the creator's profile (the error message says so).
        """
        attempt = self._attempts.get(post.tracking_code)
        if attempt is None and post.remote_upload_id:
            # another worker (or this one before a restart) recorded the publish_id from the lost attempt
            attempt = _Attempt(publish_id=post.remote_upload_id)
        if attempt is None:
            raise RetryableError(
                "cannot_reconcile",
                f"tiktok: post {post.post_id}: TikTok cannot search posts by tracking code and this worker did not "
                "make the attempt; check the creator's profile by hand",
            )
        if attempt.publish_id is None:
            # init's answer was lost, so no byte of the file was sent: a FILE_UPLOAD post cannot exist
            return None
        keeper = TokenKeeper(self.name, credentials, self._refresh)
        status = self._status(post, keeper, attempt.publish_id)
        state = str(status.get("status") or "")
        if state == "PUBLISH_COMPLETE":
            post_ids = [str(x) for x in status.get("publicaly_available_post_id") or [] if x]
            remote_id = post_ids[0] if post_ids else attempt.publish_id
            url = f"https://www.tiktok.com/@{post.account_handle}/video/{post_ids[0]}" if post_ids else None
            return RemotePost(remote_id=remote_id, tracking_code=post.tracking_code, remote_url=url)
        if state == "FAILED":
            return None
        raise RetryableError(
            "still_processing", f"tiktok: post {post.post_id}: publish {attempt.publish_id} is {state or 'unknown'}"
        )

    def check_session(self, credentials: Credentials) -> bool:
        """Whether the token works: creator_info answers (after one refresh if it had expired)."""
        keeper = TokenKeeper(self.name, credentials, self._refresh)
        try:
            self._call("creator_info", keeper, CREATOR_INFO_PATH, {}, subject="session check")
        except SessionExpired:
            return False
        except (AccountRestricted, RateLimited, PostRejected):
            return True  # the token was accepted; the account is merely limited
        return True

    def close(self) -> None:
        self._client.close()

    # -- metrics (InsightsSource, BatchMetricsSource) --------------------------------------------------------

    def posts_metrics(self, remote_ids: Sequence[str], credentials: Credentials) -> dict[str, PostMetrics]:
        """``video/query`` in batches of 20: counters of the account's videos among ``remote_ids``, by id.

        Ids TikTok does not answer for (deleted, private, another account's, or a ``publish_id`` of a post that
        never got a public id) are missing from the result. ``as_of`` is our clock: TikTok's answer has none.
        """
        keeper = TokenKeeper(self.name, credentials, self._refresh)
        wanted = list(dict.fromkeys(r for r in remote_ids if r and not r.startswith("v_pub_")))
        found: dict[str, PostMetrics] = {}
        for first in range(0, len(wanted), VIDEO_QUERY_BATCH):
            batch = wanted[first : first + VIDEO_QUERY_BATCH]
            data = self._call(
                "video_query",
                keeper,
                VIDEO_QUERY_PATH,
                {"filters": {"video_ids": batch}},
                subject=f"account {credentials.account_id}",
                params={"fields": VIDEO_QUERY_FIELDS},
            )
            as_of = datetime.now(UTC)
            for video in data.get("videos") or []:
                if isinstance(video, dict) and str(video.get("id") or "") in batch:
                    metrics = video_metrics(video, as_of)
                    found[metrics.remote_id] = metrics
        return found

    def post_metrics(self, remote_id: str, credentials: Credentials) -> PostMetrics:
        """One video's counters (``video/query``); ``PostRejected("video_not_found")`` when TikTok has none."""
        metrics = self.posts_metrics([remote_id], credentials).get(remote_id)
        if metrics is None:
            raise PostRejected(
                "video_not_found", f"tiktok: video {remote_id}: not among the account's videos (deleted or private?)"
            )
        return metrics

    def post_published_at(self, remote_id: str, credentials: Credentials) -> datetime | None:
        """The video's ``create_time``."""
        return self.post_metrics(remote_id, credentials).published_at

    def order_page(
        self,
        credentials: Credentials,
        start: datetime | None,
        end: datetime | None,
        cursor: str | None,
        count: int,
    ) -> OrderPage:
        """TikTok's API has no affiliate order export for a creator account: always ``InsightsUnsupported``."""
        raise InsightsUnsupported(
            "unsupported",
            "tiktok: the TikTok API has no affiliate order export for creator accounts; import orders from the "
            "shop's export with `mcn orders import`",
        )

    # -- steps -----------------------------------------------------------------------------------------------

    def _privacy_level(self, post: PostPackage, keeper: TokenKeeper) -> str:
        info = self._call("creator_info", keeper, CREATOR_INFO_PATH, {}, subject=f"post {post.post_id}")
        options = [str(x) for x in info.get("privacy_level_options") or []]
        wanted = self.privacy_level if self.audited else "SELF_ONLY"
        if options and wanted not in options:
            raise PostRejected(
                "privacy_level_unavailable",
                f"tiktok: post {post.post_id}: privacy level {wanted} is not offered to this creator "
                f"({', '.join(options)})" + ("" if self.audited else "; unaudited clients may only post SELF_ONLY"),
            )
        return wanted

    def _init(self, post: PostPackage, keeper: TokenKeeper, body: dict[str, Any]) -> dict[str, Any]:
        try:
            return self._call("init", keeper, INIT_PATH, body, subject=f"post {post.post_id}")
        except OutcomeUnknown:
            self._attempts[post.tracking_code] = _Attempt(publish_id=None)
            raise

    def _upload(
        self,
        post: PostPackage,
        path: Path,
        upload_url: str,
        ranges: list[tuple[int, int]],
        publish_id: str,
        report: ProgressCallback,
    ) -> None:
        size = path.stat().st_size
        timeout = httpx.Timeout(self.upload_timeout_s)
        with path.open("rb") as handle:
            for index, (first, last) in enumerate(ranges):
                final = index == len(ranges) - 1
                handle.seek(first)
                chunk = handle.read(last - first + 1)
                headers = {
                    "Content-Type": "video/mp4",
                    "Content-Length": str(len(chunk)),
                    "Content-Range": f"bytes {first}-{last}/{size}",
                }
                try:
                    response = self._client.put(upload_url, content=chunk, headers=headers, timeout=timeout)
                except httpx.TransportError as exc:
                    if final and request_sent(exc):
                        # the last bytes may have arrived: TikTok publishes on its own once the file is complete
                        self._attempts[post.tracking_code] = _Attempt(publish_id=publish_id)
                        raise OutcomeUnknown(
                            "upload_answer_lost",
                            f"tiktok: post {post.post_id}: the last chunk's answer was lost ({type(exc).__name__}); "
                            f"publish_id {publish_id}",
                            remote_ref=publish_id,
                        ) from None
                    raise RetryableError(
                        "upload_failed",
                        f"tiktok: post {post.post_id}: chunk {index + 1}/{len(ranges)} failed ({type(exc).__name__})",
                    ) from None
                if response.status_code >= 400:
                    if final and response.status_code >= 500:
                        self._attempts[post.tracking_code] = _Attempt(publish_id=publish_id)
                        raise OutcomeUnknown(
                            "upload_answer_lost",
                            f"tiktok: post {post.post_id}: the last chunk was answered {response.status_code}; "
                            f"publish_id {publish_id}",
                            remote_ref=publish_id,
                        )
                    raise RetryableError(
                        "upload_failed",
                        f"tiktok: post {post.post_id}: chunk {index + 1}/{len(ranges)} answered {response.status_code}",
                    )
                report("upload", 0.1 + 0.8 * (last + 1) / size)

    def _wait_published(self, post: PostPackage, keeper: TokenKeeper, publish_id: str) -> dict[str, Any]:
        self._attempts[post.tracking_code] = _Attempt(publish_id=publish_id)
        deadline = time.monotonic() + self.status_timeout_s
        state = "unknown"
        while True:
            try:
                status = self._status(post, keeper, publish_id)
            except (RetryableError, RateLimited) as exc:
                status = {"status": f"unanswered ({exc.code})"}
            except PublishError as exc:
                # the file is on TikTok and may publish: whatever went wrong now, the outcome is unknown
                raise OutcomeUnknown(
                    "status_unavailable",
                    f"tiktok: post {post.post_id}: {exc.message}; publish_id {publish_id}",
                    remote_ref=publish_id,
                ) from None
            state = str(status.get("status") or "unknown")
            if state == "PUBLISH_COMPLETE":
                return status
            if state == "FAILED":
                self._attempts.pop(post.tracking_code, None)
                raise failure_error(post, str(status.get("fail_reason") or "unknown"), publish_id)
            if time.monotonic() + self.status_interval_s > deadline:
                raise OutcomeUnknown(
                    "status_timeout",
                    f"tiktok: post {post.post_id}: still {state} after {self.status_timeout_s:.0f} s; "
                    f"publish_id {publish_id}",
                    remote_ref=publish_id,
                )
            time.sleep(self.status_interval_s)

    def _status(self, post: PostPackage, keeper: TokenKeeper, publish_id: str) -> dict[str, Any]:
        return self._call("status", keeper, STATUS_PATH, {"publish_id": publish_id}, subject=f"post {post.post_id}")

    # -- HTTP ------------------------------------------------------------------------------------------------

    def _call(
        self,
        stage: str,
        keeper: TokenKeeper,
        path: str,
        body: dict[str, Any],
        subject: str,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """POST ``body`` to ``path``; the answer's ``data``, or the mapped error. A 401 refreshes once."""
        while True:
            try:
                response = self._client.post(
                    self.api_base + path,
                    params=params,
                    json=body,
                    headers={**keeper.headers(), "Content-Type": "application/json; charset=UTF-8"},
                )
            except httpx.TransportError as exc:
                if stage == "init" and request_sent(exc):
                    raise OutcomeUnknown(
                        "init_answer_lost", f"tiktok: {subject}: video/init's answer was lost ({type(exc).__name__})"
                    ) from None
                raise RetryableError(
                    "unreachable", f"tiktok: {subject}: {stage} failed ({type(exc).__name__})"
                ) from None
            payload = json_body(response)
            raw_error = payload.get("error")
            error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
            code = str(error.get("code") or "")
            if response.status_code == 200 and code in ("", "ok"):
                data = payload.get("data")
                return data if isinstance(data, dict) else {}
            if (response.status_code == 401 or code == "access_token_invalid") and not keeper.refreshed:
                keeper.refresh(f"{stage} answered {code or response.status_code}")
                continue
            raise api_error(stage, subject, response.status_code, code, str(error.get("message") or ""), response)

    def _refresh(self, token: OAuthToken) -> OAuthToken:
        client_key, client_secret = client_pair(self.name, token, self.client_key, self.client_secret)
        form = {
            "client_key": client_key,
            "client_secret": client_secret,
            "grant_type": "refresh_token",
            "refresh_token": token.refresh_token or "",
        }
        return refresh_with_form(self._client, self.name, self.api_base + TOKEN_PATH, token, form)


def caption(post: PostPackage) -> str:
    """The TikTok caption: the post's caption (or its title when it has none), the visible labels and up to 5
    #topics, within TikTok's length; the caption gives way so the labels are never cut."""
    base = post if post.caption.strip() else replace(post, caption=post.title)
    tail = replace(base, caption="").description(max_topics=5)
    room = max(0, MAX_TITLE_CHARS - len(tail) - 1)
    return replace(base, caption=base.caption.strip()[:room]).description(max_topics=5)


def chunk_ranges(size: int, chunk_size: int) -> list[tuple[int, int]]:
    """Inclusive byte ranges per TikTok's rules: ``size // chunk_size`` chunks, the last one takes the rest."""
    if size <= 0:
        raise PostRejected("video_empty", "tiktok: the clip file is empty")
    if size <= chunk_size:
        return [(0, size - 1)]
    count = size // chunk_size
    ranges = [(i * chunk_size, (i + 1) * chunk_size - 1) for i in range(count - 1)]
    ranges.append(((count - 1) * chunk_size, size - 1))
    return ranges


def video_metrics(video: dict[str, Any], as_of: datetime) -> PostMetrics:
    """A ``video/query`` Video object as counters (``create_time`` is epoch seconds)."""
    created = video.get("create_time")
    return PostMetrics(
        remote_id=str(video["id"]),
        as_of=as_of,
        plays=_count(video.get("view_count")) or 0,
        likes=_count(video.get("like_count")) or 0,
        product_clicks=0,  # not in TikTok's API
        comments=_count(video.get("comment_count")),
        shares=_count(video.get("share_count")),
        published_at=datetime.fromtimestamp(float(created), UTC) if isinstance(created, int | float) else None,
    )


def _count(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def api_error(stage: str, subject: str, status: int, code: str, message: str, response: httpx.Response) -> PublishError:
    """Map a TikTok error answer to the adapter error classes (see the module doc and base's table)."""
    detail = f"tiktok: {subject}: {stage} answered {status} {code or 'no error code'}"
    if message:
        detail += f" ({message})"
    if code in RESTRICTED_CODES or code.startswith("spam_risk"):
        return AccountRestricted(code, detail)
    if code == "rate_limit_exceeded" or status == 429:
        return RateLimited("rate_limit_exceeded", detail, retry_after=_retry_after(response, 60.0))
    if code in SESSION_CODES or status == 401:
        return SessionExpired(code or "access_token_invalid", detail + "; a human must authorize the account again")
    if status >= 500 or code == "internal_error":
        return RetryableError(code or "server_error", detail)
    return PostRejected(code or f"http_{status}", detail)


def failure_error(post: PostPackage, reason: str, publish_id: str) -> PublishError:
    """The error for a status/fetch ``FAILED`` answer (nothing was published)."""
    detail = f"tiktok: post {post.post_id}: publish {publish_id} failed: {reason}"
    if reason in RESTRICTED_CODES or reason.startswith("spam_risk"):
        return AccountRestricted(reason, detail)
    if reason in ("internal", "internal_error", "file_download_failed"):
        return RetryableError(reason, detail)
    return PostRejected(reason, detail)


def _retry_after(response: httpx.Response, default: float) -> float:
    try:
        return max(1.0, float(response.headers.get("Retry-After", default)))
    except ValueError:
        return default
