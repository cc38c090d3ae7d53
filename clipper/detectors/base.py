"""The interface every selling-point backend implements, and its typed result."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import ClassVar, TypeVar

from clipper.types import Product, ProductSegment, SellingPoint, Transcript


@dataclass(frozen=True, slots=True)
class DetectionResult:
    """What a detector found, and what it cost.

    ``points`` are in transcript order. ``calls`` counts model requests (0 for the heuristic); ``prompt_tokens``
    and ``completion_tokens`` come from the API's ``usage`` when it reports them and are estimated otherwise
    (a note says so); ``cost`` is in the currency of the configured per-1k-token prices. ``kinds`` gives each
    transcript sentence's kind (one of :data:`clipper.labels.SENTENCE_KINDS`) when the backend classifies
    sentences (empty otherwise); the planner never puts a ``price`` sentence in a clip, and reviewers see them.
    ``fallbacks`` counts segments whose model answer was unusable and that the heuristic handled instead.
    ``notes`` are one-line remarks for the run log (never secrets).
    """

    points: tuple[SellingPoint, ...]
    backend: str
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    fallbacks: int = 0
    notes: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()


class SellingPointDetector(ABC):
    """Finds selling points: contiguous sentence ranges inside one product segment worth a clip.

    Implementations never return a range that crosses a segment boundary or contains a sentence whose
    :func:`clipper.cues.sentence_cues` is ``excluded`` (price/urgency talk or chatter).
    """

    name: ClassVar[str]

    @abstractmethod
    def detect(
        self, transcript: Transcript, segments: Sequence[ProductSegment], products: Sequence[Product]
    ) -> DetectionResult:
        """Find the selling points of ``transcript``.

        Args:
            transcript: sentences with times; ``transcript.language`` picks the cue lexicon.
            segments: contiguous product segments covering the sentences (see :mod:`clipper.segments`).
            products: the product list, for names in titles (may be empty).
        """


_O = TypeVar("_O")


def merged_options(base: _O, overrides: dict[str, object], backend: str) -> _O:
    """``base`` (a frozen options dataclass) with ``overrides`` applied, as ``get_detector(name, **options)`` passes
    them; an unknown name raises ``TypeError`` naming the backend, which the registry reports as bad options."""
    if not overrides:
        return base
    known = {f.name for f in fields(base)}  # type: ignore[arg-type]
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise TypeError(f"unknown {backend} option(s): {', '.join(unknown)}")
    return replace(base, **overrides)  # type: ignore[type-var]
