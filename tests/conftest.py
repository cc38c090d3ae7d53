"""Shared fixtures: generated media (espeak-ng speech over lavfi video), an isolated data dir, the whisper model.

Media fixtures are session-scoped and generated once per run into a temporary directory; nothing binary is
committed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from mcn.samples import GeneratedStream, generate_stream
from mcn.samples.scripts import DEV_EN


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def sample_stream_en(media_dir: Path) -> GeneratedStream:
    """About 70 s of English host speech over a test picture, with ground truth (see ``mcn.samples``)."""
    return generate_stream(DEV_EN, media_dir / "dev-en")


@pytest.fixture(scope="session")
def whisper_model_dir() -> Path:
    """The offline faster-whisper base model built by ``mcn models install`` (the README's setup runs it)."""
    from mcn.whisper_model import resolve_model

    resolved = resolve_model(os.environ.get("MCN_WHISPER_MODEL", "base"))
    path = Path(resolved)
    if not path.is_dir():
        pytest.fail(f"whisper model {resolved!r} is not installed; run `mcn models install`")
    return path


@pytest.fixture(scope="module")
def prefect_server() -> Iterator[None]:
    """A real Prefect server (Prefect's test harness, SQLite) for the flows of one test module."""
    from prefect.testing.utilities import prefect_test_harness

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # 180 s: a fresh server's migrations took over 100 s on a busy 2-core machine
    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An isolated ``MCN_DATA_DIR`` for one test; settings are re-read."""
    from mcn.settings import get_settings

    monkeypatch.setenv("MCN_DATA_DIR", str(tmp_path / "mcn-data"))
    get_settings.cache_clear()
    yield tmp_path / "mcn-data"
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def _fail_on_error_logs(request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Like PySceneDetect's suite: a test that logs at ERROR fails, unless it is marked ``expect_error_logs``
    (Prefect logs a failed task state at ERROR, which is exactly what bad-input tests provoke)."""
    yield
    if request.node.get_closest_marker("expect_error_logs"):
        return
    errors = [r for r in caplog.get_records("call") if r.levelno >= logging.ERROR]
    if errors:
        pytest.fail("unexpected ERROR log: " + "; ".join(r.getMessage() for r in errors))
