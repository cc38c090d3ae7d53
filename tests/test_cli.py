"""``mcn doctor``, ``mcn db upgrade`` and ``mcn models install`` as an operator runs them."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mcn.cli import app


def test_doctor_passes_on_a_set_up_machine(
    data_dir: Path, whisper_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MCN_WHISPER_MODEL", str(whisper_model_dir))
    from mcn.settings import get_settings

    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["doctor"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for name in ("ffmpeg", "CJK font", "whisper model", "database", "prefect"):
        assert name in result.output
    assert "missing" not in result.output


def test_doctor_names_the_fix_for_what_is_missing(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCN_FFMPEG", "/nonexistent/ffmpeg")
    monkeypatch.setenv("MCN_FONT_FAMILY", "No Such Font CJK")
    monkeypatch.setenv("MCN_WHISPER_MODEL", str(data_dir / "empty-model"))
    (data_dir / "empty-model").mkdir(parents=True)
    from mcn.settings import get_settings

    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["doctor"], env={"COLUMNS": "250"})
    assert result.exit_code == 1
    assert result.output.count("missing") == 3, result.output
    assert "MCN_FFMPEG" in result.output and "fonts-noto-cjk" in result.output
    assert "mcn models install" in result.output


def test_db_upgrade_reports_revision_and_bad_url_is_one_line(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(app, ["db", "upgrade"])
    from mcn.db import current_revision, get_engine

    assert result.exit_code == 0 and f"revision {current_revision(get_engine())}" in result.output
    monkeypatch.setenv("MCN_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/nothing")
    from mcn.settings import get_settings

    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["db", "upgrade"])
    assert result.exit_code == 1
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: database postgresql://nobody@127.0.0.1:1/nothing cannot be opened")
    assert "Traceback" not in result.output


def test_models_install_is_a_no_op_when_present(whisper_model_dir: Path) -> None:
    del whisper_model_dir  # built by the setup; a second install must not download again
    result = CliRunner().invoke(app, ["models", "install"])
    assert result.exit_code == 0 and "whisper base model ready" in result.output
