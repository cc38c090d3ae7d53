"""Backend ``learned``: a small trained sentence classifier decides each sentence's kind, the heuristic's run and
copy code turns the selling sentences into selling points.

The model (:mod:`clipper.detectors.sentence_model`) gives every transcript sentence a probability per kind
(greeting, chatter, transition, selling, price, reply). A sentence is ``selling`` when that is the most likely kind
or its probability reaches ``threshold`` (0.25 by default, tuned leave-one-stream-out on the dev corpus), and the cue
lexicons do not exclude it: a price call or
chatter found by :func:`clipper.cues.sentence_cues` is never selling, whatever the model says. With
``union_heuristic`` a sentence is also selling when the heuristic's structure classifier says so ("both").

Runs of selling sentences inside one product segment become points through
:meth:`clipper.detectors.heuristic.HeuristicDetector.detect_segment` with the model's kinds as the structure, so
ranges, splitting of long runs, hooks and titles are exactly the heuristic's.

Which model: ``model_path`` when given; else the newest ``detector-<lang>-v<N>.npz`` in ``model_dir`` (default
``<MCN_DATA_DIR>/models/detector``, where ``mcn detector train`` writes); else the one shipped in this package
(``clipper/detectors/models``, trained on the dev corpus and the sample scripts). Without a model for the
transcript's language the heuristic runs instead and a note says so.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from clipper.cues import SentenceCues, sentence_cues
from clipper.detectors.base import DetectionResult, SellingPointDetector, merged_options
from clipper.detectors.heuristic import HeuristicDetector, HeuristicOptions, _language
from clipper.detectors.sentence_model import SentenceModel, load_model, newest_model
from clipper.labels import SentenceKind
from clipper.structure import SentenceKinds, classify_sentences
from clipper.types import Product, ProductSegment, SellingPoint, Transcript

__all__ = ["PACKAGED_MODEL_DIR", "LearnedDetector", "LearnedOptions", "default_model_dir", "model_search_path"]

#: The models shipped with the package (trained on the dev corpus and the sample scripts).
PACKAGED_MODEL_DIR = Path(__file__).resolve().parent / "models"


def default_model_dir() -> Path:
    """``<MCN_DATA_DIR>/models/detector`` (``MCN_DATA_DIR`` defaults to ``./mcn-data``)."""
    try:
        from mcn.settings import get_settings
    except ImportError:  # clipper used without the mcn package
        return Path(os.environ.get("MCN_DATA_DIR", "./mcn-data")).expanduser().resolve() / "models" / "detector"
    return get_settings().models_dir / "detector"


def model_search_path(model_dir: str | Path | None = None, packaged: bool = True) -> tuple[Path, ...]:
    """Directories searched for ``detector-<lang>-v<N>.npz``, first match wins: ``model_dir`` (or the default),
    then the packaged models."""
    dirs = [Path(model_dir) if model_dir else default_model_dir()]
    if packaged:
        dirs.append(PACKAGED_MODEL_DIR)
    return tuple(dirs)


@dataclass(frozen=True, slots=True)
class LearnedOptions:
    """Settings of the ``learned`` backend.

    ``model_path`` is a model file to use (its language must match the transcript's, else the heuristic runs);
    ``model_dir`` where to look for the newest version (default ``<MCN_DATA_DIR>/models/detector``); ``packaged``
    whether the model shipped with the package is the last resort. ``threshold`` (0 = off) makes a sentence selling
    when its selling probability reaches it even if another kind is more likely. ``union_heuristic`` also takes
    the heuristic's selling sentences. ``min_score``, ``max_seconds`` and ``ideal_seconds`` are the heuristic's
    (points weaker than ``min_score`` are dropped, runs longer than ``max_seconds`` split).
    """

    model_path: str | None = None
    model_dir: str | None = None
    packaged: bool = True
    threshold: float = 0.25
    union_heuristic: bool = False
    min_score: float = 0.0
    max_seconds: float = 60.0
    ideal_seconds: float = 15.0


class LearnedDetector(SellingPointDetector):
    """Trained sentence kinds plus the heuristic's point building; see the module docstring."""

    name = "learned"

    def __init__(self, options: LearnedOptions | None = None, **fields: object) -> None:
        base = merged_options(options or LearnedOptions(), fields, "learned")
        self.options = base
        if base.model_path is not None:
            load_model(base.model_path)  # a bad explicit path is a configuration error: fail now, not per stream
        self.heuristic = HeuristicDetector(
            HeuristicOptions(min_score=base.min_score, max_seconds=base.max_seconds, ideal_seconds=base.ideal_seconds)
        )

    def find_model(self, language: str) -> tuple[SentenceModel | None, str]:
        """The model for ``language`` and a note on where it came from (or why there is none)."""
        opts = self.options
        if opts.model_path is not None:
            model = load_model(opts.model_path)
            if model.language != language:
                return None, f"model {opts.model_path} reads {model.language}, the transcript is {language}"
            return model, f"learned model {opts.model_path}"
        search = model_search_path(opts.model_dir, opts.packaged)
        found = newest_model(language, search)
        if found is None:
            where = ", ".join(str(d) for d in search)
            return None, f"no learned {language} model in {where} (mcn detector train)"
        source = "packaged" if found.path.parent == PACKAGED_MODEL_DIR else str(found.path.parent)
        return load_model(found.path), f"learned model {found.path.name} ({source})"

    def detect(
        self, transcript: Transcript, segments: Sequence[ProductSegment], products: Sequence[Product]
    ) -> DetectionResult:
        lang = _language(transcript)
        model, note = self.find_model(lang)
        if model is None:
            result = self.heuristic.detect(transcript, segments, products)
            return replace(result, fallbacks=len(segments), notes=(*result.notes, f"{note}; heuristic used"))
        structure, p_selling = self.classify(transcript, segments, products, model)
        points = []
        for segment in segments:
            for point in self.heuristic.detect_segment(transcript, segment, products, structure):
                points.append(_rescore(point, p_selling))
        points.sort(key=lambda p: (p.first_sentence, p.last_sentence))
        return DetectionResult(tuple(points), self.name, notes=(note,), kinds=structure.kinds)

    def classify(
        self,
        transcript: Transcript,
        segments: Sequence[ProductSegment],
        products: Sequence[Product],
        model: SentenceModel,
    ) -> tuple[SentenceKinds, np.ndarray]:
        """Every sentence's kind from ``model`` (see the module docstring for the rules on top of it), and every
        sentence's selling probability."""
        lang = _language(transcript)
        sentences = transcript.sentences
        proba = model.predict_proba(sentences, segments, products)
        classes = model.classes
        selling_col = classes.index("selling") if "selling" in classes else -1
        cues = tuple(sentence_cues(s.text, lang) for s in sentences)
        heuristic = classify_sentences(transcript, segments, products) if self.options.union_heuristic else None
        kinds: list[SentenceKind] = []
        reasons: list[str] = []
        p_selling = proba[:, selling_col] if selling_col >= 0 else np.zeros(len(sentences))
        for i, row in enumerate(proba):
            best = classes[int(row.argmax())]
            p_sell = float(p_selling[i])
            kind: str = best
            why = f"model: {best} ({float(row.max()):.2f})"
            if kind != "selling" and self.options.threshold > 0 and p_sell >= self.options.threshold:
                kind, why = "selling", f"model: selling {p_sell:.2f} >= threshold"
            if kind != "selling" and heuristic is not None and heuristic.kinds[i] == "selling":
                kind, why = "selling", f"heuristic: {heuristic.reasons[i]}"
            if kind == "selling" and cues[i].excluded:
                kind = _cue_kind(cues[i])
                why = f"cues exclude it ({', '.join(cues[i].reasons[:2])})"
            kinds.append(kind)  # type: ignore[arg-type]  # a class name from the model, checked on load
            reasons.append(why)
        return SentenceKinds(tuple(kinds), cues, tuple(reasons)), p_selling


def _rescore(point: SellingPoint, p_selling: np.ndarray) -> SellingPoint:
    """Blend the model's mean selling probability over the range into the heuristic's score and reason."""
    p = p_selling[point.first_sentence : point.last_sentence + 1]
    mean = float(p.mean()) if len(p) else 0.0
    score = round(0.5 * point.score + 0.5 * mean, 3)
    return replace(point, score=score, reason=f"model p(selling) {mean:.2f}; {point.reason}")


def _cue_kind(cues: SentenceCues) -> SentenceKind:
    """The kind the cue lexicons imply for an excluded sentence."""
    if cues.price_or_urgency:
        return "price"
    if cues.reply:
        return "reply"
    return "greeting" if cues.greeting else "chatter"
