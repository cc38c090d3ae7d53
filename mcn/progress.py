"""A process-wide progress sink, so the CLI can draw rich progress bars for work a Prefect flow runs.

Core steps report through plain callbacks; the flow forwards them here (and to a Prefect progress artifact).
With no sink installed, reports are dropped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

ProgressSink = Callable[[str, float, str], None]
_lock = threading.Lock()
_sink: ProgressSink | None = None


def set_sink(sink: ProgressSink | None) -> None:
    """Install ``sink(step, fraction, detail)``; ``None`` removes it."""
    global _sink
    with _lock:
        _sink = sink


def report(step: str, fraction: float, detail: str = "") -> None:
    sink = _sink
    if sink is not None:
        sink(step, min(max(fraction, 0.0), 1.0), detail)
