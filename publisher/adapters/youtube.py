"""YouTube (Shorts) through the official Data API v3: resumable ``videos.insert`` with OAuth tokens.

NOT LIVE-TESTED: nothing here can reach googleapis.com. The requests follow Google's public reference (resumable
upload protocol, ``videos`` resource, ``channels``/``playlistItems`` lists, the OAuth token endpoint) and are
tested against recorded answers replayed by a local server (``tests/test_adapter_official_apis.py``).
``live_tested`` stays False until someone has published through it on the live platform.

Flow: POST the ``video`` resource (snippet: title, description with the labels, #topics and the tracking code,
tags; status: ``privacyStatus`` (``private`` by default: unverified API projects may only upload private videos),
``selfDeclaredMadeForKids`` false, ``containsSyntheticMedia`` true) to start a resumable session, then PUT the
bytes to the session URL, resuming from the server's ``Range`` after a 308 or an interrupted request (bounded).

Reconciliation: the session URL of an attempt whose answer was lost is remembered; asking it (``Content-Range:
bytes */size``) answers the finished video, or 308 (incomplete: nothing was published). Without it (another
worker, a restart) the channel's uploads playlist is scanned for the tracking code, newest first.

Metrics (:class:`~publisher.adapters.insights.InsightsSource`): ``videos.list(part=snippet,statistics)`` with up to
50 ids a request (1 quota unit each) answers ``viewCount``, ``likeCount``, ``commentCount`` and
``snippet.publishedAt``; with ``read_completion`` the YouTube Analytics API's ``reports.query``
(``averageViewPercentage`` by video, scope ``yt-analytics.readonly``) adds the completion rate. That second source
is best effort: a token without the Analytics scope, or a refusal, leaves completion empty with one warning and
the counters are stored all the same. YouTube has no product clicks and no affiliate order export:
:meth:`YouTubeAdapter.order_page` raises ``InsightsUnsupported``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
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
    parse_expiry,
    refresh_with_form,
    request_sent,
)

log = logging.getLogger(__name__)

API_BASE = "https://www.googleapis.com"
TOKEN_URL = "https://oauth2.googleapis.com/token"
UPLOAD_PATH = "/upload/youtube/v3/videos"
DATA_PATH = "/youtube/v3"
MAX_TITLE_CHARS = 100
MAX_DESCRIPTION_BYTES = 5000
MAX_TAGS_CHARS = 500
# videos.list: https://developers.google.com/youtube/v3/docs/videos/list (id: comma-separated video ids; the
# statistics part holds viewCount, likeCount, commentCount as strings; likeCount/commentCount are absent when
# hidden or disabled). At most 50 ids a request.
VIDEOS_BATCH = 50
# reports.query: https://developers.google.com/youtube/analytics/reference/reports/query (GET /v2/reports,
# ids=channel==MINE, startDate/endDate YYYY-MM-DD, metrics, dimensions=video with sort and maxResults,
# filters=video==id1,id2; the answer is columnHeaders[].name and rows in that order). averageViewPercentage is a
# percentage: https://developers.google.com/youtube/analytics/metrics
ANALYTICS_BASE = "https://youtubeanalytics.googleapis.com"
ANALYTICS_PATH = "/v2/reports"
RESUMABLE_CHUNK = 256 * 1024  # chunked uploads must send multiples of 256 KiB (except the last chunk)

RESTRICTED_REASONS = frozenset({"quotaExceeded", "uploadLimitExceeded", "dailyLimitExceeded"})
RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
SESSION_REASONS = frozenset({"authError", "youtubeSignupRequired", "insufficientPermissions"})


@register_adapter("youtube")
class YouTubeAdapter(PlatformAdapter):
    """YouTube Data API v3 resumable upload. NOT live-tested (no access to YouTube from here); see module doc.

    Options: ``api_base`` and ``token_url`` (tests point them at a local server), ``privacy_status``
    (``private`` by default; ``public`` needs a verified API project), ``category_id``, ``client_id``/
    ``client_secret`` (the OAuth app, used to refresh tokens when the token set does not carry them),
    ``chunk_size`` (``None``: one PUT; else a multiple of 256 KiB), ``max_resumes``, ``find_max_pages`` and the
    bounds ``timeout_s`` and ``upload_timeout_s``; for metrics ``analytics_base`` and ``read_completion`` (ask
    the YouTube Analytics API for completion rates).
    """

    name: ClassVar[str] = "youtube"
    method: ClassVar[str] = "api"
    live_tested: ClassVar[bool] = False
    secret_kinds: ClassVar[tuple[str, ...]] = ("oauth",)

    def __init__(
        self,
        *,
        api_base: str = API_BASE,
        token_url: str = TOKEN_URL,
        privacy_status: str = "private",
        category_id: str = "22",
        client_id: str | None = None,
        client_secret: str | None = None,
        chunk_size: int | None = None,
        max_resumes: int = 3,
        find_max_pages: int = 4,
        timeout_s: float = 30.0,
        upload_timeout_s: float = 300.0,
        analytics_base: str = ANALYTICS_BASE,
        read_completion: bool = True,
    ) -> None:
        if chunk_size is not None and (chunk_size <= 0 or chunk_size % RESUMABLE_CHUNK):
            raise ValueError(f"youtube: chunk_size must be a positive multiple of 256 KiB, got {chunk_size}")
        if privacy_status not in ("private", "unlisted", "public"):
            raise ValueError(f"youtube: privacy_status must be private, unlisted or public, got {privacy_status!r}")
        self.api_base = api_base.rstrip("/")
        self.token_url = token_url
        self.privacy_status = privacy_status
        self.category_id = category_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.chunk_size = chunk_size
        self.max_resumes = max_resumes
        self.find_max_pages = find_max_pages
        self.upload_timeout_s = upload_timeout_s
        self.analytics_base = analytics_base.rstrip("/")
        self.read_completion = read_completion
        self._client = httpx.Client(timeout=httpx.Timeout(timeout_s), follow_redirects=False)
        self._sessions: dict[str, tuple[str, int]] = {}  # tracking code -> (session URL, file size)

    def __repr__(self) -> str:
        return f"YouTubeAdapter(api_base={self.api_base!r}, privacy_status={self.privacy_status!r})"

    # -- the interface ---------------------------------------------------------------------------------------

    def publish(
        self, post: PostPackage, credentials: Credentials, progress: ProgressCallback | None = None
    ) -> PublishReceipt:
        """Upload ``post`` as a YouTube video; raises the :mod:`publisher.adapters.base` error classes."""
        problem = post.compliance_problem()
        if problem:
            raise PostRejected("compliance", f"youtube: post {post.post_id}: {problem}")
        path = video_file(post.video_path)
        size = path.stat().st_size
        if size <= 0:
            raise PostRejected("video_empty", f"youtube: post {post.post_id}: the clip file is empty")
        keeper = TokenKeeper(self.name, credentials, self._refresh)
        report = progress or (lambda _step, _fraction: None)
        subject = f"post {post.post_id}"

        report("init", 0.0)
        session_url = self._start_session(subject, keeper, video_resource(post, self), size)
        self._sessions[post.tracking_code] = (session_url, size)
        try:
            video = self._send_bytes(subject, keeper, session_url, path, size, report)
        except OutcomeUnknown:
            raise  # keep the session URL: find() asks it
        except PublishError:
            self._sessions.pop(post.tracking_code, None)
            raise
        self._sessions.pop(post.tracking_code, None)
        receipt = receipt_of(post, video)
        report("done", 1.0)
        log.info("youtube: post %s: uploaded as %s", post.post_id, receipt.remote_id)
        return receipt

    def find(self, post: PostPackage, credentials: Credentials) -> RemotePost | None:
        """The video carrying ``post.tracking_code``: from the remembered upload session, else the uploads list."""
        keeper = TokenKeeper(self.name, credentials, self._refresh)
        subject = f"post {post.post_id}"
        remembered = self._sessions.get(post.tracking_code)
        if remembered is not None:
            session_url, size = remembered
            answer = self._ask_session(subject, keeper, session_url, size)
            if isinstance(answer, dict):
                self._sessions.pop(post.tracking_code, None)
                return RemotePost(
                    remote_id=str(answer["id"]), tracking_code=post.tracking_code, remote_url=video_url(answer["id"])
                )
            if isinstance(answer, int):
                return None  # the session holds an incomplete file: YouTube has no video from it
            # the session is gone (expired): fall back to the channel's uploads
        return self._find_in_uploads(subject, keeper, post.tracking_code)

    def check_session(self, credentials: Credentials) -> bool:
        """Whether the token works: ``channels.list(mine=true)`` answers (after one refresh if it had expired)."""
        keeper = TokenKeeper(self.name, credentials, self._refresh)
        try:
            self._get(keeper, "/channels", {"part": "id", "mine": "true"}, "session check")
        except SessionExpired:
            return False
        except (AccountRestricted, RateLimited):
            return True  # the token was accepted; the project or channel is merely limited
        return True

    def close(self) -> None:
        self._client.close()

    # -- metrics (InsightsSource, BatchMetricsSource) --------------------------------------------------------

    def posts_metrics(self, remote_ids: Sequence[str], credentials: Credentials) -> dict[str, PostMetrics]:
        """``videos.list`` in batches of 50 (plus completion from YouTube Analytics): counters by video id.

        Videos YouTube does not answer for (deleted, or private to another channel) are missing from the result.
        ``as_of`` is our clock: the answer has none.
        """
        keeper = TokenKeeper(self.name, credentials, self._refresh)
        subject = f"account {credentials.account_id}"
        wanted = list(dict.fromkeys(r for r in remote_ids if r))
        found: dict[str, PostMetrics] = {}
        for first in range(0, len(wanted), VIDEOS_BATCH):
            batch = wanted[first : first + VIDEOS_BATCH]
            params = {"part": "snippet,statistics", "id": ",".join(batch)}
            params["fields"] = "items(id,snippet/publishedAt,statistics)"  # the description can be 5,000 bytes
            answer = self._get(keeper, "/videos", params, subject)
            as_of = datetime.now(UTC)
            for item in answer.get("items") or []:
                if isinstance(item, dict) and str(item.get("id") or "") in batch:
                    metrics = statistics_metrics(item, as_of)
                    found[metrics.remote_id] = metrics
            if self.read_completion and found:
                answered = [v for v in batch if v in found]
                since = min((found[v].published_at or as_of) for v in answered).date()
                for video_id, rate in self._completion(keeper, answered, since, subject).items():
                    found[video_id] = replace(found[video_id], completion_rate=rate)
        return found

    def post_metrics(self, remote_id: str, credentials: Credentials) -> PostMetrics:
        """One video's counters; ``PostRejected("video_not_found")`` when YouTube does not answer for it."""
        metrics = self.posts_metrics([remote_id], credentials).get(remote_id)
        if metrics is None:
            raise PostRejected("video_not_found", f"youtube: video {remote_id}: not found (deleted or private?)")
        return metrics

    def post_published_at(self, remote_id: str, credentials: Credentials) -> datetime | None:
        """The video's ``snippet.publishedAt``."""
        return self.post_metrics(remote_id, credentials).published_at

    def order_page(
        self,
        credentials: Credentials,
        start: datetime | None,
        end: datetime | None,
        cursor: str | None,
        count: int,
    ) -> OrderPage:
        """YouTube's APIs have no affiliate order export: always ``InsightsUnsupported``."""
        raise InsightsUnsupported(
            "unsupported",
            "youtube: the YouTube APIs have no affiliate order export; import orders from the shop's export with "
            "`mcn orders import`",
        )

    def _completion(self, keeper: TokenKeeper, video_ids: list[str], since: date, subject: str) -> dict[str, float]:
        """``averageViewPercentage`` / 100 by video from YouTube Analytics, or ``{}`` (one warning) when refused."""
        params = {
            "ids": "channel==MINE",
            "startDate": since.isoformat(),
            # the channel's days are Pacific time: one day past UTC today cannot cut off the latest views
            "endDate": (datetime.now(UTC).date() + timedelta(days=1)).isoformat(),
            "metrics": "views,averageViewPercentage",
            "dimensions": "video",
            "filters": "video==" + ",".join(video_ids),
            "sort": "-views",
            "maxResults": str(len(video_ids)),
        }
        while True:
            try:
                response = self._client.get(
                    self.analytics_base + ANALYTICS_PATH, params=params, headers=keeper.headers()
                )
            except httpx.TransportError as exc:
                log.warning("youtube: %s: no completion rates this run (reports.query: %s)", subject, _name(exc))
                return {}
            if response.status_code == 401 and not keeper.refreshed:
                keeper.refresh("reports.query answered 401")
                continue
            break
        if response.status_code != 200:
            # commonly a token granted without yt-analytics.readonly: the counters are still worth storing
            reason = api_error("reports.query", subject, response).message
            log.warning("youtube: %s: no completion rates this run: %s", subject, reason)
            return {}
        return average_view_fractions(json_body(response))

    # -- upload ----------------------------------------------------------------------------------------------

    def _start_session(self, subject: str, keeper: TokenKeeper, resource: dict[str, Any], size: int) -> str:
        url = f"{self.api_base}{UPLOAD_PATH}"
        params = {"uploadType": "resumable", "part": "snippet,status"}
        while True:
            headers = {
                **keeper.headers(),
                "Content-Type": "application/json; charset=UTF-8",
                "X-Upload-Content-Length": str(size),
                "X-Upload-Content-Type": "video/mp4",
            }
            try:
                response = self._client.post(url, params=params, json=resource, headers=headers)
            except httpx.TransportError as exc:
                # a session without bytes publishes nothing, so even a lost answer is safe to retry
                raise RetryableError(
                    "unreachable", f"youtube: {subject}: starting the upload failed ({_name(exc)})"
                ) from None
            if response.status_code == 401 and not keeper.refreshed:
                keeper.refresh("the upload start answered 401")
                continue
            if response.status_code in (200, 201) and response.headers.get("Location"):
                return response.headers["Location"]
            if response.status_code < 400:
                raise RetryableError("bad_answer", f"youtube: {subject}: no upload session URL in the answer")
            raise api_error("start", subject, response)

    def _send_bytes(
        self, subject: str, keeper: TokenKeeper, session_url: str, path: Path, size: int, report: ProgressCallback
    ) -> dict[str, Any]:
        """PUT the file from the server's offset until it answers the video; resumes are bounded."""
        offset = 0
        resumes = 0
        timeout = httpx.Timeout(self.upload_timeout_s)
        with path.open("rb") as handle:
            while True:
                last = size - 1 if self.chunk_size is None else min(size, offset + self.chunk_size) - 1
                final = last == size - 1
                handle.seek(offset)
                body = handle.read(last - offset + 1)
                headers = {**keeper.headers(), "Content-Type": "video/mp4", "Content-Length": str(len(body))}
                if offset > 0 or not final:
                    headers["Content-Range"] = f"bytes {offset}-{last}/{size}"
                failure: str
                try:
                    response = self._client.put(session_url, content=body, headers=headers, timeout=timeout)
                except httpx.TransportError as exc:
                    failure = _name(exc)
                    final = final and request_sent(exc)
                else:
                    if response.status_code in (200, 201):
                        return _video(subject, response)
                    if response.status_code == 308:
                        offset = received_offset(response)
                        report("upload", 0.05 + 0.9 * offset / size)
                        if offset <= last:
                            resumes += 1  # the server kept less than we sent
                        if resumes > self.max_resumes:
                            raise RetryableError("upload_stalled", f"youtube: {subject}: the upload does not advance")
                        continue
                    if response.status_code == 401 and not keeper.refreshed:
                        keeper.refresh("the upload answered 401")  # then ask the session where it stands
                    elif response.status_code < 500:
                        raise api_error("upload", subject, response)
                    failure = f"answered {response.status_code}"
                # interrupted or 5xx: ask the session how much it has (the protocol's resume step)
                resumes += 1
                answer = self._ask_session(subject, keeper, session_url, size) if resumes <= self.max_resumes else None
                if isinstance(answer, dict):
                    return answer
                if isinstance(answer, int):
                    offset = answer
                    continue
                if final:
                    raise OutcomeUnknown(
                        "upload_answer_lost",
                        f"youtube: {subject}: the last bytes were sent and the upload {failure}; "
                        "the video may exist (reconcile)",
                    )
                raise RetryableError("upload_failed", f"youtube: {subject}: the upload {failure} before the last byte")

    def _ask_session(
        self, subject: str, keeper: TokenKeeper, session_url: str, size: int
    ) -> dict[str, Any] | int | None:
        """The resumable session's state: the finished video, the next offset to send, or ``None`` (unknown)."""
        headers = {**keeper.headers(), "Content-Range": f"bytes */{size}", "Content-Length": "0"}
        try:
            response = self._client.put(session_url, content=b"", headers=headers)
        except httpx.TransportError:
            return None
        if response.status_code in (200, 201):
            return _video(subject, response)
        if response.status_code == 308:
            return received_offset(response)
        return None

    # -- reconcile -------------------------------------------------------------------------------------------

    def _find_in_uploads(self, subject: str, keeper: TokenKeeper, tracking_code: str) -> RemotePost | None:
        """Scan the channel's uploads playlist (newest first, ``find_max_pages`` x 50) for the tracking code.

        The uploads playlist lists every video of the channel, private ones included, at 1 quota unit a page
        (``search.list`` costs 100 and lags behind new uploads).
        """
        channels = self._get(keeper, "/channels", {"part": "contentDetails", "mine": "true"}, subject)
        items = channels.get("items") or []
        if not items:
            raise SessionExpired("no_channel", f"youtube: {subject}: the authorized Google account has no channel")
        uploads = items[0].get("contentDetails", {}).get("relatedPlaylists", {}).get("uploads")
        if not uploads:
            raise RetryableError("cannot_reconcile", f"youtube: {subject}: the channel lists no uploads playlist")
        page_token: str | None = None
        for _ in range(self.find_max_pages):
            params = {"part": "snippet", "playlistId": uploads, "maxResults": "50"}
            if page_token:
                params["pageToken"] = page_token
            page = self._get(keeper, "/playlistItems", params, subject)
            for item in page.get("items") or []:
                snippet = item.get("snippet") or {}
                if tracking_code in str(snippet.get("description") or ""):
                    video_id = str((snippet.get("resourceId") or {}).get("videoId") or "")
                    if video_id:
                        return RemotePost(
                            remote_id=video_id,
                            tracking_code=tracking_code,
                            remote_url=video_url(video_id),
                            published_at=parse_expiry(snippet.get("publishedAt")),
                        )
            page_token = page.get("nextPageToken")
            if not page_token:
                return None
        # newest 200 uploads scanned: far more than an account posts between an attempt and its reconciliation
        return None

    def _get(self, keeper: TokenKeeper, path: str, params: dict[str, str], subject: str) -> dict[str, Any]:
        while True:
            try:
                response = self._client.get(
                    f"{self.api_base}{DATA_PATH}{path}", params=params, headers=keeper.headers()
                )
            except httpx.TransportError as exc:
                raise RetryableError("unreachable", f"youtube: {subject}: {path} failed ({_name(exc)})") from None
            if response.status_code == 401 and not keeper.refreshed:
                keeper.refresh(f"{path} answered 401")
                continue
            if response.status_code == 200:
                return json_body(response)
            raise api_error(path.strip("/"), subject, response)

    def _refresh(self, token: OAuthToken) -> OAuthToken:
        client_id, client_secret = client_pair(self.name, token, self.client_id, self.client_secret)
        form = {
            "client_id": client_id,
            "client_secret": client_secret,
            "grant_type": "refresh_token",
            "refresh_token": token.refresh_token or "",
        }
        return refresh_with_form(self._client, self.name, self.token_url, token, form)


def video_resource(post: PostPackage, adapter: YouTubeAdapter) -> dict[str, Any]:
    """The ``video`` resource for ``videos.insert``: snippet and status, AI disclosure always on."""
    status: dict[str, Any] = {
        "privacyStatus": adapter.privacy_status,
        "selfDeclaredMadeForKids": False,
        "containsSyntheticMedia": True,  # YouTube's altered/synthetic content disclosure
    }
    if post.schedule_at is not None:
        # publishAt only works on private videos: YouTube makes them public at that time
        at = post.schedule_at if post.schedule_at.tzinfo else post.schedule_at.replace(tzinfo=UTC)
        status["privacyStatus"] = "private"
        status["publishAt"] = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "snippet": {
            "title": clean_title(post.title),
            "description": description(post),
            "tags": tags(post.topics),
            "categoryId": adapter.category_id,
        },
        "status": status,
    }


def clean_title(title: str) -> str:
    """YouTube titles: 1-100 characters, no ``<`` or ``>``."""
    cleaned = " ".join(title.replace("<", " ").replace(">", " ").split())[:MAX_TITLE_CHARS]
    if not cleaned:
        raise PostRejected("invalid_title", "youtube: the post has an empty title")
    return cleaned


def description(post: PostPackage) -> str:
    """Caption, visible labels, #topics and the tracking code (kept whole: :meth:`YouTubeAdapter.find` needs it)."""
    labels = replace(post, caption="").description(max_topics=5)
    room = MAX_DESCRIPTION_BYTES - len(labels.encode()) - len(post.tracking_code.encode()) - 2
    # the caption gives way (cut on a character boundary) so labels, topics and the code are never cut
    caption = post.caption.strip().encode()[: max(0, room)].decode("utf-8", errors="ignore")
    body = replace(post, caption=caption).description(max_topics=5)
    return body.replace("<", " ").replace(">", " ") + "\n" + post.tracking_code


def tags(topics: tuple[str, ...]) -> list[str]:
    """Topics as tags, within YouTube's 500-character total."""
    chosen: list[str] = []
    used = 0
    for topic in topics:
        tag = topic.lstrip("#").strip()
        if not tag or tag in chosen:
            continue
        cost = len(tag) + (2 if " " in tag else 0) + (1 if chosen else 0)
        if used + cost > MAX_TAGS_CHARS:
            break
        chosen.append(tag)
        used += cost
    return chosen


def video_url(video_id: Any) -> str:
    return f"https://youtu.be/{video_id}"


def receipt_of(post: PostPackage, video: dict[str, Any]) -> PublishReceipt:
    """The receipt for an inserted video; a ``rejected``/``failed`` upload status is an error instead."""
    status = video.get("status") or {}
    state = str(status.get("uploadStatus") or "")
    if state == "rejected":
        reason = str(status.get("rejectionReason") or "rejected")
        raise PostRejected(reason, f"youtube: post {post.post_id}: YouTube rejected video {video['id']}: {reason}")
    if state == "failed":
        reason = str(status.get("failureReason") or "failed")
        raise PostRejected(reason, f"youtube: post {post.post_id}: video {video['id']} failed to process: {reason}")
    return PublishReceipt(
        remote_id=str(video["id"]),
        remote_url=video_url(video["id"]),
        detail=str(status.get("privacyStatus") or ""),
    )


def statistics_metrics(item: dict[str, Any], as_of: datetime) -> PostMetrics:
    """A ``videos.list`` item (snippet, statistics) as counters; hidden counts stay ``None`` (likes: 0)."""
    stats = item.get("statistics") or {}
    snippet = item.get("snippet") or {}
    return PostMetrics(
        remote_id=str(item["id"]),
        as_of=as_of,
        plays=_count(stats.get("viewCount")) or 0,
        likes=_count(stats.get("likeCount")) or 0,
        product_clicks=0,  # not in YouTube's APIs
        comments=_count(stats.get("commentCount")),
        published_at=parse_expiry(snippet.get("publishedAt")),
    )


def average_view_fractions(report: dict[str, Any]) -> dict[str, float]:
    """``{video id: averageViewPercentage / 100}`` from a ``reports.query`` result table (columns by name)."""
    names = [str(h.get("name")) for h in report.get("columnHeaders") or [] if isinstance(h, dict)]
    if "video" not in names or "averageViewPercentage" not in names:
        return {}
    video_col, rate_col = names.index("video"), names.index("averageViewPercentage")
    rates: dict[str, float] = {}
    for row in report.get("rows") or []:
        try:
            rates[str(row[video_col])] = max(0.0, min(1.0, float(row[rate_col]) / 100.0))
        except (IndexError, TypeError, ValueError):
            continue
    return rates


def _count(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def received_offset(response: httpx.Response) -> int:
    """The next byte to send after a 308: one past the ``Range: bytes=0-N`` end, or 0 when nothing arrived."""
    match = re.fullmatch(r"bytes=0-(\d+)", response.headers.get("Range", "").strip())
    return int(match.group(1)) + 1 if match else 0


def api_error(stage: str, subject: str, response: httpx.Response) -> PublishError:
    """Map a Google API error answer to the adapter error classes."""
    body = json_body(response)
    raw_error = body.get("error")
    error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
    errors = error.get("errors") if isinstance(error.get("errors"), list) else []
    reason = str((errors[0] if errors and isinstance(errors[0], dict) else {}).get("reason") or "")
    message = str(error.get("message") or "")
    status = response.status_code
    detail = f"youtube: {subject}: {stage} answered {status} {reason or 'no reason'}"
    if message:
        detail += f" ({message})"
    if reason in RESTRICTED_REASONS:
        return AccountRestricted(reason, detail)
    if reason in RATE_REASONS or status == 429:
        retry = response.headers.get("Retry-After", "60")
        return RateLimited(
            reason or "rate_limit_exceeded", detail, retry_after=float(retry) if retry.isdigit() else 60.0
        )
    if status == 401 or reason in SESSION_REASONS:
        return SessionExpired(reason or "unauthorized", detail + "; a human must authorize the account again")
    if status >= 500:
        return RetryableError(reason or "server_error", detail)
    return PostRejected(reason or f"http_{status}", detail)


def _video(subject: str, response: httpx.Response) -> dict[str, Any]:
    video = json_body(response)
    if not video.get("id"):
        raise OutcomeUnknown("bad_answer", f"youtube: {subject}: the upload finished without a video id")
    return video


def _name(exc: BaseException) -> str:
    return type(exc).__name__
