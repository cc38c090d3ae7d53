"""Expected failures of the clip factory.

Every error a user can cause (bad file, bad URL, bad CSV) is a :class:`ClipperError`. Its ``str()`` is one line
that names the input and the problem, so the CLI can print it without a traceback and the database can store it
as the run's failure reason.
"""

from __future__ import annotations


class ClipperError(Exception):
    """An expected, user-facing failure. ``str(err)`` is a single line."""

    def __init__(self, subject: str, problem: str) -> None:
        self.subject = subject
        self.problem = " ".join(problem.split())
        super().__init__(f"{subject}: {self.problem}")


class MediaError(ClipperError):
    """The source media cannot be used (empty, truncated, not media, no audio, ...)."""


class DownloadError(ClipperError):
    """A source URL could not be fetched (HTTP error, too large, timeout)."""


class InputFileError(ClipperError):
    """A products file or transcript file is malformed."""


class NoSpeechError(ClipperError):
    """The source has no usable speech to cut clips from."""


class RenderError(ClipperError):
    """ffmpeg failed to render a clip or the output did not probe as expected."""


class DetectorError(ClipperError):
    """A selling-point backend is misconfigured or unreachable."""
