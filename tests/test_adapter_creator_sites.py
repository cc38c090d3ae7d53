"""The Douyin, Kuaishou and Xiaohongshu adapters in real Chromium against local fixture pages.

The fixture pages (``tests/fixtures_platforms/<platform>/*.html`` + ``creator_sim.js``) carry the markup the
selector files target, and behave like the creator sites: the login gate redirects an expired session, the upload
really streams the file to the server with progress, the product link is looked up, publishing posts the form
and redirects to the manage (or success) page, which lists the recorded posts. A small FastAPI app serves them
(``sandbox.server.serve_in_thread``) with a scenario switch per platform: captcha, upload failure, a missing AI
option, a publish whose answer never comes back, a restriction text. The adapters run unchanged, pointed at it
with ``base_url``. Nothing here reached the live sites.
"""

from __future__ import annotations

import itertools
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from playwright.sync_api import Browser

from mcn.browser import launch_chromium
from publisher.adapters import (
    AccountRestricted,
    Credentials,
    OutcomeUnknown,
    PostPackage,
    PostRejected,
    RetryableError,
    SessionExpired,
    adapter_names,
    create_adapter,
)
from publisher.adapters.browser import acquire_playwright, release_playwright
from publisher.adapters.creator_site import (
    UNKNOWN_REMOTE_ID,
    CreatorSiteAdapter,
    load_site_config,
    post_text,
    selector_files,
)
from sandbox.server import serve_in_thread
from tests.sandbox_support import make_video

FIXTURES = Path(__file__).parent / "fixtures_platforms"
PLATFORMS = ("douyin", "kuaishou", "xiaohongshu")
KNOWN_PRODUCT = "https://haohuo.example.com/goods/cup-123"
# Short bounds: the fixture server is local, and the "missing" cases wait for the full bound.
TEST_TIMEOUTS = {
    "navigation": 10,
    "page_ready": 5,
    "publish_form": 5,
    "upload": 10,
    "step": 2,
    "publish_result": 3,
    "manage": 5,
}


@dataclass(frozen=True)
class SitePages:
    """One platform's fixture routes: path -> (file, needs login), where logins go, where publishing lands."""

    cookie: str
    login_path: str
    pages: dict[str, tuple[str, bool]]
    success_path: str
    id_format: str


SITES = {
    "douyin": SitePages(
        cookie="sessionid",
        login_path="/",
        pages={
            "/": ("login.html", False),
            "/creator-micro/content/upload": ("upload.html", True),
            "/creator-micro/content/publish": ("upload.html", True),
            "/creator-micro/content/manage": ("manage.html", True),
        },
        success_path="/creator-micro/content/manage",
        id_format="7301{n:010d}",
    ),
    "kuaishou": SitePages(
        cookie="kuaishou.web.cp.api_st",
        login_path="/profile",
        pages={
            "/profile": ("login.html", False),
            "/article/publish/video": ("upload.html", True),
            "/article/manage/video": ("manage.html", True),
        },
        success_path="/article/manage/video?status=2&from=publish",
        id_format="3x{n:08x}ks",
    ),
    "xiaohongshu": SitePages(
        cookie="web_session",
        login_path="/login",
        pages={
            "/login": ("login.html", False),
            "/publish/publish": ("upload.html", True),
            "/publish/success": ("success.html", True),
            "/new/note-manager": ("manage.html", True),
        },
        success_path="/publish/success?source=official",
        id_format="65ab{n:020x}",
    ),
}


@dataclass
class SiteState:
    """What one fixture site has seen: the scenario in force, uploads (bytes received) and published posts."""

    scenario: str = "ok"
    uploads: dict[str, int] = field(default_factory=dict)
    posts: list[dict[str, Any]] = field(default_factory=list)


class FixtureSites:
    def __init__(self) -> None:
        self.state = {name: SiteState() for name in SITES}
        self._ids = itertools.count(1)

    def reset(self, platform: str, scenario: str = "ok") -> SiteState:
        self.state[platform] = SiteState(scenario=scenario)
        return self.state[platform]

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/_sim/creator_sim.js")
        def script() -> FileResponse:
            return FileResponse(FIXTURES / "creator_sim.js", media_type="text/javascript")

        @app.get("/_sim/{platform}/scenario.js")
        def scenario(platform: str) -> Response:
            body = f"window.SIM = {json.dumps({'platform': platform, 'scenario': self.state[platform].scenario})};"
            return Response(body, media_type="text/javascript")

        @app.post("/_sim/{platform}/upload")
        async def upload(platform: str, request: Request) -> JSONResponse:
            data = await request.body()
            state = self.state[platform]
            if state.scenario == "upload_fail":
                return JSONResponse({"error": "transcode failed"}, status_code=500)
            upload_id = f"up{next(self._ids)}"
            state.uploads[upload_id] = len(data)
            return JSONResponse({"upload_id": upload_id})

        @app.get("/_sim/{platform}/product")
        def product(platform: str, link: str) -> dict[str, bool]:
            return {"found": link == KNOWN_PRODUCT}

        @app.post("/_sim/{platform}/publish")
        async def publish(platform: str, request: Request) -> dict[str, Any]:
            state = self.state[platform]
            if state.scenario == "restricted":
                return {"error_text": "发布太频繁，请稍后再试"}
            record = dict(await request.json())
            record["id"] = SITES[platform].id_format.format(n=next(self._ids))
            state.posts.insert(0, record)
            if state.scenario == "publish_hang":
                return {"id": record["id"], "hang": True}
            return {"id": record["id"], "next": f"/{platform}{SITES[platform].success_path}"}

        @app.get("/_sim/{platform}/posts")
        def posts(platform: str) -> list[dict[str, Any]]:
            return [{"id": p["id"], "description": p["description"]} for p in self.state[platform].posts]

        @app.post("/_sim/{platform}/login")
        def login(platform: str) -> JSONResponse:
            site = SITES[platform]
            upload_path = next(p for p, (_f, gated) in site.pages.items() if gated)
            response = JSONResponse({"next": f"/{platform}{upload_path}"})
            response.set_cookie(site.cookie, "valid", path="/")
            return response

        @app.get("/{platform}/{path:path}")
        def page(platform: str, path: str, request: Request) -> Response:
            site = SITES.get(platform)
            entry = site.pages.get("/" + path.rstrip("/")) if site else None
            if site is None or entry is None:
                return Response("not found", status_code=404)
            filename, gated = entry
            if gated and request.cookies.get(site.cookie) != "valid":
                return RedirectResponse(f"/{platform}{site.login_path}", status_code=302)
            return FileResponse(FIXTURES / platform / filename, media_type="text/html")

        return app


@pytest.fixture(scope="module")
def sites() -> Iterator[tuple[FixtureSites, str]]:
    fixture = FixtureSites()
    with serve_in_thread(fixture.app()) as url:
        yield fixture, url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    playwright = acquire_playwright()
    chromium = launch_chromium(playwright)
    yield chromium
    chromium.close()
    release_playwright()


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("creator-videos") / "clip.mp4", 11)


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    return tmp_path / "screenshots"


def adapter_for(platform: str, sites: tuple[FixtureSites, str], browser: Browser, shots: Path) -> CreatorSiteAdapter:
    adapter = create_adapter(
        platform, base_url=f"{sites[1]}/{platform}", browser=browser, screenshot_dir=shots, timeouts=TEST_TIMEOUTS
    )
    assert isinstance(adapter, CreatorSiteAdapter)
    return adapter


class SavedSecrets:
    """``Credentials.save`` that records what the adapter renewed."""

    def __init__(self) -> None:
        self.saved: list[tuple[str, Any]] = []

    def __call__(self, kind: str, value: Any) -> None:
        self.saved.append((kind, value))


def credentials(
    platform: str, sites: tuple[FixtureSites, str], value: str = "valid"
) -> tuple[Credentials, SavedSecrets]:
    host = sites[1].split("//", 1)[1].split(":", 1)[0]
    state = {
        "cookies": [
            {
                "name": SITES[platform].cookie,
                "value": value,
                "domain": host,
                "path": "/",
                "expires": -1,
                "httpOnly": True,
                "secure": False,
                "sameSite": "Lax",
            }
        ],
        "origins": [],
    }
    saver = SavedSecrets()
    return Credentials(account_id=7, secrets={"session": state}, save=saver), saver


_posts = itertools.count(1)


def package(platform: str, video: Path, **fields: Any) -> PostPackage:
    n = next(_posts)
    defaults: dict[str, Any] = {
        "post_id": f"post-{platform}-{n}",
        "idempotency_key": f"key-{platform}-{n}",
        "tracking_code": f"TRK{platform[:2].upper()}{n:05d}",
        "platform": platform,
        "account_id": 7,
        "account_handle": "brand_cup",
        "video_path": video,
        "title": "这款保温杯一整天都是热的，通勤上班族和学生党都必备的好物，推荐给大家",
        "caption": "实测12小时保温，杯盖防漏。",
        "topics": ("好物推荐", "保温杯", "通勤", "上班族", "生活好物", "第六个话题"),
    }
    defaults.update(fields)
    return PostPackage(**defaults)


def screenshot_in(exc: BaseException, shots: Path, platform: str) -> Path:
    message = str(exc)
    assert "(screenshot: " in message, message
    path = Path(message.rsplit("(screenshot: ", 1)[1].rstrip(")"))
    assert path.parent == shots / platform and path.is_file() and path.stat().st_size > 1000
    return path


# -- selector files and text rules (no browser) ----------------------------------------------------------------


def test_selector_files_are_versioned_unverified_and_adapters_say_not_live_tested() -> None:
    assert set(PLATFORMS) <= set(adapter_names())
    for platform in PLATFORMS:
        assert 1 in selector_files(platform)
        config = load_site_config(platform)
        assert (config.platform, config.version, config.verified) == (platform, 1, False)
        assert "no access" in config.verified_reason and config.date_verified == ""
        assert config.selectors.ai_declaration_option, "the AI declaration is never optional"
        cls = type(create_adapter(platform, screenshot_dir=Path("/nonexistent"), headless=True))
        assert cls.live_tested is False and cls.method == "browser" and cls.secret_kinds == ("session",)
        assert "NOT LIVE-TESTED" in (sys.modules[cls.__module__].__doc__ or "")
        assert "NOT live-tested" in (cls.__doc__ or "")


def test_a_broken_selector_file_is_one_line_naming_it(tmp_path: Path) -> None:
    source = (Path(selector_files("douyin")[1])).read_text(encoding="utf-8")
    broken = tmp_path / "douyin.v9.toml"
    broken.write_text(source.replace("publish_button = \"button:text-is('发布')\"\n", ""), encoding="utf-8")
    with pytest.raises(ValueError, match=r"douyin\.v9\.toml: missing keys in \[selectors\]: publish_button$"):
        load_site_config("douyin", path=broken)
    with pytest.raises(ValueError, match=r"unknown timeouts publish"):
        load_site_config("douyin").with_timeouts({"publish": 1})


def test_post_text_cuts_titles_and_topics_and_formats_schedules(tmp_path: Path) -> None:
    video = tmp_path / "v.mp4"
    now = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
    douyin = load_site_config("douyin")
    post = package("douyin", video, schedule_at=now + timedelta(hours=3), ad_disclosure="广告")
    text = post_text(douyin, post, now)
    assert len(text.title) == 30 and post.title.startswith(text.title)
    assert text.topics == ("好物推荐", "保温杯", "通勤", "上班族", "生活好物")
    assert text.body.splitlines() == [post.caption, "广告 [内容由AI生成 / AI-generated]", post.tracking_code]
    assert text.schedule == "2026-03-01 15:00"
    assert len(text.product_short_title) == 10
    with pytest.raises(PostRejected, match=r"invalid_schedule_time: douyin: .* not more than 120 minutes ahead"):
        post_text(douyin, package("douyin", video, schedule_at=now + timedelta(minutes=90)), now)
    with pytest.raises(PostRejected, match=r"more than 14 days ahead"):
        post_text(douyin, package("douyin", video, schedule_at=now + timedelta(days=15)), now)

    kuaishou = post_text(load_site_config("kuaishou"), package("kuaishou", video), now)
    assert kuaishou.title == "" and kuaishou.body.startswith("这款保温杯一整天都是热的") and len(kuaishou.topics) == 3
    xhs = load_site_config("xiaohongshu")
    assert len(post_text(xhs, package("xiaohongshu", video), now).title) == 20
    linked = package("xiaohongshu", video, product_link=KNOWN_PRODUCT, ad_disclosure="广告")
    with pytest.raises(PostRejected, match=r"product_link_unsupported: xiaohongshu: post .*: this site cannot attach"):
        post_text(xhs, linked, now)


# -- in Chromium ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("platform", PLATFORMS)
def test_publish_fills_every_field_labels_ai_and_reads_the_remote_id(
    platform: str, sites: tuple[FixtureSites, str], browser: Browser, video: Path, shots: Path
) -> None:
    state = sites[0].reset(platform)
    adapter = adapter_for(platform, sites, browser, shots)
    creds, saver = credentials(platform, sites)
    linked = platform != "xiaohongshu"
    schedule = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(hours=3)
    post = package(
        platform,
        video,
        ad_disclosure="广告",
        product_link=KNOWN_PRODUCT if linked else None,
        schedule_at=schedule if platform != "kuaishou" else None,
    )
    steps: list[str] = []

    receipt = adapter.publish(post, creds, lambda step, _fraction: steps.append(step))

    [recorded] = state.posts
    assert receipt.remote_id == recorded["id"]
    assert receipt.remote_url and recorded["id"] in receipt.remote_url
    assert state.uploads[recorded["upload_id"]] == video.stat().st_size  # the real bytes went up
    assert recorded["declaration"] == "ai_generated"
    description = recorded["description"]
    for expected in ("广告", "内容由AI生成 / AI-generated", post.tracking_code, post.caption):
        assert expected in description
    limits = adapter.config.limits
    topics = [t for t in post.topics[: limits.max_topics]]
    assert all(f"#{t}" in description for t in topics) and f"#{post.topics[limits.max_topics]}" not in description
    if limits.title_max_chars:
        assert recorded["title"] == post.title[: limits.title_max_chars]
    else:
        assert recorded["title"] is None and post.title in description
    if linked:
        assert recorded["product"]["link"] == KNOWN_PRODUCT
        if platform == "douyin":
            assert recorded["product"]["short_title"] == post.title[:10]
    if post.schedule_at is not None:
        local = schedule.astimezone(ZoneInfo("Asia/Shanghai"))
        assert recorded["schedule"] == local.strftime(limits.schedule_format)
        assert receipt.detail.startswith("scheduled ")
    else:
        assert recorded["schedule"] is None
    assert steps[0] == "open" and steps[-1] == "done"
    [(kind, session)] = saver.saved  # the session is re-saved after the upload
    assert kind == "session" and any(c["name"] == SITES[platform].cookie for c in session["cookies"])
    assert not shots.exists()  # screenshots only on failure

    found = adapter.find(post, creds)
    assert found is not None and found.remote_id == recorded["id"] and found.tracking_code == post.tracking_code
    assert adapter.find(package(platform, video), creds) is None
    assert adapter.check_session(creds) is True


@pytest.mark.parametrize("platform", PLATFORMS)
def test_an_expired_login_is_session_expired_and_publishes_nothing(
    platform: str, sites: tuple[FixtureSites, str], browser: Browser, video: Path, shots: Path
) -> None:
    state = sites[0].reset(platform)
    adapter = adapter_for(platform, sites, browser, shots)
    creds, saver = credentials(platform, sites, value="stale-cookie-0xSECRET")
    with pytest.raises(SessionExpired, match=rf"session_expired: {platform} post .*: .* a human must log in") as caught:
        adapter.publish(package(platform, video), creds)
    assert "0xSECRET" not in str(caught.value)
    screenshot_in(caught.value, shots, platform)
    assert state.posts == [] and saver.saved == []
    assert adapter.check_session(creds) is False


def test_a_captcha_is_session_expired_for_a_human(
    sites: tuple[FixtureSites, str], browser: Browser, video: Path, shots: Path
) -> None:
    state = sites[0].reset("douyin", "captcha")
    adapter = adapter_for("douyin", sites, browser, shots)
    creds, _ = credentials("douyin", sites)
    with pytest.raises(SessionExpired, match=r"verification_required: .*captcha or SMS check; a human must log in"):
        adapter.publish(package("douyin", video), creds)
    assert state.posts == [] and state.uploads == {}
    assert adapter.check_session(creds) is False


def test_upload_failure_is_retryable_with_a_screenshot(
    sites: tuple[FixtureSites, str], browser: Browser, video: Path, shots: Path
) -> None:
    state = sites[0].reset("douyin", "upload_fail")
    adapter = adapter_for("douyin", sites, browser, shots)
    creds, _ = credentials("douyin", sites)
    with pytest.raises(
        RetryableError, match=r"upload_failed: douyin: post .*: the site says the upload failed"
    ) as caught:
        adapter.publish(package("douyin", video), creds)
    screenshot_in(caught.value, shots, "douyin")
    assert state.posts == []


def test_an_unknown_product_link_is_rejected(
    sites: tuple[FixtureSites, str], browser: Browser, video: Path, shots: Path
) -> None:
    state = sites[0].reset("douyin")
    adapter = adapter_for("douyin", sites, browser, shots)
    creds, _ = credentials("douyin", sites)
    post = package("douyin", video, product_link="https://haohuo.example.com/goods/gone", ad_disclosure="广告")
    with pytest.raises(PostRejected, match=r"product_not_found: douyin: post .*未搜索到对应商品") as caught:
        adapter.publish(post, creds)
    screenshot_in(caught.value, shots, "douyin")
    assert state.posts == []


def test_a_missing_ai_declaration_control_refuses_the_post(
    sites: tuple[FixtureSites, str], browser: Browser, video: Path, shots: Path
) -> None:
    state = sites[0].reset("douyin", "no_ai")
    adapter = adapter_for("douyin", sites, browser, shots)
    creds, _ = credentials("douyin", sites)
    with pytest.raises(PostRejected) as caught:
        adapter.publish(package("douyin", video), creds)
    assert caught.value.code == "ai_declaration_control_missing"
    assert "refusing to post unlabelled" in caught.value.message and "douyin.v1.toml" in caught.value.message
    screenshot_in(caught.value, shots, "douyin")
    assert state.posts == []  # never published unlabelled
    assert len(state.uploads) == 1  # it got as far as uploading: the refusal is the declaration step's


def test_no_answer_after_publish_is_outcome_unknown_and_find_reconciles(
    sites: tuple[FixtureSites, str], browser: Browser, video: Path, shots: Path
) -> None:
    state = sites[0].reset("douyin", "publish_hang")
    adapter = adapter_for("douyin", sites, browser, shots)
    creds, saver = credentials("douyin", sites)
    post = package("douyin", video)
    with pytest.raises(OutcomeUnknown, match=r"publish_timeout: douyin: post .*: no success page within 3 s") as caught:
        adapter.publish(post, creds)
    screenshot_in(caught.value, shots, "douyin")
    [recorded] = state.posts  # the site did take it
    assert saver.saved == []
    found = adapter.find(post, creds)
    assert found is not None and found.remote_id == recorded["id"]
    assert found.remote_url == f"https://www.douyin.com/video/{recorded['id']}"


def test_a_restriction_text_after_publish_stops_the_account(
    sites: tuple[FixtureSites, str], browser: Browser, video: Path, shots: Path
) -> None:
    sites[0].reset("douyin", "restricted")
    adapter = adapter_for("douyin", sites, browser, shots)
    creds, _ = credentials("douyin", sites)
    with pytest.raises(AccountRestricted, match=r"posting_restricted: douyin: post .* posts too often"):
        adapter.publish(package("douyin", video), creds)


def test_capture_login_waits_for_the_human_and_returns_the_session(
    sites: tuple[FixtureSites, str], browser: Browser, shots: Path
) -> None:
    sites[0].reset("douyin", "auto_login")  # the login page "scans" after 0.4 s, as the operator's phone would
    adapter = adapter_for("douyin", sites, browser, shots)
    context = browser.new_context()
    try:
        page = context.new_page()
        assert adapter.login_url() == f"{sites[1]}/douyin/"
        page.goto(adapter.login_url())
        secrets = adapter.capture_login(page, timeout_s=10)
    finally:
        context.close()
    session = secrets["session"]
    assert [c["value"] for c in session["cookies"] if c["name"] == "sessionid"] == ["valid"]
    sites[0].reset("douyin")
    assert adapter.check_session(Credentials(account_id=7, secrets=secrets)) is True


def test_unknown_remote_id_when_the_manage_page_does_not_show_the_post(
    sites: tuple[FixtureSites, str], browser: Browser, video: Path, shots: Path, tmp_path: Path
) -> None:
    """A selector file whose manage items do not match: the post is out, the id is reconciled later."""
    source = Path(selector_files("douyin")[1]).read_text(encoding="utf-8")
    changed = tmp_path / "douyin.v2.toml"
    changed.write_text(
        source.replace("version = 1", "version = 2").replace("[class*='video-card']\"", "[class*='gone']\"")
    )
    state = sites[0].reset("douyin")
    adapter = create_adapter(
        "douyin",
        base_url=f"{sites[1]}/douyin",
        browser=browser,
        screenshot_dir=shots,
        timeouts={**TEST_TIMEOUTS, "manage": 1},
        selector_file=changed,
    )
    creds, _ = credentials("douyin", sites)
    receipt = adapter.publish(package("douyin", video), creds)
    assert len(state.posts) == 1
    assert receipt.remote_id == UNKNOWN_REMOTE_ID and receipt.remote_url is None
    assert "reconcile by tracking code" in receipt.detail
