"""``mcn clips capacity DIR``: how many distinct edits a recording's material supports per product."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from mcn.terminal import fail, out


def capacity_command(
    folders: Annotated[
        list[Path], typer.Argument(help="Output folders of mcn clips make (clips.json + transcript.json).")
    ],
    min_seconds: Annotated[float, typer.Option(min=1.0, help="Shortest edit (seconds of footage).")] = 10.0,
    max_seconds: Annotated[float, typer.Option(min=2.0, help="Longest edit.")] = 40.0,
) -> None:
    """Count, per product, the distinct edits its selling-point segments allow (10-40 s, any two sharing at most
    half of their footage): when the material, not the software, limits how many posts a day it can fill."""
    from mcn.labels_store import ReviewError
    from publisher.capacity import CapacityOptions, source_capacity

    if min_seconds > max_seconds:
        raise fail("--min-seconds must not be above --max-seconds", 2)
    options = CapacityOptions(min_seconds=min_seconds, max_seconds=max_seconds)
    for folder in folders:
        try:
            capacity = source_capacity(folder, options)
        except ReviewError as exc:
            raise fail(str(exc), 2) from None
        table = Table(title=f"distinct edits: {capacity.source}")
        for column in ("product", "clips", "segments", "selling s", "distinct edits", "edit lengths s"):
            table.add_column(column, justify="left" if column == "product" else "right")
        for product in capacity.products:
            lengths = sorted(sum(product.segments[i].seconds for i in e) for e in product.edits)
            spread = f"{lengths[0]:.0f}-{lengths[-1]:.0f}" if lengths else "-"
            table.add_row(
                product.product or "(no product)",
                str(product.clips),
                str(len(product.segments)),
                f"{product.selling_seconds:.0f}",
                str(len(product.edits)),
                spread,
            )
        out.print(table)
        out.print(
            f"{capacity.edits} distinct edits in all: up to {capacity.edits} posts of this recording per platform, "
            "each edit once (its presentation variants go to other platforms or days)",
            highlight=False,
        )
        if capacity.unattributed_seconds >= 1:
            out.print(
                f"{capacity.unattributed_seconds:.0f} s of selling talk are in no clip (no product to tie them to): "
                "a run with a higher --max-clips keeps more of them",
                highlight=False,
            )
