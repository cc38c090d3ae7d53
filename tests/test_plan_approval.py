"""The posting plan's approval gate on a real SQLite database: a rejected clip (remix, edit) is never planned; a
console project that requires approval (the default) has its clips planned only once approved; the CLI's own
clips keep planning without review unless ``MCN_REQUIRE_APPROVAL`` asks for it everywhere; rejecting a clip
later cancels its unsent posts with the reason shown by ``mcn plan show``, ``mcn publish status`` and the plan's
"why empty" lines.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel
from typer.testing import CliRunner

from console.auth import add_user
from console.projects import review_clip, set_require_approval
from mcn.db import get_engine
from publisher.plan import CLIPS, POSTS, plan_day
from publisher.plan_cli import schedule, why_empty
from tests.helpers import throwaway_postgres
from tests.test_plan import DAY, NOW, _with_source_and_run, add_account, add_clips

PASSWORD = "correct horse battery"
UPLOAD = "/data/console/uploads/p1/stream.mp4"


@pytest.fixture
def engine(data_dir: object) -> Engine:
    return _with_source_and_run(get_engine())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def either_engine(
    request: pytest.FixtureRequest, data_dir: object, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Engine]:
    """SQLite, and a throwaway Postgres database (where a rejection takes the planners' advisory lock)."""
    if request.param == "sqlite":
        yield _with_source_and_run(get_engine())
        return
    with throwaway_postgres(monkeypatch):
        yield _with_source_and_run(get_engine())


def _brand_project(engine: Engine, require_approval: bool = True) -> str:
    """A console project of brand acme with one uploaded recording made into clips (source ``brand-src``)."""
    stamp = datetime.now(UTC)
    tables = SQLModel.metadata.tables
    with engine.begin() as conn:
        conn.execute(
            insert(tables["console_projects"]),
            [
                {
                    "id": "p1",
                    "brand": "acme",
                    "name": "Rain gear live",
                    "created_by": "ann",
                    "created_at": stamp,
                    "require_approval": require_approval,
                }
            ],
        )
        conn.execute(
            insert(tables["console_uploads"]),
            [
                {
                    "id": "u1",
                    "project_id": "p1",
                    "filename": "stream.mp4",
                    "size": 1,
                    "received": 1,
                    "status": "submitted",
                    "path": UPLOAD,
                    "created_at": stamp,
                    "updated_at": stamp,
                }
            ],
        )
        conn.execute(
            insert(tables["sources"]),
            [{"id": "brand-src", "uri": UPLOAD, "status": "done", "created_at": stamp, "updated_at": stamp}],
        )
    return "p1"


def _of_source(engine: Engine, clip_ids: list[str], source_id: str, kind: str = "livestream") -> None:
    with engine.begin() as conn:
        conn.execute(update(CLIPS).where(CLIPS.c.id.in_(clip_ids)).values(source_id=source_id, kind=kind))


def _planned(engine: Engine, status: str = "planned") -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(POSTS.c.clip_id).where(POSTS.c.status == status)).scalars())


def test_brand_clips_wait_for_approval_rejected_ones_never_go_and_the_operators_own_keep_planning(
    engine: Engine,
) -> None:
    project = _brand_project(engine)
    ann = add_user("ann", "brand", PASSWORD, brand="acme")
    own = add_clips(engine, 2)  # made from the CLI: no project, no review needed
    own_remix_rejected = add_clips(engine, 1)
    _of_source(engine, own_remix_rejected, "src", kind="remix")
    approved, rejected, unreviewed = add_clips(engine, 3)
    edit = add_clips(engine, 1)  # an edit of the brand's recording needs approval like its clips
    _of_source(engine, [approved, rejected, unreviewed], "brand-src")
    _of_source(engine, edit, "brand-src", kind="edit")
    add_account(engine, "only", daily_cap=10)
    review_clip(ann, approved, "approved")
    review_clip(ann, rejected, "rejected", "wrong price on screen")
    review_clip(add_user("ops", "operator", PASSWORD), own_remix_rejected[0], "rejected", "music rights")

    result = plan_day(DAY, now=NOW)
    assert _planned(engine) == {*own, approved}
    assert result.awaiting_approval == 2 and result.rejected_clips == 2
    # the slots left empty name the clips waiting for approval
    reasons = result.unfilled_by_reason()
    assert any("2 clips wait for approval" in reason for reason in reasons), reasons

    # the brand turns the gate off for its project: its unreviewed clips and the edit are planned, the rejected
    # clip still never is
    set_require_approval(ann, project, False)
    again = plan_day(DAY, now=NOW)
    assert {p.clip_id for p in again.posts} == {unreviewed, *edit}
    assert again.awaiting_approval == 0 and again.rejected_clips == 2
    assert rejected not in _planned(engine) and own_remix_rejected[0] not in _planned(engine)


def test_mcn_require_approval_gates_every_clip_and_an_empty_day_says_so(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mcn.settings import get_settings

    clips = add_clips(engine, 3)
    add_account(engine, "only", daily_cap=10)
    monkeypatch.setenv("MCN_REQUIRE_APPROVAL", "1")
    get_settings.cache_clear()
    result = plan_day(DAY, now=NOW)
    assert result.planned == 0 and result.awaiting_approval == 3
    assert any("3 clips wait for approval" in reason for reason in result.unfilled_by_reason())
    why = why_empty(DAY)
    assert "3 wait for approval" in why and "console" in why, why

    review_clip(add_user("ops", "operator", PASSWORD), clips[1], "approved")
    assert {p.clip_id for p in plan_day(DAY, now=NOW).posts} == {clips[1]}
    assert "2 of 3 clips wait for approval" in why_empty(DAY.replace(day=DAY.day + 1))  # a day not planned

    monkeypatch.delenv("MCN_REQUIRE_APPROVAL")
    get_settings.cache_clear()
    assert {p.clip_id for p in plan_day(DAY, now=NOW).posts} == {clips[0], clips[2]}  # the CLI's default: no gate


def test_rejecting_a_planned_clip_cancels_its_unsent_posts_with_the_reason_shown(either_engine: Engine) -> None:
    from mcn.cli import app

    engine = either_engine

    doomed, kept = add_clips(engine, 2)
    with engine.begin() as conn:  # the doomed clip is the better one: the other platform's one account gets it
        conn.execute(update(CLIPS).where(CLIPS.c.id == doomed).values(score=0.99))
        conn.execute(update(CLIPS).where(CLIPS.c.id == kept).values(score=0.5))
    first, second = add_account(engine, "first", daily_cap=1), add_account(engine, "second", daily_cap=1)
    other = add_account(engine, "elsewhere", platform="douyin", daily_cap=1)
    plan_day(DAY, now=NOW)
    with engine.begin() as conn:
        rows = list(conn.execute(select(POSTS)))
        assert {(r.platform, r.clip_id) for r in rows} == {("sandbox", doomed), ("sandbox", kept), ("douyin", doomed)}
        # the douyin post is already claimed by a dispatcher: on its way, it is left to finish
        claimed = next(r.id for r in rows if r.account_id == other)
        conn.execute(update(POSTS).where(POSTS.c.id == claimed).values(status="claimed", claimed_by="worker-1"))
    doomed_post = next(r.id for r in rows if r.clip_id == doomed and r.platform == "sandbox")

    review_clip(add_user("ops", "operator", PASSWORD), doomed, "rejected", "wrong price on screen")
    events_table = SQLModel.metadata.tables["post_events"]
    with engine.connect() as conn:
        after = {r.id: r for r in conn.execute(select(POSTS))}
        events = conn.execute(select(events_table).where(events_table.c.post_id == doomed_post)).all()
    cancelled = after[doomed_post]
    assert cancelled.status == "rejected" and cancelled.error_code == "clip_rejected"
    assert cancelled.last_error == "clip rejected by ops: wrong price on screen"
    assert [(e.from_status, e.to_status) for e in events] == [("planned", "rejected")]
    assert after[claimed].status == "claimed"
    assert [r.status for r in after.values() if r.clip_id == kept] == ["planned"]
    assert {r.account_id for r in after.values()} == {first, second, other}

    shown = {(row["account"], row["clip"].split()[0]): row["status"] for row in schedule(DAY)}
    assert shown[("first", doomed) if ("first", doomed) in shown else ("second", doomed)] == (
        "rejected: clip rejected by ops: wrong price on screen"
    )
    status = CliRunner().invoke(app, ["publish", "status", "--failed"], env={"COLUMNS": "250"})
    assert status.exit_code == 0, status.output
    assert "clip rejected by ops: wrong price on screen" in status.output

    # a re-plan never puts the rejected clip back in the freed slot (no other clip is left: it stays empty)
    result = plan_day(DAY, now=NOW)
    assert result.planned == 0 and result.rejected_clips == 1


def _reviewed_folder_with_planned_clips(engine: Engine, tmp_path: Path, run_id: str) -> Path:
    """A clips folder (two clips, c01 and c02) and the run that made it as mcn clips make records it (its source,
    output folder and clips), both clips planned for one account; returns the folder."""
    from tests.labels_support import SOURCE, make_clips_folder

    placeholder = tmp_path / "clip.mp4"
    placeholder.write_bytes(b"\0" * 64)  # the review reads clips.json and transcript.json, not the video
    folder = make_clips_folder(tmp_path / "out", media=placeholder)
    stamp = datetime.now(UTC)
    tables = SQLModel.metadata.tables
    source_id = f"{run_id}-src"
    with engine.begin() as conn:
        conn.execute(
            insert(tables["sources"]),
            [{"id": source_id, "uri": SOURCE, "status": "done", "created_at": stamp, "updated_at": stamp}],
        )
        conn.execute(
            insert(tables["runs"]),
            [
                {
                    "id": run_id,
                    "kind": "make_clips",
                    "source_id": source_id,
                    "status": "succeeded",
                    "params": {},
                    "stats": {"out_dir": str(folder)},
                    "started_at": stamp,
                }
            ],
        )
    made = add_clips(engine, 2)
    with engine.begin() as conn:
        for old, new in zip(made, (f"{run_id[:12]}-c01", f"{run_id[:12]}-c02"), strict=True):
            conn.execute(update(CLIPS).where(CLIPS.c.id == old).values(id=new, run_id=run_id, source_id=source_id))
    add_account(engine, "only", daily_cap=10)
    assert plan_day(DAY, now=NOW).planned == 2  # the operator's own clips: planned without review
    return folder


def test_the_terminal_reviews_verdicts_gate_posting_like_the_consoles(engine: Engine, tmp_path: Path) -> None:
    from mcn.cli import app

    run_id = "labelledrun0001"
    folder = _reviewed_folder_with_planned_clips(engine, tmp_path, run_id)

    env = {"COLUMNS": "200", "MCN_ANNOTATOR": "li.na"}
    review = CliRunner().invoke(app, ["clips", "review", str(folder)], input="b starts mid-sentence\ng\n", env=env)
    assert review.exit_code == 0, review.output
    assert "rejected for posting, 1 planned post(s) cancelled" in review.output
    assert "approved for posting" in review.output
    with engine.connect() as conn:
        rows = {r.clip_id: r for r in conn.execute(select(POSTS))}
    bad, good = rows[f"{run_id[:12]}-c01"], rows[f"{run_id[:12]}-c02"]
    assert (bad.status, bad.last_error) == ("rejected", "clip rejected by li.na: starts mid-sentence")
    assert good.status == "planned"
    assert plan_day(DAY, now=NOW).rejected_clips == 1 and _planned(engine) == {good.clip_id}


def test_the_web_reviews_verdicts_gate_posting_too(engine: Engine, tmp_path: Path) -> None:
    """``mcn clips review --web``: a bad verdict saved on the page rejects the clip for posting (its planned post
    cancelled, the line shown with the save notice), a good one approves it, as in the terminal review."""
    import httpx

    from mcn.labels_store import read_clips_folder
    from mcn.review import posting_verdicts
    from mcn.review_web import CSRF_FIELD, create_review_app
    from sandbox.server import serve_in_thread

    run_id = "labelledrun0002"
    folder_path = _reviewed_folder_with_planned_clips(engine, tmp_path, run_id)

    folder = read_clips_folder(folder_path)
    review = create_review_app(folder, "li.na", decide=posting_verdicts(folder, "li.na"))
    first, second = folder.clips[0], folder.clips[1]
    with serve_in_thread(review.app) as url, httpx.Client(base_url=url, follow_redirects=True) as http:
        for clip, verdict, reason in ((first, "bad", "starts mid-sentence"), (second, "good", "")):
            form = {
                CSRF_FIELD: review.csrf_token,
                "clip_id": clip.id,
                "first": str(clip.first_sentence),
                "last": str(clip.last_sentence),
                "verdict": verdict,
                "reason": reason,
            }
            page = http.post("/save", data=form)
            assert page.status_code == 200, page.text
            expected = (
                "rejected for posting, 1 planned post(s) cancelled" if verdict == "bad" else "approved for posting"
            )
            assert expected in page.text
    with engine.connect() as conn:
        rows = {r.clip_id: r for r in conn.execute(select(POSTS))}
    bad, good = rows[f"{run_id[:12]}-{first.id}"], rows[f"{run_id[:12]}-{second.id}"]
    assert (bad.status, bad.last_error) == ("rejected", "clip rejected by li.na: starts mid-sentence")
    assert good.status == "planned"
