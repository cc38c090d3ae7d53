"""Throttled posts: stored as posted with ``throttled`` set, shown as "throttled" (with the account's handle) by
the dispatcher's report, the publish table artifact's rows, ``mcn publish due`` and ``mcn publish status``.

The platform is the real sandbox over HTTP: a near-duplicate (the same video re-encoded) of another account's
post is accepted but throttled (its ``limited`` flag), exactly as the sandbox's rules decide.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from flows.publish_due import is_throttled, publish_rows
from mcn.cli import app
from mcn.db import dispose_engines, get_engine
from mcn.settings import get_settings
from mcn.tables import PostRecord
from publisher.dispatch import DispatchOptions, publish_due
from sandbox.app import create_app
from sandbox.config import Rules
from sandbox.server import serve_in_thread
from tests.publish_support import assert_exactly_once, fill_outbox, mirror_accounts, sandbox_accounts, sandbox_posts
from tests.sandbox_support import make_video, reencode, sandbox_config

posts = PostRecord.__table__  # type: ignore[attr-defined]
FAST = DispatchOptions(min_spacing_seconds=0, reconcile_delay_seconds=0, reconcile_grace_seconds=1, concurrency=2)
WIDE = {"COLUMNS": "220", "MCN_PLATFORM_LIMITS": '{"sandbox": {"min_spacing_seconds": 0}}'}


def _near_duplicates(folder: Path, seed: int) -> tuple[Path, Path]:
    """A video and the same video re-encoded (different bytes, the same frames to the sandbox's hashes)."""
    (folder / "v").mkdir()
    (folder / "w").mkdir()
    original = make_video(folder / "v" / "original.mp4", seed)
    return original, reencode(original, folder / "w" / "near.mp4", "60k")


@pytest.fixture
def sandbox_env(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    app_ = create_app(sandbox_config(tmp_path / "sandbox", rules=Rules(min_interval_seconds=0)))
    with serve_in_thread(app_) as url:
        monkeypatch.setenv("MCN_SANDBOX_URL", url)
        monkeypatch.setenv("MCN_SANDBOX_PUBLISH_VIA", "api")
        get_settings.cache_clear()
        yield url
        dispose_engines()
        get_settings.cache_clear()


def test_a_throttled_post_is_stored_and_shown_as_throttled_not_posted(sandbox_env: str, tmp_path: Path) -> None:
    original, near = _near_duplicates(tmp_path, 11)
    first, second = mirror_accounts(sandbox_accounts(sandbox_env, 2, "thr"))
    due = datetime.now(UTC) - timedelta(minutes=1)
    fill_outbox([first], [original], 1, due)
    opening = publish_due(options=FAST)
    assert [o.state for o in opening.outcomes] == ["posted"]
    fill_outbox([second], [near], 1, due)  # the same footage on another account: the platform throttles it
    runner = CliRunner()
    get_settings.cache_clear()
    shown = runner.invoke(app, ["publish", "due"], env=WIDE)
    get_settings.cache_clear()
    assert shown.exit_code == 0, shown.output
    assert "1 throttled" in shown.output and "thr0001" in shown.output, shown.output

    with get_engine().connect() as conn:
        rows = {r.account_id: r for r in conn.execute(select(posts))}
    assert rows[first].status == "posted" and rows[first].throttled is False
    assert rows[second].status == "posted" and rows[second].throttled is True  # out, counted, but throttled
    # exactly once: each post is on the platform once, and a second pass sends nothing
    assert publish_due(options=FAST).outcomes == ()
    assert_exactly_once(sandbox_env, {r.tracking_code for r in rows.values()})
    assert sum(p["limited"] for p in sandbox_posts(sandbox_env)) == 1

    status = runner.invoke(app, ["publish", "status", "--failed"], env=WIDE)
    assert status.exit_code == 0, status.output
    counts = {
        line.split("│")[1].strip(): line.split("│")[2].strip() for line in status.output.splitlines() if "│" in line
    }
    assert counts["posted"] == "1" and counts["throttled"] == "1", status.output
    listed = [line for line in status.output.splitlines() if "thr0001" in line]
    assert len(listed) == 1 and "throttled" in listed[0], status.output
    assert not any("thr0000" in line for line in status.output.splitlines())  # a plain post is not listed


def test_the_publish_table_rows_name_handles_and_throttled(sandbox_env: str, tmp_path: Path) -> None:
    original, near = _near_duplicates(tmp_path, 12)
    first, second = mirror_accounts(sandbox_accounts(sandbox_env, 2, "art"))
    due = datetime.now(UTC) - timedelta(minutes=1)
    fill_outbox([first], [original], 1, due)
    plain = publish_due(options=FAST)
    fill_outbox([second], [near], 1, due)
    throttled = publish_due(options=FAST)
    assert [(r["account"], r["status"]) for r in publish_rows(plain)] == [("art0000", "posted")]
    assert [(r["account"], r["status"]) for r in publish_rows(throttled)] == [("art0001", "throttled")]
    assert [is_throttled(o) for o in throttled.outcomes] == [True] and throttled.count("posted") == 1
    assert "1 throttled" in throttled.summary() and "posted" not in throttled.summary()
