"""Logging accounts in (a human at a real browser) and checking that stored logins still work.

``mcn accounts login`` opens a headed Chromium at the platform's login page; the operator logs in there (QR code
on the phone, password, SMS code, captcha: whatever the platform asks, mcn never automates it); the adapter's
``capture_login`` notices the login and returns the secrets (browser storage state, API token), which are stored
encrypted. ``mcn accounts check`` asks each adapter whether the stored login still works and marks expired
accounts ``needs_login``.

Nothing here prints, logs or returns a secret: results name the account and the secret kinds only.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page

from accounts.errors import AccountError
from accounts.registry import (
    Account,
    get_account,
    list_accounts,
    mark_checked,
    platform_needs_login,
    record_login,
)
from accounts.vault import load_credentials, secret_kinds, store_secret
from publisher.adapters import PlatformAdapter, PublishError, SessionExpired, create_adapter
from publisher.adapters.browser import BrowserHost

log = logging.getLogger(__name__)

DEFAULT_LOGIN_TIMEOUT_S = 300.0
_PAGE_TIMEOUT_S = 30.0

#: ``check`` outcomes: the login works, it expired, there is none, the platform needs none, not checked, failed
CHECK_OUTCOMES = ("valid", "expired", "never logged in", "no login needed", "skipped", "error")


@dataclass(frozen=True, slots=True)
class LoginResult:
    """A completed login: the account afterwards, which secret kinds were stored, how long the operator took."""

    account: Account
    kinds: tuple[str, ...]
    seconds: float


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One account's session check: ``outcome`` is one of :data:`CHECK_OUTCOMES`; ``detail`` is one line."""

    account: Account
    outcome: str
    detail: str = ""


def _adapter_for(account: Account) -> PlatformAdapter:
    try:
        return create_adapter(account.platform)
    except ValueError as exc:
        raise AccountError(f"{account.label}: {exc}") from None


def _has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _one_line(exc: BaseException) -> str:
    # Playwright errors carry a multi-line call log after the first line
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def login_account(
    account_id: int,
    timeout_s: float = DEFAULT_LOGIN_TIMEOUT_S,
    headless: bool = False,
    on_page: Callable[[Page], Any] | None = None,
) -> LoginResult:
    """Open Chromium (headed unless ``headless``) at the platform's login page and wait up to ``timeout_s`` for
    the operator to log in; store every secret the adapter captured (encrypted) and make the account active.

    ``on_page`` runs once the login page is open, before the wait: tests play the operator through it. A
    paused or banned account keeps its status (see :func:`accounts.registry.record_login`). Raises a one-line
    :class:`AccountError` when the platform has no browser login, the browser cannot start or the login does
    not complete in time.
    """
    account = get_account(account_id)
    adapter = _adapter_for(account)
    started = time.monotonic()
    try:
        url = adapter.login_url()
        if url is None:
            raise AccountError(
                f"{account.label}: {account.platform} has no browser login; "
                f"store its token with `mcn accounts set-token {account.id}`"
            )
        if not headless and sys.platform.startswith("linux") and not _has_display():
            raise AccountError(
                f"{account.label}: no display for the browser window ($DISPLAY is unset); "
                "run `mcn accounts login` in a desktop session or over `ssh -X`"
            )
        host = BrowserHost(headless=headless)
        try:
            with host.context(timeout_s=_PAGE_TIMEOUT_S) as context:
                page = context.new_page()
                page.goto(url)
                if on_page is not None:
                    on_page(page)
                secrets = adapter.capture_login(page, timeout_s)
        except PlaywrightError as exc:
            raise AccountError(f"{account.label}: the browser failed: {_one_line(exc)}") from None
        finally:
            host.close()
    except SessionExpired:
        raise AccountError(f"{account.label}: the login did not complete within {timeout_s:g} s") from None
    except PublishError as exc:
        raise AccountError(f"{account.label}: login failed: {exc}") from None
    finally:
        adapter.close()
    if not secrets:
        raise AccountError(f"{account.label}: the platform returned nothing to store after the login")
    for kind, value in secrets.items():
        store_secret(account.id, kind, value)
    kinds = tuple(sorted(secrets))
    updated = record_login(account.id)
    log.info("account %s logged in; stored %s", account.label, ", ".join(kinds))
    return LoginResult(account=updated, kinds=kinds, seconds=time.monotonic() - started)


def store_token(account_id: int, kind: str, value: Any) -> Account:
    """Store a secret the operator supplied (an API token from the platform's developer console) and make a
    ``needs_login`` account active."""
    get_account(account_id)  # a one-line error for an unknown id before anything is encrypted
    store_secret(account_id, kind, value)
    return record_login(account_id)


def check_accounts(account_ids: Iterable[int] | None = None) -> list[CheckResult]:
    """Check the stored login of each account (all but banned ones when ``account_ids`` is None).

    Expired -> ``needs_login`` "session expired"; no secret on a platform that needs one -> ``needs_login``
    "never logged in"; valid lifts ``needs_login``. Paused accounts are checked but stay paused. A check that
    cannot be made (platform unreachable, wrong key) is an ``error`` result and changes nothing.
    """
    if account_ids is None:
        accounts = [a for a in list_accounts() if a.status != "banned"]
    else:
        accounts = [get_account(account_id) for account_id in dict.fromkeys(account_ids)]
    kinds = secret_kinds([a.id for a in accounts])
    adapters: dict[str, PlatformAdapter] = {}
    results: list[CheckResult] = []
    try:
        for account in accounts:
            results.append(_check_one(account, kinds.get(account.id, []), adapters))
    finally:
        for adapter in adapters.values():
            adapter.close()
    return results


def _check_one(account: Account, kinds: list[str], adapters: dict[str, PlatformAdapter]) -> CheckResult:
    if account.status == "banned":
        return CheckResult(account, "skipped", "banned")
    if not kinds:
        if not platform_needs_login(account.platform):
            return CheckResult(mark_checked(account.id, valid=True), "no login needed")
        return CheckResult(mark_checked(account.id, valid=False, reason="never logged in"), "never logged in")
    try:
        credentials = load_credentials(account.id)
        adapter = adapters.get(account.platform) or _adapter_for(account)
        adapters[account.platform] = adapter
        valid = adapter.check_session(credentials)
    except SessionExpired:
        valid = False  # e.g. the adapter needs a kind this account does not have: a login is needed either way
    except (AccountError, PublishError) as exc:
        log.warning("account %s: session check failed: %s", account.label, exc)
        return CheckResult(account, "error", str(exc))
    if valid:
        return CheckResult(mark_checked(account.id, valid=True), "valid", ", ".join(kinds))
    return CheckResult(mark_checked(account.id, valid=False, reason="session expired"), "expired", ", ".join(kinds))
