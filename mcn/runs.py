"""Who owns a running run, and sweeping the runs whose process died.

A run row is written ``running`` when a job starts and ``succeeded``/``failed`` when it ends; an interrupt or a
crash inside Python ends it failed too. ``kill -9`` (the OOM killer, a lost container) runs no code, so the row
would stay ``running`` for ever. Each run therefore records its owning process: host name, pid and the process's
start as the kernel counts it (boot id + clock ticks since boot, from ``/proc``), so a pid reused later by
another process is not mistaken for the owner. :func:`sweep_dead_runs` runs when a process first opens the store
(:func:`mcn.db.get_engine`): one query for this host's running rows, and each whose process is gone becomes
failed with "process died (killed?)"; its Prefect flow run, when one is recorded and the API answers, is set
Crashed by a detached child process (so the command that swept does not wait for Prefect). A run owned by another
host is left alone: only that host can tell whether its process lives.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

__all__ = [
    "DIED",
    "ProcessOwner",
    "crash_flow_runs",
    "crash_flow_runs_detached",
    "is_gone",
    "process_start",
    "sweep_dead_runs",
    "this_process",
]

DIED = "process died (killed?)"

_log = logging.getLogger(__name__)
_PROC = Path("/proc")


@dataclass(frozen=True, slots=True)
class ProcessOwner:
    """A process, as a run row records it. ``start`` is ``None`` where ``/proc`` is missing (macOS)."""

    host: str
    pid: int
    start: str | None


def _boot_id() -> str | None:
    try:
        return (_PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def _stat(pid: int) -> tuple[str, str] | None:
    """``(state, start ticks)`` of ``pid`` from ``/proc/<pid>/stat``, or ``None`` when it has no entry."""
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last closing parenthesis.
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], fields[19]  # field 3 (state) and field 22 (starttime), counted from field 3


def process_start(pid: int) -> str | None:
    """``<boot id>:<start ticks>`` of ``pid``, or ``None`` when the process or ``/proc`` is not there."""
    boot, stat = _boot_id(), _stat(pid)
    if boot is None or stat is None:
        return None
    return f"{boot}:{stat[1]}"


def this_process() -> ProcessOwner:
    """The calling process, to record as a run's owner."""
    pid = os.getpid()
    return ProcessOwner(socket.gethostname(), pid, process_start(pid))


def is_gone(owner: ProcessOwner) -> bool:
    """Whether ``owner`` (a process on this host) no longer runs: no such pid, a zombie (killed, not yet reaped by
    its parent), or a pid that now belongs to a process started at another time (or in another boot)."""
    stat = _stat(owner.pid)
    if stat is None:
        if _PROC.is_dir():
            return True
        try:  # no /proc (macOS): ask the kernel whether the pid exists
            os.kill(owner.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
    if stat[0] == "Z":
        return True
    return owner.start is not None and owner.start != process_start(owner.pid)


def sweep_dead_runs(engine: Engine) -> list[str]:
    """Mark failed every ``running`` run owned by a process of this host that is gone; return their ids.

    The run, a ``run_failures`` row and the run's source get the reason :data:`DIED`. A row is changed only while
    it is still ``running`` (a conditional update), so two processes sweeping at once record it once. Then each
    swept run's Prefect flow run, if recorded, is set Crashed (best effort: see :func:`crash_flow_runs`). Runs
    written before owners were recorded have no owner and are left as they are.
    """
    from mcn.tables import RunFailure, RunRecord, SourceRecord, utcnow

    host = socket.gethostname()
    with Session(engine) as db:
        running = db.exec(
            select(RunRecord).where(RunRecord.status == "running").where(RunRecord.owner_host == host)
        ).all()
        dead = [
            (run.id, run.owner_pid, run.source_id, run.flow_run_id)
            for run in running
            if run.owner_pid is not None and is_gone(ProcessOwner(host, run.owner_pid, run.owner_start))
        ]
        swept: list[tuple[str, str | None]] = []
        now = utcnow()
        for run_id, pid, source_id, flow_run_id in dead:
            changed = db.connection().execute(
                update(RunRecord)
                .where(RunRecord.id == run_id)  # type: ignore[arg-type]
                .where(RunRecord.status == "running")  # type: ignore[arg-type]
                .values(status="failed", error=DIED, finished_at=now)
            )
            if changed.rowcount != 1:
                continue  # another process swept it first
            db.add(RunFailure(run_id=run_id, step="run", subject=f"pid {pid} on {host}", message=DIED))
            source = db.get(SourceRecord, source_id) if source_id else None
            if source is not None and source.status == "processing":
                source.status, source.error, source.updated_at = "failed", DIED, now
                db.add(source)
            swept.append((run_id, flow_run_id))
        db.commit()
    for run_id, _ in swept:
        _log.warning("run %s: %s; marked failed", run_id, DIED)
    crash_flow_runs_detached([flow_run_id for _, flow_run_id in swept if flow_run_id])
    return [run_id for run_id, _ in swept]


def detached_child_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment of :func:`crash_flow_runs_detached`'s child: this one (its ``PREFECT_API_URL``, or none:
    then the child starts Prefect's ephemeral server, given two minutes on a loaded machine)."""
    env = dict(environ)
    env.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    return env


def crash_flow_runs_detached(flow_run_ids: list[str]) -> subprocess.Popen[bytes] | None:
    """Run :func:`crash_flow_runs` in a detached process (``python -m mcn.runs ID...``) and return it at once.

    The sweep happens in whatever command first opens the store (``mcn accounts list``...): importing Prefect and
    reaching its API (or starting the ephemeral one, tens of seconds on a loaded machine) must not hold that
    command up. The child inherits the environment (``PREFECT_API_URL``, ``PREFECT_HOME``) and outlives this
    process if need be; a thread reaps it when this process lives longer."""
    if not flow_run_ids:
        return None
    env = detached_child_env(os.environ)
    child = subprocess.Popen(
        [sys.executable, "-m", "mcn.runs", *flow_run_ids],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,  # not in the command's process group: a Ctrl-C there does not stop it
    )
    threading.Thread(target=child.wait, name="mcn-crash-flow-runs", daemon=True).start()
    return child


def crash_flow_runs(flow_run_ids: list[str], message: str = DIED) -> list[str]:
    """Set each of ``flow_run_ids`` that is not in a final state Crashed (forced: its process cannot report any
    more); return the ids changed. Prefect being unreachable, or an id it does not know, is one warning each:
    the mcn run is already marked, and nothing here may stop the command that swept."""
    if not flow_run_ids:
        return []
    from prefect.client.orchestration import get_client
    from prefect.states import Crashed

    changed: list[str] = []
    try:
        with get_client(sync_client=True, httpx_settings={"timeout": 10.0}) as client:
            for flow_run_id in flow_run_ids:
                try:
                    flow_run = client.read_flow_run(flow_run_id)  # type: ignore[arg-type]
                    if flow_run.state is not None and flow_run.state.is_final():
                        continue  # the worker or the run itself reported how it ended
                    client.set_flow_run_state(flow_run_id, Crashed(message=message), force=True)
                    changed.append(flow_run_id)
                except Exception as exc:  # noqa: BLE001 (best effort, one line per flow run)
                    _log.warning("Prefect flow run %s not marked crashed: %s", flow_run_id, _one_line(exc))
    except Exception as exc:  # noqa: BLE001 (Prefect unreachable or not configured: the mcn run is marked already)
        _log.warning("Prefect flow runs %s not marked crashed: %s", ", ".join(flow_run_ids), _one_line(exc))
    return changed


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    name = type(exc).__name__
    return (f"{name}: {text}" if text and text != "None" else name)[:300]


if __name__ == "__main__":  # crash_flow_runs_detached's child
    crash_flow_runs(sys.argv[1:])
