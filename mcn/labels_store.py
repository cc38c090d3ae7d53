"""Human labels per recording: read a clips output folder, start labels from it, edit them, and keep them in the
database (SQLite or Postgres, table ``source_labels``).

A source's labels are one ``mcn-labels/1`` source document (:class:`clipper.labels.SourceLabels`) keyed by the
source key the clip factory records: ``clips.json``'s ``source``, the same string as ``sources.uri``. Reviews
(``mcn clips review``), imports from outside annotators and the written corpus all end up here in that one form.
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from sqlmodel import col, select

from clipper.errors import ClipperError
from clipper.labels import (
    SENTENCE_KINDS,
    ClipVerdict,
    LabelFormatError,
    SentenceKind,
    SentenceLabel,
    SourceLabels,
    labels_from_json,
    labels_to_json,
    updated_time,
)
from mcn.db import session
from mcn.tables import SourceLabelsRecord, as_utc, utcnow

__all__ = [
    "ClipInfo",
    "ClipsFolder",
    "ImportResult",
    "LabelsSummary",
    "ReviewError",
    "TranscriptSentence",
    "default_annotator",
    "export_labels",
    "import_labels",
    "labels_for_folder",
    "labels_from_folder",
    "list_labels",
    "load_source_labels",
    "read_clips_folder",
    "save_labels",
    "stamped",
    "verdict_for",
    "with_kind",
    "with_verdict",
]


class ReviewError(ClipperError):
    """A clips output folder or a review edit cannot be used; ``str()`` is one line naming the input."""


# -- the clips output folder -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TranscriptSentence:
    """A sentence of ``transcript.json``; ``kind`` is ``None`` until the transcript's sentences are classified."""

    index: int
    start: float
    end: float
    text: str
    kind: SentenceKind | None = None


@dataclass(frozen=True, slots=True)
class ClipInfo:
    """One clip of ``clips.json``: what a reviewer sees and judges (``rank`` 1 = best)."""

    id: str
    rank: int
    source_start: float
    source_end: float
    score: float
    product: str | None
    hook: str
    title: str
    path: str
    sentences: tuple[int, ...]

    @property
    def first_sentence(self) -> int:
        """The first sentence the planner put in the clip."""
        return min(self.sentences)

    @property
    def last_sentence(self) -> int:
        """The last sentence the planner put in the clip."""
        return max(self.sentences)


@dataclass(frozen=True, slots=True)
class ClipsFolder:
    """A ``mcn clips make`` output folder: its ``clips.json`` (clips best first) and ``transcript.json``."""

    path: Path
    source: str
    language: str
    clips: tuple[ClipInfo, ...]
    sentences: tuple[TranscriptSentence, ...]

    def clip(self, clip_id: str) -> ClipInfo:
        """The clip with ``clip_id``.

        Raises:
            ReviewError: no clip has that id.
        """
        for c in self.clips:
            if c.id == clip_id:
                return c
        raise ReviewError(str(self.path / "clips.json"), f"no clip {clip_id!r}")

    def media_path(self, clip: ClipInfo) -> Path:
        """The clip's video file, resolved; it must lie inside the folder (``clips.json`` paths are relative).

        Raises:
            ReviewError: the path leaves the folder (``../``, absolute, a symlink out) or the file is missing.
        """
        root = self.path.resolve()
        target = (root / clip.path).resolve()
        if not target.is_relative_to(root):
            raise ReviewError(clip.path, f"clip {clip.id}: path is outside {self.path}")
        if not target.is_file():
            raise ReviewError(str(target), f"clip {clip.id}: video file not found")
        return target


def read_clips_folder(path: str | Path) -> ClipsFolder:
    """Read ``clips.json`` and ``transcript.json`` of an output folder; clips come best first (by score).

    Raises:
        ReviewError: a file is missing, is not JSON, or does not have the expected shape (the message names the file
            and the item, e.g. ``out/clips.json: clips[2].sentences: ...``).
    """
    folder = Path(path)
    if not folder.is_dir():
        raise ReviewError(str(folder), "not a folder (expected the --out folder of mcn clips make)")
    manifest = _read_json(folder / "clips.json")
    transcript = _read_json(folder / "transcript.json")
    clips_file, transcript_file = str(folder / "clips.json"), str(folder / "transcript.json")
    sentences = tuple(
        _transcript_sentence(item, f"sentences[{n}]", n, transcript_file)
        for n, item in enumerate(_list_at(transcript, "sentences", transcript_file))
    )
    source = manifest.get("source") if isinstance(manifest, Mapping) else None
    if not isinstance(source, str) or not source.strip():
        raise ReviewError(clips_file, "source: must be a non-empty string")
    language = manifest.get("language") or transcript.get("language") or "zh"
    clips = tuple(
        _clip_info(item, f"clips[{n}]", n + 1, len(sentences), clips_file)
        for n, item in enumerate(_list_at(manifest, "clips", clips_file))
    )
    seen: set[str] = set()
    for c in clips:
        if c.id in seen:
            raise ReviewError(clips_file, f"clip id {c.id!r} appears twice")
        seen.add(c.id)
    # clips.json lists clips best first already; sorting (stable) keeps that promise for hand-edited files too
    ranked = sorted(clips, key=lambda c: -c.score)
    return ClipsFolder(
        folder, source, str(language), tuple(replace(c, rank=n) for n, c in enumerate(ranked, start=1)), sentences
    )


def _read_json(path: Path) -> Mapping[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReviewError(str(path), "not found (expected the --out folder of mcn clips make)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReviewError(str(path), f"cannot read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise ReviewError(str(path), f"not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, Mapping):
        raise ReviewError(str(path), "must be a JSON object")
    return data


def _list_at(doc: Mapping[str, Any], key: str, subject: str) -> list[Any]:
    value = doc.get(key)
    if not isinstance(value, list):
        raise ReviewError(subject, f"{key}: must be a list")
    return value


def _number(obj: Mapping[str, Any], key: str, where: str, subject: str) -> float:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ReviewError(subject, f"{where}.{key}: must be a number")
    return float(value)


def _transcript_sentence(item: Any, where: str, position: int, subject: str) -> TranscriptSentence:
    if not isinstance(item, Mapping):
        raise ReviewError(subject, f"{where}: must be a JSON object")
    if item.get("index") != position:
        raise ReviewError(subject, f"{where}.index: must be {position} (indexes count from 0)")
    text = item.get("text")
    if not isinstance(text, str):
        raise ReviewError(subject, f"{where}.text: must be a string")
    kind = item.get("kind")
    # "kind" is optional: missing (or null) means the transcript was not classified yet
    if kind is not None and kind not in SENTENCE_KINDS:
        raise ReviewError(subject, f"{where}.kind: {kind!r} is not one of {', '.join(SENTENCE_KINDS)}")
    start, end = _number(item, "start", where, subject), _number(item, "end", where, subject)
    return TranscriptSentence(position, start, end, text, cast(SentenceKind | None, kind))


def _clip_info(item: Any, where: str, rank: int, sentence_count: int, subject: str) -> ClipInfo:
    if not isinstance(item, Mapping):
        raise ReviewError(subject, f"{where}: must be a JSON object")
    clip_id, path = item.get("id"), item.get("path")
    if not isinstance(clip_id, str) or not clip_id.strip():
        raise ReviewError(subject, f"{where}.id: must be a non-empty string")
    if not isinstance(path, str) or not path.strip():
        raise ReviewError(subject, f"{where}.path: must be a non-empty string")
    sentences = item.get("sentences")
    if (
        not isinstance(sentences, list)
        or not sentences
        or not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < sentence_count for i in sentences)
    ):
        raise ReviewError(
            subject, f"{where}.sentences: must be a non-empty list of sentence indexes below {sentence_count}"
        )
    product = item.get("product")
    return ClipInfo(
        id=clip_id,
        rank=rank,
        source_start=_number(item, "source_start", where, subject),
        source_end=_number(item, "source_end", where, subject),
        score=float(item.get("score") or 0.0),
        product=product if isinstance(product, str) else None,
        hook=str(item.get("hook") or ""),
        title=str(item.get("title") or ""),
        path=path,
        sentences=tuple(sentences),
    )


# -- labels from a folder, and edits ------------------------------------------------------------------------------


def default_annotator() -> str:
    """Who is labelling: ``$MCN_ANNOTATOR``, else the login name."""
    try:
        return os.environ.get("MCN_ANNOTATOR") or getpass.getuser()
    except (OSError, KeyError):  # no login name in some containers
        return "reviewer"


def labels_from_folder(folder: ClipsFolder, annotator: str = "") -> SourceLabels:
    """Starting labels for a folder nobody has labelled yet: every sentence of ``transcript.json`` and no verdicts.

    A sentence's kind is the transcript's ``kind`` when the transcript was classified; otherwise the pipeline's own
    guess: ``selling`` inside a clip, ``chatter`` outside (the reviewer corrects it). A sentence inside a clip
    carries the clip's product.
    """
    in_clip: dict[int, str | None] = {}
    for clip in reversed(folder.clips):  # the best clip's product wins where clips overlap
        for index in range(clip.first_sentence, clip.last_sentence + 1):
            in_clip[index] = clip.product
    sentences = tuple(
        SentenceLabel(
            index=s.index,
            start=s.start,
            end=s.end,
            text=s.text,
            kind=s.kind or ("selling" if s.index in in_clip else "chatter"),
            product_id=in_clip.get(s.index),
        )
        for s in folder.sentences
    )
    return SourceLabels(folder.source, folder.language, sentences, (), annotator, "")


def labels_for_folder(folder: ClipsFolder, annotator: str = "") -> SourceLabels:
    """The labels a review of ``folder`` starts from: the stored ones for its source, else :func:`labels_from_folder`.

    Raises:
        ReviewError: the stored labels do not line up with this folder's transcript (another sentence count), so
            clip sentence indexes would point at the wrong sentences.
    """
    stored = load_source_labels(folder.source)
    if stored is None:
        return labels_from_folder(folder, annotator)
    if len(stored.sentences) != len(folder.sentences):
        raise ReviewError(
            folder.source,
            f"stored labels have {len(stored.sentences)} sentences but {folder.path / 'transcript.json'} has "
            f"{len(folder.sentences)}; export them (mcn labels export) and reconcile first",
        )
    return stored


def with_kind(labels: SourceLabels, index: int, kind: str) -> SourceLabels:
    """``labels`` with sentence ``index`` set to ``kind``.

    Raises:
        ReviewError: no such sentence, or ``kind`` is not one of :data:`clipper.labels.SENTENCE_KINDS`.
    """
    if kind not in SENTENCE_KINDS:
        raise ReviewError(f"kind {kind!r}", f"must be one of {', '.join(SENTENCE_KINDS)}")
    if not 0 <= index < len(labels.sentences):
        raise ReviewError(f"sentence {index}", f"no such sentence (0..{len(labels.sentences) - 1})")
    sentences = list(labels.sentences)
    sentences[index] = replace(sentences[index], kind=cast(SentenceKind, kind))
    return replace(labels, sentences=tuple(sentences))


def verdict_for(labels: SourceLabels, clip_id: str) -> ClipVerdict | None:
    """The stored verdict on ``clip_id``, if it was reviewed."""
    return next((c for c in labels.clips if c.clip_id == clip_id), None)


def with_verdict(labels: SourceLabels, verdict: ClipVerdict) -> SourceLabels:
    """``labels`` with ``verdict`` replacing any earlier verdict on the same clip.

    Raises:
        ReviewError: the boundaries are not ``0 <= first <= last < sentence count``, or a bad clip has no reason.
    """
    count = len(labels.sentences)
    if not 0 <= verdict.first_sentence <= verdict.last_sentence < count:
        raise ReviewError(
            f"clip {verdict.clip_id}",
            f"boundaries must satisfy 0 <= first <= last <= {count - 1} "
            f"(got {verdict.first_sentence}..{verdict.last_sentence})",
        )
    if not verdict.good and not verdict.reason.strip():
        raise ReviewError(f"clip {verdict.clip_id}", "a bad clip needs a reason")
    others = tuple(c for c in labels.clips if c.clip_id != verdict.clip_id)
    return replace(labels, clips=(*others, verdict))


def stamped(labels: SourceLabels, annotator: str, at: datetime | None = None) -> SourceLabels:
    """``labels`` marked as changed by ``annotator`` now (or ``at``)."""
    return replace(labels, annotator=annotator, updated_at=as_utc(at or utcnow()).isoformat())


# -- the database ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LabelsSummary:
    """One stored source, as ``mcn labels list`` shows it."""

    source: str
    language: str
    annotator: str
    sentences: int
    verdicts: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import did: the sources written (new or newer) and those kept (the stored ones were as new)."""

    written: tuple[str, ...]
    kept: tuple[str, ...]


def _document(labels: SourceLabels) -> dict[str, Any]:
    return cast(dict[str, Any], labels_to_json([labels])["sources"][0])


def _from_record(record: SourceLabelsRecord) -> SourceLabels:
    document = {"format": "mcn-labels/1", "sources": [record.document]}
    return labels_from_json(document, f"stored labels of {record.source}")[0]


def _write(db: Any, labels: SourceLabels, at: datetime) -> None:
    row = db.get(SourceLabelsRecord, labels.source)
    if row is None:
        row = SourceLabelsRecord(source=labels.source, language=labels.language)
    row.language = labels.language
    row.annotator = labels.annotator
    row.sentence_count = len(labels.sentences)
    row.verdict_count = len(labels.clips)
    row.document = _document(labels)
    row.updated_at = at
    db.add(row)


def save_labels(labels: SourceLabels) -> SourceLabels:
    """Store ``labels`` for its source, replacing what was stored; returns them as stored.

    ``updated_at`` is kept when set (an import keeps the annotator's time) and set to now when empty.
    """
    if not labels.updated_at:
        labels = replace(labels, updated_at=utcnow().isoformat())
    at = updated_time(labels, labels.source)
    with session() as db:
        _write(db, labels, at)
        db.commit()
    return labels


def load_source_labels(source: str) -> SourceLabels | None:
    """The stored labels of ``source``, or ``None``."""
    with session() as db:
        row = db.get(SourceLabelsRecord, source)
        return None if row is None else _from_record(row)


def list_labels() -> list[LabelsSummary]:
    """Every stored source, most recently changed first."""
    with session() as db:
        rows = db.exec(select(SourceLabelsRecord).order_by(col(SourceLabelsRecord.updated_at).desc()))
        return [
            LabelsSummary(r.source, r.language, r.annotator, r.sentence_count, r.verdict_count, as_utc(r.updated_at))
            for r in rows
        ]


def export_labels(sources: Sequence[str] = ()) -> tuple[SourceLabels, ...]:
    """The stored labels of ``sources`` (all when empty), ordered by source key.

    Raises:
        ReviewError: a named source has no stored labels.
    """
    with session() as db:
        query = select(SourceLabelsRecord).order_by(col(SourceLabelsRecord.source))
        if sources:
            query = query.where(col(SourceLabelsRecord.source).in_(list(sources)))
        rows = list(db.exec(query))
    missing = sorted(set(sources) - {r.source for r in rows})
    if missing:
        raise ReviewError(missing[0], "no stored labels for this source (see mcn labels list)")
    return tuple(_from_record(r) for r in rows)


def import_labels(incoming: Iterable[SourceLabels], subject: str = "labels") -> ImportResult:
    """Store validated labels in one transaction: a source is written when it is new or its ``updated_at`` is later
    than the stored one's; otherwise the stored labels stay. Re-importing the same file writes nothing.

    Raises:
        LabelFormatError: a source appears twice, or an ``updated_at`` is not an ISO time (nothing is written).
    """
    batch = list(incoming)
    seen: dict[str, int] = {}
    for n, src in enumerate(batch):
        if src.source in seen:
            first = seen[src.source]
            raise LabelFormatError(subject, f"sources[{n}]: source {src.source!r} already appears at sources[{first}]")
        seen[src.source] = n
        updated_time(src, f"{subject}: sources[{n}]")  # validate every time before anything is written
    written: list[str] = []
    kept: list[str] = []
    with session() as db:
        for src in batch:
            row = db.get(SourceLabelsRecord, src.source)
            # an empty updated_at is older than anything: such labels only fill a gap, so re-imports stay no-ops
            at = updated_time(src)
            if row is not None and as_utc(row.updated_at) >= at:
                kept.append(src.source)
                continue
            if not src.updated_at:
                at = utcnow()
                src = replace(src, updated_at=at.isoformat())
            _write(db, src, at)
            written.append(src.source)
        db.commit()
    return ImportResult(tuple(written), tuple(kept))
