"""Labels: the mcn-labels/1 format, storage per source on SQLite and Postgres, the terminal review with scripted
input, and export/import through the CLI (validated whole, idempotent, the later updated_at wins)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from clipper.labels import (
    ClipVerdict,
    LabelFormatError,
    SentenceLabel,
    SourceLabels,
    dump_labels,
    labels_from_json,
    labels_to_json,
    load_labels,
    merge_labels,
)
from mcn import labels_store
from mcn.cli import app
from mcn.labels_store import ReviewError, labels_from_folder, read_clips_folder
from tests.helpers import throwaway_postgres
from tests.labels_support import SOURCE, make_clips_folder, make_video

ENV = {"COLUMNS": "200", "MCN_ANNOTATOR": "li.na"}


def _labels(
    source: str = "a.mp4", updated_at: str = "2026-12-01T10:00:00+00:00", kind: str = "selling"
) -> SourceLabels:
    return SourceLabels(
        source=source,
        language="zh",
        sentences=(
            SentenceLabel(0, 0.5, 2.1, "家人们晚上好。", "greeting"),
            SentenceLabel(1, 2.5, 5.0, "这个杯子保温十二小时。", kind, "cup"),  # type: ignore[arg-type]
        ),
        clips=(ClipVerdict("c01", 1, 1, False, "starts mid-sentence"),),
        annotator="li.na",
        updated_at=updated_at,
    )


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("labels-media") / "clip.mp4")


@pytest.fixture
def folder(tmp_path: Path, video: Path) -> Path:
    return make_clips_folder(tmp_path / "out", video)


# -- the format ---------------------------------------------------------------------------------------------------


def test_format_round_trips_through_json_and_files(tmp_path: Path) -> None:
    labels = (_labels("a.mp4"), _labels("b.mp4", kind="price"))
    assert labels_from_json(json.loads(json.dumps(labels_to_json(labels)))) == labels
    dump_labels(labels, tmp_path / "labels.json")
    assert "家人们晚上好" in (tmp_path / "labels.json").read_text(encoding="utf-8")  # Chinese stays readable
    assert load_labels(tmp_path / "labels.json") == labels


def test_merge_keeps_the_later_updated_at_per_source() -> None:
    old, new = _labels(updated_at="2026-12-01T10:00:00+00:00"), _labels(updated_at="2026-12-01T19:00:00+08:00")
    # 19:00+08:00 is 11:00 UTC: later, whatever the offsets say as text
    assert merge_labels([old], [new]) == (new,)
    assert merge_labels([new], [old]) == (new,)
    tie = replace(old, annotator="someone else")
    assert merge_labels([old], [tie]) == (old,)  # a tie keeps what is there
    other = _labels("b.mp4")
    assert [s.source for s in merge_labels([old], [other, new])] == ["a.mp4", "b.mp4"]


def _document(**changes: Any) -> dict[str, Any]:
    doc = labels_to_json([_labels("a.mp4"), _labels("b.mp4")])
    for path, value in changes.items():
        target: Any = doc
        keys = path.split("__")
        for key in keys[:-1]:
            target = target[int(key)] if key.isdigit() else target[key]
        target[keys[-1]] = value
    return doc


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"format": "mcn-labels/2"}, '"format": "mcn-labels/1"'),
        ({"sources__1__sentences__1__kind": "selling-ish"}, "sources[1].sentences[1].kind"),
        ({"sources__0__sentences__0__start": "zero"}, "sources[0].sentences[0].start"),
        ({"sources__1__clips__0__good": "yes"}, "sources[1].clips[0].good"),
        ({"sources__0__clips__0__first_sentence": 3}, "sources[0].clips[0]"),
        ({"sources__1__source": ""}, "sources[1].source"),
    ],
)
def test_a_bad_item_is_named(tmp_path: Path, changes: dict[str, Any], named: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(_document(**changes)), encoding="utf-8")
    with pytest.raises(LabelFormatError) as err:
        load_labels(path)
    assert named in str(err.value) and str(path) in str(err.value)
    assert "\n" not in str(err.value)


def test_unreadable_files_are_named(tmp_path: Path) -> None:
    (tmp_path / "cut.json").write_text('{"format": "mcn-labels/1", "sources": [', encoding="utf-8")
    with pytest.raises(LabelFormatError, match=r"cut\.json: not JSON"):
        load_labels(tmp_path / "cut.json")
    with pytest.raises(LabelFormatError, match=r"missing\.json: cannot read"):
        load_labels(tmp_path / "missing.json")


# -- the clips folder ---------------------------------------------------------------------------------------------


def test_a_folder_is_read_best_first_and_seeds_kinds(folder: Path) -> None:
    clips = read_clips_folder(folder)
    assert clips.source == SOURCE and [c.id for c in clips.clips] == ["c01", "c02"]
    labels = labels_from_folder(clips, "li.na")
    kinds = labels.kinds()
    # the transcript's kinds where it has them; the pipeline's guess (selling inside a clip, chatter outside) else
    assert kinds[0] == "greeting" and kinds[4] == "price" and kinds[5] == "reply"
    assert kinds[2] == kinds[3] == kinds[6] == kinds[7] == "selling"
    assert labels.sentences[3].product_id == "cup" and labels.sentences[7].product_id == "coat"
    assert labels.sentences[0].product_id is None and labels.clips == ()
    assert labels_from_json(labels_to_json([labels])) == (labels,)  # a valid mcn-labels/1 source


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (lambda f: (f / "clips.json").unlink(), "clips.json: not found"),
        (lambda f: (f / "transcript.json").write_text("{", encoding="utf-8"), "transcript.json: not JSON"),
        (
            lambda f: (f / "clips.json").write_text(
                (f / "clips.json").read_text(encoding="utf-8").replace("[6, 7]", "[6, 70]"), encoding="utf-8"
            ),
            "clips.json: clips[0].sentences",
        ),
        (
            lambda f: (f / "transcript.json").write_text(
                (f / "transcript.json").read_text(encoding="utf-8").replace('"greeting"', '"hello"'), encoding="utf-8"
            ),
            "transcript.json: sentences[0].kind",
        ),
    ],
)
def test_a_broken_folder_is_one_line(folder: Path, breakage: Any, message: str) -> None:
    breakage(folder)
    with pytest.raises(ReviewError) as err:
        read_clips_folder(folder)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_media_outside_the_folder_is_refused(folder: Path, tmp_path: Path) -> None:
    manifest = json.loads((folder / "clips.json").read_text(encoding="utf-8"))
    (tmp_path / "secret.mp4").write_bytes(b"not yours")
    manifest["clips"][0]["path"] = "../secret.mp4"
    (folder / "clips.json").write_text(json.dumps(manifest), encoding="utf-8")
    clips = read_clips_folder(folder)
    with pytest.raises(ReviewError, match="outside"):
        clips.media_path(clips.clip("c02"))
    assert clips.media_path(clips.clip("c01")) == (folder / "c01.mp4").resolve()


# -- the store on SQLite and Postgres ------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh database per test: SQLite in the data dir, or a throwaway Postgres database."""
    if request.param == "sqlite":
        yield "sqlite"
        return
    with throwaway_postgres(monkeypatch):
        yield "postgres"


def test_store_saves_loads_lists_exports_and_imports(database: str) -> None:
    del database
    assert labels_store.load_source_labels("a.mp4") is None
    stored = labels_store.save_labels(_labels("a.mp4"))
    assert labels_store.load_source_labels("a.mp4") == stored
    unstamped = labels_store.save_labels(replace(_labels("b.mp4"), updated_at=""))
    assert unstamped.updated_at  # set to now
    listed = labels_store.list_labels()
    assert [s.source for s in listed] == ["b.mp4", "a.mp4"]  # most recently changed first
    assert listed[1].sentences == 2 and listed[1].verdicts == 1 and listed[1].annotator == "li.na"
    assert labels_store.export_labels(["a.mp4"]) == (stored,)
    assert [s.source for s in labels_store.export_labels()] == ["a.mp4", "b.mp4"]
    with pytest.raises(ReviewError, match=r"nope\.mp4"):
        labels_store.export_labels(["a.mp4", "nope.mp4"])

    newer = _labels("a.mp4", updated_at="2026-12-02T10:00:00+00:00", kind="price")
    older = _labels("c.mp4", updated_at="2020-01-01T00:00:00+00:00")
    result = labels_store.import_labels([newer, older])
    assert result.written == ("a.mp4", "c.mp4") and result.kept == ()
    assert labels_store.load_source_labels("a.mp4") == newer
    again = labels_store.import_labels([newer, older])
    assert again.written == () and again.kept == ("a.mp4", "c.mp4")
    assert labels_store.import_labels([_labels("a.mp4")]).kept == ("a.mp4",)  # 10:00 is older than the stored
    assert labels_store.load_source_labels("a.mp4") == newer
    # a bad time anywhere: nothing written
    with pytest.raises(LabelFormatError, match=r"sources\[1\].*updated_at"):
        labels_store.import_labels([_labels("d.mp4"), _labels("e.mp4", updated_at="yesterday")])
    assert labels_store.load_source_labels("d.mp4") is None


# -- mcn clips review (terminal) -----------------------------------------------------------------------------------


def test_terminal_review_with_scripted_input(folder: Path, data_dir: Path) -> None:
    del data_dir
    script = "\n".join(
        [
            "?",  # help
            "k 4 p",  # already price: a prefix works
            "k 3 chatter",  # correct a kind
            "k 99 selling",  # no such sentence: an error, the review goes on
            "zz",  # unknown command
            "b",  # bad needs a reason
            "f 3",
            "b starts mid-sentence",  # c01 (best first) is bad, boundaries 3..4; moves to c02
            "r 6 8",
            "g",  # c02 good with 6..8; the end of the clips
        ]
    )
    result = CliRunner().invoke(app, ["clips", "review", str(folder)], input=script + "\n", env=ENV)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "k N KIND" in out  # the help
    assert "clip 1/2" in out and "c01" in out and "保温十二小时" in out  # hook shown
    assert "sentence 99: no such sentence" in out and "command 'zz': unknown" in out
    assert "a bad clip needs a reason" in out
    assert "2 of 2 clips reviewed (1 good, 1 bad)" in out
    labels = labels_store.load_source_labels(SOURCE)
    assert labels is not None and labels.annotator == "li.na" and labels.updated_at
    assert labels.kinds()[3] == "chatter" and labels.kinds()[4] == "price"
    verdicts = {v.clip_id: v for v in labels.clips}
    assert verdicts["c01"] == ClipVerdict("c01", 3, 4, False, "starts mid-sentence")
    assert verdicts["c02"] == ClipVerdict("c02", 6, 8, True, "")

    # a second review starts from the stored labels; q saves kind edits and quits
    result = CliRunner().invoke(app, ["clips", "review", str(folder)], input="t\nk 0 chatter\nq\n", env=ENV)
    assert result.exit_code == 0, result.output
    assert "bad (starts mid-sentence)" in result.output  # the stored verdict is shown
    again = labels_store.load_source_labels(SOURCE)
    assert again is not None and again.kinds()[0] == "chatter" and again.clips == labels.clips


def test_review_end_of_input_saves_and_nothing_changed_saves_nothing(folder: Path, data_dir: Path) -> None:
    del data_dir
    result = CliRunner().invoke(app, ["clips", "review", str(folder)], input="", env=ENV)
    assert result.exit_code == 0 and "nothing changed, nothing saved" in result.output
    assert labels_store.load_source_labels(SOURCE) is None
    result = CliRunner().invoke(app, ["clips", "review", str(folder)], input="k 1 selling\n", env=ENV)
    assert result.exit_code == 0 and "saved labels" in result.output
    stored = labels_store.load_source_labels(SOURCE)
    assert stored is not None and stored.kinds()[1] == "selling"


def test_review_bad_input_is_one_line(folder: Path, data_dir: Path, tmp_path: Path) -> None:
    del data_dir
    runner = CliRunner()
    result = runner.invoke(app, ["clips", "review", str(tmp_path / "nowhere")], env=ENV)
    assert result.exit_code == 1
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "nowhere" in lines[0]
    result = runner.invoke(app, ["clips", "review", str(folder), "--web", "--host", "0.0.0.0"], env=ENV)
    assert result.exit_code == 2 and "127.0.0.1 only" in result.output


# -- mcn labels export / import ------------------------------------------------------------------------------------


def _db_state() -> list[tuple[str, str, str]]:
    return [(s.source, s.updated_at, json.dumps(labels_to_json([s]))) for s in labels_store.export_labels()]


def test_export_import_round_trip_is_idempotent_and_later_wins(folder: Path, data_dir: Path, tmp_path: Path) -> None:
    del data_dir
    runner = CliRunner()
    assert runner.invoke(app, ["clips", "review", str(folder)], input="b too long\n", env=ENV).exit_code == 0
    labels_store.save_labels(_labels("other.mp4"))
    exported = tmp_path / "out.json"
    result = runner.invoke(app, ["labels", "export", str(exported), "--source", SOURCE], env=ENV)
    assert result.exit_code == 0 and "1 sources" in result.output, result.output
    sent = load_labels(exported)
    assert [s.source for s in sent] == [SOURCE]

    # the annotator corrects a kind and sends the file back later
    doc = json.loads(exported.read_text(encoding="utf-8"))
    doc["sources"][0]["sentences"][8]["kind"] = "reply"
    doc["sources"][0]["annotator"] = "outside.team"
    doc["sources"][0]["updated_at"] = "2999-01-01T00:00:00+00:00"
    returned = tmp_path / "returned.json"
    returned.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    result = runner.invoke(app, ["labels", "import", str(returned)], env=ENV)
    assert result.exit_code == 0 and "imported 1 sources" in result.output, result.output
    before = _db_state()
    stored = labels_store.load_source_labels(SOURCE)
    assert stored is not None and stored.kinds()[8] == "reply" and stored.annotator == "outside.team"

    for file in (returned, exported):  # again, and the older export: both change nothing
        result = runner.invoke(app, ["labels", "import", str(file)], env=ENV)
        assert result.exit_code == 0 and "imported 0 sources" in result.output and "kept 1" in result.output
        assert _db_state() == before

    listed = runner.invoke(app, ["labels", "list"], env=ENV)
    assert listed.exit_code == 0 and SOURCE in listed.output and "outside.team" in listed.output


def test_a_bad_import_names_the_item_and_writes_nothing(data_dir: Path, tmp_path: Path) -> None:
    del data_dir
    doc = labels_to_json([_labels("new.mp4"), _labels("broken.mp4")])
    doc["sources"][1]["sentences"][0]["kind"] = "hello"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc), encoding="utf-8")
    result = CliRunner().invoke(app, ["labels", "import", str(bad)], env=ENV)
    assert result.exit_code == 1
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "sources[1].sentences[0].kind" in lines[0] and "bad.json" in lines[0], result.output
    assert labels_store.load_source_labels("new.mp4") is None

    doc = labels_to_json([_labels("new.mp4"), _labels("new.mp4")])
    bad.write_text(json.dumps(doc), encoding="utf-8")
    result = CliRunner().invoke(app, ["labels", "import", str(bad)], env=ENV)
    assert result.exit_code == 1 and "sources[1]: source 'new.mp4' already appears" in result.output
    assert labels_store.list_labels() == []

    result = CliRunner().invoke(app, ["labels", "export", str(tmp_path / "x.json"), "--source", "nope"], env=ENV)
    assert result.exit_code == 1 and "nope: no stored labels" in result.output
    assert not (tmp_path / "x.json").exists()
