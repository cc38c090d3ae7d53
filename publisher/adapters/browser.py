"""Playwright plumbing shared by the browser publishers (sandbox pages, douyin, kuaishou, xiaohongshu).

What every browser adapter needs and nothing platform-specific:

* :func:`acquire_playwright` / :func:`release_playwright`: ONE sync Playwright driver per thread, reference
  counted. Playwright's sync API refuses a second ``sync_playwright()`` in a thread that already runs one, so
  every adapter (and ``mcn accounts login``, and tests) in a thread must share it instead of starting its own.
* :class:`BrowserHost`: one Chromium per adapter, launched lazily with ``mcn.browser.launch_chromium`` and reused
  across posts (or a Browser the caller already has); :meth:`BrowserHost.context` opens a fresh, isolated
  context per post from a stored ``storage_state`` with bounded default timeouts, and always closes it.
* :func:`wait_until`: a bounded poll that survives navigations (a page that redirects mid-wait does not raise).
* :func:`save_screenshot` / :func:`screenshot_on_failure`: a full-page screenshot into
  ``<dir>/<platform>/<post_id>-<utc>.png`` whenever a publish fails; the path is appended to the error message
  (it names only the platform, the post id and the time: no secrets).

Sync API objects are bound to the thread that created them: use one adapter from one thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from mcn.browser import launch_chromium
from publisher.adapters.base import PublishError, RetryableError

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_LOCALE = "zh-CN"
#: poll interval of :func:`wait_until`; short enough to feel instant, long enough not to load a 2-core box
POLL_S = 0.1


@dataclass(slots=True)
class _Driver:
    playwright: Playwright
    users: int = 0


_local = threading.local()


def acquire_playwright() -> Playwright:
    """This thread's shared sync Playwright driver, started on first use; pair every call with a release."""
    driver: _Driver | None = getattr(_local, "driver", None)
    if driver is None:
        driver = _Driver(sync_playwright().start())
        _local.driver = driver
    driver.users += 1
    return driver.playwright


def release_playwright() -> None:
    """Drop one reference to this thread's driver; the last release stops it."""
    driver: _Driver | None = getattr(_local, "driver", None)
    if driver is None:
        return
    driver.users -= 1
    if driver.users <= 0:
        _local.driver = None
        with suppress(PlaywrightError):
            driver.playwright.stop()


class BrowserHost:
    """One Chromium for one adapter: launched on first use, reused for every post, closed by :meth:`close`.

    Pass ``browser`` to borrow one the caller owns (it is never closed here); otherwise the host launches its own
    through the thread's shared Playwright driver (``headless`` unless told otherwise).
    """

    def __init__(self, headless: bool = True, browser: Browser | None = None) -> None:
        self.headless = headless
        self._borrowed = browser
        self._own: Browser | None = None

    @property
    def browser(self) -> Browser:
        """The Chromium to open contexts in (launched now if this host owns one and has not yet)."""
        if self._borrowed is not None:
            return self._borrowed
        if self._own is not None and not self._own.is_connected():  # it crashed: launch a new one
            self._own = None
            release_playwright()
        if self._own is None:
            playwright = acquire_playwright()
            try:
                self._own = launch_chromium(playwright, headless=self.headless)
            except BaseException:
                release_playwright()
                raise
        return self._own

    @contextmanager
    def context(
        self,
        storage_state: dict[str, Any] | str | Path | None = None,
        *,
        base_url: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        locale: str = DEFAULT_LOCALE,
    ) -> Iterator[BrowserContext]:
        """A fresh browser context (cookies and local storage from ``storage_state``), closed on exit.

        Every action and navigation in it times out after ``timeout_s`` unless the caller passes its own bound.
        A browser that cannot start or a state it cannot load raise :class:`RetryableError` ``browser_unavailable``.
        """
        try:
            context = self.browser.new_context(
                storage_state=storage_state,  # type: ignore[arg-type]
                base_url=base_url,
                locale=locale,
                viewport={"width": 1280, "height": 900},
            )
        except PlaywrightError as exc:  # no browser, or a stored state it cannot load: nothing was sent anywhere
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise RetryableError("browser_unavailable", f"cannot open a browser context: {first}") from None
        context.set_default_timeout(timeout_s * 1000)
        context.set_default_navigation_timeout(timeout_s * 1000)
        try:
            yield context
        finally:
            with suppress(PlaywrightError):
                context.close()

    def close(self) -> None:
        """Close the browser this host launched (a borrowed one is left alone)."""
        if self._own is not None:
            own, self._own = self._own, None
            with suppress(PlaywrightError):
                own.close()
            release_playwright()


def by_testid(name: str) -> str:
    """The CSS selector of a ``data-testid`` (the stable selectors the sandbox pages carry)."""
    return f'[data-testid="{name}"]'


def url_path(url: str) -> str:
    """The path part of ``url`` (``""`` for ``about:blank``)."""
    return urlsplit(url).path


def is_under(url: str, prefix: str) -> bool:
    """Whether ``url``'s path is ``prefix`` or below it (``/login`` matches ``/login?x`` and ``/login/qr/..``)."""
    path = url_path(url)
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


def wait_until(
    check: Callable[[], T | None], timeout_s: float, page: Page | None = None, poll_s: float = POLL_S
) -> T | None:
    """Call ``check`` until it returns something other than ``None`` (returned) or ``timeout_s`` passes (``None``).

    A Playwright error inside ``check`` counts as "not yet": the page may be navigating (its execution context is
    destroyed and rebuilt). With ``page`` the pause between polls lets Playwright process events (URL changes).
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            result = check()
        except PlaywrightError:
            result = None
        if result is not None:
            return result
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        pause = min(poll_s, left)
        if page is not None:
            try:
                page.wait_for_timeout(pause * 1000)
            except PlaywrightError:
                time.sleep(pause)
        else:
            time.sleep(pause)


def screenshot_path(directory: Path, platform: str, post_id: str, when: datetime | None = None) -> Path:
    """``<directory>/<platform>/<post_id>-<UTC time>.png`` (names only; nothing secret)."""
    stamp = (when or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    safe_id = "".join(c if c.isalnum() or c in "-_." else "_" for c in post_id)[:80] or "post"
    return directory / platform / f"{safe_id}-{stamp}.png"


def save_screenshot(page: Page, directory: Path, platform: str, post_id: str) -> Path | None:
    """A full-page screenshot of ``page`` for a failed publish; ``None`` when the page cannot be captured.

    Never raises: a failure is already being reported and a missing screenshot must not hide it.
    """
    path = screenshot_path(directory, platform, post_id)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path), full_page=True, timeout=10_000)
    except (PlaywrightError, OSError):
        return None
    return path


@contextmanager
def screenshot_on_failure(page: Page, directory: Path, platform: str, post_id: str) -> Iterator[None]:
    """Save a screenshot when the block raises; a :class:`PublishError` is re-raised (same class, code and
    ``retry_after``) with ``(screenshot: <path>)`` appended to its message, anything else unchanged."""
    try:
        yield
    except PublishError as exc:
        path = save_screenshot(page, directory, platform, post_id)
        if path is None:
            raise
        raise type(exc)(exc.code, f"{exc.message} (screenshot: {path})", exc.retry_after) from None
    except Exception:
        save_screenshot(page, directory, platform, post_id)
        raise
