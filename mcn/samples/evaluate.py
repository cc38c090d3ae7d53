"""Score planned clips against a generated stream's ground truth.

The bars: at least 85% of selling-point sentences inside some clip, at least 85% of clip time on selling points,
no cut inside a word or a spoken sentence, no price call inside a clip, every product with at least 8 s of selling
talk clipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from clipper.types import PlannedClip, Word
from mcn.samples import TimedLine

_TOLERANCE = 0.15  # ASR word times vs the generator's line times


@dataclass(frozen=True, slots=True)
class Quality:
    selling_lines: int
    selling_covered: int
    clip_seconds: float
    selling_seconds: float
    cuts_inside_words: int
    price_lines_in_clips: int
    clips: int
    products_due: int = 0
    products_clipped: int = 0

    @property
    def recall(self) -> float:
        return self.selling_covered / self.selling_lines if self.selling_lines else 1.0

    @property
    def precision(self) -> float:
        return self.selling_seconds / self.clip_seconds if self.clip_seconds else 0.0

    def summary(self) -> str:
        return (
            f"{self.clips} clips; selling sentences covered {self.selling_covered}/{self.selling_lines} "
            f"({self.recall:.0%}); clip time on selling points {self.precision:.0%}; "
            f"cuts inside words {self.cuts_inside_words}; price calls in clips {self.price_lines_in_clips}; "
            f"products clipped {self.products_clipped}/{self.products_due}"
        )


def selling_regions(lines: Sequence[TimedLine]) -> list[tuple[float, float]]:
    """Spans of consecutive selling lines of one product (the pauses between them count as selling time)."""
    regions: list[tuple[float, float]] = []
    prev: TimedLine | None = None
    for line in lines:
        if line.kind != "selling":
            prev = None
            continue
        if prev is not None and prev.product_id == line.product_id:
            regions[-1] = (regions[-1][0], line.end)
        else:
            regions.append((line.start, line.end))
        prev = line
    return regions


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0]))


def evaluate(clips: Sequence[PlannedClip], lines: Sequence[TimedLine], words: Sequence[Word] = ()) -> Quality:
    """Measure ``clips`` against the truth ``lines``; ``words`` (ASR words) are checked for cuts inside them."""
    spans = [(c.source_start, c.source_end) for c in clips]
    selling = [ln for ln in lines if ln.kind == "selling"]
    covered = sum(1 for ln in selling if any(s <= ln.start + _TOLERANCE and e >= ln.end - _TOLERANCE for s, e in spans))
    regions = selling_regions(lines)
    clip_seconds = sum(e - s for s, e in spans)
    selling_seconds = sum(_overlap(span, r) for span in spans for r in regions)
    inside = 0
    for cut in (t for span in spans for t in span):
        inside += any(ln.start + _TOLERANCE < cut < ln.end - _TOLERANCE for ln in lines)
        inside += any(w.start + 0.02 < cut < w.end - 0.02 for w in words)
    price = sum(
        1
        for ln in lines
        if ln.kind == "price" and any(_overlap(span, (ln.start, ln.end)) > _TOLERANCE for span in spans)
    )
    due = _products_due(lines)
    clipped = sum(
        1
        for pid in due
        if any(
            _overlap(span, (ln.start, ln.end)) > _TOLERANCE for span in spans for ln in selling if ln.product_id == pid
        )
    )
    return Quality(len(selling), covered, clip_seconds, selling_seconds, inside, price, len(clips), len(due), clipped)


#: A product with at least this much selling talk must get a clip (issue bar).
MIN_SELLING_SECONDS = 8.0


def _products_due(lines: Sequence[TimedLine]) -> list[str]:
    """Products whose selling lines add up to :data:`MIN_SELLING_SECONDS` or more."""
    talk: dict[str, float] = {}
    for ln in lines:
        if ln.kind == "selling" and ln.product_id:
            talk[ln.product_id] = talk.get(ln.product_id, 0.0) + ln.end - ln.start
    return sorted(pid for pid, seconds in talk.items() if seconds >= MIN_SELLING_SECONDS)
