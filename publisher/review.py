"""The approval gate: posts of accounts that require approval wait (``approval = pending``) until approved.

``mcn review list`` shows them, ``approve`` lets them go out at their slot, ``reject`` ends them (status
``rejected``, with the reviewer's reason). A clip rejected in the console takes its unsent posts with it
(:func:`cancel_posts_of_clip`). Approving a post whose slot has passed by more than the grace period
does not post it late: the dispatcher's misfire policy applies as usual.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from mcn.db import get_engine
from mcn.tables import AccountRecord, PostEvent, PostRecord, utcnow

posts = PostRecord.__table__  # type: ignore[attr-defined]
accounts = AccountRecord.__table__  # type: ignore[attr-defined]
events = PostEvent.__table__  # type: ignore[attr-defined]


class ReviewError(ValueError):
    """A review command that cannot be carried out (unknown id, post not pending); ``str()`` is one line."""


@dataclass(frozen=True, slots=True)
class PendingPost:
    """A post waiting for approval, as the reviewer sees it."""

    post_id: str
    account_id: int
    handle: str
    platform: str
    slot_at: datetime
    title: str
    caption: str
    product_id: str | None
    video_path: str


def pending(day: date | None = None, account_id: int | None = None) -> list[PendingPost]:
    """Posts waiting for approval, earliest slot first (for one plan date and/or one account)."""
    stmt = (
        select(posts, accounts.c.handle)
        .join(accounts, accounts.c.id == posts.c.account_id)
        .where(posts.c.approval == "pending", posts.c.status == "planned")
        .order_by(posts.c.slot_at)
    )
    if day is not None:
        stmt = stmt.where(posts.c.plan_date == day)
    if account_id is not None:
        stmt = stmt.where(posts.c.account_id == account_id)
    with get_engine().connect() as conn:
        return [
            PendingPost(
                r.id, r.account_id, r.handle, r.platform, r.slot_at, r.title, r.caption, r.product_id, r.video_path
            )
            for r in conn.execute(stmt)
        ]


def _decide(post_ids: Sequence[str], approval: str, status: str, reviewer: str, reason: str) -> int:
    engine = get_engine()
    now = utcnow()
    with engine.begin() as conn:
        found = {
            r.id: r
            for r in conn.execute(select(posts.c.id, posts.c.status, posts.c.approval).where(posts.c.id.in_(post_ids)))
        }
        for post_id in post_ids:
            row = found.get(post_id)
            if row is None:
                raise ReviewError(f"post {post_id}: no such post")
            if row.approval != "pending" or row.status != "planned":
                raise ReviewError(f"post {post_id}: not waiting for approval (status {row.status}, {row.approval})")
        conn.execute(
            update(posts)
            .where(posts.c.id.in_(post_ids))
            .values(
                approval=approval,
                status=status,
                updated_at=now,
                **({"error_code": "rejected", "last_error": reason} if status == "rejected" else {}),
            )
        )
        _record_from_planned(conn, post_ids, status, reviewer, f"{approval}: {reason}", now)
    return len(post_ids)


def cancel_posts_of_clip(conn: Connection, clip_id: str, reviewer: str, note: str = "") -> int:
    """Cancel the posts of a clip a reviewer has just rejected that have not gone out: ``planned`` and unclaimed
    ones end ``rejected`` with error code ``clip_rejected`` and the reason in ``last_error`` (what ``mcn plan
    show``, ``mcn publish status --failed`` and the console's calendar show). A claimed or uploading post is
    already on its way and is left to finish. Runs in the caller's transaction (the one storing the verdict),
    holding the planners' lock, so a plan running at the same moment cannot slip a post of the clip in."""
    from publisher.plan import hold_planner_lock

    hold_planner_lock(conn)
    reason = f"clip rejected by {reviewer}" + (f": {note}" if note else "")
    now = utcnow()
    ids = list(
        conn.execute(
            select(posts.c.id).where(
                posts.c.clip_id == clip_id, posts.c.status == "planned", posts.c.claimed_by.is_(None)
            )
        ).scalars()
    )
    if not ids:
        return 0
    conn.execute(
        update(posts)
        .where(posts.c.id.in_(ids), posts.c.status == "planned", posts.c.claimed_by.is_(None))
        .values(
            status="rejected", approval="rejected", error_code="clip_rejected", last_error=reason[:500], updated_at=now
        )
    )
    _record_from_planned(conn, ids, "rejected", reviewer, reason, now)
    return len(ids)


def _record_from_planned(
    conn: Connection, post_ids: Sequence[str], to_status: str, reviewer: str, detail: str, at: datetime
) -> None:
    """One ``post_events`` row per post leaving ``planned`` by a reviewer's decision, in one statement."""
    if not post_ids:
        return  # an empty parameter list would be one row of nothing, not none
    conn.execute(
        events.insert(),
        [
            {"post_id": post_id, "at": at, "from_status": "planned", "to_status": to_status, "worker": reviewer,
             "detail": detail[:500]}
            for post_id in post_ids
        ],
    )  # fmt: skip


def approve(post_ids: Sequence[str], reviewer: str = "operator", note: str = "") -> int:
    """Approve pending posts; all or none (an unknown or non-pending id raises :class:`ReviewError`)."""
    return _decide(list(post_ids), "approved", "planned", reviewer, note or "approved")


def reject(post_ids: Sequence[str], reason: str, reviewer: str = "operator") -> int:
    """Reject pending posts with a reason; they never go out."""
    if not reason.strip():
        raise ReviewError("a rejection needs a reason")
    return _decide(list(post_ids), "rejected", "rejected", reviewer, reason.strip())


def approve_all(day: date | None = None, account_id: int | None = None, reviewer: str = "operator") -> int:
    """Approve every pending post (of a plan date and/or an account)."""
    ids = [p.post_id for p in pending(day, account_id)]
    return approve(ids, reviewer) if ids else 0
