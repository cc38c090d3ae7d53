"""``mcn detector train`` and ``mcn detector info``: the learned selling-point detector's models.

``train`` gathers labelled sources (dev corpus streams as script lines and, where a cached ASR transcript exists, as
ASR sentences; the sample scripts; label files; optionally the database), cross-validates grouped by stream (no
stream is on both sides of a split), prints per-kind precision and recall, then trains on everything and writes the
next ``detector-<lang>-v<N>.npz`` (+ ``.json`` sidecar) to ``--out`` (default ``<MCN_DATA_DIR>/models/detector``,
where ``--detector learned`` looks first).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from clipper.errors import ClipperError
from mcn.terminal import console, fail, out

__all__ = ["detector_app"]

detector_app = typer.Typer(
    help="The learned selling-point detector: train models from labels, list installed models.",
    no_args_is_help=True,
)


@detector_app.command("train")
def train(
    language: Annotated[str, typer.Option(help="zh, en or all.")] = "all",
    labels: Annotated[
        list[Path] | None, typer.Option("--labels", help="An mcn-labels/1 file to train on (repeatable).")
    ] = None,
    corpus_split: Annotated[
        str, typer.Option(help="Corpus streams to train on: dev, or none (holdout is never trained on).")
    ] = "dev",
    scripts: Annotated[bool, typer.Option(help="Also the DEV_/HELDOUT_ sample scripts.")] = True,
    store: Annotated[
        bool, typer.Option(help="Also the operator labels in mcn's database (mcn clips review, mcn labels import).")
    ] = False,
    asr_dir: Annotated[
        list[Path] | None,
        typer.Option(
            "--asr-dir", help="More cached ASR transcripts of corpus streams (<id>.json), after corpus/transcripts."
        ),
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Model folder (default <MCN_DATA_DIR>/models/detector).")
    ] = None,
    c: Annotated[float, typer.Option("--c", min=1e-4, help="Inverse regularisation strength.")] = 16.0,
) -> None:
    """Train the per-language sentence model; print grouped cross-validation; save the next version."""
    from clipper.detectors.sentence_model import TrainOptions
    from clipper.labels import LabelFormatError
    from mcn.detector_training import default_model_dir, gather_sources, train_and_save

    if language not in ("zh", "en", "all"):
        raise fail(f"--language must be zh, en or all (got {language!r})", 2)
    if corpus_split not in ("dev", "none"):
        raise fail(f"--corpus-split must be dev or none (got {corpus_split!r}); holdout streams are only measured", 2)
    files = labels or []
    for path in files:
        if not path.is_file():
            raise fail(f"{path}: file not found", 2)
    target = out_dir or default_model_dir()
    options = TrainOptions(c=c)
    trained = 0
    for lang in ("zh", "en") if language == "all" else (language,):
        try:
            sources = gather_sources(
                lang,
                corpus_split=None if corpus_split == "none" else corpus_split,
                scripts=scripts,
                label_files=files,
                store=store,
                asr_dirs=asr_dir or [],
            )
        except LabelFormatError as exc:
            raise fail(str(exc), 2) from None
        except ClipperError as exc:
            raise fail(str(exc)) from None
        if not sources:
            if language == "all":
                console.print(f"{lang}: no labelled sources, skipped", highlight=False)
                continue
            raise fail(f"{lang}: no labelled sources (give --labels, or use the corpus or the scripts)", 2)
        groups = len({s.key for s in sources})
        sentences = sum(len(s.labels.sentences) for s in sources)
        origins = Counter(s.origin.split(":", 1)[0] for s in sources)
        summary = ", ".join(f"{n} {origin}" for origin, n in sorted(origins.items()))
        out.print(f"{lang}: {groups} streams ({summary}), {sentences} sentences", highlight=False)
        with console.status(f"{lang}: cross-validating and training on {groups} streams, {sentences} sentences"):
            try:
                result = train_and_save(sources, lang, target, options)
            except ClipperError as exc:
                raise fail(str(exc)) from None
        if result.cv is not None:
            table = Table(title=f"{lang}: {result.cv.folds}-fold cross-validation grouped by stream ({groups} streams)")
            for col in ("kind", "precision", "recall", "f1", "sentences"):
                table.add_column(col, justify="left" if col == "kind" else "right")
            for k in result.cv.kinds:
                table.add_row(k.kind, f"{k.precision:.1%}", f"{k.recall:.1%}", f"{k.f1:.2f}", str(k.support))
            out.print(table)
            out.print(f"{lang}: accuracy {result.cv.accuracy:.1%} on {result.cv.sentences} sentences", highlight=False)
        else:
            out.print(f"{lang}: one stream only, no cross-validation", highlight=False)
        out.print(f"{lang}: model written to {result.path}", highlight=False)
        trained += 1
    if not trained:
        raise fail("no model trained: no labelled sources in any language", 2)


@detector_app.command("info")
def info(
    model_dir: Annotated[
        Path | None, typer.Option("--dir", help="Model folder (default <MCN_DATA_DIR>/models/detector).")
    ] = None,
) -> None:
    """List installed models (the data folder, then the packaged ones) and which one each language uses."""
    from clipper.detectors.learned import model_search_path
    from clipper.detectors.sentence_model import installed_models, newest_model

    search = model_search_path(model_dir)
    models = installed_models(search)
    in_use = {lang: newest_model(lang, search) for lang in ("zh", "en")}
    table = Table(title="learned detector models")
    for col in ("language", "version", "used", "created", "sentences", "selling P/R (CV)", "size", "path"):
        table.add_column(col)
    for m in sorted(models, key=lambda m: (search.index(m.path.parent), m.language, -m.version)):
        meta = m.sidecar()
        counts = meta.get("label_counts") or {}
        cv = (meta.get("cross_validation") or {}).get("kinds", {}).get("selling")
        used = in_use.get(m.language)
        table.add_row(
            m.language,
            f"v{m.version}",
            "yes" if used is not None and used.path == m.path else "",
            str(meta.get("created", "?")),
            str(sum(counts.values())) if counts else "?",
            f"{cv['precision']:.0%} / {cv['recall']:.0%}" if cv else "-",
            f"{m.path.stat().st_size / 1024:.0f} KB",
            str(m.path),
        )
    out.print(table)
    if not models:
        out.print(f"no models in {', '.join(str(d) for d in search)} (mcn detector train)", highlight=False)
