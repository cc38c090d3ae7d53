"""``mcn plan``: plan a day's posts and print what went where (registered in :mod:`mcn.cli`)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from mcn.terminal import fail, out
from publisher.allocation import allocation_names

if TYPE_CHECKING:
    from publisher.plan import PlanResult

_TOP = 10


def _parse_day(text: str | None) -> date:
    if not text:
        return date.today()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise fail(f"--date {text!r}: expected YYYY-MM-DD", code=2) from None


def plan_command(
    day: Annotated[str | None, typer.Option("--date", help="Local day to plan, YYYY-MM-DD (default: today).")] = None,
    platform: Annotated[str | None, typer.Option(help="Plan only accounts of this platform.")] = None,
    allocation: Annotated[
        str, typer.Option(help=f"How posts are shared among products: {', '.join(allocation_names())}.")
    ] = "equal",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan, write nothing.")] = False,
) -> None:
    """Assign unused clips to the free slots of every eligible account for one day (re-running adds nothing twice)."""
    from publisher.plan import PlanError, plan_day

    target = _parse_day(day)
    try:
        result = plan_day(target, platform=platform, allocation=allocation, dry_run=dry_run)
    except PlanError as exc:
        raise fail(str(exc), code=2) from None
    print_summary(result)


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
    if result.skipped_accounts:
        skipped = ", ".join(f"{n} {status}" for status, n in sorted(result.skipped_accounts.items()))
        console.print(f"accounts without slots: {skipped}", highlight=False)
    console.print(f"{verb} {result.planned} posts on {result.accounts} accounts", highlight=False)
