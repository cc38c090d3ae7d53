"""``mcn clips edits DIR``: render the distinct edits of a finished recording (the ``make-edits`` flow)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, cast

import typer

from mcn.terminal import fail, out, parse_size


def edits_command(
    folder: Annotated[Path, typer.Argument(help="Output folder of mcn clips make (clips.json + transcript.json).")],
    out_dir: Annotated[Path | None, typer.Option("--out", help="Where the edits go (default: FOLDER/edits).")] = None,
    max_per_product: Annotated[
        int, typer.Option(min=0, help="At most this many edits per product (0: every distinct edit).")
    ] = 0,
    variants: Annotated[
        int, typer.Option(min=1, max=3, help="Presentation variants of each edit, rendered from one decode.")
    ] = 1,
    size: Annotated[str, typer.Option(help="Output size WIDTHxHEIGHT (9:16).")] = "1080x1920",
) -> None:
    """Render, per product, distinct edits that recombine its selling-point segments (10-40 s, any two sharing at
    most half of their footage), each recorded as a plannable clip; variants of one edit go to other platforms or
    days."""
    width, height = parse_size(size)
    if width <= 0 or height <= 0 or width % 2 or height % 2:
        raise fail(f"--size {size!r}: width and height must be positive even numbers", 2)
    from mcn.labels_store import ReviewError, read_clips_folder

    try:  # refuse a bad folder before Prefect starts
        read_clips_folder(folder)
    except ReviewError as exc:
        raise fail(str(exc), 2) from None

    from flows.make_edits import make_edits

    with out.status(f"rendering the distinct edits of {folder}"):
        final = make_edits(
            folder=str(folder),
            out=str(out_dir) if out_dir else None,
            max_per_product=max_per_product,
            variants=variants,
            width=width,
            height=height,
            return_state=True,
        )
    if final.is_failed():
        raise fail(str(final.message), 1)
    manifest = cast(dict[str, Any], final.result())
    files = manifest["edits"]
    for entry in files:
        out.print(f"{entry['path']}  {entry['duration']:.1f} s  {entry['product']}  {entry['hook']}", highlight=False)
    out.print(
        f"{len({e['edit'] for e in files})} edits, {len(files)} files in {manifest['out_dir']} "
        f"(recorded as clips of kind edit; capacity per product: {json.dumps(manifest['capacity'])})",
        highlight=False,
    )
    for failure in manifest["failures"]:
        out.print(f"[yellow]failed[/yellow] {failure}", highlight=False)
