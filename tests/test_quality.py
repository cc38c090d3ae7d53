"""Quality bars on generated streams with known selling points: English through real faster-whisper on
espeak-ng speech, Chinese through the stream's SRT. The held-out scripts were written apart from the heuristic's
development scripts and are only measured here.

Bars: >= 90% of selling sentences inside some clip, >= 85% of clip time on selling points, no cut inside a
word, no price call inside a clip.
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
from mcn.samples.scripts import DEV_ZH, HELDOUT_EN, HELDOUT_ZH


def _measure(stream: GeneratedStream, transcript: Transcript) -> Quality:
    segments = find_product_segments(transcript.sentences, stream.products, transcript.language)
    detection = detect_selling_points(transcript, segments, stream.products)
    clips = plan_clips(transcript, detection.points, segments, detect_scenes(stream.video))
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
def test_chinese_streams_through_srt(script: object, tmp_path: Path) -> None:
    stream = generate_stream(script, tmp_path / "zh")  # type: ignore[arg-type]
    _assert_bars(_measure(stream, read_subtitles(stream.srt)))
