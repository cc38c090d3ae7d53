"""A run whose process is killed outright (SIGKILL runs no cleanup) is swept to failed by the next process that
opens the store, and its Prefect flow run is set Crashed; live runs, other hosts' runs and runs without a recorded
owner are left alone."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import Session, select

from mcn.db import get_engine, make_engine
from mcn.runs import DIED, process_start, this_process
from mcn.settings import get_settings
from mcn.tables import RunFailure, RunRecord, SourceRecord
from tests.http_support import LocalServer, local_http, trickle_route, wait_for

__all__ = ["local_http"]  # the fixture, imported for pytest

MCN = Path(sys.executable).with_name("mcn")
_STARTER = (
    "import time; from mcn import store; "
    "run_id, _ = store.start_run('make_clips', 'http://u:pw@cdn.example.com/v.mp4', {}); "
    "print(run_id, flush=True); time.sleep(600)"
)


def _state(pid: int) -> str | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()[0]


def _rows(url: str) -> dict[str, RunRecord]:
    """The runs as stored, read on an engine of its own (no sweep happens on it)."""
    engine = make_engine(url)
    try:
        with Session(engine) as db:
            return {run.id: run for run in db.exec(select(RunRecord))}
    finally:
        engine.dispose()


def test_a_killed_process_s_run_is_swept_once_and_live_foreign_and_unowned_runs_are_not(data_dir: Path) -> None:
    url = get_settings().sqlalchemy_url
    env = {**os.environ, "MCN_DATA_DIR": str(data_dir)}
    proc = subprocess.Popen([sys.executable, "-c", _STARTER], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        killed = proc.stdout.readline().strip()
        assert killed, "the starter printed no run id"
        me = this_process()
        others = {
            "live": RunRecord(kind="make_clips", owner_host=me.host, owner_pid=me.pid, owner_start=me.start),
            "reused": RunRecord(kind="make_clips", owner_host=me.host, owner_pid=me.pid, owner_start="old-boot:1"),
            "elsewhere": RunRecord(kind="make_clips", owner_host=f"not-{me.host}", owner_pid=1, owner_start="b:1"),
            "unowned": RunRecord(kind="make_clips"),  # written before owners were recorded
        }
        engine = make_engine(url)
        with Session(engine, expire_on_commit=False) as db:
            for run in others.values():
                db.add(run)
            db.commit()
        engine.dispose()
        before = _rows(url)[killed]
        assert before.status == "running" and before.owner_pid == proc.pid and before.owner_host == me.host
        assert before.owner_start == process_start(proc.pid) and before.owner_start is not None

        proc.send_signal(signal.SIGKILL)
        wait_for(lambda: _state(proc.pid) == "Z", 10, "the starter to die")  # dead, its parent has not reaped it
        assert _rows(url)[killed].status == "running"  # nothing ran when it died

        get_engine()  # the first opening of the store in this process sweeps
        rows = _rows(url)
        assert rows[killed].status == "failed" and rows[killed].error == DIED and rows[killed].finished_at
        assert rows[others["reused"].id].status == "failed"  # its pid lives, but it is another process now
        for name in ("live", "elsewhere", "unowned"):
            assert rows[others[name].id].status == "running", name
        with Session(get_engine()) as db:
            failures = db.exec(select(RunFailure).where(RunFailure.run_id == killed)).all()
            source = db.get(SourceRecord, rows[killed].source_id)
        assert [(f.step, f.subject, f.message) for f in failures] == [("run", f"pid {proc.pid} on {me.host}", DIED)]
        assert source is not None and source.status == "failed" and source.error == DIED

        # a second sweep (another process starting) finds nothing more and records nothing twice
        from mcn.runs import sweep_dead_runs

        assert sweep_dead_runs(get_engine()) == []
        with Session(get_engine()) as db:
            assert len(db.exec(select(RunFailure).where(RunFailure.run_id == killed)).all()) == 1
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def prefect_api(prefect_server: None) -> str:
    """The Prefect test server's API URL (for the CLI subprocesses)."""
    from prefect.settings import PREFECT_API_URL

    api = PREFECT_API_URL.value()
    assert api
    return str(api)


def _flow_run_state(flow_run_id: str) -> str:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(flow_run_id)  # type: ignore[arg-type]
    assert run.state is not None
    return run.state.type.value


def test_kill_9_of_mcn_clips_make_is_failed_and_crashed_by_the_next_mcn_command(
    prefect_api: str, data_dir: Path, tmp_path: Path, local_http: LocalServer
) -> None:
    local_http.routes["/slow.mp4"] = trickle_route(0.1)
    env = {
        **os.environ,
        "MCN_DATA_DIR": str(data_dir),
        "MCN_FETCH_ALLOW_PRIVATE": "1",  # the trickling server is on 127.0.0.1
        "PREFECT_API_URL": prefect_api,
        "PREFECT_HOME": str(tmp_path / "prefect"),
    }
    url = get_settings().sqlalchemy_url
    sources = data_dir / "sources"
    proc = subprocess.Popen(
        [str(MCN), "clips", "make", local_http.url("/slow.mp4")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        wait_for(lambda: any(sources.glob("*.part")) or proc.poll() is not None, 120, "the download to start")
        assert proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    (run,) = _rows(url).values()
    assert run.status == "running" and run.owner_pid == proc.pid and run.owner_host == socket.gethostname()
    assert run.flow_run_id and _flow_run_state(run.flow_run_id) == "RUNNING"  # what kill -9 leaves behind

    listed = subprocess.run(
        [str(MCN), "accounts", "list"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert listed.returncode == 0, listed.stderr
    assert "Traceback" not in listed.stderr
    (run,) = _rows(url).values()
    assert run.status == "failed" and run.error == DIED  # by the time the command ends
    flow_run_id = run.flow_run_id
    assert flow_run_id
    # Prefect is told by a detached child, so the command did not wait for it
    wait_for(lambda: _flow_run_state(flow_run_id) == "CRASHED", 120, "the flow run to be set Crashed")


def test_crash_flow_runs_leaves_final_states_and_unknown_ids_alone(prefect_api: str) -> None:
    import logging
    import uuid

    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.states import Completed, Running

    from mcn.runs import crash_flow_runs

    @flow(name="dead-runs-probe")
    def probe() -> None:
        pass

    with get_client(sync_client=True) as client:
        running = client.create_flow_run(probe, state=Running())
        done = client.create_flow_run(probe, state=Completed())
    unknown = str(uuid.uuid4())

    # a handler of its own: Prefect's logging setup replaces the root handlers (caplog's among them)
    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    records: list[logging.LogRecord] = []
    handler = Collect(logging.WARNING)
    logging.getLogger("mcn.runs").addHandler(handler)
    try:
        changed = crash_flow_runs([str(running.id), str(done.id), unknown])
    finally:
        logging.getLogger("mcn.runs").removeHandler(handler)
    assert changed == [str(running.id)]
    assert _flow_run_state(str(running.id)) == "CRASHED" and _flow_run_state(str(done.id)) == "COMPLETED"
    (warning,) = [r.getMessage() for r in records]
    assert warning == f"Prefect flow run {unknown} not marked crashed: ObjectNotFound", warning
