"""Logging an account in from the console: the platform's login page opens in a headless Chromium on the machine
running mcn, the console shows the operator a picture of it (the QR code), the operator scans it with the
account's phone, and :func:`accounts.login.login_account` stores what the platform hands over, as
``mcn accounts login`` does. Only for platforms with a browser login (their adapter names a login page); others
keep ``mcn accounts set-token``. mcn never automates the login itself: a person approves it on the phone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

LOGIN_TIMEOUT_S = 180.0
OnPage = Callable[[Any], None]
# (account id, hook run once the login page is open) -> whatever login_account returns; raises on failure
LoginRunner = Callable[[int, OnPage], Any]


@dataclass(frozen=True, slots=True)
class LoginState:
    """Where a console login is: ``starting``, ``waiting`` (the picture is up), ``done`` or ``failed``."""

    status: str
    message: str = ""
    picture: bytes | None = None
    started: float = 0.0


def run_headless_login(account_id: int, on_page: OnPage) -> Any:
    """The real runner: :func:`accounts.login.login_account` headless, waiting up to :data:`LOGIN_TIMEOUT_S`."""
    from accounts.login import login_account

    return login_account(account_id, timeout_s=LOGIN_TIMEOUT_S, headless=True, on_page=on_page)


def browser_login_supported(platform: str) -> bool:
    """Whether ``platform``'s adapter has a browser login page (a QR code or a password form to show)."""
    from publisher.adapters import create_adapter

    try:
        adapter = create_adapter(platform)
    except ValueError:
        return False
    try:
        return adapter.login_url() is not None
    finally:
        adapter.close()


class ConsoleLogins:
    """One login at a time per account, each on its own thread (Playwright's sync objects stay on it)."""

    def __init__(self, runner: LoginRunner = run_headless_login) -> None:
        self._runner = runner
        self._states: dict[int, LoginState] = {}
        self._lock = threading.Lock()

    def state(self, account_id: int) -> LoginState | None:
        with self._lock:
            return self._states.get(account_id)

    def start(self, account_id: int) -> LoginState:
        """Start a login for the account unless one is already under way; return its state."""
        with self._lock:
            current = self._states.get(account_id)
            if current is not None and current.status in ("starting", "waiting"):
                return current
            state = LoginState("starting", "opening the platform's login page", None, time.time())
            self._states[account_id] = state
        threading.Thread(target=self._run, args=(account_id,), name=f"console-login-{account_id}", daemon=True).start()
        return state

    def _set(self, account_id: int, **changes: Any) -> None:
        with self._lock:
            old = self._states[account_id]
            self._states[account_id] = LoginState(
                changes.get("status", old.status),
                changes.get("message", old.message),
                changes.get("picture", old.picture),
                old.started,
            )

    def _run(self, account_id: int) -> None:
        def show(page: Any) -> None:
            page.wait_for_load_state("networkidle")
            self._set(
                account_id,
                status="waiting",
                message="scan the code with the account's phone and approve it",
                picture=page.screenshot(full_page=True),
            )

        try:
            self._runner(account_id, show)
        except Exception as exc:  # noqa: BLE001 - AccountError and browser failures: one line on the page
            self._set(account_id, status="failed", message=str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            return
        self._set(account_id, status="done", message="logged in; the session is stored encrypted", picture=None)
