"""The TTS interface: one backend turns one sentence into mono samples.

Backends are small: :class:`TTSBackend` has one method that matters, :meth:`TTSBackend.speak`. Everything about
timing (trimming, levels, pauses, caption word times) happens once, above the backends, in
:mod:`remix.voiceover`, so every backend's audio is laid out and captioned the same way.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

__all__ = ["CachedTTS", "Speech", "TTSBackend", "language_of"]


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


class CachedTTS(TTSBackend):
    """Another backend with a memory of the sentences it has spoken, and one sentence synthesized at a time.

    Remixes of one product repeat most of their sentences (the same facts, proof lines and calls to action in
    other orders), so a batch speaks each distinct sentence once. ``speak`` is serialised by a lock: some
    engines (Piper's espeak-ng phonemizer) are not safe to call from two threads, and renders run in parallel.
    The newest ``capacity`` sentences are kept; ``hits``/``misses`` count what the memory saved.
    """

    def __init__(self, backend: TTSBackend, capacity: int = 1024) -> None:
        self.backend = backend
        self.name = backend.name  # type: ignore[misc]
        self.capacity = capacity
        self.hits = 0
        self.misses = 0
        self._memory: OrderedDict[tuple[str, str], Speech] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def voice(self) -> str:
        return self.backend.voice

    def supports(self, language: str) -> bool:
        return self.backend.supports(language)

    def speak(self, text: str, language: str) -> Speech:
        key = (" ".join(text.split()), language)
        with self._lock:
            found = self._memory.get(key)
            if found is not None:
                self._memory.move_to_end(key)
                self.hits += 1
                return found
            speech = self.backend.speak(text, language)  # a failure is not remembered: the next call retries
            self.misses += 1
            self._memory[key] = speech
            if len(self._memory) > self.capacity:
                self._memory.popitem(last=False)
            return speech

    def close(self) -> None:
        with self._lock:
            self._memory.clear()
        self.backend.close()
