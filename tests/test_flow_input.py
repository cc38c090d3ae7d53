"""Hostile clip-factory input end to end (CLI process, Prefect test harness, database): downloads that never end,
killed runs, what is cached, subtitles out of range, credentials in URLs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, select

from mcn.db import get_engine
from mcn.tables import RunFailure, RunRecord
from tests.http_support import LocalServer, local_http, trickle_route, wait_for

__all__ = ["local_http"]  # the fixture, imported for pytest

MCN = Path(sys.executable).with_name("mcn")


@pytest.fixture(scope="module")
def prefect_api() -> Iterator[str]:
    """The Prefect test harness's API URL (for the CLI subprocesses) while the harness runs."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    with prefect_test_harness(server_startup_timeout=180):
        url = PREFECT_API_URL.value()
        assert url
        yield url


@pytest.fixture
def fetch_env(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The local test servers listen on 127.0.0.1: allow fetching from it, as an intranet operator would."""
    from mcn.settings import get_settings

    monkeypatch.setenv("MCN_FETCH_ALLOW_PRIVATE", "1")
    get_settings.cache_clear()
    return data_dir


def _cli_env(prefect_api: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "PREFECT_API_URL": prefect_api, "PREFECT_HOME": str(tmp_path / "prefect"), **extra}


def _flow_run_state(flow_run_id: str) -> str:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(flow_run_id)  # type: ignore[arg-type]
    assert run.state is not None
    return run.state.type.value


def test_sigterm_during_a_download_ends_the_run_crashed_and_failed_and_removes_the_part_file(
    prefect_api: str, fetch_env: Path, tmp_path: Path, local_http: LocalServer
) -> None:
    local_http.routes["/slow.mp4"] = trickle_route(0.1)
    sources = fetch_env / "sources"
    proc = subprocess.Popen(
        [str(MCN), "clips", "make", local_http.url("/slow.mp4")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_cli_env(prefect_api, tmp_path),
    )
    try:
        wait_for(lambda: any(sources.glob("*.part")) or proc.poll() is not None, 120, "the download to start")
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert "Traceback" not in stderr, stderr
    assert list(sources.iterdir()) == []
    with Session(get_engine()) as db:
        run = db.exec(select(RunRecord)).one()
        failure = db.exec(select(RunFailure)).one()
    assert run.status == "failed" and run.error and "interrupted" in run.error, run
    assert failure.step == "probe"
    assert run.flow_run_id
    assert _flow_run_state(run.flow_run_id) in ("CRASHED", "FAILED")
