"""Which source footage a rendered post shows, and how much of it two posts share.

Every rendered video records its footage: a livestream edit as :class:`Footage` (the recording's ``sources.id``
and the time ranges it cuts from it, several for an edit that recombines segments from across the stream), a
product remix as :class:`MaterialFootage` (the ids of the product images and video shots it shows). Stored as
JSON in ``clips.footage`` (:meth:`Footage.to_json`, :func:`footage_from_json`); a clip row without it shows the
single range ``source_start``-``source_end`` of its source (:func:`clip_footage`).

:func:`overlap` is what the posting plan's near-duplicate guard (:mod:`publisher.overlap`) limits: the share of
the smaller post's footage that the other post also shows. Captions, hook cards, crops and music do not change
footage, so presentation-only variants of one edit overlap 100% and an overlay cannot hide a re-post.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

#: The most two posts on one platform on one day may share: a share of the smaller post's footage.
MAX_SHARED_FOOTAGE = 0.5

_EPS = 1e-6


class FootageError(ValueError):
    """A footage record is malformed (bad range, missing source, unknown JSON shape); ``str()`` is one line."""


def _merged(ranges: Iterable[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    if isinstance(ranges, tuple) and len(ranges) == 1:  # the common case (one cut) without sorting: plans read 100k
        start, end = float(ranges[0][0]), float(ranges[0][1])
        if 0 <= start <= end < math.inf:
            return ((start, end),) if end - start > _EPS else ()
    spans: list[tuple[float, float]] = []
    for start, end in sorted((float(s), float(e)) for s, e in ranges):
        if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end < start:
            raise FootageError(f"footage range {start}-{end}: expected 0 <= start <= end")
        if end - start <= _EPS:
            continue
        if spans and start <= spans[-1][1] + _EPS:  # touching or overlapping: one span
            spans[-1] = (spans[-1][0], max(spans[-1][1], end))
        else:
            spans.append((start, end))
    return tuple(spans)


@dataclass(frozen=True, slots=True)
class Footage:
    """Time ranges of one recording that a post shows.

    Attributes:
        source_id: the recording (``sources.id``).
        ranges: ``(start, end)`` seconds in the recording; normalised on creation to sorted, disjoint, non-empty
            spans (overlapping or touching ranges merge).
    """

    source_id: str
    ranges: tuple[tuple[float, float], ...]
    seconds: float = field(init=False, compare=False, repr=False)
    """Total seconds of footage shown."""

    def __post_init__(self) -> None:
        if not self.source_id:
            raise FootageError("footage: source_id is empty")
        ranges = _merged(self.ranges)
        object.__setattr__(self, "ranges", ranges)
        object.__setattr__(self, "seconds", sum(end - start for start, end in ranges))

    def to_json(self) -> dict[str, Any]:
        """``{"source": id, "ranges": [[start, end], ...]}`` (times rounded to milliseconds)."""
        return {"source": self.source_id, "ranges": [[round(s, 3), round(e, 3)] for s, e in self.ranges]}


@dataclass(frozen=True, slots=True)
class MaterialFootage:
    """Product material a remix shows: image and video-shot ids, each counting as one unit of footage.

    Ids must be unique across products (e.g. ``"<product_id>/<file name>"``). ``material_ids`` is normalised to
    sorted unique ids.
    """

    material_ids: tuple[str, ...]
    seconds: float = field(init=False, compare=False, repr=False)
    """The number of materials (the unit shares are counted in)."""

    def __post_init__(self) -> None:
        ids = tuple(sorted({str(m) for m in self.material_ids}))
        if not ids or any(not m for m in ids):
            raise FootageError("material footage: needs at least one non-empty material id")
        object.__setattr__(self, "material_ids", ids)
        object.__setattr__(self, "seconds", float(len(ids)))

    def to_json(self) -> dict[str, Any]:
        """``{"materials": [id, ...]}``."""
        return {"materials": list(self.material_ids)}


PostFootage: TypeAlias = Footage | MaterialFootage


def _intersection(a: tuple[tuple[float, float], ...], b: tuple[tuple[float, float], ...]) -> float:
    total, i, j = 0.0, 0, 0
    while i < len(a) and j < len(b):
        low, high = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if high > low:
            total += high - low
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return total


def shared_footage(a: PostFootage, b: PostFootage) -> float:
    """How much footage ``a`` and ``b`` both show: seconds of one recording, or a count of shared materials.

    Footage of different recordings, and a livestream edit against a remix, share nothing.
    """
    if isinstance(a, Footage) and isinstance(b, Footage):
        return _intersection(a.ranges, b.ranges) if a.source_id == b.source_id else 0.0
    if isinstance(a, MaterialFootage) and isinstance(b, MaterialFootage):
        return float(len(set(a.material_ids) & set(b.material_ids)))
    return 0.0


def share(a: PostFootage, b: PostFootage) -> float:
    """The share (0..1) of ``a``'s footage that ``b`` also shows (0 when ``a`` shows nothing)."""
    own = a.seconds
    return min(shared_footage(a, b) / own, 1.0) if own > 0 else 0.0


def overlap(a: PostFootage, b: PostFootage) -> float:
    """The larger of the two shares: how much of the smaller post's footage the other one shows too (0..1).

    Symmetric. Two posts whose overlap exceeds :data:`MAX_SHARED_FOOTAGE` are near-duplicates for the plan.
    """
    both = shared_footage(a, b)
    if both <= 0:
        return 0.0
    return min(both / min(a.seconds, b.seconds), 1.0)


def footage_from_json(data: Mapping[str, Any] | None) -> PostFootage | None:
    """Parse a stored footage record (the inverse of ``to_json``); ``None`` stays ``None``.

    Raises:
        FootageError: neither ``source``+``ranges`` nor ``materials``, or a bad value.
    """
    if data is None:
        return None
    if not isinstance(data, Mapping):
        raise FootageError(f"footage: expected a JSON object, got {type(data).__name__}")
    try:
        if "materials" in data:
            return MaterialFootage(tuple(str(m) for m in data["materials"]))
        if "source" in data and "ranges" in data:
            return Footage(str(data["source"]), tuple((float(s), float(e)) for s, e in data["ranges"]))
    except (TypeError, ValueError) as exc:
        if isinstance(exc, FootageError):
            raise
        raise FootageError(f"footage: malformed record ({exc})") from None
    raise FootageError("footage: expected {source, ranges} or {materials}")


def clip_footage(
    source_id: str, source_start: float, source_end: float, stored: Mapping[str, Any] | None = None
) -> PostFootage:
    """A clip row's footage: its stored record when it has one, else its one range of its source."""
    parsed = footage_from_json(stored)
    return parsed if parsed is not None else Footage(source_id, ((source_start, source_end),))
