"""Scoring speech recognition against the voiced corpus: CER / WER, punctuation share, and cut-down fixtures.

Used by ``bench/bench_asr_zh.py`` and the Mandarin ASR tests, so both measure the same way:

* Chinese is scored by character error rate over Chinese characters and Latin letters; punctuation and spaces are
  dropped, and Arabic numbers in the output are read out in Chinese numerals first (the corpus scripts spell every
  number in characters, and "89元" is as right as "八十九元" to an operator).
* English is scored by word error rate over lower-cased words.
"""

from __future__ import annotations

import re
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from clipper.types import Sentence
from mcn.samples.corpus import CorpusStream

__all__ = [
    "AsrFixture",
    "cut_stream",
    "error_rate",
    "numbers_to_zh",
    "punctuated_share",
    "score",
    "units",
]

_PUNCT = re.compile(r"[，。！？、；：,.!?;:]")
_DIGITS = "零一二三四五六七八九"
SAMPLE_RATE = 16_000


def _int_zh(n: int) -> str:
    """An integer below 10^8 read out in Chinese numerals (129 -> 一百二十九, 10 -> 十, 2005 -> 二千零五)."""
    if n == 0:
        return "零"
    if n >= 10_000:
        high, low = divmod(n, 10_000)
        return _int_zh(high) + "万" + ("零" if 0 < low < 1000 else "") + (_int_zh(low) if low else "")
    out, zero = "", False
    for unit, size in (("千", 1000), ("百", 100), ("十", 10), ("", 1)):
        digit, n = divmod(n, size)
        if digit:
            if zero:
                out += "零"
            out += ("" if unit == "十" and not out and digit == 1 else _DIGITS[digit]) + unit
            zero = False
        elif out:
            zero = True
    return out


def numbers_to_zh(text: str) -> str:
    """Arabic numbers (integers, decimals, percentages) in ``text`` read out in Chinese numerals.

    ``129`` -> 一百二十九, ``9.9`` -> 九点九, ``95%`` -> 百分之九十五; longer than 8 digits: digit by digit.
    """

    def read(m: re.Match[str]) -> str:
        whole, _, frac = m.group(1).replace(",", "").partition(".")
        spoken = _int_zh(int(whole)) if len(whole) <= 8 else "".join(_DIGITS[int(d)] for d in whole)
        if frac:
            spoken += "点" + "".join(_DIGITS[int(d)] for d in frac)
        return "百分之" + spoken if m.group(2) else spoken

    return re.sub(r"((?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?)\s*(%|％)?", read, text)


def units(text: str, language: str) -> list[str]:
    """What error rates count: characters (and letters) for ``zh``, lower-cased words otherwise."""
    if language.startswith("zh"):
        return re.findall(r"[\u3400-\u9fff\uf900-\ufaff]|[a-z]", numbers_to_zh(text).lower())
    return re.findall(r"[a-z0-9']+", text.lower())


def error_rate(reference: Sequence[str], hypothesis: Sequence[str]) -> float:
    """Levenshtein distance between two unit sequences, divided by the reference length."""
    prev = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        cur = [i, *([0] * len(hypothesis))]
        for j, hyp in enumerate(hypothesis, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ref != hyp))
        prev = cur
    return prev[-1] / max(len(reference), 1)


def score(reference: str, hypothesis: str, language: str) -> float:
    """CER (``zh``) or WER (otherwise) of ``hypothesis`` against ``reference``."""
    return error_rate(units(reference, language), units(hypothesis, language))


def punctuated_share(sentences: Sequence[Sentence]) -> float:
    """The share of sentences that hold at least one punctuation mark (0 when there are none)."""
    return sum(1 for s in sentences if _PUNCT.search(s.text)) / len(sentences) if sentences else 0.0


@dataclass(frozen=True, slots=True)
class AsrFixture:
    """A corpus stream, possibly cut short, as a 16 kHz WAV with the text spoken in it."""

    id: str
    language: str
    audio: Path
    reference: str
    duration: float
    hotwords: tuple[str, ...]


def cut_stream(stream: CorpusStream, out_dir: Path, seconds: float | None = None) -> AsrFixture:
    """Write ``stream``'s audio (its first ``seconds``, ending after the last whole line) as a WAV in ``out_dir``.

    The reference is the spoken text (``say`` else ``text``) of the lines that end inside the kept audio.

    Raises:
        FileNotFoundError: the stream is not voiced.
    """
    if stream.audio is None:
        raise FileNotFoundError(f"corpus stream {stream.id} is not voiced (scripts/voice_corpus.py)")
    from faster_whisper import decode_audio

    audio = decode_audio(str(stream.audio), sampling_rate=SAMPLE_RATE)
    cut = len(audio)
    if seconds:
        ends = [line.end for line in stream.lines if line.end <= seconds]
        # Just after the last whole line, so no line is half in the audio.
        cut = min(cut, int((max(ends) + 0.3 if ends else seconds) * SAMPLE_RATE))
    audio = audio[:cut]
    kept = [spoken for line, spoken in zip(stream.lines, stream.spoken, strict=True) if line.end <= cut / SAMPLE_RATE]
    path = out_dir / f"{stream.id}.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes((audio.clip(-1, 1) * 32767).astype("<i2").tobytes())
    return AsrFixture(
        id=stream.id,
        language=stream.language,
        audio=path,
        reference=("" if stream.language == "zh" else " ").join(kept),
        duration=round(cut / SAMPLE_RATE, 3),
        hotwords=tuple(n for p in stream.products for n in p.names),
    )
