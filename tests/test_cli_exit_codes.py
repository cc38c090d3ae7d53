"""One exit-code convention for every ``mcn`` command: 2 when the input is refused before any work starts (a bad
option, a missing file, a bad CSV), 1 when the work itself failed; either way one line on stderr naming the input.
A sample of commands across the sub-apps, and the check that a bad input to ``clips make`` fails before Prefect is
even imported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mcn.cli import app


def _run(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stderr


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    (tmp_path / "video.mp4").write_bytes(b"\0" * 64)
    (tmp_path / "bad-products.csv").write_text("id,name,price\np1,,abc\n", encoding="utf-8")
    (tmp_path / "bad-pool.csv").write_text("nothing,useful\n1,2\n", encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["clips", "make", "{tmp}/missing.mp4"], "missing.mp4: file not found"),
        (["clips", "make", "{tmp}/video.mp4", "--products", "{tmp}/bad-products.csv"], "line 2: name is empty"),
        (["clips", "make", "{tmp}/video.mp4", "--language", "fr"], "--language must be auto, zh or en"),
        (["products", "import", "{tmp}/missing.csv"], "missing.csv"),
        (["remix", "make", "{tmp}/bad-pool.csv"], "bad-pool.csv"),
        (["plan", "--date", "someday"], "--date 'someday': expected YYYY-MM-DD"),
        (["publish", "status", "--date", "31-12-2026"], "--date '31-12-2026': expected YYYY-MM-DD"),
        (["review", "approve"], "name post ids or pass --all"),
        (["accounts", "import", "{tmp}/missing.csv"], "missing.csv: file not found"),
        (["publish", "due", "--no-such-option"], "No such option"),
    ],
)
def test_refused_input_exits_2_with_one_line(data_dir: Path, inputs: Path, args: list[str], message: str) -> None:
    code, stderr = _run([a.format(tmp=inputs) for a in args])
    assert code == 2, stderr
    assert message in stderr, stderr
    if "No such option" not in message:  # click draws its own usage box
        assert len(stderr.strip().splitlines()) == 1, stderr


def test_failed_work_exits_1(data_dir: Path) -> None:
    code, stderr = _run(["review", "approve", "not-a-post"])
    assert code == 1 and stderr.strip() == "error: post not-a-post: no such post"


def test_a_bad_product_list_fails_before_prefect_is_imported(inputs: Path) -> None:
    probe = (
        "import sys\nfrom typer.testing import CliRunner\nfrom mcn.cli import app\n"
        f"r = CliRunner().invoke(app, ['clips', 'make', {str(inputs / 'video.mp4')!r}, "
        f"'--products', {str(inputs / 'bad-products.csv')!r}])\n"
        "print(r.exit_code, 'prefect' in sys.modules, 'faster_whisper' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.split() == ["2", "False", "False"], done.stdout + done.stderr
