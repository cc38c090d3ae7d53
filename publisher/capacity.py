"""How many distinct edits a recording supports per product: when the material, not the software, limits volume.

An edit recombines a product's selling-point segments from across the stream into a 10-40 s video; two edits are
distinct when they share at most half of the smaller one's footage (the plan's same-day rule,
:data:`publisher.footage.MAX_SHARED_FOOTAGE`). Reordering segments or changing captions, hooks, crops or music
makes A/B variants of one edit, not new edits, so they do not count here.

**Segments.** From a ``mcn clips make`` folder: a product's clips (``clips.json``) give its sentences; runs of
consecutive ``selling`` sentences (``transcript.json`` kinds; every clip sentence when the transcript has no kinds)
are its segments, split on sentence boundaries so none is longer than ``segment_max_seconds``. Selling talk outside
every clip cannot be tied to a product and is reported apart: ``--max-clips`` decides how much of it a run keeps.

**Counting.** :func:`distinct_edits` builds edits greedily (least-used segments first, seeded shuffles, a target
length drawn in the window) and keeps each one that stays within the overlap limit of all kept ones; with up to 12
segments it then tries every remaining subset, so no further edit would fit. It returns the edits it found, so the
count is a lower bound of what the material allows (a maximal, not necessarily maximum, set), and each can be cut.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

from mcn.labels_store import ClipsFolder, TranscriptSentence, read_clips_folder
from publisher.footage import MAX_SHARED_FOOTAGE

_EXHAUSTIVE_MAX = 12  # up to this many segments, every subset is tried after the greedy rounds (4,095 at most)


@dataclass(frozen=True, slots=True)
class CapacityOptions:
    """Edit lengths, the overlap limit and the search effort.

    Attributes:
        min_seconds, max_seconds: an edit's length of footage.
        max_shared: the most two edits may share, as a share of the smaller one.
        segment_max_seconds: a longer run of selling sentences is split on sentence boundaries.
        attempts: edits tried per product (each kept or dropped); more may find a few more edits.
        seed: the shuffles' seed (same input, same answer).
    """

    min_seconds: float = 10.0
    max_seconds: float = 40.0
    max_shared: float = MAX_SHARED_FOOTAGE
    segment_max_seconds: float = 12.0
    attempts: int = 3000
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.min_seconds <= self.max_seconds:
            raise ValueError(f"need 0 < min_seconds <= max_seconds, got {self.min_seconds} and {self.max_seconds}")
        if not 0 <= self.max_shared < 1:
            raise ValueError(f"max_shared must be in [0, 1), got {self.max_shared}")
        if self.segment_max_seconds <= 0 or self.attempts < 1:
            raise ValueError("segment_max_seconds and attempts must be positive")


@dataclass(frozen=True, slots=True)
class Segment:
    """Consecutive selling sentences of one product: ``first``-``last`` (inclusive), ``start``-``end`` seconds."""

    first: int
    last: int
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class ProductCapacity:
    """What one product's material allows.

    Attributes:
        product: the product id (``None``: clips without a product).
        clips: its clips in ``clips.json``.
        segments: its selling-point segments, in stream order.
        edits: distinct edits found, each a tuple of indexes into ``segments`` (in stream order).
    """

    product: str | None
    clips: int
    segments: tuple[Segment, ...]
    edits: tuple[tuple[int, ...], ...]

    @property
    def selling_seconds(self) -> float:
        return sum(s.seconds for s in self.segments)

    def edit_ranges(self, edit: tuple[int, ...]) -> tuple[tuple[float, float], ...]:
        """The source time ranges of one edit (a :class:`~publisher.footage.Footage`'s ``ranges``)."""
        return tuple((self.segments[i].start, self.segments[i].end) for i in edit)


@dataclass(frozen=True, slots=True)
class SourceCapacity:
    """Per-product capacity of one recording, and the selling talk no clip ties to a product."""

    source: str
    products: tuple[ProductCapacity, ...]
    unattributed_seconds: float

    @property
    def edits(self) -> int:
        return sum(len(p.edits) for p in self.products)


def distinct_edits(durations: Sequence[float], options: CapacityOptions | None = None) -> list[tuple[int, ...]]:
    """Subsets of disjoint segments (seconds each) lasting ``min``-``max`` seconds, any two sharing at most
    ``max_shared`` of the smaller one's seconds; found greedily, so at least this many exist.

    Returns:
        The edits, each a sorted tuple of segment indexes, in the order they were found.
    """
    opts = options or CapacityOptions()
    n = len(durations)
    usable = [i for i in range(n) if 0 < durations[i] <= opts.max_seconds]
    if sum(durations[i] for i in usable) < opts.min_seconds:
        return []
    rng = random.Random(opts.seed)
    kept: list[tuple[int, ...]] = []
    kept_sets: list[frozenset[int]] = []
    kept_seconds: list[float] = []
    seen: set[tuple[int, ...]] = set()
    usage = [0] * n
    containing: dict[int, list[int]] = defaultdict(list)  # segment -> kept edits using it
    for _ in range(opts.attempts):
        order = usable[:]
        rng.shuffle(order)
        order.sort(key=lambda i: usage[i])  # stable: least-used first, shuffled among equals
        target = rng.uniform(opts.min_seconds, opts.max_seconds)
        chosen: list[int] = []
        total = 0.0
        for i in order:
            if total >= target:
                break
            if total + durations[i] <= opts.max_seconds:
                chosen.append(i)
                total += durations[i]
        if total < opts.min_seconds:
            continue
        edit = tuple(sorted(chosen))
        if edit in seen:
            continue
        seen.add(edit)
        members = frozenset(edit)
        neighbours = {k for i in edit for k in containing[i]}
        if all(
            sum(durations[i] for i in members & kept_sets[k]) <= opts.max_shared * min(total, kept_seconds[k]) + 1e-9
            for k in neighbours
        ):
            index = len(kept)
            kept.append(edit)
            kept_sets.append(members)
            kept_seconds.append(total)
            for i in edit:
                usage[i] += 1
                containing[i].append(index)
    if len(usable) <= _EXHAUSTIVE_MAX:
        # Few segments: try every remaining subset too (shortest first), so no further edit fits beside the kept.
        for size in range(1, len(usable) + 1):
            for edit in combinations(usable, size):
                total = sum(durations[i] for i in edit)
                if edit in seen or not opts.min_seconds <= total <= opts.max_seconds:
                    continue
                members = frozenset(edit)
                if all(
                    sum(durations[i] for i in members & other) <= opts.max_shared * min(total, seconds) + 1e-9
                    for other, seconds in zip(kept_sets, kept_seconds, strict=True)
                ):
                    kept.append(edit)
                    kept_sets.append(members)
                    kept_seconds.append(total)
    return kept


def _segments(sentences: Sequence[TranscriptSentence], indexes: Sequence[int], limit: float) -> list[Segment]:
    """Runs of consecutive selling sentences among ``indexes``, split so none lasts longer than ``limit``."""
    classified = any(s.kind is not None for s in sentences)
    runs: list[list[TranscriptSentence]] = []
    previous = -2
    for i in sorted(set(indexes)):
        sentence = sentences[i]
        if classified and sentence.kind != "selling":
            previous = -2
            continue
        if i != previous + 1 or not runs or sentence.end - runs[-1][0].start > limit:
            runs.append([])
        runs[-1].append(sentence)
        previous = i
    return [Segment(run[0].index, run[-1].index, run[0].start, run[-1].end) for run in runs]


def folder_capacity(folder: ClipsFolder, options: CapacityOptions | None = None) -> SourceCapacity:
    """Per-product distinct-edit capacity of an already read ``mcn clips make`` folder."""
    opts = options or CapacityOptions()
    by_product: dict[str | None, list[int]] = defaultdict(list)
    clip_counts: dict[str | None, int] = defaultdict(int)
    in_clips: set[int] = set()
    for clip in folder.clips:
        by_product[clip.product].extend(clip.sentences)
        clip_counts[clip.product] += 1
        in_clips.update(clip.sentences)
    products = []
    for product in sorted(by_product, key=lambda p: (p is None, p or "")):
        segments = _segments(folder.sentences, by_product[product], opts.segment_max_seconds)
        edits = distinct_edits([s.seconds for s in segments], opts)
        products.append(ProductCapacity(product, clip_counts[product], tuple(segments), tuple(edits)))
    unattributed = sum(s.end - s.start for s in folder.sentences if s.kind == "selling" and s.index not in in_clips)
    return SourceCapacity(folder.source, tuple(products), unattributed)


def source_capacity(path: str | Path, options: CapacityOptions | None = None) -> SourceCapacity:
    """Read a ``mcn clips make`` output folder (``clips.json`` + ``transcript.json``) and count, per product, the
    distinct 10-40 s edits its selling-point segments allow.

    Raises:
        mcn.labels_store.ReviewError: the folder or a file in it is missing or malformed (one line naming it).
    """
    return folder_capacity(read_clips_folder(path), options)
