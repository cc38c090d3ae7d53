"""``mcn plan show`` and ``mcn review list`` as an operator in another time zone reads them: the schedule of a
day with each account's handle, local time, clip and product; empty results that say why."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from accounts.registry import AccountSpec, add_account
from mcn.cli import app
from mcn.db import session
from mcn.tables import ProductRecord
from tests.publish_support import fill_outbox

WIDE = {"COLUMNS": "250"}
SLOT = datetime(2026, 12, 1, 23, 30, tzinfo=UTC)  # 18:30 in New York, 07:30 the next day in Shanghai


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=WIDE)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout


def test_plan_show_lists_handles_local_times_clips_and_products(data_dir: Path, tmp_path: Path) -> None:
    code, stdout = _invoke("plan", "show", "--date", "2026-12-01")
    assert code == 0 and "nothing scheduled for 2026-12-01: no accounts registered" in stdout
    east = add_account(AccountSpec("outbox", "east_shelf", timezone="America/New_York"))
    west = add_account(AccountSpec("outbox", "asia_shelf", timezone="Asia/Shanghai"))
    code, stdout = _invoke("plan", "show", "--date", "2026-12-01")
    assert "no clips yet" in stdout
    with session() as db:
        db.add(ProductRecord(id="cup1", name="保温杯"))
        db.commit()
    videos = [tmp_path / f"clip{n}.mp4" for n in range(2)]
    fill_outbox([east.id, west.id], videos, 1, SLOT, product_id="cup1", plan_date=date(2026, 12, 1))
    code, stdout = _invoke("plan", "show", "--date", "2026-12-01")
    assert code == 0, stdout
    lines = {line.split("│")[1].strip(): line for line in stdout.splitlines() if "shelf" in line}
    assert "2026-12-01 18:30 America/New_York" in lines["east_shelf"]
    assert "2026-12-02 07:30 Asia/Shanghai" in lines["asia_shelf"]
    assert all("cup1 保温杯" in line and "planned" in line and "好物分享" in line for line in lines.values())
    code, stdout = _invoke("plan", "show", "--date", "2026-12-02")
    assert code == 0 and "not planned yet (mcn plan --date 2026-12-02)" in stdout


def test_plan_show_takes_today_and_tomorrow(data_dir: Path) -> None:
    tomorrow = date.today() + timedelta(days=1)
    code, stdout = _invoke("plan", "show", "--date", "tomorrow")
    assert code == 0 and f"nothing scheduled for {tomorrow}" in stdout
    code, stdout = _invoke("plan", "show", "--date", "today")
    assert code == 0 and f"nothing scheduled for {date.today()}" in stdout
    code, _ = _invoke("plan", "show", "--date", "someday")
    assert code == 2


def test_review_list_shows_local_times_and_says_why_it_is_empty(data_dir: Path, tmp_path: Path) -> None:
    code, stdout = _invoke("review", "list")
    assert code == 0 and "no posts waiting for approval: no accounts registered" in stdout
    east = add_account(AccountSpec("outbox", "east_shelf", timezone="America/New_York"))
    code, stdout = _invoke("review", "list")
    assert "no account requires approval" in stdout
    gated = add_account(AccountSpec("outbox", "gated", timezone="America/New_York", approval_required=True))
    code, stdout = _invoke("review", "list")
    assert "1 accounts require approval but none has a planned post waiting" in stdout
    fill_outbox([gated.id, east.id], [tmp_path / "a.mp4", tmp_path / "b.mp4"], 1, SLOT, approval="pending")
    code, stdout = _invoke("review", "list")
    assert code == 0 and "2026-12-01 18:30 America/New_York" in stdout and "slot (local)" in stdout
