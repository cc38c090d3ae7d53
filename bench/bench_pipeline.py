"""End to end: an N-minute generated recording to M rendered clips, timed per step, with peak memory.

Target (issue "clip factory"): a 60-minute recording to 30 rendered clips in at most 10 minutes on 2 cores, and
under 4 GB of memory for a 6-hour source. The baseline printed beside it is the recording's own duration (the
pipeline's realtime factor), measured in the same run.

    .venv/bin/python bench/bench_pipeline.py --minutes 60 --clips 30
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

from clipper.detectors import detect_selling_points
from clipper.media import probe
from clipper.planner import PlanOptions, plan_clips
from clipper.render import RenderOptions, render_clip
from clipper.scenes import detect_scenes
from clipper.segments import find_product_segments
from clipper.transcribe import TranscribeOptions, transcribe
from mcn.samples import build_script, generate_stream
from mcn.samples.evaluate import evaluate
from mcn.samples.scripts import DEV_EN, HELDOUT_EN
from mcn.whisper_model import resolve_model


def peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--clips", type=int, default=30)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="mcn-bench-"))
    bank = DEV_EN
    bank = type(bank)(bank.language, bank.intro, DEV_EN.segments + HELDOUT_EN.segments, bank.outro)
    per_segment = 32.0  # seconds a segment takes when spoken, measured on the banks
    t0 = time.perf_counter()
    stream = generate_stream(
        build_script(bank, products=max(1, round(args.minutes * 60 / per_segment))),
        workdir / "stream",
        width=1280,
        height=720,
        preset="ultrafast",
    )
    print(f"generated {stream.duration / 60:.1f} min recording in {time.perf_counter() - t0:.0f} s: {stream.video}")

    timings: dict[str, float] = {}
    start = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal start
        now = time.perf_counter()
        timings[name] = now - start
        start = now

    info = probe(stream.video)
    lap("probe")
    transcript = transcribe(stream.video, TranscribeOptions(model=resolve_model("base")))
    lap("transcribe")
    scenes = detect_scenes(stream.video)
    lap("scenes")
    segments = find_product_segments(transcript.sentences, stream.products, transcript.language)
    detection = detect_selling_points(transcript, segments, stream.products)
    lap("selling points")
    plans = plan_clips(
        transcript, detection.points, segments, scenes, PlanOptions(max_clips=args.clips), kinds=detection.kinds
    )
    lap("plan")
    out = workdir / "clips"
    out.mkdir(exist_ok=True)
    for plan in plans:
        render_clip(info, plan, transcript.words, out / f"{plan.id}.mp4", RenderOptions())
    lap("render")
    total = sum(timings.values())
    print(f"recording: {stream.duration / 60:.1f} min; clips rendered: {len(plans)}")
    for name, seconds in timings.items():
        print(f"  {name:<15} {seconds:8.1f} s")
    print(
        f"total {total:.0f} s = {total / 60:.1f} min (target <= 10 min for 60 min -> 30 clips); "
        f"{stream.duration / total:.1f}x realtime"
    )
    print(
        f"ASR {stream.duration / timings['transcribe']:.1f}x realtime; "
        f"render {sum(p.duration for p in plans) / timings['render']:.2f}x realtime"
    )
    print(f"peak RSS {peak_rss_mb():.0f} MB (target < 4096 MB for a 6-hour source)")
    print("quality:", evaluate(plans, stream.lines, transcript.words).summary())


if __name__ == "__main__":
    main()
