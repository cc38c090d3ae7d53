"""The make-clips pipeline without Prefect: probe -> transcribe -> scenes -> selling points -> plan -> render.

One place holds what a run does and the rules it is judged by: each step's progress reports, what the store
records (the run, the probe, the transcript, the clips, or the failure with its step), the files written (the
transcript, the clips, ``clips.json``) and the truth rules (no clips is a failure; a forced language the audio
disagrees with is a warning, or part of the failure's reason when nothing was heard). Two callers run it:

- ``flows/make_clips.py`` wraps every step as a Prefect task (:class:`Steps`), adds the progress and clips
  artifacts, and turns :class:`PipelineFailed` into a Failed run;
- ``mcn clips make`` without a Prefect API runs it in-process with :class:`LocalSteps`, so a run's fixed cost is
  the cost of its imports, not of ``import prefect`` and a server (bench/bench_run_fixed_cost.py).

Nothing here imports Prefect. Expected failures of a step raise :class:`~clipper.errors.ClipperError` (or
:class:`StepFailed` from a caller's step that only has the reason); the pipeline records them and raises
:class:`PipelineFailed` with the one line to show.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from clipper.errors import ClipperError, RenderError
from clipper.urls import redact_url
from mcn import progress, store
from mcn.settings import get_settings

if TYPE_CHECKING:
    from clipper.detectors import DetectionResult
    from clipper.fetch import FetchOptions
    from clipper.planner import PlanOptions
    from clipper.render import RenderOptions
    from clipper.scenes import SceneCuts
    from clipper.transcribe import TranscribeOptions
    from clipper.types import MediaInfo, PlannedClip, Product, ProductSegment, RenderedClip, Transcript, Word

STEPS = ("probe", "transcribe", "scenes", "selling points", "plan", "render")

#: ``report(step, fraction, detail)``: a step's progress (the CLI's bars, the flow's progress artifact).
Report = Callable[[str, float, str], None]


@dataclass(frozen=True, slots=True)
class ClipsOptions:
    """What one make-clips run is asked for (the flow's parameters).

    ``products`` is a CSV/JSON product list; ``transcript`` an SRT/VTT used instead of speech recognition;
    ``language`` is ``auto``, ``zh`` or ``en``; ``detector`` overrides ``MCN_DETECTOR``; ``out`` defaults to
    ``<data dir>/renders/<run id>``; ``width`` x ``height`` is the rendered size, ``fps`` and ``preset`` (x264) its
    frame rate and encoder speed; ``brand`` is stored with the run's parameters."""

    products: str | None = None
    transcript: str | None = None
    language: str = "auto"
    max_clips: int = 10
    min_seconds: float = 15.0
    max_seconds: float = 60.0
    out: str | None = None
    detector: str | None = None
    width: int = 1080
    height: int = 1920
    fps: int = 30
    preset: str = "veryfast"
    brand: str | None = None


@dataclass(frozen=True, slots=True)
class MadeClips:
    """A run that made clips: ``manifest`` is what ``clips.json`` holds; ``warning`` the one line saying the clips
    may rest on a wrong transcript (a forced language the audio disagrees with), else ``None``."""

    run_id: str
    out_dir: Path
    manifest: dict[str, Any]
    clips: tuple[RenderedClip, ...]
    stats: dict[str, Any]
    warning: str | None = None

    def result(self) -> dict[str, Any]:
        """The manifest with the run's id and output folder (and the warning when there is one): what the flow
        returns and the CLI prints."""
        made = {**self.manifest, "run_id": self.run_id, "out_dir": str(self.out_dir)}
        return {**made, "warning": self.warning} if self.warning else made


class PipelineFailed(Exception):
    """The run failed at ``step`` (already recorded in the store); ``reason`` is the one line to show."""

    def __init__(self, step: str, reason: str) -> None:
        super().__init__(reason)
        self.step = step
        self.reason = reason


class StepFailed(Exception):
    """An expected failure of a step known only by its one-line reason (a Prefect task's Failed state)."""


_EXPECTED = (ClipperError, StepFailed)


class Steps(Protocol):
    """How the pipeline runs each step: in this process (:class:`LocalSteps`) or as Prefect tasks. Every method
    raises :class:`ClipperError` or :class:`StepFailed` for an expected failure."""

    def probe(self, source: str, downloads: Path, fetch: FetchOptions) -> tuple[str, MediaInfo]: ...

    def transcribe(
        self, info: MediaInfo, transcript_file: str | None, options: TranscribeOptions, cache_dir: Path
    ) -> tuple[Transcript, str | None]: ...

    def start_scenes(self, info: MediaInfo, ffmpeg: str | None) -> Callable[[], SceneCuts]:
        """Start scene detection (it runs beside speech recognition); return the call that waits for it."""
        ...

    def selling_points(
        self, transcript: Transcript, products: tuple[Product, ...], backend: str
    ) -> tuple[tuple[ProductSegment, ...], DetectionResult]: ...

    def plan(
        self,
        transcript: Transcript,
        detection: DetectionResult,
        segments: tuple[ProductSegment, ...],
        scenes: SceneCuts,
        options: PlanOptions,
    ) -> tuple[PlannedClip, ...]: ...

    def render(
        self,
        info: MediaInfo,
        plans: tuple[PlannedClip, ...],
        words: tuple[Word, ...],
        out_dir: Path,
        options: RenderOptions,
    ) -> list[RenderedClip]: ...


# -- the steps themselves -------------------------------------------------------------------------------------------


def probe_step(source: str, downloads: Path, fetch: FetchOptions) -> tuple[str, MediaInfo]:
    """Download ``source`` when it is a URL (the real one, credentials and all); probe the local file."""
    from clipper.fetch import download, is_url
    from clipper.media import probe

    local = str(download(source, downloads, fetch)) if is_url(source) else source
    return local, probe(local)


def _transcript_cache_key(info: MediaInfo, options: TranscribeOptions) -> str:
    stat = Path(info.path).stat()
    raw = json.dumps([str(Path(info.path).resolve()), stat.st_size, stat.st_mtime_ns, asdict(options)], sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()[:20]


def transcribe_step(
    info: MediaInfo, transcript_file: str | None, options: TranscribeOptions, cache_dir: Path, report: Report
) -> tuple[Transcript, str | None]:
    """ASR with faster-whisper (cached per file and options), or a supplied SRT/VTT. With a forced language,
    Whisper's own detection over the first 30 s also runs (cached beside the transcript); the second item is
    the one-line warning when it disagrees. Nothing heard with such a warning fails with both in the one line."""
    from clipper.manifest import write_json
    from clipper.subtitles import read_subtitles, transcript_from_json, transcript_to_json
    from clipper.transcribe import check_language, transcribe

    if transcript_file:
        return read_subtitles(transcript_file, options.language, media_duration=info.duration), None
    key = _transcript_cache_key(info, options)
    cache, checked = cache_dir / f"{key}.json", cache_dir / f"{key}.language.json"
    warning: str | None = None
    if options.language is not None:
        if checked.exists():
            warning = cast(str | None, json.loads(checked.read_text(encoding="utf-8"))["warning"])
        else:
            check = check_language(info.path, options)
            warning = check.warning() if check is not None and check.mismatch else None
            cache_dir.mkdir(parents=True, exist_ok=True)
            heard = {"heard": check.heard, "probability": check.probability} if check else {}
            write_json(checked, {"forced": options.language, **heard, "warning": warning})
    if cache.exists():
        return transcript_from_json(json.loads(cache.read_text(encoding="utf-8"))), warning
    try:
        result = transcribe(info.path, options, on_progress=lambda f: report("transcribe", f, ""))
    except ClipperError as exc:
        if warning is None:
            raise
        # nothing came out, and the forced language is the likely reason: say both in the one line
        raise StepFailed(f"{exc}; {warning}") from exc
    cache_dir.mkdir(parents=True, exist_ok=True)
    write_json(cache, transcript_to_json(result))
    return result, warning


def scenes_step(info: MediaInfo, ffmpeg: str | None) -> SceneCuts:
    from clipper.scenes import SceneOptions, detect_scenes

    return detect_scenes(info.path, SceneOptions(ffmpeg=ffmpeg))


def selling_points_step(
    transcript: Transcript, products: tuple[Product, ...], backend: str
) -> tuple[tuple[ProductSegment, ...], DetectionResult]:
    """Product (or topic) segments, then the selling points; LLM backends read ``MCN_LLM_*`` themselves."""
    from clipper.detectors import detect_selling_points
    from clipper.segments import find_product_segments, find_topic_segments

    if products:
        segments = find_product_segments(transcript.sentences, products, transcript.language)
    else:
        segments = find_topic_segments(transcript.sentences, transcript.language)
    return segments, detect_selling_points(transcript, segments, products, backend=backend)


def plan_step(
    transcript: Transcript,
    detection: DetectionResult,
    segments: tuple[ProductSegment, ...],
    scenes: SceneCuts,
    options: PlanOptions,
) -> tuple[PlannedClip, ...]:
    from clipper.planner import plan_clips

    return plan_clips(transcript, detection.points, segments, scenes, options, kinds=detection.kinds)


SKIPPED = "not rendered: another clip failed"


@dataclass(slots=True)
class RenderBoard:
    """The render step's shared progress: it sums the seconds each clip has written into one render fraction that
    only goes up (clips may render at once in threads), and after a clip failed it tells the clips not yet
    started to skip."""

    report: Report
    total: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    seconds: dict[str, float] = field(default_factory=dict)
    reported: float = 0.0
    failed: bool = False

    def clip(self, clip_id: str, seconds: float, duration: float) -> None:
        with self.lock:
            self.seconds[clip_id] = max(self.seconds.get(clip_id, 0.0), min(seconds, duration))
            fraction = min(sum(self.seconds.values()) / self.total, 1.0)
            if fraction > self.reported:
                self.reported = fraction
                self.report("render", fraction, clip_id)


def render_threads(workers: int, dask: str) -> int:
    """ffmpeg threads per clip: automatic (one per core) for one clip at a time or on a remote Dask worker; the
    cores shared out when ``workers`` clips render at once on this machine, so they do not oversubscribe it."""
    import os

    if workers <= 1 or dask not in ("", "local"):
        return 0
    return max(1, (os.cpu_count() or 1) // workers)


def render_step(
    info: MediaInfo,
    plans: tuple[PlannedClip, ...],
    words: tuple[Word, ...],
    out_dir: Path,
    options: RenderOptions,
    report: Report,
    workers: int = 1,
) -> list[RenderedClip]:
    """Render ``plans`` in this process, ``workers`` at once (threads); return the clips in plan order or raise
    the error of the first clip in plan order that failed. Clips not started after a failure are skipped.

    Progress is by seconds of video, not by clip count (a 60 s clip takes four times as long as a 15 s one)."""
    from clipper.render import render_clip

    report("render", 0.0, f"{len(plans)} clips")
    board = RenderBoard(report, sum(plan.duration for plan in plans) or 1.0)

    def one(plan: PlannedClip) -> RenderedClip | ClipperError | None:
        if board.failed:
            return None
        try:
            clip = render_clip(
                info, plan, words, out_dir / f"{plan.id}.mp4", options,
                on_progress=lambda seconds: board.clip(plan.id, seconds, plan.duration),
            )  # fmt: skip
        except ClipperError as exc:
            board.failed = True
            return exc
        board.clip(plan.id, plan.duration, plan.duration)
        return clip

    if workers <= 1:  # in this thread: Ctrl-C stops at once, not after the clip a pool thread is rendering
        outcomes = [one(plan) for plan in plans]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            outcomes = list(pool.map(one, plans))
    for outcome in outcomes:
        if isinstance(outcome, ClipperError):
            raise outcome
    rendered = [outcome for outcome in outcomes if outcome is not None and not isinstance(outcome, ClipperError)]
    if len(rendered) < len(plans):  # only skipped clips: should not happen, but never report success for them
        raise RenderError("render", "clips were skipped")
    report("render", 1.0, "")
    return rendered


@dataclass(frozen=True, slots=True)
class LocalSteps:
    """Every step in this process, no Prefect: scenes in a thread beside speech recognition, clips rendered one
    after another, or ``render_workers`` at once in threads (a Dask setting needs the flow's task runner and is not
    used here)."""

    report: Report = progress.report
    render_workers: int = 1

    def probe(self, source: str, downloads: Path, fetch: FetchOptions) -> tuple[str, MediaInfo]:
        return probe_step(source, downloads, fetch)

    def transcribe(
        self, info: MediaInfo, transcript_file: str | None, options: TranscribeOptions, cache_dir: Path
    ) -> tuple[Transcript, str | None]:
        return transcribe_step(info, transcript_file, options, cache_dir, self.report)

    def start_scenes(self, info: MediaInfo, ffmpeg: str | None) -> Callable[[], SceneCuts]:
        # a daemon thread: Ctrl-C during speech recognition ends the command without waiting for the scenes
        done: dict[str, Any] = {}

        def work() -> None:
            try:
                done["cuts"] = scenes_step(info, ffmpeg)
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting step, expected or not
                done["error"] = exc

        thread = threading.Thread(target=work, name="scenes", daemon=True)
        thread.start()

        def wait() -> SceneCuts:
            thread.join()
            if "error" in done:
                raise done["error"]
            return cast("SceneCuts", done["cuts"])

        return wait

    def selling_points(
        self, transcript: Transcript, products: tuple[Product, ...], backend: str
    ) -> tuple[tuple[ProductSegment, ...], DetectionResult]:
        return selling_points_step(transcript, products, backend)

    def plan(
        self,
        transcript: Transcript,
        detection: DetectionResult,
        segments: tuple[ProductSegment, ...],
        scenes: SceneCuts,
        options: PlanOptions,
    ) -> tuple[PlannedClip, ...]:
        return plan_step(transcript, detection, segments, scenes, options)

    def render(
        self,
        info: MediaInfo,
        plans: tuple[PlannedClip, ...],
        words: tuple[Word, ...],
        out_dir: Path,
        options: RenderOptions,
    ) -> list[RenderedClip]:
        return render_step(info, plans, words, out_dir, options, self.report, self.render_workers)


# -- the run ----------------------------------------------------------------------------------------------------------


def run_pipeline(
    source: str,
    options: ClipsOptions,
    *,
    steps: Steps | None = None,
    report: Report = progress.report,
    flow_run_id: str = "",
) -> MadeClips:
    """Make clips from ``source`` (a video file or an http(s) URL, the real one: it is shown and stored redacted)
    and record the run; raise :class:`PipelineFailed` with the one-line reason when a step fails or nothing was
    made. ``flow_run_id`` links the store's run row to its Prefect flow run (empty without Prefect)."""
    settings = get_settings()
    backend = options.detector or settings.detector
    params = {
        "products": options.products,
        "transcript": options.transcript,
        "language": options.language,
        "max_clips": options.max_clips,
        "min_seconds": options.min_seconds,
        "max_seconds": options.max_seconds,
        "detector": backend,
        "size": f"{options.width}x{options.height}",
        "brand": options.brand,
    }
    run_id, source_id = store.start_run("make_clips", source, params, flow_run_id=flow_run_id)
    out_dir = Path(options.out) if options.out else settings.resolved_data_dir / "renders" / run_id[:12]
    run = _Run(run_id, source_id, source, options, backend, out_dir, report)
    try:
        return run.steps(steps or LocalSteps(report, settings.render_workers))
    except PipelineFailed:
        raise
    except BaseException as exc:
        # Interrupted (Ctrl-C; a SIGTERM, which Prefect's engine turns into TerminationSignal and then reports the
        # run Crashed) or a bug: the run row must not stay 'running' for ever. Re-raised so the caller records it.
        kind = "interrupted" if not isinstance(exc, Exception) else "unexpected error"
        store.fail_run(run_id, run.step, source, f"{kind} during {run.step} ({type(exc).__name__})")
        raise


@dataclass(slots=True)
class _Run:
    run_id: str
    source_id: str
    source: str
    options: ClipsOptions
    backend: str
    out_dir: Path
    report: Report
    step: str = "input"  # the step the run is in, for the failure record of an interrupted run

    def failed(self, step: str, message: str | None) -> PipelineFailed:
        """Record the failure of ``step``; return the exception that ends the run with its one-line reason."""
        reason = message or f"{step} failed"
        store.fail_run(self.run_id, step, redact_url(self.source), reason)
        return PipelineFailed(step, reason)

    def steps(self, steps: Steps) -> MadeClips:
        from clipper.fetch import FetchOptions
        from clipper.manifest import build_manifest, write_json
        from clipper.planner import PlanOptions
        from clipper.products import load_products
        from clipper.render import RenderOptions
        from clipper.subtitles import transcript_to_json, write_srt
        from clipper.term_correction import product_terms
        from clipper.transcribe import TranscribeOptions
        from mcn.whisper_model import resolve_model

        settings = get_settings()
        data_dir = settings.resolved_data_dir
        options, report, out_dir = self.options, self.report, self.out_dir
        shown = redact_url(self.source)  # what is shown and stored; only the probe step gets the source itself
        try:
            product_list: tuple[Product, ...] = load_products(options.products) if options.products else ()
            plan_options = PlanOptions(
                min_seconds=options.min_seconds,
                max_seconds=options.max_seconds,
                max_clips=options.max_clips,
                id_prefix="clip",
            )
        except (ClipperError, ValueError) as exc:
            raise self.failed("input", str(exc)) from None
        if product_list:
            store.upsert_products(product_list)

        self.step = "probe"
        report("probe", 0.0, shown)
        fetch = FetchOptions(
            max_bytes=settings.max_download_bytes,
            deadline_seconds=settings.download_deadline_seconds,
            allow_private=settings.fetch_allow_private,
        )
        try:
            local_path, info = steps.probe(self.source, data_dir / "sources", fetch)
        except _EXPECTED as exc:
            raise self.failed("probe", str(exc)) from None
        store.record_probe(self.source_id, local_path, info)
        report("probe", 1.0, "")

        transcribe_options = TranscribeOptions(
            model=resolve_model(settings.whisper_model),
            model_zh=resolve_model(settings.whisper_model_zh) if settings.whisper_model_zh else None,
            device=settings.whisper_device,
            compute_type=settings.whisper_compute_type,
            cpu_threads=settings.whisper_threads,
            batch_size=settings.whisper_batch_size,
            language=None if options.language == "auto" else options.language,
            hotwords=tuple(name for p in product_list for name in p.names),
            # attributes too: the cached corpus transcripts the quality figures rest on were corrected towards them
            correction_terms=product_terms(product_list),
        )
        self.step = "transcribe"
        report("transcribe", 0.0, "from the file" if options.transcript else "speech recognition")
        scenes_done = steps.start_scenes(info, settings.ffmpeg)
        try:
            text, language_warning = steps.transcribe(
                info, options.transcript, transcribe_options, data_dir / "transcripts"
            )
        except _EXPECTED as exc:
            with contextlib.suppress(*_EXPECTED):
                scenes_done()  # not left running after the run ended
            raise self.failed("transcribe", str(exc)) from None
        report("transcribe", 1.0, f"{len(text.sentences)} sentences")
        try:
            scenes = scenes_done()
        except _EXPECTED as exc:
            raise self.failed("scenes", str(exc)) from None
        report("scenes", 1.0, f"{len(scenes.cuts)} cuts")

        out_dir.mkdir(parents=True, exist_ok=True)
        transcript_path = out_dir / "transcript.json"
        write_json(transcript_path, transcript_to_json(text))
        write_srt(text, out_dir / "transcript.srt")
        store.record_transcript(
            self.source_id, text.language, text.origin, str(transcript_path), len(text.sentences), len(text.words)
        )

        self.step = "selling points"
        try:
            segments, detection = steps.selling_points(text, product_list, self.backend)
        except _EXPECTED as exc:
            raise self.failed("selling points", str(exc)) from None
        report("selling points", 1.0, f"{len(detection.points)} points")
        if detection.kinds:
            write_json(transcript_path, transcript_to_json(text, detection.kinds))

        self.step = "plan"
        plans = steps.plan(text, detection, segments, scenes, plan_options)
        report("plan", 1.0, f"{len(plans)} clips")
        if not plans:
            # A run that made nothing is not a success: it fails, with why.
            raise self.failed(
                "plan",
                f"no clips: no selling-point range of {options.min_seconds:.0f}-{options.max_seconds:.0f} s in "
                f"{len(text.sentences)} sentences ({len(detection.points)} selling points found)"
                + (f"; {language_warning}" if language_warning else ""),
            )

        self.step = "render"
        render_options = RenderOptions(
            ffmpeg=settings.ffmpeg,
            font_family=settings.font_family,
            produce_id_prefix=f"{self.run_id[:12]}-",
            width=options.width,
            height=options.height,
            fps=options.fps,
            preset=options.preset,
            threads=render_threads(settings.render_workers, settings.render_dask),
        )
        try:
            rendered = steps.render(info, plans, tuple(text.words), out_dir, render_options)
        except _EXPECTED as exc:
            raise self.failed("render", str(exc)) from None

        manifest = build_manifest(shown, info.duration, text.language, rendered, out_dir)
        write_json(out_dir / "clips.json", manifest)
        store.record_clips(self.run_id, self.source_id, rendered)
        stats = {
            "clips": len(rendered),
            "sentences": len(text.sentences),
            "segments": len(segments),
            "detector": detection.backend,
            "llm_calls": detection.calls,
            "prompt_tokens": detection.prompt_tokens,
            "completion_tokens": detection.completion_tokens,
            "llm_cost": detection.cost,
            "fallbacks": detection.fallbacks,
            "out_dir": str(out_dir),
            "warning": language_warning,
        }
        store.finish_run(self.run_id, stats)
        return MadeClips(self.run_id, out_dir, manifest, tuple(rendered), stats, language_warning)
