"""Hostile clip-factory input end to end (CLI process, Prefect test harness, database): downloads that never end,
killed runs, what is cached, subtitles out of range, credentials in URLs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from mcn.cli import app
from mcn.db import get_engine
from mcn.tables import RunFailure, RunRecord, SourceRecord
from tests.helpers import lavfi_video
from tests.http_support import (
    LocalServer,
    bytes_route,
    credentials_route,
    file_route,
    local_http,
    trickle_route,
    wait_for,
)

__all__ = ["local_http"]  # the fixture, imported for pytest

MCN = Path(sys.executable).with_name("mcn")


@pytest.fixture(scope="module")
def prefect_api(prefect_server: None) -> str:
    """The Prefect test server's API URL (for the CLI subprocesses)."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    assert url
    return str(url)


@pytest.fixture
def fetch_env(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The local test servers listen on 127.0.0.1: allow fetching from it, as an intranet operator would."""
    from mcn.settings import get_settings

    monkeypatch.setenv("MCN_FETCH_ALLOW_PRIVATE", "1")
    get_settings.cache_clear()
    return data_dir


def _cli_env(prefect_api: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "PREFECT_API_URL": prefect_api, "PREFECT_HOME": str(tmp_path / "prefect"), **extra}


def _flow_run_state(flow_run_id: str) -> str:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(flow_run_id)  # type: ignore[arg-type]
    assert run.state is not None
    return run.state.type.value


def test_sigterm_during_a_download_ends_the_run_crashed_and_failed_and_removes_the_part_file(
    prefect_api: str, fetch_env: Path, tmp_path: Path, local_http: LocalServer
) -> None:
    local_http.routes["/slow.mp4"] = trickle_route(0.1)
    sources = fetch_env / "sources"
    proc = subprocess.Popen(
        [str(MCN), "clips", "make", local_http.url("/slow.mp4")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_cli_env(prefect_api, tmp_path),
    )
    try:
        wait_for(lambda: any(sources.glob("*.part")) or proc.poll() is not None, 120, "the download to start")
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert "Traceback" not in stderr, stderr
    assert list(sources.iterdir()) == []
    with Session(get_engine()) as db:
        run = db.exec(select(RunRecord)).one()
        failure = db.exec(select(RunFailure)).one()
    assert run.status == "failed" and run.error and "interrupted" in run.error, run
    assert failure.step == "probe"
    assert run.flow_run_id
    assert _flow_run_state(run.flow_run_id) in ("CRASHED", "FAILED")


@pytest.fixture(scope="module")
def talk(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 12 s lavfi video with sound and an SRT for it (no ASR needed): a source that makes it through the flow."""
    folder = tmp_path_factory.mktemp("talk")
    video = lavfi_video(folder / "talk.mp4", "testsrc=s=320x240:r=15:d=12", "sine=f=300:r=16000:d=12")
    srt = folder / "talk.srt"
    srt.write_text(
        "1\n00:00:00,500 --> 00:00:03,500\nThis kettle boils a litre in two minutes.\n\n"
        "2\n00:00:04,000 --> 00:00:07,500\nIt is only nineteen dollars today, link number one.\n\n"
        "3\n00:00:08,000 --> 00:00:11,500\nGrab it now before the price goes back up.\n",
        encoding="utf-8",
    )
    # the kettle as a product: the talk then holds a selling point, and a run that makes no clip would fail
    srt.with_name("products.csv").write_text(
        "id,name,aliases,price,commission_rate,link\nkettle,kettle,,19,0.1,https://shop.example/p/kettle\n",
        encoding="utf-8",
    )
    return video, srt


def _make(*args: str) -> tuple[int, str]:
    if "--transcript" in args:  # the talk: its products file lies next to its SRT
        products = Path(args[args.index("--transcript") + 1]).with_name("products.csv")
        args = (*args, "--products", str(products)) if products.is_file() else args
    result = CliRunner().invoke(app, ["clips", "make", *args, "--min-seconds", "3", "--max-seconds", "8"])
    return result.exit_code, result.output


@pytest.mark.expect_error_logs
def test_cli_a_web_page_is_not_cached_the_error_names_the_url_and_the_video_is_fetched_later(
    prefect_api: str, fetch_env: Path, tmp_path: Path, local_http: LocalServer, talk: tuple[Path, Path]
) -> None:
    video, srt = talk
    body = tmp_path / "answer"
    body.write_bytes(b"<!doctype html><html><body>Sign in to continue</body></html>")
    local_http.routes["/live/talk.mp4"] = file_route(body, "text/html")
    url = local_http.url("/live/talk.mp4")
    code, output = _make(url, "--transcript", str(srt))
    assert code == 1, output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {url}: ") and "text/html" in errors[0], output
    sources = fetch_env / "sources"
    assert not sources.exists() or list(sources.iterdir()) == []
    assert "sources/" not in output
    # the same URL now serves the video: downloaded (the page was never cached) and clipped
    body.write_bytes(video.read_bytes())
    local_http.routes["/live/talk.mp4"] = file_route(body, "video/mp4")
    code, output = _make(url, "--transcript", str(srt))
    assert code == 0, output
    with Session(get_engine()) as db:
        source = db.exec(select(SourceRecord)).one()
        statuses = sorted(r.status for r in db.exec(select(RunRecord)))
    assert statuses == ["failed", "succeeded"]
    assert source.local_path and Path(source.local_path).parent == sources and source.duration


@pytest.mark.expect_error_logs
def test_cli_subtitles_far_beyond_the_video_fail_the_run_naming_the_file(
    prefect_api: str, data_dir: Path, tmp_path: Path, talk: tuple[Path, Path]
) -> None:
    video, _ = talk
    srt = tmp_path / "other-show.srt"
    srt.write_text(
        "".join(
            f"{n}\n9999999:00:{n:02d},000 --> 9999999:00:{n + 1:02d},000\nOnly nineteen dollars today, link {n}.\n\n"
            for n in range(1, 6)
        ),
        encoding="utf-8",
    )
    code, output = _make(str(video), "--transcript", str(srt))
    assert code == 1, output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {srt}: cues out of range: 5 of 5"), output
    assert "0:00:12.0 long" in errors[0]
    with Session(get_engine()) as db:
        run = db.exec(select(RunRecord)).one()
        failure = db.exec(select(RunFailure)).one()
    assert run.status == "failed" and failure.step == "transcribe" and "out of range" in failure.message


def _all_text_in_database() -> str:
    """Every value of every column of every table of mcn's database, as text."""
    from sqlalchemy import MetaData
    from sqlalchemy import select as sa_select

    engine = get_engine()
    meta = MetaData()
    meta.reflect(engine)
    values: list[str] = []
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(sa_select(table)):
                values.extend(str(v) for v in row)
    return "\n".join(values)


def _prefect_records(flow_run_ids: list[str]) -> str:
    """What Prefect's API holds about these flow runs: the runs (parameters, names), their task runs, logs and
    artifacts, as JSON text."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
    )

    ids = [uuid.UUID(i) for i in flow_run_ids]
    with get_client(sync_client=True) as client:
        runs = [client.read_flow_run(i) for i in ids]
        tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)))
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=ids)))
        artifacts = client.read_artifacts(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)))
    assert all(r.parameters.get("source") for r in runs) and logs and artifacts
    return "\n".join(obj.model_dump_json() for obj in [*runs, *tasks, *logs, *artifacts])


@pytest.mark.expect_error_logs
def test_credentials_and_tokens_in_a_source_url_are_never_shown_or_stored(
    prefect_api: str, fetch_env: Path, tmp_path: Path, local_http: LocalServer, talk: tuple[Path, Path]
) -> None:
    video, srt = talk
    password, token = "hunter2-S3cret-pw", "tok-9f8e7d6c"
    secrets = (password, token)
    local_http.routes["/live/talk.mp4"] = credentials_route("viewer", password, token, file_route(video))
    local_http.routes["/live/gone.mp4"] = credentials_route("viewer", password, token, bytes_route(b"", status=404))
    netloc = f"viewer:{password}@127.0.0.1:{local_http.port}"
    good = local_http.url(f"/live/talk.mp4?token={token}&quality=hd", netloc=netloc)
    gone = local_http.url(f"/live/gone.mp4?token={token}", netloc=netloc)
    env = _cli_env(prefect_api, tmp_path)
    out = tmp_path / "clips"
    runs = [
        subprocess.run(
            [str(MCN), "clips", "make", *args, "--min-seconds", "3", "--max-seconds", "8", "--out", str(out)],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
        )
        for args in ([gone], [good, "--transcript", str(srt), "--products", str(srt.with_name("products.csv"))])
    ]
    shown_gone = f"http://***@127.0.0.1:{local_http.port}/live/gone.mp4?token=***"
    assert runs[0].returncode == 1
    assert runs[0].stderr.strip() == f"error: {shown_gone}: HTTP 404 Not Found", runs[0].stderr
    assert runs[1].returncode == 0, runs[1].stderr
    shown_good = f"http://***@127.0.0.1:{local_http.port}/live/talk.mp4?token=***&quality=hd"
    assert json.loads((out / "clips.json").read_text())["source"] == shown_good
    # the server did get the real credentials (so they were not simply dropped)
    assert sum(1 for path, _ in local_http.seen if path.startswith("/live/")) == 2
    output = "\n".join(r.stdout + r.stderr for r in runs)
    with Session(get_engine()) as db:
        flow_run_ids = [r.flow_run_id for r in db.exec(select(RunRecord)) if r.flow_run_id]
        error = db.exec(select(RunFailure)).one().message
    assert error == f"{shown_gone}: HTTP 404 Not Found"
    assert len(flow_run_ids) == 2
    stored = _all_text_in_database() + _prefect_records(flow_run_ids)
    files = b"".join(p.read_bytes() for root in (fetch_env, out) for p in root.rglob("*") if p.is_file())
    for secret in secrets:
        assert secret not in output, secret
        assert secret not in stored, secret
        assert secret.encode() not in files, secret


@pytest.mark.expect_error_logs
def test_cli_refuses_a_loopback_source_by_default_and_fetches_it_when_allowed(
    prefect_api: str,
    data_dir: Path,
    local_http: LocalServer,
    talk: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mcn.settings import get_settings

    video, srt = talk
    local_http.routes["/admin/talk.mp4"] = file_route(video)
    url = local_http.url("/admin/talk.mp4")
    code, output = _make(url, "--transcript", str(srt))
    assert code == 1, output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: {url}: refused: 127.0.0.1 is not a public address (loopback, private, link-local or reserved); "
        "set MCN_FETCH_ALLOW_PRIVATE=1 to fetch from your own network"
    ], output
    assert local_http.seen == []
    assert not (data_dir / "sources").exists() or list((data_dir / "sources").iterdir()) == []
    monkeypatch.setenv("MCN_FETCH_ALLOW_PRIVATE", "1")
    get_settings.cache_clear()
    code, output = _make(url, "--transcript", str(srt))
    assert code == 0, output
    assert [path for path, _ in local_http.seen] == ["/admin/talk.mp4"]
