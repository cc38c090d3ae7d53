"""Process trees from ``/proc`` (Linux): descendants of a process and the CPU time a tree has used.

``mcn up`` uses them to stop every process it started (the worker's flow-run processes included), the test of
``mcn up`` to check that none survives, and the idle-CPU benchmark to count a worker and its children.
Without ``/proc`` (macOS) the functions see no descendants and no CPU time.
"""

from __future__ import annotations

import os
from pathlib import Path

_PROC = Path("/proc")
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its closing parenthesis.
    return raw[raw.rindex(")") + 2 :].split()


def alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (a zombie, exited but not yet reaped, counts as gone)."""
    fields = _stat_fields(pid)
    if fields is not None:
        return fields[0] != "Z"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (every thread's children)."""
    found: list[int] = []
    try:
        tasks = list((_PROC / str(pid) / "task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found.extend(int(p) for p in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid``, parents before their children."""
    seen: list[int] = []
    todo = children(pid)
    while todo:
        child = todo.pop(0)
        if child in seen:
            continue
        seen.append(child)
        todo.extend(children(child))
    return seen


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and of its children that it has waited for (0 if it is gone)."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    # After the name: state(3) ... utime(14) stime(15) cutime(16) cstime(17), so indexes 11..14 here.
    return sum(int(v) for v in fields[11:15]) / _TICKS


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds used by ``pid``, its live descendants and every descendant already reaped within the tree."""
    return cpu_seconds(pid) + sum(cpu_seconds(child) for child in descendants(pid))
