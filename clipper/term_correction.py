"""Product-term correction for Mandarin transcripts: fix homophone misrecognitions of product names and attributes.

Whisper base hears a product's words right and writes them wrong: 长绒棉 becomes 常容连, 丝绒哑光 becomes 四柔雅光.
The sound is nearly there, the characters are not, and every matcher downstream (product segments, selling
points, hooks) compares characters. So after recognition each run of Chinese characters is compared, by sound, with
the product terms the operator gave (names, aliases, attributes): a window of the transcript whose toneless pinyin
is close to a term's is replaced by the term.

How close: the pinyin of each character is reduced to a fuzzy form that merges the confusions Mandarin speakers and
Whisper both make (zh/z, ch/c, sh/s, n/l, an/ang, en/eng, in/ing), the syllables are joined with a separator, and
the Levenshtein distance between the two letter strings is divided by the term's length in letters. A window is
replaced when that ratio is at most ``CorrectionOptions.max_distance`` and the window is not already the term.
Short terms are risky (two characters have many homophones in everyday speech), so terms shorter than
``min_fuzzy_chars`` are only replaced on an exact fuzzy-pinyin match, and terms shorter than ``min_chars`` never.

What is never touched: a window that already reads as any term, and anything that is not a Chinese character
(Latin brand names, digits, punctuation; a term is split into its Chinese runs, so "A类婴儿连体衣" contributes
"类婴儿连体衣"). Windows have exactly the term's number of characters, so every word keeps its length and times.

The threshold was chosen on the corpus dev split only (``bench/bench_asr_zh.py``); see ``DEFAULT_MAX_DISTANCE``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from clipper.types import Product, Word

__all__ = [
    "DEFAULT_SYLLABLE_SHARE",
    "Correction",
    "CorrectionOptions",
    "correct_text",
    "correct_words",
    "find_corrections",
    "fuzzy_pinyin",
    "product_terms",
]

# Chosen on the dev split (bench/bench_asr_zh.py --split dev): see CorrectionOptions.
DEFAULT_SYLLABLE_SHARE = 1 / 3
_CJK_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
# Initials and finals merged by the fuzzy form, longest first so "zh" is seen before "z".
_INITIALS = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("n", "l"))
_FINALS = (("iang", "ian"), ("uang", "uan"), ("ang", "an"), ("eng", "en"), ("ing", "in"))


@dataclass(frozen=True, slots=True)
class CorrectionOptions:
    """How :func:`correct_words` matches transcript windows against product terms.

    A window of the transcript, as long as the term, is compared syllable by syllable (fuzzy toneless pinyin, see
    :func:`fuzzy_pinyin`). It is replaced by the term when at most ``max_syllable_share`` of its syllables differ
    from the term's (rounded down: a three-character term tolerates one) and each differing syllable is within
    ``max_letter_edits`` letters of the term's (常容连 -> 长绒棉: lian/mian, one letter).

    Attributes:
        max_syllable_share: the share of a term's syllables that may differ.
        max_letter_edits: how many letters one differing syllable may be away from the term's.
        min_chars: terms (Chinese runs) shorter than this are ignored.
        min_fuzzy_chars: terms shorter than this are replaced only when the fuzzy pinyin matches exactly.
    """

    max_syllable_share: float = DEFAULT_SYLLABLE_SHARE
    max_letter_edits: int = 1
    min_chars: int = 2
    min_fuzzy_chars: int = 3


@dataclass(frozen=True, slots=True)
class Correction:
    """One replacement: characters ``[start, end)`` of the joined text were ``heard`` and became ``term``."""

    start: int
    end: int
    heard: str
    term: str
    distance: float


def product_terms(products: Iterable[Product]) -> tuple[str, ...]:
    """Every product's name, aliases and attributes, in order, without duplicates: the correction's vocabulary."""
    seen: dict[str, None] = {}
    for product in products:
        for term in (*product.names, *product.attributes):
            if term.strip():
                seen.setdefault(term.strip(), None)
    return tuple(seen)


@functools.lru_cache(maxsize=65536)
def _syllable(char: str) -> str:
    from pypinyin import lazy_pinyin

    return _fuzzy(lazy_pinyin(char)[0])


@functools.lru_cache(maxsize=4096)
def _fuzzy(syllable: str) -> str:
    s = syllable.lower().replace("ü", "v")
    for full, short in _INITIALS:
        if s.startswith(full):
            s = short + s[len(full) :]
            break
    for full, short in _FINALS:
        if s.endswith(full):
            s = s[: -len(full)] + short
            break
    return s


def fuzzy_pinyin(text: str) -> tuple[str, ...]:
    """One fuzzy toneless syllable per Chinese character of ``text`` (context-aware readings: 长绒棉 -> chang)."""
    from pypinyin import lazy_pinyin

    chars = [c for c in text if _CJK.match(c)]
    if not chars:
        return ()
    run = "".join(chars)
    readings = lazy_pinyin(run)
    if len(readings) != len(run):  # a phrase reading that did not come out one per character
        return tuple(_syllable(c) for c in run)
    return tuple(_fuzzy(r) for r in readings)


def _distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


@dataclass(frozen=True, slots=True)
class _Term:
    text: str
    sound: tuple[str, ...]
    exact_only: bool


def _terms(terms: Iterable[str], options: CorrectionOptions) -> list[_Term]:
    out: dict[str, _Term] = {}
    for term in terms:
        for run in _CJK_RUN.findall(term):
            if len(run) < options.min_chars or run in out:
                continue
            out[run] = _Term(run, fuzzy_pinyin(run), len(run) < options.min_fuzzy_chars)
    # Longer terms first: they carry more evidence, and a long match should win over a short one inside it.
    return sorted(out.values(), key=lambda t: -len(t.text))


def find_corrections(
    text: str, terms: Iterable[str], options: CorrectionOptions | None = None
) -> tuple[Correction, ...]:
    """The replacements :func:`correct_text` would make in ``text``, non-overlapping, in text order."""
    opts = options or CorrectionOptions()
    vocabulary = _terms(terms, opts)
    if not vocabulary:
        return ()
    # Characters already spelled as a term are protected: no correction may overlap them.
    protected = [False] * len(text)
    for term in vocabulary:
        for m in re.finditer(re.escape(term.text), text):
            for i in range(m.start(), m.end()):
                protected[i] = True
    # A window that is already part of some term ("吸管盖" inside "吸管盖加直饮盖") is right as it is.
    spelled = [t.text for t in vocabulary]
    # Index the terms by (length, position, syllable): a window is compared only with the terms that share enough
    # syllables with it in place, so it costs a few dict lookups whatever the number of terms (a 6-hour stream has
    # ~100k characters, a product file hundreds of terms).
    allowed_by_size: dict[int, int] = {}
    at: dict[tuple[int, int, str], list[int]] = {}
    for n, term in enumerate(vocabulary):
        size = len(term.text)
        allowed = 0 if term.exact_only else int(size * opts.max_syllable_share + 1e-9)
        allowed_by_size[size] = max(allowed_by_size.get(size, 0), allowed)
        for j, syllable in enumerate(term.sound):
            at.setdefault((size, j, syllable), []).append(n)
    candidates: list[Correction] = []
    for run in _CJK_RUN.finditer(text):
        sounds = fuzzy_pinyin(run.group(0))
        for size, allowed in allowed_by_size.items():
            for k in range(len(sounds) - size + 1):
                window = sounds[k : k + size]
                shared: dict[int, int] = {}
                for j, syllable in enumerate(window):
                    for n in at.get((size, j, syllable), ()):
                        shared[n] = shared.get(n, 0) + 1
                matched = [vocabulary[n] for n, count in shared.items() if count >= size - allowed]
                for term in matched:
                    differing = sum(1 for a, b in zip(window, term.sound, strict=True) if a != b)
                    if differing > (0 if term.exact_only else allowed):
                        continue
                    edits = [_distance(a, b) if a != b else 0 for a, b in zip(window, term.sound, strict=True)]
                    if max(edits) > opts.max_letter_edits:
                        continue
                    start = run.start() + k
                    heard = text[start : start + size]
                    if any(protected[start : start + size]) or any(heard in t for t in spelled):
                        continue
                    distance = sum(edits) / sum(len(s) for s in term.sound)
                    candidates.append(Correction(start, start + size, heard, term.text, distance))
    chosen: list[Correction] = []
    taken = [False] * len(text)
    # Best first: closest sound, then the longer term.
    for c in sorted(candidates, key=lambda c: (c.distance, -(c.end - c.start), c.start)):
        if any(taken[c.start : c.end]):
            continue
        chosen.append(c)
        for i in range(c.start, c.end):
            taken[i] = True
    return tuple(sorted(chosen, key=lambda c: c.start))


def correct_text(text: str, terms: Iterable[str], options: CorrectionOptions | None = None) -> str:
    """``text`` with every window that sounds like a product term (and is not one) replaced by the term.

    The result has exactly as many characters as ``text``.
    """
    out = list(text)
    for c in find_corrections(text, terms, options):
        out[c.start : c.end] = c.term
    return "".join(out)


def correct_words(
    words: Sequence[Word], terms: Sequence[str], options: CorrectionOptions | None = None
) -> tuple[Word, ...]:
    """``words`` (a Chinese transcript, in order) with misheard product terms corrected; times and lengths kept.

    The words are joined so a term split over several Whisper tokens is found, corrected as one text, and cut
    back at the original character offsets.
    """
    if not words or not terms:
        return tuple(words)
    joined = "".join(w.text for w in words)
    fixed = correct_text(joined, terms, options)
    if fixed == joined:
        return tuple(words)
    out: list[Word] = []
    pos = 0
    for word in words:
        text = fixed[pos : pos + len(word.text)]
        pos += len(word.text)
        out.append(word if text == word.text else replace(word, text=text))
    return tuple(out)
