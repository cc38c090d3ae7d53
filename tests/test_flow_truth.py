"""Prefect that tells the truth: run names and brand tags, runs that made nothing end Failed with one line."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import lavfi_video


@pytest.fixture(scope="module")
def prefect_server() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    with prefect_test_harness(server_startup_timeout=180):
        yield


def _flow_run(state: object) -> object:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(state.state_details.flow_run_id)  # type: ignore[attr-defined]


def _chatter(tmp_path: Path) -> tuple[Path, Path]:
    """A 12 s video and an SRT of small talk: nothing in it sells anything."""
    video = lavfi_video(tmp_path / "chatter.mp4", "color=c=gray:s=320x240:r=25:d=12", "sine=f=300:r=16000:d=12")
    srt = tmp_path / "chatter.srt"
    srt.write_text(
        "1\n00:00:01,000 --> 00:00:03,000\nHello everyone, good evening.\n\n"
        "2\n00:00:04,000 --> 00:00:06,000\nThe weather was nice today.\n\n"
        "3\n00:00:07,000 --> 00:00:09,000\nI had noodles for lunch.\n",
        encoding="utf-8",
    )
    return video, srt


def test_run_name_says_what_the_run_is_about() -> None:
    from datetime import datetime

    from flows.make_clips import run_name

    when = datetime(2026, 12, 1, 17, 40)
    assert run_name("/in/live-0412.mp4", "acme", "/in/products.csv", when) == "acme · live-0412.mp4 · 2026-12-01 17:40"
    assert run_name("/in/live.mp4", None, "/p/acme-spring.csv", when) == "acme-spring · live.mp4 · 2026-12-01 17:40"
    shown = "https://***@cdn.example/v/stream.flv?token=***"
    assert run_name(shown, None, None, when) == "stream.flv · 2026-12-01 17:40"


@pytest.mark.expect_error_logs
def test_zero_clips_run_fails_with_one_line_named_and_tagged(
    prefect_server: None, data_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from flows.make_clips import make_clips

    video, srt = _chatter(tmp_path)
    caplog.set_level(logging.INFO)
    state = make_clips(
        source=str(video), transcript=str(srt), language="en", out=str(tmp_path / "out"), brand="acme",
        width=180, height=320, return_state=True,
    )  # fmt: skip
    assert state.is_failed(), state
    assert state.message and state.message.startswith("no clips:") and "\n" not in state.message
    run = _flow_run(state)
    assert run.name.startswith("acme · chatter.mp4 · "), run.name  # type: ignore[attr-defined]
    assert "brand:acme" in run.tags  # type: ignore[attr-defined]
    text = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert "NoneType: None" not in text and "Traceback" not in text, text
    carrying = [r for r in caplog.records if "no clips:" in r.getMessage()]
    assert len(carrying) == 1, [r.getMessage() for r in caplog.records]


@pytest.mark.expect_error_logs
def test_failed_step_logs_its_reason_once_without_none_traceback(
    prefect_server: None, data_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from flows.make_clips import make_clips

    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    caplog.set_level(logging.INFO)
    state = make_clips(source=str(empty), return_state=True)
    assert state.is_failed() and state.message and "empty" in state.message
    records = [r for r in caplog.records if r.name.startswith("prefect")]
    text = "\n".join(r.getMessage() + (r.exc_text or "") for r in records)
    assert "NoneType: None" not in text and "Traceback" not in text, text
    carrying = [r.getMessage() for r in records if state.message in r.getMessage()]
    assert len(carrying) == 1, carrying
