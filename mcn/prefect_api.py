"""Which Prefect API a CLI run talks to, decided before anything imports Prefect.

``import prefect`` alone costs 3-12 s on a busy 2-core machine, and a temporary server another 30-50 s, so
``mcn clips make`` runs its flow only when there is a Prefect API to record it: ``PREFECT_API_URL``, or the
server of a running ``mcn up`` (``<data dir>/up.json``, its ``/health`` answering). Otherwise it runs the pipeline
in its own process without Prefect (:mod:`mcn.clips_pipeline`) and says that run is not in Prefect.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

HEALTH_TIMEOUT = 1.0

#: What ``mcn clips make`` prints when a run is not recorded in Prefect.
NOT_RECORDED = (
    "not recorded in Prefect (no server): start `mcn up`, or set PREFECT_API_URL, to see runs in the Prefect UI"
)


@dataclass(frozen=True, slots=True)
class PrefectApi:
    """The API a run uses: ``url`` and where it came from: ``env`` (``PREFECT_API_URL``), ``mcn up``,
    ``prefect`` (Prefect is imported already and decides: the test harness) or ``none`` (run without Prefect)."""

    url: str | None
    source: str

    @property
    def recorded(self) -> bool:
        """Whether a run reports to a Prefect server (else it runs without Prefect)."""
        return self.source != "none"


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


def prefect_api_for_run(data_dir: Path) -> PrefectApi:
    """Pick the Prefect API for this CLI run; a running ``mcn up``'s is exported as ``PREFECT_API_URL``."""
    if os.environ.get("PREFECT_API_URL"):
        return PrefectApi(os.environ["PREFECT_API_URL"], "env")
    if "prefect" in sys.modules:  # settings already loaded: Prefect decides
        return PrefectApi(None, "prefect")
    up = running_up_api(data_dir)
    if up is not None:
        os.environ["PREFECT_API_URL"] = up
        return PrefectApi(up, "mcn up")
    return PrefectApi(None, "none")


def quiet_prefect() -> None:
    """Keep Prefect's run logs off the terminal (they still reach the Prefect UI); the CLI draws bars and prints
    the one-line reason of a failure itself. Telemetry off: with the ephemeral SQLite server it only adds
    "database is locked" noise (PrefectHQ/prefect#18934). Call before Prefect is imported."""
    for handler in ("CONSOLE", "CONSOLE_FLOW_RUNS", "CONSOLE_TASK_RUNS"):
        os.environ.setdefault(f"PREFECT_LOGGING_HANDLERS_{handler}_LEVEL", "CRITICAL")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
