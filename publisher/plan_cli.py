"""``mcn plan``: plan a day's posts and print what went where; ``mcn plan show``: the day's schedule (registered in
:mod:`mcn.cli`). ``--date`` takes today, tomorrow or YYYY-MM-DD."""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from mcn.terminal import console as status_console
from mcn.terminal import fail, out
from publisher.allocation import allocation_names

if TYPE_CHECKING:
    from publisher.plan import PlanResult
    from publisher.similarity import DayMatrix

_TOP = 10
_MATRIX_MAX = 16  # posts of one platform's day shown as a full matrix; more are listed as their closest pairs


def _parse_day(text: str | None) -> date:
    if not text or text.strip().lower() == "today":
        return date.today()
    if text.strip().lower() == "tomorrow":
        return date.today() + timedelta(days=1)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise fail(f"--date {text!r}: expected YYYY-MM-DD, today or tomorrow", code=2) from None


plan_app = typer.Typer(
    help="Assign unused clips to the free slots of every eligible account for one day (re-running adds nothing "
    "twice); `mcn plan show` prints the day's schedule.",
)


@plan_app.callback(invoke_without_command=True)
def plan_command(
    ctx: typer.Context,
    day: Annotated[
        str | None, typer.Option("--date", help="Local day to plan: today (default), tomorrow or YYYY-MM-DD.")
    ] = None,
    platform: Annotated[str | None, typer.Option(help="Plan only accounts of this platform.")] = None,
    allocation: Annotated[
        str, typer.Option(help=f"How posts are shared among products: {', '.join(allocation_names())}.")
    ] = "equal",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan, write nothing.")] = False,
    pdq_matrix: Annotated[
        bool,
        typer.Option(
            "--pdq-matrix",
            help="Then hash every video of the day (vPDQ) and print how alike each two posts of a platform are.",
        ),
    ] = False,
) -> None:
    """Assign unused clips to the free slots of every eligible account for one day (re-running adds nothing
    twice); `mcn plan show` prints the day's schedule."""
    if ctx.invoked_subcommand is not None:
        return
    from publisher.plan import PlanError, plan_day

    target = _parse_day(day)
    try:
        result = plan_day(target, platform=platform, allocation=allocation, dry_run=dry_run)
    except PlanError as exc:
        raise fail(str(exc), code=2) from None
    print_summary(result)
    if pdq_matrix:
        print_similarity(result, platform)


def print_similarity(result: PlanResult, platform: str | None, console: Console | None = None) -> None:
    """For each platform of the day: the vPDQ similarity of every two posts (stored ones, and a dry run's)."""
    from publisher.similarity import day_matrix, day_posts, planned_videos

    console = console or out
    platforms = sorted({platform} if platform else set(result.per_platform) | _stored_platforms(result))
    for name in platforms:
        videos = day_posts(result.day, name)
        if result.dry_run:
            videos += planned_videos([p for p in result.posts if p.platform == name])
        if len(videos) < 2:
            console.print(f"{name}: fewer than two posts on {result.day}, nothing to compare", highlight=False)
            continue
        with status_console.status(f"{name}: hashing {len(videos)} videos (vPDQ, 1 frame/s)") as status:

            def progress(n: int, total: int, name: str = name) -> None:
                status.update(f"{name}: hashed {n}/{total} videos (vPDQ, 1 frame/s)")

            matrix = day_matrix(result.day, name, videos, progress=progress)
        print_matrix(matrix, console)


def _stored_platforms(result: PlanResult) -> set[str]:
    from sqlalchemy import select

    from mcn.db import get_engine
    from publisher.plan import POSTS

    with get_engine().connect() as conn:
        return set(conn.execute(select(POSTS.c.platform).distinct().where(POSTS.c.plan_date == result.day)).scalars())


def _pct(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.0%}"  # NaN: the video could not be hashed


def print_matrix(matrix: DayMatrix, console: Console) -> None:
    """The vPDQ matrix (or, for a big day, the closest pairs), near-duplicates in red, with footage overlaps."""
    from clipper.vpdq import DUPLICATE_SHARE

    posts = matrix.posts
    title = f"{matrix.platform} {matrix.day}: vPDQ similarity (share of frames within 31 bits)"
    if len(posts) <= _MATRIX_MAX:
        table = Table(title=title)
        table.add_column("#", justify="right")
        table.add_column("post (account clip)")
        for j in range(len(posts)):
            table.add_column(str(j + 1), justify="right")
        for i, post in enumerate(posts):
            cells = []
            for j in range(len(posts)):
                value = float(matrix.pdq[i, j])
                text = "-" if i == j else _pct(value)
                cells.append(f"[red]{text}[/red]" if i != j and value > DUPLICATE_SHARE else text)
            table.add_row(str(i + 1), post.label, *cells)
        console.print(table)
    # Under the matrix: the pairs that share anything; without it: the closest pairs whatever they share.
    shown = matrix.pairs(minimum=0.01) if len(posts) <= _MATRIX_MAX else matrix.pairs()
    if shown:
        closest = Table(title=f"{matrix.platform} {matrix.day}: closest pairs of {len(posts)} posts")
        for column in ("post", "post", "vPDQ", "footage"):
            closest.add_column(column, justify="right" if column in ("vPDQ", "footage") else "left")
        for i, j, pdq, footage in shown[:_TOP]:
            closest.add_row(posts[i].label, posts[j].label, _pct(pdq), f"{footage:.0%}")
        console.print(closest)
    over = matrix.duplicates()
    for post_id, error in matrix.errors.items():
        console.print(f"not hashed: {post_id}: {error}", highlight=False)
    console.print(
        f"{matrix.platform}: {len(posts)} posts, {len(over)} pairs over {DUPLICATE_SHARE:.0%} "
        f"(max vPDQ {_pct(_off_diagonal_max(matrix.pdq))}, max footage {_off_diagonal_max(matrix.footage):.0%})",
        highlight=False,
    )


def _off_diagonal_max(values: object) -> float:
    import numpy as np

    array = np.array(values, dtype=float)
    if array.shape[0] < 2:
        return 0.0
    mask = ~np.eye(array.shape[0], dtype=bool)
    picked = array[mask]
    return float(np.nanmax(picked)) if not np.all(np.isnan(picked)) else float("nan")


def print_summary(result: PlanResult, console: Console | None = None) -> None:
    """Per-platform and per-product tables, the reasons slots stayed empty, and skipped accounts."""
    console = console or out
    verb = "would plan" if result.dry_run else "planned"
    table = Table(title=f"posting plan {result.day.isoformat()}{' (dry run)' if result.dry_run else ''}")
    for column in ("platform", "posts", "accounts", "pending approval", "unfilled slots"):
        table.add_column(column, justify="left" if column == "platform" else "right")
    unfilled_by_platform: dict[str, int] = {}
    for item in result.unfilled:
        unfilled_by_platform[item.platform] = unfilled_by_platform.get(item.platform, 0) + item.count
    for name in sorted(set(result.per_platform) | set(unfilled_by_platform)):
        posts = [p for p in result.posts if p.platform == name]
        table.add_row(
            name,
            str(len(posts)),
            str(len({p.account_id for p in posts})),
            str(sum(p.approval == "pending" for p in posts)),
            str(unfilled_by_platform.get(name, 0)),
        )
    console.print(table)

    if result.per_product:
        products = Table(title=f"posts per product (top {_TOP})")
        products.add_column("product")
        products.add_column("posts", justify="right")
        ranked = sorted(result.per_product.items(), key=lambda kv: (-kv[1], str(kv[0])))
        for product_id, count in ranked[:_TOP]:
            products.add_row(product_id or "(no product)", str(count))
        if len(ranked) > _TOP:
            products.add_row(f"... {len(ranked) - _TOP} more", str(sum(c for _, c in ranked[_TOP:])))
        console.print(products)

    reasons = result.unfilled_by_reason()
    if reasons:
        empty = Table(title="empty slots")
        empty.add_column("reason")
        empty.add_column("slots", justify="right")
        for reason, count in list(reasons.items())[:_TOP]:
            empty.add_row(reason, str(count))
        console.print(empty)
    if result.awaiting_approval:
        console.print(
            f"{result.awaiting_approval} clips wait for approval and were not planned (approve them in the console: "
            "mcn console serve)",
            highlight=False,
        )
    if result.skipped_accounts:
        skipped = ", ".join(f"{n} {status}" for status, n in sorted(result.skipped_accounts.items()))
        console.print(f"accounts without slots: {skipped}", highlight=False)
    console.print(f"{verb} {result.planned} posts on {result.accounts} accounts", highlight=False)


@plan_app.command("show")
def show_command(
    day: Annotated[
        str | None, typer.Option("--date", help="Plan date: today (default), tomorrow or YYYY-MM-DD.")
    ] = None,
    platform: Annotated[str | None, typer.Option(help="Only this platform's posts.")] = None,
) -> None:
    """The schedule of one plan date: account handle, slot in the account's own time zone, clip, product, status.
    An empty day says why (no accounts, no active accounts, no clips, or not planned yet)."""
    target = _parse_day(day)
    rows = schedule(target, platform)
    if not rows:
        out.print(f"nothing scheduled for {target}: {why_empty(target)}", highlight=False, soft_wrap=True)
        return
    table = Table(title=f"schedule {target} ({len(rows)} posts)")
    for column in ("account", "platform", "local time", "clip", "product", "status"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row["account"], row["platform"], row["local"], row["clip"], row["product"], row["status"])
    out.print(table)


def schedule(day: date, platform: str | None = None) -> list[dict[str, str]]:
    """The posts of plan date ``day`` in slot order, as the rows ``mcn plan show`` prints: the account's handle,
    the slot in the account's time zone (``2026-12-01 19:30 Asia/Shanghai``), clip id and title, product id and
    name, and the status (``throttled`` for a post the platform throttled)."""
    from zoneinfo import ZoneInfo

    from sqlalchemy import select

    from mcn.db import get_engine
    from mcn.tables import AccountRecord, ClipRecord, PostRecord, ProductRecord, as_utc

    p = PostRecord.__table__  # type: ignore[attr-defined]
    a = AccountRecord.__table__  # type: ignore[attr-defined]
    c = ClipRecord.__table__  # type: ignore[attr-defined]
    pr = ProductRecord.__table__  # type: ignore[attr-defined]
    stmt = (
        select(
            p.c.slot_at,
            p.c.platform,
            p.c.status,
            p.c.throttled,
            p.c.error_code,
            p.c.last_error,
            p.c.product_id,
            p.c.title,
            p.c.clip_id,
            a.c.handle,
            a.c.timezone,
            pr.c.name.label("product_name"),
        )
        .join(a, a.c.id == p.c.account_id)
        .join(c, c.c.id == p.c.clip_id)
        .outerjoin(pr, pr.c.id == p.c.product_id)
        .where(p.c.plan_date == day)
        .order_by(p.c.slot_at, a.c.handle)
    )
    if platform:
        stmt = stmt.where(p.c.platform == platform)
    rows: list[dict[str, str]] = []
    with get_engine().connect() as conn:
        for r in conn.execute(stmt):
            zone = ZoneInfo(r.timezone)
            local = as_utc(r.slot_at).astimezone(zone)
            product = f"{r.product_id} {r.product_name}" if r.product_name else (r.product_id or "-")
            rows.append(
                {
                    "account": r.handle,
                    "platform": r.platform,
                    "local": f"{local:%Y-%m-%d %H:%M} {r.timezone}",
                    "clip": f"{r.clip_id} {r.title}",
                    "product": product,
                    "status": _shown_status(r.status, r.throttled, r.error_code, r.last_error),
                }
            )
    return rows


def _shown_status(status: str, throttled: bool, error_code: str | None, last_error: str | None) -> str:
    """The status column: ``throttled`` for a throttled post, and why a post that never goes out was stopped
    (``rejected: clip rejected by ann: wrong price``)."""
    if status == "posted" and throttled:
        return "throttled"
    if status in ("rejected", "failed") and last_error:
        return f"{status}: {last_error}"
    return status


def why_empty(day: date) -> str:
    """Why a plan date has no posts, in the order an operator would fix it."""
    from sqlalchemy import func, select

    from mcn.db import get_engine
    from mcn.tables import AccountRecord, ClipRecord

    a, c = AccountRecord.__table__, ClipRecord.__table__  # type: ignore[attr-defined]
    with get_engine().connect() as conn:
        statuses: dict[str, int] = dict(conn.execute(select(a.c.status, func.count()).group_by(a.c.status)).all())
        clips: Any = conn.execute(select(func.count()).select_from(c)).scalar_one()
    if not statuses:
        return "no accounts registered (mcn accounts import FILE or mcn accounts add)"
    if not statuses.get("active"):
        held = ", ".join(f"{n} {status}" for status, n in sorted(statuses.items()))
        return f"no active account ({held}; mcn accounts list says why)"
    if not clips:
        return "no clips yet (mcn clips make or mcn remix make)"
    from publisher.plan import approval_gate

    with get_engine().connect() as conn:
        awaiting, rejected = approval_gate(conn)
    if awaiting + rejected >= clips:
        gated = [f"{awaiting} wait for approval (approve them in the console: mcn console serve)"] if awaiting else []
        gated += [f"{rejected} rejected"] if rejected else []
        return f"no clip may be posted yet: of {clips} clips, {' and '.join(gated)}"
    if awaiting:
        return (
            f"not planned yet (mcn plan --date {day}); {awaiting} of {clips} clips wait for approval and are not "
            "planned until approved (the console: mcn console serve)"
        )
    return (
        f"not planned yet (mcn plan --date {day}); a plan fills each active account's windows up to its daily cap, "
        "so accounts already at their cap or without unused clips get nothing"
    )
