"""The TikTok (Content Posting API) and YouTube (Data API v3) adapters against a local recorded-answer server.

The answers are text fixtures in ``tests/fixtures_platforms/{tiktok,youtube}/`` shaped after the public API
references (nothing here reached the live APIs). A FastAPI app replays them over real HTTP
(``sandbox.server.serve_in_thread``), checks bearer tokens like the real endpoints do, stores the uploaded bytes
and records every request, so the tests assert what the adapters SENT: the AI and brand flags, Content-Range
chunks, tokens in the Authorization header and nowhere in the logs, the refresh form and the renewed secret.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from publisher.adapters import (
    AccountRestricted,
    Credentials,
    OutcomeUnknown,
    PostPackage,
    PostRejected,
    RateLimited,
    RetryableError,
    SessionExpired,
    create_adapter,
)
from publisher.adapters.tiktok import TikTokAdapter, chunk_ranges
from publisher.adapters.youtube import YouTubeAdapter
from sandbox.server import serve_in_thread
from tests.sandbox_support import make_video

FIXTURES = Path(__file__).parent / "fixtures_platforms"
OLD_ACCESS = "act.SECRET-old-access-token-0001"
OLD_REFRESH = "rft.SECRET-old-refresh-token-0001"
CLIENT_SECRET = "SECRET-client-secret-0001"


def recorded(platform: str, name: str, **values: Any) -> Any:
    """A fixture answer with its ``{{placeholders}}`` filled (inside JSON strings, so any text stays valid)."""
    data = json.loads((FIXTURES / platform / f"{name}.json").read_text(encoding="utf-8"))

    def fill(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: fill(v) for k, v in node.items()}
        if isinstance(node, list):
            return [fill(v) for v in node]
        if isinstance(node, str) and node.startswith("{{") and node.endswith("}}"):
            return values[node[2:-2]]
        return node

    return fill(data)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    query: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class ApiState:
    """The fake platforms' state; tests set the behaviour knobs before calling the adapter."""

    base: str = ""
    valid_tokens: set[str] = field(default_factory=lambda: {OLD_ACCESS})
    seen: list[Seen] = field(default_factory=list)
    # tiktok
    creator_info: tuple[int, str] = (200, "creator_info")
    init: tuple[int, str] | str = (200, "video_init")  # or "timeout"
    final_chunk: str = "ok"  # or "timeout"
    statuses: list[str] = field(default_factory=lambda: ["status_processing", "status_complete_private"])
    refresh: str = "ok"  # or "invalid_grant"; "revoke_new" issues tokens the API then refuses
    chunks: dict[str, bytearray] = field(default_factory=dict)
    # youtube
    start: tuple[int, str] = (200, "")
    put_mode: str = "ok"  # "partial_first" keeps half of the first PUT; "broken" stores all and answers 503
    stored: bytearray = field(default_factory=bytearray)
    expected_size: int = 0
    video_id: str = "mcnVid00001"
    inserted: dict[str, Any] = field(default_factory=dict)
    tokens_issued: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def requests(self, path_part: str) -> list[Seen]:
        return [s for s in self.seen if path_part in s.path]


class RecordedApis:
    def __init__(self) -> None:
        self.state = ApiState()

    def reset(self) -> ApiState:
        base = self.state.base
        self.state = ApiState(base=base)
        return self.state

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.middleware("http")
        async def record(request: Request, call_next: Any) -> Response:
            body = await request.body()
            self.state.seen.append(
                Seen(request.method, request.url.path, dict(request.headers), body, dict(request.query_params))
            )
            return await call_next(request)

        def authorized(request: Request) -> bool:
            header = request.headers.get("authorization", "")
            return header.startswith("Bearer ") and header[7:] in self.state.valid_tokens

        # -- TikTok ----------------------------------------------------------------------------------------

        def tiktok_unauthorized() -> JSONResponse:
            return JSONResponse(recorded("tiktok", "error_access_token_invalid"), status_code=401)

        @app.post("/v2/post/publish/creator_info/query/")
        def creator_info(request: Request) -> JSONResponse:
            if not authorized(request):
                return tiktok_unauthorized()
            status, name = self.state.creator_info
            return JSONResponse(recorded("tiktok", name), status_code=status)

        @app.post("/v2/post/publish/video/init/")
        async def video_init(request: Request) -> JSONResponse:
            if not authorized(request):
                return tiktok_unauthorized()
            if self.state.init == "timeout":
                await asyncio.sleep(1.5)  # the adapter gives up after 1 s: the answer is "lost"
            publish_id = "v_pub_file~v2-1.7342123456789012345"
            status, name = self.state.init if isinstance(self.state.init, tuple) else (200, "video_init")
            upload_url = f"{self.state.base}/tiktok-upload/{publish_id}?upload_token=SIGNED"
            return JSONResponse(
                recorded("tiktok", name, publish_id=publish_id, upload_url=upload_url), status_code=status
            )

        @app.put("/tiktok-upload/{publish_id}")
        async def tiktok_chunk(publish_id: str, request: Request) -> Response:
            body = await request.body()
            first, last, total = parse_range(request.headers["content-range"])
            assert first == len(self.state.chunks.setdefault(publish_id, bytearray())), "chunks out of order"
            self.state.chunks[publish_id].extend(body)
            final = last == total - 1
            if final and self.state.final_chunk == "timeout":
                await asyncio.sleep(1.5)
            return Response(status_code=201 if final else 206)

        @app.post("/v2/post/publish/status/fetch/")
        def status_fetch(request: Request) -> JSONResponse:
            if not authorized(request):
                return tiktok_unauthorized()
            name = self.state.statuses.pop(0) if len(self.state.statuses) > 1 else self.state.statuses[0]
            return JSONResponse(recorded("tiktok", name))

        @app.post("/v2/oauth/token/")
        async def tiktok_token(request: Request) -> JSONResponse:
            return await self._refresh("tiktok", request, client_field="client_key")

        # -- YouTube ---------------------------------------------------------------------------------------

        def youtube_unauthorized() -> JSONResponse:
            return JSONResponse(recorded("youtube", "error_unauthorized"), status_code=401)

        @app.post("/upload/youtube/v3/videos")
        async def start(request: Request) -> Response:
            if not authorized(request):
                return youtube_unauthorized()
            status, name = self.state.start
            if status != 200:
                headers = {"Retry-After": "30"} if "rate" in name else {}
                return JSONResponse(recorded("youtube", name), status_code=status, headers=headers)
            self.state.inserted = await request.json()
            self.state.expected_size = int(request.headers["x-upload-content-length"])
            self.state.stored = bytearray()
            location = f"{self.state.base}/upload/youtube/v3/videos?uploadType=resumable&upload_id=ADPycdu-SESSION"
            return Response(status_code=200, headers={"Location": location})

        @app.put("/upload/youtube/v3/videos")
        async def session_put(request: Request) -> Response:
            state = self.state
            body = await request.body()
            content_range = request.headers.get("content-range")
            if content_range and content_range.startswith("bytes */"):  # status query
                if state.put_mode == "broken":
                    return JSONResponse(recorded("youtube", "error_backend"), status_code=503)
                return self._youtube_progress()
            first = parse_range(content_range)[0] if content_range else 0
            assert first == len(state.stored), f"resumed at {first}, server has {len(state.stored)}"
            if state.put_mode == "partial_first" and first == 0:
                state.stored.extend(body[: len(body) // 2])  # the connection "dropped" half-way
                return self._youtube_progress()
            state.stored.extend(body)
            if state.put_mode == "broken":
                return JSONResponse(recorded("youtube", "error_backend"), status_code=503)
            return self._youtube_progress()

        @app.get("/youtube/v3/channels")
        def channels(request: Request) -> JSONResponse:
            if not authorized(request):
                return youtube_unauthorized()
            return JSONResponse(recorded("youtube", "channels_mine"))

        @app.get("/youtube/v3/playlistItems")
        def playlist_items(request: Request, pageToken: str | None = None) -> JSONResponse:
            if not authorized(request):
                return youtube_unauthorized()
            if pageToken is None:
                return JSONResponse(recorded("youtube", "playlist_items_page1"))
            snippet = self.state.inserted.get("snippet", {})
            return JSONResponse(
                recorded(
                    "youtube",
                    "playlist_items_page2",
                    title=snippet.get("title", ""),
                    description=snippet.get("description", ""),
                    video_id=self.state.video_id,
                )
            )

        @app.post("/token")
        async def google_token(request: Request) -> JSONResponse:
            return await self._refresh("youtube", request, client_field="client_id")

        return app

    def _youtube_progress(self) -> Response:
        state = self.state
        if len(state.stored) < state.expected_size:
            headers = {"Range": f"bytes=0-{len(state.stored) - 1}"} if state.stored else {}
            return Response(status_code=308, headers=headers)
        snippet = state.inserted["snippet"]
        video = recorded(
            "youtube",
            "video_inserted",
            video_id=state.video_id,
            title=snippet["title"],
            description=snippet["description"],
        )
        return JSONResponse(video, status_code=200)

    async def _refresh(self, platform: str, request: Request, client_field: str) -> JSONResponse:
        form = dict(await request.form())
        ok = (
            form.get("grant_type") == "refresh_token"
            and form.get("refresh_token") == OLD_REFRESH
            and form.get(client_field) == "mcn-app"
            and form.get("client_secret") == CLIENT_SECRET
        )
        if not ok or self.state.refresh == "invalid_grant":
            return JSONResponse(recorded(platform, "oauth_invalid_grant"), status_code=400)
        n = next(self.state.tokens_issued)
        access = f"act.SECRET-new-access-{n:04d}"
        if self.state.refresh != "revoke_new":
            self.state.valid_tokens.add(access)
        return JSONResponse(recorded(platform, "oauth_token", access_token=access, refresh_token=f"rft.SECRET-new-{n}"))


def parse_range(header: str) -> tuple[int, int, int]:
    """``bytes a-b/total`` -> (a, b, total)."""
    span, total = header.removeprefix("bytes ").split("/")
    first, last = span.split("-")
    return int(first), int(last), int(total)


@pytest.fixture(scope="module")
def apis() -> Iterator[RecordedApis]:
    fixture = RecordedApis()
    with serve_in_thread(fixture.app()) as url:
        fixture.state.base = url
        yield fixture


@pytest.fixture
def api(apis: RecordedApis) -> ApiState:
    return apis.reset()


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # ~30 KB: several TikTok chunks at the tests' 8 KiB chunk size
    return make_video(tmp_path_factory.mktemp("api-videos") / "clip.mp4", 21, bitrate="400k", seconds=1.0)


class Saved:
    def __init__(self) -> None:
        self.renewed: list[tuple[str, Any]] = []

    def __call__(self, kind: str, value: Any) -> None:
        self.renewed.append((kind, value))


def oauth(expired: bool = False, access: str = OLD_ACCESS) -> tuple[Credentials, Saved]:
    expires = datetime.now(UTC) + (timedelta(hours=-1) if expired else timedelta(hours=6))
    secret = {
        "access_token": access,
        "refresh_token": OLD_REFRESH,
        "expires_at": expires.isoformat(),
        "client_id": "mcn-app",
        "client_secret": CLIENT_SECRET,
    }
    saved = Saved()
    return Credentials(account_id=3, secrets={"oauth": secret}, save=saved), saved


_n = itertools.count(1)


def package(platform: str, video: Path, **fields: Any) -> PostPackage:
    n = next(_n)
    values: dict[str, Any] = {
        "post_id": f"post-{platform}-{n}",
        "idempotency_key": f"key-{platform}-{n}",
        "tracking_code": f"TRK-{platform.upper()}-{n:04d}",
        "platform": platform,
        "account_id": 3,
        "account_handle": "brand_cup",
        "video_path": video,
        "title": "这款保温杯一整天都是热的 <实测>",
        "caption": "实测12小时保温，杯盖防漏。",
        "topics": ("好物推荐", "保温杯", "通勤", "上班族", "生活好物", "第六个"),
        "ad_disclosure": "广告",
        "product_link": "https://shop.example.com/cup",
    }
    values.update(fields)
    return PostPackage(**values)


def tiktok(api: ApiState, **options: Any) -> TikTokAdapter:
    adapter = create_adapter(
        "tiktok",
        api_base=api.base,
        chunk_size=8 * 1024,
        status_interval_s=0.05,
        timeout_s=1.0,
        upload_timeout_s=1.0,
        **options,
    )
    assert isinstance(adapter, TikTokAdapter)
    return adapter


def youtube(api: ApiState, **options: Any) -> YouTubeAdapter:
    adapter = create_adapter("youtube", api_base=api.base, token_url=f"{api.base}/token", timeout_s=2.0, **options)
    assert isinstance(adapter, YouTubeAdapter)
    return adapter


def assert_no_secret_logged(caplog: pytest.LogCaptureFixture, *extra: str) -> None:
    text = caplog.text + "".join(str(r.args) for r in caplog.records)
    for secret in (OLD_ACCESS, OLD_REFRESH, CLIENT_SECRET, "act.SECRET-new", "rft.SECRET-new", *extra):
        assert secret not in text


# -- TikTok ----------------------------------------------------------------------------------------------------


def test_tiktok_direct_post_sends_ai_and_brand_flags_and_chunks(
    api: ApiState, video: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # httpx/httpcore included: tokens must not show even there
    adapter = tiktok(api)
    creds, saved = oauth()
    post = package("tiktok", video)
    steps: list[str] = []

    receipt = adapter.publish(post, creds, lambda step, _f: steps.append(step))

    [init] = api.requests("/video/init/")
    body = init.json()
    assert body["post_info"] == {
        "title": post.description(max_topics=5),
        "privacy_level": "SELF_ONLY",  # unaudited client (the default)
        "disable_duet": False,
        "disable_comment": False,
        "disable_stitch": False,
        "brand_content_toggle": True,  # 广告 disclosed
        "brand_organic_toggle": False,
        "is_aigc": True,
    }
    assert "广告" in body["post_info"]["title"] and "#生活好物" in body["post_info"]["title"]
    assert "#第六个" not in body["post_info"]["title"]
    size = video.stat().st_size
    puts = api.requests("/tiktok-upload/")
    assert body["source_info"] == {
        "source": "FILE_UPLOAD",
        "video_size": size,
        "chunk_size": 8 * 1024,
        "total_chunk_count": size // (8 * 1024),
    }
    assert len(puts) == size // (8 * 1024) >= 3
    ranges = [parse_range(p.headers["content-range"]) for p in puts]
    assert ranges == [(a, b, size) for a, b in chunk_ranges(size, 8 * 1024)]
    assert ranges[-1][1] == size - 1 and all(p.headers["content-type"] == "video/mp4" for p in puts)
    assert bytes(api.chunks["v_pub_file~v2-1.7342123456789012345"]) == video.read_bytes()
    for request in [*api.requests("/v2/post/publish/"), init]:
        assert request.headers["authorization"] == f"Bearer {OLD_ACCESS}"
    assert all("authorization" not in p.headers for p in puts)  # the signed upload URL needs no token
    assert len(api.requests("/status/fetch/")) == 2  # processing, then complete
    assert receipt.remote_id == receipt.upload_id == "v_pub_file~v2-1.7342123456789012345"
    assert receipt.remote_url is None and receipt.detail == "SELF_ONLY"
    assert steps[0] == "creator_info" and steps[-1] == "done"
    assert saved.renewed == []
    assert_no_secret_logged(caplog)
    assert OLD_ACCESS not in repr(creds) + repr(adapter)


def test_tiktok_audited_public_post_without_disclosure(api: ApiState, video: Path) -> None:
    api.statuses = ["status_complete_public"]
    adapter = tiktok(api, audited=True)
    creds, _ = oauth()
    receipt = adapter.publish(package("tiktok", video, ad_disclosure=None, product_link=None), creds)
    post_info = api.requests("/video/init/")[0].json()["post_info"]
    assert post_info["privacy_level"] == "PUBLIC_TO_EVERYONE"
    assert post_info["brand_content_toggle"] is False and post_info["is_aigc"] is True
    assert receipt.remote_id == "7342123456789012345" and receipt.upload_id.startswith("v_pub_file")
    assert receipt.remote_url == "https://www.tiktok.com/@brand_cup/video/7342123456789012345"


def test_tiktok_refreshes_an_expired_token_first_and_persists_it(
    api: ApiState, video: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    adapter = tiktok(api)
    creds, saved = oauth(expired=True)
    adapter.publish(package("tiktok", video), creds)
    [refresh] = api.requests("/v2/oauth/token/")
    form = dict(pair.split("=", 1) for pair in refresh.body.decode().split("&"))
    assert form["grant_type"] == "refresh_token" and form["client_key"] == "mcn-app"
    assert api.requests("/creator_info/")[0].headers["authorization"] == "Bearer act.SECRET-new-access-0001"
    [(kind, secret)] = saved.renewed
    assert kind == "oauth" and secret["access_token"] == "act.SECRET-new-access-0001"
    assert secret["refresh_token"] == "rft.SECRET-new-1" and secret["client_id"] == "mcn-app"
    assert datetime.fromisoformat(secret["expires_at"]) > datetime.now(UTC) + timedelta(hours=23)
    assert secret["open_id"] and datetime.fromisoformat(secret["refresh_expires_at"]) > datetime.now(UTC)
    assert_no_secret_logged(caplog)


def test_tiktok_401_refreshes_once_then_session_expired(api: ApiState, video: Path) -> None:
    api.valid_tokens = set()  # the stored token was revoked although it has not expired
    adapter = tiktok(api)
    creds, saved = oauth()
    adapter.publish(package("tiktok", video), creds)  # refreshed after the 401, then it works
    assert [r.path for r in api.seen[:3]] == [
        "/v2/post/publish/creator_info/query/",
        "/v2/oauth/token/",
        "/v2/post/publish/creator_info/query/",
    ]
    assert len(saved.renewed) == 1

    api.refresh = "revoke_new"  # the new token is refused too: one refresh only, then a human
    api.valid_tokens = set()
    creds, saved = oauth()
    with pytest.raises(SessionExpired, match=r"access_token_invalid: tiktok: post .*: creator_info answered 401"):
        adapter.publish(package("tiktok", video), creds)
    assert len(saved.renewed) == 1 and len(api.requests("/v2/oauth/token/")) == 2

    api.refresh = "invalid_grant"
    creds, saved = oauth(expired=True)
    with pytest.raises(SessionExpired, match=r"refresh_rejected: tiktok: the token endpoint refused") as caught:
        adapter.publish(package("tiktok", video), creds)
    assert saved.renewed == [] and OLD_REFRESH not in str(caught.value)
    assert adapter.check_session(creds) is False
    assert adapter.check_session(oauth()[0]) is False  # api.valid_tokens is empty
    api.valid_tokens = {OLD_ACCESS}
    assert adapter.check_session(oauth()[0]) is True


@pytest.mark.parametrize(
    ("where", "answer", "error", "code"),
    [
        ("init", (403, "error_spam_risk_too_many_posts"), AccountRestricted, "spam_risk_too_many_posts"),
        (
            "init",
            (403, "error_spam_risk_user_banned_from_posting"),
            AccountRestricted,
            "spam_risk_user_banned_from_posting",
        ),
        ("init", (429, "error_rate_limit_exceeded"), RateLimited, "rate_limit_exceeded"),
        ("creator_info", (500, "error_internal_error"), RetryableError, "internal_error"),
        ("creator_info", (403, "error_spam_risk_too_many_posts"), AccountRestricted, "spam_risk_too_many_posts"),
    ],
)
def test_tiktok_error_mapping(
    api: ApiState, video: Path, where: str, answer: tuple[int, str], error: type[Exception], code: str
) -> None:
    setattr(api, where, answer)
    with pytest.raises(error) as caught:
        tiktok(api).publish(package("tiktok", video), oauth()[0])
    assert caught.value.code == code  # type: ignore[attr-defined]
    assert str(caught.value).startswith(f"{code}: tiktok: post ") and "\n" not in str(caught.value)
    if isinstance(caught.value, RateLimited):
        assert caught.value.retry_after == 60.0
    assert api.requests("/tiktok-upload/") == []


def test_tiktok_failed_status_is_rejected(api: ApiState, video: Path) -> None:
    api.statuses = ["status_failed"]
    with pytest.raises(PostRejected, match=r"duration_check_failed: tiktok: post .* failed: duration_check_failed"):
        tiktok(api).publish(package("tiktok", video), oauth()[0])


def test_tiktok_lost_init_answer_is_unknown_and_certainly_absent(api: ApiState, video: Path) -> None:
    api.init = "timeout"
    adapter = tiktok(api)
    creds, _ = oauth()
    post = package("tiktok", video)
    with pytest.raises(OutcomeUnknown, match=r"init_answer_lost: tiktok: post .*: video/init's answer was lost"):
        adapter.publish(post, creds)
    assert api.requests("/tiktok-upload/") == []
    assert adapter.find(post, creds) is None  # no byte was sent: a FILE_UPLOAD post cannot exist


def test_tiktok_lost_final_chunk_and_slow_status_are_unknown_then_reconciled(api: ApiState, video: Path) -> None:
    adapter = tiktok(api, status_timeout_s=0.3)
    creds, _ = oauth()
    post = package("tiktok", video)
    api.final_chunk = "timeout"
    with pytest.raises(
        OutcomeUnknown, match=r"upload_answer_lost: .*publish_id v_pub_file~v2-1.7342123456789012345"
    ) as lost:
        adapter.publish(post, creds)
    assert lost.value.remote_ref == "v_pub_file~v2-1.7342123456789012345"  # the dispatcher stores it on the post
    api.statuses = ["status_complete_private"]
    found = adapter.find(post, creds)
    assert found is not None and found.remote_id == "v_pub_file~v2-1.7342123456789012345"
    # another worker (a restart) reconciles from the stored publish_id
    api.statuses = ["status_complete_private"]
    stored = dataclasses.replace(post, remote_upload_id=lost.value.remote_ref)
    again = tiktok(api).find(stored, creds)
    assert again is not None and again.remote_id == found.remote_id

    api.final_chunk = "ok"
    api.chunks.clear()
    api.statuses = ["status_processing"]
    slow = package("tiktok", video)
    with pytest.raises(OutcomeUnknown, match=r"status_timeout: tiktok: post .*: still PROCESSING_UPLOAD after 0 s"):
        adapter.publish(slow, creds)
    with pytest.raises(RetryableError, match=r"still_processing"):
        adapter.find(slow, creds)
    api.statuses = ["status_failed"]
    assert adapter.find(slow, creds) is None

    with pytest.raises(RetryableError, match=r"cannot_reconcile: tiktok: post .*cannot search posts by tracking code"):
        tiktok(api).find(slow, creds)  # another worker: it never saw the attempt


def test_tiktok_refuses_scheduled_and_unlabelled_posts(api: ApiState, video: Path) -> None:
    adapter = tiktok(api)
    creds, _ = oauth()
    with pytest.raises(PostRejected, match=r"schedule_unsupported"):
        adapter.publish(package("tiktok", video, schedule_at=datetime.now(UTC) + timedelta(hours=3)), creds)
    with pytest.raises(PostRejected, match=r"compliance: tiktok: .* no AI-generated label"):
        adapter.publish(package("tiktok", video, ai_label=" "), creds)
    assert api.seen == []


# -- YouTube ---------------------------------------------------------------------------------------------------


def test_youtube_resumable_upload_with_a_308_resume(
    api: ApiState, video: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    api.put_mode = "partial_first"
    adapter = youtube(api)
    creds, saved = oauth()
    at = datetime(2030, 5, 1, 12, 30, tzinfo=UTC)
    post = package("youtube", video, schedule_at=at)

    receipt = adapter.publish(post, creds)

    [start] = api.requests("/upload/youtube/v3/videos")[:1]
    assert start.method == "POST" and start.query == {"uploadType": "resumable", "part": "snippet,status"}
    size = video.stat().st_size
    assert start.headers["x-upload-content-length"] == str(size)
    assert start.headers["x-upload-content-type"] == "video/mp4"
    resource = start.json()
    assert resource["status"] == {
        "privacyStatus": "private",
        "selfDeclaredMadeForKids": False,
        "containsSyntheticMedia": True,
        "publishAt": "2030-05-01T12:30:00Z",
    }
    snippet = resource["snippet"]
    assert snippet["title"] == "这款保温杯一整天都是热的 实测"  # < and > are not allowed
    description = snippet["description"]
    for expected in ("广告", "[内容由AI生成 / AI-generated]", "#生活好物", post.caption):
        assert expected in description
    assert description.endswith("\n" + post.tracking_code) and "#第六个" not in description
    assert snippet["tags"] == list(post.topics)
    puts = [s for s in api.requests("/upload/youtube/v3/videos") if s.method == "PUT"]
    assert len(puts) == 2
    assert "content-range" not in puts[0].headers and len(puts[0].body) == size
    half = size // 2
    assert puts[1].headers["content-range"] == f"bytes {half}-{size - 1}/{size}"
    assert bytes(api.stored) == video.read_bytes()
    assert all(s.headers["authorization"] == f"Bearer {OLD_ACCESS}" for s in api.seen)
    assert receipt.remote_id == "mcnVid00001" and receipt.remote_url == "https://youtu.be/mcnVid00001"
    assert saved.renewed == []
    assert_no_secret_logged(caplog)


@pytest.mark.parametrize(
    ("answer", "error", "code"),
    [
        ((403, "error_quota_exceeded"), AccountRestricted, "quotaExceeded"),
        ((400, "error_upload_limit_exceeded"), AccountRestricted, "uploadLimitExceeded"),
        ((403, "error_rate_limit_exceeded"), RateLimited, "rateLimitExceeded"),
        ((503, "error_backend"), RetryableError, "backendError"),
    ],
)
def test_youtube_error_mapping(
    api: ApiState, video: Path, answer: tuple[int, str], error: type[Exception], code: str
) -> None:
    api.start = answer
    with pytest.raises(error) as caught:
        youtube(api).publish(package("youtube", video), oauth()[0])
    assert caught.value.code == code  # type: ignore[attr-defined]
    assert str(caught.value).startswith(f"{code}: youtube: post ") and "\n" not in str(caught.value)
    if isinstance(caught.value, RateLimited):
        assert caught.value.retry_after == 30.0
    assert [s.method for s in api.seen] == ["POST"]


def test_youtube_401_refreshes_once_then_session_expired(api: ApiState, video: Path) -> None:
    api.valid_tokens = set()
    adapter = youtube(api)
    creds, saved = oauth()
    receipt = adapter.publish(package("youtube", video), creds)
    assert receipt.remote_id == "mcnVid00001"
    [refresh] = api.requests("/token")
    assert b"client_id=mcn-app" in refresh.body and b"grant_type=refresh_token" in refresh.body
    [(kind, secret)] = saved.renewed
    assert kind == "oauth" and secret["access_token"] == "act.SECRET-new-access-0001"
    assert secret["refresh_token"] == OLD_REFRESH  # Google answers no refresh token: the old one stays valid

    api.refresh = "revoke_new"
    api.valid_tokens = set()
    creds, saved = oauth()
    with pytest.raises(SessionExpired, match=r"authError: youtube: post .*: start answered 401 .*authorize"):
        adapter.publish(package("youtube", video), creds)
    assert len(saved.renewed) == 1
    assert adapter.check_session(oauth()[0]) is False
    api.valid_tokens = {OLD_ACCESS}
    assert adapter.check_session(oauth()[0]) is True


def test_youtube_5xx_on_the_final_put_is_unknown_then_reconciled(api: ApiState, video: Path) -> None:
    api.put_mode = "broken"  # the bytes arrive, the video is made, the answers are 503
    adapter = youtube(api, max_resumes=2)
    creds, _ = oauth()
    post = package("youtube", video)
    with pytest.raises(OutcomeUnknown, match=r"upload_answer_lost: youtube: post .*: the last bytes were sent"):
        adapter.publish(post, creds)

    api.put_mode = "ok"  # the upload session answers again: it holds the finished video
    found = adapter.find(post, creds)
    assert found is not None and (found.remote_id, found.tracking_code) == ("mcnVid00001", post.tracking_code)

    # another worker (no session remembered) scans the uploads playlist, newest first, across pages
    other = youtube(api)
    found = other.find(post, creds)
    assert found is not None and found.remote_id == "mcnVid00001" and found.remote_url == "https://youtu.be/mcnVid00001"
    assert found.published_at == datetime(2026, 3, 1, 4, 0, 5, tzinfo=UTC)
    assert [s.query.get("pageToken") for s in api.requests("/playlistItems")] == [None, "EAAaBlBUOkNESQ"]
    assert other.find(package("youtube", video), creds) is None


def test_official_adapters_are_marked_not_live_tested() -> None:
    for name in ("tiktok", "youtube"):
        adapter = create_adapter(name)
        cls = type(adapter)
        assert cls.live_tested is False and cls.method == "api" and cls.secret_kinds == ("oauth",)
        assert "NOT live-tested" in (cls.__doc__ or "")
        adapter.close()
