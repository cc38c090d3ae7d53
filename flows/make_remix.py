"""Make product-material remixes (混剪) for a list of products: script, voice-over, render, per product.

Tasks: load products -> for each product and variant: write script + render (``remix.render``). Every setting is
a flow parameter (defaults from ``MCN_*`` settings). A bad product (bad row, no usable material, a render that
does not probe right) is recorded as a failure of the run with its one-line reason and the others go on; the run
fails only when no remix was made. Progress and a table of the remixes go to Prefect artifacts, as in
``make-clips``. Run it directly::

    python flows/make_remix.py products.json --out remixes/

or through ``mcn remix make``. It uses a local ephemeral Prefect server unless ``PREFECT_API_URL`` is set.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, runtime, task
from prefect.artifacts import create_progress_artifact, create_table_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE
from prefect.states import Failed, State

from clipper.errors import ClipperError
from clipper.fetch import FetchOptions
from clipper.manifest import write_json
from mcn import progress, store
from mcn.settings import get_settings
from remix.products import (
    LoadedProducts,
    RemixProduct,
    load_remix_products,
    localise_media,
    material_fetch_options,
    material_variant,
    material_variants,
)
from remix.render import RemixOptions, RemixResult, render_remix
from remix.script import write_script
from remix.tts import CachedTTS, TTSBackend, get_tts

STEPS = ("load", "remix")


@dataclass(frozen=True, slots=True)
class _Tracker:
    """Forwards step progress to the CLI sink and the run's Prefect progress artifact."""

    artifact_id: Any

    def __call__(self, step: str, fraction: float, detail: str = "") -> None:
        progress.report(step, fraction, detail)
        overall = (STEPS.index(step) + fraction) / len(STEPS) * 100
        if self.artifact_id is not None:
            update_progress_artifact(self.artifact_id, overall, description=f"{step}: {detail or f'{fraction:.0%}'}")


@task(name="load products")
def load_task(path: str) -> LoadedProducts | State:
    try:
        return load_remix_products(path)
    except ClipperError as exc:
        return Failed(message=str(exc), data=exc)


@task(name="remix", cache_policy=NO_CACHE)
def remix_task(
    product: RemixProduct,
    variant: int,
    out_dir: Path,
    options: RemixOptions,
    tts: TTSBackend | None,
    writer: str,
    downloads: Path,
    fetch: FetchOptions,
) -> RemixResult | State:
    """Write the script and render one remix; an expected error becomes a Failed state (no traceback). URL
    material is fetched with ``fetch`` (the SSRF guard, deadline and probing of :mod:`clipper.fetch`)."""
    try:
        local, fetch_notes = localise_media(product, downloads, fetch)
        script = write_script(local, variant=variant, writer=writer)
        result = render_remix(
            local, script, out_dir / f"{_safe(product.id)}-v{variant}.mp4", options, tts=tts, variant=variant
        )
        return replace(result, notes=(*fetch_notes, *((script.note,) if script.note else ()), *result.notes))
    except ClipperError as exc:
        return Failed(message=str(exc), data=exc)


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)[:60] or "product"


def remix_entry(result: RemixResult, out_dir: Path) -> dict[str, Any]:
    """One remix as it appears in ``remixes.json``: file, script, timings, music and the footage it shows."""
    path = Path(result.path)
    return {
        "product_id": result.product_id,
        "variant": result.variant,
        "path": str(path.relative_to(out_dir)) if path.is_relative_to(out_dir) else str(path),
        "duration": round(result.duration, 3),
        "size": f"{result.width}x{result.height}",
        "language": result.script.language,
        "writer": result.script.writer,
        "hook": result.script.hook,
        "title": result.script.title,
        "voice": result.voice.voice,
        "voiced": result.voice.voiced,
        "music": result.music,
        "lines": [{"text": ln.text, "start": ln.start, "end": ln.end} for ln in result.voice.lines],
        "captions": [{"start": c.start, "end": c.end, "text": c.text} for c in result.captions],
        # What the picture shows, for a near-duplicate guard: material ids and, for videos, the seconds used.
        "footage": [
            {
                "start": s.start,
                "end": s.end,
                "material": s.material.id,
                "kind": s.material.kind,
                "source": s.material.path,
                "source_start": s.source_start if s.material.kind == "video" else None,
                "source_end": round(s.source_start + s.duration, 3) if s.material.kind == "video" else None,
                "motion": s.motion,
            }
            for s in result.shots
        ],
        "notes": list(result.notes),
    }


def remix_row(result: RemixResult, out_dir: Path, product: RemixProduct) -> store.RemixRow:
    """The clips row of one remix: product, hook, title, file and the product material it shows."""
    path = Path(result.path)
    return store.RemixRow(
        product_id=result.product_id,
        product_name=product.title,
        variant=result.variant,
        path=str(path if path.is_absolute() else out_dir / path),
        duration=round(result.duration, 3),
        hook=result.script.hook,
        title=result.script.title,
        lines=tuple(ln.text for ln in result.voice.lines),
        materials=tuple(material_id(result.product_id, s.material.path) for s in result.shots),
        category=product.category,
        price=product.display_price,
    )


def material_id(product_id: str, path: str) -> str:
    """A material's id unique across products: ``<product id>/<file name>`` (what the footage guard compares)."""
    return f"{product_id}/{Path(path).name}"


@flow(name="make-remix", log_prints=True)
def make_remix(
    products: str,
    out: str | None = None,
    variants: int = 1,
    width: int = 1080,
    height: int = 1920,
    writer: str = "template",
    tts: str | None = None,
    music: bool = True,
    material_per_variant: int = 0,
    record: bool = True,
    fps: int = 30,
    preset: str = "veryfast",
    workers: int = 1,
) -> dict[str, Any] | State:
    """Render ``variants`` remixes of every product in ``products`` (a JSON/CSV material file) into ``out``.

    ``writer`` is ``template`` (offline) or ``openai`` (``MCN_LLM_*``); ``tts`` overrides ``MCN_TTS_BACKEND``
    (``piper``, ``openai``); ``width`` x ``height`` is the 9:16 size, ``fps`` and ``preset`` (x264) the
    encoding; ``workers`` renders that many remixes at once (each ffmpeg pass is partly single-threaded, so two
    keep two cores busy). Sentences are synthesized once per run (:class:`remix.tts.CachedTTS`): remixes of one
    product repeat most of their lines. ``material_per_variant`` > 0 gives each
    variant its own set of that many images/videos (:func:`remix.products.material_variant`: with 2, two variants
    share at most half their material); a product with fewer sets than ``variants`` gets fewer remixes. With
    ``record`` every remix becomes a plannable clips row (``kind = remix``, its material footage; see
    :func:`mcn.store.record_remixes`). Returns the manifest (also written to ``out/remixes.json``) with ``run_id``
    and ``out_dir``.
    """
    settings = get_settings()
    data_dir = settings.resolved_data_dir
    params = {"variants": variants, "size": f"{width}x{height}", "writer": writer, "tts": tts or settings.tts_backend}
    run_id, source_id = store.start_run("make_remix", products, params, flow_run_id=str(runtime.flow_run.id or ""))
    out_dir = Path(out) if out else data_dir / "remixes" / run_id[:12]
    logger = get_run_logger()
    artifact = create_progress_artifact(0.0, description=f"make remix: {products}")
    tracker = _Tracker(artifact)

    def failed(step: str, message: str) -> State:
        store.fail_run(run_id, step, products, message)
        logger.warning("%s: %s", step, message)
        return Failed(message=message)

    if variants < 1:
        return failed("input", f"variants must be at least 1 (got {variants})")
    if not 1 <= workers <= 8:
        return failed("input", f"workers must be 1-8 (got {workers})")
    if writer not in ("template", "openai"):
        return failed("input", f"writer must be template or openai (got {writer!r})")
    try:
        options = RemixOptions(
            width=width,
            height=height,
            fps=fps,
            preset=preset,
            ffmpeg=settings.ffmpeg,
            font_family=settings.font_family,
            produce_id_prefix=f"{run_id[:12]}-",
            music=music,
        )
    except ValueError as exc:
        return failed("input", str(exc))
    backend = tts or settings.tts_backend
    # With renders in parallel, Piper's onnxruntime on one thread: its default pool (a thread per core) spun
    # against the other render's ffmpeg and cost 0.90 CPU s a sentence against 0.53 on one thread (2 cores).
    tts_options: dict[str, Any] = {"threads": 1} if backend == "piper" and workers > 1 else {}
    try:
        voice: TTSBackend | None = CachedTTS(get_tts(backend, **tts_options))
    except ClipperError as exc:
        if tts is not None:  # asked for by name: a configuration error, not a reason to go silent
            return failed("input", str(exc))
        logger.warning("voice-over off: %s (remixes get captions and music)", exc)
        voice = None

    tracker("load", 0.0, products)
    loaded_state = load_task(products, return_state=True)
    if loaded_state.is_failed():
        return failed("load", loaded_state.message or "cannot load the products")
    loaded: LoadedProducts = loaded_state.result()  # type: ignore[assignment]
    failures: list[dict[str, str]] = []
    for problem in loaded.problems:
        store.record_failure(run_id, "load", products, problem)
        failures.append({"product_id": "", "step": "load", "reason": problem})
    tracker("load", 1.0, f"{len(loaded.products)} products")

    out_dir.mkdir(parents=True, exist_ok=True)
    fetch = material_fetch_options(
        max_bytes=settings.max_download_bytes,
        deadline_seconds=settings.download_deadline_seconds,
        allow_private=settings.fetch_allow_private,
    )
    jobs: list[tuple[RemixProduct, int]] = []
    for product in loaded.products:
        supported = material_variants(product, material_per_variant)
        for v in range(variants):
            subset = material_variant(product, material_per_variant, v)
            if subset is not None:
                jobs.append((subset, v))
        if material_per_variant > 0 and supported < variants:
            logger.info("%s: its material supports %d distinct variants (of %d asked)", product.id, supported, variants)
    results: list[RemixResult] = []
    done = 0

    def collect(state: State, product: RemixProduct, variant: int) -> None:
        nonlocal done
        done += 1
        tracker("remix", done / len(jobs), f"{product.id} v{variant}")
        if state.is_failed():
            reason = state.message or "remix failed"
            store.record_failure(run_id, "remix", product.id, reason)
            failures.append({"product_id": product.id, "step": "remix", "reason": reason})
            logger.warning("remix %s v%d: %s", product.id, variant, reason)
            return
        results.append(state.result())

    args = (out_dir, options, voice, writer, data_dir / "material", fetch)
    try:
        if workers == 1:
            for product, variant in jobs:
                tracker("remix", done / len(jobs), f"{product.id} v{variant}")
                collect(remix_task(product, variant, *args, return_state=True), product, variant)
        else:
            # At most ``workers`` renders in flight, collected in job order (the manifest keeps the product order).
            pending: list[tuple[Any, RemixProduct, int]] = []
            for product, variant in jobs:
                pending.append((remix_task.submit(product, variant, *args), product, variant))
                if len(pending) >= workers:
                    future, p, v = pending.pop(0)
                    future.wait()
                    collect(future.state, p, v)
            for future, p, v in pending:
                future.wait()
                collect(future.state, p, v)
    finally:
        if voice is not None:
            voice.close()
    tracker("remix", 1.0, f"{len(results)} remixes")

    if record and results:
        by_id = {p.id: p for p in loaded.products}
        store.record_remixes(run_id, source_id, [remix_row(r, out_dir, by_id[r.product_id]) for r in results])
    manifest = {
        "products_file": products,
        "remixes": [remix_entry(r, out_dir) for r in results],
        "failures": failures,
    }
    write_json(out_dir / "remixes.json", manifest)
    if not results:
        return failed("remix", failures[-1]["reason"] if failures else "no product to remix")
    store.finish_run(
        run_id,
        {
            "remixes": len(results),
            "failed": len(failures),
            "voiced": sum(r.voice.voiced for r in results),
            "seconds": round(sum(r.duration for r in results), 1),
            "out_dir": str(out_dir),
        },
    )
    create_table_artifact(
        [
            {
                "product": r.product_id,
                "variant": r.variant,
                "seconds": round(r.duration, 1),
                "language": r.script.language,
                "voice": r.voice.voice,
                "music": r.music,
                "hook": r.script.hook,
                "path": r.path,
            }
            for r in results
        ],
        key="remixes",
        description=f"Remixes from {products} (run {run_id[:12]}); files in {out_dir}",
    )
    return {**manifest, "run_id": run_id, "out_dir": str(out_dir)}


if __name__ == "__main__":
    # One runnable flow per file; the CLI (`mcn remix make`) sits above this module and adds progress bars.
    import argparse
    import sys

    parser = argparse.ArgumentParser(description=(__doc__ or "make remixes").splitlines()[0])
    parser.add_argument("products", help="product material file (JSON or CSV)")
    parser.add_argument("--out", help="output directory")
    parser.add_argument("--variants", type=int, default=1)
    parser.add_argument("--writer", default="template", help="template or openai")
    parser.add_argument("--tts", help="piper or openai")
    args = parser.parse_args()
    final = make_remix(
        products=args.products,
        out=args.out,
        variants=args.variants,
        writer=args.writer,
        tts=args.tts,
        return_state=True,
    )
    if final.is_failed():
        print(f"error: {final.message}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps(final.result(), ensure_ascii=False, indent=2))
