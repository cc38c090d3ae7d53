"""``mcn up`` as the operator runs it: a real process on free ports with a temporary data dir and no Prefect
settings (embedded defaults). It brings up the Prefect server, the pool, every deployment, the automations, a
worker running the hour's publish-due run and the sandbox; ``mcn up --check`` reports them; a second ``mcn up``
refuses; a service killed with SIGKILL is restarted, answers again and ``--check`` counts the restart; Ctrl-C
(SIGINT) stops everything within a deadline, the publish-due run ends Cancelled (not Crashed) and no process it
started survives. The GMV dashboard runs beside them. The restart policy (backoff, a stable run resets it, giving
up) runs on real short-lived processes without the stack."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import yaml

from mcn.procs import alive, descendants

ROOT = Path(__file__).resolve().parents[1]
MCN = Path(sys.executable).with_name("mcn")
STOP_DEADLINE = 60.0  # seconds from SIGINT to everything gone (measured ~10-35 s on 2 busy cores)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(check: Callable[[], bool], seconds: float, what: str) -> None:
    end = time.monotonic() + seconds
    while not check():
        if time.monotonic() > end:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.5)


def _post(url: str, body: dict[str, object] | None = None) -> list[dict[str, object]]:
    answer = httpx.post(url, json=body or {}, timeout=10)
    answer.raise_for_status()
    return list(answer.json())


@pytest.mark.slow
def test_mcn_up_starts_the_stack_check_reports_it_and_ctrl_c_leaves_nothing_behind(tmp_path: Path) -> None:
    data = tmp_path / "data"
    prefect_port, sandbox_port, dashboard_port = _free_port(), _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}  # embedded defaults only
    env.update(
        MCN_DATA_DIR=str(data),
        MCN_SANDBOX_DIR=str(tmp_path / "sandbox"),
        MCN_SANDBOX_URL=f"http://127.0.0.1:{sandbox_port}",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    lines: list[str] = []
    proc = subprocess.Popen(
        [str(MCN), "up", "--prefect-port", str(prefect_port), "--dashboard-port", str(dashboard_port), "--sandbox"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or ()), daemon=True)
    reader.start()
    tree: list[int] = []
    try:
        _wait(lambda: any("mcn up: ready" in line for line in lines) or proc.poll() is not None, 300, "mcn up")
        assert proc.poll() is None, "".join(lines)
        time.sleep(0.5)  # the rest of the summary
        output = "".join(lines)
        api = f"http://127.0.0.1:{prefect_port}/api"
        assert f"http://127.0.0.1:{prefect_port}" in output and f"http://127.0.0.1:{sandbox_port}/login" in output
        assert httpx.get(f"{api}/health", timeout=5).status_code == 200
        assert httpx.get(f"http://127.0.0.1:{sandbox_port}/login", timeout=5).status_code == 200
        assert f"http://127.0.0.1:{dashboard_port}/" in output  # the GMV dashboard
        assert httpx.get(f"http://127.0.0.1:{dashboard_port}/_stcore/health", timeout=5).status_code == 200

        # Every deployment of deploy/prefect.yaml, and the automations.
        declared = {d["name"] for d in yaml.safe_load((ROOT / "deploy/prefect.yaml").read_text())["deployments"]}
        assert {d["name"] for d in _post(f"{api}/deployments/filter")} == declared
        automations = [a["name"] for a in _post(f"{api}/automations/filter")]
        assert sorted(a for a in automations if str(a).startswith("mcn: ")) == sorted(automations)
        assert len(automations) == 4

        check = subprocess.run([str(MCN), "up", "--check"], env=env, capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, check.stdout + check.stderr
        for service in ("prefect", "worker", "sandbox", "dashboard"):
            assert any(service in line and "running" in line for line in check.stdout.splitlines()), check.stdout
        assert "not running" not in check.stdout

        again = subprocess.run([str(MCN), "up"], env=env, capture_output=True, text=True, timeout=60)
        assert again.returncode == 2 and "already running" in again.stderr, again.stderr

        # A service that dies is restarted: kill -9 the sandbox, it comes back on its port and --check counts it.
        def sandbox_pid() -> int:
            state = json.loads((data / "up.json").read_text())
            return int(next(s["pid"] for s in state["services"] if s["name"] == "sandbox"))

        killed = sandbox_pid()
        os.kill(killed, signal.SIGKILL)
        _wait(lambda: any("sandbox exited with code -9 (SIGKILL)" in line for line in lines), 30, "the restart line")
        _wait(lambda: sandbox_pid() != killed and alive(sandbox_pid()), 30, "the sandbox's new process")
        _wait(lambda: _answers(f"http://127.0.0.1:{sandbox_port}/login"), 120, "the restarted sandbox to answer")
        assert not alive(killed)
        wide = {**env, "COLUMNS": "250"}
        check = subprocess.run([str(MCN), "up", "--check"], env=wide, capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, check.stdout + check.stderr
        row = next(line for line in check.stdout.splitlines() if re.search(r"\bsandbox\b", line))
        assert "running" in row and "1 (last exit -9)" in row, check.stdout
        restart_line = next(line for line in lines if "sandbox exited with" in line).strip()

        # The hour's publish-due run is running on the worker (a flow-run process below mcn up).
        def running() -> bool:
            runs = _post(f"{api}/flow_runs/filter", {"flow_runs": {"state": {"type": {"any_": ["RUNNING"]}}}})
            return any(str(r["name"]).startswith("publish-due ") for r in runs)

        _wait(running, 180, "the publish-due run")
        tree = descendants(proc.pid)
        assert len(tree) >= 5, tree  # server, worker, sandbox, dashboard, the flow run

        began = time.monotonic()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=STOP_DEADLINE + 30) == 0, "".join(lines)
        stopped = time.monotonic() - began
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    ready = next(line for line in lines if "mcn up: ready" in line).strip()
    print(f"{ready}; {restart_line}; stopped {stopped:.1f} s after SIGINT")  # the figures, with pytest -s
    assert stopped < STOP_DEADLINE, f"stopping took {stopped:.1f} s"
    survivors = [pid for pid in tree if alive(pid)]
    assert survivors == [], survivors
    assert "cancelled 1 publish-due run" in "".join(lines)

    after = subprocess.run([str(MCN), "up", "--check"], env=env, capture_output=True, text=True, timeout=60)
    assert after.returncode == 1 and "not running" in after.stderr
    # The Prefect database (in the data dir by default) records the run as Cancelled, not Crashed.
    with sqlite3.connect(data / "prefect" / "prefect.db") as db:
        states = db.execute(
            "SELECT flow_run.state_type FROM flow_run JOIN deployment ON flow_run.deployment_id = deployment.id "
            "WHERE deployment.name = 'publish-due' AND flow_run.state_type != 'SCHEDULED'"
        ).fetchall()
    assert states == [("CANCELLED",)], states


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_crashing_service_restarts_with_growing_delays_and_is_given_up_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rich.console import Console

    from mcn.supervisor import RestartPolicy, Restarts, Service, spawn, supervise

    policy = RestartPolicy(first_delay=0.1, max_delay=0.25, stable_after=0.8, give_up_after=4)
    err = Console(stderr=True, soft_wrap=True, highlight=False)

    def run(argv: tuple[str, ...], until: Callable[[Restarts], bool]) -> tuple[Restarts, list[float], list[int]]:
        item = spawn(Service("flaky", argv), os.environ, tmp_path)
        item.restarts = Restarts.begin(time.monotonic(), policy)
        delays: list[float] = []
        pids = [item.proc.pid] if item.proc else []
        end = time.monotonic() + 60
        while not until(item.restarts) and time.monotonic() < end:
            waiting = item.restarts.restart_at
            supervise([item], os.environ, tmp_path, policy, err)
            if waiting is None and item.restarts.restart_at is not None and item.restarts.last_delay is not None:
                delays.append(item.restarts.last_delay)
            if item.proc is not None and item.proc.pid not in pids:
                pids.append(item.proc.pid)
            time.sleep(0.02)
        return item.restarts, delays, pids

    # exits at once with code 3: restarted after 0.1, 0.2, 0.25 (capped) s, then left down at the 4th crash
    quick, delays, pids = run((sys.executable, "-c", "import sys; sys.exit(3)"), lambda r: r.gave_up)
    assert quick.gave_up and quick.count == 3 and quick.last_exit == 3 and quick.state == "gave up"
    assert len(delays) == 3 and len(set(pids)) == 4
    assert delays == pytest.approx([0.1, 0.2, 0.25])
    text = capsys.readouterr().err
    assert text.count("flaky exited with code 3") == 4
    assert "restarting in 0.1 s" in text and "restarting in 0.2 s" in text and "restarting in 0.25 s" in text
    assert "4 times in a row within 0.8 s of starting: not restarting it again" in text

    # a run longer than stable_after resets the delay: it is never given up on
    stable, delays, _ = run(
        (sys.executable, "-c", "import sys, time; time.sleep(1.0); sys.exit(4)"), lambda r: r.count >= 2
    )
    assert not stable.gave_up and stable.quick_crashes == 0 and stable.last_exit == 4
    assert delays == pytest.approx([0.1, 0.1]), delays
    assert re.search(r"flaky exited with code 4 after \d+ s: restarting in 0\.1 s", capsys.readouterr().err)


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return {**env, "MCN_DATA_DIR": str(tmp_path / "data"), **extra}


def test_mcn_up_on_a_busy_port_fails_with_one_line_before_starting_anything(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [str(MCN), "up", "--prefect-port", str(port)],
            env=_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"error: port {port} on 127.0.0.1 is in use: pass --prefect-port, or set PREFECT_API_URL to use the Prefect "
        "server already there"
    ]
    assert not (tmp_path / "data" / "up.json").exists() and not (tmp_path / "data" / "logs" / "prefect.log").exists()


def test_mcn_up_with_a_prefect_api_url_that_does_not_answer_says_so_and_leaves_nothing_running(tmp_path: Path) -> None:
    api = f"http://127.0.0.1:{_free_port()}/api"
    done = subprocess.run(
        [str(MCN), "up"], env=_env(tmp_path, PREFECT_API_URL=api), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1, done.stderr
    assert f"error: PREFECT_API_URL {api}: the Prefect server does not answer" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "data" / "up.json").exists()
    check = subprocess.run([str(MCN), "up", "--check"], env=_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert check.returncode == 1 and "mcn up is not running" in check.stderr


def test_check_shows_restarts_and_a_service_given_up_on(tmp_path: Path) -> None:
    from mcn.up import check_up

    data = tmp_path / "data"
    data.mkdir()
    services = [
        {"name": "console", "pid": os.getpid(), "url": "http://127.0.0.1:1/", "health_url": None, "log": "c.log"},
        {"name": "sandbox", "pid": None, "url": None, "health_url": None, "log": "s.log"},
        {"name": "dashboard", "pid": None, "url": None, "health_url": None, "log": "d.log"},
    ]
    services[0].update(state="running", restarts=2, last_exit=-9)
    services[1].update(state="gave up", restarts=4, last_exit=3)
    services[2].update(state="restarting", restarts=1, last_exit=1)
    state = {
        "pid": os.getpid(),
        "started_at": "2026-12-01T00:00:00+00:00",
        "data_dir": str(data),
        "prefect_api": "http://127.0.0.1:1/api",
        "prefect_ui": "http://127.0.0.1:1",
        "services": services,
    }
    (data / "up.json").write_text(json.dumps(state))
    statuses, why = check_up(data)
    assert why is None
    by_name = {s.name: s for s in statuses}
    assert by_name["console"].running and (by_name["console"].restarts, by_name["console"].last_exit) == (2, -9)
    gave_up = by_name["sandbox"]
    assert not gave_up.running and gave_up.restarts == 4
    assert gave_up.detail == "gave up after repeated crashes (code 3); see s.log"
    assert not by_name["dashboard"].running and "restarting" in by_name["dashboard"].detail
