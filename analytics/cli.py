"""``mcn orders import|attribution`` and ``mcn collect`` (registered in :mod:`mcn.cli`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from mcn.terminal import console as err
from mcn.terminal import fail, out

orders_app = typer.Typer(help="Affiliate orders: import alliance exports, attribution coverage.", no_args_is_help=True)
_SHOWN_BAD_ROWS = 20


@orders_app.command("import")
def orders_import(
    file: Annotated[Path, typer.Argument(help="Alliance order export: CSV (UTF-8 or GBK) or XLSX (needs openpyxl).")],
    unit: Annotated[str, typer.Option(help="Money unit of the amount columns: fen (buyin API) or yuan.")] = "fen",
) -> None:
    """Store orders by order_id; flow points only move forward; a re-import changes nothing. Bad rows are listed
    by line and skipped; exits 1 when there were any."""
    from analytics.orders import OrderFileError, import_orders, xlsx_supported

    if unit not in ("fen", "yuan"):
        raise fail(f"--unit must be fen or yuan (got {unit!r})", code=2)
    if file.suffix.lower() in (".xlsx", ".xlsm") and not xlsx_supported():
        raise fail(f"{file}: reading .xlsx needs openpyxl, which is not installed; save the sheet as CSV", code=2)
    try:
        report = import_orders(file, unit)  # type: ignore[arg-type]
    except OrderFileError as exc:
        raise fail(str(exc), code=2) from None
    out.print(f"{file}: {report.rows} rows; {report.stored.summary()}", highlight=False)
    for conflict in report.stored.conflicts[:_SHOWN_BAD_ROWS]:
        err.print(f"conflict: {conflict}", highlight=False)
    for bad in report.bad[:_SHOWN_BAD_ROWS]:
        err.print(f"[red]bad row[/red] {file.name} {bad}", highlight=False)
    if len(report.bad) > _SHOWN_BAD_ROWS:
        err.print(f"... and {len(report.bad) - _SHOWN_BAD_ROWS} more bad rows", highlight=False)
    print_coverage(out)
    if report.bad:
        err.print(f"{len(report.bad)} bad rows skipped; every other row was stored", highlight=False)
        raise typer.Exit(1)


@orders_app.command("attribution")
def orders_attribution() -> None:
    """Re-check unattributed orders against the posts, then print attribution coverage by reason."""
    from analytics.attribution import reattribute

    changed = reattribute()
    if changed:
        out.print(f"{changed} orders re-attributed", highlight=False)
    print_coverage(out)


def print_coverage(console: Console) -> None:
    """The attribution coverage table: orders and estimated commission by reason."""
    from analytics.attribution import coverage

    cov = coverage()
    table = Table(title="order attribution")
    for column in ("reason", "orders", "share", "est. commission (yuan)"):
        table.add_column(column, justify="left" if column == "reason" else "right")
    for reason, count in cov.by_reason.items():
        share = count / cov.orders if cov.orders else 0.0
        table.add_row(reason, str(count), f"{share:.1%}", f"{cov.commission_by_reason[reason] / 100:,.2f}")
    console.print(table)
    console.print(cov.summary(), highlight=False)


def collect_command(
    platform: Annotated[list[str] | None, typer.Option(help="Only these platforms (repeatable).")] = None,
    max_age_days: Annotated[float, typer.Option(min=0.01, help="Read metrics of posts at most this old.")] = 30.0,
    metrics: Annotated[bool, typer.Option(help="Read post metrics.")] = True,
    orders: Annotated[bool, typer.Option(help="Read affiliate orders.")] = True,
) -> None:
    """Store a metric snapshot of every recent post and the affiliate orders changed since the last run, from every
    platform whose adapter has a metrics API (what the hourly deployment runs). Exits 1 if anything failed."""
    from analytics.collect import CollectOptions, collect

    options = CollectOptions(
        platforms=tuple(platform) if platform else None, max_post_age_days=max_age_days, metrics=metrics, orders=orders
    )
    try:
        report = collect(options)
    except Exception as exc:  # noqa: BLE001 - database unreachable and the like: one line, exit 1
        raise fail(f"collect: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    for name, reason in report.skipped_platforms.items():
        err.print(f"platform {name} skipped: {reason}", highlight=False)
    for name, reason in report.skipped_orders.items():
        err.print(f"orders of {name} skipped: {reason}", highlight=False)
    for problem in report.problems[:_SHOWN_BAD_ROWS]:
        err.print(f"[red]problem[/red] {problem}", highlight=False)
    if len(report.problems) > _SHOWN_BAD_ROWS:
        err.print(f"... and {len(report.problems) - _SHOWN_BAD_ROWS} more problems", highlight=False)
    out.print(report.summary(), highlight=False)
    print_coverage(out)
    if report.problems:
        raise typer.Exit(1)
