"""Generated livestream recordings with known ground truth, for the demo, the tests and the benchmarks.

A :class:`StreamScript` lists what a host says, every line labelled with its kind (greeting, chatter,
transition, selling, price, reply). :func:`generate_stream` speaks it with espeak-ng, lays it over a lavfi test
picture whose look changes per product (so scene detection has real cuts) and writes:

* ``stream.mp4`` - H.264 + AAC, the "livestream recording";
* ``stream.srt`` - the exact cue times (what a platform's subtitle export would hand over);
* ``products.csv`` - the product list in the ``--products`` format;
* ``truth.json`` - every line with its start, end, kind and product, for quality evaluation.
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import tempfile
import wave
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from clipper.ffmpeg import Command, Input, Output, run
from clipper.products import write_products_csv
from clipper.types import Product

LineKind = Literal["greeting", "chatter", "transition", "selling", "price", "reply"]
SAMPLE_RATE = 22050
SENTENCE_PAUSE = 0.55
SEGMENT_PAUSE = 1.2


@dataclass(frozen=True, slots=True)
class ScriptLine:
    text: str
    kind: LineKind


@dataclass(frozen=True, slots=True)
class ScriptSegment:
    """What the host says while one product is on air."""

    product: Product
    lines: tuple[ScriptLine, ...]


@dataclass(frozen=True, slots=True)
class StreamScript:
    language: Literal["en", "zh"]
    intro: tuple[ScriptLine, ...]
    segments: tuple[ScriptSegment, ...]
    outro: tuple[ScriptLine, ...] = ()


@dataclass(frozen=True, slots=True)
class TimedLine:
    index: int
    start: float
    end: float
    text: str
    kind: LineKind
    product_id: str | None


@dataclass(frozen=True, slots=True)
class GeneratedStream:
    video: Path
    srt: Path
    products_csv: Path
    truth_json: Path
    language: str
    duration: float
    lines: tuple[TimedLine, ...]
    products: tuple[Product, ...]


def _espeak_voice(language: str) -> str:
    return {"en": "en-us", "zh": "cmn"}[language]


def _speak(text: str, language: str, workdir: Path, index: int) -> np.ndarray:
    """Speak one line with espeak-ng; return mono int16 samples at :data:`SAMPLE_RATE`."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng)")
    path = workdir / f"line{index:05d}.wav"
    subprocess.run(
        [espeak, "-v", _espeak_voice(language), "-s", "160", "-w", str(path), text],
        check=True,
        capture_output=True,
    )
    with wave.open(str(path), "rb") as wav:
        if wav.getframerate() != SAMPLE_RATE or wav.getnchannels() != 1:
            raise RuntimeError(f"unexpected espeak-ng output format in {path}")
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)


def _srt_time(seconds: float) -> str:
    ms = round(seconds * 1000)
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


def generate_stream(
    script: StreamScript,
    out_dir: Path,
    *,
    width: int = 640,
    height: int = 360,
    fps: int = 25,
    preset: str = "ultrafast",
) -> GeneratedStream:
    """Speak ``script`` and render it as a recording in ``out_dir`` (see the module docstring for the files).

    The picture is a moving test pattern whose hue changes at every product, so PySceneDetect sees one hard
    cut per product change. Rendering is ``ultrafast`` at 640x360 by default: fixtures are about speech and
    structure, not picture quality.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    timed: list[TimedLine] = []
    chunks: list[np.ndarray] = []
    cursor = 0.5
    chunks.append(np.zeros(int(0.5 * SAMPLE_RATE), dtype=np.int16))
    blocks: list[tuple[str | None, tuple[ScriptLine, ...]]] = [(None, script.intro)]
    blocks += [(seg.product.id, seg.lines) for seg in script.segments]
    blocks.append((None, script.outro))
    scene_bounds: list[float] = []
    with tempfile.TemporaryDirectory(prefix="mcn-sample-") as tmp:
        workdir = Path(tmp)
        for block_index, (product_id, lines) in enumerate(blocks):
            if block_index > 0:
                scene_bounds.append(cursor)
            for line in lines:
                samples = _speak(line.text, script.language, workdir, len(timed))
                speech = _trim_silence(samples)
                start = cursor
                cursor += len(speech) / SAMPLE_RATE
                timed.append(TimedLine(len(timed), round(start, 3), round(cursor, 3), line.text, line.kind, product_id))
                chunks.append(speech)
                chunks.append(np.zeros(int(SENTENCE_PAUSE * SAMPLE_RATE), dtype=np.int16))
                cursor += SENTENCE_PAUSE
            chunks.append(np.zeros(int(SEGMENT_PAUSE * SAMPLE_RATE), dtype=np.int16))
            cursor += SEGMENT_PAUSE
        audio = np.concatenate(chunks)
        duration = len(audio) / SAMPLE_RATE
        wav_path = workdir / "speech.wav"
        with wave.open(str(wav_path), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(SAMPLE_RATE)
            wav.writeframes(audio.tobytes())
        video_path = out_dir / "stream.mp4"
        _render_picture(wav_path, video_path, scene_bounds, duration, width, height, fps, preset)

    srt_path = out_dir / "stream.srt"
    srt_path.write_text(
        "".join(
            f"{n}\n{_srt_time(line.start)} --> {_srt_time(line.end)}\n{line.text}\n\n"
            for n, line in enumerate(timed, start=1)
        ),
        encoding="utf-8",
    )
    products = tuple(seg.product for seg in script.segments)
    products_csv = out_dir / "products.csv"
    write_products_csv(products_csv, products)
    truth_path = out_dir / "truth.json"
    truth_path.write_text(
        json.dumps(
            {"language": script.language, "duration": duration, "lines": [asdict(t) for t in timed]},
            ensure_ascii=False,
            indent=1,
        ),
        encoding="utf-8",
    )
    return GeneratedStream(
        video=video_path,
        srt=srt_path,
        products_csv=products_csv,
        truth_json=truth_path,
        language=script.language,
        duration=duration,
        lines=tuple(timed),
        products=products,
    )


def _trim_silence(samples: np.ndarray, threshold: int = 300) -> np.ndarray:
    """Cut espeak-ng's leading and trailing silence so line times are the speech itself."""
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > threshold)
    if loud.size == 0:
        return samples
    return samples[max(0, loud[0] - 200) : loud[-1] + 200]


def _render_picture(
    wav: Path, out: Path, bounds: list[float], duration: float, width: int, height: int, fps: int, preset: str
) -> None:
    edges = [0.0, *bounds, duration]
    parts = []
    for i, (a, b) in enumerate(itertools.pairwise(edges)):
        hue = (i * 67) % 360
        parts.append(
            f"testsrc2=s={width}x{height}:r={fps}:d={max(b - a, 0.04):.3f},hue=h={hue}:s={1 + (i % 3) * 0.5}[p{i}]"
        )
    concat = "".join(f"[p{i}]" for i in range(len(edges) - 1))
    graph = ";".join(parts) + f";{concat}concat=n={len(edges) - 1}:v=1:a=0,format=yuv420p[v]"
    run(
        Command(
            inputs=(Input(str(wav)),),
            filter_complex=graph,
            outputs=(
                Output(
                    str(out),
                    maps=("[v]", "0:a"),
                    options=(
                        "-c:v",
                        "libx264",
                        "-preset",
                        preset,
                        "-crf",
                        "30",
                        "-g",
                        str(fps * 2),
                        "-c:a",
                        "aac",
                        "-b:a",
                        "64k",
                        "-shortest",
                        "-movflags",
                        "+faststart",
                    ),
                ),
            ),
        ),
        subject=str(out),
    )


def build_script(bank: StreamScript, products: int) -> StreamScript:
    """A longer stream made from ``bank``: ``products`` segments, cycling through the bank's segments.

    Repeated products get a numbered id so a 60-minute benchmark stream still has distinct products.
    """
    segments: list[ScriptSegment] = []
    for n in range(products):
        template = bank.segments[n % len(bank.segments)]
        product = template.product
        if n >= len(bank.segments):
            product = Product(
                id=f"{product.id}-{n}",
                name=product.name,
                aliases=product.aliases,
                price=product.price,
                commission_rate=product.commission_rate,
                link=product.link,
            )
        segments.append(ScriptSegment(product, template.lines))
    return StreamScript(bank.language, bank.intro, tuple(segments), bank.outro)
