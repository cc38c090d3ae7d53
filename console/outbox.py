"""The operator's view of the outbox: a calendar of posts per account and day, moving or cancelling a planned
post, and failed or unknown posts with a retry.

Every change is one guarded UPDATE (the post must still be ``planned`` and unclaimed, or still ``failed``) with a
``post_events`` row naming the operator, so a dispatcher that claims the post at the same moment wins and the
console says so. Nothing here publishes:

- a move keeps within the caps the plan keeps: the account's daily cap (and the platform's per-account daily
  maximum), the platform's minimum spacing between two posts of one account, and only future slots;
- a cancel ends the post ``rejected`` (the outbox's never-goes-out state) with error code ``cancelled``;
- a retry puts a ``failed`` post that never reached the platform (no remote id) back to ``planned`` with fresh
  attempts and a slot of now; the dispatcher then publishes it once like any post (its idempotency key and claim
  fencing stay). An ``unknown`` post is never re-published from here: "check again" only asks the dispatcher to
  reconcile it now (ask the platform whether it has the post), which is how the outbox avoids double posts.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from accounts.registry import PENDING_POST_STATUSES, Account, list_accounts
from accounts.windows import local_date, local_day_bounds
from console.auth import ConsoleError
from mcn.db import get_engine
from mcn.tables import AccountRecord, PostRecord, as_utc, utcnow
from publisher.claims import record_event
from publisher.limits import effective_limits

posts = PostRecord.__table__  # type: ignore[attr-defined]
accounts_table = AccountRecord.__table__  # type: ignore[attr-defined]
COUNTED = (*PENDING_POST_STATUSES, "posted")  # what fills an account's day


@dataclass(frozen=True, slots=True)
class PostView:
    """One post as the calendar and the failures list show it."""

    id: str
    account_id: int
    account: str
    platform: str
    clip_id: str
    title: str
    status: str
    slot_local: datetime
    day: date
    error_code: str | None
    last_error: str | None
    remote_url: str | None
    attempts: int

    @property
    def movable(self) -> bool:
        return self.status == "planned"


@dataclass(frozen=True, slots=True)
class Calendar:
    """Posts of ``days`` per account: ``cells[(account_id, day)]`` in slot order."""

    days: tuple[date, ...]
    accounts: tuple[Account, ...]
    cells: dict[tuple[int, date], list[PostView]]


def _view(row: Any, account: Account) -> PostView:
    slot = as_utc(row.slot_at).astimezone(account.zone)
    return PostView(
        row.id,
        row.account_id,
        f"{account.platform}/{account.handle}",
        row.platform,
        row.clip_id,
        row.title,
        row.status,
        slot,
        slot.date(),
        row.error_code,
        row.last_error,
        row.remote_url,
        row.attempts,
    )


def calendar(start: date, days: int = 7) -> Calendar:
    """Every account's posts whose slot falls on one of ``days`` local days from ``start``."""
    accounts = tuple(list_accounts())
    by_id = {a.id: a for a in accounts}
    span = tuple(start + timedelta(days=n) for n in range(days))
    low = datetime.combine(start - timedelta(days=1), datetime.min.time()).replace(tzinfo=utcnow().tzinfo)
    high = low + timedelta(days=days + 2)
    cells: dict[tuple[int, date], list[PostView]] = defaultdict(list)
    with get_engine().connect() as conn:
        rows = conn.execute(
            select(posts).where(posts.c.slot_at >= low, posts.c.slot_at < high).order_by(posts.c.slot_at)
        ).all()
    for row in rows:
        account = by_id.get(row.account_id)
        if account is None:
            continue
        view = _view(row, account)
        if view.day in span:
            cells[(account.id, view.day)].append(view)
    return Calendar(span, accounts, dict(cells))


def problem_posts(limit: int = 200) -> list[PostView]:
    """Failed and unknown posts, newest first, with their reasons."""
    by_id = {a.id: a for a in list_accounts()}
    with get_engine().connect() as conn:
        rows = conn.execute(
            select(posts)
            .where(posts.c.status.in_(("failed", "unknown")))
            .order_by(posts.c.updated_at.desc())
            .limit(limit)
        ).all()
    return [_view(r, by_id[r.account_id]) for r in rows if r.account_id in by_id]


def _account(conn: Any, account_id: int) -> Account:
    row = conn.execute(select(accounts_table).where(accounts_table.c.id == account_id)).first()
    return Account.from_record(AccountRecord(**row._mapping))


def move_post(post_id: str, slot_local: datetime, operator: str, now: datetime | None = None) -> PostView:
    """Move a planned post to ``slot_local`` (naive: the account's local time).

    Raises:
        ConsoleError: no such post, not planned (claimed, posted, cancelled ...), a slot in the past, the
            account's day already at its cap, or closer to another post of the account than the platform's
            minimum spacing.
    """
    now = now or utcnow()
    engine = get_engine()
    with engine.begin() as conn:
        row = conn.execute(select(posts).where(posts.c.id == post_id)).first()
        if row is None:
            raise ConsoleError(f"post {post_id[:40]}: not found")
        if row.status != "planned" or row.claimed_by:
            raise ConsoleError(f"post {post_id[:12]}: {row.status}, only a planned post moves")
        account = _account(conn, row.account_id)
        slot = slot_local.replace(tzinfo=account.zone) if slot_local.tzinfo is None else slot_local
        slot_utc = as_utc(slot.astimezone(now.tzinfo))
        if slot_utc <= now:
            raise ConsoleError(f"slot {slot_local:%Y-%m-%d %H:%M}: in the past ({account.timezone})")
        try:
            limits = effective_limits(account.platform)
        except ValueError as exc:  # a bad MCN_PLATFORM_LIMITS override: one line, nothing moved
            raise ConsoleError(str(exc)) from None
        day = local_date(slot_utc, account.zone)
        start, end = local_day_bounds(day, account.zone)
        others = conn.execute(
            select(posts.c.id, posts.c.slot_at).where(
                posts.c.account_id == account.id,
                posts.c.status.in_(COUNTED),
                posts.c.slot_at >= start,
                posts.c.slot_at < end,
                posts.c.id != post_id,
            )
        ).all()
        cap = min(c for c in (account.daily_cap, limits.per_account_daily_max) if c is not None)
        if len(others) >= cap:
            raise ConsoleError(f"{account.label}: {day} already has {len(others)} posts (cap {cap})")
        spacing = limits.min_spacing_seconds
        for other in others:
            gap = abs((as_utc(other.slot_at) - slot_utc).total_seconds())
            if gap < spacing:
                raise ConsoleError(
                    f"{account.label}: {gap / 60:.0f} min from post {other.id[:12]}; {account.platform} needs "
                    f"{spacing / 60:.0f} min between posts"
                )
        moved = conn.execute(
            update(posts)
            .where(posts.c.id == post_id, posts.c.status == "planned", posts.c.claimed_by.is_(None))
            .values(slot_at=slot_utc, next_attempt_at=None, updated_at=now)
        ).rowcount
        if not moved:
            raise ConsoleError(f"post {post_id[:12]}: a dispatcher took it meanwhile")
        record_event(conn, post_id, "planned", "planned", f"console:{operator}", f"moved to {slot.isoformat()}")
        row = conn.execute(select(posts).where(posts.c.id == post_id)).first()
    return _view(row, account)


def cancel_post(post_id: str, operator: str) -> None:
    """Cancel a planned post: it ends ``rejected`` (error code ``cancelled``) and never goes out."""
    now = utcnow()
    with get_engine().begin() as conn:
        done = conn.execute(
            update(posts)
            .where(posts.c.id == post_id, posts.c.status == "planned", posts.c.claimed_by.is_(None))
            .values(status="rejected", error_code="cancelled", last_error=f"cancelled by {operator}", updated_at=now)
        ).rowcount
        if not done:
            raise ConsoleError(f"post {post_id[:40]}: not a planned post (only those can be cancelled)")
        record_event(conn, post_id, "planned", "rejected", f"console:{operator}", "cancelled in the console")


def retry_post(post_id: str, operator: str) -> str:
    """Retry a failed post that never reached the platform, or ask for an unknown post to be reconciled now.

    Returns what happened, in one line. Raises :class:`ConsoleError` for a post that is neither, or a failed post
    with a remote id (the platform has it: retrying would post it twice).
    """
    now = utcnow()
    with get_engine().begin() as conn:
        row = conn.execute(select(posts).where(posts.c.id == post_id)).first()
        if row is None:
            raise ConsoleError(f"post {post_id[:40]}: not found")
        if row.status == "unknown":
            conn.execute(
                update(posts).where(posts.c.id == post_id, posts.c.status == "unknown").values(next_attempt_at=now)
            )
            record_event(conn, post_id, "unknown", "unknown", f"console:{operator}", "reconcile requested")
            return f"post {post_id[:12]}: the dispatcher asks the platform about it on its next pass"
        if row.status != "failed":
            raise ConsoleError(f"post {post_id[:12]}: {row.status}; only failed or unknown posts are retried")
        if row.remote_id:
            raise ConsoleError(f"post {post_id[:12]}: the platform has it ({row.remote_id}); not posting it twice")
        done = conn.execute(
            update(posts)
            .where(posts.c.id == post_id, posts.c.status == "failed", posts.c.remote_id.is_(None))
            .values(
                status="planned",
                attempts=0,
                next_attempt_at=None,
                slot_at=now,
                claimed_by=None,
                claim_token=None,
                lease_until=None,
                updated_at=now,
            )
        ).rowcount
        if not done:
            raise ConsoleError(f"post {post_id[:12]}: changed meanwhile; reload")
        record_event(conn, post_id, "failed", "planned", f"console:{operator}", f"retry (was: {row.last_error or ''})")
    return f"post {post_id[:12]}: planned again for now; the next publish-due pass posts it"
