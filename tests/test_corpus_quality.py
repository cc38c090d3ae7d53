"""Clip quality on the blind-written corpus (``corpus/``): 16 livestreams, 8 zh and 8 en, six categories.

The scripts were written from ``corpus/SPEC.md`` by writers who never saw the detector; ``corpus/splits.json``
fixed before any stream was read which ones may be tuned on (``dev``) and which are only measured
(``holdout``). Figures per stream: ``python -m mcn.samples.quality --source text|cached``.

Two transcript sources are checked here: the scripts at their voiced times (``text``: what the detector makes of
the words), and the cached real-ASR transcripts of the voiced audio (``cached``, when ``corpus/transcripts``
holds them: what it makes of what faster-whisper heard, errors and sentence splits included).

Bars asserted: no cut inside a spoken line, every product with >= 8 s of selling talk clipped, and no price call
in a clip on the dev streams. On the held-out streams the same are measured; the regression floors below sit
a few points under the measurement after the latest tuning round (recall / clip time on selling talk):

=========  ==================  =====================  =====================
source     dev en              dev zh (8 streams)     holdout en
=========  ==================  =====================  =====================
text       86% / 87%           91% / 92%              94% / 85%, 1 price
cached     86% / 86%, 0 cuts   92% / 85%, 2 cuts      87% / 85%, 2 cuts
=========  ==================  =====================  =====================

(dev columns re-measured after read-out questions and A-not-A replies, with short clips off by default; with
short clips on, dev reads 92-94% recall in English but the English holdout took three price lines into clips, so
they are opt-in: bench/results/corpus-holdout3-first-sight.txt.)

(cached: faster-whisper base, the transcripts in ``corpus/transcripts``). The zh holdout (zh-home-01, zh-beauty-02,
zh-mixed-01: ``retired_holdout`` in splits.json) was measured once as holdout (82% / 75%, 8 cuts, 3 price lines
through ASR; bench/results/corpus-round2-*) and then moved to dev for diagnosis. The en holdout misses
(en-beauty-02's price line through the script, 2 cuts through ASR) stay unexamined so the set stays unseen. The
pipeline is deterministic on a given transcript, so the margins only absorb small, deliberate changes.
"""

from __future__ import annotations

import json

import pytest

from clipper.planner import PlanOptions
from mcn.samples.corpus import corpus_dir, list_streams, load_stream
from mcn.samples.evaluate import Quality
from mcn.samples.quality import StreamResult, corpus_transcript, measure_stream, transcript_path

#: The measured streams: dev and holdout. Streams not yet split (a writer's fresh set) are left alone here.
STREAMS = tuple(sorted(list_streams(split="dev") + list_streams(split="holdout")))


def _results(source: str, split: str, language: str) -> list[StreamResult]:
    out = []
    for sid in list_streams(language=language, split=split):  # type: ignore[arg-type]
        stream = load_stream(sid)
        if source == "cached" and not transcript_path(sid).is_file():
            continue
        out.append(measure_stream(stream, corpus_transcript(stream, source)))  # type: ignore[arg-type]
    return out


def _pooled(results: list[StreamResult]) -> tuple[float, float]:
    q: list[Quality] = [r.quality for r in results]
    recall = sum(x.selling_covered for x in q) / max(1, sum(x.selling_lines for x in q))
    precision = sum(x.selling_seconds for x in q) / max(1e-9, sum(x.clip_seconds for x in q))
    return recall, precision


def test_corpus_is_complete_and_split() -> None:
    assert len(list_streams(language="zh")) >= 6 and len(list_streams(language="en")) >= 6
    assert list_streams(split="holdout", language="en") and list_streams(split="dev", language="zh")
    assert not set(list_streams(split="dev")) & set(list_streams(split="holdout"))
    # A retired holdout stream was measured once as holdout, then moved to dev (never back).
    splits = json.loads((corpus_dir() / "splits.json").read_text(encoding="utf-8"))
    assert set(splits.get("retired_holdout", [])) <= set(splits["dev"]) - set(splits["holdout"])


@pytest.mark.parametrize("sid", STREAMS)
def test_every_stream_no_cut_inside_a_line_and_every_product_clipped(sid: str) -> None:
    stream = load_stream(sid)
    result = measure_stream(stream, corpus_transcript(stream, "text"))
    q = result.quality
    print(sid, q.summary())
    assert q.cuts_inside_words == 0, q.summary()
    if stream.split == "dev":
        assert q.products_clipped == q.products_due, q.summary()
        assert q.price_lines_in_clips == 0, q.summary()
    else:
        # Measured, not tuned: one held-out product unclipped (zh-beauty-02) and one price line in a clip
        # (en-beauty-02) at the last measurement; see the module docstring.
        assert q.products_clipped >= q.products_due - 1, q.summary()
        assert q.price_lines_in_clips <= 1, q.summary()
    # A product's only clip may be short (short_floor_seconds); short clips of boxed-in talk are opt-in.
    floor = min(PlanOptions().short_floor_seconds, PlanOptions().short_clip_seconds or 60.0)
    for clip in result.clips:
        assert floor <= clip.duration <= 60.5, clip


# (split, language) -> (recall floor, precision floor), a few points under the measurement in the module docstring.
TEXT_FLOORS = {
    ("dev", "en"): (0.83, 0.84),
    ("dev", "zh"): (0.88, 0.89),
    ("holdout", "en"): (0.90, 0.82),
}
# The same through the cached real-ASR transcripts (faster-whisper base); wider for zh, whose transcripts are
# regenerated as Mandarin ASR improves (re-measure then).
ASR_FLOORS = {
    ("dev", "en"): (0.83, 0.83),
    ("dev", "zh"): (0.88, 0.81),
    ("holdout", "en"): (0.84, 0.82),
}


@pytest.mark.parametrize(("split", "language"), sorted(TEXT_FLOORS))
def test_pooled_quality_floors_on_the_scripts(split: str, language: str) -> None:
    recall, precision = _pooled(_results("text", split, language))
    print(f"{split} {language}: recall {recall:.0%}, clip time on selling talk {precision:.0%}")
    floor_recall, floor_precision = TEXT_FLOORS[(split, language)]
    assert recall >= floor_recall and precision >= floor_precision


@pytest.mark.parametrize("language", ["en", "zh"])
def test_through_real_asr_safety_holds(language: str) -> None:
    """On what ASR heard (cached transcripts of the voiced corpus): no cut inside a spoken line, every product
    with enough talk clipped, and no price call in a clip on the dev streams."""
    results = _results("cached", "dev", language) + _results("cached", "holdout", language)
    if not results:
        pytest.skip(f"no cached {language} ASR transcripts in corpus/transcripts")
    cuts = 0
    for r in results:
        q = r.quality
        print(r.stream.id, q.summary())
        cuts += q.cuts_inside_words
        if r.stream.split == "dev":
            assert q.price_lines_in_clips == 0, (r.stream.id, q.summary())
    # ASR splits some spoken lines differently from the script (a full stop where the host only paused, a viewer's
    # name and 问 misheard); the measured counts are 2 (en, both holdout) and 2 (zh, both dev: a short selling clause
    # that ASR ran into a price call, which takes it out of the clip) cut points inside a script line.
    # The bar is 0: not met yet.
    # The zh transcripts get regenerated as Mandarin ASR improves, hence the slack there.
    assert cuts <= 2 * len(results), cuts
    dev_cuts = sum(r.quality.cuts_inside_words for r in results if r.stream.split == "dev")
    assert dev_cuts <= {"en": 0, "zh": 2}[language], dev_cuts


#: The model the cached transcripts behind :data:`ASR_FLOORS` came from.
ASR_FLOORS_MODEL = "base"


@pytest.mark.parametrize(("split", "language"), sorted(ASR_FLOORS))
def test_pooled_quality_floors_through_real_asr(split: str, language: str) -> None:
    results = _results("cached", split, language)
    if not results:
        pytest.skip(f"no cached {language} ASR transcripts in corpus/transcripts")
    models = {json.loads(transcript_path(r.stream.id).read_text(encoding="utf-8")).get("asr_model") for r in results}
    if models != {ASR_FLOORS_MODEL}:
        pytest.skip(f"cached {language} transcripts are from {sorted(map(str, models))}: re-measure ASR_FLOORS")
    recall, precision = _pooled(results)
    print(f"{split} {language} (cached ASR): recall {recall:.0%}, clip time on selling talk {precision:.0%}")
    floor_recall, floor_precision = ASR_FLOORS[(split, language)]
    assert recall >= floor_recall and precision >= floor_precision
