"""Quality bars on generated streams with known selling points: English through real faster-whisper on
espeak-ng speech, Chinese through the stream's SRT.

Bars (on DEV_* and HELDOUT_*): >= 90% of selling sentences inside some clip, >= 85% of clip time on selling
points, no cut inside a word, no price call inside a clip. HELDOUT_* was written before tuning but its misses
were then fixed in general form, so it counts as development data now (see ``mcn.samples.scripts``).
HELDOUT2_* was never tuned on: it is measured and printed, and only the safety bars (no price call in a clip,
no cut inside a word) plus a regression floor are asserted on it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from clipper.detectors import detect_selling_points
from clipper.planner import plan_clips
from clipper.scenes import detect_scenes
from clipper.segments import find_product_segments
from clipper.subtitles import read_subtitles
from clipper.transcribe import TranscribeOptions, transcribe
from clipper.types import Transcript
from mcn.samples import GeneratedStream, generate_stream
from mcn.samples.evaluate import Quality, evaluate
from mcn.samples.scripts import DEV_ZH, HELDOUT2_EN, HELDOUT2_ZH, HELDOUT_EN, HELDOUT_ZH, StreamScript


def _measure(stream: GeneratedStream, transcript: Transcript) -> Quality:
    segments = find_product_segments(transcript.sentences, stream.products, transcript.language)
    detection = detect_selling_points(transcript, segments, stream.products)
    clips = plan_clips(transcript, detection.points, segments, detect_scenes(stream.video), kinds=detection.kinds)
    quality = evaluate(clips, stream.lines, transcript.words)
    print(stream.video.parent.name, quality.summary())
    return quality


def _assert_bars(q: Quality) -> None:
    assert q.clips > 0
    assert q.recall >= 0.90, q.summary()
    assert q.precision >= 0.85, q.summary()
    assert q.cuts_inside_words == 0, q.summary()
    assert q.price_lines_in_clips == 0, q.summary()


@pytest.fixture(scope="module")
def asr_options(whisper_model_dir: Path) -> TranscribeOptions:
    return TranscribeOptions(model=str(whisper_model_dir))


def test_english_dev_stream_through_asr(sample_stream_en: GeneratedStream, asr_options: TranscribeOptions) -> None:
    _assert_bars(_measure(sample_stream_en, transcribe(sample_stream_en.video, asr_options)))


def test_english_heldout_stream_through_asr(media_dir: Path, asr_options: TranscribeOptions) -> None:
    stream = generate_stream(HELDOUT_EN, media_dir / "heldout-en")
    _assert_bars(_measure(stream, transcribe(stream.video, asr_options)))


@pytest.mark.parametrize("script", [DEV_ZH, HELDOUT_ZH], ids=["dev-zh", "heldout-zh"])
def test_chinese_streams_through_srt(script: StreamScript, tmp_path: Path) -> None:
    stream = generate_stream(script, tmp_path / "zh")
    _assert_bars(_measure(stream, read_subtitles(stream.srt)))


def _assert_safety_and_floor(q: Quality) -> None:
    assert q.cuts_inside_words == 0, q.summary()
    assert q.price_lines_in_clips == 0, q.summary()
    # Regression floor, below the bar: the never-tuned set measured 92%/98% (en) and 77%/99% (zh) when written.
    assert q.recall >= 0.70 and q.precision >= 0.85, q.summary()


def test_never_tuned_english_set(media_dir: Path, asr_options: TranscribeOptions) -> None:
    stream = generate_stream(HELDOUT2_EN, media_dir / "heldout2-en")
    _assert_safety_and_floor(_measure(stream, transcribe(stream.video, asr_options)))


def test_never_tuned_chinese_set(tmp_path: Path) -> None:
    stream = generate_stream(HELDOUT2_ZH, tmp_path / "zh")
    _assert_safety_and_floor(_measure(stream, read_subtitles(stream.srt)))
