"""Benchmark a long VOD into clips with presentation variants: 1 h recording -> 30 clips x 3 variants.

The bar (issue 10): <= 12 minutes on 2 cores for the rendering of 30 clips x 3 presentation variants of a 1 h
recording. Transcription and detection are not part of this bench (``bench_pipeline.py`` and ``bench_asr.py``
time them); what is timed is what the variants add: every clip rendered K ways with
:func:`clipper.edits.render_variants` (one decode of the clip's range, ``split`` K ways, K encoders).

* The recording: ``--minutes`` (60) of 1280x720 30 fps, a camera pan across a photo with light film grain and a
  tone, x264 ``superfast`` at 3 Mbit/s with keyframes every 2 s, as a stream recording comes. Generated first,
  not timed (several minutes on 2 cores for an hour).
* The clips: ``--clips`` (30) ranges of ``--clip-seconds`` (24) spread evenly over the recording, each with a word
  every 0.4 s for captions.
* The variants: the first ``--k`` (3) presentations of ``bench_variants.py`` (blurred pad; crop with another
  caption style and hook; zoomed crop with an intro card).

Printed: wall and CPU seconds (all ffmpeg/ffprobe children, user + system) in total and per clip, the load
average, and whether the bar is met. ``--workers 2`` renders two clips at once.

Run: ``.venv/bin/python bench/bench_vod_variants.py [--minutes 60] [--clips 30] [--k 3] [--size 720x1280]
[--preset veryfast] [--fps 30] [--workers 1] [--source FILE] [--out FILE]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import sklearn.datasets

from clipper.edits import render_variants
from clipper.ffmpeg import locate_ffmpeg
from clipper.media import probe
from clipper.render import RenderOptions
from clipper.types import Word

sys.path.insert(0, str(Path(__file__).parent))  # the bench folder is not a package: import a sibling
from bench_variants import PRESENTATIONS

PHOTO = Path(sklearn.datasets.__file__).parent / "images" / "china.jpg"
BAR_SECONDS = 12 * 60


def make_recording(path: Path, minutes: float) -> None:
    """The long 720p recording (see the module docstring)."""
    seconds = minutes * 60
    subprocess.run(
        [
            locate_ffmpeg(), "-hide_banner", "-loglevel", "error", "-y",
            "-loop", "1", "-framerate", "30", "-t", f"{seconds}", "-i", str(PHOTO),
            "-f", "lavfi", "-i", f"sine=f=220:d={seconds}",
            "-vf", "scale=-2:900,crop=1280:720:x='(iw-1280)/2*(1+sin(t/20))':y=90,noise=alls=5:allf=t,format=yuv420p",
            "-c:v", "libx264", "-preset", "superfast", "-b:v", "3M", "-maxrate", "4M", "-bufsize", "8M",
            "-g", "60", "-c:a", "aac", "-b:a", "96k", "-shortest", str(path),
        ],
        check=True,
    )  # fmt: skip


def words(seconds: float) -> list[Word]:
    """A word every 0.4 s over the whole recording: every clip has captions."""
    vocabulary = ["this", "coat", "keeps", "the", "wind", "out", "and", "stays", "warm", "all", "day", "long"]
    return [Word(i * 0.4, i * 0.4 + 0.3, f" {vocabulary[i % len(vocabulary)]}") for i in range(int(seconds / 0.4))]


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--clips", type=int, default=30)
    parser.add_argument("--clip-seconds", type=float, default=24.0)
    parser.add_argument("--k", type=int, default=3, choices=range(1, len(PRESENTATIONS) + 1))
    parser.add_argument("--size", default="720x1280", help="output WIDTHxHEIGHT")
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--source", type=Path, help="reuse this recording instead of generating one")
    parser.add_argument("--out", type=Path, help="also write the report to this file")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    options = RenderOptions(width=width, height=height, preset=args.preset, fps=args.fps)
    presentations = PRESENTATIONS[: args.k]
    with tempfile.TemporaryDirectory(prefix="bench-vod-") as tmp:
        root = Path(tmp)
        recording = args.source
        if recording is None:
            recording = root / "vod.mp4"
            started = time.perf_counter()
            make_recording(recording, args.minutes)
            print(f"generated a {args.minutes:g} min recording in {time.perf_counter() - started:.0f} s (not timed)")
        source = probe(recording)
        spoken = words(source.duration)
        step = (source.duration - args.clip_seconds) / max(args.clips - 1, 1)
        ranges = [(round(i * step, 3), round(i * step + args.clip_seconds, 3)) for i in range(args.clips)]

        def one(n: int) -> float:
            started = time.perf_counter()
            start, end = ranges[n]
            render_variants(
                source, [(start, end)], spoken, root / "clips", options, presentations, edit_id=f"clip{n:02d}",
                hook="A",
            )  # fmt: skip
            return time.perf_counter() - started

        cpu = _child_cpu()
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.workers) as pool:
            per_clip = list(pool.map(one, range(args.clips)))
        wall = time.perf_counter() - started
        cpu = _child_cpu() - cpu
        files = len(list((root / "clips").glob("*.mp4")))
    at_bar = args.minutes >= 60 and args.clips >= 30 and args.k >= 3
    verdict = ("met" if wall <= BAR_SECONDS else "NOT met") if at_bar else "n/a: the bar is 60 min, 30 clips, K=3"
    lines = [
        f"bench_vod_variants: {source.duration / 60:.1f} min {source.width}x{source.height} recording -> "
        f"{args.clips} clips x {args.k} variants ({files} files, {args.clip_seconds:g} s each) at {width}x{height} "
        f"{args.fps} fps x264 {args.preset}, {args.workers} clip(s) at once",
        f"  wall: {wall:7.1f} s ({wall / 60:.1f} min; bar <= {BAR_SECONDS / 60:.0f} min: {verdict}); "
        f"per clip {min(per_clip):.1f}-{max(per_clip):.1f} s",
        f"  CPU (ffmpeg/ffprobe, user+sys): {cpu:7.1f} s ({cpu / max(wall, 1e-9):.2f} cores busy on average)",
        f"  load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs",
    ]
    report = "\n".join(lines)
    print(report)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
