"""Chaos run: publish N posts while the platform commits a share of the publishes late, then count duplicates and
losses on the platform itself.

The sandbox's late-commit fault reads a publish request whole, holds it ``2 x`` the adapter's request timeout and
commits it afterwards: the dispatcher has given up by then (the outcome is unknown), and the post appears later.
The sandbox's own duplicate checks are off, so every second copy mcn sends would show. Bar (issue 9): 0
duplicates and 0 lost over at least 1,000 posts under late commits of up to twice the timeout.

Two runs, each on a fresh sandbox process and a fresh SQLite outbox, with the same posts and fault settings:

* **mcn** - as shipped: every attempt sends the post's idempotency key, and "not on the platform" counts only
  after the reconcile grace (default: 2 x the request timeout + 60 s) since the answer was lost.
* **baseline** - the same dispatcher with both guards off (grace 0, no idempotency key): what happened before.

Timeouts are short (1 s by default) so 1,000 posts take a few minutes on 2 cores.

    .venv/bin/python bench/bench_late_commit.py --posts 1000 --accounts 100 --late-rate 0.2
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402


@dataclass(frozen=True)
class Outcome:
    posts: int
    on_platform: int
    duplicates: int  # copies beyond the first, by tracking code
    lost: int  # planned posts that are not on the platform, or did not end "posted" in mcn
    statuses: dict[str, int]
    late_held: int
    late_committed: int
    unknown_spells: int  # times a post's outcome was lost
    checks: int  # reconcile checks that answered "not there yet" (the grace at work)
    resent: int  # posts published again after reconciliation said "not on the platform"
    seconds: float


def run(label: str, workdir: Path, videos: list[Path], args: argparse.Namespace, protected: bool) -> Outcome:
    """One run on a fresh sandbox process and outbox; see the module docstring."""
    os.environ.update(
        MCN_DATA_DIR=str(workdir / "mcn-data"),
        MCN_SANDBOX_PUBLISH_VIA="api",
        MCN_PLATFORM_LIMITS='{"sandbox": {"min_spacing_seconds": 0}}',
        MCN_PUBLISH_REQUEST_TIMEOUT_SECONDS=str(args.timeout),
        MCN_PUBLISH_RECONCILE_DELAY_SECONDS=str(args.timeout / 5),
        MCN_PUBLISH_BACKOFF_SECONDS="0.2",
    )
    from sqlalchemy import func, select

    from mcn.db import dispose_engines, get_engine
    from mcn.settings import get_settings
    from mcn.tables import PostEvent, PostRecord
    from publisher.adapters.base import register_adapter
    from publisher.adapters.sandbox import SandboxAdapter
    from publisher.dispatch import DispatchOptions, publish_due
    from sandbox.process import spawn_sandbox
    from tests.publish_support import fill_outbox, mirror_accounts, sandbox_accounts, sandbox_posts
    from tests.sandbox_support import ADMIN, ADMIN_TOKEN

    class KeylessSandboxAdapter(SandboxAdapter):
        """The baseline: the sandbox adapter without the idempotency key (as before issue 9)."""

        def _request(self, method: str, path: str, token: str, stage: str, **kwargs: Any) -> httpx.Response:
            kwargs.get("headers", {}).pop("Idempotency-Key", None)
            return super()._request(method, path, token, stage, **kwargs)

    register_adapter("sandbox")(SandboxAdapter if protected else KeylessSandboxAdapter)
    posts, events = PostRecord.__table__, PostEvent.__table__  # type: ignore[attr-defined]
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / f"sandbox-{label}.log"
    with spawn_sandbox(
        workdir / f"sandbox-{label}", ADMIN_TOKEN, "--clock", "manual", "--min-interval", "0", log=log
    ) as url:
        os.environ["MCN_SANDBOX_URL"] = url
        get_settings.cache_clear()
        admin = httpx.Client(base_url=url, headers=ADMIN, timeout=30)
        # no duplicate checks, and a daily cap the baseline's second copies cannot reach (a paused account would
        # hold its remaining posts until the next day)
        admin.patch("/api/admin/rules", json={"duplicate_checks": False, "daily_cap": 1000}).raise_for_status()
        ids = mirror_accounts(sandbox_accounts(url, args.accounts, f"{label}_"), daily_cap=15)
        per_account = args.posts // args.accounts
        fill_outbox(ids, videos, per_account, datetime.now(UTC) - timedelta(minutes=1))
        total = per_account * len(ids)
        knobs = {"late_commit_rate": args.late_rate, "late_commit_seconds": args.late_factor * args.timeout}
        admin.patch("/api/admin/faults", json=knobs).raise_for_status()
        # bounded passes, so reconciliation (which opens each pass) runs every second or two, as the every-minute
        # deployment does for a day's outbox; an unbounded pass would publish everything before asking once
        options = DispatchOptions(
            concurrency=args.concurrency,
            reconcile_grace_seconds=None if protected else 0.0,
            max_posts=args.per_pass,
        )
        started = time.monotonic()
        statuses: Counter[str] = Counter()
        while time.monotonic() - started < args.deadline:
            publish_due(options=options)
            with get_engine().connect() as conn:
                statuses = Counter(conn.execute(select(posts.c.status)).scalars())
            if statuses["posted"] + statuses["failed"] == total:
                break
            time.sleep(0.2)
        seconds = time.monotonic() - started
        # let every held request finish before counting what the platform has
        injected: dict[str, int] = {}
        for _ in range(int(args.late_factor * args.timeout * 10) + 100):
            injected = admin.get("/api/admin/faults/injected").json()
            if injected["late_commit_released"] >= injected["late_commit_held"]:
                break
            time.sleep(0.1)
        remote = sandbox_posts(url)
        admin.close()
        with get_engine().connect() as conn:
            codes: dict[str, str] = {
                row[0]: row[1] for row in conn.execute(select(posts.c.tracking_code, posts.c.status))
            }

            def count(*where: Any) -> int:
                return int(conn.execute(select(func.count()).select_from(events).where(*where)).scalar_one())

            lost_answers = count(events.c.to_status == "unknown", events.c.from_status == "uploading")
            checks = count(events.c.detail.like("reconcile check:%"))
            resent = count(events.c.detail.like("reconciled: %not on the platform%"))
    dispose_engines()
    copies = Counter(p["external_info"] for p in remote)
    return Outcome(
        posts=total,
        on_platform=len(remote),
        duplicates=sum(max(0, n - 1) for n in copies.values()),
        lost=len([code for code, status in codes.items() if status != "posted" or code not in copies]),
        statuses=dict(statuses),
        late_held=injected.get("late_commit_held", 0),
        late_committed=injected.get("late_commit_committed", 0),
        unknown_spells=lost_answers,
        checks=checks,
        resent=resent,
        seconds=seconds,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--late-rate", type=float, default=0.2, help="share of publishes committed late")
    parser.add_argument("--late-factor", type=float, default=2.0, help="late commit after this x the timeout")
    parser.add_argument("--timeout", type=float, default=1.0, help="the adapter's request timeout (s)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--per-pass", type=int, default=12, help="publish attempts per dispatch pass")
    parser.add_argument("--deadline", type=float, default=900.0, help="give a run up to this many seconds")
    parser.add_argument("--no-baseline", action="store_true", help="skip the unprotected run")
    args = parser.parse_args()
    # a terminated run still stops its sandbox process and removes its temporary folder
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))

    from tests.publish_support import distinct_videos

    with tempfile.TemporaryDirectory(prefix="bench-late-") as tmp:
        workdir = Path(tmp)
        t0 = time.perf_counter()
        videos = distinct_videos(workdir / "videos", args.posts)
        print(f"generated {len(videos)} distinct videos in {time.perf_counter() - t0:.1f} s")
        runs = [("mcn", True)] + ([] if args.no_baseline else [("baseline", False)])
        print(
            f"late commits: {args.late_rate:.0%} of publishes held {args.late_factor:g} x the {args.timeout:g} s "
            f"request timeout; sandbox duplicate checks off; {os.cpu_count()} CPUs, concurrency {args.concurrency}",
            flush=True,
        )
        results = {}
        for label, protected in runs:
            r = results[label] = run(label, workdir / label, videos, args, protected)
            print(
                f"{label:8}: {r.posts} posts, {r.on_platform} on the platform, {r.duplicates} duplicates, {r.lost} "
                f"lost; late commits {r.late_held} held / {r.late_committed} committed; {r.unknown_spells} answers "
                f"lost, {r.checks} 'not yet' checks, {r.resent} sent again; {r.seconds:.1f} s; statuses {r.statuses}",
                flush=True,
            )
    mine = results["mcn"]
    ok = mine.duplicates == 0 and mine.lost == 0 and mine.posts >= 1000
    print(f"bar: 0 duplicates and 0 lost over >= 1,000 posts: {'met' if ok else 'NOT met'}")
    if mine.duplicates or mine.lost:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
