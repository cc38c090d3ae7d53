"""The one error type of the sandbox: a stable code, a one-line message and the HTTP status to answer with.

API routes answer ``{"error": code, "message": message, ...extra}``; creator pages show the message in place.
"""

from __future__ import annotations

from typing import Any


class SandboxError(Exception):
    """An expected refusal (bad input, a platform rule, a missing session). ``str()`` is the one-line message."""

    def __init__(self, code: str, message: str, status: int = 400, **extra: Any) -> None:
        self.code = code
        self.message = " ".join(message.split())
        self.status = status
        self.extra = extra
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        """The JSON body of the API answer."""
        return {"error": self.code, "message": self.message, **self.extra}
