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

Punctuation: Whisper writes ASCII ``,`` ``?`` ``!`` ``.`` after Chinese text about as often as ``，？！。``; a
Chinese subtitle uses the full-width forms, so an ASCII mark next to a Chinese character becomes its full-width
twin (one character for one, so lengths hold here too). Marks between Latin letters or digits (``1.5``,
``OK, go``) stay as they are.
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
_FULL_WIDTH = {",": "，", "?": "？", "!": "！", ":": "：", ";": "；"}


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
    """``text`` with ASCII ``, ? ! : ;`` next to a Chinese character, and ``.`` after one, made full-width.

    Spaces are looked through (Whisper's words carry a leading space); the length never changes.
    """
    if not any(ch in _FULL_WIDTH or ch == "." for ch in text):
        return text
    chars = list(text)
    for i, ch in enumerate(chars):
        if ch not in _FULL_WIDTH and ch != ".":
            continue
        before = text[:i].rstrip()[-1:]
        after = text[i + 1 :].lstrip()[:1]
        if _CJK.match(before) or (ch != "." and _CJK.match(after)):
            chars[i] = _FULL_WIDTH.get(ch, "。")
    return "".join(chars)


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
