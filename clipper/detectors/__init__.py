"""Selling-point detection: which sentence ranges of a livestream are worth a clip.

Backends sit behind :class:`SellingPointDetector` and a small registry, like PySceneDetect's detectors:

* ``heuristic`` (default): offline and deterministic, cue lexicons plus structure (:mod:`.heuristic`).
* ``openai``: any OpenAI-compatible ``/chat/completions`` endpoint, one call per product segment
  (:mod:`.openai_compat`).
* ``transformers``: a local causal LM directory, needs the ``local-llm`` extra (:mod:`.transformers_local`).
* ``learned``: a small trained sentence classifier per language (scikit-learn features, numpy weights) with the
  heuristic's point building (:mod:`.learned`); ``mcn detector train`` makes models from labels.

Every backend's answer is checked against the transcript: ranges stay inside one segment and never contain
price/urgency talk or chatter; a model answer that fails the checks is retried once and then replaced by the
heuristic for that segment.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from clipper.detectors.base import DetectionResult, SellingPointDetector
from clipper.errors import DetectorError
from clipper.types import Product, ProductSegment, Transcript

__all__ = [
    "DetectionResult",
    "SellingPointDetector",
    "available_detectors",
    "detect_selling_points",
    "get_detector",
    "register",
]

_REGISTRY: dict[str, type[SellingPointDetector]] = {}
_D = TypeVar("_D", bound=type[SellingPointDetector])


def register(cls: _D) -> _D:
    """Class decorator adding a backend to the registry under ``cls.name``."""
    name = getattr(cls, "name", "")
    if not name:
        raise TypeError(f"{cls.__name__} must set a class attribute `name`")
    existing = _REGISTRY.get(name)
    if existing is not None and existing is not cls:
        raise ValueError(f"a selling-point detector named {name!r} is already registered ({existing.__name__})")
    _REGISTRY[name] = cls
    return cls


def available_detectors() -> tuple[str, ...]:
    """Names of the registered backends, sorted."""
    return tuple(sorted(_REGISTRY))


def get_detector(name: str, **options: Any) -> SellingPointDetector:
    """Construct the backend ``name`` with ``options`` (its options dataclass's fields).

    Raises:
        DetectorError: unknown name, unknown option, or a backend that cannot start (missing URL or model, missing
            optional dependencies, a bad model directory).
    """
    cls = _REGISTRY.get(name)
    if cls is None:
        raise DetectorError(f"detector {name!r}", f"unknown backend; available: {', '.join(available_detectors())}")
    factory: Callable[..., SellingPointDetector] = cls
    try:
        return factory(**options)
    except TypeError as exc:
        raise DetectorError(f"detector {name!r}", f"bad options ({exc})") from exc


def detect_selling_points(
    transcript: Transcript,
    segments: Sequence[ProductSegment],
    products: Sequence[Product],
    backend: str = "heuristic",
    **options: Any,
) -> DetectionResult:
    """Find the selling points of a livestream transcript.

    A selling point is a contiguous range of sentences inside one product segment where the host talks about the
    product's features, benefits, materials, use cases, comparisons or a demonstration. Greetings, chatter,
    replies to comments and price/urgency calls ("link 3, only 79 dollars tonight", 今晚秒杀, 几号链接) are never
    part of one: a clip posted next week must not promise tonight's price.

    Args:
        transcript: the recording's sentences with word times (:func:`clipper.transcribe.transcribe` or
            :func:`clipper.subtitles.read_subtitles`); its ``language`` (``zh``/``en``) picks the cue lexicons.
        segments: product segments covering the sentences, from :func:`clipper.segments.find_product_segments`.
            Empty: they are found here (topic segments when ``products`` is empty too).
        products: the brand's product list (:func:`clipper.products.load_products`); may be empty. Used for
            product names in titles and prompts.
        backend: a registered backend name, see :func:`available_detectors`: ``heuristic`` (default, offline,
            deterministic), ``openai`` (OpenAI-compatible HTTP endpoint), ``transformers`` (local model).
        **options: fields of the backend's options dataclass, e.g. ``min_score=0.5`` for the heuristic or
            ``base_url=..., model=..., api_key=...`` for ``openai`` (unset fields come from ``MCN_*`` settings).

    Returns:
        A :class:`DetectionResult`: points in transcript order, each with a short ``point``, a ``hook`` and a
        ``title`` in the transcript's language, a 0..1 ``score`` and a ``reason``; plus model calls, tokens,
        cost and how many segments fell back to the heuristic.

    Raises:
        DetectorError: the backend is unknown or misconfigured. Model failures during detection do not raise:
            the affected segments fall back to the heuristic and are counted in ``fallbacks``.

    Example:
        >>> from clipper.segments import find_product_segments
        >>> segments = find_product_segments(transcript.sentences, products, transcript.language)
        >>> result = detect_selling_points(transcript, segments, products)
        >>> [(p.first_sentence, p.last_sentence, p.title) for p in result.points]
    """
    if not segments and transcript.sentences:
        from clipper.segments import find_product_segments

        segments = find_product_segments(transcript.sentences, products, transcript.language)
    detector = get_detector(backend, **options)
    result = detector.detect(transcript, segments, products)
    points = tuple(sorted(result.points, key=lambda p: (p.first_sentence, p.last_sentence)))
    if points == result.points:
        return result
    return dataclasses.replace(result, points=points)  # keeps every other field (kinds, notes, costs)


# Built-in backends; heavy dependencies (torch, transformers) load lazily inside them.
from clipper.detectors.heuristic import HeuristicDetector  # noqa: E402
from clipper.detectors.learned import LearnedDetector  # noqa: E402
from clipper.detectors.openai_compat import OpenAICompatDetector  # noqa: E402
from clipper.detectors.transformers_local import TransformersDetector  # noqa: E402

register(HeuristicDetector)
register(LearnedDetector)
register(OpenAICompatDetector)
register(TransformersDetector)
