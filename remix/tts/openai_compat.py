"""Backend ``openai``: any OpenAI-compatible ``/audio/speech`` endpoint (OpenAI, Azure OpenAI, CosyVoice or
another server with that route), over plain httpx.

``base_url`` is what the OpenAI SDK takes (usually ending in ``/v1``); requests go to ``{base_url}/audio/speech``
with ``{"model", "voice", "input", "response_format": "wav"}``. A WAV answer is read directly; anything else
(mp3, opus, a server that ignores ``response_format``) is decoded with ffmpeg. Settings come from ``MCN_TTS_*``
(``MCN_TTS_BASE_URL``, ``MCN_TTS_API_KEY``, ``MCN_TTS_MODEL``, ``MCN_TTS_VOICE``, ``MCN_TTS_LANGUAGES``).

A failed call (timeout, HTTP 5xx, an unreadable body) is retried once; a bad key (401/403) or a wrong URL/model
(404) is not. The key is a :class:`~pydantic.SecretStr`, sent only in the ``Authorization`` header and never
part of a message, a log line or ``repr``.
"""

from __future__ import annotations

import io
import json
import logging
import subprocess
import wave
from dataclasses import dataclass, fields
from typing import Any

import httpx
import numpy as np
from pydantic import SecretStr

from clipper.ffmpeg import locate_ffmpeg
from remix.errors import TTSError
from remix.tts.base import Speech, TTSBackend, language_of

__all__ = ["OpenAITTS", "OpenAITTSOptions"]

log = logging.getLogger(__name__)

# Sample rate asked of ffmpeg when the answer is not WAV (OpenAI's own rate for speech).
_DECODE_RATE = 24000


@dataclass(frozen=True, slots=True)
class OpenAITTSOptions:
    """Settings of the ``openai`` TTS backend; unset ones come from ``MCN_TTS_*``.

    ``languages`` limits the languages the endpoint is used for (empty: every language; a CosyVoice server
    speaks zh and en). ``speed`` is passed through when set.
    """

    base_url: str
    model: str = "tts-1"
    voice: str = "alloy"
    api_key: SecretStr | None = None
    timeout: float = 60.0
    languages: tuple[str, ...] = ()
    speed: float | None = None


def _from_settings() -> dict[str, Any]:
    from mcn.settings import get_settings

    s = get_settings()
    languages = tuple(language_of(x) for x in (s.tts_languages or "").split(",") if x.strip())
    return {
        "base_url": s.tts_base_url,
        "model": s.tts_model,
        "voice": s.tts_voice,
        "api_key": s.tts_api_key,
        "timeout": s.tts_timeout_seconds,
        "languages": languages,
    }


class OpenAITTS(TTSBackend):
    """Speech from an OpenAI-compatible ``/audio/speech`` endpoint; see the module docstring."""

    name = "openai"

    def __init__(self, options: OpenAITTSOptions | None = None, **overrides: Any) -> None:
        allowed = {f.name for f in fields(OpenAITTSOptions)}
        unknown = sorted(set(overrides) - allowed)
        if unknown:
            raise TypeError(f"unknown openai TTS option(s): {', '.join(unknown)}")
        key = overrides.get("api_key")
        if key is not None and not isinstance(key, SecretStr):
            overrides["api_key"] = SecretStr(str(key))
        if isinstance(overrides.get("languages"), str):
            overrides["languages"] = tuple(x.strip() for x in overrides["languages"].split(",") if x.strip())
        if options is None:
            values: dict[str, Any] = {k: v for k, v in _from_settings().items() if v is not None}
            values.update({k: v for k, v in overrides.items() if v is not None})
            if not values.get("base_url"):
                raise TTSError("openai TTS", "no base URL: set MCN_TTS_BASE_URL or pass base_url")
            options = OpenAITTSOptions(**values)
        base = options.base_url.strip().rstrip("/")
        if not base.startswith(("http://", "https://")):
            raise TTSError("openai TTS", f"base URL must start with http:// or https:// (got {base[:60]!r})")
        if not options.model.strip() or not options.voice.strip():
            raise TTSError("openai TTS", "model and voice must not be empty")
        self.options = options
        self.url = f"{base}/audio/speech"
        self._languages = frozenset(language_of(x) for x in options.languages)
        self._client: httpx.Client | None = None
        self._dead: str | None = None

    def __repr__(self) -> str:
        return f"OpenAITTS(url={self.url!r}, model={self.options.model!r}, voice={self.options.voice!r})"

    @property
    def voice(self) -> str:
        return f"openai {self.options.model}/{self.options.voice}"

    def supports(self, language: str) -> bool:
        return not self._languages or language_of(language) in self._languages

    def _secret(self) -> str:
        return self.options.api_key.get_secret_value() if self.options.api_key is not None else ""

    def _redact(self, text: str) -> str:
        secret = self._secret()
        return " ".join((text.replace(secret, "***") if secret else text).split())

    def _http(self) -> httpx.Client:
        if self._client is None:
            headers = {"Content-Type": "application/json"}
            if self._secret():
                headers["Authorization"] = f"Bearer {self._secret()}"
            self._client = httpx.Client(timeout=self.options.timeout, headers=headers)
        return self._client

    def speak(self, text: str, language: str) -> Speech:
        if self._dead is not None:
            raise TTSError("openai TTS", self._dead)
        body: dict[str, Any] = {
            "model": self.options.model,
            "voice": self.options.voice,
            "input": text,
            "response_format": "wav",
        }
        if self.options.speed is not None:
            body["speed"] = self.options.speed
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        problem = ""
        for attempt in (1, 2):
            try:
                response = self._http().post(self.url, content=payload)
            except httpx.TimeoutException:
                problem = f"timeout after {self.options.timeout:g} s calling {self.url}"
                continue
            except httpx.HTTPError as exc:
                problem = self._redact(f"{type(exc).__name__} calling {self.url}: {exc}")
                continue
            if response.status_code in (401, 403):
                self._dead = f"HTTP {response.status_code} from {self.url}: check the API key"
                raise TTSError("openai TTS", self._dead)
            if response.status_code == 404:
                self._dead = f"HTTP 404 from {self.url}: wrong base URL or unknown model"
                raise TTSError("openai TTS", self._dead)
            if response.status_code >= 400:
                problem = f"HTTP {response.status_code} from {self.url}"
                continue
            try:
                return _decode(response.content)
            except ValueError as exc:
                problem = f"unreadable audio from {self.url} ({exc})"
            log.info("openai TTS: attempt %d failed: %s", attempt, problem)
        raise TTSError("openai TTS", self._redact(problem))

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _decode(data: bytes) -> Speech:
    """Audio bytes to mono float samples: WAV (PCM 16/32-bit) directly, any other container through ffmpeg."""
    if not data:
        raise ValueError("empty body")
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        try:
            with wave.open(io.BytesIO(data), "rb") as wav:
                channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
                frames = wav.readframes(wav.getnframes())
        except (wave.Error, EOFError):
            pass  # e.g. IEEE-float WAV, which the wave module refuses: ffmpeg reads it
        else:
            if width in (2, 4) and rate > 0 and frames:
                dtype = np.int16 if width == 2 else np.int32
                usable = len(frames) // (width * channels) * width * channels
                pcm = np.frombuffer(frames[:usable], dtype=dtype).astype(np.float32) / float(2 ** (8 * width - 1))
                mono = pcm.reshape(-1, channels).mean(axis=1) if channels > 1 else pcm
                return Speech(samples=mono.astype(np.float32), sample_rate=rate)
    argv = [locate_ffmpeg(), "-hide_banner", "-loglevel", "error", "-i", "pipe:0", "-ac", "1", "-ar"]
    argv += [str(_DECODE_RATE), "-f", "s16le", "pipe:1"]
    proc = subprocess.run(argv, input=data, capture_output=True, timeout=120)
    if proc.returncode != 0 or not proc.stdout:
        raise ValueError("not audio ffmpeg can decode")
    pcm16 = np.frombuffer(proc.stdout[: len(proc.stdout) // 2 * 2], dtype=np.int16)
    return Speech(samples=pcm16.astype(np.float32) / 32768.0, sample_rate=_DECODE_RATE)
