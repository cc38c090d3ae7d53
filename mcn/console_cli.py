"""``mcn console``: serve the console (``serve``) and manage its users (``user add``, ``user list``).

The console core (:mod:`console`) imports no Prefect; this module injects how runs are started: the
``make-clips/make-clips`` deployment through the Prefect client when ``PREFECT_API_URL`` is set and the
deployment exists (``mcn up`` deploys it; a worker of the pool runs it), else the make-clips flow on a thread of
the console's own process, one recording at a time.
"""

from __future__ import annotations

import getpass
import os
from typing import Annotated, Any

import typer

from console.runs import ClipJob, RunProgress, RunSubmitter
from mcn.terminal import fail, out

console_app = typer.Typer(help="The web console for brands and the operator.", no_args_is_help=True)
user_app = typer.Typer(help="Console users (brands and the operator).", no_args_is_help=True)
console_app.add_typer(user_app, name="user")

DEPLOYMENT = "make-clips/make-clips"
PASSWORD_ENV = "MCN_CONSOLE_PASSWORD"
DEFAULT_PORT = 8600


class PrefectDeploymentSubmitter(RunSubmitter):
    """Starts a make-clips deployment run per recording (returns at once; a worker of the pool runs it)."""

    name = "prefect deployment"

    def __init__(self, deployment: str = DEPLOYMENT) -> None:
        self.deployment = deployment

    def submit(self, job: ClipJob) -> str:
        from prefect.deployments import run_deployment

        # _sync: called from a thread that may have an event loop running (Playwright's, uvicorn's threadpool),
        # where Prefect's sync-compatible functions would otherwise hand back a coroutine
        flow_run = run_deployment(
            name=self.deployment,
            parameters=job.parameters(),
            timeout=0,
            _sync=True,  # type: ignore[call-arg]
        )
        return str(flow_run.id)  # type: ignore[union-attr]  # the sync call returns the FlowRun itself

    def progress(self, ref: str) -> RunProgress | None:
        """The run's progress artifact (make-clips updates it during every step, weighted by the real work);
        ``None`` before it exists or when the server does not answer."""
        from uuid import UUID

        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import (
            ArtifactFilter,
            ArtifactFilterFlowRunId,
            ArtifactFilterType,
        )
        from prefect.client.schemas.sorting import ArtifactSort

        try:
            with get_client(sync_client=True) as client:
                found = client.read_artifacts(
                    artifact_filter=ArtifactFilter(
                        flow_run_id=ArtifactFilterFlowRunId(any_=[UUID(ref)]),
                        type=ArtifactFilterType(any_=["progress"]),
                    ),
                    sort=ArtifactSort.UPDATED_DESC,
                    limit=1,
                )
        except Exception:  # noqa: BLE001 - the page shows the run row's state instead
            return None
        if not found or not isinstance(found[0].data, int | float):
            return None
        return RunProgress("overall", float(found[0].data) / 100.0, found[0].description or "")


def make_in_process(job: ClipJob, report: Any) -> None:
    """The clip factory's facade for the thread submitter: the make-clips flow in this process, its step
    progress forwarded to ``report``."""
    from flows.make_clips import make_clips
    from mcn import progress

    progress.set_sink(report)
    try:
        make_clips(**job.parameters(), return_state=True)
    finally:
        progress.set_sink(None)


def deployment_exists(name: str = DEPLOYMENT) -> bool:
    """Whether ``PREFECT_API_URL`` is set and its server knows the deployment ``name``."""
    if not os.environ.get("PREFECT_API_URL"):
        return False
    from prefect.client.orchestration import get_client

    try:
        with get_client(sync_client=True) as client:
            client.read_deployment_by_name(name)
    except Exception:  # noqa: BLE001 - not there, or the server does not answer: run in process instead
        return False
    return True


class AutoSubmitter(RunSubmitter):
    """The Prefect deployment while ``PREFECT_API_URL`` is set and the deployment exists (asked at each submit
    until it is found: under ``mcn up`` the console starts while the deployments are still being made), else the
    make-clips flow on the console's own thread."""

    def __init__(self) -> None:
        from console.runs import ThreadSubmitter

        self._prefect: PrefectDeploymentSubmitter | None = None
        self._thread = ThreadSubmitter(make_in_process)

    @property
    def name(self) -> str:  # type: ignore[override]
        if self._prefect is None and deployment_exists():
            self._prefect = PrefectDeploymentSubmitter()
        return self._prefect.name if self._prefect else self._thread.name

    def submit(self, job: ClipJob) -> str:
        if self._prefect is None and deployment_exists():
            self._prefect = PrefectDeploymentSubmitter()
        return (self._prefect or self._thread).submit(job)

    def progress(self, ref: str) -> RunProgress | None:
        if ref.startswith("thread-"):
            return self._thread.progress(ref)
        return (self._prefect or PrefectDeploymentSubmitter()).progress(ref)


@console_app.command("serve")
def serve_command(
    host: Annotated[str, typer.Option(help="Interface to bind (loopback unless you mean otherwise).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to serve on.")] = DEFAULT_PORT,
    secure_cookies: Annotated[bool, typer.Option(help="Mark cookies Secure (behind an HTTPS proxy).")] = False,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(help="A Host name the console answers for besides loopback ones (repeatable; off loopback)."),
    ] = None,
) -> None:
    """Serve the console: brands upload recordings and review clips; the operator sees clips, the calendar,
    failed posts and accounts. Create users first with `mcn console user add`."""
    import uvicorn

    from console.app import ConsoleOptions, create_console_app
    from console.auth import list_users, load_secret
    from mcn.db import get_engine
    from mcn.review_web import is_loopback_host
    from mcn.settings import get_settings

    get_engine()  # migrate (and fail with one line) before binding
    settings = get_settings()
    hosts = tuple(h.strip().lower() for h in allowed_host or () if h.strip())
    if not is_loopback_host(host):
        hosts = (*hosts, host) if host not in ("0.0.0.0", "::") else hosts
        out.print(f"warning: binding {host}: put the console behind HTTPS (and pass --secure-cookies)")
    data_dir = settings.resolved_data_dir
    options = ConsoleOptions(
        data_dir=data_dir,
        max_upload_bytes=settings.max_download_bytes,
        hosts=hosts,
        secure_cookies=secure_cookies,
        prefect_ui=os.environ.get("PREFECT_API_URL", "").removesuffix("/api") or None,
    )
    submitter = AutoSubmitter()
    app = create_console_app(options, submitter, load_secret(data_dir / "console.key"))
    if not list_users():
        out.print("no console users yet: add one with `mcn console user add NAME --role operator`")
    out.print(f"console on http://{host}:{port}/ (runs: {submitter.name})", highlight=False)
    uvicorn.run(app.app, host=host, port=port, log_level="warning", access_log=False)


@user_app.command("add")
def user_add_command(
    name: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str, typer.Option(help="brand or operator.")] = "brand",
    brand: Annotated[str | None, typer.Option(help="The brand a brand user acts for.")] = None,
) -> None:
    """Add a user (or reset an existing one's password, role and brand). The password is read from
    MCN_CONSOLE_PASSWORD or asked for (never an argument, so it stays out of shell history and process lists)."""
    from console.auth import ConsoleError, add_user

    if role not in ("brand", "operator"):
        raise fail(f"--role {role!r}: must be brand or operator", 2)
    if role == "brand" and not (brand or "").strip():
        raise fail("--brand: a brand user needs the brand it acts for", 2)
    password = os.environ.get(PASSWORD_ENV)
    if password is None:
        password = getpass.getpass(f"password for {name}: ")
        if getpass.getpass("again: ") != password:
            raise fail("the passwords differ", 2)
    try:
        user = add_user(name, role, password, brand)
    except ConsoleError as exc:
        raise fail(str(exc), 2) from None
    out.print(f"console user {user.name} ({user.role}{f', brand {user.brand}' if user.brand else ''}) saved")


@user_app.command("list")
def user_list_command() -> None:
    """List console users (names, roles and brands; never passwords)."""
    from console.auth import list_users

    users = list_users()
    if not users:
        out.print("no console users yet: add one with `mcn console user add NAME --role operator`")
    for user in users:
        out.print(f"{user.name}\t{user.role}\t{user.brand or ''}", highlight=False)


def console_service(stack: Any) -> Any:
    """The console as a service of ``mcn up`` (its own process on the stack's interface, port
    ``MCN_CONSOLE_PORT`` or 8600); runs go to the stack's make-clips deployment."""
    import sys

    from mcn.up import Service, UpError, _port_free

    host = stack.options.host
    port = int(os.environ.get("MCN_CONSOLE_PORT") or DEFAULT_PORT)
    if not _port_free(host, port):
        raise UpError(f"port {port} on {host} is in use: set MCN_CONSOLE_PORT for the console")
    url = f"http://{host}:{port}"
    argv = (sys.executable, "-c", "from mcn.console_cli import console_app; console_app()", "serve")
    return Service(
        name="console",
        argv=(*argv, "--host", host, "--port", str(port)),
        url=f"{url}/",
        health_url=f"{url}/healthz",
        note="users: mcn console user add NAME --role operator|brand",
    )
