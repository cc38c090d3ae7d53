"""Benchmark make-clips' render fan-out: the same clips rendered by 1 and by 2 local workers, in the same run.

The render step (flows/make_clips.py ``render_clips_step``) submits one ``render clip`` task run per clip to its task
runner. This renders ``--clips`` clips of ``--seconds`` s each (1080x1920 by default, captions off) from a generated
1280x720 30 fps recording, four ways, each inside a Prefect flow on a temporary Prefect server:

* threads, 1 worker: ``ThreadPoolTaskRunner(max_workers=1)``, the default (MCN_RENDER_WORKERS=1), ffmpeg threads
  automatic (one per core): the baseline;
* threads, 2 workers: two clips at once, ffmpeg's threads shared out (cores / 2 each);
* dask, 1 and 2 workers: prefect-dask's ``DaskTaskRunner`` on a LocalCluster of 1 or 2 single-threaded worker
  processes started, with flows.make_clips imported, before the clock (as a Dask cluster of render machines would
  be: MCN_RENDER_DASK=tcp://...), ffmpeg threads as above;
* dask-cold (``--runners threads,dask,dask-cold``): MCN_RENDER_DASK=local, the cluster started inside the step,
  so its start-up (worker processes importing Prefect and mcn) is timed too.

It prints each wall time and the ratio of the 1-worker time to the 2-worker time per runner (above 1: two workers
are faster). On one machine two workers share its cores with ffmpeg's own threads, so expect little gain there;
the fan-out pays when the Dask workers are on other machines. The load average is printed before and after: other
work on the machine skews the ratio.

Run: ``.venv/bin/python bench/bench_render_fanout.py [--clips 4] [--seconds 10] [--size 1080x1920]``
(needs prefect-dask: the ``deploy`` or ``dev`` extra).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_source(path: Path, seconds: float) -> None:
    from clipper.ffmpeg import locate_ffmpeg

    subprocess.run(
        [
            locate_ffmpeg(None), "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc2=s=1280x720:r=30:d={seconds}",
            "-f", "lavfi", "-i", f"sine=f=440:r=44100:d={seconds}",
            "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", str(path),
        ],
        check=True,
    )  # fmt: skip


def plans(count: int, seconds: float) -> tuple[Any, ...]:
    from clipper.types import PlannedClip

    return tuple(
        PlannedClip(
            id=f"clip-{i + 1:02d}", source_start=1.0 + i * seconds, source_end=1.0 + (i + 1) * seconds,
            sentences=(), product_id=None, points=(), hook=f"hook {i + 1}", title=f"title {i + 1}", score=1.0,
            reason="bench",
        )
        for i in range(count)
    )  # fmt: skip


def run(info: Any, clips: tuple[Any, ...], out: Path, workers: int, dask: str, size: tuple[int, int]) -> float:
    """Wall seconds of one render step (the task runner's start-up included)."""
    from prefect import flow

    import flows.make_clips as make
    from clipper.render import RenderOptions

    # the workers share this machine's cores, whatever the address says
    threads = make.render_threads(workers, "local" if dask else "")
    options = RenderOptions(width=size[0], height=size[1], captions=False, threads=threads)

    @flow(name=f"bench-render-{'dask' if dask else 'threads'}-{workers}")
    def render() -> Any:
        return make.render_clips_step(
            info, clips, (), out, options, make._Tracker(None), make.render_task_runner(workers, dask)
        )

    started = time.perf_counter()
    result = render()
    elapsed = time.perf_counter() - started
    if not isinstance(result, list) or len(result) != len(clips):
        raise SystemExit(f"bench: render failed: {getattr(result, 'message', result)}")
    return elapsed


@contextmanager
def warm_cluster(workers: int) -> Iterator[str]:
    """A Dask LocalCluster of ``workers`` single-threaded processes, started and idle; its scheduler address."""
    if not workers:
        yield ""
        return
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR
        ) as cluster,
        Client(cluster) as client,
    ):
        # a render machine's worker has imported Prefect and mcn long before a run: not timed here
        client.run(importlib.import_module, "flows.make_clips")
        yield str(cluster.scheduler_address)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--size", default="1080x1920")
    parser.add_argument("--runners", default="threads,dask")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    logging.getLogger("distributed").setLevel(logging.ERROR)
    from prefect.testing.utilities import prefect_test_harness

    from clipper.media import probe

    print(f"cpus {os.cpu_count()}, load average before {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory() as tmp, prefect_test_harness(server_startup_timeout=300):
        source = Path(tmp) / "source.mp4"
        make_source(source, 2.0 + args.clips * args.seconds)
        info = probe(str(source))
        clips = plans(args.clips, args.seconds)
        times: dict[tuple[str, int], float] = {}
        for runner in args.runners.split(","):
            for workers in (1, 2):
                out = Path(tmp) / f"{runner}-{workers}"
                with warm_cluster(workers if runner == "dask" else 0) as address:
                    dask = {"threads": "", "dask": address, "dask-cold": "local"}[runner]
                    times[runner, workers] = elapsed = run(info, clips, out, workers, dask, (width, height))
                print(
                    f"{runner:<8} {workers} worker(s): {elapsed:6.1f} s for {args.clips} clips of {args.seconds:.0f} s "
                    f"at {width}x{height}",
                    flush=True,
                )
        for runner in args.runners.split(","):
            ratio = times[runner, 1] / times[runner, 2]
            print(f"{runner:<8} 1 worker / 2 workers: {ratio:.2f}x")
    print(f"load average after {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
