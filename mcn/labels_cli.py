"""``mcn clips review`` (terminal or ``--web``) and ``mcn labels list|export|import``.

Labels are stored per source in mcn's database; export/import move them as ``mcn-labels/1`` files to and from
outside annotators (see README, "Labelling clips").
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from clipper.errors import ClipperError
from mcn.terminal import console, fail, out

if TYPE_CHECKING:
    from mcn.labels_store import ClipsFolder

__all__ = ["labels_app", "review_command"]

labels_app = typer.Typer(
    help="Human labels (sentence kinds, clip verdicts): list, export for annotators, import their work.",
    no_args_is_help=True,
)
DEFAULT_PORT = 8710


def review_command(
    folder: Annotated[Path, typer.Argument(help="The --out folder of mcn clips make (clips.json, transcript.json).")],
    web: Annotated[bool, typer.Option("--web", help="Serve a review page on 127.0.0.1 instead.")] = False,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port of the --web page.")] = DEFAULT_PORT,
    host: Annotated[str, typer.Option(help="Interface of the --web page: loopback only.")] = "127.0.0.1",
    annotator: Annotated[
        str | None, typer.Option(help="Who is reviewing (default: $MCN_ANNOTATOR or the login name).")
    ] = None,
) -> None:
    """Review the clips of an output folder, best first: good/bad with a reason, sentence kinds, boundaries."""
    from mcn.labels_store import default_annotator, labels_for_folder, read_clips_folder, save_labels
    from mcn.review_web import is_loopback_host

    if web and not is_loopback_host(host):
        raise fail(f"--host {host}: the review page serves on 127.0.0.1 only (it writes labels without a login)", 2)
    who = annotator or default_annotator()
    try:
        clips = read_clips_folder(folder)
        labels = labels_for_folder(clips, who)
    except ClipperError as err:
        raise fail(str(err)) from None
    except Exception as exc:  # noqa: BLE001 - a database error becomes one line for the operator
        raise fail(f"database: {str(exc).splitlines()[0]}") from None
    if web:
        _serve(clips, who, host, port)
        return
    from mcn.review import ReviewSession, posting_verdicts

    session = ReviewSession(clips, labels, who, save_labels, out, decide=posting_verdicts(clips, who))
    session.run(out.input)


def _serve(clips: ClipsFolder, annotator: str, host: str, port: int) -> None:
    import uvicorn

    from mcn.review import posting_verdicts
    from mcn.review_web import create_review_app

    review = create_review_app(clips, annotator, decide=posting_verdicts(clips, annotator))
    shown = f"[{host}]" if ":" in host else host
    console.print(f"review page: http://{shown}:{port}/  (Ctrl-C stops it; each save stores labels)", soft_wrap=True)
    try:
        uvicorn.run(review.app, host=host, port=port, log_level="warning", access_log=False)
    except OSError as exc:
        raise fail(f"{host}:{port}: cannot listen ({exc.strerror or exc})") from None


@labels_app.command("list")
def labels_list() -> None:
    """Sources with stored labels, most recently changed first."""
    from mcn.labels_store import list_labels

    try:
        rows = list_labels()
    except Exception as exc:  # noqa: BLE001
        raise fail(f"database: {str(exc).splitlines()[0]}") from None
    table = Table(title=f"labels of {len(rows)} sources")
    for name in ("source", "language", "sentences", "clip verdicts", "annotator", "updated"):
        table.add_column(name)
    for r in rows:
        updated = r.updated_at.isoformat(timespec="seconds")
        table.add_row(r.source, r.language, str(r.sentences), str(r.verdicts), r.annotator, updated)
    out.print(table)


@labels_app.command("export")
def labels_export(
    file: Annotated[Path, typer.Argument(help="The mcn-labels/1 JSON file to write.")],
    source: Annotated[
        list[str] | None, typer.Option("--source", help="A source key to export (repeatable; default: all).")
    ] = None,
) -> None:
    """Write stored labels to an mcn-labels/1 file for annotators (all sources, or those named)."""
    from clipper.labels import dump_labels
    from mcn.labels_store import export_labels

    try:
        labels = export_labels(tuple(source or ()))
    except ClipperError as err:
        raise fail(str(err)) from None
    except Exception as exc:  # noqa: BLE001
        raise fail(f"database: {str(exc).splitlines()[0]}") from None
    # write beside the target, then rename: a failed export never leaves half a file an annotator might receive
    tmp = file.with_name(file.name + ".tmp")
    try:
        dump_labels(labels, tmp)
        tmp.replace(file)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise fail(f"{file}: cannot write ({exc.strerror or exc})") from None
    out.print(f"exported labels of {len(labels)} sources to {file}", highlight=False)


@labels_app.command("import")
def labels_import(file: Annotated[Path, typer.Argument(help="An mcn-labels/1 JSON file.")]) -> None:
    """Import labels: the whole file is validated first (nothing is written if any item is bad); per source the
    later updated_at wins, so re-importing a file changes nothing."""
    from clipper.labels import load_labels
    from mcn.labels_store import import_labels

    try:
        labels = load_labels(file)
        result = import_labels(labels, str(file))
    except ClipperError as err:
        raise fail(str(err)) from None
    except Exception as exc:  # noqa: BLE001
        raise fail(f"database: {str(exc).splitlines()[0]}") from None
    out.print(
        f"imported {len(result.written)} sources from {file}; kept {len(result.kept)} whose stored labels are as new",
        highlight=False,
    )
