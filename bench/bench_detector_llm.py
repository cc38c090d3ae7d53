"""LLM backend (``openai``) vs the heuristic: selling-sentence recall and precision on labelled transcripts.

Each case is ``(name, transcript, truth lines, products)``; every transcript sentence takes the kind of the truth
line it overlaps most in time (:func:`mcn.detector_training.labels_by_overlap`), so script text and ASR transcripts
both work. For each backend, the sentences inside its selling points ("selected") are scored:

* recall: truly ``selling`` sentences selected / truly ``selling`` sentences;
* precision: selected sentences that are truly ``selling`` / selected sentences;
* price-in-selection: selected ``price`` sentences / selected sentences (must stay 0);
* kinds: sentences whose kind (``DetectionResult.kinds``: the model's where it gave a valid one, the heuristic
  structure's elsewhere) equals the truth kind, how many kinds came from the model, and how many truly ``price``
  lines got another kind.

The ``openai`` rows also report model calls, heuristic fallbacks (segments whose answer was unusable twice),
tokens and wall time. The endpoint is ``--base-url``/``--model`` (any OpenAI-compatible server, ``MCN_LLM_*``
settings otherwise), or, by default, a local Gemma 3 270M started here by :class:`mcn.llm_server.LocalLLMServer`
on a free loopback port (``llm-server`` extra). Both ``response_format`` modes are measured: ``json_object`` and
``json_schema`` (decoding constrained to the answer schema).

Cases: the sample scripts (``DEV_*``, ``HELDOUT_*``, ``HELDOUT2_*``) by default; ``--corpus N`` adds the first N dev
corpus streams per language (script text). :func:`measure` takes any list of :class:`Case`.

    .venv/bin/python bench/bench_detector_llm.py [--max-tokens 384] [--corpus 0] [--json out.json]

Figures (2-core box shared with other jobs, Gemma 3 270M Q4_K_M, 1 thread, ``--max-tokens 384``, the six sample
scripts: 89 selling sentences, 21 segments asked; 7 min in all):

    heuristic            recall 98.9%  precision 97.8%  price-in-selection 0.0%
    openai json_object   recall 96.6%  precision 98.9%  price-in-selection 0.0%  calls 41, fallbacks 20/21, 136 s
    openai json_schema   recall 97.8%  precision 90.6%  price-in-selection 1.0%  calls 34, fallbacks 13/21, 281 s

The 270M model is a base model: in JSON mode it echoes the product object (no ``points``), so all but one segment
fall back to the heuristic and the row is the heuristic's, minus one segment the model answered with fewer points.
Under the schema it writes valid shapes with arbitrary, overlapping ranges: 8 segments are the model's, precision
drops, and one price line the cue lexicon does not flag (so the range checks cannot trim it) got into a point. These
figures measure the plumbing; a capable model (Qwen, DeepSeek) is what the ``openai`` backend is for.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from clipper.detectors import detect_selling_points  # noqa: E402
from clipper.segments import find_product_segments  # noqa: E402
from clipper.types import Product, Transcript  # noqa: E402
from mcn.detector_training import labels_by_overlap  # noqa: E402
from mcn.samples import TimedLine  # noqa: E402
from mcn.samples import scripts as sample_scripts  # noqa: E402

SCRIPTS = ("DEV_EN", "DEV_ZH", "HELDOUT_EN", "HELDOUT_ZH", "HELDOUT2_EN", "HELDOUT2_ZH")


@dataclass(frozen=True, slots=True)
class Case:
    """One labelled transcript: the truth lines carry each line's kind (``selling``, ``price``, ...) and times."""

    name: str
    transcript: Transcript
    truth: tuple[TimedLine, ...]
    products: tuple[Product, ...]


@dataclass
class Score:
    """Sentence counts of one backend, summed over cases, plus the model's bill."""

    sentences: int = 0
    selling: int = 0
    selected: int = 0
    selected_selling: int = 0
    selected_price: int = 0
    calls: int = 0
    fallbacks: int = 0
    segments_asked: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    per_case: dict[str, tuple[float, float]] = field(default_factory=dict)
    price_selected: list[str] = field(default_factory=list)
    kinds_correct: int = 0
    kinds_from_model: int = 0
    price_kind_missed: int = 0

    @property
    def kind_accuracy(self) -> float:
        return self.kinds_correct / self.sentences if self.sentences else 0.0

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
        text = (
            f"recall {self.recall:6.1%}  precision {self.precision:6.1%}  price-in-selection {self.price_rate:5.1%} "
            f"({self.selected_selling}/{self.selling} selling found, {self.selected} selected)"
            f"  kinds {self.kind_accuracy:6.1%} right ({self.kinds_from_model} from the model, "
            f"{self.price_kind_missed} price lines not price)"
        )
        if self.calls:
            text += (
                f"  calls {self.calls}, fallbacks {self.fallbacks}/{self.segments_asked} segments, "
                f"tokens {self.prompt_tokens}+{self.completion_tokens}, {self.seconds:.0f} s"
            )
        return text


def sample_cases(names: Sequence[str] = SCRIPTS) -> list[Case]:
    """The repo's sample scripts as cases (script text laid out with estimated times)."""
    cases = []
    for name in names:
        script = getattr(sample_scripts, name)
        cases.append(
            Case(
                name,
                sample_scripts.synthetic_transcript(script),
                sample_scripts.synthetic_lines(script),
                tuple(seg.product for seg in script.segments),
            )
        )
    return cases


def corpus_cases(per_language: int) -> list[Case]:
    """The first ``per_language`` dev corpus streams of each language, as script text."""
    from mcn.samples.corpus import list_streams, load_stream
    from mcn.samples.quality import corpus_transcript

    cases = []
    for language in ("en", "zh"):
        for sid in list_streams(language=language, split="dev")[:per_language]:
            stream = load_stream(sid)
            cases.append(Case(sid, corpus_transcript(stream, "text"), stream.lines, stream.products))
    return cases


def measure(cases: Sequence[Case], backend: str, **options: Any) -> Score:
    """Score ``backend`` (with its ``options``) on every case."""
    total = Score()
    for case in cases:
        transcript = case.transcript
        kinds = [label.kind for label in labels_by_overlap(transcript, case.truth)]
        segments = find_product_segments(transcript.sentences, case.products, transcript.language)
        started = time.perf_counter()
        result = detect_selling_points(transcript, segments, case.products, backend, **options)
        total.seconds += time.perf_counter() - started
        selected = {i for p in result.points for i in range(p.first_sentence, p.last_sentence + 1)}
        selling = sum(1 for k in kinds if k == "selling")
        hit = sum(1 for i in selected if kinds[i] == "selling")
        total.sentences += len(kinds)
        total.selling += selling
        total.selected += len(selected)
        total.selected_selling += hit
        total.selected_price += sum(1 for i in selected if kinds[i] == "price")
        total.price_selected += [
            f"{case.name} #{i}: {transcript.sentences[i].text}" for i in sorted(selected) if kinds[i] == "price"
        ]
        total.kinds_correct += sum(1 for got, want in zip(result.kinds, kinds, strict=False) if got == want)
        total.price_kind_missed += sum(
            1 for i, want in enumerate(kinds) if want == "price" and (i >= len(result.kinds) or result.kinds[i] != want)
        )
        total.kinds_from_model += sum(
            int(n.split()[2]) for n in result.notes if n.startswith("sentence kinds: ") and n.split()[2].isdigit()
        )
        total.calls += result.calls
        total.fallbacks += result.fallbacks
        total.prompt_tokens += result.prompt_tokens
        total.completion_tokens += result.completion_tokens
        if result.calls:
            # Every segment the model was asked about answers once or twice; the first call counts it.
            total.segments_asked += result.calls - sum(1 for n in result.notes if n.endswith("; retrying"))
        total.per_case[case.name] = (
            hit / selling if selling else 1.0,
            hit / len(selected) if selected else 0.0,
        )
    return total


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--base-url", help="OpenAI-compatible endpoint; default: a local Gemma 3 270M started here")
    parser.add_argument("--model", help="model name at --base-url")
    parser.add_argument("--api-key", help="key for --base-url (prefer MCN_LLM_API_KEY)")
    parser.add_argument("--max-tokens", type=int, default=384, help="answer cap per call")
    parser.add_argument("--threads", type=int, default=0, help="local server CPU threads (0: one per two cores)")
    parser.add_argument("--corpus", type=int, default=0, help="add the first N dev corpus streams per language")
    parser.add_argument("--scripts", default=",".join(SCRIPTS), help="comma-separated sample script names")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--modes", default="json_object,json_schema", help="response_format modes to measure")
    args = parser.parse_args(argv)

    cases = sample_cases([n for n in args.scripts.split(",") if n])
    if args.corpus:
        cases += corpus_cases(args.corpus)
    print(f"{len(cases)} cases: {', '.join(c.name for c in cases)}")

    server = None
    if args.base_url:
        endpoint: dict[str, Any] = {"base_url": args.base_url, "model": args.model, "api_key": args.api_key}
    else:
        from mcn.llm_server import LLMServerOptions, LocalLLMServer

        server = LocalLLMServer(LLMServerOptions(port=0, max_tokens=max(args.max_tokens, 64), threads=args.threads))
        print(f"local server {server.base_url} ({server.model_name}) loaded in {server.load_seconds:.1f} s")
        endpoint = {"base_url": server.base_url, "model": server.model_name}
    try:
        runs: dict[str, Score] = {"heuristic": measure(cases, "heuristic")}
        wanted = [m for m in args.modes.split(",") if m in ("json_object", "json_schema")]
        modes = [(f"openai {m}", m == "json_schema") for m in wanted]
        for label, schema in modes:
            runs[label] = measure(
                cases, "openai", max_tokens=args.max_tokens, json_schema=schema, timeout=300.0, **endpoint
            )
            print(f"  {label} done in {runs[label].seconds:.0f} s", flush=True)
    finally:
        if server is not None:
            server.close()

    print()
    for label, score in runs.items():
        print(f"{label:20s} {score.row()}")
    for label, score in runs.items():
        for line in score.price_selected:
            print(f"{label}: price line selected: {line}")
    print()
    print("per case (recall / precision):")
    for case in cases:
        cells = "  ".join(
            f"{label}: {s.per_case[case.name][0]:4.0%}/{s.per_case[case.name][1]:4.0%}" for label, s in runs.items()
        )
        print(f"  {case.name:28s} {cells}")
    if args.json:
        payload = {
            label: {**asdict(s), "recall": s.recall, "precision": s.precision, "price_rate": s.price_rate}
            for label, s in runs.items()
        }
        args.json.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
