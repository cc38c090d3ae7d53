"""Script lines -> one timed voice track: synthesis sentence by sentence, layout, levels and caption word times.

Each line is synthesized on its own (a backend call per sentence), so where every sentence starts and ends in the
track is known exactly, not guessed from the audio: that is what the captions, the cuts and the product card are
timed to. Per sentence the TTS's leading/trailing silence is trimmed (so a sentence's ``start`` is its first
audible sound), its level is brought to a common speech level, and the sentences are laid end to end after a short
lead-in, with pauses that stretch (within limits) to reach the video's minimum length.

Word times inside a sentence are spread over its voiced span in proportion to each word's length (letters, with
digits counted as the several syllables they are read as; one CJK character is one word), since neither
piper-tts 1.2 nor ``/audio/speech`` report alignments. Sentence starts are exact; word times are estimates.

When the backend has no voice for the language, or fails, the track is silent and the sentences are timed at a
reading pace instead: the video keeps its captions and music, and ``VoiceOver.note`` says why (logged once).
"""

from __future__ import annotations

import logging
import re
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clipper.types import Word
from remix.errors import TTSError
from remix.tts.base import Speech, TTSBackend

__all__ = ["SpokenLine", "VoiceOver", "VoiceOverOptions", "make_voiceover", "speech_onsets", "split_words"]

log = logging.getLogger(__name__)

_CJK = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff]")
_PUNCT = re.compile(r"^[\s,.!?;:，。！？；：、…\"'“”‘’（）()]+$")
_TOKEN = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff][，。！？；：、…”’）]*|[^\s\u2e80-\u9fff\uf900-\ufaff]+")


@dataclass(frozen=True, slots=True)
class VoiceOverOptions:
    """Layout of the voice track, in seconds.

    ``lead_in`` before the first sentence; ``gap`` between sentences, stretched up to ``max_gap`` (and the
    ``tail`` after the last one up to ``max_tail``) when the track would be shorter than ``min_seconds``; beyond
    that the tail holds (the product card stays up). Lines that would end after ``max_seconds`` are dropped from
    the middle (the first line, the hook, and the last, the call to action, stay). ``sample_rate`` is the track's
    rate; ``speech_dbfs`` the RMS level of voiced audio; ``reading_cps`` the pace (characters per second; a
    CJK character counts 3) of silent captions when there is no voice.
    """

    lead_in: float = 0.4
    gap: float = 0.45
    max_gap: float = 1.0
    tail: float = 1.6
    max_tail: float = 4.0
    min_seconds: float = 15.0
    max_seconds: float = 40.0
    sample_rate: int = 24000
    speech_dbfs: float = -16.0
    reading_cps: float = 15.0
    min_line_seconds: float = 1.6

    def __post_init__(self) -> None:
        if not 0 < self.min_seconds < self.max_seconds:
            raise ValueError("need 0 < min_seconds < max_seconds")
        if min(self.lead_in, self.gap, self.tail) < 0 or self.max_gap < self.gap or self.max_tail < self.tail:
            raise ValueError("lead_in, gap and tail must be >= 0 and at most their maxima")
        if self.sample_rate < 8000 or self.reading_cps <= 0:
            raise ValueError("sample_rate must be >= 8000 and reading_cps > 0")


@dataclass(frozen=True, slots=True)
class SpokenLine:
    """One script line in the track: ``start``/``end`` of its speech (track seconds) and its words' times."""

    index: int
    text: str
    start: float
    end: float
    words: tuple[Word, ...]


@dataclass(frozen=True, slots=True)
class VoiceOver:
    """The timed voice track. ``voiced`` False: no voice, the lines are timed at reading pace (``note`` says
    why). ``path`` is the mono 16-bit WAV, as long as ``duration`` (None without a voice, or once the renderer
    has used and removed it). ``dropped`` counts lines cut to stay under the maximum length."""

    path: str | None
    duration: float
    lines: tuple[SpokenLine, ...]
    language: str
    voice: str
    voiced: bool = False
    note: str = ""
    dropped: int = 0

    @property
    def words(self) -> tuple[Word, ...]:
        return tuple(w for line in self.lines for w in line.words)


def split_words(text: str) -> list[str]:
    """Caption words of a line: Latin words as written (punctuation attached), each CJK character alone."""
    return [t for t in _TOKEN.findall(" ".join(text.split())) if not _PUNCT.match(t)] or [text.strip()]


def _weight(token: str) -> float:
    if _CJK.match(token):
        return 1.0
    letters = sum(c.isalpha() for c in token)
    digits = sum(c.isdigit() for c in token)
    # A digit is read as a word or two ("500" -> "five hundred"); a bare token still takes some time.
    return 0.6 + letters * 0.18 + digits * 0.55


def _spread(tokens: Sequence[str], start: float, end: float) -> tuple[Word, ...]:
    weights = np.array([_weight(t) for t in tokens])
    edges = start + np.concatenate([[0.0], np.cumsum(weights)]) / weights.sum() * (end - start)
    return tuple(
        Word(start=round(float(a), 3), end=round(float(b), 3), text=t)
        for t, a, b in zip(tokens, edges[:-1], edges[1:], strict=True)
    )


def _frame_db(samples: np.ndarray, rate: int, frame_s: float = 0.01) -> np.ndarray:
    n = max(1, int(rate * frame_s))
    usable = len(samples) // n * n
    if not usable:
        return np.array([-120.0])
    frames = samples[:usable].reshape(-1, n).astype(np.float64)
    return 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)


def _trim(speech: Speech, keep_s: float = 0.03) -> np.ndarray:
    """The sentence without leading/trailing TTS silence (a frame is silent 40 dB under the loudest one)."""
    db = _frame_db(speech.samples, speech.sample_rate)
    voiced = np.flatnonzero(db > db.max() - 40.0)
    if not voiced.size:
        return speech.samples[:0]
    n = int(speech.sample_rate * 0.01)
    keep = int(speech.sample_rate * keep_s)
    first = max(0, voiced[0] * n - keep)
    last = min(len(speech.samples), (voiced[-1] + 1) * n + keep)
    return speech.samples[first:last]


def _resample(samples: np.ndarray, source: int, target: int) -> np.ndarray:
    if source == target or not samples.size:
        return samples.astype(np.float32)
    count = max(1, round(len(samples) * target / source))
    x = np.linspace(0.0, len(samples) - 1, count)
    return np.interp(x, np.arange(len(samples)), samples).astype(np.float32)


def _level(samples: np.ndarray, rate: int, target_dbfs: float) -> np.ndarray:
    """Scale to ``target_dbfs`` RMS over voiced 10 ms frames, peaks kept under -1 dBFS."""
    db = _frame_db(samples, rate)
    voiced = db[db > db.max() - 30.0]
    rms_db = 10 * np.log10(np.mean(10 ** (voiced / 10))) if voiced.size else -120.0
    gain = 10 ** ((target_dbfs - rms_db) / 20)
    peak = float(np.max(np.abs(samples))) * gain if samples.size else 0.0
    if peak > 0.89:
        gain *= 0.89 / peak
    return (samples * gain).astype(np.float32)


def _reading_seconds(text: str, options: VoiceOverOptions) -> float:
    cjk = len(_CJK.findall(text))
    chars = len("".join(text.split())) - cjk + 3 * cjk
    return max(options.min_line_seconds, chars / options.reading_cps)


def _fit(durations: list[float], options: VoiceOverOptions) -> tuple[list[int], float, float]:
    """Which lines to keep, the gap and the tail, so the track lasts between min and max seconds."""
    keep = list(range(len(durations)))

    def total(gap: float, tail: float) -> float:
        body = sum(durations[i] for i in keep)
        return options.lead_in + body + gap * max(0, len(keep) - 1) + tail

    while len(keep) > 2 and total(options.gap, options.tail) > options.max_seconds:
        # Drop the longest middle line: the hook opens and the call to action closes every video.
        middle = keep[1:-1]
        keep.remove(max(middle, key=lambda i: durations[i]))
    gap, tail = options.gap, options.tail
    shortfall = options.min_seconds - total(gap, tail)
    if shortfall > 0 and len(keep) > 1:
        gap = min(options.max_gap, gap + shortfall / (len(keep) - 1))
    shortfall = options.min_seconds - total(gap, tail)
    if shortfall > 0:
        tail += shortfall  # beyond max_tail the product card simply holds longer
    return keep, gap, tail


def make_voiceover(
    lines: Sequence[str],
    language: str,
    out_wav: Path | None,
    tts: TTSBackend | None,
    options: VoiceOverOptions | None = None,
) -> VoiceOver:
    """Synthesize ``lines`` (one sentence each) with ``tts`` into ``out_wav`` and time every sentence and word.

    Args:
        lines: the script's spoken sentences, in order.
        language: ``en``/``zh``: the voice must speak it.
        out_wav: where the mono WAV goes (its folder must exist); None, or ``tts`` None, makes a silent plan.
        tts: the backend; one without a voice for ``language``, or one that fails on any sentence, gives the
            silent fallback (captions at reading pace, ``note`` says why), never an exception.
        options: layout and levels.

    Returns:
        The :class:`VoiceOver`: track path and length, each kept line's speech span and word times.
    """
    options = options or VoiceOverOptions()
    texts = [" ".join(t.split()) for t in lines if t.strip()]
    if not texts:
        raise ValueError("make_voiceover needs at least one non-empty line")
    rate = options.sample_rate
    clips: list[np.ndarray] | None = None
    note = ""
    voice = tts.voice if tts is not None else "none"
    if tts is None or out_wav is None:
        note = "no TTS backend: captions and music only"
    elif not tts.supports(language):
        note = f"{tts.voice} has no {language} voice: captions and music only (configure MCN_TTS_* for {language})"
    else:
        try:
            clips = []
            for text in texts:
                speech = tts.speak(text, language)
                spoken = _trim(speech)
                if not spoken.size:
                    raise TTSError(tts.voice, f"silent audio for {text[:40]!r}")
                clips.append(_level(_resample(spoken, speech.sample_rate, rate), rate, options.speech_dbfs))
        except TTSError as exc:
            clips = None
            note = f"voice-over failed ({exc}): captions and music only"
    if note:
        log.warning("remix voice-over: %s", note)

    durations = [len(c) / rate for c in clips] if clips is not None else [_reading_seconds(t, options) for t in texts]
    keep, gap, tail = _fit(durations, options)
    spoken_lines: list[SpokenLine] = []
    t = options.lead_in
    placements: list[tuple[int, int]] = []
    for n, i in enumerate(keep):
        if n:
            t += gap
        start, end = round(t, 3), round(t + durations[i], 3)
        spoken_lines.append(SpokenLine(i, texts[i], start, end, _spread(split_words(texts[i]), start, end)))
        placements.append((i, round(t * rate)))
        t += durations[i]
    duration = round(t + tail, 3)
    path: str | None = None
    if clips is not None and out_wav is not None:
        track = np.zeros(round(duration * rate) + 1, dtype=np.float32)
        for i, offset in placements:
            track[offset : offset + len(clips[i])] += clips[i]
        _write_wav(Path(out_wav), track, rate)
        path = str(out_wav)
    return VoiceOver(
        path=path,
        duration=duration,
        lines=tuple(spoken_lines),
        language=language,
        voice=voice if path else "none",
        voiced=path is not None,
        note=note,
        dropped=len(texts) - len(keep),
    )


def _write_wav(path: Path, samples: np.ndarray, rate: int) -> None:
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm.tobytes())


def speech_onsets(samples: np.ndarray, rate: int, *, threshold_db: float, min_silence: float = 0.2) -> list[float]:
    """Times where the level rises above ``threshold_db`` (10 ms RMS frames) after at least ``min_silence``
    below it: sentence starts in a voice track or a mix. Used by the tests and the bench to check alignment."""
    db = _frame_db(samples, rate)
    above = db > threshold_db
    onsets: list[float] = []
    quiet = int(min_silence / 0.01)
    run = quiet
    for k, loud in enumerate(above):
        if loud and run >= quiet:
            onsets.append(round(k * 0.01, 3))
        run = 0 if loud else run + 1
    return onsets
