"""The TTS interface: one backend turns one sentence into mono samples.

Backends are small: :class:`TTSBackend` has one method that matters, :meth:`TTSBackend.speak`. Everything about
timing (trimming, levels, pauses, caption word times) happens once, above the backends, in
:mod:`remix.voiceover`, so every backend's audio is laid out and captioned the same way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

__all__ = ["Speech", "TTSBackend", "language_of"]


@dataclass(frozen=True, slots=True, eq=False)
class Speech:
    """One synthesized sentence: float32 mono samples in [-1, 1] at ``sample_rate``."""

    samples: np.ndarray
    sample_rate: int

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate if self.sample_rate else 0.0


def language_of(code: str) -> str:
    """``en_US``, ``en-us``, ``zh-CN``, ``cmn`` -> ``en``/``zh``/...: the two-letter family mcn keys voices by."""
    family = code.strip().lower().replace("_", "-").split("-")[0]
    return {"cmn": "zh", "yue": "zh", "eng": "en"}.get(family, family)


class TTSBackend(ABC):
    """A text-to-speech engine behind one small interface.

    ``name`` is the registry key (``MCN_TTS_BACKEND``). :meth:`supports` says whether the backend has a usable
    voice for a language (``en``, ``zh``); :meth:`speak` synthesizes one sentence and raises
    :class:`~remix.errors.TTSError` (one line, never holding a secret) when it cannot.
    """

    name: ClassVar[str] = ""

    @property
    @abstractmethod
    def voice(self) -> str:
        """A label for the voice in use (written to manifests): backend, model and voice names."""

    @abstractmethod
    def supports(self, language: str) -> bool:
        """Whether a usable voice exists for ``language`` (two-letter code)."""

    @abstractmethod
    def speak(self, text: str, language: str) -> Speech:
        """Synthesize one sentence of ``text``; raise :class:`~remix.errors.TTSError` on failure."""

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release what the backend holds (HTTP connections, models)."""

    def __enter__(self) -> TTSBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
