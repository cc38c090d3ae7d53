"""The all-day dispatcher (flows/publish_due.py:publish_due_loop) in the real Prefect test server against the real
sandbox platform: passes run in one flow run, posts due later go out in a later pass, the run's state message
tells what happened, every pass and every failed post is a Prefect event, and a run whose window has passed
ends Cancelled without publishing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from flows.publish_due import (
    PASS_EVENT,
    POST_FAILED_EVENT,
    publish_due_loop,
    window_of,
)
from mcn.db import dispose_engines, get_engine
from mcn.settings import get_settings
from mcn.tables import PostRecord
from sandbox.app import create_app
from sandbox.config import Rules
from sandbox.server import serve_in_thread
from tests.publish_support import distinct_videos, fill_outbox, mirror_accounts, sandbox_accounts
from tests.sandbox_support import sandbox_config

posts = PostRecord.__table__  # type: ignore[attr-defined]
WINDOW_MINUTES = 0.25  # 15 s windows: room for a few 1 s passes on a busy machine, short enough for a test


@pytest.fixture
def env(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    app = create_app(sandbox_config(tmp_path / "sandbox", rules=Rules(min_interval_seconds=0)))
    with serve_in_thread(app) as url:
        monkeypatch.setenv("MCN_SANDBOX_URL", url)
        monkeypatch.setenv("MCN_SANDBOX_PUBLISH_VIA", "api")
        monkeypatch.setenv("MCN_PLATFORM_LIMITS", '{"sandbox": {"min_spacing_seconds": 0}}')
        get_settings.cache_clear()
        yield url
        dispose_engines()


def _events(name: str, since: datetime) -> list[object]:
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter

    with get_client(sync_client=True) as client:
        page = client.read_events(
            EventFilter(event=EventNameFilter(name=[name]), occurred=EventOccurredFilter(since=since)),
            limit=50,
        )
    return list(page.events)


def _wait_for_events(name: str, since: datetime, count: int, deadline: float = 60.0) -> list[object]:
    end = time.monotonic() + deadline
    while True:
        found = _events(name, since)
        if len(found) >= count or time.monotonic() > end:
            return found
        time.sleep(0.5)


def _statuses() -> dict[str, str]:
    with get_engine().connect() as conn:
        return {row.id: row.status for row in conn.execute(select(posts.c.id, posts.c.status))}


def test_the_loop_publishes_in_later_passes_of_one_run_and_reports_through_state_and_events(
    prefect_server: None, env: str, tmp_path: Path
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName, FlowRunFilter, FlowRunFilterStartTime

    videos = distinct_videos(tmp_path / "videos", 8)
    ids = mirror_accounts(sandbox_accounts(env, 2, "loop"))
    began = datetime.now(UTC)
    due_now = fill_outbox(ids, videos[:2], 1, began - timedelta(minutes=1))
    # Refused before leaving (no AI label): a failed post, which must become a Prefect event.
    refused = fill_outbox(ids[:1], videos[2:3], 1, began - timedelta(minutes=1), ai_label="")
    # Start just after a window begins, so the run has the whole window for its passes.
    _, end = window_of(datetime.now(UTC), WINDOW_MINUTES)
    time.sleep(max(0.0, (end - datetime.now(UTC)).total_seconds()) + 0.1)
    later = fill_outbox(ids, videos[4:6], 1, datetime.now(UTC) + timedelta(seconds=3))

    result = publish_due_loop(interval_seconds=1.0, window_minutes=WINDOW_MINUTES, concurrency=2)

    assert isinstance(result, dict), result
    # The posts due 3 s in went out in a later pass of the same run.
    assert result["passes"] >= 2 and result["posted"] == 4 and result["failed"] == 1, result
    statuses = _statuses()
    assert {statuses[p] for p in due_now + later} == {"posted"} and statuses[refused[0]] == "failed"
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["publish-due"])),
            # the session's server: runs of other modules (e.g. started by an automation) began earlier
            flow_run_filter=FlowRunFilter(start_time=FlowRunFilterStartTime(after_=began)),
        )
        assert len(runs) == 1, [r.name for r in runs]  # every pass in one run
        run = runs[0]
        assert run.name.startswith("publish-due ") and run.state is not None and run.state.is_completed()
        messages = [s.message or "" for s in client.read_flow_run_states(run.id) if s.type.value == "RUNNING"]
    # The state message tells the operator what the passes did (here: the first pass posted two).
    assert any("passes: " in m and "posted" in m for m in messages), messages
    assert len(_wait_for_events(PASS_EVENT, began, result["passes"])) >= result["passes"]
    failed = _wait_for_events(POST_FAILED_EVENT, began, 1)
    assert [e.resource.id for e in failed] == [f"mcn.post.{refused[0]}"]  # type: ignore[attr-defined]


def test_a_run_started_after_its_window_ended_is_cancelled_without_a_pass(prefect_server: None, env: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.flow_engine import run_flow
    from prefect.states import Scheduled

    with get_client(sync_client=True) as client:
        stale = client.create_flow_run(
            publish_due_loop,
            parameters={"interval_seconds": 1.0, "window_minutes": 1.0},
            state=Scheduled(scheduled_time=datetime.now(UTC) - timedelta(minutes=5)),
        )
        began = datetime.now(UTC)
        state = run_flow(publish_due_loop, flow_run=stale, parameters=stale.parameters, return_type="state")
        assert state.is_cancelled() and "ended at" in (state.message or ""), state  # type: ignore[union-attr]
        assert client.read_flow_run(stale.id).state.is_cancelled()  # type: ignore[union-attr]
    time.sleep(2)
    assert _events(PASS_EVENT, began) == []
