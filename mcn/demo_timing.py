"""Wall time of the demo's phases: each printed as it ends, and a table with the total at the end.

The demo should finish in under ten minutes on two cores; these lines show users (and us) where the time goes,
and the load average beside each says how busy the machine was meanwhile. Wall time on a shared machine says
little, so each phase also gets its CPU seconds: user + system time of the demo's process and every process it
started (ffmpeg, the Prefect server, the sandbox), the live ones read from ``/proc`` and the finished ones from
``getrusage``. CPU seconds / cores is what a phase needs at least on an idle machine.
"""

from __future__ import annotations

import os
import resource
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
    cpu: float | None = None


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


def process_tree_cpu() -> float | None:
    """CPU seconds (user + system) so far of this process, its finished children and every live descendant.

    A live descendant's own finished children count in its ``children_*`` times; a descendant that exits between
    two readings moves from the live sum to ``RUSAGE_CHILDREN`` once reaped, so the total only grows. None when
    psutil cannot read the tree.
    """
    own = resource.getrusage(resource.RUSAGE_SELF)
    gone = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = own.ru_utime + own.ru_stime + gone.ru_utime + gone.ru_stime
    try:
        import psutil

        for child in psutil.Process().children(recursive=True):
            try:
                t = child.cpu_times()
            except psutil.Error:  # exited meanwhile: counted once reaped
                continue
            total += t.user + t.system + t.children_user + t.children_system
    except (ImportError, OSError):
        return None
    return total


class PhaseClock:
    """Times named phases (``with clock.phase("planning"): ...``), prints each as it ends, then a summary."""

    def __init__(
        self,
        console: Console,
        clock: Callable[[], float] = time.perf_counter,
        load: Callable[[], float | None] = load_average,
        cpu: Callable[[], float | None] = process_tree_cpu,
    ) -> None:
        self._console = console
        self._clock = clock
        self._load = load
        self._cpu = cpu
        self._start = clock()
        self._start_cpu = cpu()
        self.phases: list[PhaseTime] = []

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the block as phase ``name``; the line is printed even when the block fails."""
        began, began_cpu = self._clock(), self._cpu()
        try:
            yield
        finally:
            ended_cpu = self._cpu()
            cpu = ended_cpu - began_cpu if ended_cpu is not None and began_cpu is not None else None
            done = PhaseTime(name, self._clock() - began, self._load(), cpu)
            self.phases.append(done)
            load = f", load average {done.load:.1f}" if done.load is not None else ""
            used = f", {cpu:.0f} CPU s" if cpu is not None else ""
            self._console.print(f"phase time: {name}: {format_seconds(done.seconds)}{used}{load}", highlight=False)

    def total_seconds(self) -> float:
        """Wall seconds since the clock was made."""
        return self._clock() - self._start

    def print_summary(self) -> None:
        """A table of every phase with its share of the total; time between phases shows as ``other``."""
        total = self.total_seconds()
        now_cpu = self._cpu()
        total_cpu = now_cpu - self._start_cpu if now_cpu is not None and self._start_cpu is not None else None
        table = Table(title="demo wall time by phase")
        for col in ("phase", "wall", "share", "CPU s", "load at end"):
            table.add_column(col, justify="left" if col == "phase" else "right")
        for p in self.phases:
            table.add_row(p.name, format_seconds(p.seconds), _share(p.seconds, total), _cpu(p.cpu), _load(p.load))
        other = total - sum(p.seconds for p in self.phases)
        if other >= 0.05:
            phases_cpu = [p.cpu for p in self.phases]
            other_cpu = None
            if total_cpu is not None and None not in phases_cpu:
                other_cpu = total_cpu - sum(c for c in phases_cpu if c is not None)
            table.add_row("other", format_seconds(other), _share(other, total), _cpu(other_cpu), "")
        table.add_row("total", format_seconds(total), "100%", _cpu(total_cpu), _load(self._load()))
        self._console.print(table)
        used = f" ({total_cpu:.0f} CPU s)" if total_cpu is not None else ""
        self._console.print(f"demo total wall time: {format_seconds(total)}{used}", highlight=False)


def _share(seconds: float, total: float) -> str:
    return f"{100 * seconds / total:.0f}%" if total > 0 else "-"


def _cpu(seconds: float | None) -> str:
    return f"{seconds:.0f}" if seconds is not None else "-"


def _load(load: float | None) -> str:
    return f"{load:.1f}" if load is not None else "-"
