"""``mcn`` starts light: the root and ``clips`` groups list their commands from help lines and import a command's
module only when it runs, so ``mcn --help`` imports none of the heavy stacks. Timing lives in
bench/bench_cli_start.py; these tests check what the timing depends on."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer

from mcn.cli import CLIPS_COMMANDS, ROOT_COMMANDS, LazyCommand

HEAVY = ("prefect", "sqlmodel", "sqlalchemy", "faster_whisper", "av", "playwright", "httpx", "numpy")


def _modules_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nprint('\\n'.join(sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    return {line.split(".")[0] for line in done.stdout.splitlines()}


def test_help_imports_none_of_the_heavy_stacks() -> None:
    code = (
        "from typer.testing import CliRunner\nfrom mcn.cli import app\n"
        "result = CliRunner().invoke(app, ['--help'])\nassert result.exit_code == 0, result.output\n"
        "assert 'accounts' in result.output and 'publish' in result.output\n"
    )
    loaded = _modules_after(code)
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_a_light_command_does_not_import_the_rest() -> None:
    code = (
        "from typer.testing import CliRunner\nfrom mcn.cli import app\n"
        "result = CliRunner().invoke(app, ['orders', '--help'])\nassert result.exit_code == 0, result.output\n"
    )
    loaded = _modules_after(code)
    assert "accounts" not in loaded and "prefect" not in loaded and "sqlmodel" not in loaded


def _normal(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize(
    ("name", "entry"),
    [*ROOT_COMMANDS.items(), *(("clips " + n, e) for n, e in CLIPS_COMMANDS.items())],
)
def test_each_listed_help_line_is_the_commands_own(name: str, entry: LazyCommand) -> None:
    command = entry.load(name.rsplit(maxsplit=1)[-1])
    assert command.name == name.rsplit(maxsplit=1)[-1]
    own = _normal(command.help or "")
    assert own.startswith(_normal(entry.help).rstrip(".")), f"{name}: {entry.help!r} vs {own!r}"


def test_a_lazy_command_runs_and_a_typo_is_a_usage_error() -> None:
    from typer.testing import CliRunner

    from mcn.cli import app

    runner = CliRunner()
    listed = runner.invoke(app, ["publish", "--help"])
    assert listed.exit_code == 0 and "status" in listed.output
    typo = runner.invoke(app, ["publsh"])
    assert typo.exit_code == 2
    assert isinstance(app, typer.Typer)
