"""Make distinct edits of a finished recording: per product, its selling-point segments recombined into new videos.

Input is the ``--out`` folder of ``mcn clips make`` (``clips.json``, ``transcript.json``; the recording it names
must still be there). Tasks: read the folder and count the distinct edits each product's segments allow
(:func:`publisher.capacity.folder_capacity`: 10-40 s subsets, any two sharing at most half of the smaller one's
footage) -> render each edit (:func:`clipper.edits.render_edit`, or K presentation variants of it from one decode
with :func:`clipper.edits.render_variants`) -> record every file as a clips row (``kind = edit``) with its footage,
so the plan spreads and guards edits like clips. Each edit starts with another of its segments (the segments
rotate), and its hook is that segment's first sentence, so edits of one product open differently.

A failing edit is recorded with its one-line reason and the others go on; the run fails only when none was made.
Progress and a table of the edits go to Prefect artifacts, as in ``make-clips``. Run it directly::

    python flows/make_edits.py out/stream-clips --max-per-product 4

It uses a local ephemeral Prefect server unless ``PREFECT_API_URL`` is set.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, runtime, task
from prefect.artifacts import create_progress_artifact, create_table_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE
from prefect.states import Failed, State

from clipper.captions import CaptionStyle
from clipper.edits import Presentation, RenderedEdit, render_edit, render_variants
from clipper.errors import ClipperError
from clipper.manifest import write_json
from clipper.media import probe
from clipper.render import RenderOptions
from clipper.subtitles import transcript_from_json
from clipper.types import MediaInfo, Word
from mcn import progress, store
from mcn.labels_store import ClipsFolder, ReviewError, read_clips_folder
from mcn.settings import get_settings
from publisher.capacity import CapacityOptions, ProductCapacity, folder_capacity

STEPS = ("load", "edits")
#: Presentation variants, in order (``variants`` = K takes the first K): A/B looks of one edit, never disguises.
PRESENTATIONS = (
    Presentation("a"),
    Presentation("b", layout="crop", caption_style=CaptionStyle(highlight_colour="#00E5FF")),
    Presentation("c", layout="zoom", caption_style=CaptionStyle(position_y=0.62)),
)
_HOOK_WORDS = 7


@dataclass(frozen=True, slots=True)
class PlannedEdit:
    """One edit to render: its id, product, source ranges in playing order, hook, title, spoken points."""

    edit_id: str
    product_id: str | None
    ranges: tuple[tuple[float, float], ...]
    hook: str
    title: str
    points: tuple[str, ...]
    sentences: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class _Tracker:
    artifact_id: Any

    def __call__(self, step: str, fraction: float, detail: str = "") -> None:
        progress.report(step, fraction, detail)
        overall = (STEPS.index(step) + fraction) / len(STEPS) * 100
        if self.artifact_id is not None:
            update_progress_artifact(self.artifact_id, overall, description=f"{step}: {detail or f'{fraction:.0%}'}")


def _short(text: str, words: int) -> str:
    parts = text.split()
    short = " ".join(parts[:words])
    return short.rstrip(",;:") + ("..." if len(parts) > words else "")


def plan_edits(folder: ClipsFolder, capacity: tuple[ProductCapacity, ...], per_product: int) -> list[PlannedEdit]:
    """The edits to render: up to ``per_product`` of each product's distinct edits (all with 0), segments
    rotated so each edit of a product leads with another segment, and that segment's first sentence as hook."""
    planned: list[PlannedEdit] = []
    for product in capacity:
        edits = product.edits if per_product <= 0 else product.edits[:per_product]
        for n, edit in enumerate(edits):
            shift = n % len(edit)
            order = edit[shift:] + edit[:shift]
            segments = [product.segments[i] for i in order]
            sentences = tuple(k for s in segments for k in range(s.first, s.last + 1))
            points = tuple(folder.sentences[k].text.strip() for k in sentences)
            lead = points[0] if points else ""
            name = re.sub(r"[^A-Za-z0-9_-]+", "_", product.product or "clip")[:40]
            planned.append(
                PlannedEdit(
                    edit_id=f"{name}-e{n + 1}",
                    product_id=product.product,
                    ranges=tuple((s.start, s.end) for s in segments),
                    hook=_short(lead, _HOOK_WORDS),
                    title=_short(lead, 12),
                    points=points,
                    sentences=sentences,
                )
            )
    return planned


@task(name="render edit", cache_policy=NO_CACHE)
def edit_task(
    source: MediaInfo,
    edit: PlannedEdit,
    words: tuple[Word, ...],
    out_dir: Path,
    options: RenderOptions,
    variants: int,
) -> list[RenderedEdit] | State:
    """Render one edit (or its K presentation variants from one decode); an expected error is a Failed state."""
    try:
        if variants <= 1:
            path = out_dir / f"{edit.edit_id}.mp4"
            return [render_edit(source, edit.ranges, words, path, options, edit_id=edit.edit_id, hook=edit.hook)]
        return render_variants(
            source, edit.ranges, words, out_dir, options, PRESENTATIONS[:variants], edit_id=edit.edit_id,
            hook=edit.hook, title=edit.title,
        )  # fmt: skip
    except ClipperError as exc:
        return Failed(message=str(exc), data=exc)


@flow(name="make-edits", log_prints=True)
def make_edits(
    folder: str,
    out: str | None = None,
    max_per_product: int = 0,
    variants: int = 1,
    width: int = 1080,
    height: int = 1920,
    fps: int = 30,
    preset: str = "veryfast",
    min_seconds: float = 10.0,
    max_seconds: float = 40.0,
    record: bool = True,
) -> dict[str, Any] | State:
    """Render distinct edits of the recording behind a ``mcn clips make`` folder into ``out``.

    ``max_per_product`` caps the edits per product (0: every distinct edit found); ``variants`` (1-3) renders
    that many presentation variants of each edit from one decode (:data:`PRESENTATIONS`; variants share footage,
    so the plan puts them on other platforms or days). ``width`` x ``height``, ``fps`` and ``preset`` (x264) are
    the encoding; ``min_seconds``-``max_seconds`` an edit's length. With ``record`` every file becomes a
    plannable clips row (``kind = edit``, its footage ranges). Returns the manifest (also ``out/edits.json``) with
    ``run_id``, ``out_dir`` and the per-product capacity.
    """
    settings = get_settings()
    logger = get_run_logger()
    params = {"variants": variants, "size": f"{width}x{height}", "max_per_product": max_per_product}
    try:
        clips_folder = read_clips_folder(folder)
    except ReviewError as exc:
        return Failed(message=str(exc))
    run_id, source_id = store.start_run(
        "make_edits", clips_folder.source, params, flow_run_id=str(runtime.flow_run.id or "")
    )
    out_dir = Path(out) if out else Path(folder) / "edits"
    tracker = _Tracker(create_progress_artifact(0.0, description=f"make edits: {folder}"))

    def failed(step: str, message: str) -> State:
        store.fail_run(run_id, step, folder, message)
        logger.warning("%s: %s", step, message)
        return Failed(message=message)

    if not 1 <= variants <= len(PRESENTATIONS):
        return failed("input", f"variants must be 1-{len(PRESENTATIONS)} (got {variants})")
    try:
        options = RenderOptions(
            width=width,
            height=height,
            fps=fps,
            preset=preset,
            ffmpeg=settings.ffmpeg,
            font_family=settings.font_family,
            produce_id_prefix=f"{run_id[:12]}-",
        )
        capacity = folder_capacity(clips_folder, CapacityOptions(min_seconds=min_seconds, max_seconds=max_seconds))
    except ValueError as exc:
        return failed("input", str(exc))
    tracker("load", 0.0, folder)
    try:
        source = probe(clips_folder.source)
        transcript_file = Path(folder) / "transcript.json"
        words = transcript_from_json(
            json.loads(transcript_file.read_text(encoding="utf-8")), source=str(transcript_file)
        ).words
    except ClipperError as exc:
        return failed("load", str(exc))
    except (OSError, json.JSONDecodeError) as exc:
        return failed("load", f"{folder}/transcript.json: {exc}")
    planned = plan_edits(clips_folder, capacity.products, max_per_product)
    tracker("load", 1.0, f"{len(planned)} edits of {len(capacity.products)} products")

    out_dir.mkdir(parents=True, exist_ok=True)
    rows: list[store.EditRow] = []
    entries: list[dict[str, Any]] = []
    failures: list[dict[str, str]] = []
    for n, edit in enumerate(planned):
        tracker("edits", n / max(len(planned), 1), edit.edit_id)
        state = edit_task(source, edit, words, out_dir, options, variants, return_state=True)
        if state.is_failed():
            reason = state.message or "render failed"
            store.record_failure(run_id, "edit", edit.edit_id, reason)
            failures.append({"edit": edit.edit_id, "reason": reason})
            logger.warning("edit %s: %s", edit.edit_id, reason)
            continue
        rendered: list[RenderedEdit] = state.result()  # type: ignore[assignment]
        for r in rendered:
            variant = r.presentation.name if variants > 1 else ""
            rows.append(
                store.EditRow(
                    edit_id=edit.edit_id,
                    product_id=edit.product_id,
                    ranges=r.ranges,
                    path=r.path,
                    duration=round(r.duration, 3),
                    hook=r.hook,
                    title=edit.title,
                    points=edit.points,
                    sentences=edit.sentences,
                    variant=variant,
                )
            )
            entries.append(
                {
                    "edit": edit.edit_id,
                    "variant": variant,
                    "product": edit.product_id,
                    "ranges": [list(x) for x in r.ranges],
                    "duration": round(r.duration, 3),
                    "hook": r.hook,
                    "path": str(Path(r.path).relative_to(out_dir)) if Path(r.path).is_relative_to(out_dir) else r.path,
                }
            )
    tracker("edits", 1.0, f"{len(rows)} files")
    if record and rows:
        store.record_edits(run_id, source_id, rows)
    manifest = {
        "folder": folder,
        "source": clips_folder.source,
        "capacity": {str(p.product): len(p.edits) for p in capacity.products},
        "edits": entries,
        "failures": failures,
    }
    write_json(out_dir / "edits.json", manifest)
    if not rows:
        return failed("edits", failures[-1]["reason"] if failures else "the segments allow no 10-40 s edit")
    store.finish_run(run_id, {"edits": len(planned) - len(failures), "files": len(rows), "failed": len(failures)})
    create_table_artifact(
        [{k: e[k] for k in ("edit", "variant", "product", "duration", "hook", "path")} for e in entries],
        key="edits",
        description=f"Edits of {clips_folder.source} (run {run_id[:12]}); files in {out_dir}",
    )
    return {**manifest, "run_id": run_id, "out_dir": str(out_dir)}


if __name__ == "__main__":
    import argparse
    import sys

    parser = argparse.ArgumentParser(description=(__doc__ or "make edits").splitlines()[0])
    parser.add_argument("folder", help="the --out folder of mcn clips make")
    parser.add_argument("--out", help="output directory (default: FOLDER/edits)")
    parser.add_argument("--max-per-product", type=int, default=0)
    parser.add_argument("--variants", type=int, default=1)
    args = parser.parse_args()
    final = make_edits(
        folder=args.folder, out=args.out, max_per_product=args.max_per_product, variants=args.variants,
        return_state=True,
    )  # fmt: skip
    if final.is_failed():
        print(f"error: {final.message}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps(final.result(), ensure_ascii=False, indent=2))
