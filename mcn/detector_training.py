"""Where the learned detector's training labels come from, and training + saving a model in one call.

Sources, per language:

* the voiced corpus (:mod:`mcn.samples.corpus`), ``dev`` split only: ``holdout`` streams are measured, never
  trained on, and this module refuses them. Each stream counts twice where a cached real-ASR transcript exists
  (``corpus/transcripts``): as script lines and as ASR sentences labelled by time overlap with the lines, so the
  model learns from the way ASR cuts and mishears speech (one cross-validation group per stream);
* the older sample scripts (:mod:`mcn.samples.scripts`): ``DEV_*`` and ``HELDOUT_*`` (``HELDOUT2_*`` are kept for
  evaluation and never used here);
* ``mcn-labels/1`` files (:func:`clipper.labels.load_labels`), e.g. an export of operator labels;
* with ``--store``, the operator labels kept in mcn's database (:mod:`mcn.labels_store`, see
  :func:`store_sources` for a caveat).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from clipper.detectors.sentence_model import (
    CrossValidation,
    SentenceModel,
    TrainingSource,
    TrainOptions,
    cross_validate,
    save_model,
    train_model,
)
from clipper.errors import DetectorError
from clipper.labels import SentenceLabel, SourceLabels, load_labels
from clipper.types import Transcript
from mcn.samples import TimedLine
from mcn.samples.scripts import DEV_EN, DEV_ZH, HELDOUT_EN, HELDOUT_ZH, StreamScript, synthetic_lines

__all__ = [
    "TRAINING_SCRIPTS",
    "TrainedModel",
    "cached_asr_transcript",
    "corpus_asr_sources",
    "corpus_sources",
    "default_model_dir",
    "file_sources",
    "gather_sources",
    "labels_by_overlap",
    "script_source",
    "script_sources",
    "store_sources",
    "train_and_save",
]

#: Sample scripts that may be trained on (``HELDOUT2_*`` are evaluation-only).
TRAINING_SCRIPTS: dict[str, tuple[tuple[str, StreamScript], ...]] = {
    "en": (("DEV_EN", DEV_EN), ("HELDOUT_EN", HELDOUT_EN)),
    "zh": (("DEV_ZH", DEV_ZH), ("HELDOUT_ZH", HELDOUT_ZH)),
}


def default_model_dir() -> Path:
    """``<MCN_DATA_DIR>/models/detector``: where trained models go and where the backend looks first."""
    from clipper.detectors.learned import default_model_dir as model_dir

    return model_dir()


def script_source(name: str, script: StreamScript) -> TrainingSource:
    """A sample script as a labelled source (times estimated as :func:`synthetic_lines` lays them out)."""
    lines = synthetic_lines(script)
    labels = SourceLabels(
        source=f"script:{name}",
        language=script.language,
        sentences=tuple(SentenceLabel(ln.index, ln.start, ln.end, ln.text, ln.kind, ln.product_id) for ln in lines),
        annotator="script",
    )
    return TrainingSource(labels, tuple(seg.product for seg in script.segments), origin="script")


def script_sources(language: str) -> list[TrainingSource]:
    """The trainable sample scripts of ``language``."""
    return [script_source(name, script) for name, script in TRAINING_SCRIPTS.get(language, ())]


def corpus_sources(language: str, split: str = "dev", root: Path | None = None) -> list[TrainingSource]:
    """The corpus streams of ``language`` in ``split`` (``dev`` only: holdout streams are never trained on).

    Raises:
        DetectorError: ``split`` is not ``dev``.
    """
    from mcn.samples.corpus import list_streams, load_stream, stream_labels

    if split != "dev":
        raise DetectorError(f"--corpus-split {split}", "only the dev split may be trained on (holdout is measured)")
    out = []
    for sid in list_streams(language=language, split="dev", root=root):
        stream = load_stream(sid, root)
        out.append(TrainingSource(stream_labels(stream), stream.products, sid, stream.category, "corpus"))
    return out


def labels_by_overlap(transcript: Transcript, lines: Sequence[TimedLine]) -> tuple[SentenceLabel, ...]:
    """Each transcript sentence labelled with the kind and product of the script line it overlaps most in time
    (ASR cuts speech differently from the script; a sentence over two lines takes the longer one's label)."""
    out = []
    for s in transcript.sentences:
        best: TimedLine | None = None
        best_overlap = 0.0
        for line in lines:
            overlap = min(s.end, line.end) - max(s.start, line.start)
            if overlap > best_overlap:
                best, best_overlap = line, overlap
        kind = best.kind if best is not None else "chatter"
        out.append(SentenceLabel(s.index, s.start, s.end, s.text, kind, best.product_id if best else None))
    return tuple(out)


def corpus_asr_sources(
    language: str, split: str = "dev", root: Path | None = None, extra_dirs: Sequence[Path] = ()
) -> list[TrainingSource]:
    """The cached real-ASR transcripts of the ``split`` corpus streams (``corpus/transcripts/<id>.json``, then
    ``extra_dirs``), labelled by time overlap with the script lines. Same group as the stream's script version, so
    cross-validation keeps both on one side. Sentences are re-split with the current splitter, as at run time.

    Raises:
        DetectorError: ``split`` is not ``dev``.
    """
    from mcn.samples.corpus import list_streams, load_stream

    if split != "dev":
        raise DetectorError(f"--corpus-split {split}", "only the dev split may be trained on (holdout is measured)")
    out = []
    for sid in list_streams(language=language, split="dev", root=root):
        transcript = cached_asr_transcript(sid, root, extra_dirs)
        if transcript is None:
            continue
        stream = load_stream(sid, root)
        labels = SourceLabels(f"corpus-asr:{sid}", language, labels_by_overlap(transcript, stream.lines))
        out.append(TrainingSource(labels, stream.products, sid, stream.category, "corpus-asr"))
    return out


def cached_asr_transcript(
    stream_id: str, root: Path | None = None, extra_dirs: Sequence[Path] = ()
) -> Transcript | None:
    """The cached ASR transcript of a corpus stream with sentences from the current splitter, or ``None``."""
    from clipper.sentences import split_sentences
    from clipper.subtitles import transcript_from_json
    from mcn.samples.corpus import corpus_dir

    base = root or corpus_dir()
    for path in (base / "transcripts" / f"{stream_id}.json", *(Path(d) / f"{stream_id}.json" for d in extra_dirs)):
        if path.is_file():
            cached = transcript_from_json(json.loads(path.read_text(encoding="utf-8")), source=str(path))
            return replace(cached, sentences=split_sentences(cached.words, cached.language))
    return None


def file_sources(paths: Iterable[str | Path], language: str | None = None) -> list[TrainingSource]:
    """Sources from ``mcn-labels/1`` files, optionally only one language (each source is its own group).

    Raises:
        clipper.labels.LabelFormatError: a file is unreadable or invalid.
    """
    out = []
    for path in paths:
        for labels in load_labels(path):
            if language is None or labels.language == language:
                out.append(TrainingSource(labels, (), f"file:{path}:{labels.source}", "", f"file:{path}"))
    return out


def store_sources(language: str) -> list[TrainingSource]:
    """Operator labels stored in mcn's database (:func:`mcn.labels_store.export_labels`) of ``language``.

    A stored source starts from the pipeline's own kinds and reviewers correct some sentences; the store does not
    yet mark which sentences a person confirmed, so an unreviewed stretch teaches the model the detector's guesses.
    Stored labels carry no product list: product-name features are absent for them.
    """
    from mcn.labels_store import export_labels

    return [
        TrainingSource(labels, (), f"store:{labels.source}", "", "store")
        for labels in export_labels()
        if labels.language == language
    ]


def gather_sources(
    language: str,
    *,
    corpus_split: str | None = "dev",
    scripts: bool = True,
    label_files: Sequence[str | Path] = (),
    store: bool = False,
    asr: bool = True,
    asr_dirs: Sequence[Path] = (),
    corpus_root: Path | None = None,
) -> list[TrainingSource]:
    """Every training source of ``language``: corpus split (``None`` skips the corpus) with, when ``asr``, the
    cached real-ASR version of each stream, sample scripts, label files and, with ``store``, the operator labels in
    the database."""
    sources: list[TrainingSource] = []
    if corpus_split is not None:
        sources += corpus_sources(language, corpus_split, corpus_root)
        if asr:
            sources += corpus_asr_sources(language, corpus_split, corpus_root, asr_dirs)
    if scripts:
        sources += script_sources(language)
    sources += file_sources(label_files, language)
    if store:
        sources += store_sources(language)
    return sources


@dataclass(frozen=True, slots=True)
class TrainedModel:
    """What :func:`train_and_save` did: the saved file, the model and its cross-validation (``None`` with one
    stream)."""

    path: Path
    model: SentenceModel
    cv: CrossValidation | None


def train_and_save(
    sources: Sequence[TrainingSource], language: str, out_dir: Path, options: TrainOptions | None = None
) -> TrainedModel:
    """Cross-validate (grouped by stream) when there are two streams or more, train on everything, and save the
    next version in ``out_dir`` with the metrics in its sidecar."""
    cv = cross_validate(sources, language, options) if len({s.key for s in sources}) >= 2 else None
    model = train_model(sources, language, options)
    path = save_model(model, out_dir, {"cross_validation": cv.to_json() if cv else None})
    return TrainedModel(path, model, cv)
