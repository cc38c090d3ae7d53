"""Learned vs heuristic selling-point detection, measured per sentence.

For each language and each detector (``heuristic``, ``learned``, ``both`` = learned OR heuristic selling sentences),
the sentences inside the detector's selling points ("selected") are scored against the labels:

* recall: labelled ``selling`` sentences selected / labelled ``selling`` sentences;
* precision: selected sentences labelled ``selling`` / selected sentences;
* price-in-selection: selected sentences labelled ``price`` / selected sentences (must be ~0: a clip posted next
  week must not promise tonight's price).

Evaluations (training data: the sample scripts ``DEV_*``/``HELDOUT_*`` plus dev corpus streams; never holdout):

1. leave-one-stream-out over the dev corpus streams: the model is trained without the stream it is scored on;
   on the script lines (``text``) and, where ``corpus/transcripts/<id>.json`` (or one in ``--asr-dir``) exists, on
   the cached real-ASR
   sentences (``asr``; each ASR sentence takes the label of the script line it overlaps most);
2. the ``HELDOUT2_*`` sample scripts (never trained on), model trained on every dev stream and script;
3. ``--curve``: the learning curve "after labelling N streams, selling recall on unseen streams". The dev corpus has
   one stream per category and language, so N counts streams of *other* categories (same language); N = 0 is a
   model trained on the sample scripts only. Averaged over every held-out stream and up to ``--subsets`` random
   choices of the N streams;
4. ``--holdout``: once, at the very end of a development round: the holdout streams, model trained on all dev data.

.venv/bin/python bench/bench_detector.py [--language en|zh|all] [--curve] [--holdout] [--json out.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from clipper.detectors import detect_selling_points  # noqa: E402
from clipper.detectors.sentence_model import TrainingSource, TrainOptions, save_model, train_model  # noqa: E402
from clipper.segments import find_product_segments  # noqa: E402
from clipper.sentences import split_sentences  # noqa: E402
from clipper.subtitles import transcript_from_json  # noqa: E402
from clipper.types import Product, Transcript  # noqa: E402
from mcn.detector_training import (  # noqa: E402
    corpus_asr_sources,
    corpus_sources,
    labels_by_overlap,
    script_sources,
)
from mcn.samples import TimedLine  # noqa: E402
from mcn.samples.corpus import CorpusStream, list_streams, load_stream  # noqa: E402
from mcn.samples.quality import corpus_transcript, transcript_path  # noqa: E402
from mcn.samples.scripts import HELDOUT2_EN, HELDOUT2_ZH, synthetic_lines, synthetic_transcript  # noqa: E402

DETECTORS = ("heuristic", "learned", "both")
#: Extra options of the learned backend (``--threshold``).
LEARNED_OPTIONS: dict[str, Any] = {}
#: Folders with more cached ASR transcripts (``<id>.json``), after ``corpus/transcripts`` (``--asr-dir``).
ASR_DIRS: list[Path] = []
#: Whether dev streams' cached ASR transcripts are training data too (``--no-asr-training`` turns it off).
ASR_TRAINING = True


@dataclass
class Counts:
    """Sentence counts of one evaluation, summed over streams."""

    sentences: int = 0
    selling: int = 0
    selected: int = 0
    selected_selling: int = 0
    selected_price: int = 0

    def add(self, other: Counts) -> None:
        for key, value in asdict(other).items():
            setattr(self, key, getattr(self, key) + value)

    @property
    def recall(self) -> float:
        return self.selected_selling / self.selling if self.selling else 1.0

    @property
    def precision(self) -> float:
        return self.selected_selling / self.selected if self.selected else 0.0

    @property
    def price_rate(self) -> float:
        return self.selected_price / self.selected if self.selected else 0.0

    def row(self) -> str:
        return (
            f"recall {self.recall:6.1%}  precision {self.precision:6.1%}  price-in-selection {self.price_rate:5.1%} "
            f"({self.selected_price}/{self.selected}; {self.selling} selling of {self.sentences})"
        )


def truth_kinds(transcript: Transcript, lines: Sequence[TimedLine]) -> list[str]:
    """Each transcript sentence's label: the kind of the script line it overlaps most in time."""
    return [label.kind for label in labels_by_overlap(transcript, lines)]


def dev_pool(language: str) -> list[TrainingSource]:
    """The dev corpus streams as training sources: script lines, plus their cached ASR versions (``ASR_TRAINING``)."""
    pool = corpus_sources(language)
    if ASR_TRAINING:
        pool += corpus_asr_sources(language, extra_dirs=ASR_DIRS)
    return pool


def views(stream: CorpusStream) -> dict[str, Transcript]:
    """The stream's script-line transcript and, when one is cached, its real-ASR transcript."""
    out = {"text": corpus_transcript(stream, "text")}
    for path in (transcript_path(stream.id), *(d / f"{stream.id}.json" for d in ASR_DIRS)):
        if path.is_file():
            cached = transcript_from_json(json.loads(path.read_text(encoding="utf-8")), source=str(path))
            # The words are what ASR heard; sentences come from the current splitter (as mcn.samples.quality does).
            out["asr"] = replace(cached, sentences=split_sentences(cached.words, cached.language))
            break
    return out


def score(transcript: Transcript, truth: Sequence[str], products: Sequence[Product], model: Path) -> dict[str, Counts]:
    """Counts of every detector on one transcript."""
    segments = find_product_segments(transcript.sentences, products, transcript.language)
    options: dict[str, dict[str, Any]] = {
        "heuristic": {},
        "learned": {"model_path": str(model), **LEARNED_OPTIONS},
        "both": {"model_path": str(model), "union_heuristic": True, **LEARNED_OPTIONS},
    }
    out = {}
    for name in DETECTORS:
        backend = "heuristic" if name == "heuristic" else "learned"
        result = detect_selling_points(transcript, segments, products, backend, **options[name])
        selected = {i for p in result.points for i in range(p.first_sentence, p.last_sentence + 1)}
        out[name] = Counts(
            sentences=len(truth),
            selling=sum(1 for k in truth if k == "selling"),
            selected=len(selected),
            selected_selling=sum(1 for i in selected if truth[i] == "selling"),
            selected_price=sum(1 for i in selected if truth[i] == "price"),
        )
    return out


def train_to(sources: Sequence[TrainingSource], language: str, folder: Path, options: TrainOptions) -> Path:
    """Train on ``sources`` and save into ``folder`` (the benchmark goes through the model file like users do)."""
    return save_model(train_model(sources, language, options), folder)


def loso(language: str, options: TrainOptions, work: Path) -> dict[str, dict[str, Counts]]:
    """Leave-one-stream-out over the dev corpus; views ``text`` and ``asr`` (cached transcripts only)."""
    dev = corpus_sources(language)
    pool = dev_pool(language)
    scripts = script_sources(language)
    totals: dict[str, dict[str, Counts]] = {v: {d: Counts() for d in DETECTORS} for v in ("text", "asr")}
    for held in dev:
        train = [s for s in pool if s.key != held.key] + scripts
        model = train_to(train, language, work / f"loso-{held.key}", options)
        stream = load_stream(held.key)
        for view, transcript in views(stream).items():
            counts = score(transcript, truth_kinds(transcript, stream.lines), stream.products, model)
            for name, c in counts.items():
                totals[view][name].add(c)
            print(
                f"  {held.key:<20} {view:<4} "
                + "  ".join(f"{n} {c.recall:4.0%}/{c.precision:4.0%}/{c.selected_price}" for n, c in counts.items()),
                flush=True,
            )
    return totals


def heldout2(language: str, options: TrainOptions, work: Path) -> dict[str, Counts]:
    """The HELDOUT2 script of ``language``, model trained on every dev stream and trainable script."""
    script = HELDOUT2_ZH if language == "zh" else HELDOUT2_EN
    model = train_to(dev_pool(language) + script_sources(language), language, work / "all", options)
    transcript = synthetic_transcript(script)
    truth = [line.kind for line in synthetic_lines(script)]
    return score(transcript, truth, [seg.product for seg in script.segments], model)


def curve(
    language: str, options: TrainOptions, work: Path, subsets: int, seed: int
) -> list[tuple[int, dict[str, Counts]]]:
    """Learned selling recall on unseen dev streams after training on N other dev streams (plus the scripts), on the
    script lines and, where cached, the ASR sentences."""
    dev = corpus_sources(language)
    pool = dev_pool(language)
    scripts = script_sources(language)
    rng = random.Random(seed)
    points: list[tuple[int, dict[str, Counts]]] = []
    for n in range(len(dev)):
        totals = {"text": Counts(), "asr": Counts()}
        for held in dev:
            others = [s for s in dev if s.key != held.key]
            combos = list(itertools.combinations(others, n))
            rng.shuffle(combos)
            stream = load_stream(held.key)
            transcripts = views(stream)
            for k, chosen in enumerate(combos[:subsets]):
                keys = {c.key for c in chosen}
                train = [s for s in pool if s.key in keys] + scripts
                model = train_to(train, language, work / f"curve-{n}-{held.key}-{k}", options)
                for view, transcript in transcripts.items():
                    truth = truth_kinds(transcript, stream.lines)
                    totals[view].add(score(transcript, truth, stream.products, model)["learned"])
        points.append((n, totals))
        for view, total in totals.items():
            if total.sentences:
                print(f"  N={n} {view:<4}: learned {total.row()}", flush=True)
    return points


def holdout(language: str, options: TrainOptions, work: Path) -> dict[str, dict[str, Counts]]:
    """The holdout streams, measured only (aggregate numbers; the streams are never read for tuning)."""
    model = train_to(dev_pool(language) + script_sources(language), language, work / "final", options)
    totals: dict[str, dict[str, Counts]] = {v: {d: Counts() for d in DETECTORS} for v in ("text", "asr")}
    for sid in list_streams(language=language, split="holdout"):
        stream = load_stream(sid)
        for view, transcript in views(stream).items():
            for name, c in score(transcript, truth_kinds(transcript, stream.lines), stream.products, model).items():
                totals[view][name].add(c)
    return totals


def _print_table(title: str, counts: dict[str, Counts]) -> None:
    print(title)
    for name, c in counts.items():
        print(f"  {name:<10} {c.row()}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--language", choices=("en", "zh", "all"), default="all")
    parser.add_argument("--curve", action="store_true", help="also the learning curve")
    parser.add_argument("--subsets", type=int, default=3, help="random choices of the N streams per held-out stream")
    parser.add_argument("--holdout", action="store_true", help="also the holdout streams (end of a round only)")
    parser.add_argument("--c", type=float, default=TrainOptions().c)
    parser.add_argument("--augment", type=int, default=TrainOptions().augment)
    parser.add_argument("--threshold", type=float, default=0.0, help="learned: selling probability that suffices")
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.add_argument("--asr-dir", type=Path, action="append", default=[], help="more cached ASR transcripts")
    parser.add_argument("--no-asr-training", action="store_true", help="train on script lines only")
    args = parser.parse_args(argv)
    global ASR_TRAINING
    ASR_TRAINING = not args.no_asr_training
    ASR_DIRS.extend(args.asr_dir)
    if args.threshold:
        LEARNED_OPTIONS["threshold"] = args.threshold
    options = TrainOptions(c=args.c, augment=args.augment)
    languages = ("en", "zh") if args.language == "all" else (args.language,)
    report: dict[str, Any] = {"train_options": asdict(options)}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mcn-bench-detector-") as tmp:
        work = Path(tmp)
        for lang in languages:
            entry: dict[str, Any] = {}
            print(f"\n=== {lang}: leave-one-stream-out over the dev corpus", flush=True)
            totals = loso(lang, options, work / lang)
            for view, counts in totals.items():
                if any(c.sentences for c in counts.values()):
                    _print_table(f"{lang} dev LOSO, {view}:", counts)
            entry["loso"] = {v: {d: asdict(c) for d, c in cs.items()} for v, cs in totals.items()}
            counts = heldout2(lang, options, work / lang)
            _print_table(f"{lang} HELDOUT2 script:", counts)
            entry["heldout2"] = {d: asdict(c) for d, c in counts.items()}
            if args.curve:
                print(f"=== {lang}: learning curve (N dev streams of other categories + the sample scripts)")
                entry["curve"] = [
                    {"n": n, **{view: asdict(c) for view, c in totals.items()}}
                    for n, totals in curve(lang, options, work / lang, args.subsets, 0)
                ]
            if args.holdout:
                totals = holdout(lang, options, work / lang)
                for view, counts in totals.items():
                    if any(c.sentences for c in counts.values()):
                        _print_table(f"{lang} HOLDOUT, {view}:", counts)
                entry["holdout"] = {v: {d: asdict(c) for d, c in cs.items()} for v, cs in totals.items()}
            report[lang] = entry
    print(f"\n{time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
