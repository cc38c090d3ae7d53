"""The voiced livestream corpus in ``corpus/``: scripts written blind from ``corpus/SPEC.md``, voiced by neural TTS.

Each stream is ``corpus/streams/<id>.json`` (the script, every line labelled) plus, once voiced by
``scripts/voice_corpus.py``, ``corpus/audio/<id>.opus`` and ``corpus/audio/<id>.timing.json`` (each line's speech
times in the audio). ``corpus/splits.json`` fixes which streams may be tuned on (``dev``) and which are only ever
measured (``holdout``; ``holdout2`` and ``holdout3``: streams written blind after the first holdout was measured).

:func:`load_stream` gives a :class:`CorpusStream` with the same :class:`~mcn.samples.TimedLine` ground truth the
generated espeak-ng streams have, so :mod:`mcn.samples.evaluate` scores both alike, and :func:`stream_labels`
turns it into the ``mcn-labels/1`` form the learned detector trains on.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

from clipper.labels import SENTENCE_KINDS, SentenceLabel, SourceLabels
from clipper.types import Product
from mcn.samples import LineKind, TimedLine

__all__ = [
    "CorpusError",
    "CorpusStream",
    "corpus_dir",
    "list_streams",
    "load_stream",
    "split_of",
    "stream_labels",
]

Split = Literal["dev", "holdout", "holdout2", "holdout3", "unsplit"]


class CorpusError(ValueError):
    """A corpus file is missing or malformed; the message names the file."""


@dataclass(frozen=True, slots=True)
class CorpusStream:
    """One corpus stream: its script, products, ground truth and (when voiced) audio."""

    id: str
    language: str
    category: str
    products: tuple[Product, ...]
    attributes: dict[str, tuple[str, ...]]
    lines: tuple[TimedLine, ...]
    spoken: tuple[str, ...]
    audio: Path | None
    duration: float
    split: Split

    @property
    def voiced(self) -> bool:
        """Whether line times come from real audio (else they are estimates and ``audio`` is ``None``)."""
        return self.audio is not None


def corpus_dir() -> Path:
    """``MCN_CORPUS_DIR`` or the repository's ``corpus/`` folder."""
    env = os.environ.get("MCN_CORPUS_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "corpus"


def _splits(root: Path) -> dict[str, Split]:
    path = root / "splits.json"
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    out: dict[str, Split] = {}
    for split in ("dev", "holdout", "holdout2", "holdout3"):
        for sid in data.get(split, []):
            out[sid] = cast(Split, split)
    return out


def split_of(stream_id: str, root: Path | None = None) -> Split:
    """``dev``, ``holdout``, ``holdout2`` or ``holdout3`` (written blind later, never tuned on), or ``unsplit`` (a
    stream not yet assigned, treated like ``holdout`` by tuning code)."""
    return _splits(root or corpus_dir()).get(stream_id, "unsplit")


def list_streams(
    *, language: str | None = None, split: Split | None = None, voiced: bool = False, root: Path | None = None
) -> tuple[str, ...]:
    """Ids of the corpus streams, sorted, optionally only one language, one split, or only voiced ones."""
    base = root or corpus_dir()
    splits = _splits(base)
    ids = []
    for path in sorted((base / "streams").glob("*.json")):
        sid = path.stem
        if language and not sid.startswith(f"{language}-"):
            continue
        if split and splits.get(sid, "unsplit") != split:
            continue
        if voiced and not (base / "audio" / f"{sid}.timing.json").is_file():
            continue
        ids.append(sid)
    return tuple(ids)


def load_stream(stream_id: str, root: Path | None = None) -> CorpusStream:
    """Load one stream; line times come from its timing file when voiced, else are estimated from the text.

    Raises:
        CorpusError: the script or timing file is missing or malformed.
    """
    from mcn.samples.scripts import estimated_seconds

    base = root or corpus_dir()
    path = base / "streams" / f"{stream_id}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CorpusError(f"{path}: cannot read corpus script ({exc})") from None
    language = str(data.get("language", ""))
    if language not in ("zh", "en"):
        raise CorpusError(f"{path}: language must be zh or en")
    products: list[Product] = []
    attributes: dict[str, tuple[str, ...]] = {}
    for p in data.get("products", []):
        products.append(
            Product(
                id=str(p["id"]),
                name=str(p["name"]),
                aliases=tuple(str(a) for a in p.get("aliases", ())),
                price=float(p["price"]) if p.get("price") is not None else None,
                attributes=tuple(str(a) for a in p.get("attributes", ())),
            )
        )
        attributes[str(p["id"])] = tuple(str(a) for a in p.get("attributes", ()))
    ids = {p.id for p in products}
    raw_lines = data.get("lines", [])
    for n, line in enumerate(raw_lines):
        if line.get("kind") not in SENTENCE_KINDS:
            raise CorpusError(f"{path}: lines[{n}].kind {line.get('kind')!r} is not a sentence kind")
        if line.get("product") is not None and line["product"] not in ids:
            raise CorpusError(f"{path}: lines[{n}].product {line['product']!r} is not a listed product")
    spoken = tuple(str(line.get("say") or line["text"]) for line in raw_lines)
    times: list[tuple[float, float]]
    audio: Path | None = None
    timing_path = base / "audio" / f"{stream_id}.timing.json"
    if timing_path.is_file():
        timing = json.loads(timing_path.read_text(encoding="utf-8"))
        times = [(float(t["start"]), float(t["end"])) for t in timing["lines"]]
        if len(times) != len(raw_lines):
            raise CorpusError(f"{timing_path}: {len(times)} timed lines for {len(raw_lines)} script lines")
        duration = float(timing["duration"])
        candidate = base / "audio" / f"{stream_id}.opus"
        audio = candidate if candidate.is_file() else None
    else:
        times, cursor = [], 0.5
        for text in spoken:
            length = estimated_seconds(text, language)
            times.append((cursor, cursor + length))
            cursor += length + 0.5
        duration = cursor + 1.0
    lines = tuple(
        TimedLine(
            index=n,
            start=round(start, 3),
            end=round(end, 3),
            text=str(line["text"]),
            kind=cast(LineKind, line["kind"]),
            product_id=line.get("product"),
        )
        for n, (line, (start, end)) in enumerate(zip(raw_lines, times, strict=True))
    )
    return CorpusStream(
        id=stream_id,
        language=language,
        category=str(data.get("category", "")),
        products=tuple(products),
        attributes=attributes,
        lines=lines,
        spoken=spoken,
        audio=audio,
        duration=round(duration, 3),
        split=split_of(stream_id, base),
    )


def stream_labels(stream: CorpusStream) -> SourceLabels:
    """The stream's ground truth as ``mcn-labels/1`` labels (text as spoken, so it matches what ASR hears)."""
    return SourceLabels(
        source=f"corpus:{stream.id}",
        language=stream.language,
        sentences=tuple(
            SentenceLabel(line.index, line.start, line.end, spoken, line.kind, line.product_id)
            for line, spoken in zip(stream.lines, stream.spoken, strict=True)
        ),
        annotator="corpus",
    )
