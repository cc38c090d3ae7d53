"""``mcn remix``: product-material remixes (the ``make-remix`` flow) from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mcn.terminal import console, fail, out, parse_size

remix_app = typer.Typer(help="Product-material remixes (混剪).", no_args_is_help=True)


@remix_app.command("make")
def remix_make(
    products_file: Annotated[Path, typer.Argument(help="Product material file (JSON or CSV, alliance fields).")],
    out_dir: Annotated[Path | None, typer.Option("--out", help="Output folder.")] = None,
    variants: Annotated[int, typer.Option(min=1, max=10, help="Remixes per product (different script/order).")] = 1,
    size: Annotated[str, typer.Option(help="WIDTHxHEIGHT, 9:16.")] = "1080x1920",
    writer: Annotated[str, typer.Option(help="template (offline) or openai (MCN_LLM_*).")] = "template",
    tts: Annotated[str | None, typer.Option(help="piper or openai (default MCN_TTS_BACKEND).")] = None,
) -> None:
    """Render 15-40 s 9:16 remixes of each product; writes remixes.json and one mp4 per remix."""
    from mcn.prefect_api import quiet_prefect

    if not products_file.is_file():
        raise fail(f"{products_file}: file not found", 2)
    width, height = parse_size(size)
    from clipper.errors import InputFileError
    from remix.products import load_remix_products

    try:
        loaded = load_remix_products(products_file)  # an unreadable file fails here, before Prefect starts
    except InputFileError as exc:
        raise fail(str(exc), 2) from None
    if not loaded.products:
        raise fail(f"{products_file}: no usable product ({len(loaded.problems)} bad rows)", 2)
    quiet_prefect()
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from flows.make_remix import STEPS, make_remix
    from mcn import progress

    with Progress(
        TextColumn("{task.description:<8}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bars:
        ids = {step: bars.add_task(step, total=1.0, detail="") for step in STEPS}

        def sink(step: str, fraction: float, detail: str) -> None:
            if step in ids:
                bars.update(ids[step], completed=fraction, detail=detail)

        progress.set_sink(sink)
        try:
            state = make_remix(
                products=str(products_file),
                out=str(out_dir) if out_dir else None,
                variants=variants,
                width=width,
                height=height,
                writer=writer,
                tts=tts,
                return_state=True,
            )
        finally:
            progress.set_sink(None)
    if state.is_failed():
        raise fail(state.message or "make-remix failed")
    manifest: dict[str, Any] = state.result()  # type: ignore[assignment]  # Completed: the flow's dict
    from rich.table import Table

    table = Table(title=f"{len(manifest['remixes'])} remixes from {products_file}")
    for col in ("product", "v", "seconds", "voice", "music", "hook", "file"):
        table.add_column(col)
    for r in manifest["remixes"]:
        table.add_row(
            r["product_id"], str(r["variant"]), f"{r['duration']:.1f}", r["voice"], r["music"], r["hook"], r["path"]
        )
    out.print(table)
    for failure in manifest["failures"]:
        console.print(f"[red]failed:[/red] {failure['reason']}", highlight=False, soft_wrap=True)
    out.print(f"remixes.json and videos in {manifest['out_dir']}", highlight=False)
    if manifest["failures"]:
        raise typer.Exit(1)
