"""Handing a recording to the clip factory: a small injected interface, so the console imports no Prefect.

:class:`RunSubmitter` is what the console calls; ``mcn console serve`` injects a Prefect deployment adapter
(``make-clips/make-clips`` through the Prefect client) when ``PREFECT_API_URL`` is set and the deployment exists,
else a :class:`ThreadSubmitter` that runs the clip factory in this process, one recording at a time (like the
deployment's concurrency limit of 1: ASR and rendering use every core).
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ClipJob:
    """One recording to make clips from: the make-clips flow's parameters."""

    source: str
    brand: str
    out: str
    products: str | None = None
    language: str = "auto"
    max_clips: int = 10
    min_seconds: float = 15.0
    max_seconds: float = 60.0
    width: int = 1080
    height: int = 1920

    def parameters(self) -> dict[str, Any]:
        """The job as make-clips flow parameters."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class RunProgress:
    """Where a run is: its step, that step's fraction and a short detail (as the CLI's bars show it)."""

    step: str
    fraction: float
    detail: str = ""


ProgressCallback = Callable[[str, float, str], None]


class RunSubmitter(ABC):
    """Starts a clip run for a :class:`ClipJob` and returns at once."""

    name: str = "runs"

    @abstractmethod
    def submit(self, job: ClipJob) -> str:
        """Start (or queue) the run; return a reference to it (a flow run id)."""

    def progress(self, ref: str) -> RunProgress | None:
        """The run's live progress when this submitter knows it (the run row in the database says the rest)."""
        del ref
        return None


class ThreadSubmitter(RunSubmitter):
    """Runs jobs one after another on a daemon thread of this process with ``make(job, on_progress)``.

    ``make`` is the clip factory's facade (the make-clips flow called in this process); it records the run in the
    database like any run. A job that raises is logged as a warning with its one-line reason; the run row that
    the flow keeps says why it failed.
    """

    name = "in-process"

    def __init__(self, make: Callable[[ClipJob, ProgressCallback], Any]) -> None:
        self._make = make
        self._jobs: queue.Queue[tuple[str, ClipJob]] = queue.Queue()
        self._progress: dict[str, RunProgress] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, job: ClipJob) -> str:
        ref = f"thread-{uuid.uuid4().hex[:12]}"
        with self._lock:
            self._progress[ref] = RunProgress("queued", 0.0)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="console-runs", daemon=True)
                self._thread.start()
        self._jobs.put((ref, job))
        return ref

    def progress(self, ref: str) -> RunProgress | None:
        with self._lock:
            return self._progress.get(ref)

    def idle(self) -> bool:
        """No job queued or running (tests wait for it)."""
        return self._jobs.unfinished_tasks == 0

    def _work(self) -> None:
        while True:
            ref, job = self._jobs.get()
            try:

                def report(step: str, fraction: float, detail: str, ref: str = ref) -> None:
                    with self._lock:
                        self._progress[ref] = RunProgress(step, fraction, detail)

                self._make(job, report)
            except Exception as exc:  # noqa: BLE001 - the run row holds the reason; the thread must live on
                log.warning("clip run for %s ended with %s: %s", job.source, type(exc).__name__, str(exc)[:300])
            finally:
                with self._lock:
                    self._progress[ref] = RunProgress("done", 1.0)
                self._jobs.task_done()
