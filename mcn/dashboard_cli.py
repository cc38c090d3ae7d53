"""``mcn dashboard``: serve the GMV dashboard (analytics/dashboard.py) with Streamlit (registered in :mod:`mcn.cli`)."""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import Annotated

import typer

from mcn.llm_server import is_loopback
from mcn.terminal import fail, out


def streamlit_command(host: str, port: int) -> list[str]:
    """The ``streamlit run`` command line for the dashboard on ``host:port`` (headless, no usage statistics, no
    file watcher: the operator's dashboard, not a development server)."""
    spec = importlib.util.find_spec("analytics.dashboard")
    if spec is None or spec.origin is None:
        raise fail("analytics.dashboard is missing from this installation; reinstall mcn", code=2)
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        spec.origin,
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
        "--global.developmentMode",
        "false",
        "--client.toolbarMode",
        "viewer",
    ]


def dashboard_command(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to serve on.")] = 8501,
    host: Annotated[
        str, typer.Option(help="Interface to bind; off loopback it needs MCN_DASHBOARD_PASSWORD.")
    ] = "127.0.0.1",
) -> None:
    """Serve the GMV dashboard (GMV, settled commission, funnel, refunds, top/bottom posts, the policy's posterior
    and tomorrow's allocation, unattributed orders) for the database in MCN_DATABASE_URL. Off loopback it asks for
    the password in MCN_DASHBOARD_PASSWORD and refuses to start without one."""
    from mcn.db import get_engine
    from mcn.settings import get_settings

    if not is_loopback(host.strip("[]")) and get_settings().dashboard_password is None:
        raise fail(
            f"--host {host} is off loopback: set MCN_DASHBOARD_PASSWORD so the dashboard asks for it, or serve on "
            "127.0.0.1",
            code=2,
        )
    if importlib.util.find_spec("streamlit") is None:
        raise fail("the dashboard needs streamlit: pip install 'mcn[dashboard]'", code=2)
    get_engine()  # an unreachable database is one line here (the root group), not an error inside the page
    command = streamlit_command(host, port)
    shown = f"[{host}]" if ":" in host else host
    out.print(f"GMV dashboard on http://{shown}:{port}/ (Ctrl+C stops it)", highlight=False)
    sys.stdout.flush()
    # replace this process, so that a signal to `mcn dashboard` reaches the server itself
    os.execv(command[0], command)
