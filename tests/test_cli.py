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


def test_doctor_tells_the_truth_about_what_does_not_work(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A whisper model that is not installed on an offline machine, a Prefect API that does not answer, a key file
    gone while secrets are stored and a configured sandbox that does not answer are each "missing", not "ok"."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from accounts.registry import AccountSpec, add_account
    from accounts.vault import store_secret
    from mcn.doctor import check_prefect, check_sandbox, check_secret_key, check_whisper
    from mcn.settings import get_settings

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    whisper = check_whisper("large-v3")  # never installed here
    assert not whisper.ok and "not installed" in whisper.detail and "mcn models install large-v3" in whisper.fix

    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:1/api"}):  # nothing listens on port 1
        prefect = check_prefect()
    assert not prefect.ok and "http://127.0.0.1:1/api: no answer" in prefect.detail

    monkeypatch.delenv("MCN_SECRET_KEY", raising=False)
    monkeypatch.delenv("MCN_SANDBOX_URL", raising=False)
    get_settings.cache_clear()
    assert check_secret_key().ok and check_sandbox() is None  # nothing stored yet; no sandbox configured
    account = add_account(AccountSpec("sandbox", "keyed"))
    store_secret(account.id, "api_token", "tok-doctor-0001")
    assert check_secret_key().ok and "1 stored secrets open" in check_secret_key().detail
    get_settings().resolved_secret_key_file.unlink()
    lost = check_secret_key()
    assert not lost.ok and "is missing but 1 secrets are stored" in lost.detail

    monkeypatch.setenv("MCN_SANDBOX_URL", "http://127.0.0.1:1")
    get_settings.cache_clear()
    sandbox = check_sandbox()
    assert sandbox is not None and not sandbox.ok and "no answer" in sandbox.detail
    get_settings.cache_clear()
