"""A database that cannot be opened ends every command that needs it with one line naming the database (password
redacted) and what to check: no traceback, a non-zero exit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mcn.cli import app
from mcn.settings import get_settings

ROOT = Path(__file__).resolve().parents[1]
UNREACHABLE = "postgresql://u:secret@127.0.0.1:1/x"  # nothing listens on port 1
COMMANDS = (["accounts", "list"], ["accounts", "check"], ["publish", "status"], ["review", "list"], ["plan"])


def _run(args: list[str], monkeypatch: pytest.MonkeyPatch, url: str) -> tuple[int, str]:
    monkeypatch.setenv("MCN_DATABASE_URL", url)
    get_settings.cache_clear()
    result = CliRunner().invoke(app, args, env={"COLUMNS": "80"})
    return result.exit_code, result.output


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_unreachable_postgres_is_one_line_without_the_password(
    args: list[str], data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, output = _run(args, monkeypatch, UNREACHABLE)
    lines = output.strip().splitlines()
    assert code != 0 and len(lines) == 1, output
    assert lines[0].startswith("error: database postgresql://u:***@127.0.0.1:1/x cannot be opened"), output
    assert "refused" in lines[0] and "MCN_DATABASE_URL" in lines[0]  # the reason and what to check
    assert "secret" not in output and "Traceback" not in output


def test_password_in_the_query_and_a_data_dir_that_is_a_file(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, output = _run(["accounts", "list"], monkeypatch, "postgresql://u@127.0.0.1:1/x?password=hunter22")
    assert code != 0 and len(output.strip().splitlines()) == 1 and "hunter22" not in output, output
    assert "password=***" in output
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    data_dir.write_text("not a folder")
    monkeypatch.delenv("MCN_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["review", "list"], env={"COLUMNS": "80"})
    lines = result.output.strip().splitlines()
    assert result.exit_code != 0 and len(lines) == 1, result.output
    assert f"database sqlite:///{data_dir}/mcn.db cannot be opened" in lines[0] and "MCN_DATA_DIR" in lines[0]


def test_the_installed_entry_point_prints_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "MCN_DATABASE_URL": UNREACHABLE, "MCN_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run(
        [sys.executable, "-c", "from mcn.cli import main; main()", "accounts", "list"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and done.stdout == "", done.stdout
    assert len(done.stderr.strip().splitlines()) == 1 and "secret" not in done.stderr, done.stderr
