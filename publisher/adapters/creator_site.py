"""The browser-upload engine behind the Douyin, Kuaishou and Xiaohongshu adapters: Playwright on the creator site,
driven by a versioned selector file per platform (``publisher/adapters/selectors/<platform>.v<N>.toml``).

NOT LIVE-TESTED: nothing here can reach the live creator sites. The flow follows social-auto-upload's Douyin
uploader (see ``/work/shared/research/publishing.md``) and is tested in real Chromium against local fixture pages
that carry the same selectors (``tests/test_adapter_creator_sites.py``). Each selector file says ``verified =
false`` and why.

One publish, every wait bounded by the file's ``[timeouts]``:

1. open the upload URL with the account's stored ``session`` (a Playwright storage state). A redirect away from it
   or a login marker (手机号登录 / 扫码登录) is :class:`SessionExpired`; so is a captcha or SMS check: a human must
   log in (``mcn accounts login``), mcn never solves or bypasses them.
2. ``set_input_files`` on the file input; wait for the publish form (its URL and its description editor).
3. title cut to the platform's limit; description = caption, the visible labels (广告 when disclosed, the AI
   label), the tracking code (``find`` searches the manage page for it), then up to N #topics.
4. wait for the upload to finish (``重新上传``); ``上传失败`` is :class:`RetryableError`.
5. product link (挂车) when the post has one; ``未搜索到对应商品`` is :class:`PostRejected`.
6. the AI declaration (内容由AI生成) is ALWAYS ticked; when its control cannot be found the post is refused with
   ``PostRejected("ai_declaration_control_missing")`` rather than published unlabelled.
7. scheduled publish when ``schedule_at`` is set (the platform's lead time and format).
8. click publish. From here on nothing is retried blindly: reaching the success URL is success (the remote id is
   read from the manage page by the tracking code, or ``unknown-remote-id``); a refusal text shown on the form is
   mapped; anything else, a timeout included, is :class:`OutcomeUnknown` and the dispatcher reconciles with
   :meth:`CreatorSiteAdapter.find`.

A failed publish leaves a screenshot in ``<data_dir>/screenshots/<platform>/`` (its path is in the message). No
stealth scripts, no fingerprint tricks: the browser is plain Chromium (``mcn.browser``).
"""

from __future__ import annotations

import logging
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from playwright.sync_api import Browser, Page
from playwright.sync_api import Error as PlaywrightError

from publisher.adapters.base import (
    AccountRestricted,
    Credentials,
    OutcomeUnknown,
    PlatformAdapter,
    PostPackage,
    PostRejected,
    ProgressCallback,
    PublishReceipt,
    RemotePost,
    RetryableError,
    SessionExpired,
    video_file,
)
from publisher.adapters.browser import BrowserHost, screenshot_on_failure, wait_until

log = logging.getLogger(__name__)

UNKNOWN_REMOTE_ID = "unknown-remote-id"
_SELECTOR_FILE = re.compile(r"^(?P<platform>[a-z0-9_]+)\.v(?P<version>\d+)\.toml$")

T = TypeVar("T")


# -- the selector file -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SiteUrls:
    """Paths on the creator site (joined to ``origin`` or the adapter's ``base_url``) and URL regexes."""

    origin: str
    login: str
    upload: str
    manage: str
    publish_form: str  # regex: the URL once the publish form shows
    success: str  # regex: the URL after a successful publish
    logged_in: str  # regex: the URL of any logged-in creator page (capture_login)
    remote_post: str  # public URL of a post, with {remote_id}


@dataclass(frozen=True, slots=True)
class SiteLogin:
    session_cookie: str  # a cookie a valid login always has ("" when unknown)
    markers: tuple[str, ...]  # selectors: any visible means "not logged in"
    verification: tuple[str, ...]  # selectors: captcha / SMS check: a human must log in


@dataclass(frozen=True, slots=True)
class SiteLimits:
    title_max_chars: int  # 0: the site has no title field; the title opens the description
    description_max_chars: int
    max_topics: int
    schedule_format: str
    schedule_min_ahead_minutes: int
    schedule_max_ahead_days: int
    timezone: str
    product_links: bool
    product_short_title_max_chars: int


@dataclass(frozen=True, slots=True)
class SiteTimeouts:
    """Seconds; every wait of the engine is bounded by one of these."""

    navigation: float
    page_ready: float
    publish_form: float
    upload: float
    step: float
    publish_result: float
    manage: float


@dataclass(frozen=True, slots=True)
class SiteSelectors:
    """Playwright selectors; ``""`` (or an empty list) means the site has no such control."""

    file_input: str
    title_input: str
    description_editor: str
    upload_done: str
    upload_failed: str
    dismiss: tuple[str, ...]
    ai_declaration_open: str
    ai_declaration_option: str
    ai_declaration_confirm: str
    product_open: tuple[str, ...]
    product_link_input: str
    product_add: str
    product_not_found: str
    product_not_found_dismiss: str
    product_short_title_input: str
    product_added: str  # shown once the product is attached (sites without a short-title dialog)
    product_done: str
    schedule_open: str
    schedule_input: str
    publish_button: str
    publish_button_scheduled: str
    publish_confirm: str
    publish_failed: tuple[str, ...]
    restricted: tuple[str, ...]
    manage_ready: str
    manage_item: str
    manage_item_id: str
    manage_item_id_attribute: str
    remote_id_pattern: str
    manage_search_input: str


@dataclass(frozen=True, slots=True)
class SiteConfig:
    """One platform's selector file, parsed and checked (every key present, nothing unknown)."""

    platform: str
    version: int
    verified: bool
    verified_reason: str
    date_verified: str
    urls: SiteUrls
    login: SiteLogin
    limits: SiteLimits
    timeouts: SiteTimeouts
    selectors: SiteSelectors
    source: str = ""

    def with_timeouts(self, overrides: Mapping[str, float] | None) -> SiteConfig:
        """A copy with some timeouts replaced (tests shorten them; operators lengthen them for slow links)."""
        if not overrides:
            return self
        known = {f.name for f in fields(SiteTimeouts)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(
                f"{self.platform}: unknown timeouts {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        values = {k: float(v) for k, v in overrides.items()}
        if any(v <= 0 for v in values.values()):
            raise ValueError(f"{self.platform}: timeouts must be positive")
        return replace(self, timeouts=replace(self.timeouts, **values))


def selector_files(platform: str) -> dict[int, Path]:
    """The packaged selector files of ``platform`` by version."""
    found: dict[int, Path] = {}
    folder = resources.files("publisher.adapters") / "selectors"
    for entry in folder.iterdir():
        match = _SELECTOR_FILE.match(entry.name)
        if match and match["platform"] == platform:
            found[int(match["version"])] = Path(str(entry))
    return found


def load_site_config(platform: str, version: int | None = None, path: Path | None = None) -> SiteConfig:
    """Parse a selector file: ``path``, else the packaged ``<platform>.v<version>.toml`` (highest by default).

    A missing or malformed file is a ``ValueError`` naming the file and the problem.
    """
    if path is None:
        files = selector_files(platform)
        if not files:
            raise ValueError(f"{platform}: no selector file publisher/adapters/selectors/{platform}.v<N>.toml")
        chosen = version if version is not None else max(files)
        if chosen not in files:
            raise ValueError(f"{platform}: no selector file version {chosen}; have {sorted(files)}")
        path = files[chosen]
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the selector file: {exc}") from None
    try:
        config = SiteConfig(
            platform=str(raw["platform"]),
            version=int(raw["version"]),
            verified=bool(raw["verified"]),
            verified_reason=str(raw.get("verified_reason", "")),
            date_verified=str(raw.get("date_verified", "")),
            urls=_section(SiteUrls, raw, "urls", path),
            login=_section(SiteLogin, raw, "login", path),
            limits=_section(SiteLimits, raw, "limits", path),
            timeouts=_section(SiteTimeouts, raw, "timeouts", path),
            selectors=_section(SiteSelectors, raw, "selectors", path),
            source=str(path),
        )
    except KeyError as exc:
        raise ValueError(f"{path}: missing key {exc.args[0]!r}") from None
    if config.platform != platform:
        raise ValueError(f"{path}: the file is for {config.platform!r}, not {platform!r}")
    if not config.verified and not config.verified_reason:
        raise ValueError(f"{path}: an unverified selector file must say why (verified_reason)")
    return config


def _section(kind: type[T], raw: Mapping[str, Any], name: str, path: Path) -> T:
    table = raw.get(name)
    if not isinstance(table, Mapping):
        raise ValueError(f"{path}: missing table [{name}]")
    names = [f.name for f in fields(kind)]  # type: ignore[arg-type]
    unknown = sorted(set(table) - set(names))
    if unknown:
        raise ValueError(f"{path}: unknown keys in [{name}]: {', '.join(unknown)}")
    missing = [n for n in names if n not in table]
    if missing:
        raise ValueError(f"{path}: missing keys in [{name}]: {', '.join(missing)}")
    values = {k: tuple(str(x) for x in v) if isinstance(v, list) else v for k, v in table.items()}
    return kind(**values)


# -- what gets typed -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PostText:
    """The texts one post puts on a creator site, already cut to its limits."""

    title: str  # "" when the site has no title field
    body: str  # caption, labels, tracking code
    topics: tuple[str, ...]
    schedule: str | None  # in the site's format and time zone
    product_short_title: str


def post_text(config: SiteConfig, post: PostPackage, now: datetime | None = None) -> PostText:
    """Cut and format ``post`` for the site, or :class:`PostRejected` when the site cannot take it as it is."""
    limits = config.limits
    name = config.platform
    labels = replace(post, caption="", topics=()).description()  # 广告 and the AI label, as base formats them
    title = " ".join(post.title.split())
    caption = post.caption.strip()
    if limits.title_max_chars <= 0:
        caption = "\n".join(x for x in (title, caption) if x)
        title = ""
    else:
        title = title[: limits.title_max_chars]
    topics = tuple(t.lstrip("#").strip() for t in post.topics if t.strip("# "))[: limits.max_topics]
    # labels and the tracking code are never cut; the caption gives way
    fixed = len(labels) + len(post.tracking_code) + sum(len(t) + 2 for t in topics) + 4
    caption = caption[: max(0, limits.description_max_chars - fixed)]
    body = "\n".join(x for x in (caption, labels, post.tracking_code) if x)
    schedule = None
    if post.schedule_at is not None:
        schedule = schedule_text(config, post.schedule_at, now)
    if post.product_link and not limits.product_links:
        raise PostRejected(
            "product_link_unsupported",
            f"{name}: post {post.post_id}: this site cannot attach a product by link; plan it without one",
        )
    short = title or caption
    return PostText(
        title=title,
        body=body,
        topics=topics,
        schedule=schedule,
        product_short_title=short[: limits.product_short_title_max_chars]
        if limits.product_short_title_max_chars
        else "",
    )


def schedule_text(config: SiteConfig, when: datetime, now: datetime | None = None) -> str:
    """``when`` in the site's time zone and format, or :class:`PostRejected` when outside the allowed window."""
    limits = config.limits
    at = when if when.tzinfo else when.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    ahead = at - current
    if ahead <= timedelta(minutes=limits.schedule_min_ahead_minutes):
        raise PostRejected(
            "invalid_schedule_time",
            f"{config.platform}: scheduled time {at.isoformat()} is not more than "
            f"{limits.schedule_min_ahead_minutes} minutes ahead",
        )
    if ahead > timedelta(days=limits.schedule_max_ahead_days):
        raise PostRejected(
            "invalid_schedule_time",
            f"{config.platform}: scheduled time {at.isoformat()} is more than "
            f"{limits.schedule_max_ahead_days} days ahead",
        )
    return at.astimezone(ZoneInfo(limits.timezone)).strftime(limits.schedule_format)


# -- the engine ------------------------------------------------------------------------------------------------


class CreatorSiteAdapter(PlatformAdapter):
    """A creator site driven by its selector file; each platform module subclasses it and sets ``name``.

    NOT live-tested: see the module doc. Options: ``base_url`` (replaces the file's origin: tests point it at a
    local fixture server), ``selector_version``/``selector_file`` (another version of the selectors),
    ``timeouts`` (override some ``[timeouts]``), ``headless``, ``screenshot_dir`` (default
    ``<data_dir>/screenshots``) and ``browser`` (lend an open Chromium; otherwise one is launched on first use).
    """

    method: ClassVar[str] = "browser"
    live_tested: ClassVar[bool] = False
    secret_kinds: ClassVar[tuple[str, ...]] = ("session",)

    def __init__(
        self,
        base_url: str | None = None,
        *,
        selector_version: int | None = None,
        selector_file: Path | None = None,
        timeouts: Mapping[str, float] | None = None,
        headless: bool | None = None,
        screenshot_dir: Path | None = None,
        browser: Browser | None = None,
    ) -> None:
        self.config = load_site_config(self.name, selector_version, selector_file).with_timeouts(timeouts)
        settings = None
        if headless is None or screenshot_dir is None:
            from mcn.settings import get_settings

            settings = get_settings()
        self.base_url = (base_url or self.config.urls.origin).rstrip("/")
        self.screenshot_dir = screenshot_dir or (settings.resolved_data_dir / "screenshots" if settings else Path("."))
        headless = headless if headless is not None else (settings.browser_headless if settings else True)
        self._host = BrowserHost(headless=headless, browser=browser)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, selectors=v{self.config.version})"

    def url(self, path: str) -> str:
        return self.base_url + path

    # -- the interface ---------------------------------------------------------------------------------------

    def publish(
        self, post: PostPackage, credentials: Credentials, progress: ProgressCallback | None = None
    ) -> PublishReceipt:
        """Publish ``post`` through the creator site (module doc: the steps and which error each failure is)."""
        problem = post.compliance_problem()
        if problem:
            raise PostRejected("compliance", f"{self.name}: post {post.post_id}: {problem}")
        video = video_file(post.video_path)
        text = post_text(self.config, post)
        session = self._session(credentials)
        report = progress or (lambda _step, _fraction: None)
        with self._host.context(session, timeout_s=self.config.timeouts.step) as context:
            page = context.new_page()
            with screenshot_on_failure(page, self.screenshot_dir, self.name, post.post_id):
                run = _Run(self, page, post, text, report)
                receipt = run.publish(video)
            try:
                credentials.renew("session", context.storage_state())
            except Exception as exc:  # noqa: BLE001 - the post is out; a lost session save must not undo that
                log.warning("%s: account %s: re-saving the session failed: %s", self.name, credentials.account_id, exc)
        return receipt

    def find(self, post: PostPackage, credentials: Credentials) -> RemotePost | None:
        """Search the manage page for ``post.tracking_code`` (it is in every description we type)."""
        session = self._session(credentials)
        with self._host.context(session, timeout_s=self.config.timeouts.step) as context:
            page = context.new_page()
            self._open(page, self.config.urls.manage, f"post {post.post_id}: find")
            found = self._find_on_manage(page, post.tracking_code, self.config.timeouts.manage)
        if found is None:
            return None
        remote_id = found or UNKNOWN_REMOTE_ID
        return RemotePost(remote_id=remote_id, tracking_code=post.tracking_code, remote_url=self._remote_url(found))

    def check_session(self, credentials: Credentials) -> bool:
        """Logged in iff the upload page opens without a redirect, a login marker or a verification check."""
        try:
            session = self._session(credentials)
        except SessionExpired:
            return False
        with self._host.context(session, timeout_s=self.config.timeouts.step) as context:
            page = context.new_page()
            try:
                self._open(page, self.config.urls.upload, "session check")
            except SessionExpired:
                return False
        return True

    def login_url(self) -> str:
        return self.url(self.config.urls.login)

    def capture_login(self, page: Any, timeout_s: float) -> dict[str, Any]:
        """Wait until the operator has logged in on ``page`` (URL on a creator page, no login marker, the session
        cookie set), then return ``{"session": storage_state}``. The operator solves any captcha or SMS check."""
        logged_in = re.compile(self.config.urls.logged_in)
        cookie = self.config.login.session_cookie

        def done() -> bool | None:
            if not logged_in.search(urlsplit(page.url).path) or _any_visible(page, self.config.login.markers):
                return None
            if cookie and not any(c.get("name") == cookie for c in page.context.cookies()):
                return None
            return True

        if wait_until(done, timeout_s, page) is None:
            raise SessionExpired(
                "login_timeout", f"{self.name}: nobody logged in on {self.login_url()} within {timeout_s:g} s"
            )
        return {"session": page.context.storage_state()}

    def close(self) -> None:
        """Close the browser this adapter launched (a lent one stays open)."""
        self._host.close()

    # -- shared steps ----------------------------------------------------------------------------------------

    def _session(self, credentials: Credentials) -> Any:
        session = credentials.get("session")
        if not session:
            raise SessionExpired(
                "no_session",
                f"{self.name}: account {credentials.account_id} has no stored login; run `mcn accounts login`",
            )
        return session

    def _open(self, page: Page, path: str, stage: str) -> None:
        """Go to ``path`` and wait until it is usable; :class:`SessionExpired` if the login did not hold."""
        target = self.url(path)
        try:
            page.goto(target, wait_until="domcontentloaded", timeout=self.config.timeouts.navigation * 1000)
        except PlaywrightError as exc:
            raise RetryableError(
                "unreachable", f"{self.name} {stage}: opening {path} failed: {first_line(exc)}"
            ) from None
        # file inputs are usually hidden behind a styled button: attached is enough; the manage list must show
        sel = self.config.selectors
        ready = sel.file_input if path == self.config.urls.upload else f"{sel.manage_ready} >> visible=true"
        expected = urlsplit(target).path.rstrip("/")

        def state() -> str | None:
            if _any_visible(page, self.config.login.verification):
                return "verification"
            if not urlsplit(page.url).path.rstrip("/").endswith(expected) or _any_visible(
                page, self.config.login.markers
            ):
                return "login"
            return "ready" if page.locator(ready).count() > 0 else None

        found = wait_until(state, self.config.timeouts.page_ready, page)
        if found == "verification":
            raise SessionExpired(
                "verification_required",
                f"{self.name} {stage}: the site asks for a captcha or SMS check; "
                "a human must log in (mcn accounts login)",
            )
        if found == "login":
            raise SessionExpired(
                "session_expired",
                f"{self.name} {stage}: the stored login is no longer valid; a human must log in (mcn accounts login)",
            )
        if found is None:
            raise RetryableError(
                "page_not_ready",
                f"{self.name} {stage}: {path} did not show its controls in {self.config.timeouts.page_ready:g} s",
            )

    def _find_on_manage(self, page: Page, tracking_code: str, timeout_s: float) -> str | None:
        """On the manage page: the remote id of the item showing ``tracking_code`` ("" if it shows none), or
        ``None`` when no item shows the code."""
        sel = self.config.selectors
        try:
            if sel.manage_search_input:
                box = page.locator(sel.manage_search_input).first
                box.fill(tracking_code)
                box.press("Enter")

            def lookup() -> str | None:
                if page.locator(f"{sel.manage_ready} >> visible=true").count() == 0:
                    return None  # not loaded yet (an empty-state element may sit hidden until then)
                item = page.locator(sel.manage_item).filter(has_text=tracking_code).first
                if item.count() == 0:
                    return "absent"
                return "found"

            state = wait_until(lookup, timeout_s, page)
            if state is None:
                raise RetryableError(
                    "manage_not_ready", f"{self.name}: the manage page did not load in {timeout_s:g} s"
                )
            if state == "absent":
                return None
            item = page.locator(sel.manage_item).filter(has_text=tracking_code).first
            return self._remote_id(item)
        except PlaywrightError as exc:
            raise RetryableError(
                "manage_unreadable", f"{self.name}: reading the manage page failed: {first_line(exc)}"
            ) from None

    def _remote_id(self, item: Any) -> str:
        sel = self.config.selectors
        if not sel.manage_item_id:
            return ""
        holder = item.locator(sel.manage_item_id).first
        if holder.count() == 0:
            return ""
        raw = (
            holder.get_attribute(sel.manage_item_id_attribute) if sel.manage_item_id_attribute else holder.inner_text()
        )
        if not raw:
            return ""
        if sel.remote_id_pattern:
            match = re.search(sel.remote_id_pattern, raw)
            return match.group(1) if match else ""
        return raw.strip()

    def _remote_url(self, remote_id: str) -> str | None:
        return self.config.urls.remote_post.format(remote_id=remote_id) if remote_id else None


class _Run:
    """One publish on one page: the steps of the module doc in order."""

    def __init__(
        self, adapter: CreatorSiteAdapter, page: Page, post: PostPackage, text: PostText, report: ProgressCallback
    ) -> None:
        self.adapter = adapter
        self.name = adapter.name
        self.config = adapter.config
        self.sel = adapter.config.selectors
        self.t = adapter.config.timeouts
        self.page = page
        self.post = post
        self.text = text
        self.report = report
        self.subject = f"{adapter.name}: post {post.post_id}"

    def publish(self, video: Path) -> PublishReceipt:
        try:
            self.report("open", 0.0)
            self.adapter._open(self.page, self.config.urls.upload, f"post {self.post.post_id}: upload page")
            self._choose_file(video)
            self.report("form", 0.1)
            self._dismiss_popups()
            self._fill_texts()
            self._wait_uploaded()
            self.report("details", 0.6)
            if self.post.product_link:
                self._attach_product(self.post.product_link)
            self._declare_ai()
            if self.text.schedule is not None:
                self._schedule(self.text.schedule)
            self._dismiss_popups()
            if _any_visible(self.page, self.config.login.verification):
                raise SessionExpired(
                    "verification_required",
                    f"{self.subject}: the site asks for a captcha or SMS check; a human must log in",
                )
        except PlaywrightError as exc:
            # the page did not behave as the selector file expects; nothing was submitted
            raise RetryableError("page_changed", f"{self.subject}: {first_line(exc)}") from None
        self.report("publish", 0.8)
        return self._submit()

    # -- before the click: failures are safe to retry (or final refusals) -----------------------------------

    def _choose_file(self, video: Path) -> None:
        # handing a large file to the page can outlast the step bound: the navigation bound covers it
        self.page.locator(self.sel.file_input).first.set_input_files(str(video), timeout=self.t.navigation * 1000)
        form = re.compile(self.config.urls.publish_form)

        def shown() -> bool | None:
            if not form.search(self.page.url):
                return None
            return True if self.page.locator(self.sel.description_editor).first.is_visible() else None

        if wait_until(shown, self.t.publish_form, self.page) is None:
            raise RetryableError(
                "publish_form_missing", f"{self.subject}: the publish form did not open in {self.t.publish_form:g} s"
            )

    def _dismiss_popups(self) -> None:
        for selector in self.sel.dismiss:
            button = self.page.locator(selector).first
            if button.count() and button.is_visible():
                button.click()

    def _fill_texts(self) -> None:
        if self.text.title:
            if not self.sel.title_input:
                raise ValueError(f"{self.config.source}: title_max_chars is set but title_input is empty")
            self.page.locator(self.sel.title_input).first.fill(self.text.title)
        editor = self.page.locator(self.sel.description_editor).first
        editor.click()
        # insert_text types the whole text as one input event (fast); topics are typed key by key so the editor
        # turns each "#topic " into its topic chip, as it does for a person
        lines = self.text.body.split("\n")
        for index, line in enumerate(lines):
            if index:
                self.page.keyboard.press("Enter")
            if line:
                self.page.keyboard.insert_text(line)
        if self.text.topics:
            self.page.keyboard.press("Enter")
        for topic in self.text.topics:
            self.page.keyboard.type(f"#{topic}")
            self.page.keyboard.press("Space")

    def _wait_uploaded(self) -> None:
        def state() -> str | None:
            if self.page.locator(self.sel.upload_failed).first.is_visible():
                return "failed"
            return "done" if self.page.locator(self.sel.upload_done).first.is_visible() else None

        outcome = wait_until(state, self.t.upload, self.page)
        if outcome == "failed":
            raise RetryableError("upload_failed", f"{self.subject}: the site says the upload failed (上传失败)")
        if outcome is None:
            raise RetryableError("upload_timeout", f"{self.subject}: the upload did not finish in {self.t.upload:g} s")
        self.report("upload", 0.5)

    def _attach_product(self, link: str) -> None:
        sel = self.sel
        if (
            not sel.product_link_input
            or not sel.product_add
            or not (sel.product_short_title_input or sel.product_added)
        ):
            raise PostRejected(
                "product_link_unsupported", f"{self.subject}: the selector file has no product-link flow"
            )
        step_ms = self.t.step * 1000
        for selector in sel.product_open:
            self.page.locator(selector).first.click(timeout=step_ms)
        self.page.locator(sel.product_link_input).first.fill(link, timeout=step_ms)
        self.page.locator(sel.product_add).first.click(timeout=step_ms)

        def answer() -> str | None:
            if sel.product_not_found and self.page.locator(sel.product_not_found).first.is_visible():
                return "missing"
            if sel.product_short_title_input and self.page.locator(sel.product_short_title_input).first.is_visible():
                return "dialog"
            if sel.product_added and self.page.locator(sel.product_added).first.is_visible():
                return "added"
            return None

        outcome = wait_until(answer, self.t.step, self.page)
        if outcome == "missing":
            if sel.product_not_found_dismiss:
                self.page.locator(sel.product_not_found_dismiss).first.click(timeout=step_ms)
            raise PostRejected(
                "product_not_found", f"{self.subject}: the site found no product for the link (未搜索到对应商品)"
            )
        if outcome is None:
            raise RetryableError(
                "product_no_answer", f"{self.subject}: the product link got no answer in {self.t.step:g} s"
            )
        if outcome == "dialog":
            self.page.locator(sel.product_short_title_input).first.fill(self.text.product_short_title, timeout=step_ms)
            if sel.product_done:
                self.page.locator(sel.product_done).first.click(timeout=step_ms)

    def _declare_ai(self) -> None:
        """Tick the AI declaration; refuse the post when any of its controls is missing (never post unlabelled)."""
        sel = self.sel
        step_ms = self.t.step * 1000
        missing = PostRejected(
            "ai_declaration_control_missing",
            f"{self.subject}: the AI-generated declaration control was not found; refusing to post unlabelled "
            f"(check {self.config.source})",
        )
        if not sel.ai_declaration_option:
            raise missing
        try:
            if sel.ai_declaration_open:
                self.page.locator(sel.ai_declaration_open).first.click(timeout=step_ms)
            option = self.page.locator(sel.ai_declaration_option).first
            option.wait_for(state="visible", timeout=step_ms)
            option.check(timeout=step_ms)  # Playwright verifies the control is checked afterwards
            if sel.ai_declaration_confirm:
                self.page.locator(sel.ai_declaration_confirm).first.click(timeout=step_ms)
        except PlaywrightError:
            raise missing from None

    def _schedule(self, when: str) -> None:
        sel = self.sel
        if not sel.schedule_open or not sel.schedule_input:
            raise PostRejected("schedule_unsupported", f"{self.subject}: the selector file has no scheduled publish")
        self.page.locator(sel.schedule_open).first.click()
        box = self.page.locator(sel.schedule_input).first
        box.click()
        self.page.keyboard.press("Control+KeyA")
        self.page.keyboard.type(when)
        self.page.keyboard.press("Enter")

    # -- the click and after: never retried blindly --------------------------------------------------------

    def _submit(self) -> PublishReceipt:
        sel = self.sel
        button = (
            sel.publish_button_scheduled if self.text.schedule and sel.publish_button_scheduled else sel.publish_button
        )
        try:
            # no_wait_after: the click must not wait for the navigation it starts; the outcome wait below does
            self.page.locator(button).first.click(timeout=self.t.step * 1000, no_wait_after=True)
        except PlaywrightError as exc:
            # the click itself failed (button gone or covered): nothing was submitted
            raise RetryableError("publish_button_missing", f"{self.subject}: {first_line(exc)}") from None
        log.info("%s: clicked publish", self.subject)
        success = re.compile(self.config.urls.success)
        confirm_clicked = not sel.publish_confirm

        def outcome() -> str | None:
            nonlocal confirm_clicked
            if success.search(self.page.url):
                return "success"
            if _any_visible(self.page, sel.restricted):
                return "restricted"
            if _any_visible(self.page, sel.publish_failed):
                return "failed"
            if _any_visible(self.page, self.config.login.verification):
                return "verification"
            if not confirm_clicked:
                confirm = self.page.locator(sel.publish_confirm).first
                if confirm.count() and confirm.is_visible():
                    confirm.click(timeout=self.t.step * 1000)
                    confirm_clicked = True
            return None

        result = wait_until(outcome, self.t.publish_result, self.page)
        if result == "restricted":
            raise AccountRestricted("posting_restricted", f"{self.subject}: the site says the account posts too often")
        if result == "failed":
            raise RetryableError("publish_failed", f"{self.subject}: the site answered 发布失败; nothing was published")
        if result == "verification":
            raise SessionExpired(
                "verification_required",
                f"{self.subject}: a captcha or SMS check blocks the publish; a human must log in",
            )
        if result is None:
            raise OutcomeUnknown(
                "publish_timeout",
                f"{self.subject}: no success page within {self.t.publish_result:g} s after clicking publish; "
                "reconcile by the tracking code",
            )
        self.report("published", 0.9)
        remote_id = self._remote_id_after_success()
        self.report("done", 1.0)
        log.info("%s: published as %s", self.subject, remote_id)
        return PublishReceipt(
            remote_id=remote_id,
            remote_url=self.adapter._remote_url(remote_id) if remote_id != UNKNOWN_REMOTE_ID else None,
            detail=("scheduled " + self.text.schedule if self.text.schedule else "published")
            + ("" if remote_id != UNKNOWN_REMOTE_ID else "; remote id not shown, reconcile by tracking code"),
        )

    def _remote_id_after_success(self) -> str:
        """The new post's id from the manage page (by tracking code); ``unknown-remote-id`` when it is not shown.

        Never raises: the post is published, a missing id only means the dispatcher reconciles it later.
        """
        manage_path = urlsplit(self.adapter.url(self.config.urls.manage)).path.rstrip("/")
        try:
            if not urlsplit(self.page.url).path.rstrip("/").endswith(manage_path):
                self.page.goto(self.adapter.url(self.config.urls.manage), timeout=self.t.navigation * 1000)
            found = self.adapter._find_on_manage(self.page, self.post.tracking_code, self.t.manage)
        except (PlaywrightError, RetryableError) as exc:
            log.warning("%s: published, but the manage page could not be read: %s", self.subject, exc)
            return UNKNOWN_REMOTE_ID
        return found or UNKNOWN_REMOTE_ID


def _any_visible(page: Page, selectors: tuple[str, ...]) -> bool:
    for selector in selectors:
        try:
            if page.locator(selector).first.is_visible():
                return True
        except PlaywrightError:
            continue
    return False


def first_line(exc: BaseException) -> str:
    """A Playwright error's first line (its call log spans many lines)."""
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
