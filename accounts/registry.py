"""The accounts registry: who posts where, how often, when, and whether the account can post right now.

An account is one creator account the operator owns on one platform (``platform`` + ``handle`` is unique). Its
status says whether the dispatcher may use it:

===============  ==============================================================================================
``active``       posts go out
``needs_login``  the session or token expired (or was never stored); ``mcn accounts login`` fixes it
``paused``       the operator or the dispatcher (spam-risk reply) stopped it, until ``paused_until`` if set
``banned``       the platform banned it; nothing goes out until the operator resumes it
===============  ==============================================================================================

Every function opens its own short transaction and returns plain frozen :class:`Account` values, so callers in
other threads or processes never hold a database session. Bad input raises a one-line :class:`AccountError`.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, tzinfo

from sqlalchemy import func
from sqlmodel import Session, col, select

from accounts.errors import AccountError
from accounts.windows import (
    DEFAULT_WINDOWS,
    Window,
    WindowError,
    format_windows,
    local_date,
    local_day_bounds,
    parse_windows,
    resolve_timezone,
)
from mcn.db import session
from mcn.tables import ACCOUNT_STATUSES, AccountRecord, PostRecord, utcnow
from publisher.adapters.base import adapter_names, create_adapter

__all__ = [
    "ACCOUNT_STATUSES",
    "DEFAULT_DAILY_CAP",
    "DEFAULT_TIMEZONE",
    "MAX_DAILY_CAP",
    "PENDING_POST_STATUSES",
    "Account",
    "AccountError",
    "AccountSpec",
    "TodayPosts",
    "add_account",
    "get_account",
    "known_platforms",
    "list_accounts",
    "mark_checked",
    "mark_needs_login",
    "pause_account",
    "platform_needs_login",
    "posts_today",
    "record_login",
    "resume_due",
    "set_status",
    "upsert_account",
    "upsert_accounts",
]

log = logging.getLogger(__name__)

DEFAULT_DAILY_CAP = 10
MAX_DAILY_CAP = 50  # well under the platforms' own ceilings (~15/day on TikTok/Douyin): more only looks like spam
DEFAULT_TIMEZONE = "Asia/Shanghai"
# Platforms accounts may be registered for even before their adapter module exists (imports come before adapters).
PLANNED_PLATFORMS = ("sandbox", "outbox", "douyin", "kuaishou", "xiaohongshu", "tiktok", "youtube")
# Posts counted as "still to go out today": planned, in flight, or sent with the answer lost (they may be live).
PENDING_POST_STATUSES = ("planned", "claimed", "uploading", "unknown")
_MAX_HANDLE = 100


def known_platforms() -> tuple[str, ...]:
    """Platform names an account may use: the registered adapters plus the planned built-in ones."""
    return tuple(sorted(set(adapter_names()) | set(PLANNED_PLATFORMS)))


@dataclass(frozen=True, slots=True)
class AccountSpec:
    """What the operator says about an account (``mcn accounts add``, one CSV row). See :meth:`validated`."""

    platform: str
    handle: str
    display_name: str = ""
    persona: str | None = None  # None: keep the stored persona when updating (the CSV has no persona column)
    niches: tuple[str, ...] = ()
    daily_cap: int = DEFAULT_DAILY_CAP
    windows: tuple[str, ...] = ()  # empty: DEFAULT_WINDOWS
    timezone: str = DEFAULT_TIMEZONE
    author_id: str | None = None
    approval_required: bool = False

    def validated(self) -> AccountSpec:
        """A normalised copy (trimmed, ``@`` dropped from the handle, windows in canonical sorted form), or a
        one-line :class:`AccountError` naming the field and the problem."""
        _printable("platform", self.platform)
        _printable("display_name", self.display_name)
        _printable("persona", self.persona or "", newlines=True)
        _printable("timezone", self.timezone)
        _printable("author_id", self.author_id or "")
        for niche in self.niches:
            _printable("niche", niche)
        for window in self.windows:
            _printable("window", window)
        platform = self.platform.strip().lower()
        if not platform:
            raise AccountError("platform is empty")
        known = known_platforms()
        if platform not in known:
            raise AccountError(f"platform {self.platform.strip()!r} is unknown; known: {', '.join(known)}")
        handle = self.handle.strip().removeprefix("@")
        if not handle:
            raise AccountError("handle is empty")
        if len(handle) > _MAX_HANDLE or any(ch.isspace() or not ch.isprintable() for ch in handle):
            raise AccountError(f"handle {handle[:40]!r} must be one word of at most {_MAX_HANDLE} characters")
        if not 1 <= self.daily_cap <= MAX_DAILY_CAP:
            raise AccountError(f"daily cap {self.daily_cap} is out of range 1..{MAX_DAILY_CAP}")
        try:
            windows = tuple(format_windows(parse_windows(self.windows or DEFAULT_WINDOWS)))
            zone = resolve_timezone(self.timezone.strip() or DEFAULT_TIMEZONE)
        except WindowError as exc:
            raise AccountError(str(exc)) from None
        niches = tuple(dict.fromkeys(n.strip() for n in self.niches if n.strip()))
        return replace(
            self,
            platform=platform,
            handle=handle,
            display_name=self.display_name.strip(),
            persona=None if self.persona is None else self.persona.strip(),
            niches=niches,
            windows=windows,
            timezone=str(zone),
            author_id=(self.author_id or "").strip() or None,
        )


def _printable(name: str, value: str, newlines: bool = False) -> None:
    """Refuse control characters (NUL above all: Postgres text cannot hold it, and the row would fail only at
    commit, taking the good rows of an import with it); a persona may span lines."""
    allowed = "\n\t" if newlines else ""
    bad = next((ch for ch in value if unicodedata.category(ch) == "Cc" and ch not in allowed), None)
    if bad is not None:
        kind = "a NUL byte" if bad == "\0" else f"a control character (U+{ord(bad):04X})"
        raise AccountError(f"{name} contains {kind}; remove it")


@dataclass(frozen=True, slots=True)
class Account:
    """One account as stored (a detached copy of its ``accounts`` row)."""

    id: int
    platform: str
    handle: str
    display_name: str
    persona: str
    niches: tuple[str, ...]
    status: str
    status_reason: str | None
    paused_until: datetime | None
    daily_cap: int
    windows: tuple[str, ...]
    timezone: str
    author_id: str | None
    approval_required: bool
    remote_id: str | None
    last_checked_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @property
    def label(self) -> str:
        """``platform/handle (#id)``: how messages name the account."""
        return f"{self.platform}/{self.handle} (#{self.id})"

    @property
    def zone(self) -> tzinfo:
        return resolve_timezone(self.timezone)

    def parsed_windows(self) -> tuple[Window, ...]:
        return parse_windows(self.windows)

    @classmethod
    def from_record(cls, row: AccountRecord) -> Account:
        assert row.id is not None  # rows come from the database here
        return cls(
            id=row.id,
            platform=row.platform,
            handle=row.handle,
            display_name=row.display_name,
            persona=row.persona,
            niches=tuple(row.niches or ()),
            status=row.status,
            status_reason=row.status_reason,
            paused_until=row.paused_until,
            daily_cap=row.daily_cap,
            windows=tuple(row.windows or DEFAULT_WINDOWS),
            timezone=row.timezone,
            author_id=row.author_id,
            approval_required=row.approval_required,
            remote_id=row.remote_id,
            last_checked_at=row.last_checked_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@dataclass(frozen=True, slots=True)
class TodayPosts:
    """An account's posts on its local today: published, and still to go out (planned, in flight, unknown)."""

    posted: int = 0
    pending: int = 0


def _apply(row: AccountRecord, spec: AccountSpec) -> None:
    row.display_name = spec.display_name
    if spec.persona is not None:
        row.persona = spec.persona
    row.niches = list(spec.niches)
    row.daily_cap = spec.daily_cap
    row.windows = list(spec.windows)
    row.timezone = spec.timezone
    row.author_id = spec.author_id
    row.approval_required = spec.approval_required
    row.updated_at = utcnow()


def _find(db: Session, platform: str, handle: str) -> AccountRecord | None:
    query = select(AccountRecord).where(AccountRecord.platform == platform, AccountRecord.handle == handle)
    return db.exec(query).first()


def platform_needs_login(platform: str) -> bool:
    """Whether the platform's adapter needs a stored secret to publish (True too when it has no adapter yet)."""
    try:
        adapter = create_adapter(platform)
    except ValueError:
        return True
    try:
        return bool(adapter.secret_kinds)
    finally:
        adapter.close()


def _initial_status(platform: str) -> tuple[str, str | None]:
    # A new account has nothing to post with until someone logs in (folder-style platforms need nothing).
    return ("needs_login", "never logged in") if platform_needs_login(platform) else ("active", None)


def add_account(spec: AccountSpec) -> Account:
    """Register a new account: ``needs_login`` ("never logged in") when its platform needs a login, else active.

    Raises :class:`AccountError` when the spec is invalid or the platform already has that handle.
    """
    spec = spec.validated()
    with session() as db:
        existing = _find(db, spec.platform, spec.handle)
        if existing is not None:
            raise AccountError(
                f"{spec.platform}/{spec.handle} already exists as account {existing.id}; "
                "re-import it from a CSV to update it"
            )
        status, reason = _initial_status(spec.platform)
        row = AccountRecord(platform=spec.platform, handle=spec.handle, status=status, status_reason=reason)
        _apply(row, spec)
        db.add(row)
        db.commit()
        return Account.from_record(row)


def upsert_accounts(specs: Sequence[AccountSpec]) -> list[tuple[Account, bool]]:
    """Create or update accounts by ``(platform, handle)`` in one transaction; ``(account, created)`` each.

    Updating keeps the status, secrets and (when the spec's persona is ``None``) the persona.
    """
    validated = [spec.validated() for spec in specs]
    initial = {platform: _initial_status(platform) for platform in {spec.platform for spec in validated}}
    results: list[tuple[AccountRecord, bool]] = []
    with session() as db:
        for spec in validated:
            row = _find(db, spec.platform, spec.handle)
            created = row is None
            if row is None:
                status, reason = initial[spec.platform]
                row = AccountRecord(platform=spec.platform, handle=spec.handle, status=status, status_reason=reason)
            _apply(row, spec)
            db.add(row)
            db.flush()
            results.append((row, created))
        db.commit()
        return [(Account.from_record(row), created) for row, created in results]


def upsert_account(spec: AccountSpec) -> tuple[Account, bool]:
    """Create the account or update the one with the same ``(platform, handle)``; ``(account, created)``."""
    return upsert_accounts([spec])[0]


def _get(db: Session, account_id: int) -> AccountRecord:
    row = db.get(AccountRecord, account_id)
    if row is None:
        raise AccountError(f"no account with id {account_id}")
    return row


def get_account(account_id: int) -> Account:
    """The account with ``account_id``; :class:`AccountError` when there is none."""
    with session() as db:
        return Account.from_record(_get(db, account_id))


def list_accounts(platform: str | None = None, status: str | None = None) -> list[Account]:
    """Accounts by id, optionally only one platform's and/or one status's."""
    if status is not None and status not in ACCOUNT_STATUSES:
        raise AccountError(f"status {status!r} is unknown; use one of {', '.join(ACCOUNT_STATUSES)}")
    query = select(AccountRecord).order_by(col(AccountRecord.id))
    if platform:
        query = query.where(AccountRecord.platform == platform.strip().lower())
    if status:
        query = query.where(AccountRecord.status == status)
    with session() as db:
        return [Account.from_record(row) for row in db.exec(query).all()]


def set_status(
    account_id: int, status: str, reason: str | None = None, paused_until: datetime | None = None
) -> Account:
    """Set the account's status and one-line reason; ``paused_until`` (aware) only applies to ``paused``."""
    if status not in ACCOUNT_STATUSES:
        raise AccountError(f"status {status!r} is unknown; use one of {', '.join(ACCOUNT_STATUSES)}")
    if paused_until is not None and status != "paused":
        raise AccountError(f"account {account_id}: paused_until only applies to status paused (got {status})")
    if paused_until is not None and paused_until.tzinfo is None:
        raise AccountError(f"account {account_id}: paused_until must be timezone-aware")
    with session() as db:
        row = _get(db, account_id)
        previous = row.status
        row.status = status
        row.status_reason = " ".join(reason.split())[:300] if reason else None
        row.paused_until = paused_until
        row.updated_at = utcnow()
        db.add(row)
        db.commit()
        if previous != status:
            log.info("account %s: %s -> %s (%s)", account_id, previous, status, row.status_reason or "no reason")
        return Account.from_record(row)


def mark_needs_login(account_id: int, reason: str) -> Account:
    """The account's login no longer works (e.g. "session expired"): hold its posts until someone logs in."""
    return set_status(account_id, "needs_login", reason)


def pause_account(account_id: int, reason: str, until: datetime | None = None) -> Account:
    """Stop the account (spam-risk reply, operator's choice) until ``until`` (aware), or until resumed."""
    return set_status(account_id, "paused", reason, paused_until=until)


def record_login(account_id: int) -> Account:
    """Fresh secrets were stored: a ``needs_login`` or ``active`` account becomes active with no reason.

    A paused or banned account keeps its status: a new login does not lift a restriction the platform or the
    operator put on it (``mcn accounts resume`` does).
    """
    with session() as db:
        row = _get(db, account_id)
        if row.status in ("needs_login", "active"):
            row.status = "active"
            row.status_reason = None
            row.paused_until = None
        row.last_checked_at = utcnow()
        row.updated_at = utcnow()
        db.add(row)
        db.commit()
        return Account.from_record(row)


def mark_checked(account_id: int, valid: bool, reason: str = "session expired") -> Account:
    """Record a session check: invalid -> ``needs_login`` with ``reason``; valid lifts ``needs_login`` only."""
    with session() as db:
        row = _get(db, account_id)
        if not valid and row.status == "active":
            row.status, row.status_reason = "needs_login", reason
        elif not valid and row.status == "needs_login":
            row.status_reason = reason
        elif valid and row.status == "needs_login":
            row.status, row.status_reason = "active", None
        row.last_checked_at = utcnow()
        row.updated_at = utcnow()
        db.add(row)
        db.commit()
        return Account.from_record(row)


def resume_due(now: datetime) -> list[int]:
    """Paused accounts whose ``paused_until`` is at or before ``now`` become active again; their ids."""
    if now.tzinfo is None:
        raise AccountError("resume_due needs a timezone-aware now")
    with session() as db:
        rows = db.exec(
            select(AccountRecord).where(
                AccountRecord.status == "paused",
                col(AccountRecord.paused_until).is_not(None),
                col(AccountRecord.paused_until) <= now,
            )
        ).all()
        for row in rows:
            row.status, row.status_reason, row.paused_until = "active", None, None
            row.updated_at = utcnow()
            db.add(row)
        db.commit()
        resumed = sorted(row.id for row in rows if row.id is not None)
    if resumed:
        log.info("resumed paused accounts %s", resumed)
    return resumed


def posts_today(account_ids: Iterable[int], now: datetime) -> dict[int, TodayPosts]:
    """For each account: posts published in its local day containing ``now`` (by ``posted_at``), and posts
    of that local ``plan_date`` still to go out (planned, claimed, uploading, unknown). Unknown ids are absent."""
    if now.tzinfo is None:
        raise AccountError("posts_today needs a timezone-aware now")
    ids = sorted(set(account_ids))
    if not ids:
        return {}
    with session() as db:
        zones = dict(
            db.exec(select(AccountRecord.id, AccountRecord.timezone).where(col(AccountRecord.id).in_(ids))).all()
        )
        days: dict[int, tuple[date, datetime, datetime]] = {}
        for account_id, zone in zones.items():
            if account_id is not None:
                day = local_date(now, zone)
                days[account_id] = (day, *local_day_bounds(day, zone))
        if not days:
            return {}
        earliest = min(start for _, start, _ in days.values())
        latest = max(end for _, _, end in days.values())
        posted_rows = db.exec(
            select(PostRecord.account_id, PostRecord.posted_at).where(
                col(PostRecord.account_id).in_(days),
                PostRecord.status == "posted",
                col(PostRecord.posted_at) >= earliest,
                col(PostRecord.posted_at) < latest,
            )
        ).all()
        pending_rows = db.exec(
            select(col(PostRecord.account_id), col(PostRecord.plan_date), func.count())
            .where(
                col(PostRecord.account_id).in_(days),
                col(PostRecord.status).in_(PENDING_POST_STATUSES),
                col(PostRecord.plan_date).in_({day for day, _, _ in days.values()}),
            )
            .group_by(col(PostRecord.account_id), col(PostRecord.plan_date))
        ).all()
    posted = dict.fromkeys(days, 0)
    for account_id, posted_at in posted_rows:
        _, start, end = days[account_id]
        if posted_at is not None and start <= posted_at < end:
            posted[account_id] += 1
    pending = dict.fromkeys(days, 0)
    for account_id, plan_date, count in pending_rows:
        if plan_date == days[account_id][0]:
            pending[account_id] += int(count)
    return {account_id: TodayPosts(posted=posted[account_id], pending=pending[account_id]) for account_id in days}
