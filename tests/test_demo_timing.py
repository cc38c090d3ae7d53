"""The demo's phase timing: a line per phase as it ends (also when it fails), and the summary with the total."""

from __future__ import annotations

import pytest
from rich.console import Console

from mcn.demo_timing import PhaseClock, format_seconds


class StepClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_each_phase_prints_its_wall_time_as_it_ends_and_the_summary_adds_up() -> None:
    console = Console(record=True, width=120)
    now = StepClock()
    clock = PhaseClock(console, clock=now, load=lambda: 1.5)
    with clock.phase("sample generation stream-a"):
        now.now += 12.25
    assert "phase time: sample generation stream-a: 12.2 s, load average 1.5" in console.export_text(clear=False)
    now.now += 3.0  # between phases: shows as "other"
    with pytest.raises(RuntimeError), clock.phase("remix rendering"):
        now.now += 185.0
        raise RuntimeError("render failed")
    text = console.export_text(clear=False)
    assert "phase time: remix rendering: 3 m 05 s" in text  # printed although the phase failed
    assert [p.name for p in clock.phases] == ["sample generation stream-a", "remix rendering"]

    clock.print_summary()
    summary = console.export_text()
    assert "demo total wall time: 3 m 20 s" in summary  # 12.25 + 3 + 185
    other = next(line for line in summary.splitlines() if "other" in line)
    assert "3.0 s" in other
    remix = next(line for line in summary.splitlines() if "remix rendering" in line and "│" in line)
    assert "92%" in remix  # 185 of 200.25 s


def test_format_seconds() -> None:
    assert format_seconds(59.94) == "59.9 s"
    assert format_seconds(866) == "14 m 26 s"
