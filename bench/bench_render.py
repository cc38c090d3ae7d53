"""Benchmark clip rendering: MoviePy 2.x (the usual Python pipeline) against :func:`clipper.render.render_clip`.

Both render the same clip spec from the same generated source, in the same run:

* a 60 s 1920x1080 30 fps test recording (lavfi ``testsrc2`` + a tone), generated first and not timed;
* a 30 s clip from it at 1080x1920, blurred-background pad layout (the 16:9 picture fitted to the width over
  a blurred, zoomed, darkened copy), 30 fps;
* word-level captions (the caption lines of :func:`clipper.captions.caption_lines`, the spoken word in yellow),
  a hook card for the first 3 s and an "AI生成 / AI-generated" label for the whole clip;
* libx264 ``veryfast`` CRF 21, yuv420p, AAC 128k.

The MoviePy side is written the way MoviePy tools do it (TextClip with the Noto CJK font file,
CompositeVideoClip, write_videofile), with one concession in its favour: the background blur runs at 1/36 of
the pixels with OpenCV, like ours, rather than a full-frame PIL blur. Its label box is opaque (no mask).

Run: ``.venv/bin/python bench/bench_render.py`` (needs the ``bench`` extra: ``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from clipper.captions import CaptionStyle, caption_lines
from clipper.ffmpeg import locate_ffmpeg
from clipper.media import probe
from clipper.render import RenderOptions, render_clip
from clipper.types import PlannedClip, Word

SOURCE_SECONDS = 60.0
CLIP_START, CLIP_END = 12.0, 42.0
WIDTH, HEIGHT, FPS = 1080, 1920, 30
HOOK = "这款面霜真的太好用了"
FONT_FILE = "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"
SENTENCES = (
    "今天给大家推荐一款超级好用的保湿面霜。",
    "它的质地非常清爽，一点都不油腻。",
    "干皮油皮都可以放心使用。",
    "里面添加了玻尿酸和神经酰胺。",
    "早晚各用一次，皮肤水润一整天。",
    "我自己已经用了三个月了。",
    "真的是回购了好多次的宝藏单品。",
    "包装也很方便，出差带着正好。",
    "喜欢的姐妹们可以点击下方链接。",
)


def make_source(path: Path) -> None:
    """A 60 s 1920x1080 30 fps H.264/AAC recording: ``testsrc2`` and a 440 Hz tone."""
    subprocess.run(
        [
            locate_ffmpeg(),
            "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc2=s=1920x1080:r=30:d={SOURCE_SECONDS}",
            "-f", "lavfi", "-i", f"sine=f=440:d={SOURCE_SECONDS}",
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-g", "60", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", "128k", "-shortest", str(path),
        ],
        check=True,
    )  # fmt: skip


def make_words() -> list[Word]:
    """Chinese speech as faster-whisper reports it: one word per character, 0.22 s each, pauses at full stops."""
    words: list[Word] = []
    t = 0.6
    while t < SOURCE_SECONDS - 4:
        for sentence in SENTENCES:
            for char in sentence:
                words.append(Word(start=round(t, 3), end=round(t + 0.2, 3), text=char))
                t += 0.22
            t += 0.6
    return [w for w in words if w.end < SOURCE_SECONDS]


def render_ours(source: Path, plan: PlannedClip, words: Sequence[Word], out: Path) -> None:
    render_clip(probe(source), plan, words, out, RenderOptions(layout="pad", preset="veryfast", crf=21))


def render_moviepy(source: Path, plan: PlannedClip, words: Sequence[Word], out: Path) -> None:
    """The same clip with MoviePy 2.x: composite in Python, pipe raw frames to ffmpeg."""
    import cv2
    from moviepy import CompositeVideoClip, TextClip, VideoFileClip
    from PIL import ImageFont

    style = CaptionStyle()
    src = VideoFileClip(str(source)).subclipped(plan.source_start, plan.source_end)
    duration = src.duration
    bw, bh = WIDTH // 6, HEIGHT // 6

    def blur_fill(frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        cw = min(w, h * WIDTH // HEIGHT)
        x0 = (w - cw) // 2
        small = cv2.resize(frame[:, x0 : x0 + cw], (bw, bh), interpolation=cv2.INTER_AREA)
        small = cv2.blur(small, (17, 17))
        small = (small.astype(np.float32) * 0.9).astype(np.uint8)
        return cv2.resize(small, (WIDTH, HEIGHT), interpolation=cv2.INTER_LINEAR)

    background = src.image_transform(blur_fill)
    foreground = src.resized(width=WIDTH).with_position("center")
    layers: list[Any] = [background, foreground]

    caption_font = ImageFont.truetype(FONT_FILE, style.font_size)
    bottom = round(HEIGHT * style.position_y)
    for line in caption_lines(words, plan.source_start, plan.source_end, style):
        text = line.text
        clip = TextClip(
            font=FONT_FILE, text=text, font_size=style.font_size, color="white",
            stroke_color="black", stroke_width=5, method="label",
        )  # fmt: skip
        x0 = (WIDTH - clip.w) // 2
        y0 = bottom - clip.h
        layers.append(clip.with_start(line.start).with_duration(line.end - line.start).with_position((x0, y0)))
        # The spoken word: a yellow copy of it laid over the white line, one clip per word state.
        offset = 0
        for i, word in enumerate(line.words):
            end = line.words[i + 1].start if i + 1 < len(line.words) else line.end
            if end > word.start:
                hl = TextClip(
                    font=FONT_FILE, text=word.text, font_size=style.font_size, color="#FFE600",
                    stroke_color="black", stroke_width=5, method="label",
                )  # fmt: skip
                layers.append(
                    hl.with_start(word.start).with_duration(end - word.start).with_position((x0 + offset, y0))
                )
            offset += round(caption_font.getlength(word.text))

    hook = TextClip(
        font=FONT_FILE, text=HOOK, font_size=style.hook_font_size, color="white",
        bg_color=(229, 22, 45), margin=(20, 20), method="label",
    )  # fmt: skip
    hook_y = round(HEIGHT * style.hook_position_y) - hook.h // 2
    layers.append(hook.with_start(0).with_duration(min(style.hook_seconds, duration)).with_position(("center", hook_y)))
    label = TextClip(
        font=FONT_FILE, text=style.label_text, font_size=style.label_font_size, color="white",
        bg_color=(0, 0, 0), margin=(8, 8), method="label",
    )  # fmt: skip
    layers.append(label.with_duration(duration).with_position((WIDTH - label.w - 44, 44)))

    final = CompositeVideoClip(layers, size=(WIDTH, HEIGHT)).with_duration(duration).with_audio(src.audio)
    final.write_videofile(
        str(out),
        fps=FPS,
        codec="libx264",
        preset="veryfast",
        audio_codec="aac",
        audio_bitrate="128k",
        ffmpeg_params=["-crf", "21", "-pix_fmt", "yuv420p", "-profile:v", "high"],
        logger=None,
    )
    final.close()
    src.close()


def _cpu_seconds() -> float:
    """User + system CPU of this process and its finished children (ffmpeg): a measure that other load on the
    machine does not inflate the way it inflates wall time."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--keep", type=Path, help="keep the source and both renders in this folder")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="mcn-bench-render-"))
    try:
        source = workdir / "source.mp4"
        print(f"generating a {SOURCE_SECONDS:.0f} s 1920x1080 source ...", flush=True)
        make_source(source)
        words = make_words()
        plan = PlannedClip(
            id="bench-clip",
            source_start=CLIP_START,
            source_end=CLIP_END,
            sentences=(),
            product_id=None,
            points=(),
            hook=HOOK,
            title="bench",
            score=1.0,
            reason="benchmark",
        )
        timings: dict[str, float] = {}
        cpu_times: dict[str, float] = {}
        for name, render in (("moviepy", render_moviepy), ("clipper", render_ours)):
            out = workdir / f"{name}.mp4"
            print(f"rendering with {name} ...", flush=True)
            cpu_before = _cpu_seconds()
            started = time.perf_counter()
            render(source, plan, words, out)
            timings[name] = time.perf_counter() - started
            cpu = cpu_times[name] = _cpu_seconds() - cpu_before
            info = probe(out)
            print(
                f"  {name:8s} {timings[name]:7.2f} s wall, {cpu:7.2f} s CPU -> {info.width}x{info.height} "
                f"{info.duration:.2f} s {info.video_codec}/{info.audio_codec} {info.size_bytes / 1e6:.1f} MB",
                flush=True,
            )
        lines = len(caption_lines(words, CLIP_START, CLIP_END, CaptionStyle()))
        ratio = timings["moviepy"] / timings["clipper"]
        print(f"clip: {CLIP_END - CLIP_START:.0f} s {WIDTH}x{HEIGHT} pad, {lines} caption lines, x264 veryfast")
        print(f"moviepy {timings['moviepy']:.2f} s | clipper {timings['clipper']:.2f} s | ratio {ratio:.1f}x")
        print(f"CPU seconds: ratio {cpu_times['moviepy'] / cpu_times['clipper']:.1f}x")
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            for path in workdir.iterdir():
                shutil.copy2(path, args.keep / path.name)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
