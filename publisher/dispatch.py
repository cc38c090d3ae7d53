"""The outbox dispatcher: claim due posts atomically, publish each exactly once, reconcile what is unknown.

A post row moves ``planned -> claimed -> uploading -> posted``, or to ``failed`` (with a reason) or ``unknown`` (the
platform may have it). A post that went out but that the platform throttled is ``posted`` with ``throttled`` set
(shown as "throttled"). :func:`publish_due` is one pass; ``mcn publish due`` and the Prefect deployment
``publish-due`` run it every minute. Every pass does, in order:

1. **Recover.** Paused accounts whose pause ended become active. A ``claimed`` post whose lease expired (or whose
   dispatcher process on this host is gone) goes back to ``planned``: nothing was sent yet. An ``uploading`` post
   in the same situation becomes ``unknown``: the platform may have it. Planned posts that missed their slot by
   more than the grace period follow the misfire policy (below). Leases are short (``publish_lease_seconds``,
   30 s): a heartbeat thread renews the claims of a running pass every third of a lease, so a dispatcher that
   died on another host frees its claims within one lease, and a live one never loses them to a slow upload.
2. **Reconcile.** ``unknown`` posts are claimed and the platform is asked for the post carrying their tracking
   code. Found: ``posted`` with the remote id. Not found: a platform may still commit a request after the client
   gave up, so "not found" counts only once the reconcile grace has passed since the answer was lost
   (``outcome_lost_at``; ``publish_reconcile_grace_seconds``, default twice the request timeout plus a minute);
   before that the post stays ``unknown`` and is asked again. Each check is an event on the post (its time and
   the answer). Absent after the grace: back to ``planned``, and the next attempt sends the same idempotency key,
   so a platform that honours it answers the first post instead of making a second. Cannot ask: stays
   ``unknown`` and is asked again later; after ``reconcile_max_attempts`` it is ``failed``. An ambiguous publish
   is never sent again blindly.
3. **Publish.** Due ``planned`` posts of active accounts (approved where approval is required) are claimed with
   one atomic statement: ``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING`` on Postgres, so
   any number of dispatchers share the work; ``UPDATE ... RETURNING`` on SQLite, where a file lock admits one
   dispatcher per database. Before a claimed post leaves, one short transaction locks its account (and, on
   Postgres, its platform) and checks the caps: the account's daily cap in its time zone, the minimum spacing
   between two posts of an account, the platform's daily and per-minute limits. A post that would break one is
   deferred (or failed, for a full day) without being sent. It then turns ``uploading`` (the attempt counted), is
   checked for the AI label and the ad disclosure (refused otherwise), and goes to the adapter. The answer is
   written back only while this dispatcher's claim token still holds the row (a fencing token), except that a
   remote id is always recorded.

Adapter errors decide the outcome: ``RetryableError``/``RateLimited`` -> ``planned`` again after exponential
backoff or ``retry_after`` (``failed`` after ``max_attempts``); ``OutcomeUnknown`` -> ``unknown``;
``SessionExpired`` -> the account becomes ``needs_login`` and its posts wait in ``planned``;
``AccountRestricted`` (spam or cap replies) -> the account is paused until its next local midnight and the post
waits; ``PostRejected`` -> ``failed`` with the platform's reason.

**Misfire policy.** A ``planned`` post whose slot is more than ``grace_seconds`` (default 2 h) in the past is not
posted late in a burst. If its account's local day is still running and a posting window of that day is still
ahead, it is re-slotted once to the next free spot in those windows (respecting the spacing); otherwise it is
``failed`` with ``missed_slot``, and the next plan uses its clip again. Posts held by an account that needs a
login or is paused age the same way.

Claims, leases, their heartbeat and the recovery of abandoned claims live in :mod:`publisher.claims`.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import random
import threading
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, and_, case, func, select, text, update
from sqlalchemy.engine import Engine

from accounts.windows import local_date, local_day_bounds, slot_bounds
from mcn.db import get_engine
from mcn.settings import get_settings
from mcn.tables import AccountRecord, PostEvent, PostRecord, as_utc, utcnow
from publisher.adapters.base import (
    AccountRestricted,
    Credentials,
    OutcomeUnknown,
    PlatformAdapter,
    PostPackage,
    PostRejected,
    PublishError,
    PublishReceipt,
    RateLimited,
    RetryableError,
    SessionExpired,
    create_adapter,
)
from publisher.claims import Heartbeat, claim, record_event, recover_expired_claims, release, worker_name
from publisher.limits import PlatformLimits, effective_limits

log = logging.getLogger(__name__)

posts = PostRecord.__table__  # type: ignore[attr-defined]
accounts = AccountRecord.__table__  # type: ignore[attr-defined]
events = PostEvent.__table__  # type: ignore[attr-defined]

IN_FLIGHT = ("uploading", "unknown")
#: added to twice the request timeout for the default reconcile grace
LATE_COMMIT_MARGIN_SECONDS = 60.0
COUNTED = ("posted", "uploading", "unknown")  # statuses that use up caps (by upload_started_at)


@dataclass(frozen=True, slots=True)
class DispatchOptions:
    """How one dispatch pass behaves. Defaults come from ``MCN_PUBLISH_*`` settings where they exist."""

    worker: str = field(default_factory=worker_name)
    batch_size: int = 50  # posts claimed per pass (a pass claims again until nothing is due or ``max_posts``)
    max_posts: int | None = None  # stop after this many publish attempts in one pass
    concurrency: int = 4  # posts of different accounts published in parallel (one adapter set per thread)
    platforms: tuple[str, ...] | None = None
    lease_seconds: float | None = None  # settings.publish_lease_seconds
    heartbeat_seconds: float | None = None  # renew this pass's leases this often; default a third of the lease
    grace_seconds: float | None = None  # settings.publish_grace_seconds
    max_attempts: int | None = None  # settings.publish_max_attempts
    backoff_seconds: float | None = None  # settings.publish_backoff_seconds
    backoff_max_seconds: float = 3600.0
    reconcile_delay_seconds: float | None = None  # settings.publish_reconcile_delay_seconds
    # settings.publish_reconcile_grace_seconds; None: 2 x the longer of the adapter's and the configured request
    # timeout, plus a minute
    reconcile_grace_seconds: float | None = None
    reconcile_max_attempts: int = 10
    min_spacing_seconds: float | None = None  # default: the platform's ``min_spacing_seconds``
    misfire_policy: str = "reslot"  # reslot or fail
    respect_platform_limits: bool = True

    def resolved(self) -> DispatchOptions:
        """A copy with every ``None`` default filled from settings."""
        s = get_settings()

        def given(value: Any, default: Any) -> Any:
            return default if value is None else value

        return replace(
            self,
            concurrency=max(1, self.concurrency),
            lease_seconds=given(self.lease_seconds, s.publish_lease_seconds),
            grace_seconds=given(self.grace_seconds, s.publish_grace_seconds),
            max_attempts=given(self.max_attempts, s.publish_max_attempts),
            backoff_seconds=given(self.backoff_seconds, s.publish_backoff_seconds),
            reconcile_delay_seconds=given(self.reconcile_delay_seconds, s.publish_reconcile_delay_seconds),
            reconcile_grace_seconds=given(self.reconcile_grace_seconds, s.publish_reconcile_grace_seconds),
        )

    def grace_for(self, adapter: PlatformAdapter) -> float:
        """Seconds after a lost answer before "not on the platform" is believed, for posts of ``adapter``."""
        if self.reconcile_grace_seconds is not None:
            return self.reconcile_grace_seconds
        timeout = max(get_settings().publish_request_timeout_seconds, adapter.request_timeout_s or 0.0)
        return 2 * timeout + LATE_COMMIT_MARGIN_SECONDS


@dataclass(frozen=True, slots=True)
class PostOutcome:
    """What happened to one post in a pass."""

    post_id: str
    account_id: int
    platform: str
    status: str  # the post's status afterwards
    detail: str = ""
    remote_id: str | None = None
    throttled: bool = False  # posted, but the platform throttled it

    @property
    def state(self) -> str:
        """What to show: the status, except "throttled" for a post that went out throttled."""
        return "throttled" if self.throttled and self.status == "posted" else self.status


@dataclass(frozen=True, slots=True)
class DispatchReport:
    """One pass: what was recovered, reconciled, published, deferred or failed."""

    worker: str
    outcomes: tuple[PostOutcome, ...] = ()
    recovered: int = 0  # expired claims put back or marked unknown
    reslotted: int = 0
    missed: int = 0  # failed by the misfire policy
    resumed_accounts: int = 0
    skipped: str | None = None  # why the pass did nothing (another dispatcher holds the SQLite lock)

    def count(self, status: str) -> int:
        """Outcomes whose post ended in ``status`` (throttled posts count as posted: they went out)."""
        return sum(1 for o in self.outcomes if o.status == status)

    def throttled(self) -> int:
        """Posts that went out but that the platform throttled."""
        return sum(1 for o in self.outcomes if o.state == "throttled")

    def summary(self) -> str:
        """One line for logs and the CLI."""
        if self.skipped:
            return f"skipped: {self.skipped}"
        counts = Counter(o.state for o in self.outcomes)
        parts = [f"{n} {s}" for s, n in sorted(counts.items())] or ["nothing due"]
        extra = [
            f"{n} {label}"
            for n, label in (
                (self.recovered, "recovered"),
                (self.reslotted, "re-slotted"),
                (self.missed, "missed their slot"),
                (self.resumed_accounts, "accounts resumed"),
            )
            if n
        ]
        return ", ".join(parts + extra)


# -- entry point ---------------------------------------------------------------------------------------------


def publish_due(
    now: datetime | None = None,
    options: DispatchOptions | None = None,
    adapters: Mapping[str, PlatformAdapter] | None = None,
) -> DispatchReport:
    """Run one dispatch pass (recover, reconcile, publish) and return what happened.

    Args:
        now: the pass's clock (UTC); default the current time. Tests and the demo pass a compressed clock.
        options: see :class:`DispatchOptions`.
        adapters: platform name -> adapter to use instead of creating them from settings (they are used from
            one thread only, so ``concurrency`` is forced to 1, and are not closed here).

    On SQLite only one dispatcher may run per database: a second one returns at once with ``skipped`` set.
    """
    opts = (options or DispatchOptions()).resolved()
    engine = get_engine()
    with _single_dispatcher(engine) as acquired:
        if not acquired:
            return DispatchReport(worker=opts.worker, skipped="another dispatcher is running on this SQLite database")
        clock = _Clock(now)
        resumed = _resume_accounts(engine, clock.now())
        recovered = recover_expired_claims(engine, clock.now(), opts)
        reslotted, missed = _apply_misfire_policy(engine, clock.now(), opts)
        pool = _AdapterPool(adapters)
        outcomes: list[PostOutcome] = []
        try:
            with Heartbeat(engine, clock.now, opts) as beat:
                outcomes += _reconcile_unknown(engine, clock, opts, pool, beat)
                outcomes += _publish_claimed(engine, clock, opts, pool, beat)
            recovered += beat.recovered
        finally:
            pool.close()
    report = DispatchReport(
        worker=opts.worker,
        outcomes=tuple(outcomes),
        recovered=recovered,
        reslotted=reslotted,
        missed=missed,
        resumed_accounts=resumed,
    )
    log.info("dispatch %s: %s", opts.worker, report.summary())
    return report


class _Clock:
    """The pass's notion of now: fixed when the caller gave one (tests, compressed demo days), else real time."""

    def __init__(self, fixed: datetime | None) -> None:
        self._fixed = fixed.astimezone(UTC) if fixed else None

    def now(self) -> datetime:
        return self._fixed or utcnow()


@contextlib.contextmanager
def _single_dispatcher(engine: Engine) -> Iterator[bool]:
    """On SQLite, hold an exclusive file lock beside the database for the pass; Postgres needs none."""
    if engine.dialect.name != "sqlite" or not engine.url.database or engine.url.database == ":memory:":
        yield True
        return
    lock_path = Path(engine.url.database).with_suffix(".dispatch.lock")
    fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing releases the lock


class _AdapterPool:
    """Adapters per thread (Playwright's sync API and some clients are bound to the thread that made them)."""

    def __init__(self, given: Mapping[str, PlatformAdapter] | None) -> None:
        self.given = dict(given) if given is not None else None
        self._local = threading.local()
        self._made: list[PlatformAdapter] = []
        self._lock = threading.Lock()

    def get(self, platform: str) -> PlatformAdapter:
        if self.given is not None:
            if platform not in self.given:
                raise PostRejected("no_adapter", f"no adapter given for platform {platform!r}")
            return self.given[platform]
        cache: dict[str, PlatformAdapter] = getattr(self._local, "adapters", None) or {}
        self._local.adapters = cache
        if platform not in cache:
            try:
                cache[platform] = create_adapter(platform)
            except ValueError as exc:
                raise PostRejected("no_adapter", str(exc)) from None
            with self._lock:
                self._made.append(cache[platform])
        return cache[platform]

    def close(self) -> None:
        for adapter in self._made:
            try:
                adapter.close()
            except Exception:
                log.warning("closing the %s adapter failed", adapter.name, exc_info=True)


# -- recovery and misfires -------------------------------------------------------------------------------------


def _resume_accounts(engine: Engine, now: datetime) -> int:
    with engine.begin() as conn:
        result = conn.execute(
            update(accounts)
            .where(accounts.c.status == "paused", accounts.c.paused_until.is_not(None), accounts.c.paused_until <= now)
            .values(status="active", status_reason=None, paused_until=None, updated_at=now)
        )
        return int(result.rowcount or 0)


def _apply_misfire_policy(engine: Engine, now: datetime, opts: DispatchOptions) -> tuple[int, int]:
    """Planned posts more than the grace period late: re-slot once inside today's windows, or fail them."""
    assert opts.grace_seconds is not None
    cutoff = now - timedelta(seconds=opts.grace_seconds)
    reslotted = missed = 0
    with engine.begin() as conn:
        late = conn.execute(
            select(posts.c.id, posts.c.account_id, posts.c.platform, posts.c.slot_at, posts.c.attempts)
            .where(posts.c.status == "planned", posts.c.slot_at < cutoff)
            .order_by(posts.c.slot_at)
        ).all()
        if not late:
            return 0, 0
        account_rows = {
            a.id: a
            for a in conn.execute(
                select(accounts.c.id, accounts.c.windows, accounts.c.timezone).where(
                    accounts.c.id.in_({r.account_id for r in late})
                )
            )
        }
        already = set(
            conn.execute(
                select(events.c.post_id).where(
                    events.c.post_id.in_([r.id for r in late]), events.c.detail.like("re-slotted%")
                )
            ).scalars()
        )
        taken: dict[int, list[datetime]] = {}
        for row in late:
            account = account_rows[row.account_id]
            new_slot = None
            if opts.misfire_policy == "reslot" and row.id not in already:
                spacing = _spacing_seconds(row.platform, opts)
                if row.account_id not in taken:
                    taken[row.account_id] = _account_slots_today(conn, row.account_id, account.timezone, now)
                new_slot = _next_free_slot(account.windows, account.timezone, now, taken[row.account_id], spacing)
            if new_slot is not None:
                taken[row.account_id].append(new_slot)
                conn.execute(
                    update(posts)
                    .where(posts.c.id == row.id, posts.c.status == "planned")
                    .values(slot_at=new_slot, updated_at=now)
                )
                record_event(
                    conn, row.id, "planned", "planned", opts.worker, f"re-slotted from {row.slot_at:%H:%M} UTC"
                )
                reslotted += 1
            else:
                late_by = (now - as_utc(row.slot_at)).total_seconds() / 3600
                message = f"missed its slot by {late_by:.1f} h (grace {opts.grace_seconds / 3600:g} h); not posted late"
                conn.execute(
                    update(posts)
                    .where(posts.c.id == row.id, posts.c.status == "planned")
                    .values(status="failed", error_code="missed_slot", last_error=message, updated_at=now)
                )
                record_event(conn, row.id, "planned", "failed", opts.worker, message)
                missed += 1
    return reslotted, missed


def _account_slots_today(conn: Connection, account_id: int, tz_name: str, now: datetime) -> list[datetime]:
    start, end = _local_day(now, tz_name)
    rows = conn.execute(
        select(posts.c.slot_at).where(
            posts.c.account_id == account_id,
            posts.c.slot_at >= start,
            posts.c.slot_at < end,
            posts.c.status.in_(("planned", "claimed", *COUNTED)),
        )
    ).scalars()
    return [as_utc(r) for r in rows]


def _next_free_slot(
    windows: Sequence[str], tz_name: str, now: datetime, taken: Sequence[datetime], spacing: float
) -> datetime | None:
    """The first moment after ``now`` inside one of today's windows that is ``spacing`` away from every slot."""
    candidate = now + timedelta(seconds=random.uniform(0, 60))
    for w_start, w_end in slot_bounds(windows, local_date(now, tz_name), tz_name):
        moment = max(candidate, w_start)
        for _ in range(200):  # bounded walk through the window
            if moment >= w_end:
                break
            clash = [t for t in taken if abs((t - moment).total_seconds()) < spacing]
            if not clash:
                return moment
            moment = max(clash) + timedelta(seconds=spacing)
    return None


def _local_day(now: datetime, tz_name: str) -> tuple[datetime, datetime]:
    """UTC bounds of the local calendar day (``tz_name``) that contains ``now``."""
    return local_day_bounds(local_date(now, tz_name), tz_name)


def _spacing_seconds(platform: str, opts: DispatchOptions) -> float:
    if opts.min_spacing_seconds is not None:
        return opts.min_spacing_seconds
    return effective_limits(platform).min_spacing_seconds


def _load(conn: Connection, post_id: str) -> Any:
    return conn.execute(
        select(posts, accounts.c.handle, accounts.c.timezone, accounts.c.daily_cap, accounts.c.status.label("acct"))
        .join(accounts, accounts.c.id == posts.c.account_id)
        .where(posts.c.id == post_id)
    ).one()


def package_of(row: Any) -> PostPackage:
    """The adapter's view of a post row (joined with its account's handle)."""
    return PostPackage(
        post_id=row.id,
        idempotency_key=row.idempotency_key,
        tracking_code=row.tracking_code,
        platform=row.platform,
        account_id=row.account_id,
        account_handle=row.handle,
        video_path=Path(row.video_path),
        title=row.title,
        caption=row.caption,
        topics=tuple(row.topics or ()),
        product_id=row.product_id,
        product_link=row.product_link,
        hook_style=row.hook_style,
        ai_label=row.ai_label,
        ad_disclosure=row.ad_disclosure,
        slot_at=as_utc(row.slot_at),
        remote_upload_id=row.remote_upload_id,
    )


# -- reconciliation --------------------------------------------------------------------------------------------


def _reconcile_unknown(
    engine: Engine, clock: _Clock, opts: DispatchOptions, pool: _AdapterPool, beat: Heartbeat | None = None
) -> list[PostOutcome]:
    outcomes: list[PostOutcome] = []
    while True:
        claimed = claim(engine, clock.now(), opts, "unknown", opts.batch_size, beat)
        if not claimed:
            return outcomes
        for post_id, _, token in claimed:
            outcomes.append(_reconcile_one(engine, clock, opts, pool, post_id, token))


def _reconcile_one(
    engine: Engine, clock: _Clock, opts: DispatchOptions, pool: _AdapterPool, post_id: str, token: str
) -> PostOutcome:
    with engine.connect() as conn:
        row = _load(conn, post_id)
    package = package_of(row)
    tries = _reconcile_tries(engine, post_id)
    try:
        try:
            adapter = pool.get(row.platform)
            found = adapter.find(package, _credentials(row.account_id))
        except PublishError:
            raise
        except Exception as exc:  # a bug in find, or secrets that cannot be read: keep asking, never resend
            log.exception("reconciling %s crashed", post_id)
            raise RetryableError("find_crashed", f"{type(exc).__name__}: {exc}") from None
    except PublishError as err:  # only a clear "not there" answer may lead to publishing again
        with engine.begin() as conn:
            if tries + 1 >= opts.reconcile_max_attempts:
                message = f"outcome unknown and the platform could not be asked {tries + 1} times: {err}"
                release(
                    conn,
                    post_id,
                    token,
                    "unknown",
                    "failed",
                    opts.worker,
                    message,
                    error_code="unreconciled",
                    last_error=message,
                    now=clock.now(),
                )
                return PostOutcome(post_id, row.account_id, row.platform, "failed", message)
            retry = clock.now() + timedelta(seconds=_backoff(opts, tries + 1))
            release(
                conn,
                post_id,
                token,
                "unknown",
                "unknown",
                opts.worker,
                f"reconcile: cannot ask yet: {err}",
                next_attempt_at=retry,
                last_error=str(err),
                now=clock.now(),
            )
        if isinstance(err, SessionExpired):
            _mark_needs_login(engine, row.account_id, str(err), opts.worker)
        return PostOutcome(post_id, row.account_id, row.platform, "unknown", str(err))
    now = clock.now()
    lost_at = as_utc(row.outcome_lost_at or row.upload_started_at or row.updated_at)
    waited = max(0.0, (now - lost_at).total_seconds())
    with engine.begin() as conn:
        if found is not None:
            release(
                conn,
                post_id,
                token,
                "unknown",
                "posted",
                opts.worker,
                f"reconciled: the platform has it as {found.remote_id} ({waited:.0f} s after the answer was lost)",
                remote_id=found.remote_id,
                remote_url=found.remote_url,
                posted_at=found.published_at or now,
                error_code=None,
                last_error=None,
                now=now,
            )
            return PostOutcome(post_id, row.account_id, row.platform, "posted", "reconciled", found.remote_id)
        grace = opts.grace_for(adapter)
        if waited < grace:
            # A platform may still commit the lost request (a queue, a gateway that gave up first): absence is
            # believed only after the grace. Ask again before then, and once more when it has passed.
            step = max(opts.reconcile_delay_seconds or 0.0, grace / 10)
            again = min(lost_at + timedelta(seconds=grace), now + timedelta(seconds=step))
            detail = (
                f"reconcile check: not on the platform {waited:.1f} s after the answer was lost; "
                f"absence counts after {grace:.0f} s"
            )
            release(conn, post_id, token, "unknown", "unknown", opts.worker, detail, next_attempt_at=again, now=now)
            return PostOutcome(post_id, row.account_id, row.platform, "unknown", detail)
        checks = _reconcile_checks(conn, post_id)
        detail = (
            f"reconciled: not on the platform {waited:.0f} s after the answer was lost (grace {grace:.0f} s, "
            f"{checks + 1} checks); publishing again with the same idempotency key"
        )
        release(conn, post_id, token, "unknown", "planned", opts.worker, detail, next_attempt_at=None, now=now)
    return PostOutcome(post_id, row.account_id, row.platform, "planned", "reconciled: not on the platform")


def _reconcile_checks(conn: Connection, post_id: str) -> int:
    """Answers "not there yet" since the answer was last lost (the events of this unknown spell)."""
    since = select(func.max(events.c.id)).where(
        events.c.post_id == post_id, events.c.to_status == "unknown", events.c.from_status != "unknown"
    )
    return int(
        conn.execute(
            select(func.count()).where(
                events.c.post_id == post_id,
                events.c.detail.like("reconcile check:%"),
                events.c.id > func.coalesce(since.scalar_subquery(), 0),
            )
        ).scalar_one()
    )


def _reconcile_tries(engine: Engine, post_id: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).where(events.c.post_id == post_id, events.c.detail.like("reconcile: cannot%"))
            ).scalar_one()
        )


# -- publishing ------------------------------------------------------------------------------------------------


def _publish_claimed(
    engine: Engine, clock: _Clock, opts: DispatchOptions, pool: _AdapterPool, beat: Heartbeat | None = None
) -> list[PostOutcome]:
    outcomes: list[PostOutcome] = []
    budget = opts.max_posts
    threads = 1 if pool.given is not None else opts.concurrency
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="publish") as executor:
        while budget is None or budget > 0:
            limit = opts.batch_size if budget is None else min(opts.batch_size, budget)
            claimed = claim(engine, clock.now(), opts, "planned", limit, beat)
            if not claimed:
                break
            if budget is not None:
                budget -= len(claimed)
            # one post per account at a time keeps spacing checks meaningful; other accounts run in parallel
            by_account: dict[int, list[tuple[str, str]]] = {}
            for post_id, account_id, token in claimed:
                by_account.setdefault(account_id, []).append((post_id, token))
            futures = [
                executor.submit(_publish_account_batch, engine, clock, opts, pool, batch)
                for batch in by_account.values()
            ]
            for future in futures:
                outcomes += future.result()
    return outcomes


def _publish_account_batch(
    engine: Engine, clock: _Clock, opts: DispatchOptions, pool: _AdapterPool, batch: list[tuple[str, str]]
) -> list[PostOutcome]:
    return [_publish_one(engine, clock, opts, pool, post_id, token) for post_id, token in batch]


def _publish_one(
    engine: Engine, clock: _Clock, opts: DispatchOptions, pool: _AdapterPool, post_id: str, token: str
) -> PostOutcome:
    gate = _begin_upload(engine, clock.now(), opts, post_id, token)
    if isinstance(gate, PostOutcome):
        return gate
    row = gate
    package = package_of(row)
    try:
        adapter = pool.get(row.platform)
        receipt = adapter.publish(package, _credentials(row.account_id))
    except PublishError as err:
        return _record_error(engine, clock.now(), opts, row, token, err)
    except Exception as exc:  # an adapter bug: the post may be out, so ask the platform, never resend
        log.exception("publishing %s crashed", post_id)
        crash = OutcomeUnknown("adapter_crashed", f"{type(exc).__name__}: {exc}")
        return _record_error(engine, clock.now(), opts, row, token, crash)
    return _record_receipt(engine, clock.now(), opts, row, token, receipt)


def _begin_upload(engine: Engine, now: datetime, opts: DispatchOptions, post_id: str, token: str) -> Any:
    """Check caps and compliance under the account's lock, then mark the post uploading; or return the outcome."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(
                select(accounts.c.id)
                .where(accounts.c.id == select(posts.c.account_id).where(posts.c.id == post_id).scalar_subquery())
                .with_for_update()
            )
        row = _load(conn, post_id)
        if row.claim_token != token or row.status != "claimed":
            return PostOutcome(post_id, row.account_id, row.platform, row.status, "claim lost to another dispatcher")
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"mcn.platform.{row.platform}"})

        def hold(detail: str, until: datetime | None) -> PostOutcome:
            release(conn, post_id, token, "claimed", "planned", opts.worker, detail, next_attempt_at=until, now=now)
            return PostOutcome(post_id, row.account_id, row.platform, "planned", detail)

        def fail(code: str, message: str) -> PostOutcome:
            release(
                conn,
                post_id,
                token,
                "claimed",
                "failed",
                opts.worker,
                message,
                error_code=code,
                last_error=message,
                now=now,
            )
            return PostOutcome(post_id, row.account_id, row.platform, "failed", message)

        if row.acct != "active":
            return hold(f"account is {row.acct}; post held", None)
        problem = package_of(row).compliance_problem()
        if problem:
            return fail("not_compliant", f"refused before leaving: {problem}")
        limits = effective_limits(row.platform)
        day_start, day_end = _local_day(now, row.timezone)
        started = posts.c.upload_started_at
        used_today = conn.execute(
            select(func.count()).where(
                posts.c.account_id == row.account_id,
                posts.c.status.in_(COUNTED),
                started >= day_start,
                started < day_end,
            )
        ).scalar_one()
        cap = min(row.daily_cap, limits.per_account_daily_max) if opts.respect_platform_limits else row.daily_cap
        if used_today >= cap:
            return hold(f"account's daily cap ({cap}) reached; waits for its next day", day_end)
        spacing = _spacing_seconds(row.platform, opts)
        last = conn.execute(
            select(func.max(started)).where(posts.c.account_id == row.account_id, posts.c.status.in_(COUNTED))
        ).scalar_one()
        if last is not None and spacing > 0 and (now - as_utc(last)).total_seconds() < spacing:
            until = as_utc(last) + timedelta(seconds=spacing)
            return hold(f"spacing: the account posted {(now - as_utc(last)).total_seconds():.0f} s ago", until)
        if opts.respect_platform_limits:
            deferred = _platform_gate(conn, row.platform, row.account_id, limits, now)
            if deferred is not None:
                return hold(*deferred)
        conn.execute(
            update(posts)
            .where(posts.c.id == post_id, posts.c.claim_token == token)
            .values(
                status="uploading",
                attempts=posts.c.attempts + 1,
                upload_started_at=now,
                lease_until=now + timedelta(seconds=opts.lease_seconds or 30),
                updated_at=now,
            )
        )
        record_event(conn, post_id, "claimed", "uploading", opts.worker, f"attempt {row.attempts + 1}")
        return _load(conn, post_id)


def _platform_gate(
    conn: Connection, platform: str, account_id: int, limits: PlatformLimits, now: datetime
) -> tuple[str, datetime] | None:
    """Defer when the platform's daily total (all accounts) or its per-token rate per minute would be exceeded.

    Counted from the database under the platform lock, so the limits hold across dispatchers.
    """
    started = posts.c.upload_started_at
    if limits.platform_daily_max is not None:
        day_start, day_end = _local_day(now, "UTC")
        total = conn.execute(
            select(func.count()).where(
                posts.c.platform == platform, posts.c.status.in_(COUNTED), started >= day_start, started < day_end
            )
        ).scalar_one()
        if total >= limits.platform_daily_max:
            return f"platform {platform}'s daily limit ({limits.platform_daily_max}) reached", day_end
    if limits.requests_per_minute:
        minute_ago = now - timedelta(seconds=60)
        recent = conn.execute(
            select(func.count(), func.min(started)).where(posts.c.account_id == account_id, started > minute_ago)
        ).one()
        if recent[0] >= limits.requests_per_minute:
            return f"platform {platform}'s rate per account ({limits.requests_per_minute}/min) reached", as_utc(
                recent[1]
            ) + timedelta(seconds=60)
    return None


def _record_receipt(
    engine: Engine, now: datetime, opts: DispatchOptions, row: Any, token: str, receipt: PublishReceipt
) -> PostOutcome:
    detail = "posted" + (" (throttled by the platform)" if receipt.limited else "")
    with engine.begin() as conn:
        done = release(
            conn,
            row.id,
            token,
            "uploading",
            "posted",
            opts.worker,
            detail,
            remote_id=receipt.remote_id,
            remote_url=receipt.remote_url,
            remote_upload_id=receipt.upload_id,
            posted_at=now,
            error_code=None,
            last_error=None,
            throttled=receipt.limited,
            now=now,
        )
        if not done:
            # Our claim was taken over (lease expired while the platform was slow). The post IS out: record the
            # remote id anyway so reconciliation does not have to find it, unless it is already recorded.
            conn.execute(
                update(posts)
                .where(posts.c.id == row.id, posts.c.status.in_(("unknown", "planned", "claimed")))
                .values(
                    status="posted",
                    remote_id=receipt.remote_id,
                    remote_url=receipt.remote_url,
                    posted_at=now,
                    throttled=receipt.limited,
                    claimed_by=None,
                    claim_token=None,
                    lease_until=None,
                    updated_at=now,
                )
            )
            record_event(conn, row.id, None, "posted", opts.worker, "posted after this dispatcher's lease had expired")
    return PostOutcome(row.id, row.account_id, row.platform, "posted", detail, receipt.remote_id, receipt.limited)


def _backoff(opts: DispatchOptions, attempt: int) -> float:
    base = (opts.backoff_seconds or 60.0) * 2 ** max(0, attempt - 1)
    return min(opts.backoff_max_seconds, base) * random.uniform(0.8, 1.2)


def _record_error(
    engine: Engine, now: datetime, opts: DispatchOptions, row: Any, token: str, err: PublishError
) -> PostOutcome:
    text_ = str(err)
    attempts = row.attempts
    status, detail = "planned", text_
    with engine.begin() as conn:
        values: dict[str, Any] = {"error_code": err.code, "last_error": text_, "now": now}
        if err.remote_ref:
            values["remote_upload_id"] = err.remote_ref
        if isinstance(err, OutcomeUnknown):
            status = "unknown"
            values["next_attempt_at"] = now + timedelta(seconds=opts.reconcile_delay_seconds or 0)
            values["outcome_lost_at"] = now  # the reconcile grace counts from here
        elif isinstance(err, PostRejected):
            status = "failed"
        elif isinstance(err, SessionExpired | AccountRestricted):
            values["next_attempt_at"] = None
        elif attempts >= (opts.max_attempts or 5):
            status, detail = "failed", f"gave up after {attempts} attempts: {text_}"
            values["last_error"] = detail
        else:
            wait = err.retry_after if isinstance(err, RateLimited) and err.retry_after else _backoff(opts, attempts)
            values["next_attempt_at"] = now + timedelta(seconds=wait)
            detail = f"{text_}; retry in {wait:.0f} s"
        if isinstance(err, SessionExpired | AccountRestricted):
            # Nothing went out; the attempt does not count against the post.
            values["attempts"] = max(0, attempts - 1)
        release(conn, row.id, token, "uploading", status, opts.worker, detail, **values)
    if isinstance(err, SessionExpired):
        _mark_needs_login(engine, row.account_id, text_, opts.worker)
    elif isinstance(err, AccountRestricted):
        _pause_for_day(engine, row.account_id, row.timezone, now, text_)
    return PostOutcome(row.id, row.account_id, row.platform, status, detail)


def _mark_needs_login(engine: Engine, account_id: int, reason: str, worker: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(accounts)
            .where(accounts.c.id == account_id, accounts.c.status.in_(("active", "paused")))
            .values(status="needs_login", status_reason=reason[:300], updated_at=utcnow())
        )
    log.warning("account %s needs a login: %s", account_id, reason)


def _pause_for_day(engine: Engine, account_id: int, tz_name: str, now: datetime, reason: str) -> None:
    _, day_end = _local_day(now, tz_name)
    with engine.begin() as conn:
        conn.execute(
            update(accounts)
            .where(accounts.c.id == account_id, accounts.c.status == "active")
            .values(status="paused", status_reason=reason[:300], paused_until=day_end, updated_at=utcnow())
        )
    log.warning("account %s paused until %s: %s", account_id, day_end.isoformat(), reason)


def _credentials(account_id: int) -> Credentials:
    from accounts.vault import load_credentials

    return load_credentials(account_id)


# -- queries for the CLI and the flow ----------------------------------------------------------------------------


def outbox_counts(day: Any = None) -> dict[str, int]:
    """Posts per status (for one plan date, or all); posted posts the platform throttled count as "throttled"."""
    engine = get_engine()
    shown = case((and_(posts.c.status == "posted", posts.c.throttled), "throttled"), else_=posts.c.status)
    stmt = select(shown, func.count()).group_by(shown)
    if day is not None:
        stmt = stmt.where(posts.c.plan_date == day)
    with engine.connect() as conn:
        return {status: int(n) for status, n in conn.execute(stmt).all()}


def account_handles(account_ids: Sequence[int]) -> dict[int, str]:
    """Handle of each account id (for tables that show who posted)."""
    if not account_ids:
        return {}
    with get_engine().connect() as conn:
        rows = conn.execute(select(accounts.c.id, accounts.c.handle).where(accounts.c.id.in_(set(account_ids))))
        return {int(i): str(h) for i, h in rows}


__all__ = [
    "DispatchOptions",
    "DispatchReport",
    "PostOutcome",
    "account_handles",
    "outbox_counts",
    "package_of",
    "publish_due",
    "worker_name",
]
