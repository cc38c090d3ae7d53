"""make-clips' render step fans out: one ``render clip`` task run per clip through the step's task runner (threads
in the run's process by default, prefect-dask's DaskTaskRunner across processes or machines), with one monotone
render fraction, clips in plan order and the first failure as the run's one line."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import lavfi_video

CLIP_SECONDS = 3.0


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from clipper.media import probe

    folder = tmp_path_factory.mktemp("fanout")
    video = lavfi_video(folder / "src.mp4", "testsrc2=s=320x240:r=25:d=12", "sine=f=440:r=16000:d=12")
    return probe(str(video))


def _plans(count: int, *, beyond_end: int | None = None) -> tuple[Any, ...]:
    from clipper.types import PlannedClip

    plans = []
    for i in range(count):
        start = 60.0 if i == beyond_end else 1.0 + i * CLIP_SECONDS  # a range past the 12 s source cannot render
        plans.append(
            PlannedClip(
                id=f"clip-{i + 1:02d}", source_start=start, source_end=start + CLIP_SECONDS, sentences=(),
                product_id=None, points=(), hook=f"hook {i + 1}", title=f"title {i + 1}", score=1.0 - i / 10,
                reason="test",
            )
        )  # fmt: skip
    return tuple(plans)


def _render(source: Any, plans: tuple[Any, ...], out: Path, workers: int, dask: str = "") -> tuple[Any, list[Any]]:
    """Run the render step inside a flow; return its result and the render fractions the CLI sink saw."""
    from prefect import flow

    import flows.make_clips as make
    from clipper.render import RenderOptions
    from mcn import progress

    options = RenderOptions(width=180, height=320, fps=15, captions=False, threads=make.render_threads(workers, dask))
    seen: list[float] = []

    @flow(name="render-fanout-test")
    def render_flow() -> Any:
        tracker = make._Tracker(None)
        return make.render_clips_step(source, plans, (), out, options, tracker, make.render_task_runner(workers, dask))

    progress.set_sink(lambda step, fraction, detail: seen.append(fraction) if step == "render" else None)
    try:
        state = render_flow(return_state=True)
    finally:
        progress.set_sink(None)
    return (state if state.is_failed() else state.result()), seen


def _task_runs(name_prefix: str) -> list[Any]:
    """This module's task runs named like ``name_prefix`` (the server is the session's: other modules' make-clips
    runs have ``render clip-01`` tasks too)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName, TaskRunFilter, TaskRunFilterName

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["render-fanout-test"])),
            task_run_filter=TaskRunFilter(name=TaskRunFilterName(like_=name_prefix)),
        )
    return list(runs)


def test_two_threads_render_each_clip_as_its_own_task_run_in_plan_order(
    prefect_server: None, source: Any, tmp_path: Path
) -> None:
    from clipper.media import probe
    from clipper.types import RenderedClip

    plans = _plans(3)
    result, seen = _render(source, plans, tmp_path / "out", workers=2)
    assert isinstance(result, list) and [c.plan.id for c in result] == [p.id for p in plans]
    for clip in result:
        assert isinstance(clip, RenderedClip)
        info = probe(clip.path)
        assert (info.width, info.height) == (180, 320) and abs(info.duration - CLIP_SECONDS) < 0.5
    # one task run per clip, each finished Completed, named after its clip
    for plan in plans:
        runs = [r for r in _task_runs(f"render {plan.id}") if r.state and r.state.is_completed()]
        assert runs, plan.id
    # one fraction for the step, only going up, though two clips report at once
    during = [f for f in seen if 0.0 < f < 1.0]
    # (at least each finished clip moves it; ffmpeg's own progress lines inside a clip depend on the machine's speed)
    assert seen[0] == 0.0 and seen[-1] == 1.0 and during == sorted(during), seen
    assert len(set(during)) >= len(plans) - 1, seen


@pytest.mark.expect_error_logs
def test_a_failed_clip_fails_the_step_with_its_line_and_later_clips_are_skipped(
    prefect_server: None, source: Any, tmp_path: Path
) -> None:
    from prefect.states import State

    plans = _plans(3, beyond_end=1)
    out = tmp_path / "out"
    result, _ = _render(source, plans, out, workers=1)
    assert isinstance(result, State) and result.is_failed()
    message = result.message or ""
    assert "\n" not in message and "clip-02" in message and "after the source's end" in message, message
    # one at a time (the default) stops at the failure, as the sequential render did: clip-03 is not rendered
    assert (out / "clip-01.mp4").is_file()
    assert not (out / "clip-02.mp4").exists() and not (out / "clip-03.mp4").exists()


@pytest.mark.slow  # a Dask LocalCluster and its worker process start: ~30-65 s on 2 busy cores
def test_dask_local_cluster_renders_the_clips_in_another_process(
    prefect_server: None, source: Any, tmp_path: Path
) -> None:
    plans = _plans(2)
    started = time.monotonic()
    result, seen = _render(source, plans, tmp_path / "out", workers=1, dask="local")
    assert isinstance(result, list) and [c.plan.id for c in result] == [p.id for p in plans], result
    assert all(Path(c.path).is_file() for c in result)
    # progress comes from the flow as each clip's task ends (the clips rendered in Dask's worker process)
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen), seen
    assert time.monotonic() - started < 120


def test_render_runner_and_threads_by_setting() -> None:
    from prefect.task_runners import ThreadPoolTaskRunner

    from flows.make_clips import render_task_runner, render_threads

    runner = render_task_runner()
    assert isinstance(runner, ThreadPoolTaskRunner) and runner._max_workers == 1  # one box: one clip at a time
    assert render_threads(1, "") == 0  # ffmpeg picks its threads, as before
    assert render_threads(2, "") == max(1, (os.cpu_count() or 1) // 2)  # two at once share the cores
    assert render_threads(4, "tcp://scheduler:8786") == 0  # a remote worker's cores are its own
    with pytest.raises(ValueError, match="at least 1"):
        render_task_runner(0)
