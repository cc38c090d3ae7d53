"""Clip quality on the voiced corpus: transcript -> product segments -> detector -> planner, scored against truth.

Transcripts come from one of three places, in order of realism:

* ``asr``: real faster-whisper on the stream's voiced audio (slow: minutes for the whole corpus);
* ``cached``: a transcript the ASR pass wrote earlier to ``corpus/transcripts/<id>.json``
  (``python -m mcn.samples.quality --write-transcripts``), so tests and the detector benchmark see real ASR output
  (its errors, its sentence splits, its word times) without paying for recognition on every run;
* ``text``: the script itself, one sentence per line at the voiced (or estimated) times: no ASR noise at all.

``python -m mcn.samples.quality [--source cached] [--detector heuristic] [--split holdout]`` prints one row per
stream and the totals per language.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from clipper.detectors import DetectionResult, detect_selling_points
from clipper.planner import PlanOptions, plan_clips
from clipper.segments import find_product_segments
from clipper.sentences import split_sentences, words_from_text
from clipper.subtitles import transcript_from_json, transcript_to_json
from clipper.types import PlannedClip, Sentence, Transcript, Word
from mcn.samples.corpus import CorpusStream, corpus_dir, list_streams, load_stream
from mcn.samples.evaluate import Quality, evaluate

__all__ = ["StreamResult", "corpus_transcript", "measure_stream", "transcript_path"]

TranscriptSource = Literal["asr", "cached", "text"]


@dataclass(frozen=True, slots=True)
class StreamResult:
    """One stream's clips and their score."""

    stream: CorpusStream
    transcript: Transcript
    detection: DetectionResult
    clips: tuple[PlannedClip, ...]
    quality: Quality


def transcript_path(stream_id: str, root: Path | None = None) -> Path:
    """Where the cached ASR transcript of ``stream_id`` lives."""
    return (root or corpus_dir()) / "transcripts" / f"{stream_id}.json"


def corpus_transcript(stream: CorpusStream, source: TranscriptSource = "cached", **asr: Any) -> Transcript:
    """The transcript of ``stream`` from ``source`` (see the module docstring); ``asr`` options go to
    :class:`clipper.transcribe.TranscribeOptions`.

    Raises:
        FileNotFoundError: ``cached`` without a cached transcript, or ``asr`` on a stream that is not voiced.
    """
    if source == "text":
        words: list[Word] = []
        sentences: list[Sentence] = []
        for line, spoken in zip(stream.lines, stream.spoken, strict=True):
            line_words = words_from_text(spoken, line.start, line.end)
            words.extend(line_words)
            sentences.append(Sentence(line.index, line.start, line.end, spoken, line_words))
        return Transcript(stream.language, stream.duration, tuple(words), tuple(sentences), origin="srt")
    if source == "cached":
        path = transcript_path(stream.id)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no cached transcript (python -m mcn.samples.quality --write-transcripts)")
        cached = transcript_from_json(json.loads(path.read_text(encoding="utf-8")), source=str(path))
        # The words are what ASR heard; sentences are ours, so split them with the current splitter.
        return replace(cached, sentences=split_sentences(cached.words, cached.language))
    if stream.audio is None:
        raise FileNotFoundError(f"corpus stream {stream.id} is not voiced (scripts/voice_corpus.py)")
    from clipper.term_correction import product_terms
    from clipper.transcribe import TranscribeOptions, transcribe
    from mcn.whisper_model import resolve_model

    options = TranscribeOptions(
        **{"model": resolve_model(str(asr.pop("model", "base"))), "language": stream.language, **asr},
        hotwords=tuple(n for p in stream.products for n in p.names),
        correction_terms=product_terms(stream.products),
    )
    return transcribe(stream.audio, options)


def measure_stream(
    stream: CorpusStream,
    transcript: Transcript,
    detector: str = "heuristic",
    plan: PlanOptions | None = None,
    **detector_options: Any,
) -> StreamResult:
    """Run segments -> ``detector`` -> planner on ``transcript`` and score the clips against the stream's truth."""
    segments = find_product_segments(transcript.sentences, stream.products, transcript.language)
    detection = detect_selling_points(transcript, segments, stream.products, detector, **detector_options)
    clips = plan_clips(
        transcript, detection.points, segments, None, plan or PlanOptions(max_clips=50), kinds=detection.kinds
    )
    return StreamResult(stream, transcript, detection, clips, evaluate(clips, stream.lines, transcript.words))


def _total(results: Sequence[StreamResult]) -> Quality:
    q = [r.quality for r in results]
    return Quality(
        selling_lines=sum(x.selling_lines for x in q),
        selling_covered=sum(x.selling_covered for x in q),
        clip_seconds=sum(x.clip_seconds for x in q),
        selling_seconds=sum(x.selling_seconds for x in q),
        cuts_inside_words=sum(x.cuts_inside_words for x in q),
        price_lines_in_clips=sum(x.price_lines_in_clips for x in q),
        clips=sum(x.clips for x in q),
        products_due=sum(x.products_due for x in q),
        products_clipped=sum(x.products_clipped for x in q),
    )


def _row(name: str, q: Quality) -> str:
    return (
        f"{name:<22} {q.clips:>5} {q.recall:>7.0%} {q.precision:>9.0%} {q.cuts_inside_words:>5} "
        f"{q.price_lines_in_clips:>6} {q.products_clipped:>3}/{q.products_due:<3}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", choices=("asr", "cached", "text"), default="cached")
    parser.add_argument("--detector", default="heuristic")
    parser.add_argument("--split", choices=("dev", "holdout", "holdout2", "holdout3"), default=None)
    parser.add_argument("--language", choices=("zh", "en"), default=None)
    parser.add_argument("--model", default="base", help="whisper model for --source asr / --write-transcripts")
    parser.add_argument("--write-transcripts", action="store_true", help="run ASR and cache corpus/transcripts/")
    args = parser.parse_args(argv)
    ids = list_streams(language=args.language, split=args.split, voiced=args.source != "text")
    if args.write_transcripts:
        for sid in ids:
            stream = load_stream(sid)
            transcript = corpus_transcript(stream, "asr", model=args.model)
            path = transcript_path(sid)
            path.parent.mkdir(parents=True, exist_ok=True)
            document = {"asr_model": args.model, **transcript_to_json(transcript)}
            path.write_text(json.dumps(document, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
            print(f"{sid}: {len(transcript.sentences)} sentences -> {path}")
        return 0
    print(f"{'stream':<22} {'clips':>5} {'recall':>7} {'on-sell':>9} {'cuts':>5} {'price':>6} products")
    by_language: dict[str, list[StreamResult]] = {}
    for sid in ids:
        stream = load_stream(sid)
        result = measure_stream(stream, corpus_transcript(stream, args.source, model=args.model), args.detector)
        by_language.setdefault(stream.language, []).append(result)
        print(_row(f"{sid} ({stream.split[0]})", result.quality))
    for language, results in sorted(by_language.items()):
        print(_row(f"ALL {language}", _total(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
