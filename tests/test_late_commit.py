"""Publishing stays exactly-once when the platform commits a publish after the client gave up (a late commit).

A real sandbox process with the late-commit fault (the publish request is read, held past the adapter's timeout,
then committed) and its duplicate checks off, so a second copy of a post would show; the real dispatcher on
SQLite. Two guards are checked one at a time: the reconcile grace (absence is believed only long after the answer
was lost, with every check logged on the post) and the idempotency key (a publish sent again answers the first
post), then both under a burst of late commits.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from mcn.db import dispose_engines, get_engine
from mcn.settings import get_settings
from mcn.tables import PostEvent, PostRecord
from publisher.adapters.sandbox import SandboxAdapter
from publisher.dispatch import DispatchOptions, publish_due
from sandbox.process import spawn_sandbox
from tests.publish_support import (
    assert_exactly_once,
    distinct_videos,
    fill_outbox,
    mirror_accounts,
    sandbox_accounts,
    sandbox_posts,
)
from tests.sandbox_support import ADMIN, ADMIN_TOKEN

posts = PostRecord.__table__  # type: ignore[attr-defined]
events = PostEvent.__table__  # type: ignore[attr-defined]
TIMEOUT = 1.0  # the adapter's request timeout; late commits land up to twice that after the request arrived


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return distinct_videos(tmp_path_factory.mktemp("noise"), 24, start=5000)


@pytest.fixture
def sandbox(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A sandbox process without duplicate checks; mcn configured for it with a 1 s request timeout."""
    log = tmp_path / "sandbox.log"
    with spawn_sandbox(tmp_path / "sandbox", ADMIN_TOKEN, "--clock", "manual", "--min-interval", "0", log=log) as url:
        _admin("PATCH", url, "/api/admin/rules", {"duplicate_checks": False})
        monkeypatch.setenv("MCN_SANDBOX_URL", url)
        monkeypatch.setenv("MCN_SANDBOX_PUBLISH_VIA", "api")
        monkeypatch.setenv("MCN_PUBLISH_REQUEST_TIMEOUT_SECONDS", str(TIMEOUT))
        get_settings.cache_clear()
        yield url
        assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
    dispose_engines()


def _admin(method: str, url: str, path: str, body: dict[str, Any] | None = None) -> Any:
    answer = httpx.request(method, f"{url}{path}", json=body, headers=ADMIN, timeout=10)
    answer.raise_for_status()
    return answer.json()


def _options(**changes: Any) -> DispatchOptions:
    return DispatchOptions(
        min_spacing_seconds=0, reconcile_delay_seconds=0.2, backoff_seconds=0.01, concurrency=4, **changes
    )


def _post(post_id: str) -> Any:
    with get_engine().connect() as conn:
        return conn.execute(select(posts).where(posts.c.id == post_id)).one()


def _trail(post_id: str) -> list[tuple[str | None, str, str]]:
    with get_engine().connect() as conn:
        rows = conn.execute(select(events).where(events.c.post_id == post_id).order_by(events.c.id))
        return [(e.from_status, e.to_status, e.detail or "") for e in rows]


def _wait_released(url: str, count: int, seconds: float = 15) -> dict[str, int]:
    deadline = time.monotonic() + seconds
    while True:
        injected: dict[str, int] = _admin("GET", url, "/api/admin/faults/injected")
        if injected["late_commit_released"] >= count or time.monotonic() > deadline:
            return injected
        time.sleep(0.1)


def test_not_found_before_the_grace_is_asked_again_until_the_late_commit_shows(
    sandbox: str, videos: list[Path]
) -> None:
    """Grace: the post committed 2 s after a request the adapter gave up on after 1 s is found, not re-sent."""
    grace = 2 * TIMEOUT + 1
    ids = mirror_accounts(sandbox_accounts(sandbox, 1, "grace"))
    (post_id,) = fill_outbox(ids, videos, 1, datetime.now(UTC) - timedelta(minutes=1))
    _admin("PATCH", sandbox, "/api/admin/faults", {"late_commit_rate": 1.0, "late_commit_seconds": 2 * TIMEOUT})
    adapters = {"sandbox": SandboxAdapter(base_url=sandbox, via="api", timeout_s=TIMEOUT)}
    try:
        first = publish_due(options=_options(reconcile_grace_seconds=grace), adapters=adapters)
        assert first.count("unknown") == 1, first.summary()
        _admin("PATCH", sandbox, "/api/admin/faults", {"late_commit_rate": 0.0})  # only that first publish is late
        deadline = time.monotonic() + 20
        while _post(post_id).status != "posted" and time.monotonic() < deadline:
            publish_due(options=_options(reconcile_grace_seconds=grace), adapters=adapters)
            time.sleep(0.1)
    finally:
        adapters["sandbox"].close()
    row = _post(post_id)
    assert row.status == "posted" and row.attempts == 1, _trail(post_id)  # never published a second time
    assert row.outcome_lost_at is not None
    trail = _trail(post_id)
    checks = [d for _, to, d in trail if d.startswith("reconcile check: not on the platform")]
    assert checks and all("absence counts after 3 s" in d for d in checks), trail
    assert trail[-1][1] == "posted" and trail[-1][2].startswith("reconciled: the platform has it as"), trail
    assert _wait_released(sandbox, 1)["late_commit_committed"] == 1
    assert_exactly_once(sandbox, {row.tracking_code})


def test_after_the_grace_the_post_is_sent_again_with_its_key_and_the_late_commit_adds_nothing(
    sandbox: str, videos: list[Path]
) -> None:
    """Key: the grace has passed (a clock a few minutes ahead) while the first request is still held; the second
    publish carries the same idempotency key, so the late commit lands on the post it made."""
    ids = mirror_accounts(sandbox_accounts(sandbox, 1, "keyed"))
    (post_id,) = fill_outbox(ids, videos[1:], 1, datetime.now(UTC) - timedelta(minutes=1))
    _admin("PATCH", sandbox, "/api/admin/faults", {"late_commit_rate": 1.0, "late_commit_seconds": 3.0})
    adapters = {"sandbox": SandboxAdapter(base_url=sandbox, via="api", timeout_s=TIMEOUT)}
    try:
        assert publish_due(options=_options(), adapters=adapters).count("unknown") == 1
        _admin("PATCH", sandbox, "/api/admin/faults", {"late_commit_rate": 0.0})
        later = datetime.now(UTC) + timedelta(minutes=5)  # past the 62 s grace; the held request still waits
        again = publish_due(now=later, options=_options(), adapters=adapters)
    finally:
        adapters["sandbox"].close()
    assert again.count("posted") == 1, again.summary()
    trail = _trail(post_id)
    final = [d for _, to, d in trail if d.startswith("reconciled: not on the platform")]
    assert len(final) == 1 and "grace 62 s, 1 checks" in final[0], trail  # default: 2 x 1 s timeout + 60 s
    assert _post(post_id).attempts == 2
    injected = _wait_released(sandbox, 1)
    assert injected["late_commit_held"] == 1 and injected["late_commit_released"] == 1
    remote = assert_exactly_once(sandbox, {_post(post_id).tracking_code})
    assert remote[0]["post_id"] == _post(post_id).remote_id


def test_a_burst_of_late_commits_publishes_every_post_exactly_once(sandbox: str, videos: list[Path]) -> None:
    """Both guards under a third of all publishes committed 2 x the timeout late (the bench runs 1,000 posts)."""
    ids = mirror_accounts(sandbox_accounts(sandbox, 4, "burst"))
    fill_outbox(ids, videos[2:], 5, datetime.now(UTC) - timedelta(minutes=1))
    _admin("PATCH", sandbox, "/api/admin/faults", {"late_commit_rate": 0.4, "late_commit_seconds": 2 * TIMEOUT})
    adapters = {"sandbox": SandboxAdapter(base_url=sandbox, via="api", timeout_s=TIMEOUT)}
    options = _options(reconcile_grace_seconds=2 * TIMEOUT + 1)  # tighter than the default: still > 2 x timeout
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            publish_due(options=options, adapters=adapters)
            with get_engine().connect() as conn:
                counts = Counter(conn.execute(select(posts.c.status)).scalars())
            if counts == {"posted": 20}:
                break
            time.sleep(0.1)
    finally:
        adapters["sandbox"].close()
    assert counts == {"posted": 20}, counts
    injected = _admin("GET", sandbox, "/api/admin/faults/injected")
    injected = _wait_released(sandbox, injected["late_commit_held"])
    with get_engine().connect() as conn:
        codes = set(conn.execute(select(posts.c.tracking_code)).scalars())
    assert_exactly_once(sandbox, codes)
    assert len(sandbox_posts(sandbox)) == 20
    assert injected["late_commit_held"] >= 5, injected
