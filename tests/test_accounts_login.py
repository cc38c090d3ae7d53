"""`mcn accounts login` and `check` against a real sandbox server in real Chromium: the test plays the operator
(approves the QR code from a second browser context, or types the password into the page login opened), then the
stored session and token are checked, expired by the sandbox's admin API, and checked again."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect
from typer.testing import CliRunner

from accounts.errors import AccountError
from accounts.login import login_account
from accounts.registry import get_account
from accounts.vault import load_credentials
from mcn.cli import app
from mcn.settings import get_settings
from sandbox.app import create_app
from sandbox.server import serve_in_thread
from tests.sandbox_support import ADMIN, bearer, new_account, sandbox_config

WIDE = {"COLUMNS": "250"}


def tid(name: str) -> str:
    return f'[data-testid="{name}"]'


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve_in_thread(create_app(sandbox_config(tmp_path_factory.mktemp("sandbox-login")))) as url:
        yield url


@pytest.fixture(scope="module")
def admin(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        yield client


@pytest.fixture
def mcn_env(data_dir: Path, base_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated data dir whose settings point at the test sandbox; the vault uses its key file."""
    monkeypatch.setenv("MCN_SANDBOX_URL", base_url)
    monkeypatch.delenv("MCN_SECRET_KEY", raising=False)
    monkeypatch.delenv("MCN_SANDBOX_PUBLISH_VIA", raising=False)
    get_settings.cache_clear()
    return data_dir


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["accounts", *args], env=WIDE)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def check_row(stdout: str, account_id: int) -> str:
    return next(line for line in stdout.splitlines() if line.startswith(f"│ {account_id} "))


def test_qr_login_check_and_expiry(
    mcn_env: Path, admin: httpx.Client, base_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    remote = new_account(admin, "login_qr")
    assert cli("add", "sandbox", "login_qr", "--display-name", "扫码小号")[0] == 0
    code, stdout, _ = cli("check")
    assert code == 0 and "never logged in" in check_row(stdout, 1)

    def approve_on_phone(page: Page) -> None:
        """The operator scans the QR code: their phone (another browser context, no cookies) approves it."""
        approve_path = page.locator(tid("qr-approve-link")).get_attribute("href")
        assert approve_path and approve_path.startswith("/qr/")
        assert page.context.browser is not None
        phone = page.context.browser.new_context(base_url=base_url)
        try:
            phone_page = phone.new_page()
            phone_page.goto(approve_path)
            phone_page.fill(tid("approve-handle"), "login_qr")
            phone_page.click(tid("approve-button"))
            expect(phone_page.locator(tid("approve-result"))).to_contain_text("login_qr")
        finally:
            phone.close()

    result = login_account(1, timeout_s=30, headless=True, on_page=approve_on_phone)
    assert result.kinds == ("api_token", "session")
    assert (result.account.status, result.account.status_reason) == ("active", None)

    credentials = load_credentials(1)
    token = credentials.get("api_token")
    session_state = credentials.get("session")
    assert isinstance(session_state, dict)
    cookies = {c["name"]: c["value"] for c in session_state["cookies"]}
    assert token and token != remote["api_token"]  # authorising on /creator/developer issued a new token
    assert httpx.get(f"{base_url}/api/v1/account", headers=bearer(token)).json()["handle"] == "login_qr"
    assert httpx.get(f"{base_url}/api/v1/account", headers=bearer(remote["api_token"])).status_code == 401
    assert cookies.get("sbx_session")

    code, stdout, stderr = cli("check", "1")
    assert code == 0 and "valid" in check_row(stdout, 1) and "active" in check_row(stdout, 1)
    monkeypatch.setenv("MCN_SANDBOX_PUBLISH_VIA", "pages")  # the browser session itself, in Chromium
    get_settings.cache_clear()
    code, pages_stdout, _ = cli("check", "1")
    assert code == 0 and "valid" in check_row(pages_stdout, 1)

    expired = admin.post(
        "/api/admin/sessions/expire", json={"account_id": remote["account_id"], "api_tokens": True}, headers=ADMIN
    )
    assert expired.status_code == 200, expired.text
    code, expired_pages, _ = cli("check", "1")  # still pages: the upload page now detours through /login
    assert code == 0 and "expired" in check_row(expired_pages, 1)
    assert get_account(1).status == "needs_login"
    monkeypatch.setenv("MCN_SANDBOX_PUBLISH_VIA", "auto")  # API with the token: 401 token_expired
    get_settings.cache_clear()
    cli("resume", "1")
    code, expired_api, _ = cli("check")
    assert code == 0 and "expired" in check_row(expired_api, 1)
    account = get_account(1)
    assert (account.status, account.status_reason) == ("needs_login", "session expired")
    code, listing, _ = cli("list")
    assert "needs_login (session expired)" in listing and "扫码小号" in listing

    db_bytes = b"".join(p.read_bytes() for p in sorted(mcn_env.glob("mcn.db*")))
    output = stdout + stderr + pages_stdout + expired_pages + expired_api + listing
    for secret in (token, cookies["sbx_session"]):
        assert secret.encode() not in db_bytes
        assert secret not in caplog.text and secret not in output


def test_password_login_in_the_opened_page_and_cli_errors(
    mcn_env: Path, admin: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    remote = new_account(admin, "login_pw")
    new_account(admin, "login_slow")
    for handle in ("login_pw", "login_slow"):
        assert cli("add", "sandbox", handle)[0] == 0
    assert cli("add", "outbox", "shelf")[0] == 0

    def type_password(page: Page) -> None:
        page.fill(tid("login-handle"), remote["handle"])
        page.fill(tid("login-password"), remote["password"])
        page.click(tid("login-submit"))

    result = login_account(1, timeout_s=30, headless=True, on_page=type_password)
    assert result.account.status == "active" and result.kinds == ("api_token", "session")
    assert load_credentials(1).secrets["session"]["cookies"]

    # nobody logs in: a one-line error after the timeout, nothing stored, still needs_login
    code, stdout, stderr = cli("login", "2", "--timeout", "1", "--headless")
    assert (code, stdout) == (1, "")
    assert stderr.strip() == "error: sandbox/login_slow (#2): the login did not complete within 1 s"
    assert load_credentials(2).secrets == {} and get_account(2).status == "needs_login"
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    code, _, stderr = cli("login", "2")  # headed, as an operator runs it, but on a box without a screen
    assert code == 1 and stderr.startswith("error: sandbox/login_slow (#2): no display for the browser window")
    code, _, stderr = cli("login", "3", "--headless")
    assert code == 1 and "outbox has no browser login; store its token with `mcn accounts set-token 3`" in stderr
    code, _, stderr = cli("login", "9", "--headless")
    assert (code, stderr.strip()) == (1, "error: no account with id 9")
    with pytest.raises(AccountError, match="no account with id 9"):
        login_account(9, headless=True)
    # outbox needs no login: check leaves it active and says so
    code, stdout, _ = cli("check", "3")
    assert code == 0 and "no login needed" in check_row(stdout, 3) and get_account(3).status == "active"
