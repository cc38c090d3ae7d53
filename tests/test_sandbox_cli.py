"""``mcn sandbox serve`` as a real process: starts on loopback, prints a generated admin token, keeps its state
across restarts; plus the boundaries (no Prefect in the sandbox, nobody in mcn reads the oracle)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
from typer.testing import CliRunner

from mcn.cli import app
from sandbox.process import spawn_sandbox

ROOT = Path(__file__).resolve().parents[1]


def serve(data_dir: Path, log: Path, token: str | None, *extra: str) -> AbstractContextManager[str]:
    """Run ``python -m sandbox serve`` (the same Typer app ``mcn sandbox`` mounts) until the block ends."""
    return spawn_sandbox(data_dir, token, "--clock", "manual", *extra, log=log)


def test_serve_prints_a_token_binds_loopback_and_keeps_state(tmp_path: Path) -> None:
    data = tmp_path / "state"
    log = tmp_path / "first.log"
    with serve(data, log, None, "--seed", "3", "--error-rate", "1") as url:
        match = re.search(r"admin token \(generated.*\): (\S+)", log.read_text())
        assert match, log.read_text()
        token = match.group(1)
        headers = {"Authorization": f"Bearer {token}"}
        made = httpx.post(f"{url}/api/admin/accounts", json={"handle": "keeper"}, headers=headers).json()
        clock = httpx.post(f"{url}/api/admin/clock", json={"advance_days": 2}, headers=headers).json()
        faulted = httpx.get(f"{url}/api/v1/account", headers={"Authorization": f"Bearer {made['api_token']}"})
        assert faulted.status_code == 503 and faulted.json()["error"] == "server_error"  # --error-rate 1
    first_log = log.read_text()
    assert made["password"] not in first_log and made["api_token"] not in first_log  # secrets never logged
    assert "127.0.0.1" in first_log
    fixed = "fixed-admin-token-for-restart"
    with serve(data, tmp_path / "second.log", fixed) as url:
        headers = {"Authorization": f"Bearer {fixed}"}
        assert "admin token" not in (tmp_path / "second.log").read_text()
        handles = [a["handle"] for a in httpx.get(f"{url}/api/admin/accounts", headers=headers).json()["accounts"]]
        assert handles == ["keeper"]
        assert httpx.get(f"{url}/api/admin/clock", headers=headers).json() == clock
        me = httpx.get(f"{url}/api/v1/account", headers={"Authorization": f"Bearer {made['api_token']}"})
        assert me.json()["handle"] == "keeper"
    assert (data / "sandbox.db").is_file()


def test_cli_is_mounted_on_mcn_and_rejects_bad_options(tmp_path: Path) -> None:
    runner = CliRunner()
    help_text = runner.invoke(app, ["sandbox", "serve", "--help"], env={"COLUMNS": "250", "TERMINAL_WIDTH": "250"})
    assert help_text.exit_code == 0
    for flag in (
        "--host",
        "--port",
        "--seed",
        "--error-rate",
        "--slow-rate",
        "--timeout-rate",
        "--spam-rate",
        "--settle-delay",
        "--session-ttl-hours",
        "--daily-cap",
        "--min-interval",
    ):
        assert flag in help_text.output
    for args, message in (
        (["--clock", "sideways"], "--clock must be running or manual"),
        (["--settle-delay", "weibull:1"], "bad delay distribution"),
        (["--admin-token", "short"], "at least 16 characters"),
    ):
        result = runner.invoke(app, ["sandbox", "serve", "--data-dir", str(tmp_path), *args])
        assert result.exit_code == 2 and message in result.output, result.output
        assert "Traceback" not in result.output


def test_sandbox_never_imports_prefect_and_mcn_never_reads_the_oracle() -> None:
    code = (
        "import sys, sandbox.app, sandbox.cli, sandbox.server, sandbox.browser, sandbox.api, sandbox.pages; "
        "assert not [m for m in sys.modules if m.split('.')[0] == 'prefect'], 'prefect imported'"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    for package in ("mcn", "clipper", "flows", "accounts", "publisher", "analytics"):
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            assert "oracle" not in text.lower(), f"{path} mentions the sandbox oracle (evaluation only)"


def test_serve_refuses_a_non_loopback_host_without_allow_remote(tmp_path: Path) -> None:
    runner = CliRunner()
    for host in ("0.0.0.0", "192.0.2.7", "sandbox.example"):
        result = runner.invoke(app, ["sandbox", "serve", "--host", host, "--data-dir", str(tmp_path / "never")])
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and "--allow-remote" in lines[0] and host in lines[0], result.output
        assert not (tmp_path / "never").exists()  # refused before anything is created
    short = runner.invoke(
        app,
        ["sandbox", "serve", "--host", "0.0.0.0", "--allow-remote", "--data-dir", str(tmp_path)],
        env={"MCN_SANDBOX_APPROVAL_SECRET": "short"},
    )
    assert short.exit_code == 2 and "approval secret must be at least 16" in short.output, short.output


def _approve(url: str, challenge: str, handle: str, secret: str | None) -> httpx.Response:
    form = {"handle": handle, "action": "approve", **({"secret": secret} if secret is not None else {})}
    return httpx.post(f"{url}/qr/{challenge}", data=form)


def _new_challenge(url: str) -> str:
    page = httpx.get(f"{url}/login").text
    match = re.search(r'data-testid="qr-approve-link" href="/qr/([^"]+)"', page)
    assert match, page
    return match.group(1)


def test_allow_remote_serves_every_interface_and_qr_approval_needs_the_printed_secret(tmp_path: Path) -> None:
    log = tmp_path / "remote.log"
    admin_token = "remote-admin-token-0123456789"
    with serve(tmp_path / "state", log, admin_token, "--host", "0.0.0.0", "--allow-remote") as url:
        text = log.read_text()
        assert "reachable from other machines" in text
        match = re.search(r"QR approval secret \(generated.*\): (\S+)", text)
        assert match, text
        secret = match.group(1)
        headers = {"Authorization": f"Bearer {admin_token}"}
        assert httpx.post(f"{url}/api/admin/accounts", json={"handle": "far_away"}, headers=headers).is_success
        challenge = _new_challenge(url)
        assert 'data-testid="approve-secret"' in httpx.get(f"{url}/qr/{challenge}").text  # the phone page asks
        for wrong in (None, "", "sbx-approve-guessed-wrong-value", "far_away"):
            refused = _approve(url, challenge, "far_away", wrong)
            assert refused.status_code == 403 and 'data-error-code="approval_secret_required"' in refused.text
            assert httpx.get(f"{url}/login/qr/{challenge}/status").json() == {"status": "pending"}
        denied = httpx.post(f"{url}/qr/{challenge}", data={"action": "deny"})  # denying needs it too
        assert denied.status_code == 403
        approved = _approve(url, challenge, "far_away", secret)
        assert approved.status_code == 200 and "far_away" in approved.text
        assert httpx.get(f"{url}/login/qr/{challenge}/status").json() == {"status": "approved"}
        second = _new_challenge(url)  # the admin token also answers a code
        assert _approve(url, second, "far_away", admin_token).status_code == 200
    assert admin_token not in log.read_text()
