"""``mcn publish`` (dispatch due posts, show the outbox) and ``mcn review`` (the approval gate)."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import date
from typing import Annotated

import typer
from rich.table import Table

from mcn.terminal import fail, out

publish_app = typer.Typer(help="Publish planned posts (the outbox).", no_args_is_help=True)
review_app = typer.Typer(help="Approve or reject posts of accounts that require approval.", no_args_is_help=True)


@publish_app.command("due")
def publish_due_command(
    limit: Annotated[int | None, typer.Option(help="Publish at most this many posts in this pass.")] = None,
    platform: Annotated[list[str] | None, typer.Option(help="Only these platforms (repeatable).")] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Accounts published in parallel.")] = 4,
    loop: Annotated[bool, typer.Option(help="Keep running a pass every --interval seconds.")] = False,
    interval: Annotated[float, typer.Option(min=0.1, help="Seconds between passes with --loop.")] = 60.0,
    quiet: Annotated[bool, typer.Option(help="Print only the one-line summary.")] = False,
    worker: Annotated[
        str | None,
        typer.Option(
            help="Name on this dispatcher's claims and events (default host:pid:nonce). Claims of a host:pid name of "
            "this host are released as soon as that process is gone; others when their lease ends."
        ),
    ] = None,
) -> None:
    """Claim the posts that are due and publish them, once each (what the every-minute deployment runs).

    Reconciles posts whose outcome was unknown first, re-slots or fails posts that missed their slot by more than
    MCN_PUBLISH_GRACE_SECONDS, and respects every account's and platform's caps.
    """
    from publisher.dispatch import DispatchOptions, account_handles, publish_due

    options = DispatchOptions(max_posts=limit, platforms=tuple(platform) if platform else None, concurrency=concurrency)
    if worker is not None:
        if not worker.strip() or len(worker) > 100:
            raise fail(f"--worker {worker[:40]!r}: give 1-100 characters", 2)
        options = replace(options, worker=worker.strip())
    while True:
        try:
            report = publish_due(options=options)
        except Exception as exc:  # noqa: BLE001 - database unreachable and the like: one line, exit 1
            raise fail(f"publish due: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
        if not quiet and report.outcomes:
            table = Table(title=f"dispatch {report.worker}")
            for col in ("post", "account", "platform", "status", "remote id", "detail"):
                table.add_column(col)
            handles = account_handles([o.account_id for o in report.outcomes])
            for o in report.outcomes:
                who = handles.get(o.account_id, str(o.account_id))
                table.add_row(o.post_id[:12], who, o.platform, o.state, o.remote_id or "", o.detail)
            out.print(table)
        out.print(report.summary(), highlight=False)
        if not loop:
            return
        time.sleep(interval)


@publish_app.command("status")
def publish_status(
    day: Annotated[str | None, typer.Option("--date", help="Plan date YYYY-MM-DD (default: all).")] = None,
    failed: Annotated[
        bool, typer.Option(help="List failed, unknown, throttled and cancelled (rejected) posts with their reasons.")
    ] = False,
) -> None:
    """Posts per status (posted ones the platform throttled as "throttled"), and with --failed every failed,
    unknown, throttled or rejected post (cancelled by a reviewer or the operator) with its account handle and reason."""
    from sqlalchemy import and_, or_, select

    from mcn.db import get_engine
    from mcn.tables import AccountRecord, PostRecord
    from publisher.dispatch import outbox_counts

    plan_day = _parse_day(day) if day else None
    counts = outbox_counts(plan_day)
    table = Table(title=f"outbox{f' for {plan_day}' if plan_day else ''}")
    table.add_column("status")
    table.add_column("posts", justify="right")
    for status in ("planned", "claimed", "uploading", "unknown", "posted", "throttled", "failed", "rejected"):
        table.add_row(status, str(counts.get(status, 0)))
    out.print(table)
    if failed:
        p, a = PostRecord.__table__, AccountRecord.__table__  # type: ignore[attr-defined]
        stmt = (
            select(p.c.id, a.c.handle, p.c.platform, p.c.status, p.c.throttled, p.c.error_code, p.c.last_error)
            .join(a, a.c.id == p.c.account_id)
            .where(or_(p.c.status.in_(("failed", "unknown", "rejected")), and_(p.c.status == "posted", p.c.throttled)))
            .order_by(p.c.updated_at)
        )
        if plan_day:
            stmt = stmt.where(p.c.plan_date == plan_day)
        listing = Table(title="failed, unknown, throttled and rejected posts")
        for col in ("post", "account", "platform", "status", "code", "reason"):
            listing.add_column(col)
        with get_engine().connect() as conn:
            for row in conn.execute(stmt):
                shown = "throttled" if row.status == "posted" and row.throttled else row.status
                reason = "the platform throttled it" if shown == "throttled" else row.last_error or ""
                listing.add_row(row.id[:12], row.handle, row.platform, shown, row.error_code or "", reason)
        out.print(listing)


def _parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise fail(f"--date {text!r}: expected YYYY-MM-DD", 2) from None


@review_app.command("list")
def review_list(
    day: Annotated[str | None, typer.Option("--date", help="Plan date YYYY-MM-DD.")] = None,
    account: Annotated[int | None, typer.Option(help="Only this account id.")] = None,
) -> None:
    """Posts waiting for approval, with each slot in its account's own time zone; an empty list says why."""
    from zoneinfo import ZoneInfo

    from mcn.tables import as_utc
    from publisher.review import pending

    rows = pending(_parse_day(day) if day else None, account)
    if not rows:
        out.print(f"no posts waiting for approval: {_why_no_review(account)}", highlight=False, soft_wrap=True)
        return
    zones = _account_zones({r.account_id for r in rows})
    table = Table(title=f"{len(rows)} posts waiting for approval")
    for col in ("post", "account", "platform", "slot (local)", "title", "product", "video"):
        table.add_column(col)
    for r in rows:
        zone = zones.get(r.account_id, "UTC")
        table.add_row(
            r.post_id,
            f"{r.account_id} {r.handle}",
            r.platform,
            f"{as_utc(r.slot_at).astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M} {zone}",
            r.title,
            r.product_id or "-",
            r.video_path,
        )
    out.print(table)


def _account_zones(account_ids: set[int]) -> dict[int, str]:
    from sqlalchemy import select

    from mcn.db import get_engine
    from mcn.tables import AccountRecord

    a = AccountRecord.__table__  # type: ignore[attr-defined]
    with get_engine().connect() as conn:
        return dict(conn.execute(select(a.c.id, a.c.timezone).where(a.c.id.in_(account_ids))).all())


def _why_no_review(account: int | None) -> str:
    from sqlalchemy import func, select

    from mcn.db import get_engine
    from mcn.tables import AccountRecord

    a = AccountRecord.__table__  # type: ignore[attr-defined]
    with get_engine().connect() as conn:
        total = conn.execute(select(func.count()).select_from(a)).scalar_one()
        gated = conn.execute(select(func.count()).where(a.c.approval_required.is_(True))).scalar_one()
    if not total:
        return "no accounts registered (mcn accounts import FILE)"
    if not gated:
        return "no account requires approval (mcn accounts add --approval, or approval=yes in the import CSV)"
    return (
        f"{gated} accounts require approval but none has a planned post waiting"
        f"{' (for this account)' if account is not None else ''}; mcn plan --date DAY plans some"
    )


@review_app.command("approve")
def review_approve(
    post_ids: Annotated[list[str] | None, typer.Argument(help="Post ids (from `mcn review list`).")] = None,
    all_pending: Annotated[
        bool, typer.Option("--all", help="Approve every pending post (with --date/--account).")
    ] = False,
    day: Annotated[str | None, typer.Option("--date")] = None,
    account: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Approve posts: they go out at their slot."""
    from publisher.review import ReviewError, approve, approve_all

    try:
        if all_pending:
            count = approve_all(_parse_day(day) if day else None, account)
        elif post_ids:
            count = approve(post_ids)
        else:
            raise fail("name post ids or pass --all", 2)
    except ReviewError as exc:
        raise fail(str(exc)) from None
    out.print(f"approved {count} posts")


@review_app.command("reject")
def review_reject(
    post_ids: Annotated[list[str], typer.Argument(help="Post ids (from `mcn review list`).")],
    reason: Annotated[str, typer.Option(help="Why (kept with the post).")],
) -> None:
    """Reject posts: they never go out."""
    from publisher.review import ReviewError, reject

    try:
        count = reject(post_ids, reason)
    except ReviewError as exc:
        raise fail(str(exc)) from None
    out.print(f"rejected {count} posts")
