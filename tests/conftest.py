"""Shared fixtures: generated media (espeak-ng speech over lavfi video), an isolated data dir, the whisper model.

Media fixtures are session-scoped and generated once per run into a temporary directory; nothing binary is
committed.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from mcn.samples import GeneratedStream, generate_stream
from mcn.samples.scripts import DEV_EN

if TYPE_CHECKING:
    from prefect.server.api.server import SubprocessASGIServer


@dataclass(frozen=True)
class PrefectTestServer:
    server: SubprocessASGIServer
    database: str  # its SQLAlchemy URL


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


@pytest.fixture(scope="session")
def _prefect_test_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectTestServer]:
    """One real Prefect server (Prefect's test harness server: uvicorn in a subprocess, SQLite) for the session.

    Starting it costs 12-21 s on a busy 2-core machine (imports, migrations), which every module paid while
    each started its own. Modules share its database, so a test finds its own runs, deployments and artifacts by
    something unique to it (an id, a tag, a start time), never by the server being empty.
    """
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_SERVER_DATABASE_CONNECTION_URL, temporary_settings
    from prefect.testing.utilities import _find_available_port

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    database = "sqlite+aiosqlite:///" + str(tmp_path_factory.mktemp("prefect-server") / "prefect-test.db")
    with temporary_settings(updates={PREFECT_SERVER_DATABASE_CONNECTION_URL: database}):
        server = SubprocessASGIServer(port=_find_available_port())
        # 180 s: a fresh server's migrations took over 100 s on a busy 2-core machine
        server.start(timeout=180)
    try:
        yield PrefectTestServer(server, database)
    finally:
        server.stop()


@contextmanager
def _prefect_harness(shared: PrefectTestServer) -> Iterator[None]:
    """What ``prefect_test_harness`` does around its ``yield``, against the session's running server: the API URL
    (and its database, for in-process server code) set for this scope only, the server registered as Prefect's
    default, and the log and event workers drained at the end (nothing leaks into the next module)."""
    from prefect.context import _temporary_global_settings_context, get_settings_context
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.server.database.dependencies import temporary_database_interface
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_DATABASE_CONNECTION_URL, temporary_settings
    from prefect.utilities.asyncutils import run_coro_as_sync

    prior_default = SubprocessASGIServer._instances.get(None)
    with ExitStack() as stack:
        stack.enter_context(temporary_database_interface())
        stack.enter_context(temporary_settings(updates={PREFECT_SERVER_DATABASE_CONNECTION_URL: shared.database}))
        SubprocessASGIServer._instances[None] = shared.server
        stack.enter_context(temporary_settings(updates={PREFECT_API_URL: shared.server.api_url}))
        stack.enter_context(_temporary_global_settings_context(get_settings_context()))
        try:
            yield
        finally:

            async def drain() -> None:
                with suppress(RuntimeError):  # the log worker never started
                    result = APILogWorker.instance().drain()
                    if inspect.isawaitable(result):
                        await result
                result = EventsWorker.drain_all()
                if inspect.isawaitable(result):
                    await result

            run_coro_as_sync(drain())
            if prior_default is not None:
                SubprocessASGIServer._instances[None] = prior_default
            else:
                SubprocessASGIServer._instances.pop(None, None)


@pytest.fixture(scope="module")
def prefect_server(_prefect_test_server: PrefectTestServer) -> Iterator[None]:
    """The session's real Prefect server as this module's Prefect API (``PREFECT_API_URL`` in Prefect's settings,
    not in ``os.environ``), as ``prefect_test_harness`` sets it; other modules see no API URL."""
    with _prefect_harness(_prefect_test_server):
        yield


@pytest.fixture
def prefect_server_for_test(_prefect_test_server: PrefectTestServer) -> Iterator[str]:
    """The session's Prefect server as the API of one test only; yields its API URL."""
    with _prefect_harness(_prefect_test_server):
        yield _prefect_test_server.server.api_url


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
