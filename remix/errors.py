"""Expected failures of the remix factory, as one-line :class:`~clipper.errors.ClipperError` subclasses.

The CLI prints ``str(err)`` without a traceback and the flow stores it as the product's failure reason.
"""

from __future__ import annotations

from clipper.errors import ClipperError

__all__ = ["MaterialError", "ScriptError", "TTSError"]


class TTSError(ClipperError):
    """A TTS backend cannot start or cannot speak a sentence (missing extra, bad endpoint, no voice)."""


class ScriptError(ClipperError):
    """No usable selling script could be written for a product (no title, nothing to say)."""


class MaterialError(ClipperError):
    """A product's images or videos cannot be used (missing, not decodable, none at all)."""
