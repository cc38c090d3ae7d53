"""faster-whisper on generated speech (the offline base model), and the hallucination guard on its own.

espeak-ng speech is clear, so recognition should be nearly perfect and word times should match the true line
times of the generated stream closely. The model is loaded once for the whole module (see ``load_model``).
"""

from __future__ import annotations

import difflib
import itertools
import re
from dataclasses import replace
from pathlib import Path

import pytest

from clipper.errors import MediaError, NoSpeechError
from clipper.ffmpeg import Command, Input, Output, run
from clipper.transcribe import (
    AsrSegment,
    HallucinationGuard,
    ModelLoadError,
    TranscribeOptions,
    drop_hallucinations,
    load_model,
    transcribe,
)
from clipper.types import Transcript, Word
from mcn.samples import GeneratedStream

# --- real model on generated speech ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def options(whisper_model_dir: Path) -> TranscribeOptions:
    return TranscribeOptions(model=str(whisper_model_dir))


@pytest.fixture(scope="module")
def batched_en(sample_stream_en: GeneratedStream, options: TranscribeOptions) -> tuple[Transcript, list[float]]:
    """Default options: batched pipeline, language detected."""
    progress: list[float] = []
    return transcribe(sample_stream_en.video, options, on_progress=progress.append), progress


@pytest.fixture(scope="module")
def plain_en(sample_stream_en: GeneratedStream, options: TranscribeOptions) -> Transcript:
    """Sequential pipeline with the language forced."""
    return transcribe(
        sample_stream_en.video,
        TranscribeOptions(model=options.model, batch_size=0, language="en", hotwords=("rain jacket", "steel bottle")),
    )


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def _check_against_truth(t: Transcript, stream: GeneratedStream) -> None:
    """Floors that hold on any CPU: int8 kernels differ between processors, so single words and line boundaries
    may come out differently; what may not differ is that nearly all speech is heard, in time order, that no
    line (the last one above all) is lost, and that boundaries are accurate on the whole."""
    assert t.origin == "asr"
    assert t.duration == pytest.approx(stream.duration, abs=0.1)
    # Word times increase, never overlap, and stay inside the recording.
    assert t.words
    for a, b in itertools.pairwise(t.words):
        assert 0.0 <= a.start <= a.end <= b.start
    assert t.words[-1].end <= t.duration
    assert [w for s in t.sentences for w in s.words] == list(t.words)
    # Word recall: espeak-ng is clear speech (numbers may come back as digits, so those words count as missed).
    script = [tok for line in stream.lines for tok in _tokens(line.text)]
    heard = [tok for w in t.words for tok in _tokens(w.text)]
    matcher = difflib.SequenceMatcher(a=script, b=heard, autojunk=False)
    recognised = sum(block.size for block in matcher.get_matching_blocks()) / len(script)
    assert recognised >= 0.8, f"only {recognised:.0%} of the script recognised"
    assert 0.75 * len(stream.lines) <= len(t.sentences) <= 1.5 * len(stream.lines)
    # Every line is heard: a lost line is a product bug (whisper ending a window early), not CPU noise.
    by_line: dict[int, list[Word]] = {line.index: [] for line in stream.lines}
    for word in t.words:
        mid = (word.start + word.end) / 2
        nearest = min(stream.lines, key=lambda ln: max(ln.start - mid, mid - ln.end, 0.0))
        by_line[nearest.index].append(word)
    lost = [line.text for line in stream.lines if not by_line[line.index]]
    assert not lost, f"lines never recognised: {lost}"
    # Boundary error of each line's first and last recognised word against the true line times: accurate on the
    # whole (median), no gross misses (worst line).
    errors = sorted(
        err
        for line in stream.lines
        for err in (abs(by_line[line.index][0].start - line.start), abs(by_line[line.index][-1].end - line.end))
    )
    median = errors[len(errors) // 2]
    assert median <= 0.25, f"median boundary error {median:.2f} s"
    assert errors[-1] <= 1.0, f"worst boundary error {errors[-1]:.2f} s"


def test_batched_transcription_matches_the_script(
    batched_en: tuple[Transcript, list[float]], sample_stream_en: GeneratedStream
) -> None:
    transcript, _ = batched_en
    assert transcript.language == "en"  # detected, not forced
    _check_against_truth(transcript, sample_stream_en)


def test_progress_is_monotonic_and_finishes(batched_en: tuple[Transcript, list[float]]) -> None:
    _, progress = batched_en
    assert len(progress) >= 2
    assert progress == sorted(progress)
    assert all(0.0 <= p <= 1.0 for p in progress)
    assert progress[-1] == 1.0


def test_plain_pipeline_with_forced_language_and_hotwords(
    plain_en: Transcript, sample_stream_en: GeneratedStream
) -> None:
    assert plain_en.language == "en"
    _check_against_truth(plain_en, sample_stream_en)
    assert "rain jacket" in " ".join(s.text.lower() for s in plain_en.sentences)


def test_speech_the_first_pass_skipped_is_decoded_again(
    plain_en: Transcript, sample_stream_en: GeneratedStream, options: TranscribeOptions
) -> None:
    """The recovery pass on its own, with the real model: drop what the first pass heard of the last two lines
    (what happened on a CPU where Whisper ended its last window early) and the gap is found and decoded again."""
    from faster_whisper.audio import decode_audio

    from clipper.transcribe import _recover_missed_speech

    cut = sample_stream_en.lines[-2].start - 0.2
    first_pass = tuple(w for w in plain_en.words if w.end <= cut)
    audio = decode_audio(str(sample_stream_en.video), sampling_rate=16_000)
    opts = TranscribeOptions(model=options.model, language="en")
    words, stretches = _recover_missed_speech(load_model(opts), audio, first_pass, opts, "en")
    assert stretches >= 1
    tail = "".join(w.text for w in words if w.start >= cut).lower()
    assert "price goes back up" in tail
    assert "tomorrow" in tail
    for a, b in itertools.pairwise(words):
        assert a.start <= a.end <= b.start
    # Nothing the first pass kept is lost or moved.
    assert words[: len(first_pass)] == first_pass


def test_model_is_loaded_once(options: TranscribeOptions, batched_en: tuple[Transcript, list[float]]) -> None:
    first = load_model(options)
    assert load_model(TranscribeOptions(model=options.model, batch_size=0, language="zh")) is first


@pytest.fixture(scope="module")
def short_en(sample_stream_en: GeneratedStream, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 7 s of the English stream (two greeting lines), audio only."""
    out = tmp_path_factory.mktemp("asr") / "short.m4a"
    run(
        Command(
            inputs=(Input(str(sample_stream_en.video), duration=7.0),),
            outputs=(Output(str(out), options=("-vn", "-c:a", "aac")),),
        ),
        subject=str(out),
    )
    return out


def test_detection_is_restricted_to_allowed_languages(short_en: Path, options: TranscribeOptions) -> None:
    # English audio, but only Chinese allowed: the result is decoded as Chinese instead of leaking "en".
    restricted = TranscribeOptions(model=options.model, languages=("zh",))
    assert transcribe(short_en, restricted).language == "zh"
    # Forcing a language skips detection entirely.
    forced = transcribe(short_en, TranscribeOptions(model=options.model, language="en", batch_size=0))
    assert forced.language == "en"
    assert "welcome" in forced.sentences[0].text.lower()


@pytest.fixture(scope="module")
def silent_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("asr") / "silent.mp4"
    run(
        Command(
            inputs=(
                Input("anullsrc=r=16000:cl=mono", options=("-f", "lavfi")),
                Input("color=c=black:s=64x64:r=10", options=("-f", "lavfi")),
            ),
            outputs=(Output(str(out), options=("-t", "6", "-c:v", "libx264", "-c:a", "aac", "-shortest")),),
        ),
        subject=str(out),
    )
    return out


@pytest.mark.parametrize("batch_size", [8, 0])
def test_silence_raises_no_speech(silent_video: Path, options: TranscribeOptions, batch_size: int) -> None:
    with pytest.raises(NoSpeechError) as info:
        transcribe(silent_video, TranscribeOptions(model=options.model, batch_size=batch_size))
    assert str(info.value).startswith(f"{silent_video}: no speech found")
    assert "\n" not in str(info.value)


def test_unusable_inputs_are_one_line_errors(tmp_path: Path, options: TranscribeOptions, silent_video: Path) -> None:
    video_only = tmp_path / "video-only.mp4"
    run(
        Command(
            inputs=(Input("color=c=black:s=64x64:r=10:d=1", options=("-f", "lavfi")),),
            outputs=(Output(str(video_only), options=("-c:v", "libx264")),),
        ),
        subject=str(video_only),
    )
    with pytest.raises(MediaError, match="no audio stream"):
        transcribe(video_only, options)
    with pytest.raises(MediaError, match="cannot decode audio"):
        transcribe(tmp_path / "missing.mp4", options)
    with pytest.raises(ModelLoadError, match="cannot load whisper model"):
        transcribe(silent_video, TranscribeOptions(model=str(tmp_path)))


# --- the hallucination guard, no model --------------------------------------------------------------------------


def _words(texts: list[str], start: float = 0.0, step: float = 0.3) -> tuple[Word, ...]:
    return tuple(Word(start + i * step, start + (i + 1) * step, t) for i, t in enumerate(texts))


def _seg(text: str, *, words: tuple[Word, ...] = (), no_speech: float = 0.0, logprob: float = -0.2) -> AsrSegment:
    start = words[0].start if words else 0.0
    end = words[-1].end if words else 5.0
    return AsrSegment(start, end, text, words, avg_logprob=logprob, no_speech_prob=no_speech)


def test_guard_drops_silent_low_confidence_segments() -> None:
    silent = _seg(" Thank you.", no_speech=0.9, logprob=-1.4)
    confident = _seg(" Link three.", no_speech=0.9, logprob=-0.3)  # high no-speech alone is not enough
    unsure = _seg(" maybe a word", no_speech=0.1, logprob=-1.4)  # nor is low log-probability alone
    assert drop_hallucinations([silent, confident, unsure]) == (confident, unsure)


def test_guard_cuts_an_english_loop_keeping_the_first_occurrence() -> None:
    texts = [" Nice", " jacket.", *[" I", " don't", " know."] * 6]
    seg = _seg("".join(texts), words=_words(texts))
    (kept,) = drop_hallucinations([seg])
    assert kept.text == "Nice jacket. I don't know."
    assert kept.words == seg.words[:5]
    assert (kept.start, kept.end) == (seg.words[0].start, seg.words[4].end)


def test_guard_cuts_a_chinese_loop_from_text_alone() -> None:
    seg = _seg("这个价格真的很划算谢谢大家谢谢大家谢谢大家谢谢大家谢谢大家三二一上链接")
    (kept,) = drop_hallucinations([seg])
    assert kept.text == "这个价格真的很划算谢谢大家三二一上链接"
    assert kept.words == ()


def test_guard_keeps_natural_repetition() -> None:
    natural = [
        _seg(" No, no, no, no, that's the old price."),
        _seg("对对对对，这个颜色特别好看"),
        _seg(" Link three, link three, link three!"),
    ]
    assert drop_hallucinations(natural) == tuple(natural)


def test_guard_collapses_runs_of_identical_segments() -> None:
    loop = [_seg(" I don't know.") for _ in range(5)]
    twice = [_seg(" Thank you!"), _seg(" thank you")]
    result = drop_hallucinations([_seg(" Hello."), *loop, *twice])
    assert [s.text for s in result] == [" Hello.", " I don't know.", " Thank you!", " thank you"]


def test_guard_removes_credit_lines() -> None:
    assert drop_hallucinations([_seg("字幕由Amara.org社区提供")]) == ()
    texts = [" 好", "的", "字幕", "由", " Amara", ".org", " 社区", "提供"]
    (kept,) = drop_hallucinations([_seg("".join(texts), words=_words(texts))])
    assert kept.text == "好的"


def test_guard_drops_highly_compressible_text() -> None:
    varied = " ".join(f"buy it now number {n % 3} buy it now" for n in range(12))
    no_loops = HallucinationGuard(loop_min_repeats=1000)
    assert drop_hallucinations([_seg(varied)], no_loops) == ()
    assert drop_hallucinations(
        [_seg(varied)], HallucinationGuard(compression_ratio_threshold=100.0, loop_min_repeats=1000)
    )


# --- word clean-up helpers, no model -----------------------------------------------------------------------------


def test_chinese_words_join_without_spaces_and_times_are_made_monotonic() -> None:
    from clipper.transcribe import _clean_words

    texts = [" 这个", "价格", " iPhone", " Pro", "很", "好", " OK,", " go"]
    words = list(_words(texts))
    words[3] = Word(words[2].start + 0.1, words[3].end, words[3].text)  # starts inside the previous word
    words[-1] = Word(words[-1].start, 99.0, words[-1].text)  # runs past the end of the audio
    cleaned = _clean_words([_seg("".join(texts), words=tuple(words))], duration=2.3, cjk=True)
    assert "".join(w.text for w in cleaned) == "这个价格iPhone Pro很好OK, go"
    for a, b in itertools.pairwise(cleaned):
        assert a.start <= a.end <= b.start
    assert cleaned[-1].end == 2.3


def test_word_starts_snap_past_silence_but_not_into_quiet_speech() -> None:
    import numpy as np

    from clipper.transcribe import SAMPLE_RATE, _snap_starts_to_voice

    rng = np.random.default_rng(0)
    audio = np.zeros(2 * SAMPLE_RATE, dtype=np.float32)
    audio[: int(0.3 * SAMPLE_RATE)] = 0.3 * rng.standard_normal(int(0.3 * SAMPLE_RATE))  # previous word's tail
    audio[int(0.8 * SAMPLE_RATE) :] = 0.3 * rng.standard_normal(int(1.2 * SAMPLE_RATE))  # the word itself
    word = Word(0.1, 1.2, " Link")
    (snapped,) = _snap_starts_to_voice((word,), audio)
    assert snapped.start == pytest.approx(0.75, abs=0.02)
    # Background noise instead of digital silence: nothing is trusted to be a pause, nothing moves.
    noisy = audio + 0.02 * rng.standard_normal(len(audio)).astype(np.float32)
    assert _snap_starts_to_voice((word,), noisy) == (word,)


def test_long_sources_are_transcribed_in_windows_cut_at_pauses(
    sample_stream_en: GeneratedStream, options: TranscribeOptions
) -> None:
    # 20 s windows on a 70 s stream: four windows, each cut in a pause, so no line is lost or split.
    windowed = transcribe(sample_stream_en.video, replace(options, window_seconds=20.0))
    assert windowed.language == "en"
    _check_against_truth(windowed, sample_stream_en)


def test_window_cut_lands_in_the_quietest_half_second() -> None:
    import numpy as np

    from clipper.transcribe import SAMPLE_RATE, _quietest_cut

    rng = np.random.default_rng(0)
    audio = (0.3 * rng.standard_normal(SAMPLE_RATE * 10)).astype(np.float32)
    audio[int(6.0 * SAMPLE_RATE) : int(6.8 * SAMPLE_RATE)] = 0.0
    cut = _quietest_cut(audio, 4 * SAMPLE_RATE, 9 * SAMPLE_RATE) / SAMPLE_RATE
    assert 6.0 <= cut <= 6.8


def test_check_language_flags_english_speech_forced_to_zh(
    sample_stream_en: GeneratedStream, options: TranscribeOptions
) -> None:
    from clipper.transcribe import check_language

    wrong = check_language(sample_stream_en.video, replace(options, language="zh"))
    assert wrong is not None and wrong.heard == "en" and wrong.probability > 0.8 and wrong.mismatch, wrong
    assert "forced" in wrong.warning() and "en" in wrong.warning()
    right = check_language(sample_stream_en.video, replace(options, language="en"))
    assert right is not None and not right.mismatch
    assert check_language(sample_stream_en.video, options) is None  # detection runs anyway: nothing to check
