"""Benchmark product remixes: seconds of wall time per remix video, by stage, against a plain encode baseline.

For each of ``--products`` generated products (three OpenCV-drawn stills and two short lavfi videos each, English
attributes so Piper speaks), one remix is made with the real pieces: the template script, Piper voice-over
(``remix.voiceover``), and the one-pass ffmpeg render (``remix.render``). Timed per video: script, voice-over
(synthesis of every sentence), and the whole :func:`remix.render.render_remix` call (which includes the
voice-over, the stills and the ffmpeg pass). The baseline, in the same run: a plain ffmpeg encode of a lavfi
``testsrc2`` picture of the same length and size with the same x264 settings and an AAC track, i.e. what any
9:16 video of that length costs to encode here; the ratio says what the remix adds on top.

Run: ``.venv/bin/python bench/bench_remix.py [--products 3] [--size 540x960] [--fps 12] [--preset ultrafast]``
(the demo's settings: ``--size 540x960 --fps 12 --preset ultrafast``).
CPU seconds are user + system time of the bench and its ffmpeg children, voice-over synthesis included (the
``tts`` extra is needed).
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

import cv2
import numpy as np

from clipper.ffmpeg import locate_ffmpeg
from remix.products import RemixProduct
from remix.render import RemixOptions, render_remix
from remix.script import write_script
from remix.tts import get_tts
from remix.voiceover import make_voiceover

ATTRIBUTES = (
    ("keeps drinks hot for 12 hours", "leak-proof lid", "material: 304 stainless steel", "fits most car cup holders"),
    ("IPX5 waterproof", "battery: 30 hours with the case", "Bluetooth 5.3", "keeps a stable connection"),
    ("folds flat for storage", "non-slip feet", "material: bamboo", "dishwasher safe"),
)
TITLES = ("Insulated Travel Mug", "Wireless Earbuds with Charging Case", "Folding Bamboo Cutting Board")


def _material(root: Path, n: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    images = []
    for k, (size, colour) in enumerate(
        (((800, 800), (150, 80, 40)), ((600, 900), (60, 110, 30)), ((1200, 800), (120, 40, 110)))
    ):
        image = np.zeros((size[1], size[0], 3), np.uint8)
        image[:] = colour
        cv2.circle(image, (size[0] // 2, size[1] // 2), min(size) // 4, (200, 200, 80 + 40 * n), -1)
        path = root / f"p{n}-img{k}.png"
        cv2.imwrite(str(path), image)
        images.append(str(path))
    videos = []
    for k, frame in enumerate(("640x360", "360x640")):
        path = root / f"p{n}-vid{k}.mp4"
        subprocess.run(
            [locate_ffmpeg(), "-y", "-loglevel", "error", "-f", "lavfi", "-i",
             f"life=s={frame}:mold=10:r=25:ratio=0.1:death_color=#102050:life_color=#30a050",
             "-t", "5", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)],
            check=True,
        )  # fmt: skip
        videos.append(str(path))
    return tuple(images), tuple(videos)


def _cpu() -> float:
    """CPU seconds (user + system) of this process and its finished children (ffmpeg) so far."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _baseline(seconds: float, width: int, height: int, fps: int, preset: str, out: Path) -> tuple[float, float]:
    """Wall and CPU seconds of a plain encode of that length (lavfi picture and tone, the remix's x264 settings)."""
    start, cpu = time.perf_counter(), _cpu()
    subprocess.run(
        [locate_ffmpeg(), "-y", "-loglevel", "error", "-f", "lavfi", "-i",
         f"testsrc2=s={width}x{height}:r={fps}:d={seconds:.3f}", "-f", "lavfi", "-i",
         f"sine=f=220:r=48000:d={seconds:.3f}", "-c:v", "libx264", "-preset", preset, "-crf", "21",
         "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-ac", "2", str(out)],
        check=True,
    )  # fmt: skip
    return time.perf_counter() - start, _cpu() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--products", type=int, default=3)
    parser.add_argument("--size", default="1080x1920")
    parser.add_argument("--fps", type=int, default=30, help="frame rate (the demo renders at 12)")
    parser.add_argument("--preset", default="veryfast", help="x264 preset (the demo uses ultrafast)")
    args = parser.parse_args()
    width, height = (int(x) for x in args.size.split("x"))
    options = RemixOptions(width=width, height=height, fps=args.fps, preset=args.preset)
    t = time.perf_counter()
    tts = get_tts("piper")
    tts.speak("Warm up.", "en")  # the model loads once per process, not per video
    load = time.perf_counter() - t
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for n in range(args.products):
            images, videos = _material(root, n)
            product = RemixProduct(
                id=f"bench-{n}",
                title=TITLES[n % len(TITLES)],
                images=images,
                videos=videos,
                category=("Home > Kitchen", "Electronics", "Kitchen")[n % 3],
                attributes=ATTRIBUTES[n % len(ATTRIBUTES)],
                price=59.9,
                sales=1200 * (n + 1),
            )
            t = time.perf_counter()
            script = write_script(product)
            script_s = time.perf_counter() - t
            t = time.perf_counter()
            make_voiceover(script.lines, "en", root / f"vo{n}.wav", tts)
            voice_s = time.perf_counter() - t
            t, cpu = time.perf_counter(), _cpu()
            result = render_remix(product, script, root / f"remix{n}.mp4", options, tts=tts)
            render_s, render_cpu = time.perf_counter() - t, _cpu() - cpu
            base_s, base_cpu = _baseline(result.duration, width, height, args.fps, args.preset, root / f"base{n}.mp4")
            rows.append((product.id, result.duration, script_s, voice_s, render_s, base_s, render_cpu, base_cpu))
    print(
        f"remix bench: {args.products} products at {width}x{height}, {args.fps} fps, x264 {args.preset}; "
        f"piper voice load {load:.2f} s (once); load average {os.getloadavg()[0]:.2f}"
    )
    print(
        f"{'product':<10} {'video s':>8} {'script s':>9} {'voice s':>8} {'remix s':>8} {'remix cpu':>10} "
        f"{'encode s':>9} {'encode cpu':>11} {'ratio':>6}"
    )
    for pid, duration, script_s, voice_s, render_s, base_s, render_cpu, base_cpu in rows:
        print(
            f"{pid:<10} {duration:8.2f} {script_s:9.4f} {voice_s:8.2f} {render_s:8.2f} {render_cpu:10.2f} "
            f"{base_s:9.2f} {base_cpu:11.2f} {render_s / base_s:6.2f}"
        )
    mean_render = statistics.mean(r[4] for r in rows)
    mean_video = statistics.mean(r[1] for r in rows)
    mean_ratio = statistics.mean(r[4] / r[5] for r in rows)
    mean_cpu = statistics.mean(r[6] for r in rows)
    print(
        f"mean CPU: {mean_cpu:.2f} s per remix (voice-over included), "
        f"{statistics.mean(r[6] / r[7] for r in rows):.2f}x the plain encode's CPU"
    )
    print(
        f"mean: {mean_render:.2f} s per remix video ({mean_video:.1f} s of video, "
        f"{mean_render / mean_video:.2f} s per video second); {mean_ratio:.2f}x a plain encode of the same length"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
