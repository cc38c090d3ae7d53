"""Make ranked 9:16 selling-point clips from one livestream recording.

Tasks: probe -> transcribe -> scenes -> selling points -> plan -> render. What each step does, what a run records
and when it counts as failed live in :mod:`mcn.clips_pipeline` (no Prefect there); this flow runs those steps as
task runs, fans the render out over a task runner, names and tags the run, and writes the progress and clips
artifacts. Every setting is a flow parameter (defaults come from ``MCN_*`` settings). Expected failures (bad media,
bad CSV, no speech, no clips, a render that does not probe right) end the run *Failed* with a one-line reason
recorded in the database and shown in the Prefect UI, without a traceback. Run it directly::

    python flows/make_clips.py path/to/stream.mp4 --products products.csv

or through ``mcn clips make`` (which, when no Prefect API is configured, runs :mod:`mcn.clips_pipeline` in its own
process instead, unrecorded in Prefect). Run directly, it uses a local ephemeral Prefect server unless
``PREFECT_API_URL`` is set. A source URL with credentials or a token goes in through :func:`hand_over_source`,
never as a parameter.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

from prefect import flow, runtime, task
from prefect.artifacts import create_progress_artifact, create_table_artifact, update_progress_artifact
from prefect.client.orchestration import get_client
from prefect.futures import as_completed
from prefect.states import Cancelled, Completed, Failed, State
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from clipper.detectors import DetectionResult
from clipper.errors import ClipperError, DownloadError
from clipper.fetch import FetchOptions
from clipper.planner import PlanOptions
from clipper.render import RenderOptions, render_clip
from clipper.scenes import SceneCuts
from clipper.transcribe import TranscribeOptions
from clipper.types import MediaInfo, PlannedClip, Product, ProductSegment, RenderedClip, Transcript, Word
from clipper.urls import REDACTED, redact_url
from mcn import progress
from mcn.clips_pipeline import (
    SKIPPED,
    STEPS,
    ClipsOptions,
    PipelineFailed,
    RenderBoard,
    StepFailed,
    plan_step,
    probe_step,
    render_threads,
    run_pipeline,
    scenes_step,
    selling_points_step,
    transcribe_step,
)
from mcn.settings import get_settings

__all__ = [
    "STEPS",
    "STEP_WEIGHTS",
    "brand_tag",
    "hand_over_source",
    "make_clips",
    "overall_percent",
    "render_clips_step",
    "render_task_runner",
    "render_threads",
    "run_name",
]

# A source URL with credentials or a token must never become a flow parameter: Prefect stores parameters in its
# database and shows them in the UI. So the caller passes the redacted URL as ``source`` and lends the real one to
# this process's memory for the length of the call (hand_over_source); the probe task looks it up here. Flows run
# in the caller's process (``mcn clips make``, ``python flows/make_clips.py``), so nothing is written anywhere and
# no secret store is needed. A run started elsewhere (a deployment on a worker) finds no entry and fails with one
# clear line instead of fetching a URL with *** in it.
_LENT_SOURCES: dict[str, str] = {}
_LENT_LOCK = threading.Lock()


@contextmanager
def hand_over_source(source: str) -> Iterator[str]:
    """Yield what to pass as the flow's ``source``: ``source`` itself, or, when it carries credentials or a
    token, its redacted form, while the real URL is lent to this process's flow runs until the block ends."""
    shown = redact_url(source)
    if shown == source:
        yield source
        return
    with _LENT_LOCK:
        _LENT_SOURCES[shown] = source
    try:
        yield shown
    finally:
        with _LENT_LOCK:
            if _LENT_SOURCES.get(shown) == source:
                del _LENT_SOURCES[shown]


def _real_source(source: str) -> str:
    """The URL to fetch for the flow's ``source``: the lent real URL, or ``source`` itself."""
    with _LENT_LOCK:
        real = _LENT_SOURCES.get(source)
    if real is not None:
        return real
    if REDACTED in source:
        raise DownloadError(
            source, "its credentials were redacted and are not available to this run (start it with mcn clips make)"
        )
    return source


class _ReturnedFailureFilter(logging.Filter):
    """Drops Prefect's two task-run log lines for a task that *returned* a Failed state (how these flows report an
    expected failure): "Task run failed with state: ..." logged with ``exc_info=True`` outside any exception (so
    it ends in "NoneType: None") and the task's "Finished in state Failed(...)". The task run still shows Failed
    with its message, and the flow's "Finished in state Failed('<reason>')" is the one line the operator reads.
    A task that raised keeps all its lines and its traceback (its first line says "with exception")."""

    def __init__(self) -> None:
        super().__init__()
        self._returned: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        run = str(getattr(record, "task_run_id", ""))
        message = str(record.msg)
        if message.startswith("Task run failed with state: Failed("):
            self._returned.add(run)
            return False
        if message.startswith("Finished in state Failed(") and run in self._returned:
            self._returned.discard(run)
            return False
        # a clip the render step skipped after another clip failed: the failed clip's line is the one to read
        return not message.startswith(f"Finished in state Cancelled('{SKIPPED}')")


_FAILURE_FILTER = _ReturnedFailureFilter()
if _FAILURE_FILTER not in logging.getLogger("prefect.task_runs").filters:
    logging.getLogger("prefect.task_runs").addFilter(_FAILURE_FILTER)


# Each step's share of a run's wall time, measured on the 73 s English sample stream (ASR with whisper base int8
# on 2 cores, ten 1080x1920 renders): probe 0.1 s, transcribe 18.0 s (scenes runs beside it), selling points
# 0.4 s, plan 0.3 s, render 35.1 s. Render is most of the work, so the artifact's percentage follows it.
STEP_WEIGHTS = {"probe": 0.01, "transcribe": 0.32, "scenes": 0.01, "selling points": 0.01, "plan": 0.01, "render": 0.64}
# The progress artifact is a synchronous Prefect API call: written at most this often (and at every step's start
# and end), while the CLI sink gets every report (about twice a second while ffmpeg renders).
ARTIFACT_INTERVAL = 2.0


def overall_percent(step: str, fraction: float) -> float:
    """The run's progress in percent when ``step`` is ``fraction`` done, weighted by :data:`STEP_WEIGHTS`."""
    before = sum(STEP_WEIGHTS[s] for s in STEPS[: STEPS.index(step)])
    return round(min(100.0, (before + STEP_WEIGHTS[step] * min(max(fraction, 0.0), 1.0)) * 100), 1)


@dataclass(slots=True)
class _Tracker:
    """Forwards step progress to the CLI sink (every report) and the run's Prefect progress artifact (throttled).

    No lock: reports come from one task at a time (scenes, which runs beside transcribe, reports nothing; clips
    rendering at once report through their render board's lock), and a race would only skip or repeat one
    artifact write. Kept picklable so Prefect can hash task inputs."""

    artifact_id: Any
    interval: float = ARTIFACT_INTERVAL
    _written_at: float = float("-inf")
    _written: tuple[str, float] = ("", -1.0)
    writes: int = 0

    def __call__(self, step: str, fraction: float, detail: str = "") -> None:
        progress.report(step, fraction, detail)
        if self.artifact_id is None:
            return
        now = time.monotonic()
        overall = overall_percent(step, fraction)
        boundary = fraction <= 0.0 or fraction >= 1.0
        if (step, overall) == self._written or (not boundary and now - self._written_at < self.interval):
            return
        self._written_at, self._written, self.writes = now, (step, overall), self.writes + 1
        update_progress_artifact(self.artifact_id, overall, description=f"{step}: {detail or f'{fraction:.0%}'}")


def _expected(func: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a step; turn an expected error into a Failed task state (no traceback in the logs)."""
    try:
        return func(*args, **kwargs)
    except (ClipperError, StepFailed) as exc:
        return Failed(message=str(exc), data=exc)


@task(name="probe")
def probe_task(source: str, downloads: Path, fetch: FetchOptions) -> tuple[str, MediaInfo] | State:
    return _expected(lambda: probe_step(_real_source(source), downloads, fetch))


@task(name="transcribe")
def transcribe_task(
    info: MediaInfo, transcript_file: str | None, options: TranscribeOptions, cache_dir: Path, tracker: _Tracker
) -> tuple[Transcript, str | None] | State:
    """ASR with faster-whisper (cached per file and options), or a supplied SRT/VTT (:func:`transcribe_step`)."""
    return _expected(transcribe_step, info, transcript_file, options, cache_dir, tracker)


@task(name="scenes")
def scenes_task(info: MediaInfo, ffmpeg: str | None) -> SceneCuts | State:
    return _expected(scenes_step, info, ffmpeg)


@task(name="selling points")
def selling_points_task(
    transcript: Transcript, products: tuple[Product, ...], backend: str
) -> tuple[tuple[ProductSegment, ...], DetectionResult] | State:
    """Product (or topic) segments, then the selling points; LLM backends read ``MCN_LLM_*`` themselves."""
    return _expected(selling_points_step, transcript, products, backend)


@task(name="plan")
def plan_task(
    transcript: Transcript,
    detection: DetectionResult,
    segments: tuple[ProductSegment, ...],
    scenes: SceneCuts,
    options: PlanOptions,
) -> tuple[PlannedClip, ...]:
    return plan_step(transcript, detection, segments, scenes, options)


# Rendering fans out: one task run per clip, submitted to a task runner that the render step opens for itself
# (render_task_runner), so the flow's own runner, which probe/scenes/transcribe share, stays as it is. By default
# a thread pool of MCN_RENDER_WORKERS=1 in the flow's process renders the clips one after another, as before: ffmpeg
# already uses every core, so two at once on one box only compete. MCN_RENDER_DASK spreads them with prefect-dask:
# "local" (a Dask LocalCluster of MCN_RENDER_WORKERS processes) or the address of a Dask scheduler whose workers run
# on other machines (they need the image, the data volume and the Prefect API, like a Prefect worker). A clip task
# finds the step's RenderBoard (progress, skip after a failure) by token when it runs in the flow's process; one
# rendered in another process (Dask) finds none, and the flow counts it when its task ends.
_RENDER_BOARDS: dict[str, RenderBoard] = {}
_BOARDS_LOCK = threading.Lock()


def _board(token: str) -> RenderBoard | None:
    with _BOARDS_LOCK:
        return _RENDER_BOARDS.get(token)


@contextmanager
def _lend_board(token: str, board: RenderBoard) -> Iterator[None]:
    with _BOARDS_LOCK:
        _RENDER_BOARDS[token] = board
    try:
        yield
    finally:
        with _BOARDS_LOCK:
            _RENDER_BOARDS.pop(token, None)


def render_task_runner(workers: int = 1, dask: str = "") -> TaskRunner[Any]:
    """The task runner the render step submits its clips to.

    Args:
        workers: clips rendered at once (threads, or local Dask worker processes).
        dask: empty for threads in this process; ``local`` for a Dask LocalCluster of ``workers`` single-threaded
            processes; else the address of a running Dask scheduler (``tcp://host:8786``), whose workers render.
    """
    if workers < 1:
        raise ValueError("render workers must be at least 1")
    if not dask:
        return ThreadPoolTaskRunner(max_workers=workers)
    from prefect_dask import DaskTaskRunner

    if dask == "local":
        return DaskTaskRunner(
            cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True, "dashboard_address": None}
        )
    return DaskTaskRunner(address=dask)


@task(name="render clip", task_run_name="render {plan.id}")
def render_clip_task(
    info: MediaInfo, plan: PlannedClip, words: tuple[Word, ...], out_path: Path, options: RenderOptions, board: str
) -> RenderedClip | State:
    """Render one clip; progress and the skip after a failed clip go through the board when it is in this process."""
    shared = _board(board)
    if shared is not None and shared.failed:
        return Cancelled(message=SKIPPED)

    def on_progress(seconds: float) -> None:
        if shared is not None:
            shared.clip(plan.id, seconds, plan.duration)

    result = _expected(render_clip, info, plan, words, out_path, options, on_progress=on_progress)
    if shared is not None and isinstance(result, State):
        shared.failed = True
    return cast(RenderedClip | State, result)


def render_clips_step(
    info: MediaInfo,
    plans: tuple[PlannedClip, ...],
    words: tuple[Word, ...],
    out_dir: Path,
    options: RenderOptions,
    tracker: _Tracker,
    runner: TaskRunner[Any],
) -> list[RenderedClip] | State:
    """Render ``plans`` (inside a flow) as one ``render clip`` task run each through ``runner``; return the clips
    in plan order, or the Failed state of the first clip in plan order that failed (its one-line reason).

    Progress is by seconds of video, not by clip count (a 60 s clip takes four times as long as a 15 s one), summed
    over the clips rendering at once."""
    total = sum(plan.duration for plan in plans) or 1.0
    tracker("render", 0.0, f"{len(plans)} clips")
    board = RenderBoard(tracker, total)
    token = uuid.uuid4().hex
    states: dict[str, State[Any]] = {}
    results: dict[str, RenderedClip] = {}
    with _lend_board(token, board), runner:
        futures = {
            runner.submit(
                render_clip_task,
                {"info": info, "plan": plan, "words": words, "out_path": out_dir / f"{plan.id}.mp4"}
                | {"options": options, "board": token},
            ): plan
            for plan in plans
        }
        for future in as_completed(list(futures)):
            plan = futures[future]
            future.wait()  # sets the final state the task returned; .state alone may read a lagging API record
            state = future.state
            states[plan.id] = state
            if state.is_completed():
                results[plan.id] = cast(RenderedClip, future.result())
                board.clip(plan.id, plan.duration, plan.duration)
            else:
                board.failed = True
    for plan in plans:
        state = states[plan.id]
        if not state.is_completed() and not state.is_cancelled():
            return Failed(message=state.message or f"render of {plan.id} failed")
    if len(results) < len(plans):  # only skipped clips: should not happen, but never report success for them
        return Failed(message="render: clips were skipped")
    tracker("render", 1.0)
    return [results[plan.id] for plan in plans]


def run_name(source: str, brand: str | None, products: str | None, when: datetime | None = None) -> str:
    """What the Prefect UI lists a run as: the brand (else the products file's stem), the source's file name
    and the local start time, e.g. ``acme · stream-0412.mp4 · 2026-12-01 17:40``. ``source`` is the redacted
    form, and only its path's last part is used, so no query or user info shows."""
    subject = (brand or "").strip() or (Path(products).stem if products else "")
    name = Path(urlsplit(source).path if "://" in source else source).name or "source"
    stamp = (when or datetime.now()).strftime("%Y-%m-%d %H:%M")
    return " · ".join(part for part in (subject[:60], name[:80], stamp) if part)


def _flow_run_name() -> str:
    params = runtime.flow_run.parameters
    return run_name(str(params.get("source", "")), params.get("brand"), params.get("products"))


def brand_tag(brand: str) -> str:
    """The run tag of a brand (filterable in the Prefect UI's runs list)."""
    return f"brand:{brand.strip()}"


def _tag_brand(brand: str | None) -> None:
    """Add the brand's tag to this run. Tags are fixed when a run is created, so a run started from a deployment
    or the CLI gets it here, from its ``brand`` parameter, the same way."""
    if not brand or not brand.strip() or runtime.flow_run.id is None:
        return
    tags = list(runtime.flow_run.tags or [])
    if brand_tag(brand) not in tags:
        with get_client(sync_client=True) as client:
            client.update_flow_run(runtime.flow_run.id, tags=[*tags, brand_tag(brand)])


class _PrefectSteps:
    """The pipeline's steps as task runs of this flow (:class:`mcn.clips_pipeline.Steps`): a task that returned a
    Failed state raises :class:`StepFailed` with its message, which the pipeline records as the step's failure."""

    def __init__(self, tracker: _Tracker, render_workers: int, render_dask: str) -> None:
        self.tracker = tracker
        self.render_workers, self.render_dask = render_workers, render_dask

    @staticmethod
    def _value(state: State[Any]) -> Any:
        if state.is_failed():
            raise StepFailed(state.message or "failed")
        return state.result()

    def probe(self, source: str, downloads: Path, fetch: FetchOptions) -> tuple[str, MediaInfo]:
        # ``source`` is the redacted form; the task looks the real URL up (hand_over_source)
        return cast(tuple[str, MediaInfo], self._value(probe_task(source, downloads, fetch, return_state=True)))

    def transcribe(
        self, info: MediaInfo, transcript_file: str | None, options: TranscribeOptions, cache_dir: Path
    ) -> tuple[Transcript, str | None]:
        state = transcribe_task(info, transcript_file, options, cache_dir, self.tracker, return_state=True)
        return cast(tuple[Transcript, str | None], self._value(state))

    def start_scenes(self, info: MediaInfo, ffmpeg: str | None) -> Callable[[], SceneCuts]:
        future = scenes_task.submit(info, ffmpeg)

        def wait() -> SceneCuts:
            future.wait()
            return cast(SceneCuts, self._value(future.state))

        return wait

    def selling_points(
        self, transcript: Transcript, products: tuple[Product, ...], backend: str
    ) -> tuple[tuple[ProductSegment, ...], DetectionResult]:
        state = selling_points_task(transcript, products, backend, return_state=True)
        return cast(tuple[tuple[ProductSegment, ...], DetectionResult], self._value(state))

    def plan(
        self,
        transcript: Transcript,
        detection: DetectionResult,
        segments: tuple[ProductSegment, ...],
        scenes: SceneCuts,
        options: PlanOptions,
    ) -> tuple[PlannedClip, ...]:
        return plan_task(transcript, detection, segments, scenes, options)

    def render(
        self,
        info: MediaInfo,
        plans: tuple[PlannedClip, ...],
        words: tuple[Word, ...],
        out_dir: Path,
        options: RenderOptions,
    ) -> list[RenderedClip]:
        runner = render_task_runner(self.render_workers, self.render_dask)
        rendered = render_clips_step(info, plans, words, out_dir, options, self.tracker, runner)
        if isinstance(rendered, State):
            raise StepFailed(rendered.message or "render failed")
        return rendered


@flow(name="make-clips", flow_run_name=_flow_run_name, log_prints=True)
def make_clips(
    source: str,
    products: str | None = None,
    transcript: str | None = None,
    language: str = "auto",
    max_clips: int = 10,
    min_seconds: float = 15.0,
    max_seconds: float = 60.0,
    out: str | None = None,
    detector: str | None = None,
    width: int = 1080,
    height: int = 1920,
    brand: str | None = None,
    fps: int = 30,
    preset: str = "veryfast",
) -> dict[str, Any] | State:
    """Make clips from ``source`` (a video file or an http(s) URL) into ``out``; return the manifest.

    A URL with credentials or a token: call inside ``with hand_over_source(url) as source:`` and pass that
    ``source`` (the redacted URL), so the secret never reaches Prefect's stored parameters.

    ``products`` is a CSV/JSON product list; ``transcript`` an SRT/VTT used instead of ASR; ``language`` is
    ``auto``, ``zh`` or ``en``; ``detector`` overrides ``MCN_DETECTOR`` (heuristic, openai, transformers);
    ``width`` x ``height`` is the rendered size (9:16; the demo renders smaller to stay quick), ``fps`` and
    ``preset`` (x264) its frame rate and encoder speed (the demo: 15 fps, ultrafast). ``brand`` names
    the run (with the source's file name and the date; without it, the products file's stem stands in) and tags
    it ``brand:<brand>``.
    """
    _tag_brand(brand)
    settings = get_settings()
    options = ClipsOptions(
        products=products, transcript=transcript, language=language, max_clips=max_clips,
        min_seconds=min_seconds, max_seconds=max_seconds, out=out, detector=detector, width=width, height=height,
        fps=fps, preset=preset, brand=brand,
    )  # fmt: skip
    shown = redact_url(source)
    tracker = _Tracker(create_progress_artifact(0.0, description=f"make clips: {shown}"))
    try:
        made = run_pipeline(
            source,
            options,
            steps=_PrefectSteps(tracker, settings.render_workers, settings.render_dask),
            report=tracker,
            flow_run_id=str(runtime.flow_run.id or ""),
        )
    except PipelineFailed as exc:
        # No log line of our own: Prefect logs the final state with this reason, and one message is enough.
        return Failed(message=exc.reason)
    create_table_artifact(
        [
            {
                "rank": i,
                "id": c["id"],
                # a markdown link to a file:// URL, and the plain absolute path to copy
                "clip": f"[{Path(c['path']).name}]({(made.out_dir / c['path']).resolve().as_uri()})",
                "duration": f"{c['duration']:.1f} s",
                "product": c["product"] or "",
                "start": c["source_start"],
                "end": c["source_end"],
                "score": c["score"],
                "title": c["title"],  # whole: never shortened for the table
                "hook": c["hook"],
                "path": str((made.out_dir / c["path"]).resolve()),
            }
            for i, c in enumerate(made.manifest["clips"], start=1)
        ],
        key="clips",
        description=f"Clips from {shown} (run {made.run_id[:12]}), best first; files in {made.out_dir}",
    )
    if made.warning:
        # Clips were made, but they may rest on a wrong transcript: Completed, with the warning as its message.
        return Completed(message=made.warning, data=made.result())
    return made.result()


if __name__ == "__main__":
    # One runnable flow per file; the CLI (`mcn clips make`) sits above this module and adds progress bars.
    import argparse
    import json
    import sys

    parser = argparse.ArgumentParser(description=(__doc__ or "make clips").splitlines()[0])
    parser.add_argument("source", help="video file or http(s) URL")
    parser.add_argument("--products", help="products CSV/JSON")
    parser.add_argument("--transcript", help="SRT/VTT/JSON transcript to use instead of ASR")
    parser.add_argument("--language", default="auto")
    parser.add_argument("--max-clips", type=int, default=10)
    parser.add_argument("--out", help="output directory")
    parser.add_argument("--detector", help="heuristic, learned or openai")
    args = parser.parse_args()
    with hand_over_source(args.source) as source:
        final = make_clips(
            source=source,
            products=args.products,
            transcript=args.transcript,
            language=args.language,
            max_clips=args.max_clips,
            out=args.out,
            detector=args.detector,
            return_state=True,
        )
    if final.is_failed():
        print(f"error: {final.message}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps(final.result(), ensure_ascii=False, indent=2))
