"""Chinese transcript text: simplified characters and Chinese punctuation, keeping every word's time.

Whisper's Chinese training data mixes traditional and simplified script, so even with a simplified prompt it
writes some traditional characters (長絨棉, 嬰幼兒); a mainland operator reads those as errors, and the selling-point
and product matchers compare against simplified product names. Conversion uses OpenCC's ``t2s`` configuration
(the ``opencc`` package, Apache-2.0, prebuilt wheels for CPython 3.11+ on Linux, macOS and Windows).

Words are Whisper's timed tokens: one to a few characters each, with times that clip boundaries depend on. So the
conversion never changes a word's length: the words of a segment are converted together (OpenCC's phrase tables
then see the context, which keeps 乾隆 or 著名 intact where a character map would write 干隆 and 着名) and the
result is cut back at the same character offsets; if a phrase rule ever changed the length, each character is
converted on its own instead.

Punctuation: Whisper writes ASCII ``,`` ``?`` ``!`` ``.`` in Chinese text about as often as ``，？！。``; a
Chinese subtitle uses the full-width forms, so each ASCII mark in a Chinese transcript becomes its full-width twin
(one character for one, so lengths hold here too), also after a number or a brand ("1米65，").
Marks inside a Latin or numeric token (``3,999``, ``10:30``, ``1.5``) or between two Latin words (``OK, go``),
ellipses, and English phrases (Latin letters and no Chinese character in the segment) stay as they are.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from clipper.types import Word

__all__ = ["full_width_punctuation", "normalize_words", "to_simplified", "traditional_chars"]

_LOCK = threading.Lock()
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")
_FULL_WIDTH = {",": "，", "?": "？", "!": "！", ":": "：", ";": "；", ".": "。"}


@functools.lru_cache(maxsize=1)
def _converter() -> Any:
    import opencc

    return opencc.OpenCC("t2s")


def _convert(text: str) -> str:
    # One converter for the process; the lock because OpenCC does not document its converter as thread-safe and
    # Prefect may run two transcriptions in threads. A segment converts in microseconds.
    with _LOCK:
        return str(_converter().convert(text))


@functools.lru_cache(maxsize=8192)
def _char(ch: str) -> str:
    out = _convert(ch)
    return out if len(out) == 1 else ch


def to_simplified(text: str) -> str:
    """``text`` in simplified characters, with exactly as many characters as before.

    Phrase-level conversion when it keeps the length (it almost always does), else character by character;
    Latin letters, digits and punctuation pass through unchanged.
    """
    if not text or text.isascii():
        return text
    out = _convert(text)
    if len(out) == len(text):
        return out
    return "".join(_char(ch) for ch in text)


def full_width_punctuation(text: str) -> str:
    """``text`` (from a Chinese transcript) with its ASCII ``, ? ! : ; .`` made full-width.

    A mark with an ASCII letter or digit right on both sides (``3,999``, ``10:30``, ``1.5``) belongs to that token,
    one between two Latin words (``OK, go``) is English, and a dot next to another dot is an ellipsis: all stay.
    Text with Latin letters and no Chinese character is an English phrase and stays as it is; numbers alone
    ("1, 89，") are Chinese speech. The length never changes.
    """
    if not any(ch in _FULL_WIDTH for ch in text) or (not _CJK.search(text) and _LATIN.search(text)):
        return text
    chars = list(text)
    for i, ch in enumerate(text):
        if ch not in _FULL_WIDTH:
            continue
        before = text[i - 1] if i else ""
        after = text[i + 1] if i + 1 < len(text) else ""
        if _ascii_alnum(before) and _ascii_alnum(after):
            continue
        # Between two Latin words ("OK, go") the mark is English punctuation; spaces are looked through.
        if _LATIN.fullmatch(text[:i].rstrip()[-1:] or "-") and _LATIN.fullmatch(text[i + 1 :].lstrip()[:1] or "-"):
            continue
        if ch == "." and "." in (before, after):
            continue
        chars[i] = _FULL_WIDTH[ch]
    return "".join(chars)


def _ascii_alnum(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def normalize_words(words: Sequence[Word]) -> tuple[Word, ...]:
    """Simplified characters and full-width punctuation for consecutive words (one segment); times untouched.

    The words are converted as one string so phrase rules see their context, then cut back at the original
    character offsets; every word keeps its length, start, end and probability.
    """
    if not words:
        return ()
    joined = "".join(w.text for w in words)
    converted = full_width_punctuation(to_simplified(joined))
    if converted == joined:
        return tuple(words)
    out: list[Word] = []
    pos = 0
    for word in words:
        text = converted[pos : pos + len(word.text)]
        pos += len(word.text)
        out.append(word if text == word.text else replace(word, text=text))
    return tuple(out)


def traditional_chars(text: str) -> str:
    """The characters of ``text`` that OpenCC's phrase-level ``t2s`` would change, in order (empty if none).

    Used to check output: a transcript after :func:`simplify_words` should have none.
    """
    converted = _convert(text)
    if len(converted) != len(text):
        return "".join(ch for ch in text if _char(ch) != ch)
    return "".join(a for a, b in zip(text, converted, strict=True) if a != b)
