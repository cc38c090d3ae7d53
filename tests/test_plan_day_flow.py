"""The plan-day flow in the real Prefect test server: tomorrow's plan written, its schedule artifact in each
account's own time zone, a state message that says what happened (or why nothing did), bad input failing with
one line."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine

from flows.plan_day import plan_day_flow, resolve_day
from mcn.db import get_engine
from publisher.plan import PlanError
from tests.test_plan import _with_source_and_run, add_account, add_clips, add_product, stored_posts

WINDOWS = ["09:00-12:00", "18:00-23:30"]


@pytest.fixture
def engine(data_dir: object) -> Engine:
    return _with_source_and_run(get_engine())


def _schedule_artifact() -> tuple[list[dict[str, Any]], str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["plan-day-schedule"])))
    latest = max(found, key=lambda a: a.created or datetime.min)
    data = latest.data if isinstance(latest.data, list) else json.loads(str(latest.data))
    return data, latest.description or ""


def test_plan_day_plans_tomorrow_and_shows_the_schedule_in_each_accounts_time_zone(
    prefect_server: None, engine: Engine
) -> None:
    add_product(engine, "p1")
    add_clips(engine, 12, product_id="p1")
    shanghai = add_account(engine, "sh_shop", daily_cap=3, windows=WINDOWS, timezone="Asia/Shanghai")
    new_york = add_account(engine, "ny_shop", daily_cap=3, windows=WINDOWS, timezone="America/New_York")

    state = plan_day_flow(day="tomorrow", return_state=True)

    tomorrow = date.today() + timedelta(days=1)
    assert state.is_completed(), state
    assert state.message == f"planned 6 posts on 2 accounts for {tomorrow.isoformat()}", state.message
    assert len(stored_posts(engine)) == 6
    rows, description = _schedule_artifact()
    assert description.startswith("planned 6 posts")
    assert {r["account"] for r in rows} == {"sandbox/sh_shop", "sandbox/ny_shop"} and len(rows) == 6
    by_id = {shanghai: ("sandbox/sh_shop", "Asia/Shanghai"), new_york: ("sandbox/ny_shop", "America/New_York")}
    for handle, zone in by_id.values():
        mine = [r for r in rows if r["account"] == handle]
        assert len(mine) == 3 and all(r["product"] == "p1" and r["clip"].startswith("clip") for r in mine)
        for row in mine:
            stamp, _, tz = row["slot"].rpartition(" ")
            local = datetime.strptime(stamp, "%Y-%m-%d %H:%M").replace(tzinfo=ZoneInfo(tz))
            # Shown in the account's own zone, inside its posting windows of the planned local day.
            assert tz == zone and local.date() == tomorrow and (9 <= local.hour < 12 or 18 <= local.hour < 24)

    again = plan_day_flow(day="tomorrow", return_state=True)
    assert again.is_completed() and again.message.startswith("planned 0 posts"), again.message  # idempotent
    assert len(stored_posts(engine)) == 6


def test_plan_day_without_accounts_says_why_nothing_was_planned(prefect_server: None, engine: Engine) -> None:
    add_clips(engine, 3)
    add_account(engine, "gone", status="banned")
    state = plan_day_flow(day="today", return_state=True)
    assert state.is_completed()
    assert "planned 0 posts" in (state.message or "") and "1 banned" in (state.message or ""), state.message


@pytest.mark.expect_error_logs  # Prefect logs the Failed final state at ERROR
def test_plan_day_with_a_bad_day_fails_with_one_line(prefect_server: None, engine: Engine) -> None:
    state = plan_day_flow(day="someday", return_state=True)
    assert state.is_failed() and state.message == "day 'someday': expected today, tomorrow or YYYY-MM-DD"
    with pytest.raises(PlanError):
        resolve_day("2025-13-01")
    assert resolve_day("TODAY", today=date(2025, 5, 1)) == date(2025, 5, 1)
    assert resolve_day("tomorrow", today=date(2025, 12, 31)) == date(2026, 1, 1)
