"""Human labels for livestream transcripts: what each sentence does, and what a reviewer thought of each clip.

"有多少智能,就有多少人工": the learned detector is only as good as its labels. Labels come from three places and
share one format: the written test corpus (``corpus/streams``), operators reviewing clips (``mcn clips review``),
and outside annotators who receive an export and send it back.

The exchange format is one JSON document, ``{"format": "mcn-labels/1", "sources": [...]}``; each source holds the
sentences of one recording with their kind and product, and optional clip verdicts::

    {
      "format": "mcn-labels/1",
      "sources": [
        {
          "source": "brand-a/2026-11-30-live.mp4",
          "language": "zh",
          "annotator": "li.na",
          "updated_at": "2026-12-01T10:00:00+00:00",
          "sentences": [
            {"index": 0, "start": 0.5, "end": 2.1, "text": "家人们晚上好。", "kind": "greeting", "product": null}
          ],
          "clips": [
            {"clip_id": "c01", "first_sentence": 3, "last_sentence": 7, "good": false, "reason": "starts mid-sentence"}
          ]
        }
      ]
    }

``kind`` is one of :data:`SENTENCE_KINDS`. Sentence times are seconds in the recording; an annotator who corrects a
boundary edits ``start``/``end``/``text`` of the sentences themselves.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, cast

from clipper.errors import ClipperError

__all__ = [
    "FORMAT",
    "SENTENCE_KINDS",
    "ClipVerdict",
    "LabelFormatError",
    "SentenceKind",
    "SentenceLabel",
    "SourceLabels",
    "dump_labels",
    "labels_from_json",
    "labels_to_json",
    "load_labels",
    "merge_labels",
    "updated_time",
]

FORMAT = "mcn-labels/1"
SentenceKind = Literal["greeting", "chatter", "transition", "selling", "price", "reply"]
#: What a sentence of a selling livestream does. Only ``selling`` belongs in a clip; ``price`` (prices, coupons,
#: links, stock, deadlines) must never be in one.
SENTENCE_KINDS: tuple[SentenceKind, ...] = ("greeting", "chatter", "transition", "selling", "price", "reply")


class LabelFormatError(ClipperError):
    """A label file is not valid ``mcn-labels/1``."""


@dataclass(frozen=True, slots=True)
class SentenceLabel:
    """One sentence of a recording and what it does."""

    index: int
    start: float
    end: float
    text: str
    kind: SentenceKind
    product_id: str | None = None


@dataclass(frozen=True, slots=True)
class ClipVerdict:
    """A reviewer's judgement of one clip (sentence range ``first_sentence..last_sentence`` inclusive)."""

    clip_id: str
    first_sentence: int
    last_sentence: int
    good: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class SourceLabels:
    """Every label of one recording."""

    source: str
    language: str
    sentences: tuple[SentenceLabel, ...]
    clips: tuple[ClipVerdict, ...] = ()
    annotator: str = ""
    updated_at: str = ""

    def kinds(self) -> tuple[SentenceKind, ...]:
        """The kind of each sentence, in order."""
        return tuple(s.kind for s in self.sentences)


def labels_to_json(sources: Iterable[SourceLabels]) -> dict[str, Any]:
    """The exchange document for ``sources`` (a JSON-serialisable dict)."""
    return {
        "format": FORMAT,
        "sources": [
            {
                "source": src.source,
                "language": src.language,
                "annotator": src.annotator,
                "updated_at": src.updated_at,
                "sentences": [
                    {
                        "index": s.index,
                        "start": round(s.start, 3),
                        "end": round(s.end, 3),
                        "text": s.text,
                        "kind": s.kind,
                        "product": s.product_id,
                    }
                    for s in src.sentences
                ],
                "clips": [
                    {
                        "clip_id": c.clip_id,
                        "first_sentence": c.first_sentence,
                        "last_sentence": c.last_sentence,
                        "good": c.good,
                        "reason": c.reason,
                    }
                    for c in src.clips
                ],
            }
            for src in sources
        ],
    }


def dump_labels(sources: Iterable[SourceLabels], path: str | Path) -> None:
    """Write ``sources`` as an ``mcn-labels/1`` file (UTF-8, Chinese kept readable)."""
    Path(path).write_text(json.dumps(labels_to_json(sources), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def load_labels(path: str | Path) -> tuple[SourceLabels, ...]:
    """Read an ``mcn-labels/1`` file.

    Raises:
        LabelFormatError: unreadable JSON, another format, or an invalid item; the message names the file and
            the item (``sources[2].sentences[14].kind: ...``).
    """
    subject = str(path)
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelFormatError(subject, f"cannot read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise LabelFormatError(subject, f"not JSON ({exc.msg} at line {exc.lineno})") from None
    return labels_from_json(document, subject)


def labels_from_json(document: Any, subject: str = "labels") -> tuple[SourceLabels, ...]:
    """Validate and convert a parsed ``mcn-labels/1`` document (see :func:`load_labels`)."""
    if not isinstance(document, Mapping) or document.get("format") != FORMAT:
        raise LabelFormatError(subject, f'expected a JSON object with "format": "{FORMAT}"')
    raw_sources = document.get("sources")
    if not isinstance(raw_sources, list):
        raise LabelFormatError(subject, '"sources" must be a list')
    return tuple(_source(item, f"sources[{n}]", subject) for n, item in enumerate(raw_sources))


def _source(item: Any, where: str, subject: str) -> SourceLabels:
    obj = _object(item, where, subject)
    sentences = tuple(
        _sentence(s, f"{where}.sentences[{n}]", subject) for n, s in enumerate(_list(obj, "sentences", where, subject))
    )
    for n, (a, b) in enumerate(itertools.pairwise(sentences), start=1):
        if b.start < a.start:
            raise LabelFormatError(subject, f"{where}.sentences[{n}]: starts before the sentence above it")
    clips = tuple(_clip(c, f"{where}.clips[{n}]", subject) for n, c in enumerate(obj.get("clips") or []))
    return SourceLabels(
        source=_str(obj, "source", where, subject),
        language=_str(obj, "language", where, subject),
        sentences=sentences,
        clips=clips,
        annotator=str(obj.get("annotator") or ""),
        updated_at=str(obj.get("updated_at") or ""),
    )


def _sentence(item: Any, where: str, subject: str) -> SentenceLabel:
    obj = _object(item, where, subject)
    kind = obj.get("kind")
    if kind not in SENTENCE_KINDS:
        raise LabelFormatError(subject, f"{where}.kind: {kind!r} is not one of {', '.join(SENTENCE_KINDS)}")
    start, end = _number(obj, "start", where, subject), _number(obj, "end", where, subject)
    if not 0 <= start <= end:
        raise LabelFormatError(subject, f"{where}: needs 0 <= start <= end (got {start}, {end})")
    product = obj.get("product")
    if product is not None and not isinstance(product, str):
        raise LabelFormatError(subject, f"{where}.product: must be a product id or null")
    index = obj.get("index")
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise LabelFormatError(subject, f"{where}.index: must be a non-negative integer")
    return SentenceLabel(index, start, end, _str(obj, "text", where, subject), cast(SentenceKind, kind), product)


def _clip(item: Any, where: str, subject: str) -> ClipVerdict:
    obj = _object(item, where, subject)
    first, last = obj.get("first_sentence"), obj.get("last_sentence")
    if not isinstance(first, int) or not isinstance(last, int) or not 0 <= first <= last:
        raise LabelFormatError(subject, f"{where}: needs integers 0 <= first_sentence <= last_sentence")
    good = obj.get("good")
    if not isinstance(good, bool):
        raise LabelFormatError(subject, f"{where}.good: must be true or false")
    return ClipVerdict(_str(obj, "clip_id", where, subject), first, last, good, str(obj.get("reason") or ""))


def updated_time(labels: SourceLabels, subject: str = "labels") -> datetime:
    """``labels.updated_at`` as an aware UTC time; an empty value is older than any time (``datetime.min``).

    Raises:
        LabelFormatError: ``updated_at`` is set but not an ISO 8601 time (the message names the source).
    """
    if not labels.updated_at:
        return datetime.min.replace(tzinfo=UTC)
    try:
        moment = datetime.fromisoformat(labels.updated_at)
    except ValueError:
        raise LabelFormatError(
            subject, f"source {labels.source!r}: updated_at {labels.updated_at!r} is not an ISO 8601 time"
        ) from None
    # a naive time is taken as UTC, as mcn stores every time in UTC
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def merge_labels(current: Iterable[SourceLabels], incoming: Iterable[SourceLabels]) -> tuple[SourceLabels, ...]:
    """Merge a newer label set into an older one, source by source: the later ``updated_at`` wins whole.

    A source is one annotator's consistent judgement of a recording, so it is never mixed sentence by sentence.
    On a tie the current labels stay (re-importing a file changes nothing). Order: ``current``'s sources, then
    the sources only ``incoming`` has.
    """
    merged = {src.source: src for src in current}
    for src in incoming:
        held = merged.get(src.source)
        if held is None or updated_time(src) > updated_time(held):
            merged[src.source] = src
    return tuple(merged.values())


def _object(item: Any, where: str, subject: str) -> Mapping[str, Any]:
    if not isinstance(item, Mapping):
        raise LabelFormatError(subject, f"{where}: must be a JSON object")
    return item


def _list(obj: Mapping[str, Any], key: str, where: str, subject: str) -> Sequence[Any]:
    value = obj.get(key)
    if not isinstance(value, list):
        raise LabelFormatError(subject, f"{where}.{key}: must be a list")
    return value


def _str(obj: Mapping[str, Any], key: str, where: str, subject: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        raise LabelFormatError(subject, f"{where}.{key}: must be a non-empty string")
    return value


def _number(obj: Mapping[str, Any], key: str, where: str, subject: str) -> float:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LabelFormatError(subject, f"{where}.{key}: must be a number")
    return float(value)
