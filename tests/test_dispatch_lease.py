"""Short, renewed leases: a dispatcher that dies on another host frees its claims within one lease, and a live one
keeps its claims through uploads longer than a lease.

Two real ``mcn publish due --loop`` processes on a throwaway Postgres database, named as dispatchers of two other
hosts (so a dead process cannot be noticed by its pid, only by its lease running out), against a sandbox process
whose every request is slow. One is killed with SIGKILL while it publishes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mcn.db import get_engine
from mcn.tables import PostEvent, PostRecord
from sandbox.process import spawn_sandbox
from tests.helpers import throwaway_postgres
from tests.publish_support import assert_exactly_once, distinct_videos, fill_outbox, mirror_accounts, sandbox_accounts
from tests.sandbox_support import ADMIN_TOKEN

ROOT = Path(__file__).resolve().parents[1]
posts = PostRecord.__table__  # type: ignore[attr-defined]
events = PostEvent.__table__  # type: ignore[attr-defined]
LEASE = 4.0  # seconds; the heartbeat renews every third of it
POSTS = 24


@pytest.fixture
def postgres_url(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with throwaway_postgres(monkeypatch) as url:
        yield url


def _dispatcher(database_url: str, sandbox: str, data_dir: Path, worker: str, log: Path) -> subprocess.Popen[bytes]:
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        MCN_DATA_DIR=str(data_dir),
        MCN_DATABASE_URL=database_url,
        MCN_SANDBOX_URL=sandbox,
        MCN_SANDBOX_PUBLISH_VIA="api",
        MCN_PLATFORM_LIMITS='{"sandbox": {"min_spacing_seconds": 0}}',
        MCN_PUBLISH_LEASE_SECONDS=str(LEASE),
        MCN_PUBLISH_RECONCILE_DELAY_SECONDS="0.5",
        MCN_PUBLISH_RECONCILE_GRACE_SECONDS="2",
        MCN_PUBLISH_REQUEST_TIMEOUT_SECONDS="5",
        MCN_PUBLISH_BACKOFF_SECONDS="0.2",
    )
    command = [str(Path(sys.executable).parent / "mcn"), "publish", "due", "--loop", "--quiet", "--interval", "0.3"]
    with log.open("ab") as out:
        return subprocess.Popen(
            [*command, "--concurrency", "2", "--worker", worker],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _held_by(worker: str) -> Counter[str]:
    with get_engine().connect() as conn:
        return Counter(conn.execute(select(posts.c.status).where(posts.c.claimed_by == worker)).scalars())


def _statuses() -> Counter[str]:
    with get_engine().connect() as conn:
        return Counter(dict(conn.execute(select(posts.c.status, func.count()).group_by(posts.c.status)).all()))


def _wait(predicate: object, seconds: float, step: float = 0.05) -> float | None:
    """Seconds until ``predicate()`` held, or ``None`` after ``seconds``."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if predicate():  # type: ignore[operator]
            return time.monotonic() - started
        time.sleep(step)
    return None


@pytest.mark.postgres
def test_a_dispatcher_killed_on_another_host_is_taken_over_within_one_lease(
    postgres_url: str, data_dir: Path, tmp_path: Path
) -> None:
    clips = distinct_videos(tmp_path / "videos", POSTS, start=7000)
    slow = ("--slow-rate", "1", "--slow-seconds", "0.4")  # every request waits: a post takes more than a second
    with spawn_sandbox(
        tmp_path / "sandbox", ADMIN_TOKEN, "--clock", "manual", "--min-interval", "0", *slow, log=tmp_path / "sbx.log"
    ) as url:
        ids = mirror_accounts(sandbox_accounts(url, 4, "lease"))
        names = ("host-a:4242:aaaaaa", "host-b:4343:bbbbbb")
        logs = [tmp_path / "a.log", tmp_path / "b.log"]
        procs = [_dispatcher(postgres_url, url, data_dir, name, log) for name, log in zip(names, logs, strict=True)]
        try:
            # both run their passes before anything is due; then one claim takes the whole outbox
            assert _wait(lambda: all(log.exists() and log.stat().st_size for log in logs), 90) is not None
            fill_outbox(ids, clips, POSTS // 4, datetime.now(UTC) - timedelta(minutes=1))
            assert _wait(lambda: any(_held_by(n)["uploading"] for n in names), 60) is not None
            busy = 0 if _held_by(names[0])["uploading"] else 1
            victim, name = procs[busy], names[busy]
            assert sum(_held_by(name).values()) > 4, "one claim batch holds the account's other posts too"
            # it keeps publishing for more than two leases: without renewals the other would take its claims
            time.sleep(2.5 * LEASE)
            assert _wait(lambda: _held_by(name)["uploading"] > 0, 5) is not None, "still publishing at the kill"
            held_at_kill = sum(_held_by(name).values())
            os.kill(victim.pid, signal.SIGKILL)
            killed_at = datetime.now(UTC)
            victim.wait()
            taken_over = _wait(lambda: not _held_by(name), 30)
            assert _wait(lambda: _statuses()["posted"] == POSTS, 90) is not None, (
                _statuses(),
                logs[1 - busy].read_text()[-2000:],
            )
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.terminate()
                    proc.wait(timeout=30)
        with get_engine().connect() as conn:
            codes = set(conn.execute(select(posts.c.tracking_code)).scalars())
            recovered = list(
                conn.execute(select(events.c.at, events.c.detail).where(events.c.detail.like("lease expired%")))
            )
        assert_exactly_once(url, codes)
    early = [r for r in recovered if r.at.replace(tzinfo=UTC) < killed_at]
    assert not early, f"claims of a live dispatcher were taken over: {early[:3]}"
    assert recovered, "the survivor released the dead one's claims when their lease ran out"
    # within a lease and a heartbeat (plus scheduling slack), although the survivor is busy publishing meanwhile
    bound = LEASE + LEASE / 3 + 1.5
    assert taken_over is not None and taken_over <= bound, f"the dead one's claims were free after {taken_over} s"
    print(f"\nkilled with {held_at_kill} claims; all free after {taken_over:.1f} s (lease {LEASE:g} s)")
