"""``mcn sandbox``: run the sandbox platform.

``mcn sandbox serve`` binds 127.0.0.1:8700 unless told otherwise, keeps its state in ``./sandbox-data`` (or
``MCN_SANDBOX_DIR``), and prints a generated admin token when none is configured (``MCN_SANDBOX_ADMIN_TOKEN``).
Another interface needs ``--allow-remote``; QR approval then asks for a secret (``MCN_SANDBOX_APPROVAL_SECRET`` or
one generated and printed at start), since it is password-less.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, cast

import typer
from rich.console import Console

sandbox_app = typer.Typer(
    help="The sandbox platform: a local short-video platform with an affiliate program.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True, soft_wrap=True)  # never break a URL or the token across lines


@sandbox_app.callback()
def _group() -> None:
    """The sandbox platform: a local short-video platform with an affiliate program."""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@sandbox_app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind; loopback unless you mean otherwise.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8700,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the market model (hidden appeals, per-post noise).")] = 0,
    data_dir: Annotated[
        Path, typer.Option(envvar="MCN_SANDBOX_DIR", help="Database and uploaded files (separate from mcn's).")
    ] = Path("./sandbox-data"),
    admin_token: Annotated[
        str | None,
        typer.Option(
            envvar="MCN_SANDBOX_ADMIN_TOKEN", help="Token for /api/admin (prefer the env variable).", show_default=False
        ),
    ] = None,
    clock: Annotated[
        str | None, typer.Option(help="running (wall-clock speed) or manual (moves only when advanced).")
    ] = None,
    start: Annotated[
        str | None, typer.Option(help="Simulated start 'YYYY-MM-DD HH:MM' (UTC+8) for a new database.")
    ] = None,
    daily_cap: Annotated[int, typer.Option(min=1, help="Posts per account per day.")] = 15,
    min_interval: Annotated[float, typer.Option(min=0, help="Seconds between two posts of one account.")] = 600.0,
    max_upload_mb: Annotated[float, typer.Option(min=0.01, help="Largest accepted video file.")] = 256.0,
    session_ttl_hours: Annotated[float, typer.Option(min=0.001, help="Web session lifetime (simulated).")] = 72.0,
    settle_delay: Annotated[
        str,
        typer.Option(
            help="Pay-to-settle delay in days: fixed:D, uniform:A:B, exponential:M, gamma:M:K, lognormal:MEDIAN:SIGMA."
        ),
    ] = "gamma:8:4",
    error_rate: Annotated[float, typer.Option(min=0, max=1, help="Share of requests answered 503.")] = 0.0,
    slow_rate: Annotated[float, typer.Option(min=0, max=1, help="Share of requests delayed by --slow-seconds.")] = 0.0,
    slow_seconds: Annotated[float, typer.Option(min=0, max=600)] = 2.0,
    timeout_rate: Annotated[
        float, typer.Option(min=0, max=1, help="Share of requests handled, then answered 504 after --timeout-seconds.")
    ] = 0.0,
    timeout_seconds: Annotated[float, typer.Option(min=0, max=600)] = 30.0,
    spam_rate: Annotated[
        float, typer.Option(min=0, max=1, help="Share of publishes refused with spam_risk_too_many_posts.")
    ] = 0.0,
    access_log: Annotated[bool, typer.Option(help="Log each request line (never headers or bodies).")] = False,
    allow_remote: Annotated[
        bool,
        typer.Option(
            "--allow-remote", help="Allow a --host off loopback (QR approval then needs the approval secret)."
        ),
    ] = False,
    approval_secret: Annotated[
        str | None,
        typer.Option(
            envvar="MCN_SANDBOX_APPROVAL_SECRET",
            help="Secret the QR approval page asks for (generated off loopback; prefer the env variable).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Start the sandbox platform (creator pages, account API, admin API) until Ctrl-C."""
    from dataclasses import replace

    import uvicorn

    from sandbox.app import create_app
    from sandbox.clock import parse_time
    from sandbox.config import (
        ClockMode,
        DelayDistribution,
        Faults,
        MarketParams,
        Rules,
        SandboxConfig,
        new_admin_token,
        new_approval_secret,
    )

    remote = not _is_loopback(host)
    if remote and not allow_remote:
        # Password-less QR approval and the admin API must not face a network by accident.
        raise _fail(f"--host {host} is not loopback: pass --allow-remote to serve other machines on purpose")
    if clock not in (None, "running", "manual"):
        raise _fail(f"--clock must be running or manual (got {clock!r})")
    generated = admin_token is None
    token = admin_token or new_admin_token()
    secret_generated = remote and approval_secret is None
    secret = new_approval_secret() if secret_generated else approval_secret
    try:
        start_at = parse_time(start) if start else None
        rules = Rules(
            daily_cap=daily_cap,
            min_interval_seconds=min_interval,
            max_upload_bytes=int(max_upload_mb * 1024 * 1024),
            session_ttl_seconds=session_ttl_hours * 3600,
        )
        faults = Faults(
            error_rate=error_rate,
            slow_rate=slow_rate,
            slow_seconds=slow_seconds,
            timeout_rate=timeout_rate,
            timeout_seconds=timeout_seconds,
            spam_rate=spam_rate,
        )
        market = replace(MarketParams(), settle_delay=DelayDistribution.parse(settle_delay))
        config = SandboxConfig(
            data_dir=data_dir.expanduser().resolve(),
            admin_token=token,
            approval_secret=secret,
            seed=seed,
            clock_mode=cast(ClockMode | None, clock),
            clock_start=start_at,
            rules=rules,
            faults=faults,
            market=market,
        ).validate()
    except ValueError as exc:
        raise _fail(str(exc)) from None
    if remote:
        console.print(f"[yellow]warning:[/yellow] binding {host}: the sandbox is reachable from other machines")
    app = create_app(config)
    console.print(
        f"sandbox platform on http://{host}:{port}  (data in {config.data_dir}, seed {seed})", highlight=False
    )
    console.print(
        f"  creator pages: http://{host}:{port}/login   API docs: http://{host}:{port}/api/docs", highlight=False
    )
    if generated:
        # Printed once to the operator's terminal (not a log): the demo needs it to create accounts.
        console.print(f"  admin token (generated; set MCN_SANDBOX_ADMIN_TOKEN to fix it): {token}", highlight=False)
    if secret_generated:
        console.print(
            f"  QR approval secret (generated; set MCN_SANDBOX_APPROVAL_SECRET to fix it): {secret}", highlight=False
        )
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=access_log)


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(2)
