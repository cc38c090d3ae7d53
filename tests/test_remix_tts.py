"""TTS backends for remix voice-overs: Piper for real, the OpenAI-compatible one against a local HTTP server."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import threading
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from clipper.ffmpeg import locate_ffmpeg
from remix.errors import TTSError
from remix.tts import CachedTTS, OpenAITTS, available_tts, get_tts
from remix.voiceover import VoiceOverOptions, make_voiceover, speech_onsets

SECRET = "sk-test-remix-0123456789"
EN_LINES = [
    "This travel mug keeps drinks hot for twelve hours.",
    "The lid locks, so it never leaks in a bag.",
    "Tap the product card to see the details.",
]


def _read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as wav:
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16).astype(np.float32) / 32768
        return data, wav.getframerate()


@pytest.fixture(scope="module")
def piper() -> Any:
    return get_tts("piper")


def test_registry_lists_backends_and_rejects_unknown_names() -> None:
    assert {"piper", "openai"} <= set(available_tts())
    with pytest.raises(TTSError, match="unknown; available: openai, piper"):
        get_tts("espeak")


def test_piper_speaks_english_for_real(piper: Any) -> None:
    assert piper.supports("en") and piper.supports("en_US") and not piper.supports("zh")
    speech = piper.speak(EN_LINES[0], "en")
    assert speech.sample_rate == 22050
    # Ten words of speech: a few seconds, clearly audible (not a silent or clipped buffer).
    assert 1.5 < speech.duration < 6.0
    rms = float(np.sqrt(np.mean(speech.samples**2)))
    assert 0.01 < rms < 0.5 and float(np.max(np.abs(speech.samples))) <= 1.0
    with pytest.raises(TTSError, match="speaks en, not zh"):
        piper.speak("你好", "zh")


def test_cached_tts_speaks_each_sentence_once_and_one_at_a_time(piper: Any) -> None:
    cached = CachedTTS(piper, capacity=2)
    first = cached.speak(EN_LINES[0], "en")
    assert cached.speak("  " + EN_LINES[0].replace(" ", "  "), "en") is first  # same words: remembered
    assert (cached.hits, cached.misses) == (1, 1) and cached.voice == piper.voice and cached.supports("en")
    # Renders run in threads: concurrent calls are serialised (Piper's phonemizer is not thread-safe).
    spoken: list[float] = []
    threads = [threading.Thread(target=lambda t=t: spoken.append(cached.speak(t, "en").duration)) for t in EN_LINES]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(spoken) == len(EN_LINES) and all(d > 0.5 for d in spoken)
    assert len(cached._memory) == 2  # bounded: the oldest sentences are forgotten
    with pytest.raises(TTSError):  # a failure is passed on, not remembered
        cached.speak("你好", "zh")


def test_piper_voiceover_sentence_times_match_the_audio(piper: Any, tmp_path: Path) -> None:
    vo = make_voiceover(EN_LINES, "en", tmp_path / "vo.wav", piper)
    assert vo.voiced and vo.note == "" and vo.voice.startswith("piper")
    samples, rate = _read_wav(vo.path or "")
    assert abs(len(samples) / rate - vo.duration) < 0.01
    assert 15.0 <= vo.duration <= 40.0
    onsets = speech_onsets(samples, rate, threshold_db=-45, min_silence=0.4)
    assert len(onsets) == len(EN_LINES)
    for line, onset in zip(vo.lines, onsets, strict=True):
        assert abs(line.start - onset) < 0.1, (line.start, onset)
        # Words tile the sentence in order.
        assert line.words[0].start == line.start and line.words[-1].end == pytest.approx(line.end, abs=0.002)
        assert all(a.end <= b.start + 1e-6 for a, b in zip(line.words, line.words[1:], strict=False))
    assert [w.text for w in vo.lines[0].words][:3] == ["This", "travel", "mug"]


def test_language_without_a_voice_falls_back_to_captions_once(
    piper: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    vo = make_voiceover(
        ["这款保温杯保温十二小时。", "杯盖锁紧，放包里也不漏。", "点击下方卡片查看详情。"],
        "zh",
        tmp_path / "x.wav",
        piper,
    )
    assert not vo.voiced and not (tmp_path / "x.wav").exists()
    assert "has no zh voice" in vo.note
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and not [r for r in caplog.records if r.levelno >= logging.ERROR]
    # Captions still have times: one CJK character per word, lines in order, at least the minimum length.
    assert vo.duration >= 15.0 and len(vo.lines) == 3
    assert [w.text for w in vo.lines[0].words][:3] == ["这", "款", "保"]
    assert vo.lines[0].end < vo.lines[1].start < vo.lines[2].start


def test_long_scripts_drop_middle_lines_to_stay_under_the_maximum(tmp_path: Path) -> None:
    lines = [f"Line number {i} talks about one more feature of this product at length." for i in range(6)]
    vo = make_voiceover(lines, "en", None, None, VoiceOverOptions(max_seconds=16.0, min_seconds=8.0))
    assert vo.duration <= 16.0 and vo.dropped > 0
    assert vo.lines[0].index == 0 and vo.lines[-1].index == 5


# ------------------------------------------------------------------------------------------- openai over HTTP
def _tone_wav(seconds: float, rate: int = 16000, lead: float = 0.15) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    tone = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    samples = np.concatenate([np.zeros(int(lead * rate)), tone, np.zeros(int(lead * rate))])
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes((samples * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


@dataclass
class SpeechServer:
    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # replies to send first (then 200s)
    as_ogg: bool = False


@pytest.fixture
def speech_server() -> Iterator[SpeechServer]:
    state = SpeechServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append(body)
            state.headers.append(dict(self.headers))
            status = state.statuses.pop(0) if state.statuses else 200
            if self.path != "/v1/audio/speech":
                status = 404
            if status != 200:
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b'{"error": {"message": "nope"}}')
                return
            # About 0.12 s per character of input: a longer sentence is a longer answer, as from a real voice.
            audio = _tone_wav(0.12 * len(body["input"].replace(" ", "")) ** 0.8)
            if state.as_ogg:
                audio = subprocess.run(
                    [locate_ffmpeg(), "-loglevel", "error", "-i", "pipe:0", "-c:a", "libopus", "-f", "ogg", "pipe:1"],
                    input=audio,
                    capture_output=True,
                    check=True,
                ).stdout
            self.send_response(200)
            self.send_header("Content-Type", "audio/ogg" if state.as_ogg else "audio/wav")
            self.send_header("Content-Length", str(len(audio)))
            self.end_headers()
            self.wfile.write(audio)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_port}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def test_openai_backend_speaks_chinese_over_http(speech_server: SpeechServer, tmp_path: Path) -> None:
    tts = get_tts("openai", base_url=speech_server.url, api_key=SECRET, model="cosyvoice-300m", voice="中文女")
    lines = ["这款保温杯保温十二小时。", "杯盖锁紧，放包里也不漏。", "点击下方卡片查看详情。"]
    vo = make_voiceover(lines, "zh", tmp_path / "vo.wav", tts)
    tts.close()
    assert vo.voiced and vo.voice == "openai cosyvoice-300m/中文女"
    assert [r["input"] for r in speech_server.requests] == lines
    assert speech_server.requests[0] == {
        "model": "cosyvoice-300m",
        "voice": "中文女",
        "input": lines[0],
        "response_format": "wav",
    }
    assert all(h["Authorization"] == f"Bearer {SECRET}" for h in speech_server.headers)
    samples, rate = _read_wav(vo.path or "")
    onsets = speech_onsets(samples, rate, threshold_db=-45, min_silence=0.4)
    assert len(onsets) == 3
    for line, onset in zip(vo.lines, onsets, strict=True):
        assert abs(line.start - onset) < 0.1
    assert SECRET not in repr(tts)


def test_openai_backend_retries_a_server_error_and_decodes_non_wav(speech_server: SpeechServer) -> None:
    speech_server.statuses = [503]
    speech_server.as_ogg = True
    tts = OpenAITTS(base_url=speech_server.url, model="tts-1", voice="alloy", api_key=None)
    speech = tts.speak("Hello there, this is a test.", "en")
    assert len(speech_server.requests) == 2 and "Authorization" not in speech_server.headers[0]
    assert speech.sample_rate == 24000 and speech.duration > 1.0
    assert float(np.sqrt(np.mean(speech.samples**2))) > 0.05


def test_openai_bad_key_falls_back_without_leaking_it(
    speech_server: SpeechServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    speech_server.statuses = [401] * 5
    tts = OpenAITTS(base_url=speech_server.url, api_key=SECRET)
    vo = make_voiceover(EN_LINES, "en", tmp_path / "vo.wav", tts)
    assert not vo.voiced and "HTTP 401" in vo.note and "check the API key" in vo.note
    # One call, not one per sentence: a bad key stops the backend.
    assert len(speech_server.requests) == 1
    assert SECRET not in vo.note and all(SECRET not in r.getMessage() for r in caplog.records)
    with pytest.raises(TTSError) as err:
        tts.speak("again", "en")
    assert SECRET not in str(err.value)


def test_openai_options_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    from mcn.settings import get_settings

    monkeypatch.delenv("MCN_TTS_BASE_URL", raising=False)
    get_settings.cache_clear()
    with pytest.raises(TTSError, match="no base URL"):
        get_tts("openai")
    with pytest.raises(TTSError, match="must start with http"):
        get_tts("openai", base_url="ftp://x")
    with pytest.raises(TTSError, match="bad options"):
        get_tts("openai", base_url="http://127.0.0.1:1/v1", colour="red")
    monkeypatch.setenv("MCN_TTS_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("MCN_TTS_LANGUAGES", "zh")
    get_settings.cache_clear()
    tts = get_tts("openai")
    assert tts.supports("zh-CN") and not tts.supports("en")
    get_settings.cache_clear()
