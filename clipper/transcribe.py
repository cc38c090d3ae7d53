"""Speech to timed words with faster-whisper, and a guard against Whisper's hallucinations.

Speed: on a small CPU box the batched pipeline (VAD chunks decoded ``batch_size`` at a time, int8) is about twice
as fast as the sequential one, with word timestamps and language detection intact. What batching gives up in
faster-whisper 1.2.1 is the temperature fallback, ``condition_on_previous_text`` and the
``no_speech``/``log_prob``/``compression_ratio`` checks; :func:`drop_hallucinations` re-applies those checks after
decoding, for both pipelines, and adds the ones Whisper lacks: repeated-phrase loops ("I don't know. I don't
know. ..."), runs of identical segments, and the subtitle credit lines Whisper learned from its training data.

Models are loaded once per (model, device, compute type, threads) and kept for the life of the process, so a batch
of sources pays the load time once.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import threading
import zlib
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clipper.errors import ClipperError, MediaError, NoSpeechError
from clipper.sentences import join_words, split_sentences, words_from_text
from clipper.term_correction import CorrectionOptions, correct_words
from clipper.types import Transcript, Word
from clipper.zh_text import normalize_words

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

__all__ = [
    "AsrSegment",
    "HallucinationGuard",
    "LanguageCheck",
    "ModelLoadError",
    "TranscribeOptions",
    "check_language",
    "clear_model_cache",
    "drop_hallucinations",
    "load_model",
    "transcribe",
]

SAMPLE_RATE = 16_000
# Language detection looks at up to this many 30 s windows of speech, stopping at the first confident one: a
# stream that opens with music still gets detected from the host's voice.
_DETECTION_WINDOWS = 3
_FRAME = 160  # 10 ms at 16 kHz, the resolution of the silence check
_CJK_CHAR = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_UNIT = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[^\W_]+")
# The default prompt for Mandarin. Whisper continues the script and punctuation of its prompt: without one, base
# punctuated 76% of the sentences of the dev streams and wrote traditional characters in some; with a short
# simplified greeting that uses ，and 。 it punctuated 98% at the same CER (18.2% vs 18.3%). The well-known
# "以下是普通话的句子。" did as well on punctuation but 0.6 points worse on CER; a longer sales pitch full of ！？ put
# ？ after every clause and made base invent "中文字幕" (bench/bench_asr_zh.py, corpus dev split).
ZH_INITIAL_PROMPT = "大家好，欢迎来到直播间。"
_LOG = logging.getLogger(__name__)


class ModelLoadError(ClipperError):
    """The faster-whisper model could not be found, downloaded or loaded."""


@dataclass(frozen=True, slots=True)
class HallucinationGuard:
    """Thresholds for :func:`drop_hallucinations`.

    Attributes:
        no_speech_threshold: with ``log_prob_threshold``, Whisper's own silence rule: a segment whose
            no-speech probability is above this *and* whose average log-probability is below
            ``log_prob_threshold`` is dropped.
        log_prob_threshold: see ``no_speech_threshold``.
        compression_ratio_threshold: a segment whose text gzip-compresses better than this (after loops are
            cut out) is repetitive gibberish and is dropped.
        loop_min_repeats: a phrase repeated back to back at least this many times is a decoding loop...
        loop_min_units: ...provided the repetition spans at least this many units (words, or characters for
            Chinese); so "no no no no" and "对对对对" stay, "I don't know." x4 goes.
        loop_max_period: the longest phrase, in units, that is checked for looping.
        max_identical_segments: consecutive segments with the same text beyond this count are a loop; the run
            is cut to its first segment.
        blocklist: phrases Whisper invents over silence and music (subtitle credits from its training data);
            they are removed wherever they appear.
    """

    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0
    compression_ratio_threshold: float = 2.4
    loop_min_repeats: int = 4
    loop_min_units: int = 12
    loop_max_period: int = 15
    max_identical_segments: int = 2
    blocklist: tuple[str, ...] = (
        "字幕由Amara.org社区提供",
        "字幕由 Amara.org 社群提供",
        "请不吝点赞 订阅 转发 打赏支持明镜与点点栏目",
        "优优独播剧场——YoYo Television Series Exclusive",
        "Subtitles by the Amara.org community",
    )


@dataclass(frozen=True, slots=True)
class TranscribeOptions:
    """How :func:`transcribe` runs faster-whisper.

    Attributes:
        model: a faster-whisper size name (``base``, ``small``, ...) or a CTranslate2 model directory;
            resolve names to the offline model with ``mcn.whisper_model.resolve_model`` first.
        device: ``cpu``, ``cuda`` or ``auto``.
        compute_type: CTranslate2 quantisation; ``int8`` is the fast choice on CPU.
        cpu_threads: CPU threads for the model; 0 uses every core this process may run on.
        batch_size: VAD chunks decoded together by ``BatchedInferencePipeline``; 0 runs the sequential
            pipeline. Batching needs ``vad_filter``; without it the sequential pipeline is used.
        language: ``zh``, ``en`` (or another Whisper code) to skip detection; ``None`` detects it.
        languages: when detecting, the languages the result must be one of (the most probable of these wins
            if Whisper's first choice is another, e.g. ``yue`` or ``ja`` for Mandarin); empty allows any.
        vad_filter: skip non-speech with Silero VAD; also what makes batching possible.
        beam_size: beam search width. In the batched pipeline beam 5 costs only ~10% over greedy and is more
            accurate on product names and numbers; use 1 with ``batch_size=0`` when speed matters most.
        hotwords: product names and other terms to bias recognition towards, sent with every window. In a
            Mandarin transcript they are also corrected by sound (see ``correction_terms``).
        initial_prompt: text that primes the first window (style, spelling); ``hotwords`` is better for names.
        initial_prompt_zh: the prompt used instead when the language is Mandarin (given or detected) and
            ``initial_prompt`` is empty: simplified characters with Chinese punctuation, so Whisper writes the
            same. ``None`` sends no prompt for Mandarin.
        model_zh: the model that decodes Mandarin (a size name resolved like ``model``, or a directory); with
            detection, the language is detected with ``model`` and Mandarin then decoded with this one. ``None``
            uses ``model`` for every language.
        correction_terms: more product terms (aliases, attributes: ``clipper.term_correction.product_terms``)
            that a Mandarin transcript is corrected towards without biasing the decoder: a window of characters
            whose fuzzy pinyin is close to a term's (常容连 for 长绒棉) is replaced by the term
            (:mod:`clipper.term_correction`). ``hotwords`` are corrected towards as well.
        correction: how close "close" is; ``None`` turns the correction off.
        temperatures: sequential pipeline only: the temperature fallback sequence Whisper retries a window with
            when its output fails the log-probability or compression checks; ``(0.0,)`` turns the fallback off.
        condition_on_previous_text: sequential pipeline only: feed each window's text into the next. Off by
            default: it improves consistency but is the main cause of runaway repetition loops.
        guard: hallucination thresholds, see :class:`HallucinationGuard`.
        window_seconds: long recordings are decoded and transcribed in windows of about this length, each
            cut at the quietest half second of its last 30 s, so memory stays flat (a 6-hour stream would need
            several GB as one float32 array plus faster-whisper's copies). Shorter sources are one window.
        recover_min_gap: after the first pass, every stretch without recognised words at least this long (the
            start and the end of the recording included) is checked with Silero VAD, and voice found there is
            decoded again on its own. Whisper sometimes ends a 30 s window early (an end-of-text token, or a
            no-speech verdict that tips the other way on another CPU's int8 kernels) and the rest of that window
            is never decoded: the last sentence of a recording was lost that way. 0 turns the check off.
        recover_min_speech: seconds of VAD speech a gap needs before it is decoded again (breaths and clicks are
            shorter).
    """

    model: str = "base"
    device: str = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = 0
    batch_size: int = 8
    language: str | None = None
    languages: tuple[str, ...] = ("zh", "en")
    vad_filter: bool = True
    beam_size: int = 5
    hotwords: tuple[str, ...] = ()
    initial_prompt: str | None = None
    initial_prompt_zh: str | None = ZH_INITIAL_PROMPT
    model_zh: str | None = None
    correction_terms: tuple[str, ...] = ()
    correction: CorrectionOptions | None = field(default_factory=CorrectionOptions)
    temperatures: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    condition_on_previous_text: bool = False
    guard: HallucinationGuard = field(default_factory=HallucinationGuard)
    window_seconds: float = 1200.0
    recover_min_gap: float = 1.5
    recover_min_speech: float = 0.6


@dataclass(frozen=True, slots=True)
class AsrSegment:
    """One decoded segment, as much of faster-whisper's ``Segment`` as the hallucination guard needs.

    ``words`` may be empty (for tests, or a model run without word timestamps); the guard then works on the
    text alone.
    """

    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0


_MODELS: dict[tuple[str, str, str, int], WhisperModel] = {}
_MODELS_LOCK = threading.Lock()


def _resolve_threads(cpu_threads: int) -> int:
    if cpu_threads > 0:
        return cpu_threads
    # CTranslate2's own default is 4 threads whatever the machine; on a 2-core box that oversubscribes.
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def load_model(options: TranscribeOptions) -> WhisperModel:
    """Return the ``WhisperModel`` for ``options``, loading it on first use and reusing it afterwards.

    Raises:
        ModelLoadError: the model name cannot be downloaded or the directory does not hold a usable model.
    """
    threads = _resolve_threads(options.cpu_threads)
    key = (options.model, options.device, options.compute_type, threads)
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is None:
            from faster_whisper import WhisperModel

            try:
                model = WhisperModel(
                    options.model, device=options.device, compute_type=options.compute_type, cpu_threads=threads
                )
            except Exception as exc:  # Hub, CTranslate2 and tokenizer errors share no base class
                hint = "" if Path(options.model).is_dir() else " (run `mcn models install` for the offline base model)"
                raise ModelLoadError(options.model, f"cannot load whisper model: {exc}{hint}") from exc
            _MODELS[key] = model
        return model


def clear_model_cache() -> None:
    """Forget every loaded model (frees memory; the next :func:`transcribe` loads again)."""
    with _MODELS_LOCK:
        _MODELS.clear()


def transcribe(
    path: str | os.PathLike[str],
    options: TranscribeOptions | None = None,
    *,
    on_progress: Callable[[float], None] | None = None,
) -> Transcript:
    """Recognise the speech in a media file as timed words and sentences.

    Args:
        path: any file PyAV can decode with an audio stream (video files included).
        options: model and decoding settings; default :class:`TranscribeOptions`.
        on_progress: receives the fraction of the recording transcribed so far (0..1), after every segment.

    Returns:
        A transcript with ``origin="asr"``: words in time order with non-overlapping times inside the
        recording, and sentences from :func:`clipper.sentences.split_sentences`.

    Raises:
        MediaError: the file cannot be decoded or has no audio stream.
        NoSpeechError: nothing but silence, music or hallucinations was found.
        ModelLoadError: the model cannot be loaded.
    """
    opts = options or TranscribeOptions()
    subject = str(path)
    total = _declared_duration(subject)
    model: WhisperModel | None = None
    language = opts.language
    words: list[Word] = []
    decoded = dropped = recovered = 0
    voiced = duration = 0.0
    for offset, audio in _audio_windows(subject, opts.window_seconds):
        duration = offset + len(audio) / SAMPLE_RATE
        if language is None:
            # Detect before decoding: the language picks the prompt and possibly the model (see model_zh).
            language = _detect_language(load_model(opts), audio, opts)
        model = load_model(replace(opts, model=opts.model_zh) if language.startswith("zh") and opts.model_zh else opts)
        segments, info = _run(model, audio, opts, language)
        records: list[AsrSegment] = []
        for segment in segments:
            records.append(_to_record(segment))
            if on_progress is not None and total > 0:
                on_progress(min((offset + float(segment.end)) / total, 1.0))
        kept = drop_hallucinations(records, opts.guard)
        decoded, dropped, voiced = (
            decoded + len(records),
            dropped + len(records) - len(kept),
            voiced + float(info.duration_after_vad),
        )
        window_words = _clean_words(kept, len(audio) / SAMPLE_RATE, cjk=language.startswith("zh"))
        if opts.recover_min_gap > 0:
            window_words, stretches = _recover_missed_speech(model, audio, window_words, opts, language)
            recovered += stretches
        words.extend(_shifted(w, offset) for w in _snap_starts_to_voice(window_words, audio))
    if duration <= 0 or language is None:
        raise NoSpeechError(subject, "the audio stream is empty")
    if not words:
        raise NoSpeechError(
            subject,
            f"no speech found (voice activity in {voiced:.1f} s of {duration:.1f} s, "
            f"{decoded} segments decoded, {dropped} dropped as hallucinations)",
        )
    terms = (*opts.hotwords, *opts.correction_terms)
    if language.startswith("zh") and terms and opts.correction is not None:
        # After all windows: the words are final and in order, so a term split over two tokens is still found.
        words = list(correct_words(words, terms, opts.correction))
    if recovered:
        _LOG.info(
            "%s: decoded %d stretch(es) of voice again that the first pass had left without words", subject, recovered
        )
    if on_progress is not None:
        on_progress(1.0)
    return Transcript(
        language=language,
        duration=round(duration, 3),
        words=tuple(words),
        sentences=split_sentences(words, language),
        origin="asr",
    )


# Whisper codes that are the same language for a forced ``zh``: Mandarin is often heard as Cantonese.
_SAME_LANGUAGE = {"zh": frozenset({"zh", "yue"})}


@dataclass(frozen=True, slots=True)
class LanguageCheck:
    """What Whisper hears in the opening of a recording whose language was forced.

    Attributes:
        forced: the language the caller forced (``zh``, ``en``, ...).
        heard: Whisper's most probable language over the opening's speech.
        probability: Whisper's probability for ``heard`` (0..1).
        threshold: how sure Whisper must be before a different language counts as a mismatch.
    """

    forced: str
    heard: str
    probability: float
    threshold: float = 0.8

    @property
    def mismatch(self) -> bool:
        """Whisper is surer than ``threshold`` that the speech is another language than the forced one."""
        forced = self.forced.split("-")[0].lower()
        same = _SAME_LANGUAGE.get(forced, frozenset({forced}))
        return self.heard.split("-")[0].lower() not in same and self.probability > self.threshold

    def warning(self) -> str:
        """One line for the run's state message."""
        return (
            f"language {self.forced} was forced but the speech sounds like {self.heard} "
            f"(p={self.probability:.2f} over the first 30 s); the transcript may be wrong"
        )


def check_language(
    path: str | os.PathLike[str], options: TranscribeOptions, *, seconds: float = 30.0, threshold: float = 0.8
) -> LanguageCheck | None:
    """Whisper's own language detection over the first ``seconds`` of ``path``, for a run that forced
    ``options.language`` (a forced language skips detection, so a wrong one would go unnoticed).

    Cheap: one decode of the opening and one detection pass with the model :func:`transcribe` uses (loaded once).

    Returns:
        The check, or ``None`` when no language is forced or the opening holds no speech to judge.

    Raises:
        MediaError: the file cannot be decoded or has no audio stream.
        ModelLoadError: the model cannot be loaded.
    """
    if options.language is None:
        return None
    windows = _audio_windows(str(path), seconds)
    try:
        first = next(windows, None)
    finally:
        windows.close()  # stop decoding: only the opening is needed
    if first is None:
        return None
    audio = first[1][: int(seconds * SAMPLE_RATE)]
    if len(audio) < SAMPLE_RATE:  # under a second of sound: nothing to judge
        return None
    heard, probability, _ = load_model(options).detect_language(audio, vad_filter=options.vad_filter)
    return LanguageCheck(options.language, str(heard), float(probability), threshold)


def _recover_missed_speech(
    model: WhisperModel, audio: Any, words: tuple[Word, ...], opts: TranscribeOptions, language: str
) -> tuple[tuple[Word, ...], int]:
    """Decode again the voiced stretches that the first pass left without words; return all words and the count.

    Only gaps between recognised words (and before the first / after the last) of at least
    ``opts.recover_min_gap`` seconds are looked at, so the VAD pass costs a fraction of a second on normal speech.
    A gap is decoded again, as its own short recording with the language fixed, when Silero VAD finds at least
    ``opts.recover_min_speech`` seconds of speech in it; the new words go through the same hallucination guard
    and are kept strictly inside the gap, so the word order and the no-overlap guarantee hold.
    """
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    duration = len(audio) / SAMPLE_RATE
    edges = [0.0, *(t for w in words for t in (w.start, w.end)), duration]
    gaps = [(lo, hi) for lo, hi in zip(edges[::2], edges[1::2], strict=True) if hi - lo >= opts.recover_min_gap]
    found: list[Word] = []
    stretches = 0
    vad = VadOptions(min_silence_duration_ms=300, speech_pad_ms=200)
    retry = replace(opts, batch_size=0, recover_min_gap=0.0)
    for lo, hi in gaps:
        first, last = int(lo * SAMPLE_RATE), int(hi * SAMPLE_RATE)
        chunks = get_speech_timestamps(audio[first:last], vad)
        speech = sum(c["end"] - c["start"] for c in chunks) / SAMPLE_RATE
        if speech < opts.recover_min_speech:
            continue
        start = first + int(chunks[0]["start"])
        end = first + int(chunks[-1]["end"])
        segments, _ = _run(model, audio[start:end], retry, language)
        kept = drop_hallucinations([_to_record(s) for s in segments], opts.guard)
        offset = start / SAMPLE_RATE
        new = [
            Word(round(w.start + offset, 3), round(w.end + offset, 3), w.text, w.probability)
            for w in _clean_words(kept, (end - start) / SAMPLE_RATE, cjk=language.startswith("zh"))
        ]
        new = [w for w in new if w.start >= lo and w.end <= hi]
        if new:
            stretches += 1
            found.extend(new)
    if not found:
        return words, 0
    return tuple(sorted((*words, *found), key=lambda w: w.start)), stretches


def _shifted(word: Word, offset: float) -> Word:
    if not offset:
        return word
    return Word(round(word.start + offset, 3), round(word.end + offset, 3), word.text, word.probability)


def _declared_duration(subject: str) -> float:
    import av

    try:
        with av.open(subject, metadata_errors="ignore") as container:
            return float(container.duration or 0) / 1_000_000
    except (av.FFmpegError, OSError) as exc:
        raise MediaError(subject, f"cannot decode audio ({exc})") from None


def _audio_windows(
    subject: str, window_seconds: float, search_seconds: float = 30.0
) -> Generator[tuple[float, Any], None, None]:
    """Decode the first audio stream to 16 kHz mono float32 and yield ``(offset_seconds, samples)`` windows.

    Each window ends at the quietest 0.5 s of its last ``search_seconds`` so no word is split between two
    windows; only about one window of audio is in memory at a time.
    """
    import av
    import numpy as np

    window = int(window_seconds * SAMPLE_RATE)
    search = int(min(search_seconds, window_seconds / 2) * SAMPLE_RATE)
    chunks: list[Any] = []
    buffered = 0
    offset = 0
    try:
        with av.open(subject, metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise MediaError(subject, "no audio stream to transcribe")
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
            frames = itertools.chain(container.decode(stream), [None])
            for frame in frames:
                for out in resampler.resample(frame):
                    chunk = out.to_ndarray().reshape(-1)
                    chunks.append(chunk)
                    buffered += len(chunk)
                if buffered >= window + search:
                    audio = np.concatenate(chunks)
                    cut = _quietest_cut(audio, window - search, window)
                    yield offset / SAMPLE_RATE, audio[:cut]
                    offset += cut
                    chunks, buffered = [audio[cut:].copy()], len(audio) - cut
                    del audio
    except av.FFmpegError as exc:
        raise MediaError(subject, f"cannot decode audio ({exc})") from None
    if buffered:
        yield offset / SAMPLE_RATE, np.concatenate(chunks)


def _quietest_cut(audio: Any, lo: int, hi: int) -> int:
    """Sample index in ``[lo, hi)`` at the centre of the quietest 0.5 s (lowest mean energy)."""
    import numpy as np

    span = audio[lo:hi]
    frames = len(span) // _FRAME
    if frames < 60:
        return hi
    energy = np.square(span[: frames * _FRAME].reshape(frames, _FRAME)).mean(axis=1)
    smooth = np.convolve(energy, np.ones(50) / 50, mode="valid")
    return lo + (int(np.argmin(smooth)) + 25) * _FRAME


def _detect_language(model: WhisperModel, audio: Any, opts: TranscribeOptions) -> str:
    """Whisper's language for ``audio``, from up to ``_DETECTION_WINDOWS`` windows of its speech (VAD on).

    When ``opts.languages`` is set and Whisper's first choice is not among them (Mandarin heard as Cantonese or
    Japanese, say), the most probable allowed language is returned instead.
    """
    language, _, probs = model.detect_language(
        audio, vad_filter=opts.vad_filter, language_detection_segments=_DETECTION_WINDOWS
    )
    if opts.languages and language not in opts.languages:
        by_code = dict(probs)
        language = max(opts.languages, key=lambda code: by_code.get(code, 0.0))
    return str(language)


def _run(model: WhisperModel, audio: Any, opts: TranscribeOptions, language: str | None) -> tuple[Iterable[Any], Any]:
    """Start faster-whisper; returns its lazy segment generator and the info (language already detected)."""
    prompt = opts.initial_prompt or (opts.initial_prompt_zh if language and language.startswith("zh") else None)
    kwargs: dict[str, Any] = {
        "language": language,
        "beam_size": opts.beam_size,
        "word_timestamps": True,
        "vad_filter": opts.vad_filter,
        "hotwords": ", ".join(opts.hotwords) or None,
        # The batched pipeline encodes the prompt verbatim while the sequential one adds the leading space
        # Whisper's tokens expect; adding it here makes both see the same tokens.
        "initial_prompt": " " + prompt.strip() if prompt else None,
        "language_detection_segments": _DETECTION_WINDOWS,
    }
    if opts.batch_size > 0 and opts.vad_filter:
        from faster_whisper import BatchedInferencePipeline

        # A fresh pipeline per call: it keeps per-run state (the last speech timestamp) on the instance.
        return BatchedInferencePipeline(model).transcribe(audio, batch_size=opts.batch_size, **kwargs)
    guard = opts.guard
    return model.transcribe(
        audio,
        condition_on_previous_text=opts.condition_on_previous_text,
        temperature=list(opts.temperatures),
        no_speech_threshold=guard.no_speech_threshold,
        log_prob_threshold=guard.log_prob_threshold,
        compression_ratio_threshold=guard.compression_ratio_threshold,
        **kwargs,
    )


def _to_record(segment: Any) -> AsrSegment:
    # faster-whisper hands out numpy floats; plain floats keep the transcript JSON-serialisable and hashable.
    words = tuple(
        Word(start=float(w.start), end=float(w.end), text=str(w.word), probability=float(w.probability))
        for w in (segment.words or ())
    )
    return AsrSegment(
        start=float(segment.start),
        end=float(segment.end),
        text=str(segment.text),
        words=words,
        avg_logprob=float(segment.avg_logprob),
        no_speech_prob=float(segment.no_speech_prob),
    )


def _clean_words(segments: Sequence[AsrSegment], duration: float, *, cjk: bool) -> tuple[Word, ...]:
    """Flatten segment words into a strictly ordered, clamped, rounded sequence.

    Whisper's alignment can start a word slightly before the previous one ends, or past the end of the audio;
    clip boundaries are computed from these times, so they are made monotonic here once.
    """
    out: list[Word] = []
    prev_end = 0.0
    limit = round(duration, 3)
    for segment in segments:
        # Whisper mixes traditional characters and ASCII punctuation into Mandarin; a segment is converted as one
        # text so phrase rules see their context, and each word keeps its length and times.
        for word in normalize_words(segment.words) if cjk else segment.words:
            text = _cjk_word_text(word.text, out[-1].text if out else "") if cjk else word.text
            if not text.strip():
                continue
            start = min(max(round(word.start, 3), prev_end), limit)
            end = min(max(round(word.end, 3), start), limit)
            out.append(Word(start=start, end=end, text=text, probability=round(word.probability, 3)))
            prev_end = end
    return tuple(out)


def _snap_starts_to_voice(words: tuple[Word, ...], audio: Any) -> tuple[Word, ...]:
    """Move word starts that Whisper placed in clear silence forward to where the voice begins.

    Whisper's alignment often lets the first word after a pause start where the previous word ended, so a clip
    cut at that sentence would open on up to a second of silence. Only digital-quiet stretches are trimmed
    (45 dB below the recording's loud speech, at least 0.2 s long): soft onsets like "s" or "h" are far louder
    than that, and noisy recordings simply stay as they are.
    """
    import numpy as np

    frames = len(audio) // _FRAME
    if not words or frames == 0:
        return words
    block = np.asarray(audio[: frames * _FRAME], dtype=np.float32).reshape(frames, _FRAME)
    # einsum sums the squares without materialising a squared copy of an hour of audio.
    rms = np.sqrt(np.einsum("ij,ij->i", block, block) / _FRAME)
    loud = float(np.percentile(rms, 95))
    if loud <= 0.0:
        return words
    voiced = rms >= loud * 10 ** (-45 / 20)
    fps = SAMPLE_RATE / _FRAME
    out: list[Word] = []
    min_gap = round(0.2 * fps)
    for word in words:
        first, last = int(word.start * fps), min(int(word.end * fps), frames)
        hits = np.flatnonzero(voiced[first:last])
        if hits.size:
            # The word's window may open with the tail of the previous word, then silence, then the word itself:
            # start after the last silent stretch that is followed by voice.
            gaps = np.flatnonzero(np.diff(np.concatenate(([-1], hits))) > min_gap)
            if gaps.size:
                start = (first + int(hits[gaps[-1]])) / fps - 0.05
                word = replace(word, start=round(min(max(start, word.start), word.end), 3))
        out.append(word)
    return tuple(out)


def _cjk_word_text(text: str, previous: str) -> str:
    """Chinese words join without spaces; keep one only where Latin text continues ("Apple Watch", "OK, go")."""
    stripped = text.strip()
    if stripped and stripped[0].isascii() and stripped[0].isalnum() and previous.rstrip()[-1:].isascii():
        return " " + stripped
    return stripped


# --- hallucination guard -------------------------------------------------------------------------------------


def drop_hallucinations(
    segments: Sequence[AsrSegment], guard: HallucinationGuard | None = None
) -> tuple[AsrSegment, ...]:
    """Remove what Whisper made up: silent segments, decoding loops, repeated segments, credit lines.

    Pure function: no model needed, so each rule is unit-tested on hand-made segments.

    Args:
        segments: decoded segments in time order.
        guard: thresholds; default :class:`HallucinationGuard`.

    Returns:
        The segments to keep, in order. A segment whose loop or credit line was cut out is returned with those
        words removed and its text rebuilt from the remaining words.
    """
    g = guard or HallucinationGuard()
    blocked = [_norm(phrase) for phrase in g.blocklist]
    kept: list[AsrSegment] = []
    for segment in segments:
        if segment.no_speech_prob > g.no_speech_threshold and segment.avg_logprob < g.log_prob_threshold:
            continue
        cleaned = _cut_loops_and_blocked(segment, g, blocked)
        if cleaned is None or _compression_ratio(cleaned.text) > g.compression_ratio_threshold:
            continue
        kept.append(cleaned)
    return _collapse_identical(kept, g.max_identical_segments)


def _norm(text: str) -> str:
    return "".join(m.group(0).lower() for m in _UNIT.finditer(text))


def _compression_ratio(text: str) -> float:
    """Whisper's repetitiveness measure: raw UTF-8 length over zlib-compressed length."""
    data = text.strip().encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def _cut_loops_and_blocked(segment: AsrSegment, g: HallucinationGuard, blocked: list[str]) -> AsrSegment | None:
    """Return ``segment`` without looped repetitions and blocked phrases, or ``None`` when nothing is left."""
    words = list(segment.words) or list(words_from_text(segment.text, segment.start, segment.end))
    # Units are what loops repeat: words for Latin text, characters for Chinese.
    units: list[str] = []
    owner: list[int] = []
    for i, word in enumerate(words):
        for m in _UNIT.finditer(word.text):
            units.append(m.group(0).lower())
            owner.append(i)
    drop_units: set[int] = set()
    for start, stop in _blocked_spans(units, blocked):
        drop_units.update(range(start, stop))
    remaining = [i for i in range(len(units)) if i not in drop_units]
    while True:
        loop = _find_loop([units[i] for i in remaining], g)
        if loop is None:
            break
        start, period, repeats = loop
        # Keep the first occurrence: the host may well have said it once.
        cut = remaining[start + period : start + period * repeats]
        drop_units.update(cut)
        remaining = [i for i in remaining if i not in drop_units]
    if not drop_units:
        return segment
    # A word goes when every unit in it goes; unit-less words (a lone "...") follow the word before them.
    units_of: list[list[int]] = [[] for _ in words]
    for u, i in enumerate(owner):
        units_of[i].append(u)
    drop_words: set[int] = set()
    for i, mine in enumerate(units_of):
        if (mine and all(u in drop_units for u in mine)) or (not mine and i - 1 in drop_words):
            drop_words.add(i)
    left = [w for i, w in enumerate(words) if i not in drop_words]
    if not left or not _norm(join_words(left)):
        return None
    return replace(
        segment,
        start=left[0].start if segment.words else segment.start,
        end=left[-1].end if segment.words else segment.end,
        text=join_words(left),
        words=tuple(left) if segment.words else (),
    )


def _blocked_spans(units: list[str], blocked: list[str]) -> list[tuple[int, int]]:
    """Unit ranges whose joined text contains a blocked phrase (matching ignores how Whisper split tokens)."""
    if not blocked or not units:
        return []
    joined = "".join(units)
    unit_at: list[int] = []
    for i, unit in enumerate(units):
        unit_at.extend([i] * len(unit))
    spans: list[tuple[int, int]] = []
    for phrase in blocked:
        if not phrase:
            continue
        pos = joined.find(phrase)
        while pos >= 0:
            spans.append((unit_at[pos], unit_at[pos + len(phrase) - 1] + 1))
            pos = joined.find(phrase, pos + len(phrase))
    return spans


def _find_loop(units: list[str], g: HallucinationGuard) -> tuple[int, int, int] | None:
    """The earliest (start, period, repeats) where ``units[start:start+period]`` repeats back to back enough."""
    n = len(units)
    for start in range(n):
        for period in range(1, g.loop_max_period + 1):
            if start + period * g.loop_min_repeats > n:
                break
            phrase = units[start : start + period]
            repeats = 1
            while units[start + repeats * period : start + (repeats + 1) * period] == phrase:
                repeats += 1
            if repeats >= g.loop_min_repeats and repeats * period >= g.loop_min_units:
                return start, period, repeats
    return None


def _collapse_identical(segments: list[AsrSegment], max_identical: int) -> tuple[AsrSegment, ...]:
    """Cut runs of more than ``max_identical`` consecutive same-text segments down to their first one."""
    out: list[AsrSegment] = []
    i = 0
    while i < len(segments):
        key = _norm(segments[i].text)
        j = i + 1
        while j < len(segments) and _norm(segments[j].text) == key:
            j += 1
        out.extend(segments[i:j] if j - i <= max_identical else segments[i : i + 1])
        i = j
    return tuple(out)
