"""``mcn products``: the affiliate product pool (精选联盟-style): import a file, sync a platform, list the ranking."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mcn.terminal import console, fail, out

products_app = typer.Typer(help="The affiliate product pool (精选联盟): import, sync, ranking.", no_args_is_help=True)


@products_app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="CSV or JSON in the alliance's fields (see alliance.product).")],
) -> None:
    """Add or update pool products from FILE: prices in fen, commission ratios x100 of the percentage (20% is
    2000), as the alliance gives them. Bad rows are reported by line (CSV) or index (JSON) and skipped, the good
    rows are kept; the exit code is then 1. Importing the same file again changes nothing."""
    from alliance.importer import read_pool_file
    from alliance.store import upsert_pool
    from clipper.errors import InputFileError

    try:
        loaded = read_pool_file(file)
    except InputFileError as exc:
        raise fail(str(exc)) from None
    for problem in loaded.problems:
        console.print(f"[red]error:[/red] {problem}", highlight=False, soft_wrap=True)
    result = upsert_pool(loaded.products, source=f"import:{file.name}") if loaded.products else None
    added, updated, same = (len(result.added), len(result.updated), len(result.unchanged)) if result else (0, 0, 0)
    out.print(
        f"imported {added + updated + same} of {loaded.rows} products from {file} "
        f"({added} new, {updated} updated, {same} unchanged, {len(loaded.problems)} bad rows skipped)",
        highlight=False,
        soft_wrap=True,
    )
    if loaded.problems:
        raise typer.Exit(1)
