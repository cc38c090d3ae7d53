"""The outbox dispatcher against the real sandbox platform (HTTP, real SQLite/Postgres, real videos).

Covers the issue's bars: posts go out once with their labels; caps, spacing, approval, compliance and misfires;
fault knobs (5xx, timeouts, expired tokens, spam replies) end every post posted, failed with a reason or
reconciled; two dispatcher processes on Postgres publish 2,000 posts exactly once; kill -9 at random moments
loses and duplicates nothing.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, or_, select, update

from mcn.db import dispose_engines, get_engine
from mcn.settings import get_settings
from mcn.tables import AccountRecord, PostEvent, PostRecord
from publisher.adapters.sandbox import SandboxAdapter
from publisher.dispatch import DispatchOptions, publish_due
from publisher.review import approve, pending, reject
from sandbox.app import create_app
from sandbox.config import Rules
from sandbox.process import spawn_sandbox
from sandbox.server import serve_in_thread
from tests.helpers import throwaway_postgres
from tests.publish_support import (
    assert_exactly_once,
    distinct_videos,
    fill_outbox,
    mirror_accounts,
    sandbox_accounts,
    sandbox_posts,
)
from tests.sandbox_support import ADMIN, ADMIN_TOKEN, sandbox_config

ROOT = Path(__file__).resolve().parents[1]
posts = PostRecord.__table__  # type: ignore[attr-defined]
accounts = AccountRecord.__table__  # type: ignore[attr-defined]
events = PostEvent.__table__  # type: ignore[attr-defined]
# no spacing between posts of one account: the tests' sandboxes run with min_interval 0; "not on the platform" is
# believed a second after a lost answer (the sandbox here never commits late)
FAST = DispatchOptions(
    min_spacing_seconds=0,
    reconcile_delay_seconds=0,
    reconcile_grace_seconds=1,
    backoff_seconds=0.01,
    concurrency=4,
)


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return distinct_videos(tmp_path_factory.mktemp("noise"), 400)


@pytest.fixture
def sandbox_url(tmp_path: Path) -> Iterator[str]:
    app = create_app(sandbox_config(tmp_path / "sandbox", rules=Rules(min_interval_seconds=0)))
    with serve_in_thread(app) as url:
        yield url


@pytest.fixture
def env(data_dir: Path, sandbox_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("MCN_SANDBOX_URL", sandbox_url)
    monkeypatch.setenv("MCN_SANDBOX_PUBLISH_VIA", "api")
    get_settings.cache_clear()
    yield sandbox_url
    dispose_engines()


def _now() -> datetime:
    return datetime.now(UTC)


def _statuses() -> Counter[str]:
    with get_engine().connect() as conn:
        return Counter(dict(conn.execute(select(posts.c.status, func.count()).group_by(posts.c.status)).all()))


def _rows(*where: Any) -> list[Any]:
    with get_engine().connect() as conn:
        return list(conn.execute(select(posts).where(*where)))


def _codes() -> dict[str, str]:
    with get_engine().connect() as conn:
        return dict(conn.execute(select(posts.c.tracking_code, posts.c.status)).all())


def test_due_posts_go_out_once_with_labels_and_an_audit_trail(env: str, videos: list[Path]) -> None:
    ids = mirror_accounts(sandbox_accounts(env, 3, "once"))
    fill_outbox(ids, videos, 3, _now() - timedelta(minutes=1))
    fill_outbox(ids, videos[9:], 1, _now() + timedelta(hours=1), plan_date=_now().date())  # not due yet
    report = publish_due(options=FAST)
    assert report.count("posted") == 9 and _statuses() == {"posted": 9, "planned": 3}
    again = publish_due(options=FAST)
    assert again.outcomes == () and "nothing due" in again.summary()
    posted = {r.tracking_code for r in _rows(posts.c.status == "posted")}
    remote = assert_exactly_once(env, posted)
    assert all(p["ai_declared"] and p["ad_disclosed"] for p in remote)
    assert all("AI-generated" in p["description"] and "广告" in p["description"] for p in remote)
    row = _rows(posts.c.status == "posted")[0]
    assert row.remote_id and row.attempts == 1 and row.posted_at is not None and row.claim_token is None
    with get_engine().connect() as conn:
        trail = [
            e.to_status for e in conn.execute(select(events).where(events.c.post_id == row.id).order_by(events.c.id))
        ]
    assert trail == ["claimed", "uploading", "posted"]


def test_caps_spacing_compliance_and_approval(env: str, videos: list[Path]) -> None:
    capped, spaced, gated = mirror_accounts(sandbox_accounts(env, 3, "rules"))
    with get_engine().begin() as conn:
        conn.execute(update(accounts).where(accounts.c.id == capped).values(daily_cap=2))
        conn.execute(update(accounts).where(accounts.c.id == gated).values(approval_required=True))
    slot = _now() - timedelta(minutes=5)
    fill_outbox([capped], videos[20:], 4, slot)
    fill_outbox([spaced], videos[30:], 2, slot)
    fill_outbox([gated], videos[40:], 3, slot, approval="pending")
    unlabelled = fill_outbox([spaced], videos[50:], 1, slot, ai_label="")
    undisclosed = fill_outbox(
        [spaced], videos[60:], 1, slot, product_link="https://x.example/item/1", ad_disclosure=None
    )

    publish_due(options=DispatchOptions(min_spacing_seconds=900, reconcile_delay_seconds=0))
    by_account = Counter(r.account_id for r in _rows(posts.c.status == "posted"))
    assert by_account[capped] == 1 and by_account[spaced] == 1, "900 s spacing: one post per account per pass"
    spaced_row = _rows(posts.c.account_id == spaced, posts.c.status == "planned", posts.c.ai_label != "")[0]
    assert spaced_row.next_attempt_at is not None  # deferred to when the spacing allows, not failed
    publish_due(options=FAST, now=_now() + timedelta(minutes=16))
    by_account = Counter(r.account_id for r in _rows(posts.c.status == "posted"))
    assert by_account[capped] == 2, "the daily cap holds"
    assert by_account[spaced] == 2
    assert by_account[gated] == 0, "pending approval holds the posts"
    held = _rows(posts.c.account_id == capped, posts.c.status == "planned")
    assert len(held) == 2 and all(r.next_attempt_at is not None for r in held)
    for post_id, reason in ((unlabelled[0], "no AI-generated label"), (undisclosed[0], "no ad disclosure")):
        row = _rows(posts.c.id == post_id)[0]
        assert row.status == "failed" and row.error_code == "not_compliant" and reason in row.last_error
    assert all(
        p["external_info"] not in {r.tracking_code for r in _rows(posts.c.status == "failed")}
        for p in sandbox_posts(env)
    )

    waiting = pending()
    assert len(waiting) == 3 and {w.account_id for w in waiting} == {gated}
    approve([waiting[0].post_id, waiting[1].post_id])
    reject([waiting[2].post_id], reason="wrong product in frame")
    publish_due(options=FAST)
    assert Counter(r.status for r in _rows(posts.c.account_id == gated)) == {"posted": 2, "rejected": 1}
    assert _rows(posts.c.id == waiting[2].post_id)[0].last_error == "wrong product in frame"


def test_misfired_slots_are_reslotted_once_or_failed(env: str, videos: list[Path]) -> None:
    open_all_day, closed = mirror_accounts(sandbox_accounts(env, 2, "late"))
    now = _now()
    # a window that ended an hour ago (local = UTC here), so nothing of today is left for the second account
    ended = f"00:00-{(now - timedelta(hours=1)):%H:%M}" if now.hour >= 2 else "00:00-00:01"
    with get_engine().begin() as conn:
        conn.execute(update(accounts).where(accounts.c.id == closed).values(windows=[ended]))
    late = now - timedelta(hours=3)
    reslot = fill_outbox([open_all_day], videos[70:], 1, late)[0]
    missed = fill_outbox([closed], videos[80:], 1, late)[0]
    report = publish_due(options=FAST, now=now)
    assert report.reslotted == 1 and report.missed == 1
    row = _rows(posts.c.id == missed)[0]
    assert row.status == "failed" and row.error_code == "missed_slot" and "grace 2 h" in row.last_error
    moved = _rows(posts.c.id == reslot)[0]
    assert moved.status in ("planned", "posted")
    later = publish_due(options=FAST, now=now + timedelta(minutes=2))
    assert _rows(posts.c.id == reslot)[0].status == "posted", later.summary()


def _fault(url: str, **knobs: Any) -> None:
    httpx.patch(f"{url}/api/admin/faults", json=knobs, headers=ADMIN, timeout=10).raise_for_status()


def test_fault_knobs_every_post_ends_posted_failed_or_reconciled(env: str, videos: list[Path]) -> None:
    remote = sandbox_accounts(env, 8, "fault")
    ids = mirror_accounts(remote, daily_cap=6)
    fill_outbox(ids, videos[100:], 6, _now() - timedelta(minutes=1))
    expired = remote[:2]
    for account in expired:
        httpx.post(
            f"{env}/api/admin/sessions/expire",
            json={"account_id": account["account_id"], "api_tokens": True},
            headers=ADMIN,
            timeout=10,
        ).raise_for_status()
    _fault(env, error_rate=0.15, timeout_rate=0.15, timeout_seconds=0.3, spam_rate=0.04)
    adapters = {"sandbox": SandboxAdapter(base_url=env, via="api", timeout_s=5)}
    try:
        _drain(adapters, seconds=90)
        _fault(env, error_rate=0, timeout_rate=0, spam_rate=0)
        _drain(adapters, seconds=30)  # settle what the last faulty passes left unknown or backing off
    finally:
        adapters["sandbox"].close()
    counts = _statuses()
    assert counts["unknown"] == 0 and counts["claimed"] == 0 and counts["uploading"] == 0, counts
    with get_engine().connect() as conn:
        status: dict[int, str] = dict(conn.execute(select(accounts.c.id, accounts.c.status)).all())
    expired_ids = {ids[0], ids[1]}
    assert all(status[i] == "needs_login" for i in expired_ids), "expired tokens flag their accounts"
    for row in _rows(posts.c.status == "failed"):
        assert row.last_error and row.error_code, "a failed post says why"
    for row in _rows(posts.c.status == "planned"):  # only held posts remain: their account cannot post now
        assert status[row.account_id] in ("needs_login", "paused"), row
    on_platform = sandbox_posts(env)
    posted = {r.tracking_code for r in _rows(posts.c.status == "posted")}
    assert {p["external_info"] for p in on_platform} == posted, "mcn's view and the platform's agree"
    assert_exactly_once(env, posted)
    per_account = Counter(p["handle"] for p in on_platform)
    assert max(per_account.values()) <= 6, "the daily cap is never exceeded"
    with get_engine().connect() as conn:
        reconciled = conn.execute(select(func.count()).where(events.c.detail.like("reconciled: the platform has it%")))
        assert reconciled.scalar_one() > 0, "timeouts after submit were reconciled, not re-posted"
    final = _statuses()
    assert sum(final.values()) == 48 and set(final) <= {"posted", "failed", "planned"}, final
    assert len(posted) >= 20, final
    reasons = Counter(r.error_code for r in _rows(posts.c.status == "failed"))
    print(f"\nfaults: {dict(final)}; failed by code {dict(reasons)}; accounts: {Counter(status.values())}")


def _drain(adapters: dict[str, Any], seconds: float) -> None:
    """Dispatch passes until nothing can move: no unknown post, no planned post of an active account.

    Bounded by time, not by a pass count: a pass with nothing due takes milliseconds, while a retry waits its
    backoff, so a fixed number of passes could end before the last backoff does.
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        publish_due(options=FAST, adapters=adapters)
        if not _statuses()["unknown"] and not _due_planned():
            return
        time.sleep(0.05)


def _holds_claims(pid: int) -> bool:
    """Whether the dispatcher process ``pid`` (worker name ``host:pid:nonce``) holds a claim: it is at work."""
    with get_engine().connect() as conn:
        held = conn.execute(select(func.count()).where(posts.c.claimed_by.like(f"%:{pid}:%"))).scalar_one()
    return bool(held)


def _due_planned() -> int:
    with get_engine().connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(posts.join(accounts, accounts.c.id == posts.c.account_id))
                .where(posts.c.status == "planned", accounts.c.status == "active")
            ).scalar_one()
        )


# -- processes: two dispatchers on Postgres, kill -9 ----------------------------------------------------------


def _dispatcher(env_vars: dict[str, str], log: Path, *extra: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(Path(sys.executable).parent / "mcn"), "publish", "due", "--loop", "--quiet", *extra],
            cwd=ROOT,
            env=env_vars,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _process_env(database_url: str, sandbox: str, data_dir: Path) -> dict[str, str]:
    return dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        MCN_DATA_DIR=str(data_dir),
        MCN_DATABASE_URL=database_url,
        MCN_SANDBOX_URL=sandbox,
        MCN_SANDBOX_PUBLISH_VIA="api",
        MCN_PLATFORM_LIMITS='{"sandbox": {"min_spacing_seconds": 0}}',
        MCN_PUBLISH_RECONCILE_DELAY_SECONDS="1",
        MCN_PUBLISH_RECONCILE_GRACE_SECONDS="2",
        MCN_PUBLISH_BACKOFF_SECONDS="0.2",
    )


@pytest.fixture
def postgres_url(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with throwaway_postgres(monkeypatch) as url:
        yield url


@pytest.mark.postgres
@pytest.mark.slow
def test_two_dispatchers_on_postgres_publish_1000_posts_exactly_once(
    postgres_url: str, data_dir: Path, tmp_path: Path
) -> None:
    # 100 accounts x 10 posts, the farm's day: each account at its daily cap of 10, as with 200 accounts before
    # (half the test's time); both dispatchers claim batches of 50 against each other the whole way through
    accounts, posts = 100, 1000
    clips = distinct_videos(tmp_path / "videos", posts)
    with spawn_sandbox(
        tmp_path / "sandbox", ADMIN_TOKEN, "--clock", "manual", "--min-interval", "0", log=tmp_path / "sandbox.log"
    ) as url:
        ids = mirror_accounts(sandbox_accounts(url, accounts, "pg"))
        fill_outbox(ids, clips, 10, _now() - timedelta(minutes=1))
        env_vars = _process_env(postgres_url, url, data_dir)
        started = time.monotonic()
        workers = [_dispatcher(env_vars, tmp_path / f"dispatcher-{n}.log", "--interval", "0.5") for n in range(2)]
        try:
            while time.monotonic() - started < 600:
                counts = _statuses()
                if counts["posted"] == posts or any(w.poll() is not None for w in workers):
                    break
                time.sleep(1)
        finally:
            for w in workers:
                w.terminate()
                w.wait(timeout=30)
        elapsed = time.monotonic() - started
        assert _statuses() == {"posted": posts}, (tmp_path / "dispatcher-0.log").read_text()[-2000:]
        assert_exactly_once(url, set(_codes()))
    with get_engine().connect() as conn:
        by_worker = Counter(conn.execute(select(events.c.worker).where(events.c.to_status == "posted")).scalars())
    assert len(by_worker) == 2 and min(by_worker.values()) > 100, f"both dispatchers worked: {by_worker}"
    print(f"\n2 dispatchers, Postgres: {posts} posts in {elapsed:.1f} s ({posts / elapsed:.1f}/s); {dict(by_worker)}")


@pytest.mark.slow
def test_kill_dash_9_at_random_moments_loses_and_duplicates_nothing(data_dir: Path, tmp_path: Path) -> None:
    clips = distinct_videos(tmp_path / "videos", 240)
    database = get_settings().sqlalchemy_url
    with spawn_sandbox(
        tmp_path / "sandbox",
        ADMIN_TOKEN,
        "--clock",
        "manual",
        "--min-interval",
        "0",
        "--slow-rate",
        "0.3",
        "--slow-seconds",
        "0.3",
        log=tmp_path / "sandbox.log",
    ) as url:
        ids = mirror_accounts(sandbox_accounts(url, 24, "kill"))
        fill_outbox(ids, clips, 10, _now() - timedelta(minutes=1))
        env_vars = _process_env(database, url, data_dir)
        rng = random.Random(9)
        kills = 0
        for _ in range(12):
            worker = _dispatcher(env_vars, tmp_path / "dispatcher.log", "--interval", "0.2", "--concurrency", "3")
            # kill at a random moment of its work, not of its start-up (which alone can take seconds on a busy
            # machine): wait until it holds claims first
            started = time.monotonic()
            while worker.poll() is None and time.monotonic() - started < 60 and not _holds_claims(worker.pid):
                time.sleep(0.05)
            time.sleep(rng.uniform(0.0, 3.0))
            if worker.poll() is None:
                os.kill(worker.pid, signal.SIGKILL)
                kills += 1
            worker.wait()
            if _statuses()["posted"] == 240:
                break
        final = _dispatcher(env_vars, tmp_path / "dispatcher.log", "--interval", "0.3")
        deadline = time.monotonic() + 180
        while _statuses()["posted"] < 240 and time.monotonic() < deadline:
            time.sleep(0.5)
        final.terminate()
        final.wait(timeout=30)
        assert _statuses() == {"posted": 240}, (tmp_path / "dispatcher.log").read_text()[-2000:]
        assert_exactly_once(url, set(_codes()))
    with get_engine().connect() as conn:
        # "is gone" when the next dispatcher saw the pid had died; "lease expired" when it came more than a lease
        # (30 s) later, e.g. after successors killed before their first pass
        gone_or_expired = or_(events.c.detail.like("%is gone%"), events.c.detail.like("lease expired%"))
        recovered = conn.execute(select(func.count()).where(gone_or_expired)).scalar_one()
    assert kills >= 3 and recovered >= 1, f"{kills} kills, {recovered} claims recovered from killed dispatchers"
    print(f"\nkill -9: {kills} kills, {recovered} claims recovered, 240 posts exactly once")


# -- the command line and the Prefect flow -----------------------------------------------------------------------


def test_publish_and_review_commands(env: str, videos: list[Path]) -> None:
    from typer.testing import CliRunner

    from mcn.cli import app

    free, gated = mirror_accounts(sandbox_accounts(env, 2, "cli"))
    with get_engine().begin() as conn:
        conn.execute(update(accounts).where(accounts.c.id == gated).values(approval_required=True))
    fill_outbox([free], videos[200:], 1, _now() - timedelta(minutes=1))
    held = fill_outbox([gated], videos[210:], 2, _now() - timedelta(minutes=1), approval="pending")
    runner = CliRunner()
    wide = {"COLUMNS": "200", "MCN_PLATFORM_LIMITS": '{"sandbox": {"min_spacing_seconds": 0}}'}
    get_settings.cache_clear()
    due = runner.invoke(app, ["publish", "due"], env=wide)
    get_settings.cache_clear()
    assert due.exit_code == 0, due.output
    assert "1 posted" in due.output
    listed = runner.invoke(app, ["review", "list"], env=wide)
    assert listed.exit_code == 0 and held[0] in listed.output and held[1] in listed.output
    wrong = runner.invoke(app, ["review", "approve", "not-a-post"], env=wide)
    assert wrong.exit_code == 1 and "not-a-post: no such post" in wrong.output
    assert runner.invoke(app, ["review", "approve", held[0]], env=wide).exit_code == 0
    rejected = runner.invoke(app, ["review", "reject", held[1], "--reason", "off-brand music"], env=wide)
    assert rejected.exit_code == 0 and "rejected 1" in rejected.output
    assert "2 posted" not in runner.invoke(app, ["publish", "due"], env=wide).output  # spacing: 600 s on sandbox
    status = runner.invoke(app, ["publish", "status", "--failed"], env=wide)
    assert status.exit_code == 0 and "rejected" in status.output
    get_settings.cache_clear()


def test_publish_due_flow_runs_a_pass_in_prefect(
    prefect_server_for_test: str, env: str, videos: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.publish_due import publish_due_flow

    monkeypatch.setenv("MCN_PLATFORM_LIMITS", '{"sandbox": {"min_spacing_seconds": 0}}')
    get_settings.cache_clear()
    ids = mirror_accounts(sandbox_accounts(env, 2, "flow"))
    fill_outbox(ids, videos[220:], 2, _now() - timedelta(minutes=1))
    counts = publish_due_flow(concurrency=2)
    assert counts["posted"] == 4 and counts["failed"] == 0 and counts["skipped"] is None
    assert_exactly_once(env, set(_codes()))
