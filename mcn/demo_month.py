"""The demo's last act: a compressed month of the feedback loop (:mod:`analytics.month`), learned vs uniform.

The month reposts the product remixes the demo rendered (its clips rows of kind ``remix``) in fresh sandboxes on
the demo's market seed, one per allocation, at a scale that keeps it near a minute and a half on 2 cores
(:data:`DEMO_MONTH`); it prints the scale, the weekly GMV and commission of both allocations, and saves the plot.

The month needs only the rendered remixes, so the demo starts it (:class:`BackgroundMonth`) in its own process as
soon as they exist, and it runs alongside the planning and the compressed day: both are mostly one core (a
dispatcher pass, the sandbox fingerprinting each upload), and side by side they keep two cores busy, where one
after the other the month added its whole minute and a half. Its own process because the month switches the
database and the sandbox URL in its environment for each allocation.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import signal
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

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
    _say_scale(clips, options, console, "in this process")
    try:
        with console.status("compressed month") as status:
            result = run_month(clips, base / "month", options, png=base / "month.png", progress=status.update)
    except (ValueError, RuntimeError, OSError, httpx.HTTPError, SQLAlchemyError) as exc:  # one line
        console.print(f"[red]error:[/red] compressed month: {type(exc).__name__}: {exc}")
        return 1
    print_month(result, console)
    return 0


def _month_process(conn: Connection, clips: list[MonthClip], workdir: Path, options: MonthOptions, png: Path) -> None:
    """The month in a child process: progress lines, then ``("done", result, cpu seconds)`` or ``("error", line)``."""
    try:
        result = run_month(clips, workdir, options, png=png, progress=lambda line: conn.send(("progress", line)))
    except (ValueError, RuntimeError, OSError, httpx.HTTPError, SQLAlchemyError) as exc:  # one line
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    conn.send(("done", result, own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime))


class BackgroundMonth:
    """The compressed month started now in its own process (module docstring); :meth:`finish` waits for it and
    prints it, :meth:`stop` ends it early (the demo failed before the end)."""

    def __init__(
        self,
        base: Path,
        console: Console,
        options: MonthOptions = DEMO_MONTH,
        clips: list[MonthClip] | None = None,
    ) -> None:
        self._console = console
        self._began = time.perf_counter()
        self._process: Any = None
        self._conn: Connection | None = None
        self.clips = demo_clips() if clips is None else clips
        if not self.clips:
            return
        _say_scale(self.clips, options, console, "started in its own process, alongside the plan and the day")
        context = multiprocessing.get_context("spawn")  # not fork: this process has Prefect's threads
        receiver, sender = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_month_process, args=(sender, self.clips, base / "month", options, base / "month.png")
        )
        self._process.start()
        sender.close()
        self._conn = receiver

    def finish(self) -> int:
        """Wait for the month, print it; an exit code."""
        console = self._console
        if self._process is None or self._conn is None:
            console.print("[red]error:[/red] compressed month: the demo rendered no product remixes to post")
            return 1
        message: tuple[Any, ...] = ("error", "the month's process ended without a result")
        with console.status("compressed month (finishing)") as status:
            while True:
                try:
                    if not self._conn.poll(1.0):
                        if not self._process.is_alive():
                            break
                        continue
                    received = self._conn.recv()
                except (EOFError, OSError):
                    break
                if received[0] == "progress":
                    status.update(f"compressed month: {received[1]}")
                    continue
                message = received
                break
        self._process.join(timeout=30)  # it has sent its result: it only exits now
        self.stop()
        if message[0] == "error":
            console.print(f"[red]error:[/red] compressed month: {message[1]}")
            return 1
        result, cpu = message[1], message[2]
        print_month(result, console)
        console.print(
            f"  the month's process: {cpu:.0f} CPU s, done {time.perf_counter() - self._began:.0f} s after it "
            "started (alongside the plan and the compressed day)",
            highlight=False,
        )
        return 0

    def stop(self) -> None:
        """End the month's process if it still runs (an interrupt first, so its sandboxes are stopped on the way
        out), and close the pipe."""
        if self._process is not None and self._process.is_alive():
            os.kill(self._process.pid, signal.SIGINT)
            self._process.join(timeout=20)
            if self._process.is_alive():
                self._process.terminate()
                self._process.join(timeout=10)
        if self._conn is not None:
            self._conn.close()


def _say_scale(clips: list[MonthClip], options: MonthOptions, console: Console, how: str) -> None:
    products = len({c.product_id for c in clips})
    console.print(
        f"compressed month ({how}): {options.days} days x {options.accounts} accounts x {options.posts_per_account} "
        f"posts a day ({options.posts_per_day} posts/day) per allocation, {' vs '.join(options.allocations)}, "
        f"market seed {options.seed}, reposting {len(clips)} rendered remixes of {products} products",
        highlight=False,
    )


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
