"""Which Prefect server a CLI run talks to, found or started before the flow's imports.

Without ``PREFECT_API_URL`` Prefect starts a temporary server only when the first flow runs, after the CLI has
imported the flow (Prefect, the media stack): the two start-ups run one after the other, ~45 s before the first
step on a busy 2-core machine. :func:`prefect_api_for_run` instead

- uses the server of a running ``mcn up`` (``<data dir>/up.json``, its ``/health`` answering), so a run costs
  what it costs with ``PREFECT_API_URL`` set;
- else starts the same temporary server Prefect would (uvicorn on ``prefect.server.api.server:create_app``, UI
  off, the ephemeral services) at once, so it starts while the flow imports, and stops it when the command ends.

Nothing changes when ``PREFECT_API_URL`` is set or Prefect is already imported (its settings are read then; the
test harness runs that way).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

HEALTH_TIMEOUT = 1.0


@dataclass(frozen=True, slots=True)
class PrefectApi:
    """The API a run uses: ``url`` and where it came from (``env``, ``mcn up``, ``temporary``, ``prefect``)."""

    url: str | None
    source: str


#: Set to the temporary server's URL while this command owns it (see :func:`mcn.runs.crash_flow_runs_detached`).
TEMPORARY_API_ENV = "MCN_TEMPORARY_PREFECT_API_URL"


def _answers(api: str, timeout: float = HEALTH_TIMEOUT) -> bool:
    try:
        with urllib.request.urlopen(f"{api.rstrip('/')}/health", timeout=timeout) as response:
            return bool(response.status == 200)
    except (OSError, ValueError):
        return False


def running_up_api(data_dir: Path) -> str | None:
    """The Prefect API of the ``mcn up`` recorded in ``data_dir`` when its process lives and the API answers."""
    try:
        state = json.loads((data_dir / "up.json").read_text())
        pid, api = int(state["pid"]), str(state["prefect_api"])
        os.kill(pid, 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return api if _answers(api) else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(slots=True)
class TemporaryServer:
    """Prefect's ephemeral server, started by mcn so its start-up overlaps the CLI's imports."""

    process: subprocess.Popen[bytes]
    url: str
    startup_timeout: float

    def wait(self) -> None:
        """Block until the server answers; raise ``RuntimeError`` naming the URL when it does not in time."""
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the temporary Prefect server exited with code {self.process.returncode}")
            if _answers(self.url, timeout=0.5):
                return
            time.sleep(0.2)
        raise RuntimeError(f"the temporary Prefect server at {self.url} did not answer in {self.startup_timeout:.0f} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _die_with_parent() -> None:
    """Runs in the server's process before exec: SIGTERM when the CLI dies, even by SIGKILL (Linux)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start_temporary_server(startup_timeout: float) -> TemporaryServer:
    """Start the server Prefect's ``SubprocessASGIServer`` would start (same command and environment flags)."""
    port = _free_port()
    env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
    process = subprocess.Popen(
        [
            sys.executable,
            *("-m", "uvicorn", "--factory", "prefect.server.api.server:create_app"),
            *("--host", "127.0.0.1", "--port", str(port), "--log-level", "error", "--lifespan", "on"),
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        preexec_fn=_die_with_parent,  # noqa: PLW1509 (the CLI has one thread here)
    )
    server = TemporaryServer(process, f"http://127.0.0.1:{port}/api", startup_timeout)
    atexit.register(server.stop)
    return server


def prefect_api_for_run(data_dir: Path) -> tuple[PrefectApi, TemporaryServer | None]:
    """Pick the Prefect API for this CLI run and export it as ``PREFECT_API_URL`` (see the module docstring).

    Returns the choice and the temporary server to :meth:`TemporaryServer.wait` for before the first flow (the
    command stops it at exit)."""
    if os.environ.get("PREFECT_API_URL"):
        return PrefectApi(os.environ["PREFECT_API_URL"], "env"), None
    if "prefect" in sys.modules:  # settings already loaded: Prefect decides
        return PrefectApi(None, "prefect"), None
    up = running_up_api(data_dir)
    if up is not None:
        os.environ["PREFECT_API_URL"] = up
        return PrefectApi(up, "mcn up"), None
    timeout = float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120"))
    server = start_temporary_server(timeout)
    os.environ["PREFECT_API_URL"] = server.url
    os.environ[TEMPORARY_API_ENV] = server.url  # children that may outlive this command must not use it
    return PrefectApi(server.url, "temporary"), server
