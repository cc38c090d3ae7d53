"""Where the learned detector's training labels come from, and training + saving a model in one call.

Sources, per language:

* the voiced corpus (:mod:`mcn.samples.corpus`), ``dev`` split only by default: ``holdout`` streams are measured,
  never trained on, and this module refuses them;
* the older sample scripts (:mod:`mcn.samples.scripts`): ``DEV_*`` and ``HELDOUT_*`` (``HELDOUT2_*`` are kept for
  evaluation and never used here);
* ``mcn-labels/1`` files (:func:`clipper.labels.load_labels`), e.g. an export of operator labels;
* with ``--store``, the operator labels kept in mcn's database (:mod:`mcn.labels_store`, see
  :func:`store_sources` for a caveat).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
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
from mcn.samples.scripts import DEV_EN, DEV_ZH, HELDOUT_EN, HELDOUT_ZH, StreamScript, synthetic_lines

__all__ = [
    "TRAINING_SCRIPTS",
    "TrainedModel",
    "corpus_sources",
    "default_model_dir",
    "file_sources",
    "gather_sources",
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
    corpus_root: Path | None = None,
) -> list[TrainingSource]:
    """Every training source of ``language``: corpus split (``None`` skips the corpus), sample scripts, label files
    and, with ``store``, the operator labels in the database."""
    sources: list[TrainingSource] = []
    if corpus_split is not None:
        sources += corpus_sources(language, corpus_split, corpus_root)
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
