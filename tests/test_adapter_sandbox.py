"""The sandbox adapter against a real sandbox server (uvicorn in a thread), through its API (httpx) and its creator
pages (real Chromium via Playwright): publishing with the declarations, every error class provoked by the
sandbox's own rules and fault knobs, reconciliation of a lost answer with ``find``, and capturing a login."""

from __future__ import annotations

import hashlib
import itertools
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from publisher.adapters.base import (
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
from publisher.adapters.browser import BrowserHost, by_testid
from publisher.adapters.sandbox import SandboxAdapter, classify, page_time
from sandbox.app import create_app
from sandbox.server import serve_in_thread
from tests.sandbox_support import ADMIN, make_video, new_account, new_product, sandbox_config

VideoFactory = Callable[[], Path]
_numbers = itertools.count(1)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    app = create_app(sandbox_config(tmp_path_factory.mktemp("sandbox-adapter")))
    with serve_in_thread(app) as url:
        yield url


@pytest.fixture(scope="module")
def admin(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        yield client


@pytest.fixture
def faults(admin: httpx.Client) -> Iterator[Callable[..., None]]:
    """``faults(error_rate=1, ...)`` turns sandbox fault knobs; every knob is off again after the test."""

    def turn(**knobs: float) -> None:
        assert admin.patch("/api/admin/faults", json=knobs, headers=ADMIN).status_code == 200

    yield turn
    turn(error_rate=0, timeout_rate=0, spam_rate=0, slow_rate=0)


@pytest.fixture(scope="module")
def host() -> Iterator[BrowserHost]:
    """One Chromium for the module (the tests' own pages and the adapters that borrow it)."""
    chromium = BrowserHost(headless=True)
    yield chromium
    chromium.close()


@pytest.fixture(scope="module")
def next_video(tmp_path_factory: pytest.TempPathFactory) -> VideoFactory:
    """Each call: a tiny video no other test uploaded (distinct random boards, so no duplicate rule fires)."""
    folder = tmp_path_factory.mktemp("adapter-videos")
    seeds = iter(range(700, 800))

    def make() -> Path:
        n = next(seeds)
        return make_video(folder / f"v{n}.mp4", n)

    return make


@pytest.fixture
def api(base_url: str, tmp_path: Path) -> Iterator[SandboxAdapter]:
    adapter = SandboxAdapter(base_url, via="api", timeout_s=10, screenshot_dir=tmp_path / "shots")
    yield adapter
    adapter.close()


def package(account: dict[str, Any], video: Path, **fields: Any) -> PostPackage:
    n = next(_numbers)
    values: dict[str, Any] = {"title": f"第{n}个好物分享", "caption": "保温一整天", "topics": ("好物推荐", "保温杯")}
    values.update(fields)
    return PostPackage(
        post_id=f"post-{n}-{uuid.uuid4().hex[:6]}",
        idempotency_key=f"key-{n}-{uuid.uuid4().hex}",
        tracking_code=f"mcn{uuid.uuid4().hex[:16]}",
        platform="sandbox",
        account_id=int(account["account_id"]),
        account_handle=str(account["handle"]),
        video_path=video,
        **values,
    )


def token_of(account: dict[str, Any]) -> Credentials:
    return Credentials(account_id=int(account["account_id"]), secrets={"api_token": account["api_token"]})


def admin_post(admin: httpx.Client, post_id: str) -> dict[str, Any] | None:
    rows = admin.get("/api/admin/posts", headers=ADMIN).json()["posts"]
    return next((r for r in rows if r["post_id"] == post_id), None)


def posts_of(admin: httpx.Client, handle: str) -> list[dict[str, Any]]:
    return [r for r in admin.get("/api/admin/posts", headers=ADMIN).json()["posts"] if r["handle"] == handle]


def sandbox_now(admin: httpx.Client) -> datetime:
    return datetime.fromtimestamp(admin.get("/api/admin/clock", headers=ADMIN).json()["timestamp"], UTC)


def browser_session(host: BrowserHost, base_url: str, account: dict[str, Any]) -> dict[str, Any]:
    """Log in with the password in a fresh context; the storage state is what `mcn accounts login` stores."""
    with host.context(base_url=base_url, timeout_s=15) as context:
        page = context.new_page()
        page.goto("/login")
        page.fill(by_testid("login-handle"), account["handle"])
        page.fill(by_testid("login-password"), account["password"])
        page.click(by_testid("login-submit"))
        page.wait_for_url("**/creator/upload")
        return dict(context.storage_state())


# -- API ---------------------------------------------------------------------------------------------------


def test_api_publish_declares_ai_ad_and_tracking_code(
    api: SandboxAdapter, admin: httpx.Client, next_video: VideoFactory, base_url: str
) -> None:
    account = new_account(admin, "api_pub")
    product = new_product(admin, "adapter-cup", price=39.9)
    post = package(
        account,
        next_video(),
        title="这个杯子为什么卖爆了?",
        product_link=product["link"],
        product_id="adapter-cup",
        ad_disclosure="广告",
        hook_style="question",
    )
    stages: list[tuple[str, float]] = []
    receipt = api.publish(post, token_of(account), progress=lambda stage, done: stages.append((stage, done)))
    row = admin_post(admin, receipt.remote_id)
    assert row is not None and row["handle"] == "api_pub" and row["via"] == "api"
    assert row["ai_declared"] is True and row["ad_disclosed"] is True
    assert row["external_info"] == post.tracking_code and row["product_id"] == "adapter-cup"
    assert row["hook_style"] == "question" and row["title"] == post.title
    assert "广告" in row["description"] and post.ai_label in row["description"] and "#保温杯" in row["description"]
    assert receipt.remote_url == f"{base_url}/creator/posts/{receipt.remote_id}" and receipt.upload_id
    assert receipt.limited is False
    assert stages[-1] == ("publish", 1.0) and ("upload", 1.0) in stages
    found = api.find(post, token_of(account))
    assert found is not None and found.remote_id == receipt.remote_id and found.tracking_code == post.tracking_code
    assert api.find(package(account, post.video_path), token_of(account)) is None  # another code: certainly none
    assert api.check_session(token_of(account)) is True


def test_api_scheduled_post_uploaded_in_chunks(base_url: str, admin: httpx.Client, next_video: VideoFactory) -> None:
    account = new_account(admin, "api_sched")
    video = next_video()
    when = (sandbox_now(admin) + timedelta(hours=3)).replace(microsecond=0)
    post = package(account, video, schedule_at=when)
    chunk = 8 * 1024
    assert video.stat().st_size > 2 * chunk  # so the Content-Range path really runs
    adapter = SandboxAdapter(base_url, via="api", timeout_s=10, upload_chunk_bytes=chunk)
    try:
        receipt = adapter.publish(post, token_of(account))
        assert receipt.detail == "scheduled"
        row = admin_post(admin, receipt.remote_id)
        assert row is not None and row["publish_timestamp"] == when.timestamp()
        assert row["file_sha256"] == hashlib.sha256(video.read_bytes()).hexdigest()
        found = adapter.find(post, token_of(account))
        assert found is not None and found.published_at == when
    finally:
        adapter.close()


def test_server_errors_before_publish_are_retryable(
    api: SandboxAdapter, admin: httpx.Client, next_video: VideoFactory, faults: Callable[..., None]
) -> None:
    account = new_account(admin, "api_503")
    post = package(account, next_video())
    faults(error_rate=1)
    with pytest.raises(RetryableError) as err:
        api.publish(post, token_of(account))
    assert err.value.code == "server_error" and "upload init" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(RetryableError):
        api.find(post, token_of(account))
    with pytest.raises(RetryableError):
        api.check_session(token_of(account))
    assert posts_of(admin, "api_503") == []


def test_lost_publish_answer_is_outcome_unknown_and_find_reconciles(
    api: SandboxAdapter, admin: httpx.Client, next_video: VideoFactory, faults: Callable[..., None]
) -> None:
    account = new_account(admin, "api_504")
    post = package(account, next_video())

    def fault_on_publish(stage: str, done: float) -> None:
        # the upload went through untouched; the publish request itself is handled, then answered 504 late
        if stage == "publish" and done == 0.0:
            faults(timeout_rate=1, timeout_seconds=1)

    with pytest.raises(OutcomeUnknown) as err:
        api.publish(post, token_of(account), progress=fault_on_publish)
    assert err.value.code == "gateway_timeout"
    faults(timeout_rate=0)
    found = api.find(post, token_of(account))
    assert found is not None
    row = admin_post(admin, found.remote_id)
    assert row is not None and row["external_info"] == post.tracking_code  # it was published after all


def test_publish_read_timeout_is_outcome_unknown(
    base_url: str, admin: httpx.Client, next_video: VideoFactory, faults: Callable[..., None]
) -> None:
    account = new_account(admin, "api_slow")
    post = package(account, next_video())
    impatient = SandboxAdapter(base_url, via="api", timeout_s=2)

    def fault_on_publish(stage: str, done: float) -> None:
        if stage == "publish" and done == 0.0:  # the answer comes after the adapter stopped waiting
            faults(timeout_rate=1, timeout_seconds=3)

    try:
        with pytest.raises(OutcomeUnknown) as err:
            impatient.publish(post, token_of(account), progress=fault_on_publish)
        assert err.value.code == "publish_answer_lost"
    finally:
        impatient.close()
    faults(timeout_rate=0)
    assert len(posts_of(admin, "api_slow")) == 1


def test_platform_refusals_map_to_error_classes(
    api: SandboxAdapter, admin: httpx.Client, next_video: VideoFactory, faults: Callable[..., None]
) -> None:
    first, other = new_account(admin, "api_rules"), new_account(admin, "api_dupe")
    video = next_video()
    api.publish(package(first, video), token_of(first))
    # the same account again at once: the minimum interval (a slow-down, not a strike against the post)
    with pytest.raises(RateLimited) as limited:
        api.publish(package(first, next_video()), token_of(first))
    assert limited.value.code == "posting_too_often" and limited.value.retry_after == pytest.approx(600, abs=5)
    # the same file from another account: refused for good
    with pytest.raises(PostRejected) as duplicate:
        api.publish(package(other, video), token_of(other))
    assert duplicate.value.code == "duplicate_video"
    with pytest.raises(PostRejected) as no_product:
        api.publish(package(other, next_video(), product_id="no-such-product"), token_of(other))
    assert no_product.value.code == "product_not_found"
    faults(spam_rate=1)
    with pytest.raises(AccountRestricted) as spam:
        api.publish(package(other, next_video()), token_of(other))
    assert spam.value.code == "spam_risk_too_many_posts"
    assert posts_of(admin, "api_dupe") == []


def test_expired_token_is_session_expired(api: SandboxAdapter, admin: httpx.Client, next_video: VideoFactory) -> None:
    account = new_account(admin, "api_expired")
    body = {"account_id": account["account_id"], "api_tokens": True}
    assert admin.post("/api/admin/sessions/expire", json=body, headers=ADMIN).status_code == 200
    with pytest.raises(SessionExpired) as err:
        api.publish(package(account, next_video()), token_of(account))
    assert err.value.code == "token_expired" and account["api_token"] not in str(err.value)
    assert api.check_session(token_of(account)) is False
    with pytest.raises(SessionExpired):
        api.publish(package(account, next_video()), Credentials(account_id=1, secrets={}))


def test_error_mapping_rules_and_settings_defaults(base_url: str, data_dir: Path) -> None:
    assert isinstance(classify("server_error", "x", stage="publish", status=503), OutcomeUnknown)
    assert isinstance(classify("server_error", "x", stage="upload", status=503), RetryableError)
    assert isinstance(classify("title_too_long", "x", stage="publish form", refused=True), PostRejected)
    assert page_time(datetime(2025, 3, 3, 8, 0, 1, tzinfo=UTC)) == "2025-03-03 16:01"
    adapter = create_adapter("sandbox", base_url=base_url)
    try:
        assert isinstance(adapter, SandboxAdapter) and adapter.via == "auto"
        assert adapter.screenshot_dir == data_dir.resolve() / "screenshots"
        assert adapter.login_url() == f"{base_url}/login" and base_url in repr(adapter)
    finally:
        adapter.close()
    with pytest.raises(ValueError, match="not one of"):
        SandboxAdapter(base_url, via="carrier-pigeon")


# -- creator pages in Chromium -----------------------------------------------------------------------------


def test_pages_publish_in_chromium(
    host: BrowserHost, base_url: str, admin: httpx.Client, next_video: VideoFactory, tmp_path: Path
) -> None:
    account = new_account(admin, "web_pub")
    product = new_product(admin, "adapter-bag", price=129)
    saved: dict[str, Any] = {}
    session = browser_session(host, base_url, account)
    credentials = Credentials(account["account_id"], {"session": session}, save=saved.__setitem__)
    # no borrowed browser: the adapter launches (and closes) its own Chromium, as in production
    adapter = SandboxAdapter(base_url, via="pages", timeout_s=15, screenshot_dir=tmp_path / "shots")
    try:
        post = package(
            account,
            next_video(),
            title="三个理由告诉你这个包能装",
            product_link=product["link"],
            ad_disclosure="广告",
            hook_style="listicle",
        )
        receipt = adapter.publish(post, credentials)
        row = admin_post(admin, receipt.remote_id)
        assert row is not None and row["via"] == "web" and row["handle"] == "web_pub"
        assert row["ai_declared"] is True and row["ad_disclosed"] is True and row["product_id"] == "adapter-bag"
        assert row["hook_style"] == "listicle" and row["title"] == post.title and post.ai_label in row["description"]
        assert receipt.remote_url == f"{base_url}/creator/posts/{receipt.remote_id}"
        assert "cookies" in saved["session"]  # the session was re-saved after the publish
        found = adapter.find(post, credentials)  # the manage page: no external info on web posts, so the title
        assert found is not None and found.remote_id == receipt.remote_id
        assert adapter.find(package(account, post.video_path, title="没发过的标题"), credentials) is None
        assert adapter.check_session(credentials) is True
        # the same account again at once: the form comes back with the platform's refusal
        with pytest.raises(RateLimited) as limited:
            adapter.publish(package(account, next_video()), credentials)
        assert limited.value.retry_after == pytest.approx(600, abs=5)
        assert "screenshot: " in str(limited.value)
    finally:
        adapter.close()
    assert len(posts_of(admin, "web_pub")) == 1


def test_pages_lost_answer_after_click_is_outcome_unknown(
    host: BrowserHost,
    base_url: str,
    admin: httpx.Client,
    next_video: VideoFactory,
    faults: Callable[..., None],
    tmp_path: Path,
) -> None:
    account = new_account(admin, "web_504")
    credentials = Credentials(account["account_id"], {"session": browser_session(host, base_url, account)})
    adapter = SandboxAdapter(base_url, via="pages", timeout_s=10, screenshot_dir=tmp_path, browser=host.browser)
    post = package(account, next_video())

    def fault_on_click(stage: str, done: float) -> None:
        if stage == "publish" and done == 0.0:
            faults(timeout_rate=1, timeout_seconds=1)

    with pytest.raises(OutcomeUnknown) as err:
        adapter.publish(post, credentials, progress=fault_on_click)
    assert err.value.code == "gateway_timeout"
    faults(timeout_rate=0)
    found = adapter.find(post, credentials)
    assert found is not None and admin_post(admin, found.remote_id) is not None


def test_pages_expired_session_is_session_expired_with_screenshot(
    host: BrowserHost, base_url: str, admin: httpx.Client, next_video: VideoFactory, tmp_path: Path
) -> None:
    account = new_account(admin, "web_expired")
    session = browser_session(host, base_url, account)
    expired = admin.post("/api/admin/sessions/expire", json={"account_id": account["account_id"]}, headers=ADMIN)
    assert expired.json()["expired"] == 1
    credentials = Credentials(account["account_id"], {"session": session})
    adapter = SandboxAdapter(base_url, via="pages", timeout_s=10, screenshot_dir=tmp_path, browser=host.browser)
    post = package(account, next_video())
    with pytest.raises(SessionExpired) as err:
        adapter.publish(post, credentials)
    assert err.value.code == "session_expired"
    shots = list((tmp_path / "sandbox").glob(f"{post.post_id}-*.png"))
    assert len(shots) == 1 and shots[0].stat().st_size > 1000 and str(shots[0]) in str(err.value)
    assert adapter.check_session(credentials) is False
    assert posts_of(admin, "web_expired") == []


def test_capture_login_after_qr_approval_and_password(
    host: BrowserHost, base_url: str, admin: httpx.Client, api: SandboxAdapter
) -> None:
    account = new_account(admin, "web_capture")
    adapter = SandboxAdapter(base_url, via="pages", timeout_s=10, browser=host.browser)
    with host.context(timeout_s=10) as context, host.context(base_url=base_url, timeout_s=10) as phone:
        page = context.new_page()
        page.goto(adapter.login_url())
        approve_path = page.locator(by_testid("qr-approve-link")).get_attribute("href")
        phone_page = phone.new_page()  # the operator's phone approves the QR code
        phone_page.goto(str(approve_path))
        phone_page.fill(by_testid("approve-handle"), account["handle"])
        phone_page.click(by_testid("approve-button"))
        secrets = adapter.capture_login(page, timeout_s=15)  # the login page notices the approval by itself
    assert set(secrets) == {"session", "api_token"} and secrets["api_token"] != account["api_token"]
    captured = Credentials(account["account_id"], secrets)
    assert api.check_session(captured) is True  # the new token works ...
    assert api.check_session(token_of(account)) is False  # ... and the one it replaced does not
    assert adapter.check_session(captured) is True  # the stored browser session opens the creator pages
    with host.context(timeout_s=10) as context:
        page = context.new_page()
        page.goto(adapter.login_url())
        page.fill(by_testid("login-handle"), account["handle"])
        page.fill(by_testid("login-password"), account["password"])
        page.click(by_testid("login-submit"))
        by_password = adapter.capture_login(page, timeout_s=15)
        assert api.check_session(Credentials(account["account_id"], by_password)) is True
        page.goto(adapter.login_url())
        with pytest.raises(SessionExpired) as err:  # nobody logs in
            adapter.capture_login(page, timeout_s=0.5)
        assert err.value.code == "login_timeout"
