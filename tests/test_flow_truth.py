"""Prefect that tells the truth: run names and brand tags, runs that made nothing end Failed with one line."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import pytest

from mcn.samples import GeneratedStream
from tests.helpers import lavfi_video


def _flow_run(state: object) -> object:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(state.state_details.flow_run_id)  # type: ignore[attr-defined]


def _chatter(tmp_path: Path) -> tuple[Path, Path]:
    """A 12 s video and an SRT of small talk: nothing in it sells anything."""
    video = lavfi_video(tmp_path / "chatter.mp4", "color=c=gray:s=320x240:r=25:d=12", "sine=f=300:r=16000:d=12")
    srt = tmp_path / "chatter.srt"
    srt.write_text(
        "1\n00:00:01,000 --> 00:00:03,000\nHello everyone, good evening.\n\n"
        "2\n00:00:04,000 --> 00:00:06,000\nThe weather was nice today.\n\n"
        "3\n00:00:07,000 --> 00:00:09,000\nI had noodles for lunch.\n",
        encoding="utf-8",
    )
    return video, srt


def test_run_name_says_what_the_run_is_about() -> None:
    from datetime import datetime

    from flows.make_clips import run_name

    when = datetime(2026, 12, 1, 17, 40)
    assert run_name("/in/live-0412.mp4", "acme", "/in/products.csv", when) == "acme · live-0412.mp4 · 2026-12-01 17:40"
    assert run_name("/in/live.mp4", None, "/p/acme-spring.csv", when) == "acme-spring · live.mp4 · 2026-12-01 17:40"
    shown = "https://***@cdn.example/v/stream.flv?token=***"
    assert run_name(shown, None, None, when) == "stream.flv · 2026-12-01 17:40"


@pytest.mark.expect_error_logs
def test_zero_clips_run_fails_with_one_line_named_and_tagged(
    prefect_server: None, data_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from flows.make_clips import make_clips

    video, srt = _chatter(tmp_path)
    caplog.set_level(logging.INFO)
    state = make_clips(
        source=str(video), transcript=str(srt), language="en", out=str(tmp_path / "out"), brand="acme",
        width=180, height=320, return_state=True,
    )  # fmt: skip
    assert state.is_failed(), state
    assert state.message and state.message.startswith("no clips:") and "\n" not in state.message
    run = _flow_run(state)
    assert run.name.startswith("acme · chatter.mp4 · "), run.name  # type: ignore[attr-defined]
    assert "brand:acme" in run.tags  # type: ignore[attr-defined]
    text = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert "NoneType: None" not in text and "Traceback" not in text, text
    carrying = [r for r in caplog.records if "no clips:" in r.getMessage()]
    assert len(carrying) == 1, [r.getMessage() for r in caplog.records]


@pytest.mark.expect_error_logs
def test_failed_step_logs_its_reason_once_without_none_traceback(
    prefect_server: None, data_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from flows.make_clips import make_clips

    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    caplog.set_level(logging.INFO)
    state = make_clips(source=str(empty), return_state=True)
    assert state.is_failed() and state.message and "empty" in state.message
    records = [r for r in caplog.records if r.name.startswith("prefect")]
    text = "\n".join(r.getMessage() + (r.exc_text or "") for r in records)
    assert "NoneType: None" not in text and "Traceback" not in text, text
    carrying = [r.getMessage() for r in records if state.message in r.getMessage()]
    assert len(carrying) == 1, carrying


@pytest.mark.expect_error_logs
def test_cli_brand_option_names_and_tags_the_run(prefect_server: None, data_dir: Path, tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
    from typer.testing import CliRunner

    from mcn.cli import app

    video, srt = _chatter(tmp_path)
    brand = f"globex{uuid.uuid4().hex[:6]}"  # the session's Prefect server is shared: a tag only this test uses
    args = ["clips", "make", str(video), "--transcript", str(srt), "--language", "en", "--brand", brand]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 1 and "no clips:" in result.output, result.output  # chatter: nothing to sell
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"brand:{brand}"])))
    assert [r.name.split(" · ")[:2] for r in runs] == [[brand, "chatter.mp4"]]
    refused = CliRunner().invoke(app, ["clips", "make", str(video), "--brand", "  "])
    assert refused.exit_code == 2 and "--brand" in refused.output


def _talk(tmp_path: Path, seconds: int = 24) -> tuple[Path, Path, Path]:
    """A video with sound, an SRT that sells a kettle every 3.5 s, and the kettle as a product."""
    video = lavfi_video(tmp_path / "talk.mp4", f"testsrc=s=640x360:r=25:d={seconds}", f"sine=f=300:r=16000:d={seconds}")
    lines = (
        "This kettle boils a litre in two minutes.",
        "It is only nineteen dollars today, link number one.",
        "Grab it now before the price goes back up.",
    )
    cues = []
    for n, start in enumerate(range(0, seconds - 4, 4)):
        cues.append(f"{n + 1}\n00:00:{start:02d},500 --> 00:00:{start + 3:02d},500\n{lines[n % 3]}\n")
    srt = tmp_path / "talk.srt"
    srt.write_text("\n".join(cues), encoding="utf-8")
    products = tmp_path / "products.csv"
    products.write_text(
        "id,name,aliases,price,commission_rate,link\nkettle,kettle,,19,0.1,https://shop.example/p/kettle\n",
        encoding="utf-8",
    )
    return video, srt, products


def test_render_reports_progress_while_ffmpeg_works_and_the_artifact_is_throttled(
    prefect_server: None, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    import flows.make_clips as make
    from mcn import progress

    video, srt, products = _talk(tmp_path)
    writes: list[tuple[float, float]] = []
    real_update = make.update_progress_artifact

    def counted(artifact_id: object, value: float, description: str | None = None) -> object:
        writes.append((time.monotonic(), value))  # the real API call still happens
        return real_update(artifact_id, value, description=description)  # type: ignore[arg-type]

    monkeypatch.setattr(make, "update_progress_artifact", counted)
    seen: list[tuple[float, str, float]] = []
    progress.set_sink(lambda step, fraction, detail: seen.append((time.monotonic(), step, fraction)))
    try:
        state = make.make_clips(
            source=str(video), products=str(products), transcript=str(srt), language="en", out=str(tmp_path / "out"),
            min_seconds=3, max_seconds=8, max_clips=2, return_state=True,
        )  # fmt: skip
    finally:
        progress.set_sink(None)
    assert state.is_completed(), state.message
    render = [(t, f) for t, step, f in seen if step == "render"]
    during = [f for _, f in render if 0.0 < f < 1.0]
    assert len(during) >= 3 and during == sorted(during) and len(set(during)) >= 3, render
    # the sink saw every report; the artifact (a synchronous API call) at most one write per 2 s between
    # a step's start and end, and it ends at 100 %
    span = render[-1][0] - render[0][0]
    render_writes = [w for w in writes if render[0][0] <= w[0] <= render[-1][0]]
    assert len(render_writes) <= 2 + span / make.ARTIFACT_INTERVAL + 1, (len(render_writes), span, len(render))
    assert len(render_writes) < len(render)
    assert writes[-1][1] == 100.0
    assert [v for _, v in writes] == sorted(v for _, v in writes)
    # the clips table: a file:// link and the absolute path of each clip, its duration, whole titles and hooks
    import json

    from prefect.artifacts import Artifact

    data = getattr(Artifact.get("clips"), "data", None)  # the server's record (a client schema object)
    assert data
    rows = json.loads(data) if isinstance(data, str) else data
    manifest = state.result()
    assert len(rows) == len(manifest["clips"]) >= 1  # type: ignore[index]
    for row, clip in zip(rows, manifest["clips"], strict=True):  # type: ignore[index]
        path = Path(row["path"])
        assert path.is_absolute() and path.is_file() and path.name == Path(clip["path"]).name
        assert row["clip"] == f"[{path.name}]({path.as_uri()})" and row["clip"].count("file:///") == 1
        assert row["duration"] == f"{clip['duration']:.1f} s" and clip["duration"] > 2
        assert (row["title"], row["hook"]) == (clip["title"], clip["hook"])


def test_progress_weights_put_render_last_and_largest() -> None:
    from flows.make_clips import STEP_WEIGHTS, STEPS, overall_percent

    assert set(STEP_WEIGHTS) == set(STEPS) and abs(sum(STEP_WEIGHTS.values()) - 1.0) < 1e-9
    assert max(STEP_WEIGHTS, key=STEP_WEIGHTS.__getitem__) == "render"
    assert overall_percent("render", 0.0) == round((1 - STEP_WEIGHTS["render"]) * 100, 1)
    assert overall_percent("render", 1.0) == 100.0


@pytest.mark.expect_error_logs
def test_forced_language_the_audio_disagrees_with_is_not_green(
    prefect_server: None,
    data_dir: Path,
    tmp_path: Path,
    sample_stream_en: GeneratedStream,
    whisper_model_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flows.make_clips import make_clips
    from mcn.settings import get_settings

    monkeypatch.setenv("MCN_WHISPER_MODEL", str(whisper_model_dir))
    get_settings.cache_clear()
    state = make_clips(
        source=str(sample_stream_en.video), products=str(sample_stream_en.products_csv), language="zh",
        out=str(tmp_path / "out"), width=180, height=320, max_clips=1, return_state=True,
    )  # fmt: skip
    assert state.message and "language zh was forced but the speech sounds like en" in state.message, state
    assert "\n" not in state.message
    if state.is_completed():  # clips made: green is wrong, the warning stands in the state message
        assert state.result()["warning"] == state.message  # type: ignore[index]
    else:
        assert state.is_failed()
