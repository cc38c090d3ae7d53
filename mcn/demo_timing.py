"""Wall time of the demo's phases: each printed as it ends, and a table with the total at the end.

The demo should finish in under ten minutes on two cores; these lines show users (and us) where the time goes,
and the load average beside each says how busy the machine was meanwhile.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table


@dataclass(frozen=True)
class PhaseTime:
    """One finished phase: its name, wall seconds and the 1-minute load average when it ended (None: unknown)."""

    name: str
    seconds: float
    load: float | None


def format_seconds(seconds: float) -> str:
    """``42.3 s`` under a minute, ``3 m 05 s`` above."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} m {rest:02d} s"


def load_average() -> float | None:
    """The 1-minute load average, or None where the platform has none."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


class PhaseClock:
    """Times named phases (``with clock.phase("planning"): ...``), prints each as it ends, then a summary."""

    def __init__(
        self,
        console: Console,
        clock: Callable[[], float] = time.perf_counter,
        load: Callable[[], float | None] = load_average,
    ) -> None:
        self._console = console
        self._clock = clock
        self._load = load
        self._start = clock()
        self.phases: list[PhaseTime] = []

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the block as phase ``name``; the line is printed even when the block fails."""
        began = self._clock()
        try:
            yield
        finally:
            done = PhaseTime(name, self._clock() - began, self._load())
            self.phases.append(done)
            load = f", load average {done.load:.1f}" if done.load is not None else ""
            self._console.print(f"phase time: {name}: {format_seconds(done.seconds)}{load}", highlight=False)

    def total_seconds(self) -> float:
        """Wall seconds since the clock was made."""
        return self._clock() - self._start

    def print_summary(self) -> None:
        """A table of every phase with its share of the total; time between phases shows as ``other``."""
        total = self.total_seconds()
        table = Table(title="demo wall time by phase")
        for col in ("phase", "wall", "share", "load at end"):
            table.add_column(col, justify="left" if col == "phase" else "right")
        for p in self.phases:
            table.add_row(p.name, format_seconds(p.seconds), _share(p.seconds, total), _load(p.load))
        other = total - sum(p.seconds for p in self.phases)
        if other >= 0.05:
            table.add_row("other", format_seconds(other), _share(other, total), "")
        table.add_row("total", format_seconds(total), "100%", _load(self._load()))
        self._console.print(table)
        self._console.print(f"demo total wall time: {format_seconds(total)}", highlight=False)


def _share(seconds: float, total: float) -> str:
    return f"{100 * seconds / total:.0f}%" if total > 0 else "-"


def _load(load: float | None) -> str:
    return f"{load:.1f}" if load is not None else "-"
