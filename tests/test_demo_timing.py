"""The demo's phase timing: a line per phase as it ends (also when it fails), and the summary with the total."""

from __future__ import annotations

import time

import pytest
from rich.console import Console

from mcn.demo_timing import PhaseClock, format_seconds, process_tree_cpu


class StepClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_each_phase_prints_its_wall_time_as_it_ends_and_the_summary_adds_up() -> None:
    console = Console(record=True, width=120)
    now, cpu = StepClock(), StepClock()
    clock = PhaseClock(console, clock=now, load=lambda: 1.5, cpu=cpu)
    with clock.phase("sample generation stream-a"):
        now.now += 12.25
        cpu.now += 20.0
    assert "phase time: sample generation stream-a: 12.2 s, 20 CPU s, load average 1.5" in console.export_text(
        clear=False
    )
    now.now += 3.0  # between phases: shows as "other"
    cpu.now += 2.0
    with pytest.raises(RuntimeError), clock.phase("remix rendering"):
        now.now += 185.0
        cpu.now += 350.0
        raise RuntimeError("render failed")
    text = console.export_text(clear=False)
    assert "phase time: remix rendering: 3 m 05 s, 350 CPU s" in text  # printed although the phase failed
    assert [p.name for p in clock.phases] == ["sample generation stream-a", "remix rendering"]

    clock.print_summary()
    summary = console.export_text()
    assert "demo total wall time: 3 m 20 s (372 CPU s)" in summary  # 12.25 + 3 + 185; 20 + 2 + 350
    other = next(line for line in summary.splitlines() if "other" in line)
    assert [cell.strip() for cell in other.split("│")][2:5] == ["3.0 s", "1%", "2"]  # wall, share, CPU s
    remix = next(line for line in summary.splitlines() if "remix rendering" in line and "│" in line)
    assert "92%" in remix  # 185 of 200.25 s


def test_process_tree_cpu_counts_live_and_finished_children() -> None:
    """A child's CPU counts while it runs (read from /proc) and after it has been reaped (getrusage)."""
    import subprocess
    import sys

    before = process_tree_cpu()
    assert before is not None
    busy = "import time\nend = time.process_time() + 0.6\nwhile time.process_time() < end: pass\nimport sys\n"
    child = subprocess.Popen([sys.executable, "-c", busy + "sys.stdin.read()"], stdin=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while True:  # until the child has burnt its 0.6 CPU s and waits on stdin
        live = process_tree_cpu()
        assert live is not None
        if live - before >= 0.5 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert live - before >= 0.5
    assert child.stdin is not None
    child.stdin.close()
    child.wait()
    after = process_tree_cpu()
    assert after is not None and after >= live - 0.05  # moved from the live sum to RUSAGE_CHILDREN, not lost


def test_format_seconds() -> None:
    assert format_seconds(59.94) == "59.9 s"
    assert format_seconds(866) == "14 m 26 s"
