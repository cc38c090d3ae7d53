"""The make-edits flow under Prefect's test harness: distinct edits of a finished recording, recorded as clips rows.

The recording is a generated 30 s picture with a tone; its ``mcn clips make`` folder (``clips.json`` and
``transcript.json``) is written by hand: one product sold in three runs of selling sentences. Real ffmpeg renders
at 360x640 ``ultrafast``.
"""

from __future__ import annotations

import itertools
import json
import subprocess
from pathlib import Path

import pytest
from sqlmodel import Session, select

from clipper.ffmpeg import locate_ffmpeg
from clipper.media import probe
from mcn.db import get_engine
from mcn.tables import ClipRecord, RunRecord
from publisher.footage import overlap
from publisher.overlap import FootageGuard, footage_of_clip

SENTENCE = 2.4
# Three runs of selling sentences for product p1 (0-3, 5-8, 10-11), talk between them.
RUNS = ((0, 3), (5, 8), (10, 11))


@pytest.fixture(scope="module")
def clips_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("edits-folder")
    video = root / "stream.mp4"
    subprocess.run(
        [
            locate_ffmpeg(), "-y", "-loglevel", "error",
            "-f", "lavfi", "-i", "testsrc2=s=640x360:r=15:d=30", "-f", "lavfi", "-i", "sine=f=330:d=30",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(video),
        ],
        check=True,
    )  # fmt: skip
    selling = {i for first, last in RUNS for i in range(first, last + 1)}
    sentences = []
    for i in range(12):
        start = i * SENTENCE
        text = f"Point {i} about the mug keeps coffee hot" if i in selling else f"Hello everyone number {i}"
        words = [
            {"start": round(start + k * 0.3, 3), "end": round(start + k * 0.3 + 0.25, 3), "text": f" {w}"}
            for k, w in enumerate(text.split())
        ]
        sentences.append(
            {"index": i, "start": start, "end": start + SENTENCE - 0.1, "text": text, "words": words,
             "kind": "selling" if i in selling else "chatter"}
        )  # fmt: skip
    transcript = {"language": "en", "duration": 30.0, "origin": "asr", "sentences": sentences}
    clips = [
        {"id": f"c{n}", "source_start": first * SENTENCE, "source_end": (last + 1) * SENTENCE, "duration": 9.0,
         "product": "p1", "points": [], "hook": "h", "title": "t", "score": 0.5, "reason": "r",
         "sentences": list(range(first, last + 1)), "path": f"c{n}.mp4"}
        for n, (first, last) in enumerate(RUNS)
    ]  # fmt: skip
    (root / "clips.json").write_text(json.dumps({"source": str(video), "language": "en", "clips": clips}), "utf-8")
    (root / "transcript.json").write_text(json.dumps(transcript), "utf-8")
    return root


def test_flow_renders_distinct_edits_with_variants_as_clips_rows(
    prefect_server: None, data_dir: Path, clips_folder: Path, tmp_path: Path
) -> None:
    from flows.make_edits import make_edits

    out = tmp_path / "edits"
    state = make_edits(
        folder=str(clips_folder), out=str(out), variants=2, width=360, height=640, fps=15, preset="ultrafast",
        return_state=True,
    )  # fmt: skip
    assert state.is_completed(), state.message
    manifest = json.loads((out / "edits.json").read_text(encoding="utf-8"))
    edits = sorted({e["edit"] for e in manifest["edits"]})
    assert len(edits) >= 2 and manifest["capacity"] == {"p1": len(edits)}
    with Session(get_engine()) as db:
        run = db.exec(select(RunRecord).where(RunRecord.kind == "make_edits")).one()
        assert run.status == "succeeded"
        rows = db.exec(select(ClipRecord).where(ClipRecord.run_id == run.id)).all()
    assert len(rows) == 2 * len(edits) and all(r.kind == "edit" and r.product_id == "p1" for r in rows)
    footage = {r.id: footage_of_clip(r.source_id, r.source_start, r.source_end, r.footage) for r in rows}
    by_edit: dict[str, list[ClipRecord]] = {}
    for r in rows:
        by_edit.setdefault(r.id.rsplit("-", 1)[0], []).append(r)
    assert len(by_edit) == len(edits)
    for group in by_edit.values():
        a, b = group
        assert overlap(footage[a.id], footage[b.id]) == pytest.approx(1.0)  # variants: the same footage
        assert a.hook == b.hook and a.path != b.path
        seconds = sum(e - s for s, e in a.footage["ranges"])  # type: ignore[index]
        for r in group:
            info = probe(r.path)
            assert (info.display_width, info.display_height) == (360, 640) and info.has_audio
            assert abs(info.duration - seconds) < 0.2 and abs(r.duration - info.duration) < 1e-3
    firsts = [group[0] for group in by_edit.values()]
    for a, b in itertools.combinations(firsts, 2):
        assert overlap(footage[a.id], footage[b.id]) <= 0.5 + 1e-9  # distinct edits
    assert len({r.hook for r in firsts}) == len(firsts)  # each edit leads with its own segment
    # The plan's same-day guard sees them: every distinct edit fits one day, a variant of a held one does not.
    guard = FootageGuard()
    assert all(guard.admit(footage[r.id]) for r in firsts)
    assert not guard.admit(footage[by_edit[next(iter(by_edit))][1].id])


def test_flow_fails_with_one_line_on_a_folder_without_clips(
    prefect_server: None, data_dir: Path, tmp_path: Path
) -> None:
    from flows.make_edits import make_edits

    state = make_edits(folder=str(tmp_path / "nowhere"), return_state=True)
    assert state.is_failed() and "\n" not in (state.message or "") and "nowhere" in (state.message or "")


def test_cli_renders_edits_and_refuses_a_bad_folder_before_prefect(
    prefect_server: None, data_dir: Path, clips_folder: Path, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from mcn.cli import app

    runner = CliRunner()
    refused = runner.invoke(app, ["clips", "edits", str(tmp_path / "nowhere")])
    assert refused.exit_code == 2 and "nowhere" in refused.output
    bad_size = runner.invoke(app, ["clips", "edits", str(clips_folder), "--size", "360by640"])
    assert bad_size.exit_code == 2 and "--size" in bad_size.output

    out = tmp_path / "cli-edits"
    result = runner.invoke(
        app, ["clips", "edits", str(clips_folder), "--out", str(out), "--max-per-product", "1", "--size", "360x640"]
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "edits.json").read_text(encoding="utf-8"))
    assert len(manifest["edits"]) == 1 and "1 edits, 1 files" in result.output
    info = probe(out / manifest["edits"][0]["path"])
    assert (info.display_width, info.display_height) == (360, 640)
