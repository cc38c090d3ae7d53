"""``mcn doctor``, ``mcn db upgrade``, ``mcn models install`` and ``mcn clips make`` without a Prefect server, as an
operator runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mcn.cli import app
from mcn.samples import GeneratedStream


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


# ``mcn clips make`` in a fresh process, as the operator starts it; argv[1] is where it writes, at exit, whether
# Prefect was ever imported
NO_SERVER_MCN = """
import atexit, json, sys
report = sys.argv.pop(1)
atexit.register(lambda: open(report, "w").write(json.dumps("prefect" in sys.modules)))
from mcn.cli import main
sys.argv[0] = "mcn"
main()
"""
CHATTER = (
    "1\n00:00:01,000 --> 00:00:03,000\nHello everyone, thanks for joining.\n\n"
    "2\n00:00:04,000 --> 00:00:06,000\nSay hi in the chat while we wait.\n"
)


def _mcn_without_server(data_dir: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], bool]:
    """Run ``mcn *args`` with no PREFECT_API_URL and no mcn up; return it and whether it imported Prefect."""
    report = data_dir.parent / "prefect-imported.json"
    report.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    done = subprocess.run(
        [sys.executable, "-c", NO_SERVER_MCN, str(report), *args],
        env=env | {"COLUMNS": "200", "PREFECT_HOME": str(data_dir.parent / "prefect-home")},
        capture_output=True,
        text=True,
        timeout=600,
    )
    return done, bool(json.loads(report.read_text()))


def test_clips_make_without_a_server_runs_in_process_without_prefect(
    data_dir: Path,
    whisper_model_dir: Path,
    sample_stream_en: GeneratedStream,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No Prefect API: the same steps in the CLI's own process (real whisper, real ffmpeg), the run recorded in
    mcn's database, one line saying it is not in Prefect; a failed job exits 1 with one error line (a bad input,
    a run that made no clips), and Prefect is never imported. (Usage errors, exit 2 before anything is imported:
    tests/test_cli_exit_codes.py.)"""
    from sqlmodel import Session, select

    from clipper.media import probe
    from mcn.db import get_engine
    from mcn.prefect_api import NOT_RECORDED
    from mcn.settings import get_settings
    from mcn.tables import RunFailure, RunRecord

    monkeypatch.setenv("MCN_WHISPER_MODEL", str(whisper_model_dir))
    get_settings.cache_clear()
    out = tmp_path / "clips"
    made, imported = _mcn_without_server(
        data_dir, "clips", "make", str(sample_stream_en.video), "--products", str(sample_stream_en.products_csv),
        "--max-clips", "1", "--max-seconds", "20", "--out", str(out),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert not imported
    assert made.stdout.startswith(NOT_RECORDED) and made.stdout.count("not recorded in Prefect") == 1
    assert f"clips.json and clips in {out}" in made.stdout and "Traceback" not in made.stderr
    manifest = json.loads((out / "clips.json").read_text())
    assert manifest["language"] == "en" and len(manifest["clips"]) == 1
    clip = manifest["clips"][0]
    assert clip["product"] in {p.id for p in sample_stream_en.products}
    info = probe(out / clip["path"])
    assert (info.width, info.height) == (1080, 1920) and abs(info.duration - clip["duration"]) < 0.2
    assert json.loads((out / "transcript.json").read_text())["sentences"]

    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    bad, imported = _mcn_without_server(data_dir, "clips", "make", str(empty))
    assert (bad.returncode, imported) == (1, False), bad.stderr
    assert [ln for ln in bad.stderr.splitlines() if ln.strip()] == [f"error: {empty}: file is empty (0 bytes)"]

    chatter = tmp_path / "chatter.srt"
    chatter.write_text(CHATTER, encoding="utf-8")
    nothing, imported = _mcn_without_server(
        data_dir, "clips", "make", str(sample_stream_en.video), "--transcript", str(chatter),
        "--out", str(tmp_path / "none"),
    )  # fmt: skip
    assert (nothing.returncode, imported) == (1, False), nothing.stdout + nothing.stderr
    lines = [ln for ln in nothing.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: no clips: no selling-point range"), nothing.stderr

    with Session(get_engine()) as db:
        runs = db.exec(select(RunRecord)).all()
        assert sorted(r.status for r in runs) == ["failed", "failed", "succeeded"]
        assert all(not r.flow_run_id for r in runs)  # no Prefect flow run behind them
        assert sorted(f.step for f in db.exec(select(RunFailure)).all()) == ["plan", "probe"]
