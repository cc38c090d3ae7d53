"""CPU seconds per idle minute of the publish-due dispatcher: a fresh process per pass vs the all-day loop.

Both ways run for real: a Prefect server (``prefect server start`` on a free port, its own PREFECT_HOME), a process
work pool with one worker, and an mcn database with nothing due. Measured for ``--minutes`` each, after a
warm-up, as CPU time (user + system, from /proc) of the worker's process tree (it waits for its flow-run
processes, so their time is counted when they end) and of the server's tree:

* baseline: the old deployment, flow ``publish-due-pass`` on a 60-second interval schedule: one new flow-run
  process per minute (``python -m prefect.engine``, which imports Prefect and mcn and runs one pass).
* loop: deployment ``publish-due`` (flow ``publish_due_loop``): one long-lived flow-run process running a pass
  every 60 s in-process.

    .venv/bin/python bench/bench_publish_due_idle.py            # 3 minutes each
    .venv/bin/python bench/bench_publish_due_idle.py --minutes 5

Prints CPU seconds per idle minute for both and the ratio (target: the loop well under 1 s per minute).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mcn.procs import descendants, tree_cpu_seconds  # noqa: E402

POOL = "bench-idle"
DEPLOYMENTS = f"""
name: bench-idle
pull:
  - prefect.deployments.steps.set_working_directory:
      directory: "{ROOT}"
deployments:
  - name: baseline
    entrypoint: flows/publish_due.py:publish_due_flow
    work_pool: {{name: {POOL}}}
    schedules: [{{interval: 60}}]
  - name: loop
    entrypoint: flows/publish_due.py:publish_due_loop
    work_pool: {{name: {POOL}}}
    parameters: {{interval_seconds: 60, window_minutes: 1440}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return
        time.sleep(1.0)
    raise SystemExit(f"timed out waiting for {what}")


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def prefect(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "prefect", "--no-prompt", *args], env=env, cwd=ROOT, check=True, capture_output=True
    )


def runs_in_state(api: str, deployment: str, states: list[str]) -> int:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[deployment])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType(s) for s in states]))
            ),
        )
    return len(runs)


def stop_schedule(name: str) -> None:
    """Pause a deployment and drop its scheduled runs."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterDeploymentId,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(name)
        client.pause_deployment(deployment.id)
        for run in client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                deployment_id=FlowRunFilterDeploymentId(any_=[deployment.id]),
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])),
            )
        ):
            client.delete_flow_run(run.id)


def measure(worker: subprocess.Popen[bytes], server: subprocess.Popen[bytes], minutes: float) -> tuple[float, float]:
    """CPU seconds per minute of the worker's tree and the server's tree over ``minutes``."""
    w0, s0 = tree_cpu_seconds(worker.pid), tree_cpu_seconds(server.pid)
    time.sleep(minutes * 60)
    w1, s1 = tree_cpu_seconds(worker.pid), tree_cpu_seconds(server.pid)
    return (w1 - w0) / minutes, (s1 - s0) / minutes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="measured minutes per way (after a warm-up)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-idle-"))
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp / "prefect"),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "MCN_DATA_DIR": str(tmp / "mcn-data"),
    }
    os.environ.update(env)
    (tmp / "prefect.yaml").write_text(DEPLOYMENTS)
    procs: list[subprocess.Popen[bytes]] = []
    log = (tmp / "log.txt").open("wb")
    try:
        server = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=log, stderr=log, start_new_session=True,
        )  # fmt: skip
        procs.append(server)
        wait_for(lambda: answers(f"{api}/health"), 180, "the Prefect server")
        from mcn.db import get_engine

        get_engine()  # create and migrate the (empty) database: nothing is due
        prefect(env, "work-pool", "create", POOL, "--type", "process")
        prefect(env, "deploy", "--all", "--prefect-file", str(tmp / "prefect.yaml"))
        worker = subprocess.Popen(
            [sys.executable, "-m", "prefect", "worker", "start", "--pool", POOL],
            env=env, stdout=log, stderr=log, start_new_session=True, cwd=ROOT,
        )  # fmt: skip
        procs.append(worker)

        # Baseline: wait for the first scheduled pass to finish, then measure.
        wait_for(lambda: runs_in_state(api, "baseline", ["COMPLETED"]) >= 1, 240, "the first baseline pass")
        before, before_server = measure(worker, server, args.minutes)
        passes = runs_in_state(api, "baseline", ["COMPLETED"])
        print(
            f"baseline: {before:.2f} s/min worker tree, {before_server:.2f} s/min server ({passes} passes)", flush=True
        )
        stop_schedule("publish-due-pass/baseline")
        wait_for(lambda: runs_in_state(api, "baseline", ["RUNNING", "PENDING"]) == 0, 120, "the last baseline pass")

        # Loop: one run; measure once it has started and done its first pass.
        start_cpu = tree_cpu_seconds(worker.pid)
        prefect(env, "deployment", "run", "publish-due/loop")
        wait_for(lambda: runs_in_state(api, "loop", ["RUNNING"]) == 1, 240, "the loop run")
        time.sleep(30)
        startup = tree_cpu_seconds(worker.pid) - start_cpu
        after, after_server = measure(worker, server, args.minutes)
    finally:
        for proc in reversed(procs):
            for pid in [proc.pid, *descendants(proc.pid)]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, 15)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()
    print(f"idle publish-due, CPU seconds per minute over {args.minutes:g} min each (worker tree / server tree):")
    print(f"  baseline: new flow-run process per minute   {before:6.2f} s / {before_server:5.2f} s  ({passes} passes)")
    print(f"  loop: one long-lived run, pass in-process   {after:6.2f} s / {after_server:5.2f} s")
    amortised = after + startup / 60  # one run per hour window
    print(f"  loop start-up (process, imports, first pass; once per hourly run): {startup:.2f} s")
    print(f"  loop incl. its hourly start-up: {amortised:.2f} s per minute")
    print(f"  ratio (worker tree, start-up included): {before / max(amortised, 1e-9):.1f}x less CPU per idle minute")
    print(f"  ratio (worker + server): {(before + before_server) / max(after + after_server, 1e-9):.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
