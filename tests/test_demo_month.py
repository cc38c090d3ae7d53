"""The demo's month in its own process (mcn.demo_month.BackgroundMonth), at the smallest scale: it runs while the
caller goes on, prints the same summary as the month in the demo's process, and can be stopped early."""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console

from analytics.month import MonthOptions
from mcn.demo_month import BackgroundMonth
from tests.test_month import START, pool_products, tiny_videos


def test_background_month_runs_alongside_and_prints_its_summary(data_dir: Path, tmp_path: Path) -> None:
    clips = tiny_videos(tmp_path / "videos", pool_products(1), 1)
    options = MonthOptions(days=1, accounts=1, posts_per_account=1, start=START, allocations=("equal",))
    console = Console(record=True, width=200)
    month = BackgroundMonth(tmp_path, console, options, clips=clips)
    assert month._process is not None and month._process.is_alive()  # started, and the caller goes on
    assert month.finish() == 0
    printed = console.export_text()
    assert "started in its own process" in printed
    assert "GMV equal" in printed and "the month's process:" in printed and "CPU s" in printed
    assert (tmp_path / "month.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not month._process.is_alive()


def test_background_month_stops_early_and_says_when_there_is_nothing_to_post(tmp_path: Path) -> None:
    console = Console(record=True, width=200)
    clips = tiny_videos(tmp_path / "videos", ["p-unknown"], 1)
    options = MonthOptions(days=28, accounts=1, posts_per_account=1, start=START, allocations=("equal",))
    month = BackgroundMonth(tmp_path, console, options, clips=clips)
    began = time.perf_counter()
    month.stop()
    assert not month._process.is_alive() and time.perf_counter() - began < 40

    empty = BackgroundMonth(tmp_path, console, options, clips=[])
    assert empty.finish() == 1
    assert "rendered no product remixes" in console.export_text()
