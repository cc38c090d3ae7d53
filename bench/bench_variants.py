"""Benchmark K presentation variants of one edit from one decode against K separate renders.

Both sides render the same edit, in the same run, from the same generated source:

* a 60 s 1920x1080 30 fps recording (a camera pan across a photo with light film grain, x264 ``superfast`` at
  5 Mbit/s with B-frames, keyframes every 2 s, as stream recordings come), generated first and not timed;
* an edit of three ranges from across it (8 + 7 + 8 s, not in stream order);
* K variants (default 3) that differ in presentation only: blurred-pad, centred crop with a restyled caption
  and another hook, zoomed crop with an intro card and another hook.

Baseline: K :func:`clipper.edits.render_edit` calls, one ffmpeg process each (each seeks, decodes and joins the
ranges again). Ours: one :func:`clipper.edits.render_variants` call (one decode, ``split`` K ways, K encoders).
Also timed: decoding and joining the ranges alone (ffmpeg to ``-f null``), the part ours does once instead of K
times; with it, ``K (D + P) / (D + K P)`` bounds the ratio, P being one variant's own framing, captions and encode.

Run: ``.venv/bin/python bench/bench_variants.py [--k 3] [--size 540x960] [--preset veryfast] [--out FILE]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sklearn.datasets

from clipper.captions import CaptionStyle
from clipper.edits import Presentation, render_edit, render_variants
from clipper.ffmpeg import locate_ffmpeg
from clipper.media import probe
from clipper.render import RenderOptions
from clipper.types import MediaInfo, Word

SOURCE_SECONDS = 60
RANGES = ((40.0, 48.0), (5.0, 12.0), (22.0, 30.0))
PHOTO = Path(sklearn.datasets.__file__).parent / "images" / "china.jpg"
PRESENTATIONS = (
    Presentation("pad", layout="pad"),
    Presentation("crop", layout="crop", caption_style=CaptionStyle(highlight_colour="#00E5FF", font_size=76), hook="B"),
    Presentation("zoom", layout="zoom", intro="Why this coat?", intro_seconds=1.5, hook="C"),
    Presentation("pad2", layout="pad", caption_style=CaptionStyle(position_y=0.62), hook="D"),
)


def make_source(path: Path) -> None:
    """The 60 s 1080p recording (see the module docstring)."""
    subprocess.run(
        [
            locate_ffmpeg(), "-hide_banner", "-loglevel", "error", "-y",
            "-loop", "1", "-framerate", "30", "-t", str(SOURCE_SECONDS), "-i", str(PHOTO),
            "-f", "lavfi", "-i", f"sine=f=220:d={SOURCE_SECONDS}",
            "-vf", f"scale=-2:1200,crop=1280:720:x='(iw-1280)*t/{SOURCE_SECONDS}':y=240,scale=1920:1080,"
            "noise=alls=6:allf=t,format=yuv420p",
            "-c:v", "libx264", "-preset", "superfast", "-b:v", "5M", "-maxrate", "6M", "-bufsize", "10M",
            "-g", "60", "-c:a", "aac", "-b:a", "128k", "-shortest", str(path),
        ],
        check=True,
    )  # fmt: skip


def words() -> list[Word]:
    """A word every 0.4 s over the whole recording: captions on every range."""
    vocabulary = ["this", "coat", "keeps", "the", "wind", "out", "and", "stays", "warm", "all", "day", "long"]
    return [Word(i * 0.4, i * 0.4 + 0.3, f" {vocabulary[i % len(vocabulary)]}") for i in range(SOURCE_SECONDS * 5 // 2)]


def _child_cpu() -> float:
    """CPU seconds (user + system) of every finished child process so far: ffmpeg's and ffprobe's work, which
    a busy machine slows down in wall time but not in CPU time."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def decode_only(source: MediaInfo) -> float:
    """Seconds to seek, decode and join the ranges with nothing after them: what ours does once."""
    args = [locate_ffmpeg(), "-hide_banner", "-loglevel", "error", "-nostdin"]
    for start, end in RANGES:
        args += ["-ss", f"{start}", "-t", f"{end - start}", "-i", source.path]
    joined = "".join(f"[{i}:v:0][{i}:a:0]" for i in range(len(RANGES)))
    args += ["-filter_complex", f"{joined}concat=n={len(RANGES)}:v=1:a=1[v][a]", "-map", "[v]", "-map", "[a]"]
    started = time.perf_counter()
    subprocess.run([*args, "-f", "null", "-"], check=True)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--k", type=int, default=3, choices=range(1, len(PRESENTATIONS) + 1))
    parser.add_argument("--size", default="1080x1920", help="output WIDTHxHEIGHT")
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each side (interleaved); medians reported")
    parser.add_argument("--out", type=Path, help="also write the report to this file")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    options = RenderOptions(width=width, height=height, preset=args.preset)
    presentations = PRESENTATIONS[: args.k]
    spoken = words()
    with tempfile.TemporaryDirectory(prefix="bench-variants-") as tmp:
        root = Path(tmp)
        make_source(root / "source.mp4")
        source = probe(root / "source.mp4")
        decode, separate, one = [], [], []
        cpu_decode, cpu_separate, cpu_one = [], [], []
        for _ in range(args.repeat):
            cpu = _child_cpu()
            decode.append(decode_only(source))
            cpu_decode.append(_child_cpu() - cpu)
            cpu = _child_cpu()
            started = time.perf_counter()
            for p in presentations:
                render_edit(
                    source, RANGES, spoken, root / "separate" / f"{p.name}.mp4", options, edit_id="e", hook="A",
                    presentation=p,
                )  # fmt: skip
            separate.append(time.perf_counter() - started)
            cpu_separate.append(_child_cpu() - cpu)
            cpu = _child_cpu()
            started = time.perf_counter()
            render_variants(source, RANGES, spoken, root / "one", options, presentations, edit_id="e", hook="A")
            one.append(time.perf_counter() - started)
            cpu_one.append(_child_cpu() - cpu)
    d, s, o = statistics.median(decode), statistics.median(separate), statistics.median(one)
    cd, cs, co = statistics.median(cpu_decode), statistics.median(cpu_separate), statistics.median(cpu_one)
    cpu_per_variant = max((co - cd) / args.k, 1e-9)
    cpu_bound = args.k * (cd + cpu_per_variant) / (cd + args.k * cpu_per_variant)
    k = args.k
    per_variant = max((o - d) / k, 1e-9)
    edit_seconds = sum(end - start for start, end in RANGES)
    verdict = "met" if s / o >= 2.5 else "NOT met"
    bound = k * (d + per_variant) / (d + k * per_variant)
    lines = [
        f"bench_variants: K={k} presentation variants of a {edit_seconds:.0f} s edit (3 ranges) of a 60 s 1920x1080 "
        f"5 Mbit/s source -> {width}x{height} x264 {args.preset}, median of {args.repeat}",
        f"  decode + join the ranges only:        {d:6.2f} s",
        f"  {k} separate render_edit calls:        {s:6.2f} s",
        f"  one render_variants call (1 decode):  {o:6.2f} s",
        f"  ratio separate / one:                 {s / o:6.2f}x  (bar >= 2.5x for K=3: {verdict})",
        f"  bound K(D+P)/(D+KP) with D={d:.2f} s, P={per_variant:.2f} s per variant: {bound:.2f}x",
        f"  CPU seconds (ffmpeg/ffprobe, user+sys): decode {cd:.2f}, separate {cs:.2f}, one {co:.2f}; "
        f"ratio {cs / co:.2f}x; bound with D={cd:.2f}, P={cpu_per_variant:.2f}: {cpu_bound:.2f}x",
        f"  load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs",
    ]  # fmt: skip
    report = "\n".join(lines)
    print(report)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
