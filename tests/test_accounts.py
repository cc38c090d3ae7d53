"""The accounts registry on a real SQLite database: posting windows, CSV import (CLI and functions), statuses,
today's post counts, and the Fernet vault (key file, MCN_SECRET_KEY, wrong key, no plaintext anywhere)."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import stat
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlmodel import select
from typer.testing import CliRunner

from accounts.errors import AccountError, SecretsError
from accounts.importer import import_accounts
from accounts.registry import (
    AccountSpec,
    add_account,
    get_account,
    list_accounts,
    mark_needs_login,
    pause_account,
    posts_today,
    resume_due,
    set_status,
    upsert_account,
)
from accounts.vault import delete_secrets, load_credentials, store_secret
from accounts.windows import DEFAULT_WINDOWS, Window, WindowError, parse_windows, slot_bounds
from mcn.cli import app
from mcn.db import session
from mcn.settings import get_settings
from mcn.tables import AccountSecret, ClipRecord, PostRecord, RunRecord, SourceRecord
from tests.helpers import throwaway_postgres

HEADER = "platform,handle,display_name,niches,daily_cap,windows,timezone,author_id,approval"
WIDE = {"COLUMNS": "250"}
TOKEN = "tok-PLAINTEXT-4f1c9a7e"
COOKIE = "sess-PLAINTEXT-77d2b0c3"


@pytest.fixture
def keyless(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated data dir and no MCN_SECRET_KEY: the vault uses (and creates) the key file."""
    monkeypatch.delenv("MCN_SECRET_KEY", raising=False)
    monkeypatch.delenv("MCN_SECRET_KEY_FILE", raising=False)
    get_settings.cache_clear()
    return data_dir


def cli(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["accounts", *args], input=stdin, env=WIDE)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


# -- windows ---------------------------------------------------------------------------------------------------


def test_windows_parse_reject_and_convert_to_utc_across_dst() -> None:
    assert parse_windows("19:00-23:30; 09:00-12:00") == (Window(540, 720), Window(1140, 1410))
    assert [str(w) for w in parse_windows([])] == list(DEFAULT_WINDOWS)
    assert parse_windows(["22:00-24:00"]) == (Window(1320, 1440),)
    with pytest.raises(WindowError, match=r"crosses midnight; split it .* 22:00-24:00;00:00-02:00"):
        parse_windows("22:00-02:00")
    for bad, problem in (
        ("9-12", "is not a time like 09:00"),
        ("09:00-25:00", "25:00 is not a time of day"),
        ("09:00", "expected HH:MM-HH:MM"),
        ("10:00-10:00", "starts and ends at the same time"),
        ("09:00-12:00;11:00-13:00", "09:00-12:00 and 11:00-13:00 overlap"),
    ):
        with pytest.raises(WindowError, match=problem) as caught:
            parse_windows(bad)
        assert "\n" not in str(caught.value)

    # Shanghai is UTC+8 all year: the default windows of 2026-05-01 in UTC
    bounds = slot_bounds(DEFAULT_WINDOWS, date(2026, 5, 1), "Asia/Shanghai")
    assert bounds == [
        (datetime(2026, 5, 1, 1, 0, tzinfo=UTC), datetime(2026, 5, 1, 4, 0, tzinfo=UTC)),
        (datetime(2026, 5, 1, 10, 0, tzinfo=UTC), datetime(2026, 5, 1, 15, 30, tzinfo=UTC)),
    ]
    # New York springs forward at 02:00 on 2026-03-08 (01:00-04:00 is 2 real hours) and falls back on 11-01 (3 h)
    (spring,) = slot_bounds(["01:00-04:00"], date(2026, 3, 8), "America/New_York")
    assert spring == (datetime(2026, 3, 8, 6, 0, tzinfo=UTC), datetime(2026, 3, 8, 8, 0, tzinfo=UTC))
    (autumn,) = slot_bounds(["00:30-03:00"], date(2026, 11, 1), "America/New_York")
    assert autumn[1] - autumn[0] == timedelta(hours=3, minutes=30)
    (late,) = slot_bounds(["23:00-24:00"], date(2026, 3, 7), "America/New_York")
    assert late == (datetime(2026, 3, 8, 4, 0, tzinfo=UTC), datetime(2026, 3, 8, 5, 0, tzinfo=UTC))
    with pytest.raises(WindowError, match="time zone 'Mars/Base' is unknown"):
        slot_bounds(DEFAULT_WINDOWS, date(2026, 5, 1), "Mars/Base")


# -- CSV import ------------------------------------------------------------------------------------------------


def write_csv(path: Path, *rows: str, bom: bool = True) -> Path:
    path.write_text(("\ufeff" if bom else "") + "\r\n".join((HEADER, *rows)) + "\r\n", encoding="utf-8")
    return path


def test_csv_import_keeps_good_rows_reports_bad_ones_and_updates_on_reimport(keyless: Path, tmp_path: Path) -> None:
    csv_path = write_csv(
        tmp_path / "accounts.csv",
        "sandbox,alice,Alice 好物,beauty|skincare,8,09:00-12:00;19:00-23:30,Asia/Shanghai,buyin-1,yes",  # line 2
        "douyin,@xiaomei,小美的好物分享,美妆;护肤,,,,,no",  # line 3: defaults, Chinese, niches with ;
        "sandbox,bob,Bob,beauty,10,09:00-12:00",  # line 4: 6 columns
        "myspace,carol,Carol,,10,,Asia/Shanghai,,no",  # line 5
        "sandbox,dave,Dave,,10,22:00-02:00,Asia/Shanghai,,no",  # line 6
        "sandbox,erin,Erin,,10,,Mars/Base,,no",  # line 7
        "sandbox,frank,Frank,,51,,Asia/Shanghai,,no",  # line 8
        "",  # line 9: blank (ignored)
        "sandbox,alice,Alice again,,10,,Asia/Shanghai,,no",  # line 10: duplicate of line 2
        "kuaishou,gina,Gina,,0,,Asia/Shanghai,,maybe",  # line 11: cap 0 (first problem wins)
        "kuaishou,hana,Hana,,10,,Asia/Shanghai,,maybe",  # line 12
    )
    code, stdout, stderr = cli("import", str(csv_path))
    assert code == 1
    assert "imported 2 accounts" in stdout and "(2 new, 0 updated, 8 bad rows skipped)" in stdout
    reported = [re.fullmatch(r"error: (.+): line (\d+): (.+)", line) for line in stderr.strip().splitlines()]
    assert all(m and m.group(1) == str(csv_path) for m in reported), stderr
    assert [int(m.group(2)) for m in reported if m] == [4, 5, 6, 7, 8, 10, 11, 12]
    problems = [m.group(3) for m in reported if m]
    assert problems[0] == "expected 9 columns, got 6"
    assert problems[1].startswith("platform 'myspace' is unknown; known: ") and "xiaohongshu" in problems[1]
    assert "'22:00-02:00' crosses midnight" in problems[2]
    assert "time zone 'Mars/Base' is unknown" in problems[3]
    assert problems[4] == "daily cap 51 is out of range 1..50"
    assert problems[5] == "sandbox/alice already appears on line 2"
    assert problems[6] == "daily cap 0 is out of range 1..50"
    assert problems[7] == "approval 'maybe' must be yes/no, true/false or 1/0"

    alice, mei = list_accounts()
    assert (alice.platform, alice.handle, alice.display_name) == ("sandbox", "alice", "Alice 好物")
    assert alice.niches == ("beauty", "skincare") and alice.daily_cap == 8 and alice.author_id == "buyin-1"
    assert alice.windows == ("09:00-12:00", "19:00-23:30") and alice.approval_required is True
    assert (alice.status, alice.status_reason) == ("needs_login", "never logged in")
    assert (mei.platform, mei.handle, mei.display_name, mei.niches) == (
        "douyin",
        "xiaomei",
        "小美的好物分享",
        ("美妆", "护肤"),
    )
    assert (mei.daily_cap, mei.windows, mei.timezone) == (10, DEFAULT_WINDOWS, "Asia/Shanghai")
    assert mei.author_id is None and mei.approval_required is False

    # the operator pauses alice and gives her a persona; a corrected re-import updates, keeps both, adds bob
    pause_account(alice.id, "too many posts", datetime.now(UTC) + timedelta(hours=3))
    upsert_account(AccountSpec("sandbox", "alice", persona="宝妈", daily_cap=8))
    fixed = write_csv(
        tmp_path / "fixed.csv",
        "sandbox,alice,Alice,beauty,5,08:00-10:00,Asia/Tokyo,buyin-1,0",
        "sandbox,bob,Bob,beauty,10,09:00-12:00,Asia/Shanghai,,no",
        bom=False,
    )
    code, stdout, stderr = cli("import", str(fixed))
    assert code == 0, stderr
    assert "(1 new, 1 updated, 0 bad rows skipped)" in stdout and stderr == ""
    accounts = list_accounts()
    assert [(a.platform, a.handle) for a in accounts] == [
        ("sandbox", "alice"),
        ("douyin", "xiaomei"),
        ("sandbox", "bob"),
    ]
    alice = accounts[0]
    assert (alice.daily_cap, alice.windows, alice.timezone, alice.approval_required) == (
        5,
        ("08:00-10:00",),
        "Asia/Tokyo",
        False,
    )
    assert (alice.status, alice.status_reason, alice.persona) == ("paused", "too many posts", "宝妈")


def test_csv_whole_file_errors_are_one_line(keyless: Path, tmp_path: Path) -> None:
    wrong_header = tmp_path / "wrong.csv"
    wrong_header.write_text("platform,handle,name\nsandbox,a,A\n", encoding="utf-8")
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes((HEADER + "\nsandbox,a,小美,,10,,,,no\n").encode("gbk"))
    for path, problem in (
        (wrong_header, "the header must be exactly platform,handle,display_name,"),
        (gbk, "not UTF-8 text; save it as 'CSV UTF-8'"),
        (tmp_path / "missing.csv", "file not found"),
    ):
        code, stdout, stderr = cli("import", str(path))
        assert code == 2 and problem in stderr and stdout == ""  # a usage error: nothing was imported
        assert len(stderr.strip().splitlines()) == 1, stderr
    assert list_accounts() == []
    # the function API reports the same rows the CLI does
    result = import_accounts(write_csv(tmp_path / "ok.csv", "outbox,shelf,Shelf,,3,,UTC,,1", "x,y,,,,,,,"))
    assert [a.handle for a in result.created] == ["shelf"] and result.updated == ()
    assert [str(p).split(";")[0] for p in result.problems] == ["line 3: platform 'x' is unknown"]
    assert get_account(result.created[0].id).status == "active"  # outbox posts to a folder: no login needed


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_csv_nul_byte_in_any_cell_rejects_that_row_by_line_and_keeps_the_good_ones(
    backend: str, keyless: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = ["sandbox", "first", "First 好物", "beauty", "8", "09:00-12:00", "Asia/Shanghai", "buyin-1", "yes"]
    rows = [",".join(good)]  # line 2
    for column in range(len(good)):  # lines 3..11: a NUL in each column in turn
        cells = [*good[:1], f"h{column}", *good[2:]]
        cells[column] = cells[column][:1] + "\0" + cells[column][1:]
        rows.append(",".join(cells))
    rows.append("outbox,last,Last,,3,,UTC,,no")  # line 12
    rows.append("sandbox,bell,Bell\x07Ring,,3,,UTC,,no")  # line 13: another control character
    csv_path = write_csv(tmp_path / "nul.csv", *rows)
    with contextlib.ExitStack() as stack:
        if backend == "postgres":
            stack.enter_context(throwaway_postgres(monkeypatch))
        code, stdout, stderr = cli("import", str(csv_path))
        assert code == 1 and "Traceback" not in stdout + stderr
        assert "(2 new, 0 updated, 10 bad rows skipped)" in stdout, stdout + stderr
        lines = stderr.strip().splitlines()
        assert len(lines) == 10, stderr
        reported = [re.fullmatch(r"error: .+: line (\d+): (.+)", line) for line in lines]
        assert [int(m.group(1)) for m in reported if m] == [*range(3, 12), 13], stderr
        by_line = {int(m.group(1)): m.group(2) for m in reported if m}
        for number, field in ((5, "display_name"), (6, "niche"), (10, "author_id"), (8, "window"), (9, "timezone")):
            assert by_line[number] == f"{field} contains a NUL byte; remove it"
        assert by_line[13] == "display_name contains a control character (U+0007); remove it"
        assert sorted(a.handle for a in list_accounts()) == ["first", "last"]
        code, _, stderr = cli("add", "sandbox", "nully", "--display-name", "a\0b")
        assert code != 0 and stderr.strip() == "error: display_name contains a NUL byte; remove it"


# -- registry --------------------------------------------------------------------------------------------------


def add_clip_run() -> str:
    """A source, run and clip row for posts to point at (the posts table's foreign keys)."""
    with session() as db:
        source = SourceRecord(uri="/tmp/live.mp4")
        db.add(source)
        db.flush()
        run = RunRecord(kind="make_clips", source_id=source.id)
        db.add(run)
        db.flush()
        clip = ClipRecord(
            id="clip-1",
            run_id=run.id,
            source_id=source.id,
            rank=1,
            source_start=0,
            source_end=20,
            duration=20,
            score=1.0,
            hook="h",
            title="t",
            reason="r",
            path="/tmp/clip-1.mp4",
        )
        db.add(clip)
        db.commit()
        return clip.id


def add_post(account_id: int, clip_id: str, status: str, plan_date: date, posted_at: datetime | None) -> None:
    with session() as db:
        n = len(db.exec(select(PostRecord)).all())
        db.add(
            PostRecord(
                idempotency_key=f"k{n}",
                tracking_code=f"t{n}",
                plan_date=plan_date,
                account_id=account_id,
                platform="sandbox",
                clip_id=clip_id,
                content_key="c",
                video_path="/tmp/clip-1.mp4",
                title="t",
                slot_at=posted_at or datetime(2026, 5, 2, 2, tzinfo=UTC),
                status=status,
                posted_at=posted_at,
            )
        )
        db.commit()


def test_statuses_pause_resume_and_posts_in_each_accounts_local_day(keyless: Path) -> None:
    shanghai = add_account(AccountSpec("sandbox", "sh", niches=("beauty",)))
    new_york = add_account(AccountSpec("sandbox", "ny", timezone="America/New_York"))
    with pytest.raises(AccountError, match=r"^sandbox/sh already exists as account 1; re-import"):
        add_account(AccountSpec("sandbox", "@sh"))
    for call, message in (
        (lambda: get_account(99), "no account with id 99"),
        (lambda: set_status(shanghai.id, "sleeping"), "status 'sleeping' is unknown; use one of active, needs_login"),
        (lambda: list_accounts(status="gone"), "status 'gone' is unknown"),
        (lambda: add_account(AccountSpec("sandbox", "two words")), "handle 'two words' must be one word"),
        (lambda: add_account(AccountSpec("tiktok", "x", windows=("10:00-09:00",))), "crosses midnight"),
    ):
        with pytest.raises(AccountError, match=message) as caught:
            call()
        assert "\n" not in str(caught.value)

    now = datetime(2026, 5, 1, 16, 30, tzinfo=UTC)  # 00:30 on May 2 in Shanghai, 12:30 on May 1 in New York
    assert pause_account(shanghai.id, "spam_risk_too_many_posts", now + timedelta(hours=1)).status == "paused"
    set_status(new_york.id, "paused", "operator")  # no end: only `resume` lifts it
    assert resume_due(now) == []
    assert resume_due(now + timedelta(hours=1)) == [shanghai.id]
    resumed = get_account(shanghai.id)
    assert (resumed.status, resumed.status_reason, resumed.paused_until) == ("active", None, None)
    assert get_account(new_york.id).status == "paused"
    assert mark_needs_login(shanghai.id, "session expired").status_reason == "session expired"
    assert set_status(shanghai.id, "active").status_reason is None
    assert [a.handle for a in list_accounts(status="paused")] == ["ny"]

    clip = add_clip_run()
    may1, may2 = date(2026, 5, 1), date(2026, 5, 2)
    add_post(shanghai.id, clip, "posted", may2, datetime(2026, 5, 1, 16, 10, tzinfo=UTC))  # 00:10 May 2 local
    add_post(shanghai.id, clip, "posted", may1, datetime(2026, 5, 1, 15, 50, tzinfo=UTC))  # 23:50 May 1 local
    add_post(shanghai.id, clip, "planned", may2, None)
    add_post(shanghai.id, clip, "uploading", may2, None)
    add_post(shanghai.id, clip, "failed", may2, None)
    add_post(shanghai.id, clip, "planned", may1, None)  # yesterday's plan
    add_post(new_york.id, clip, "posted", may1, datetime(2026, 5, 1, 15, 50, tzinfo=UTC))  # 11:50 May 1 NY
    add_post(new_york.id, clip, "claimed", may1, None)
    counts = posts_today([shanghai.id, new_york.id, 42], now)
    assert (counts[shanghai.id].posted, counts[shanghai.id].pending) == (1, 2)
    assert (counts[new_york.id].posted, counts[new_york.id].pending) == (1, 1)
    assert 42 not in counts


def test_cli_add_list_pause_resume_ban(keyless: Path) -> None:
    code, stdout, _ = cli(
        "add",
        "douyin",
        "meimei",
        "--display-name",
        "美美",
        "--niche",
        "美妆",
        "--niche",
        "护肤",
        "--window",
        "20:00-23:00",
        "--window",
        "08:00-09:30",
        "--daily-cap",
        "6",
        "--approval",
        "--persona",
        "宝妈",
    )
    assert code == 0 and "added douyin/meimei (#1): status needs_login (never logged in)" in stdout
    assert "windows 08:00-09:30 20:00-23:00" in stdout
    account = get_account(1)
    assert (account.persona, account.niches, account.approval_required, account.daily_cap) == (
        "宝妈",
        ("美妆", "护肤"),
        True,
        6,
    )
    code, _, stderr = cli("add", "douyin", "other", "--window", "23:00-01:00")
    assert code == 2 and stderr.startswith("error: window '23:00-01:00' crosses midnight") and stderr.count("\n") == 1
    code, _, stderr = cli("add", "douyin", "other", "--timezone", "Beijing")
    assert code == 2 and "time zone 'Beijing' is unknown" in stderr

    code, stdout, _ = cli("pause", "1", "--reason", "holiday", "--until", "2h")
    assert code == 0 and stdout.startswith("douyin/meimei (#1): paused (holiday) until ")
    code, stdout, _ = cli("list")
    assert code == 0
    row = next(line for line in stdout.splitlines() if "meimei" in line)
    for cell in (
        "douyin",
        "美美",
        "paused (holiday) until",
        "美妆, 护肤",
        "08:00-09:30 20:00-23:00 Asia/Shanghai",
        "0/6",
    ):
        assert cell in row, (cell, row)
    code, _, stderr = cli("pause", "1", "--until", "2001-01-01 08:00")
    assert code == 2 and "is in the past" in stderr
    assert cli("resume", "1")[1].strip() == "douyin/meimei (#1): active"
    assert cli("ban", "1", "--reason", "violated rules")[1].strip() == "douyin/meimei (#1): banned (violated rules)"
    assert "meimei" in cli("list", "--status", "banned")[1]
    assert "meimei" not in cli("list", "--platform", "sandbox")[1]
    code, _, stderr = cli("resume", "7")
    assert (code, stderr.strip()) == (1, "error: no account with id 7")


# -- vault -----------------------------------------------------------------------------------------------------


def database_bytes(data_dir: Path) -> bytes:
    """The SQLite file with its WAL and shared-memory companions (recent writes live in the WAL)."""
    return b"".join(p.read_bytes() for p in sorted(data_dir.glob("mcn.db*")))


def test_key_file_0600_round_trip_and_no_plaintext_in_db_logs_or_cli(
    keyless: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    account = add_account(AccountSpec("sandbox", "vaulted"))
    other = add_account(AccountSpec("sandbox", "other"))
    key_file = keyless / "secret.key"
    assert not key_file.exists()
    storage_state = {"cookies": [{"name": "sbx_session", "value": COOKIE, "domain": "127.0.0.1"}], "origins": []}
    store_secret(account.id, "session", storage_state)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    code, stdout, stderr = cli("set-token", str(account.id), stdin=TOKEN + "\n")
    assert code == 0 and "stored api_token (encrypted); status active" in stdout
    assert get_account(account.id).status == "active"

    credentials = load_credentials(account.id)
    assert credentials.get("session") == storage_state and credentials.get("api_token") == TOKEN
    assert TOKEN not in repr(credentials) and COOKIE not in repr(credentials)
    credentials.renew("api_token", TOKEN + "-renewed")  # what an adapter does with a refreshed token
    assert load_credentials(account.id).get("api_token") == TOKEN + "-renewed"
    assert load_credentials(other.id).secrets == {}

    # nothing readable: database (+ WAL), logs, CLI output (list and a bad set-token)
    code, listing, _ = cli("list")
    code_bad, out_bad, err_bad = cli("set-token", str(account.id), "--kind", "oauth", stdin=TOKEN)
    assert code == 0 and code_bad == 2 and "the oauth must be JSON" in err_bad
    stored = database_bytes(keyless)
    for secret in (TOKEN, COOKIE, "sbx_session"):
        assert secret.encode() not in stored
        assert secret not in caplog.text
        assert secret not in stdout + stderr + listing + out_bad + err_bad

    # a ciphertext moved onto another account's row is refused, not used to log that account in
    with session() as db:
        row = db.exec(select(AccountSecret).where(AccountSecret.kind == "session")).one()
        db.add(AccountSecret(account_id=other.id, kind="session", ciphertext=row.ciphertext))
        db.commit()
    with pytest.raises(SecretsError, match="belongs to another account"):
        load_credentials(other.id)
    assert delete_secrets(account.id) == 2 and load_credentials(account.id).secrets == {}

    # a key file others can read is refused with the fix
    os.chmod(key_file, 0o644)
    with pytest.raises(SecretsError) as caught:
        load_credentials(other.id)
    assert str(caught.value) == (
        f"key file {key_file} is accessible by group or others (mode 0644); fix it with: chmod 600 {key_file}"
    )


def test_mcn_secret_key_and_wrong_key(keyless: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCN_SECRET_KEY", Fernet.generate_key().decode())
    get_settings.cache_clear()
    account = add_account(AccountSpec("tiktok", "keyed"))
    store_secret(account.id, "api_token", TOKEN, expires_at=datetime(2030, 1, 1, tzinfo=UTC))
    assert not (keyless / "secret.key").exists()  # the env key is used; no key file appears
    assert load_credentials(account.id).get("api_token") == TOKEN

    monkeypatch.setenv("MCN_SECRET_KEY", Fernet.generate_key().decode())
    get_settings.cache_clear()
    with pytest.raises(SecretsError) as caught:
        load_credentials(account.id)
    assert str(caught.value) == (
        f"cannot decrypt account {account.id}'s secrets: MCN_SECRET_KEY differs from the key they were stored with"
    )
    code, _, stderr = cli("check", str(account.id))
    assert code == 1 and "MCN_SECRET_KEY differs" in stderr + _
    monkeypatch.setenv("MCN_SECRET_KEY", "not-a-key")
    get_settings.cache_clear()
    with pytest.raises(SecretsError, match=r"^MCN_SECRET_KEY is not a Fernet key \(32 url-safe"):
        store_secret(account.id, "api_token", TOKEN)
    with pytest.raises(AccountError, match="no account with id 9"):
        monkeypatch.setenv("MCN_SECRET_KEY", Fernet.generate_key().decode())
        get_settings.cache_clear()
        store_secret(9, "api_token", TOKEN)
