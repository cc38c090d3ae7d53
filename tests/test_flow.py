"""The make-clips flow under Prefect's test harness, and the CLI's handling of bad input end to end."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from clipper.media import probe
from mcn.cli import app
from mcn.db import get_engine
from mcn.samples import GeneratedStream
from mcn.tables import ClipRecord, RunFailure, RunRecord
from tests.helpers import lavfi_video


@pytest.fixture
def env(data_dir: Path, whisper_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MCN_WHISPER_MODEL", str(whisper_model_dir))
    from mcn.settings import get_settings

    get_settings.cache_clear()
    return data_dir


def _silent_video(path: Path, *, audio: bool = True) -> Path:
    return lavfi_video(path, "color=c=gray:s=320x240:r=25:d=4", "anullsrc=r=16000:cl=mono:d=4" if audio else None)


def test_flow_makes_ranked_clips_and_records_them(
    prefect_server: None, env: Path, sample_stream_en: GeneratedStream, tmp_path: Path
) -> None:
    from flows.make_clips import make_clips

    out = tmp_path / "clips"
    state = make_clips(
        source=str(sample_stream_en.video),
        products=str(sample_stream_en.products_csv),
        out=str(out),
        max_clips=5,
        width=540,
        height=960,
        fps=15,
        preset="ultrafast",
        return_state=True,
    )
    assert state.is_completed(), state.message
    manifest = json.loads((out / "clips.json").read_text())
    assert manifest["language"] == "en" and manifest["clips"]
    assert set(manifest) >= {"source", "duration", "language", "clips"}
    scores = [c["score"] for c in manifest["clips"]]
    assert scores == sorted(scores, reverse=True)
    for clip in manifest["clips"]:
        assert set(clip) >= {
            "id",
            "source_start",
            "source_end",
            "duration",
            "product",
            "points",
            "hook",
            "title",
            "score",
            "reason",
            "sentences",
            "path",
        }
        assert clip["product"] in {p.id for p in sample_stream_en.products}
        info = probe(out / clip["path"])
        assert (info.width, info.height, round(info.fps)) == (540, 960, 15)  # the demo's render settings reach ffmpeg
        assert abs(info.duration - clip["duration"]) < 0.2
    transcript = json.loads((out / "transcript.json").read_text())
    assert transcript["sentences"] and transcript["sentences"][0]["words"]
    assert (out / "transcript.srt").read_text().startswith("1\n")
    with Session(get_engine()) as db:
        run_row = db.exec(select(RunRecord)).one()
        assert run_row.status == "succeeded" and run_row.stats["clips"] == len(manifest["clips"])
        assert len(db.exec(select(ClipRecord)).all()) == len(manifest["clips"])


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()


@pytest.mark.expect_error_logs
def test_batch_with_bad_inputs_fails_each_with_one_line_and_good_one_carries_on(
    prefect_server: None,
    env: Path,
    sample_stream_en: GeneratedStream,
    tmp_path: Path,
    http_root: tuple[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base_url, root = http_root
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n")
    truncated = tmp_path / "truncated.mp4"
    data = sample_stream_en.video.read_bytes()
    truncated.write_bytes(data[: len(data) // 4])
    no_audio = _silent_video(tmp_path / "noaudio.mp4", audio=False)
    silent = _silent_video(tmp_path / "silent.mp4")
    (root / "big.mp4").write_bytes(b"\0" * 4096)
    monkeypatch.setenv("MCN_MAX_DOWNLOAD_BYTES", "1000")
    monkeypatch.setenv("MCN_FETCH_ALLOW_PRIVATE", "1")  # the test server is on 127.0.0.1
    from mcn.settings import get_settings

    get_settings.cache_clear()
    bad = {
        str(empty): "empty",
        str(text): "not a readable media file",
        str(truncated): "truncated",
        str(no_audio): "no audio",
        str(silent): "no speech",
        f"{base_url}/missing.mp4": "404",
        f"{base_url}/big.mp4": "too large",
    }
    sources = [*bad, str(sample_stream_en.video)]
    result = CliRunner().invoke(
        app,
        [
            "clips",
            "make",
            *sources,
            "--products",
            str(sample_stream_en.products_csv),
            "--out",
            str(tmp_path / "batch"),
            "--max-clips",
            "2",
        ],
    )
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    error_lines = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    assert len(error_lines) == len(bad), result.output
    for (source, needle), line in zip(bad.items(), error_lines, strict=True):
        assert source in line and needle in line, line
    good = tmp_path / "batch" / f"{len(sources):02d}-stream" / "clips.json"
    assert json.loads(good.read_text())["clips"]
    with Session(get_engine()) as db:
        runs = db.exec(select(RunRecord)).all()
        assert sorted(r.status for r in runs) == ["failed"] * len(bad) + ["succeeded"]
        recorded = db.exec(select(RunFailure)).all()
        assert len(recorded) == len(bad)
        # silence gets through probing and fails in ASR; every other bad input stops at the probe
        assert sorted(f.step for f in recorded) == ["probe"] * (len(bad) - 1) + ["transcribe"]
        assert all(f.message and "\n" not in f.message and not f.message.startswith(f.step) for f in recorded)
        assert all(r.error for r in runs if r.status == "failed")


def test_cli_subprocess_prints_one_line_and_no_traceback(env: Path, tmp_path: Path) -> None:
    empty = tmp_path / "zero.mp4"
    empty.write_bytes(b"")
    mcn = Path(sys.executable).with_name("mcn")
    proc = subprocess.run(
        [str(mcn), "clips", "make", str(empty)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PREFECT_HOME": str(tmp_path / "prefect")},
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines == [f"error: {empty}: file is empty (0 bytes)"], proc.stderr


def test_cli_rejects_bad_options(env: Path) -> None:
    result = CliRunner().invoke(app, ["clips", "make", "x.mp4", "--language", "fr"])
    assert result.exit_code == 2 and "--language" in result.output
