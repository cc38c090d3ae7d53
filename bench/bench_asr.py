"""Benchmark speech recognition: plain faster-whisper against :func:`clipper.transcribe.transcribe`, same run.

* Source: English host speech generated with espeak-ng (``mcn.samples``, the DEV_EN script repeated to about
  ``--seconds``), generated first and not timed.
* Baseline: ``WhisperModel.transcribe(path, word_timestamps=True, vad_filter=True)`` with its defaults (beam 5,
  sequential), the generator consumed fully: what a plain faster-whisper integration does.
* Ours: ``transcribe(path, TranscribeOptions(...))`` with the defaults mcn runs (batched pipeline, beam 5, word
  timestamps, VAD, hallucination guard, sentence splitting).

Both use the same model (the offline ``base``, int8), the same thread count, and start from the file path, so
audio decoding is timed on both sides; model loading is not timed on either. Accuracy is the share of script
words found, in order, in the recognised words.

Run: ``.venv/bin/python bench/bench_asr.py [--seconds 180] [--repeat 1]``.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script from a checkout that is not pip-installed: make the repository importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from clipper.transcribe import TranscribeOptions, load_model, transcribe
from mcn.samples import GeneratedStream, build_script, generate_stream
from mcn.samples.scripts import DEV_EN
from mcn.settings import get_settings
from mcn.whisper_model import resolve_model

SEGMENT_SECONDS = 28.0  # one DEV_EN product segment, spoken (the two alternate: ~30 s and ~26 s)
FRAME_SECONDS = 13.5  # intro, outro and the pauses around them


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def accuracy(stream: GeneratedStream, words: Sequence[str]) -> float:
    """Share of script words recognised, in order (1 - deletions - substitutions, roughly)."""
    script = [t for line in stream.lines for t in _tokens(line.text)]
    heard = [t for w in words for t in _tokens(w)]
    matcher = difflib.SequenceMatcher(a=script, b=heard, autojunk=False)
    return sum(b.size for b in matcher.get_matching_blocks()) / max(len(script), 1)


def best_of(repeat: int, fn: Callable[[], list[str]]) -> tuple[float, list[str]]:
    best, words = float("inf"), []
    for _ in range(repeat):
        start = time.perf_counter()
        words = fn()
        best = min(best, time.perf_counter() - start)
    return best, words


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=180.0, help="approximate length of generated speech")
    parser.add_argument("--repeat", type=int, default=1, help="time each side this many times, keep the best")
    parser.add_argument("--model", default=get_settings().whisper_model, help="model name or directory")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads; 0 = every available core")
    args = parser.parse_args(argv)

    model_path = resolve_model(args.model)
    threads = args.threads or len(os.sched_getaffinity(0))
    products = max(1, round((args.seconds - FRAME_SECONDS) / SEGMENT_SECONDS))
    with tempfile.TemporaryDirectory(prefix="mcn-bench-asr-") as tmp:
        print(f"generating ~{args.seconds:.0f} s of speech ({products} product segments) ...", flush=True)
        stream = generate_stream(build_script(DEV_EN, products), Path(tmp) / "stream")
        source = str(stream.video)
        print(f"source: {stream.duration:.1f} s, {len(stream.lines)} lines; model {model_path}, {threads} threads")

        from faster_whisper import WhisperModel

        baseline_model = WhisperModel(model_path, device="cpu", compute_type="int8", cpu_threads=threads)

        def baseline() -> list[str]:
            segments, _ = baseline_model.transcribe(source, word_timestamps=True, vad_filter=True)
            return [w.word for s in segments for w in (s.words or ())]

        options = TranscribeOptions(model=model_path, cpu_threads=threads)
        load_model(options)  # load outside the timing, as for the baseline

        def ours() -> list[str]:
            return [w.text for w in transcribe(source, options).words]

        rows = []
        for name, fn in (("faster-whisper plain (baseline)", baseline), ("clipper.transcribe (batched)", ours)):
            seconds, words = best_of(args.repeat, fn)
            rows.append((name, seconds, stream.duration / seconds, accuracy(stream, words)))
            print(f"{name:34s} {seconds:7.2f} s  {rows[-1][2]:5.1f}x realtime  {rows[-1][3]:6.1%} words", flush=True)
    print(f"speed-up: {rows[0][1] / rows[1][1]:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
