"""The creator pages in real Chromium (Playwright): both logins, uploading with progress, and every error a
publisher must recognise on the page. The sandbox runs with uvicorn in a background thread on a free port."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from sandbox.app import create_app
from sandbox.browser import launch_chromium
from sandbox.server import serve_in_thread
from tests.sandbox_support import ADMIN, make_video, new_account, new_product, sandbox_config

VideoFactory = Callable[[], Path]


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    app = create_app(sandbox_config(tmp_path_factory.mktemp("sandbox-web")))
    with serve_in_thread(app) as url:
        yield url


@pytest.fixture(scope="module")
def admin(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = launch_chromium(p)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, base_url: str) -> Iterator[Page]:
    context = browser.new_context(base_url=base_url, locale="zh-CN")
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


@pytest.fixture(scope="module")
def next_video(tmp_path_factory: pytest.TempPathFactory) -> VideoFactory:
    """Each call: a video no other test uploaded (distinct patterns, so no duplicate rule fires)."""
    folder = tmp_path_factory.mktemp("web-videos")
    counter = iter(range(300, 400))

    def make() -> Path:
        n = next(counter)
        return make_video(folder / f"v{n}.mp4", n)

    return make


def tid(name: str) -> str:
    return f'[data-testid="{name}"]'


def login_with_password(page: Page, account: dict[str, Any]) -> None:
    page.goto("/login")
    page.fill(tid("login-handle"), account["handle"])
    page.fill(tid("login-password"), account["password"])
    page.click(tid("login-submit"))
    page.wait_for_url("**/creator/upload")


def upload_file(page: Page, video: Path) -> None:
    page.set_input_files(tid("upload-input"), str(video))
    expect(page.locator(tid("upload-progress"))).to_have_attribute("data-state", "done")
    expect(page.locator(tid("publish-button"))).to_be_enabled()


def fill_post(page: Page, title: str = "好物分享", ai: bool = True, **fields: str) -> None:
    page.fill(tid("title-input"), title)
    if ai:
        page.check(tid("ai-declaration"))
    for testid, value in fields.items():
        page.fill(tid(testid.replace("_", "-")), value)


def expect_form_error(page: Page, code: str, text: str) -> None:
    error = page.locator(tid("form-error"))
    expect(error).to_be_visible()
    expect(error).to_have_attribute("data-error-code", code)
    expect(error).to_contain_text(text)


def admin_posts(admin: httpx.Client) -> list[dict[str, Any]]:
    return list(admin.get("/api/admin/posts", headers=ADMIN).json()["posts"])


def test_password_login_upload_with_progress_and_publish(
    page: Page, admin: httpx.Client, next_video: VideoFactory
) -> None:
    account = new_account(admin, "web_alice")
    product = new_product(admin, "web-cup", price=39.9, rate=0.2)
    login_with_password(page, account)
    expect(page.locator(tid("account-handle"))).to_have_text("web_alice")
    # slow the upload down so the progress states can be seen, as on a real connection
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 20, "downloadThroughput": -1, "uploadThroughput": 60_000},
    )
    page.evaluate("""() => {
        window.__states = [];
        const box = document.querySelector('[data-testid="upload-progress"]');
        new MutationObserver(() => window.__states.push(box.dataset.state))
            .observe(box, {attributes: true, attributeFilter: ['data-state']});
    }""")
    video = next_video()
    upload_file(page, video)
    states = page.evaluate("window.__states")
    assert "uploading" in states and states[-1] == "done", states
    fill_post(
        page,
        title="这个杯子为什么卖爆了?",
        description_input="保温一整天 #保温杯 #好物推荐",
        product_link=product["link"],
    )
    page.check(tid("ad-disclosure"))
    page.click(tid("publish-button"))
    page.wait_for_url(re.compile(r"/creator/posts/\d{19}\?new=1$"))
    expect(page.locator(tid("publish-success"))).to_be_visible()
    post_id = page.locator(tid("post-id")).inner_text()
    assert re.fullmatch(r"\d{19}", post_id)
    row = next(p for p in admin_posts(admin) if p["post_id"] == post_id)
    assert row["handle"] == "web_alice" and row["via"] == "web" and row["title"] == "这个杯子为什么卖爆了?"
    assert row["ai_declared"] is True and row["ad_disclosed"] is True and row["product_id"] == "web-cup"
    assert row["hook_style"] == "question"
    page.click(tid("nav-manage"))
    expect(page.locator(f'{tid("post-row")}[data-post-id="{post_id}"]')).to_be_visible()


def test_qr_login_approved_on_the_phone(page: Page, browser: Browser, base_url: str, admin: httpx.Client) -> None:
    new_account(admin, "web_qr")
    page.goto("/login?next=/creator/manage")
    expect(page.locator(tid("qr-code"))).to_be_visible()
    expect(page.locator(tid("qr-status"))).to_have_attribute("data-state", "pending")
    approve_path = page.locator(tid("qr-approve-link")).get_attribute("href")
    assert approve_path and approve_path.startswith("/qr/")
    phone = browser.new_context(base_url=base_url)  # the operator's phone: another device, no cookies
    try:
        phone_page = phone.new_page()
        phone_page.goto(approve_path)
        phone_page.fill(tid("approve-handle"), "web_qr")
        phone_page.click(tid("approve-button"))
        expect(phone_page.locator(tid("approve-result"))).to_contain_text("web_qr")
        page.wait_for_url("**/creator/manage")  # the login page noticed the approval by itself
        expect(page.locator(tid("account-handle"))).to_have_text("web_qr")
        # the phone cannot reuse the code, and completing it from another browser is refused
        phone_page.goto(approve_path)
        expect(phone_page.locator(tid("approve-status"))).to_have_text("used")
    finally:
        phone.close()


def test_qr_login_denied_and_wrong_password(page: Page, browser: Browser, base_url: str, admin: httpx.Client) -> None:
    account = new_account(admin, "web_deny")
    page.goto("/login")
    approve_path = page.locator(tid("qr-approve-link")).get_attribute("href")
    phone = browser.new_context(base_url=base_url)
    try:
        phone_page = phone.new_page()
        phone_page.goto(str(approve_path))
        phone_page.click(tid("deny-button"))
        expect(phone_page.locator(tid("approve-result"))).to_contain_text("拒绝")
        # someone else's browser cannot complete a code (the nonce cookie binds it to the login page)
        phone_page.goto(str(approve_path).replace("/qr/", "/login/qr/") + "/complete")
        expect(phone_page.locator(tid("page-error"))).to_be_visible()
    finally:
        phone.close()
    expect(page.locator(tid("qr-status"))).to_have_attribute("data-state", "denied")
    page.fill(tid("login-handle"), account["handle"])
    page.fill(tid("login-password"), "not-the-password")
    page.click(tid("login-submit"))
    expect(page.locator(tid("login-error"))).to_contain_text("账号或密码错误")
    assert "/login" in page.url


def test_file_too_large(page: Page, admin: httpx.Client, next_video: VideoFactory) -> None:
    login_with_password(page, new_account(admin, "web_big"))
    video = next_video()
    assert (
        admin.patch("/api/admin/rules", json={"max_upload_bytes": video.stat().st_size // 2}, headers=ADMIN).status_code
        == 200
    )
    try:
        page.set_input_files(tid("upload-input"), str(video))
        error = page.locator(tid("upload-error"))
        expect(error).to_be_visible()
        expect(error).to_have_attribute("data-error-code", "file_too_large")
        expect(error).to_contain_text("视频文件过大")
        expect(page.locator(tid("upload-progress"))).to_have_attribute("data-state", "error")
        expect(page.locator(tid("publish-button"))).to_be_disabled()
    finally:
        admin.patch("/api/admin/rules", json={"max_upload_bytes": 256 * 1024 * 1024}, headers=ADMIN)


def test_title_too_long_then_fixed(page: Page, admin: httpx.Client, next_video: VideoFactory) -> None:
    login_with_password(page, new_account(admin, "web_title"))
    upload_file(page, next_video())
    long_title = "标题" * 15 + "超"  # 31 characters
    fill_post(page, title=long_title)
    page.click(tid("publish-button"))
    expect_form_error(page, "title_too_long", "标题最多30个字")
    expect(page.locator(tid("title-input"))).to_have_value(long_title)  # the form keeps what was typed
    expect(page.locator(tid("ai-declaration"))).to_be_checked()
    page.fill(tid("title-input"), long_title[:30])
    page.click(tid("publish-button"))  # the upload is still there: no need to upload again
    page.wait_for_url(re.compile(r"/creator/posts/\d{19}"))


def test_posting_too_often(page: Page, admin: httpx.Client, next_video: VideoFactory) -> None:
    login_with_password(page, new_account(admin, "web_fast"))
    upload_file(page, next_video())
    fill_post(page, title="第一条")
    page.click(tid("publish-button"))
    page.wait_for_url(re.compile(r"/creator/posts/\d{19}"))
    page.click(tid("upload-another"))
    upload_file(page, next_video())
    fill_post(page, title="第二条")
    page.click(tid("publish-button"))
    expect_form_error(page, "posting_too_often", "发布太频繁")


def test_session_expired_redirects_to_login(page: Page, admin: httpx.Client, next_video: VideoFactory) -> None:
    account = new_account(admin, "web_expire")
    login_with_password(page, account)
    upload_file(page, next_video())
    fill_post(page, title="过期了吗")
    expired = admin.post("/api/admin/sessions/expire", json={"account_id": account["account_id"]}, headers=ADMIN)
    assert expired.json() == {"expired": 1}
    page.click(tid("publish-button"))
    page.wait_for_url("**/login?next=/creator/upload&expired=1")
    expect(page.locator(tid("login-notice"))).to_contain_text("登录已过期")
    assert all(p["handle"] != "web_expire" for p in admin_posts(admin))
    page.fill(tid("login-handle"), account["handle"])
    page.fill(tid("login-password"), account["password"])
    page.click(tid("login-submit"))
    page.wait_for_url("**/creator/upload")


def test_product_link_not_found(page: Page, admin: httpx.Client, next_video: VideoFactory) -> None:
    login_with_password(page, new_account(admin, "web_link"))
    upload_file(page, next_video())
    fill_post(page, product_link="https://haohuo.example.com/item/does-not-exist")
    page.click(tid("publish-button"))
    expect_form_error(page, "product_not_found", "未搜索到对应商品")


def test_missing_ai_declaration(page: Page, admin: httpx.Client, next_video: VideoFactory) -> None:
    login_with_password(page, new_account(admin, "web_noai"))
    upload_file(page, next_video())
    fill_post(page, ai=False)
    page.click(tid("publish-button"))
    expect_form_error(page, "ai_declaration_required", "请声明内容由AI生成")
    page.check(tid("ai-declaration"))
    page.click(tid("publish-button"))
    page.wait_for_url(re.compile(r"/creator/posts/\d{19}"))
