"""``mcn up``: everything a working day needs, on embedded defaults, until Ctrl-C.

In order: a Prefect server (``prefect server start`` on ``--host``/``--prefect-port``, its database under
``<data dir>/prefect`` unless ``PREFECT_HOME`` is set; or the server at ``PREFECT_API_URL``), then at once the
work pool ``mcn-process``, every deployment of ``deploy/prefect.yaml`` (``prefect deploy --all``, so the file
stays the one truth), the automations (:mod:`mcn.automations`) and the registered services: one process worker
for the pool, the sandbox platform when it is configured, the GMV dashboard (``mcn dashboard``, when streamlit is
installed) and whatever else registers (:func:`register_service`: the console will). Then it starts the hour's
``publish-due`` run if none is running, prints the URLs and waits.

Ctrl-C (or SIGTERM) stops everything: the ``publish-due`` run of this worker is cancelled (it ends Cancelled, not
Crashed), the services stop in reverse order (SIGTERM to their process groups, SIGKILL after ``stop_timeout``),
and every process left below ``mcn up`` is ended too: it is a child subreaper, so nothing it started survives as
an orphan. Its children also die with it if it is killed outright (``PR_SET_PDEATHSIG``).

Once the stack is up, a service that exits on its own (a crash, ``kill -9``) is restarted (:mod:`mcn.supervisor`):
one line per restart with its exit code, after 1 s, then 2 s, 4 s ... (capped at a minute) while it keeps
crashing within a minute of starting; a minute of stable running resets the delay. After 5 quick crashes in a row
it is left down with a message naming its log (``<data dir>/logs/<service>.log``); the rest keeps running. During
startup a service that exits still stops the stack with its name and log.

``mcn up --check`` reads ``<data dir>/up.json`` and asks every service (process alive, health URL, the worker
online in the pool), with how often each was restarted: exit 0 when all run.
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import httpx
import typer
from rich.console import Console
from rich.table import Table

from mcn.procs import alive, descendants
from mcn.supervisor import RestartPolicy, Restarts, Service, exit_text
from mcn.supervisor import Running as _Running
from mcn.supervisor import signal_tree as _signal_tree
from mcn.supervisor import spawn as _spawn
from mcn.supervisor import stop as _stop
from mcn.supervisor import supervise as _supervise
from mcn.supervisor import sweep as _sweep

ROOT = Path(__file__).resolve().parents[1]  # the checkout with flows/ and deploy/ (the worker's MCN_HOME)
PREFECT_FILE = ROOT / "deploy" / "prefect.yaml"
POOL = "mcn-process"  # the work pool deploy/prefect.yaml names
PUBLISH_DEPLOYMENT = "publish-due/publish-due"
STATE_FILE = "up.json"
_PR_SET_PDEATHSIG, _PR_SET_CHILD_SUBREAPER = 1, 36

out = Console(soft_wrap=True, highlight=False)  # URLs are never broken across lines
err = Console(stderr=True, soft_wrap=True, highlight=False)


class UpError(RuntimeError):
    """``mcn up`` cannot start or keep running; ``str()`` is one line naming what and why."""


@dataclass(frozen=True, slots=True)
class UpOptions:
    """How ``mcn up`` runs.

    Attributes:
        host: interface the Prefect server binds (loopback unless you mean otherwise).
        prefect_port: its port (when ``PREFECT_API_URL`` is not set).
        sandbox: start the sandbox platform: ``None`` when sandbox accounts exist and ``MCN_SANDBOX_URL`` is a
            loopback address nobody answers on yet.
        dashboard_port: port of the GMV dashboard (when streamlit is installed); ``None``: no dashboard.
        startup_timeout: seconds for the server, the deployments and the services to come up.
        stop_timeout: seconds a service gets to stop after SIGTERM before SIGKILL.
        restart: how a service that exits once the stack is up is restarted (:class:`RestartPolicy`).
    """

    host: str = "127.0.0.1"
    prefect_port: int = 4200
    sandbox: bool | None = None
    dashboard_port: int | None = 8501
    startup_timeout: float = 240.0
    stop_timeout: float = 15.0
    restart: RestartPolicy = field(default_factory=RestartPolicy)


@dataclass(frozen=True, slots=True)
class Stack:
    """What a service builder sees: the options, the data dir, the environment every child gets, the API URL."""

    options: UpOptions
    data_dir: Path
    env: Mapping[str, str]
    prefect_api: str


ServiceBuilder = Callable[[Stack], Service | None]
_SERVICES: dict[str, ServiceBuilder] = {}


def register_service(name: str, builder: ServiceBuilder) -> None:
    """Add a service that ``mcn up`` starts after Prefect (in registration order; ``None`` from the builder
    skips it). The console and the GMV dashboard register theirs here."""
    _SERVICES[name] = builder


def service_names() -> tuple[str, ...]:
    return tuple(_SERVICES)


# -- the built-in services -------------------------------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def worker_name() -> str:
    """The name ``mcn up``'s worker registers in the pool (one per machine)."""
    return f"mcn-up-{socket.gethostname()}"


def _worker(stack: Stack) -> Service:
    name = worker_name()
    return Service(
        name="worker",
        argv=(sys.executable, "-m", "prefect", "worker", "start", "--pool", POOL, "--type", "process", "--name", name),
        note=f"pool {POOL}",
    )


def _sandbox_configured() -> bool:
    from accounts.registry import list_accounts

    return bool(list_accounts(platform="sandbox"))


def _sandbox(stack: Stack) -> Service | None:
    from mcn.settings import get_settings

    wanted = stack.options.sandbox
    if wanted is False:
        return None
    url = get_settings().sandbox_url.rstrip("/")
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    login = f"{url}/login"
    if not _is_loopback(host):
        return None  # someone else's sandbox: nothing to start here
    if _answers(login):
        return Service("sandbox", (), url=login, health_url=login, note="already running (not started by mcn up)")
    if wanted is None and not _sandbox_configured():
        return None
    token = os.environ.get("MCN_SANDBOX_ADMIN_TOKEN")
    note = ""
    if not token:
        token = secrets.token_urlsafe(24)
        note = f"admin token (generated; set MCN_SANDBOX_ADMIN_TOKEN to fix it): {token}"
    argv = (sys.executable, "-c", "from sandbox.cli import sandbox_app; sandbox_app()", "serve")
    return Service(
        name="sandbox",
        argv=(*argv, "--host", host, "--port", str(port)),
        env={"MCN_SANDBOX_ADMIN_TOKEN": token},
        url=login,
        health_url=login,
        note=note,
    )


def _dashboard(stack: Stack) -> Service | None:
    """The GMV dashboard (``mcn dashboard``'s Streamlit command) on the Prefect server's interface."""
    import importlib.util

    from mcn.settings import get_settings

    port, host = stack.options.dashboard_port, stack.options.host
    if port is None or importlib.util.find_spec("streamlit") is None:
        return None
    if not _is_loopback(host) and get_settings().dashboard_password is None:
        raise UpError(f"--host {host} is off loopback: set MCN_DASHBOARD_PASSWORD for the dashboard, or --no-dashboard")
    if not _port_free(host, port):
        raise UpError(f"port {port} on {host} is in use: pass --dashboard-port, or --no-dashboard")
    from mcn.dashboard_cli import streamlit_command

    url = f"http://{host}:{port}"
    return Service("dashboard", tuple(streamlit_command(host, port)), url=f"{url}/", health_url=f"{url}/_stcore/health")


def _console(stack: Stack) -> Service | None:
    """The brands' and operator's console (``mcn console serve``, port ``MCN_CONSOLE_PORT`` or 8600)."""
    from mcn.console_cli import console_service

    return console_service(stack)


register_service("worker", _worker)
register_service("sandbox", _sandbox)
register_service("dashboard", _dashboard)
register_service("console", _console)


# -- processes (mcn.supervisor starts, restarts and stops them) ------------------------------------------------


def _prctl(option: int, value: int) -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(option, value)


def _line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _answers(url: str, timeout: float = 2.0) -> bool:
    try:
        return httpx.get(url, timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _wait(check: Callable[[], bool], deadline: float, what: str, procs: Sequence[_Running] = ()) -> None:
    while not check():
        for running in procs:
            if running.proc is not None and running.proc.poll() is not None:
                raise UpError(f"{running.service.name} exited with code {running.proc.returncode}; see {running.log}")
        if time.monotonic() > deadline:
            raise UpError(f"timed out waiting for {what}")
        time.sleep(0.25)


# -- Prefect setup (in this process) --------------------------------------------------------------------------


def _create_pool() -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists

    with get_client(sync_client=True) as client, contextlib.suppress(ObjectAlreadyExists):
        client.create_work_pool(WorkPoolCreate(name=POOL, type="process"))


def _deployment_names() -> list[str]:
    import yaml

    config = yaml.safe_load(PREFECT_FILE.read_text())
    return [str(d["name"]) for d in config.get("deployments", [])]


def _our_publish_runs(worker_pid: int | None) -> list[Any]:
    """publish-due runs running on this mcn up's worker (another machine's worker keeps its own)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    ours = set(descendants(worker_pid)) if worker_pid else set()
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["publish-due"])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING, StateType.PENDING]))
            ),
        )
    found = []
    for run in runs:
        pid = (run.infrastructure_pid or "").rpartition(":")[2]
        if pid.isdigit() and int(pid) in ours:
            found.append(run)
    return found


def _start_publish_due() -> str:
    """Start this hour's publish-due run unless one is running or about to; drop stale scheduled ones (a run
    whose window ended only ends Cancelled). Returns what it did, for the summary."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterDeploymentId,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.exceptions import ObjectNotFound

    from flows.publish_due import window_of

    with get_client(sync_client=True) as client:
        try:
            deployment = client.read_deployment_by_name(PUBLISH_DEPLOYMENT)
        except ObjectNotFound:
            return "no publish-due deployment"
        window_minutes = float((deployment.parameters or {}).get("window_minutes", 60))
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                deployment_id=FlowRunFilterDeploymentId(any_=[deployment.id]),
                state=FlowRunFilterState(
                    type=FlowRunFilterStateType(any_=[StateType.RUNNING, StateType.PENDING, StateType.SCHEDULED])
                ),
            )
        )
        now = datetime.now(UTC)
        window_start, _ = window_of(now, window_minutes)
        soon, dropped = False, 0
        for run in runs:
            expected = run.expected_start_time
            if run.state_type == StateType.SCHEDULED and expected is not None and expected < window_start:
                client.delete_flow_run(run.id)
                dropped += 1
            elif run.state_type != StateType.SCHEDULED or expected is None or expected <= now + timedelta(minutes=2):
                soon = True
        note = f" ({dropped} stale scheduled runs dropped)" if dropped else ""
        if soon:
            return "publish-due already running" + note
        client.create_flow_run_from_deployment(deployment.id)
        return "publish-due started for this hour" + note


def _cancel_publish_runs(worker_pid: int | None, timeout: float) -> int:
    """Cancel this worker's publish-due run through Prefect (Cancelling: the worker stops the process and records
    it Cancelled; a process killed from outside would be recorded Crashed). Once the process is gone the state
    is made Cancelled here if the worker has not done it yet; after ``timeout``, SIGTERM."""
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelled, Cancelling

    runs = _our_publish_runs(worker_pid)
    pids = {run.id: int((run.infrastructure_pid or "").rpartition(":")[2]) for run in runs}
    with get_client(sync_client=True) as client:
        for run in runs:
            client.set_flow_run_state(run.id, Cancelling(message="mcn up stopped"), force=True)
        end = time.monotonic() + timeout
        open_runs = set(pids)
        while open_runs and time.monotonic() < end:
            for run_id in list(open_runs):
                if alive(pids[run_id]):
                    continue
                state = client.read_flow_run(run_id).state
                if state is None or not state.is_final():
                    client.set_flow_run_state(run_id, Cancelled(message="mcn up stopped"), force=True)
                open_runs.discard(run_id)
            time.sleep(0.25)
    _signal_tree([p for pid in pids.values() if alive(pid) for p in (pid, *descendants(pid))], signal.SIGTERM)
    return len(runs)


def _automations() -> str:
    from mcn.automations import AutomationError, ensure_automations

    try:
        report = ensure_automations()
    except AutomationError as exc:
        return f"not set up: {exc}"
    except Exception as exc:  # noqa: BLE001 - the stack runs without them; the reason is shown, one line
        return f"not set up: {_line(exc)}"
    notify = report.notify or "none (set MCN_NOTIFY_BLOCK to a Prefect notification block)"
    return f"{len(report.names)} (notifications: {notify})"


def _worker_online(api: str, name: str | None = None) -> bool:
    try:
        answer = httpx.post(f"{api}/work_pools/{POOL}/workers/filter", json={}, timeout=3)
    except httpx.HTTPError:
        return False
    if answer.status_code != 200:
        return False
    return any(w.get("status") == "ONLINE" and (name is None or w.get("name") == name) for w in answer.json())


# -- the stack -------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _State:
    pid: int
    started_at: str
    data_dir: str
    prefect_api: str
    prefect_ui: str
    services: list[dict[str, Any]]


def state_path(data_dir: Path) -> Path:
    return data_dir / STATE_FILE


def _read_state(data_dir: Path) -> _State | None:
    try:
        return _State(**json.loads(state_path(data_dir).read_text()))
    except (OSError, ValueError, TypeError):
        return None


@contextlib.contextmanager
def _signals_as_interrupt() -> Iterator[None]:
    """Ctrl-C and SIGTERM both stop the stack (KeyboardInterrupt in the main thread), also where SIGINT came in
    ignored (a shell starts background jobs that way)."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _start_prefect(options: UpOptions, api: str, external: str | None, env: Mapping[str, str], logs: Path) -> _Running:
    ui, health = api.removesuffix("/api"), f"{api}/health"
    if external:
        if not _answers(health, timeout=5):
            raise UpError(f"PREFECT_API_URL {api}: the Prefect server does not answer")
        return _Running(Service("prefect", (), url=ui, health_url=health), None, None)
    argv = (
        sys.executable,
        "-m",
        "prefect",
        "server",
        "start",
        "--host",
        options.host,
        "--port",
        str(options.prefect_port),
    )
    return _spawn(Service("prefect", argv, url=ui, health_url=health), env, logs)


def _start_deploy(env: Mapping[str, str], logs: Path) -> subprocess.Popen[bytes]:
    """``prefect deploy --all`` of deploy/prefect.yaml, in the background (the services start meanwhile)."""
    with (logs / "deploy.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all", "--prefect-file", str(PREFECT_FILE)],
            env=env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _healthy(url: str) -> Callable[[], bool]:
    return lambda: _answers(url)


def run_up(options: UpOptions, data_dir: Path) -> int:
    """Start the stack, print its URLs, wait for Ctrl-C or SIGTERM, stop everything. Returns the exit code
    (0 after a clean stop; 1 when a service died or startup failed, with the reason on one line)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    logs = data_dir / "logs"
    logs.mkdir(exist_ok=True)
    previous = _read_state(data_dir)
    if previous is not None and previous.pid != os.getpid() and alive(previous.pid):
        raise UpError(f"mcn up is already running for {data_dir} (pid {previous.pid}); `mcn up --check` shows it")
    external = os.environ.get("PREFECT_API_URL")
    if not external and not _port_free(options.host, options.prefect_port):
        raise UpError(
            f"port {options.prefect_port} on {options.host} is in use: pass --prefect-port, or set PREFECT_API_URL "
            "to use the Prefect server already there"
        )
    if options.dashboard_port is not None and not _port_free(options.host, options.dashboard_port):
        import importlib.util

        if importlib.util.find_spec("streamlit") is not None:
            raise UpError(
                f"port {options.dashboard_port} on {options.host} is in use: pass --dashboard-port or --no-dashboard"
            )
    if not _is_loopback(options.host):
        err.print(f"[yellow]warning:[/yellow] binding {options.host}: Prefect is reachable from other machines")
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    started = time.monotonic()
    deadline = started + options.startup_timeout
    api = (external or f"http://{options.host}:{options.prefect_port}/api").rstrip("/")
    env = {
        **os.environ,
        "PREFECT_API_URL": api,
        "PREFECT_HOME": os.environ.get("PREFECT_HOME") or str(data_dir / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": os.environ.get("PREFECT_SERVER_ANALYTICS_ENABLED", "false"),
        "MCN_DATA_DIR": str(data_dir),
        "MCN_HOME": str(ROOT),
    }
    os.environ.update(env)  # this process's own Prefect client talks to the same server
    running: list[_Running] = []
    code = 0
    with _signals_as_interrupt():
        try:
            running.append(_start_prefect(options, api, external, env, logs))
            _wait(lambda: _answers(f"{api}/health"), deadline, f"the Prefect server at {api}", running)
            _create_pool()
            deploy = _start_deploy(env, logs)
            stack = Stack(options, data_dir, env, api)
            for name, builder in _SERVICES.items():
                try:
                    service = builder(stack)
                except UpError:
                    raise
                except Exception as exc:  # noqa: BLE001 - e.g. the database cannot be opened: one line, stop
                    raise UpError(f"{name}: {_line(exc)}") from None
                if service is not None:
                    running.append(_spawn(service, env, logs) if service.argv else _Running(service, None, None))
            _wait(lambda: deploy.poll() is not None, deadline, "prefect deploy", running)
            if deploy.returncode != 0:
                raise UpError(f"prefect deploy failed (exit {deploy.returncode}); see {logs / 'deploy.log'}")
            automation_line = _automations()  # after the deployments: "publish-due stalled" starts one
            try:
                publish_line = _start_publish_due()
            except Exception as exc:  # noqa: BLE001 - the hourly schedule starts it anyway; say why not now
                publish_line = f"publish-due not started now: {_line(exc)}"
            for item in running:
                if item.service.health_url:
                    _wait(_healthy(item.service.health_url), deadline, item.service.name, running)
            worker = next((r for r in running if r.service.name == "worker"), None)
            if worker is not None:
                _wait(lambda: _worker_online(api, worker_name()), deadline, "the worker to come online", running)
            elapsed = time.monotonic() - started
            for item in running:  # restarts count from now: a crash during startup stops the stack instead
                item.restarts = Restarts.begin(time.monotonic(), options.restart)
            _write_state(data_dir, api, running)
            _print_ready(elapsed, api, running, automation_line, publish_line, logs)
            while True:
                if _supervise(running, env, logs, options.restart, err):
                    _write_state(data_dir, api, running)
                time.sleep(0.5)
        except KeyboardInterrupt:
            err.print("stopping ...")
        except UpError as exc:
            err.print(f"[red]error:[/red] {exc}")
            code = 1
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup short
            try:
                _shutdown(running, options, data_dir)
            finally:
                signal.signal(signal.SIGINT, signal.default_int_handler)
    return code


def _shutdown(running: list[_Running], options: UpOptions, data_dir: Path) -> None:
    worker = next((r for r in running if r.service.name == "worker" and r.proc is not None), None)
    server_up = any(r.service.name == "prefect" for r in running)
    if worker is not None and worker.proc is not None and worker.proc.poll() is None and server_up:
        with contextlib.suppress(Exception):  # the server may be gone already: then there is nothing to tell it
            cancelled = _cancel_publish_runs(worker.proc.pid, options.stop_timeout)
            if cancelled:
                err.print(f"cancelled {cancelled} publish-due run(s) of this worker")
    for item in reversed(running):
        _stop(item, options.stop_timeout)
    _sweep(5.0)
    with contextlib.suppress(OSError):
        state = _read_state(data_dir)
        if state is not None and state.pid == os.getpid():
            state_path(data_dir).unlink()
    err.print("stopped")


def _write_state(data_dir: Path, api: str, running: list[_Running]) -> None:
    state = _State(
        pid=os.getpid(),
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        data_dir=str(data_dir),
        prefect_api=api,
        prefect_ui=api.removesuffix("/api"),
        services=[
            {
                "name": r.service.name,
                "pid": r.proc.pid if r.proc else None,
                "url": r.service.url,
                "health_url": r.service.health_url,
                "log": str(r.log) if r.log else None,
                "started_here": r.proc is not None,
                "state": r.restarts.state,
                "restarts": r.restarts.count,
                "last_exit": r.restarts.last_exit,
            }
            for r in running
        ],
    )
    path = state_path(data_dir)
    partial = path.with_name(f".{path.name}.tmp")  # --check never reads half a file
    partial.write_text(json.dumps(asdict(state), indent=2))
    partial.replace(path)


def _print_ready(elapsed: float, api: str, running: list[_Running], automations: str, publish: str, logs: Path) -> None:
    out.print(f"mcn up: ready in {elapsed:.1f} s (Ctrl-C stops everything)")
    for item in running:
        where = item.service.url or item.service.note or ""
        pid = f"pid {item.proc.pid}" if item.proc else "not started here"
        out.print(f"  {item.service.name:<12} {where:<40} {pid}")
        if item.service.url and item.service.note:
            out.print(f"  {'':<12} {item.service.note}")
    out.print(f"  {'api':<12} {api}")
    out.print(f"  {'deployments':<12} {', '.join(_deployment_names())} ({publish})")
    out.print(f"  {'automations':<12} {automations}")
    out.print(f"  {'logs':<12} {logs}")
    sys.stdout.flush()


# -- mcn up --check ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    name: str
    running: bool
    detail: str
    pid: int | None
    restarts: int = 0
    last_exit: int | None = None


def check_up(data_dir: Path) -> tuple[list[ServiceStatus], str | None]:
    """What runs of the ``mcn up`` for ``data_dir``: one status per service, or (``[]``, why not)."""
    state = _read_state(data_dir)
    if state is None:
        return [], f"mcn up is not running for {data_dir} (no {STATE_FILE})"
    if not alive(state.pid):
        return [], f"mcn up is not running for {data_dir} (pid {state.pid} is gone)"
    statuses = [ServiceStatus("mcn up", True, f"since {state.started_at}", state.pid)]
    for item in state.services:
        pid = item.get("pid")
        name = str(item["name"])
        process_ok = pid is None or alive(int(pid))
        health = item.get("health_url")
        answers = health is None or _answers(str(health))
        if name == "worker":
            answers = _worker_online(state.prefect_api, worker_name())
        ok = process_ok and answers
        detail = str(item.get("url") or (f"pool {POOL}" if name == "worker" else ""))
        last_exit = item.get("last_exit")
        phase = item.get("state", "running")
        if phase == "gave up":
            ok, detail = False, f"gave up after repeated crashes ({exit_text(last_exit)}); see {item.get('log')}"
        elif phase == "restarting":
            ok, detail = False, f"exited ({exit_text(last_exit)}), restarting; see {item.get('log')}"
        elif not process_ok:
            detail = f"process gone; see {item.get('log')}"
        elif not answers:
            detail = f"{detail} not answering" if name != "worker" else f"not online in pool {POOL}"
        restarts = int(item.get("restarts") or 0)
        statuses.append(ServiceStatus(name, ok, detail, int(pid) if pid else None, restarts, last_exit))
    return statuses, None


# -- the command -------------------------------------------------------------------------------------------------


def up_command(
    check: Annotated[bool, typer.Option("--check", help="Say what is running (exit 0 when everything is).")] = False,
    host: Annotated[str, typer.Option(help="Interface for the Prefect server; loopback unless you mean it.")] = (
        "127.0.0.1"
    ),
    prefect_port: Annotated[int, typer.Option(min=1, max=65535, help="Prefect server port.")] = 4200,
    dashboard_port: Annotated[int, typer.Option(min=1, max=65535, help="GMV dashboard port.")] = 8501,
    dashboard: Annotated[bool, typer.Option(help="Serve the GMV dashboard (when streamlit is installed).")] = True,
    sandbox: Annotated[
        bool | None,
        typer.Option(
            "--sandbox/--no-sandbox", help="Start the sandbox platform (default: when sandbox accounts exist)."
        ),
    ] = None,
) -> None:
    """Start everything a day needs (Prefect server, work pool, deployments, worker, automations, GMV dashboard,
    sandbox) until Ctrl-C; prints the URLs. Uses the server at PREFECT_API_URL when set."""
    from mcn.settings import get_settings

    data_dir = get_settings().resolved_data_dir
    if check:
        statuses, why = check_up(data_dir)
        if why:
            err.print(why)
            raise typer.Exit(1)
        table = Table(title=f"mcn up ({data_dir})")
        for column in ("service", "status", "detail", "pid", "restarts"):
            table.add_column(column)
        for status in statuses:
            mark = "[green]running[/green]" if status.running else "[red]not running[/red]"
            restarts = str(status.restarts)
            if status.restarts and status.last_exit is not None:
                restarts += f" (last exit {status.last_exit})"
            table.add_row(status.name, mark, status.detail, str(status.pid or ""), restarts)
        out.print(table)
        raise typer.Exit(0 if all(s.running for s in statuses) else 1)
    try:
        options = UpOptions(
            host=host, prefect_port=prefect_port, sandbox=sandbox, dashboard_port=dashboard_port if dashboard else None
        )
        code = run_up(options, data_dir)
    except UpError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    raise typer.Exit(code)
