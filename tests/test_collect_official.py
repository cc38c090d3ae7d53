"""Metrics from the official-API adapters (TikTok Display API ``video/query``, YouTube ``videos.list`` and YouTube
Analytics ``reports.query``) against recorded answers, and ``analytics.collect`` over TikTok and YouTube accounts.

The answers are the JSON fixtures in ``tests/fixtures_platforms/{tiktok,youtube}/`` (shaped after the public
references; nothing here reached the live APIs), replayed over real HTTP by a small FastAPI app that checks bearer
tokens and batch sizes like the real endpoints and answers only the ids asked for. Per-token behaviour (a token the
platform refuses, one it throttles) lets one run hold a good, an expired and a throttled account at once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from analytics.collect import SNAPSHOTS, CollectOptions, CollectReport, collect, collect_metrics
from flows.collect import report_markdown
from mcn.db import get_engine
from publisher.adapters.base import Credentials, RateLimited, SessionExpired
from publisher.adapters.insights import (
    BatchMetricsSource,
    InsightsSource,
    InsightsUnsupported,
    OrderPage,
    PostMetrics,
)
from publisher.adapters.tiktok import TikTokAdapter
from publisher.adapters.youtube import YouTubeAdapter
from sandbox.server import serve_in_thread
from tests.analytics_support import add_account, add_posts

FIXTURES = Path(__file__).parent / "fixtures_platforms"
GOOD = "act.SECRET-good-access-0001"
THROTTLED = "act.SECRET-throttled-access-0002"
REVOKED = "act.SECRET-revoked-access-0003"  # the platform answers 401; its refresh token is refused too
REFRESH = "rft.SECRET-refresh-0001"
CLIENT_SECRET = "SECRET-client-secret-0001"
SECRETS = (GOOD, THROTTLED, REVOKED, REFRESH, CLIENT_SECRET)
TIKTOK_FIELDS = "id,create_time,view_count,like_count,comment_count,share_count"


def recorded(platform: str, name: str) -> Any:
    return json.loads((FIXTURES / platform / f"{name}.json").read_text(encoding="utf-8"))


@dataclass
class Platforms:
    base: str = ""
    analytics: str = "ok"  # or "forbidden": a token granted without yt-analytics.readonly
    seen: list[tuple[str, dict[str, str], dict[str, Any] | None]] = field(default_factory=list)

    def requests(self, path: str) -> list[tuple[str, dict[str, str], dict[str, Any] | None]]:
        return [s for s in self.seen if s[0] == path]


def make_app(state: Platforms) -> FastAPI:
    app = FastAPI()

    def token(request: Request) -> str:
        header = request.headers.get("authorization", "")
        return header[7:] if header.startswith("Bearer ") else ""

    @app.post("/v2/video/query/")
    async def video_query(request: Request) -> JSONResponse:
        body = await request.json()
        state.seen.append((request.url.path, dict(request.query_params), body))
        if token(request) not in (GOOD, THROTTLED):
            return JSONResponse(recorded("tiktok", "error_access_token_invalid"), status_code=401)
        if token(request) == THROTTLED:
            return JSONResponse(recorded("tiktok", "error_rate_limit_exceeded"), status_code=429)
        ids = body["filters"]["video_ids"]
        if len(ids) > 20 or request.query_params.get("fields") != TIKTOK_FIELDS:
            return JSONResponse({"data": {}, "error": {"code": "invalid_params", "message": "", "log_id": "x"}}, 400)
        answer = recorded("tiktok", "video_query")
        answer["data"]["videos"] = [v for v in answer["data"]["videos"] if v["id"] in ids]
        return JSONResponse(answer)

    @app.post("/v2/oauth/token/")
    async def tiktok_token(request: Request) -> JSONResponse:
        return JSONResponse(recorded("tiktok", "oauth_invalid_grant"), status_code=400)

    @app.get("/youtube/v3/videos")
    def videos(request: Request) -> JSONResponse:
        state.seen.append((request.url.path, dict(request.query_params), None))
        if token(request) not in (GOOD, THROTTLED):
            return JSONResponse(recorded("youtube", "error_unauthorized"), status_code=401)
        if token(request) == THROTTLED:
            return JSONResponse(recorded("youtube", "error_too_many_requests"), status_code=429)
        ids = request.query_params["id"].split(",")
        if len(ids) > 50 or "statistics" not in request.query_params["part"].split(","):
            return JSONResponse(recorded("youtube", "error_backend"), status_code=400)
        answer = recorded("youtube", "videos_statistics")
        answer["items"] = [v for v in answer["items"] if v["id"] in ids]
        return JSONResponse(answer)

    @app.get("/v2/reports")
    def reports(request: Request) -> JSONResponse:
        state.seen.append((request.url.path, dict(request.query_params), None))
        if token(request) != GOOD:
            return JSONResponse(recorded("youtube", "error_unauthorized"), status_code=401)
        if state.analytics == "forbidden":
            return JSONResponse(recorded("youtube", "error_insufficient_permissions"), status_code=403)
        ids = request.query_params["filters"].removeprefix("video==").split(",")
        answer = recorded("youtube", "analytics_video_report")
        answer["rows"] = [r for r in answer["rows"] if r[0] in ids]
        return JSONResponse(answer)

    @app.post("/token")
    async def google_token(request: Request) -> JSONResponse:
        return JSONResponse(recorded("youtube", "oauth_invalid_grant"), status_code=400)

    return app


@pytest.fixture(scope="module")
def server() -> Iterator[Platforms]:
    state = Platforms()
    with serve_in_thread(make_app(state)) as url:
        state.base = url
        yield state


@pytest.fixture
def platforms(server: Platforms) -> Platforms:
    server.seen.clear()
    server.analytics = "ok"
    return server


def credentials(account_id: int, access: str = GOOD) -> Credentials:
    secret = {
        "access_token": access,
        "refresh_token": REFRESH,
        "expires_at": (datetime.now(UTC) + timedelta(hours=6)).isoformat(),
        "client_id": "mcn-app",
        "client_secret": CLIENT_SECRET,
    }
    return Credentials(account_id=account_id, secrets={"oauth": secret})


def adapters(platforms: Platforms) -> tuple[TikTokAdapter, YouTubeAdapter]:
    tiktok = TikTokAdapter(api_base=platforms.base)
    youtube = YouTubeAdapter(
        api_base=platforms.base, token_url=f"{platforms.base}/token", analytics_base=platforms.base
    )
    return tiktok, youtube


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


def test_tiktok_video_query_in_batches_of_20(platforms: Platforms) -> None:
    tiktok, _ = adapters(platforms)
    assert isinstance(tiktok, InsightsSource) and isinstance(tiktok, BatchMetricsSource)
    unknown = [f"73400000000000000{n:02d}" for n in range(23)]
    ids = ["7342123456789012345", *unknown, "7342123456789012399", "v_pub_file~v2-1.7342123456789012345"]
    found = tiktok.posts_metrics(ids, credentials(1))

    assert set(found) == {"7342123456789012345", "7342123456789012399"}
    first = found["7342123456789012345"]
    assert (first.plays, first.likes, first.comments, first.shares) == (15230, 812, 37, 21)
    assert first.published_at == datetime.fromtimestamp(1772366400, UTC)
    assert first.completion_rate is None and first.product_clicks == 0
    calls = platforms.requests("/v2/video/query/")
    # 25 video ids in 20 + 5; the publish_id of a post without a public id is never asked for
    assert [len(body["filters"]["video_ids"]) for _, _, body in calls if body] == [20, 5]
    assert all(query == {"fields": TIKTOK_FIELDS} for _, query, _ in calls)
    with pytest.raises(InsightsUnsupported):
        tiktok.order_page(credentials(1), None, None, None, 100)
    tiktok.close()


def test_youtube_videos_list_in_batches_of_50_with_completion(platforms: Platforms) -> None:
    _, youtube = adapters(platforms)
    assert isinstance(youtube, InsightsSource) and isinstance(youtube, BatchMetricsSource)
    ids = ["mcnVid00001", *[f"other{n:06d}" for n in range(53)], "mcnVid00002"]
    found = youtube.posts_metrics(ids, credentials(2))

    assert set(found) == {"mcnVid00001", "mcnVid00002"}
    one, two = found["mcnVid00001"], found["mcnVid00002"]
    assert (one.plays, one.likes, one.comments, one.completion_rate) == (48213, 1290, 88, pytest.approx(0.634))
    assert one.published_at == datetime(2026, 3, 1, 12, tzinfo=UTC)
    # likes hidden and comments off on the second video: no figure, not a made-up one
    assert (two.plays, two.likes, two.comments, two.completion_rate) == (731, 0, None, pytest.approx(0.41))
    listed = platforms.requests("/youtube/v3/videos")
    assert [len(q["id"].split(",")) for _, q, _ in listed] == [50, 5]
    reports = platforms.requests("/v2/reports")
    # asked only for the videos YouTube answered, from the earliest publish day
    assert [q["filters"] for _, q, _ in reports] == ["video==mcnVid00001", "video==mcnVid00002"]
    assert reports[0][1]["ids"] == "channel==MINE" and reports[0][1]["startDate"] == "2026-03-01"
    assert reports[0][1]["metrics"] == "views,averageViewPercentage" and reports[0][1]["dimensions"] == "video"
    with pytest.raises(InsightsUnsupported):
        youtube.order_page(credentials(2), None, None, None, 100)
    youtube.close()


def test_youtube_without_the_analytics_scope_keeps_the_counters(
    platforms: Platforms, caplog: pytest.LogCaptureFixture
) -> None:
    platforms.analytics = "forbidden"
    _, youtube = adapters(platforms)
    caplog.set_level(logging.DEBUG)
    found = youtube.posts_metrics(["mcnVid00001"], credentials(2))
    assert found["mcnVid00001"].plays == 48213 and found["mcnVid00001"].completion_rate is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "insufficientPermissions" in warnings[0]
    assert_no_secret(caplog.text)
    youtube.close()


def test_official_adapters_map_401_and_429(platforms: Platforms) -> None:
    tiktok, youtube = adapters(platforms)
    with pytest.raises(SessionExpired):  # 401, one refresh refused: a human must authorize again
        tiktok.posts_metrics(["7342123456789012345"], credentials(1, REVOKED))
    with pytest.raises(RateLimited):
        tiktok.posts_metrics(["7342123456789012345"], credentials(1, THROTTLED))
    with pytest.raises(SessionExpired):
        youtube.posts_metrics(["mcnVid00001"], credentials(2, REVOKED))
    with pytest.raises(RateLimited):
        youtube.posts_metrics(["mcnVid00001"], credentials(2, THROTTLED))
    tiktok.close()
    youtube.close()


def test_collect_over_tiktok_and_youtube_accounts(
    data_dir: Path, platforms: Platforms, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tiktok_ok = add_account("tt-ok", platform="tiktok")
    youtube_ok = add_account("yt-ok", platform="youtube")
    tiktok_revoked = add_account("tt-revoked", platform="tiktok")
    youtube_throttled = add_account("yt-throttled", platform="youtube")
    tiktok_throttled = add_account("tt-throttled", platform="tiktok")
    youtube_revoked = add_account("yt-revoked", platform="youtube")
    tt_posts = add_posts(
        tiktok_ok,
        [
            {"product_id": "p1", "remote_id": "7342123456789012345"},
            {"product_id": "p1", "remote_id": "7342123456789012399"},
            {"product_id": "p2", "remote_id": "7342000000000000001"},  # deleted on TikTok since
        ],
        platform="tiktok",
    )
    yt_posts = add_posts(
        youtube_ok,
        [{"product_id": "p1", "remote_id": "mcnVid00001"}, {"product_id": "p2", "remote_id": "mcnVid00002"}],
        platform="youtube",
    )
    add_posts(tiktok_revoked, [{"product_id": "p1", "remote_id": "7342123456789012345"}], platform="tiktok")
    add_posts(youtube_throttled, [{"product_id": "p1", "remote_id": "mcnVid00001"}], platform="youtube")
    add_posts(tiktok_throttled, [{"product_id": "p1", "remote_id": "7342123456789012345"}], platform="tiktok")
    add_posts(youtube_revoked, [{"product_id": "p1", "remote_id": "mcnVid00002"}], platform="youtube")
    tokens = {
        tiktok_ok: GOOD,
        youtube_ok: GOOD,
        tiktok_revoked: REVOKED,
        youtube_throttled: THROTTLED,
        tiktok_throttled: THROTTLED,
        youtube_revoked: REVOKED,
    }
    tiktok, youtube = adapters(platforms)

    report = collect(
        CollectOptions(platforms=("tiktok", "youtube")),
        adapters={"tiktok": tiktok, "youtube": youtube},
        load_credentials=lambda account_id: credentials(account_id, tokens[account_id]),
    )

    assert report.accounts == 6 and report.snapshots == 4
    assert set(report.skipped_orders) == {"tiktok", "youtube"} and report.orders_read == 0
    # one line per failing account, one for the post TikTok no longer has; the other accounts went on
    assert len(report.problems) == 5, report.problems
    for account_id, platform in ((tiktok_revoked, "tiktok"), (youtube_revoked, "youtube")):
        assert sum(f"account {account_id} ({platform}): " in p and "authorize" in p for p in report.problems) == 1
    for account_id, platform in ((tiktok_throttled, "tiktok"), (youtube_throttled, "youtube")):
        assert sum(f"account {account_id} ({platform}): rate" in p for p in report.problems) == 1
    assert sum(tt_posts[2].post_id in p for p in report.problems) == 1
    with get_engine().connect() as conn:
        rows = {r.post_id: r for r in conn.execute(select(SNAPSHOTS))}
    assert set(rows) == {tt_posts[0].post_id, tt_posts[1].post_id, yt_posts[0].post_id, yt_posts[1].post_id}
    tt = rows[tt_posts[0].post_id]
    assert (tt.plays, tt.likes, tt.comments, tt.shares, tt.completion_rate) == (15230, 812, 37, 21, None)
    assert tt.published_at.replace(tzinfo=UTC) == datetime.fromtimestamp(1772366400, UTC)
    yt = rows[yt_posts[0].post_id]
    assert (yt.plays, yt.likes, yt.comments) == (48213, 1290, 88)
    assert yt.completion_rate == pytest.approx(0.634)
    assert yt.published_at.replace(tzinfo=UTC) == datetime(2026, 3, 1, 12, tzinfo=UTC)
    # secrets reach neither the logs nor what is shown or stored about the run
    assert_no_secret(caplog.text, "\n".join(report.problems), report_markdown(report), repr(report))
    tiktok.close()
    youtube.close()


class PerPost:
    """The TikTok adapter seen through the per-post methods only (an adapter without a batch read)."""

    def __init__(self, adapter: TikTokAdapter) -> None:
        self.adapter = adapter

    def post_metrics(self, remote_id: str, credentials: Credentials) -> PostMetrics:
        return self.adapter.post_metrics(remote_id, credentials)

    def post_published_at(self, remote_id: str, credentials: Credentials) -> datetime | None:
        return self.adapter.post_published_at(remote_id, credentials)

    def order_page(
        self, credentials: Credentials, start: datetime | None, end: datetime | None, cursor: str | None, count: int
    ) -> OrderPage:
        return self.adapter.order_page(credentials, start, end, cursor, count)


def test_per_post_reading_stops_at_the_first_429(data_dir: Path, platforms: Platforms) -> None:
    account_id = add_account("tt-per-post", platform="tiktok")
    add_posts(account_id, [{"remote_id": "7342123456789012345"}] * 3, platform="tiktok")
    tiktok, _ = adapters(platforms)
    reader = PerPost(tiktok)
    assert isinstance(reader, InsightsSource) and not isinstance(reader, BatchMetricsSource)
    report = CollectReport()
    with pytest.raises(RateLimited):  # the caller makes it one line for the account
        collect_metrics(
            reader, account_id, credentials(account_id, THROTTLED), datetime(2000, 1, 1, tzinfo=UTC), report
        )
    assert len(platforms.requests("/v2/video/query/")) == 1 and report.problems == []
    tiktok.close()
