"""The demo's last act: a compressed month of the feedback loop (:mod:`analytics.month`), learned vs uniform.

The month reposts the product remixes the demo rendered (its clips rows of kind ``remix``) in fresh sandboxes on
the demo's market seed, one per allocation, at a scale that keeps it near a minute and a half on 2 cores
(:data:`DEMO_MONTH`); it prints the scale, the weekly GMV and commission of both allocations, and saves the plot.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from analytics.month import MonthClip, MonthComparison, MonthOptions, format_yuan, run_month

#: 2 accounts x 3 posts a day for 28 days, twice (equal, thompson): 336 uploads. Each upload is fingerprinted by the
#: sandbox: measured 144 s of sandbox CPU for 504 uploads of 540x960 15 s files (3 x 3 a day), about 0.28 s each,
#: plus 35 s in mcn; 2 x 3 keeps the month near the minute and a half it may take on 2 cores. The demo's own day
#: posts up to 300; a month at that rate would be 16,800 uploads.
DEMO_MONTH = MonthOptions(days=28, accounts=2, posts_per_account=3, seed=0)


def demo_clips() -> list[MonthClip]:
    """The product remixes in the current database whose files exist, as the month posts them."""
    from sqlalchemy import select

    from mcn.db import get_engine
    from mcn.tables import ClipRecord

    clips = ClipRecord.__table__  # type: ignore[attr-defined]
    query = (
        select(clips.c.product_id, clips.c.path, clips.c.title, clips.c.hook, clips.c.duration, clips.c.footage)
        .where(clips.c.kind == "remix", clips.c.product_id.is_not(None))
        .order_by(clips.c.product_id, clips.c.id)
    )
    with get_engine().connect() as conn:
        rows = conn.execute(query).all()
    return [
        MonthClip(str(r.product_id), str(r.path), r.title or "", r.hook or "", float(r.duration), r.footage)
        for r in rows
        if Path(r.path).is_file()
    ]


def run_demo_month(base: Path, console: Console, options: MonthOptions = DEMO_MONTH) -> int:
    """Run the month under ``base / "month"``, print its weeks and save ``base / "month.png"``; an exit code."""
    clips = demo_clips()
    if not clips:
        console.print("[red]error:[/red] compressed month: the demo rendered no product remixes to post")
        return 1
    products = len({c.product_id for c in clips})
    console.print(
        f"compressed month: {options.days} days x {options.accounts} accounts x {options.posts_per_account} posts a "
        f"day ({options.posts_per_day} posts/day) per allocation, {' vs '.join(options.allocations)}, market seed "
        f"{options.seed}, reposting {len(clips)} rendered remixes of {products} products",
        highlight=False,
    )
    try:
        with console.status("compressed month") as status:
            result = run_month(clips, base / "month", options, png=base / "month.png", progress=status.update)
    except (ValueError, RuntimeError, OSError, httpx.HTTPError, SQLAlchemyError) as exc:  # one line
        console.print(f"[red]error:[/red] compressed month: {type(exc).__name__}: {exc}")
        return 1
    print_month(result, console)
    return 0


def print_month(result: MonthComparison, console: Console) -> None:
    """Weekly GMV and commission per allocation, totals, and where the plot is."""
    names = [m.allocation for m in result.months]
    table = Table(title=f"compressed month from {result.start} (UTC+8), yuan: GMV and commission by pay time")
    table.add_column("week")
    for name in names:
        table.add_column(f"posts {name}", justify="right")
    for name in names:
        table.add_column(f"GMV {name}", justify="right")
    for name in names:
        table.add_column(f"commission {name}", justify="right")
    for name in names:
        table.add_column(f"settled {name}", justify="right")
    weeks = len(result.months[0].weeks)
    for w in range(weeks):
        row = [str(w + 1)]
        row += [str(m.weeks[w].posts) for m in result.months]
        row += [format_yuan(m.weeks[w].gmv_fen) for m in result.months]
        row += [format_yuan(m.weeks[w].commission_fen) for m in result.months]
        row += [format_yuan(m.weeks[w].settled_commission_fen) for m in result.months]
        table.add_row(*row)
    total = ["all"]
    total += [str(sum(w.posts for w in m.weeks)) for m in result.months]
    total += [format_yuan(m.gmv_fen) for m in result.months]
    total += [format_yuan(m.commission_fen) for m in result.months]
    total += [format_yuan(sum(w.settled_commission_fen for w in m.weeks)) for m in result.months]
    table.add_row(*total)
    console.print(table)
    console.print(
        "  commission: estimated commission of orders not refunded by the month's end; settled: by settle time "
        "(settlement lags about 8 days, so the last weeks settle after the month)",
        highlight=False,
    )
    if "equal" in names and len(names) > 1:
        base = result.month("equal")
        for m in result.months:
            if m.allocation != "equal" and base.commission_fen > 0 and base.gmv_fen > 0:
                console.print(
                    f"  {m.allocation} vs equal over the month: GMV x{m.gmv_fen / base.gmv_fen:.2f}, commission "
                    f"x{m.commission_fen / base.commission_fen:.2f}; last week's commission x"
                    f"{_ratio(m.weeks[-1].commission_fen, base.weeks[-1].commission_fen)}",
                    highlight=False,
                )
    refused = sum(m.refused for m in result.months)
    console.print(
        f"  {sum(m.posts for m in result.months)} posts went out ({refused} refused or failed); month wall time "
        f"{result.wall_seconds:.0f} s ({', '.join(f'{m.allocation} {m.wall_seconds:.0f} s' for m in result.months)}); "
        f"plot: {result.png}",
        highlight=False,
    )


def _ratio(a: int, b: int) -> str:
    return f"{a / b:.2f}" if b > 0 else "-"
