"""Claims on outbox posts: the atomic claim, the fenced release, leases kept alive by a heartbeat, and the
recovery of claims whose dispatcher is gone.

A claim is a ``claim_token`` (fencing token), the dispatcher's name and a lease on the post row. Only the holder of
the token may move the post on (:func:`release`); a claim whose lease ran out, or whose process on this host is
gone, is released by whoever notices (:func:`recover_expired_claims`): ``claimed`` goes back to ``planned``
(nothing was sent), ``uploading`` becomes ``unknown`` (the platform may have it). Leases are short and renewed by
each pass's :class:`Heartbeat`, so a dead dispatcher's claims are free within a lease while a live one keeps its
claims through the slowest upload. Used by :mod:`publisher.dispatch`.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, or_, select, update
from sqlalchemy.engine import Engine

from mcn.tables import AccountRecord, PostEvent, PostRecord, as_utc, utcnow

if TYPE_CHECKING:
    from publisher.dispatch import DispatchOptions

log = logging.getLogger(__name__)

posts = PostRecord.__table__  # type: ignore[attr-defined]
accounts = AccountRecord.__table__  # type: ignore[attr-defined]
events = PostEvent.__table__  # type: ignore[attr-defined]

HELD = ("claimed", "uploading", "unknown")  # statuses a claim (and its lease) can hold
_HOST = socket.gethostname()


def worker_name() -> str:
    """``host:pid:nonce``: lets a dispatcher on the same host tell that a claim's process is gone."""
    return f"{_HOST}:{os.getpid()}:{secrets.token_hex(3)}"


def process_gone(worker: str | None) -> bool:
    """Whether ``worker`` (``host:pid:nonce``) was a process on this host that no longer runs."""
    if not worker:
        return False
    host, _, rest = worker.partition(":")
    pid_text = rest.partition(":")[0]
    if host != _HOST or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def record_event(conn: Connection, post_id: str, before: str | None, after: str, worker: str, detail: str = "") -> None:
    """Append a status change (or a check that changed nothing) to the post's audit trail."""
    conn.execute(
        events.insert().values(
            post_id=post_id, at=utcnow(), from_status=before, to_status=after, worker=worker, detail=detail[:500]
        )
    )


def claim(
    engine: Engine, now: datetime, opts: DispatchOptions, status: str, limit: int, beat: Heartbeat | None = None
) -> list[tuple[str, int, str]]:
    """Atomically claim up to ``limit`` due posts in ``status``; return ``(post_id, account_id, claim_token)``.

    Planned posts become ``claimed``. Unknown posts keep their status (a crash while reconciling must leave them
    unknown, never planned) and only get the claim token and lease, so two dispatchers never ask twice at once.
    """
    assert opts.lease_seconds is not None
    token = secrets.token_hex(8)
    if beat is not None:
        beat.hold(token)  # before the claim exists, so no claim of this pass goes unrenewed
    due = (
        select(posts.c.id)
        .join(accounts, accounts.c.id == posts.c.account_id)
        .where(
            posts.c.status == status,
            or_(posts.c.next_attempt_at.is_(None), posts.c.next_attempt_at <= now),
        )
        .order_by(posts.c.slot_at, posts.c.id)
        .limit(limit)
    )
    if status == "planned":
        due = due.where(
            posts.c.slot_at <= now,
            posts.c.approval.in_(("not_required", "approved")),
            accounts.c.status == "active",
        )
    else:
        due = due.where(or_(posts.c.lease_until.is_(None), posts.c.lease_until <= now))
    if opts.platforms:
        due = due.where(posts.c.platform.in_(opts.platforms))
    if engine.dialect.name == "postgresql":
        due = due.with_for_update(of=posts, skip_locked=True)
    after = "claimed" if status == "planned" else status
    with engine.begin() as conn:
        rows = conn.execute(
            update(posts)
            .where(posts.c.id.in_(due.scalar_subquery()), posts.c.status == status)
            .values(
                status=after,
                claimed_by=opts.worker,
                claim_token=token,
                lease_until=now + timedelta(seconds=opts.lease_seconds),
                updated_at=now,
            )
            .returning(posts.c.id, posts.c.account_id)
        ).all()
        if status == "planned":
            for post_id, _ in rows:
                record_event(conn, post_id, status, after, opts.worker)
    return [(post_id, account_id, token) for post_id, account_id in rows]


def release(
    conn: Connection,
    post_id: str,
    token: str,
    before: str,
    after: str,
    worker: str,
    detail: str,
    **values: Any,
) -> bool:
    """Move a post we hold (``claim_token == token``) to ``after``, dropping the claim; False if we lost it."""
    now = values.pop("now", None) or utcnow()
    changed = conn.execute(
        update(posts)
        .where(posts.c.id == post_id, posts.c.claim_token == token)
        .values(status=after, claimed_by=None, claim_token=None, lease_until=None, updated_at=now, **values)
    ).rowcount
    if changed:
        record_event(conn, post_id, before, after, worker, detail)
    return bool(changed)


def recover_expired_claims(engine: Engine, now: datetime, opts: DispatchOptions) -> int:
    """Claims whose lease ran out, or whose process on this host died, are released (claimed) or made unknown."""
    recovered = 0
    with engine.begin() as conn:
        rows = conn.execute(
            select(posts.c.id, posts.c.status, posts.c.claimed_by, posts.c.lease_until, posts.c.claim_token).where(
                or_(
                    posts.c.status.in_(("claimed", "uploading")),
                    and_(posts.c.status == "unknown", posts.c.claim_token.is_not(None)),
                )
            )
        ).all()
        for row in rows:
            expired = row.lease_until is None or as_utc(row.lease_until) <= now
            if not expired and not process_gone(row.claimed_by):
                continue
            if row.status == "unknown":
                # a dispatcher died while asking the platform: let the next pass ask again, still unknown
                conn.execute(
                    update(posts)
                    .where(posts.c.id == row.id, posts.c.claim_token == row.claim_token)
                    .values(claimed_by=None, claim_token=None, lease_until=None, updated_at=now)
                )
                recovered += 1
                continue
            after = "planned" if row.status == "claimed" else "unknown"
            reason = "lease expired" if expired else f"dispatcher {row.claimed_by} is gone"
            changed = conn.execute(
                update(posts)
                .where(posts.c.id == row.id, posts.c.claim_token == row.claim_token, posts.c.status == row.status)
                .values(
                    status=after,
                    claimed_by=None,
                    claim_token=None,
                    lease_until=None,
                    # a request the dead process sent may still be in the platform's hands: ask a bit later
                    next_attempt_at=now + timedelta(seconds=opts.reconcile_delay_seconds or 0)
                    if after == "unknown"
                    else None,
                    outcome_lost_at=now if after == "unknown" else None,
                    updated_at=now,
                )
            ).rowcount
            if changed:
                recovered += 1
                detail = (
                    f"{reason} before anything was sent"
                    if after == "planned"
                    else f"{reason} during the upload; the platform will be asked"
                )
                record_event(conn, row.id, row.status, after, opts.worker, detail)
    return recovered


class Heartbeat:
    """Renews the leases of this pass's claims every ``heartbeat_seconds`` while the pass runs, and releases the
    claims of dispatchers that stopped renewing theirs.

    Leases can then be short: a dispatcher that dies (kill -9, a lost host) stops renewing, and another one's
    heartbeat releases its claims within a lease and a beat, even while that one is busy publishing a long batch;
    a live dispatcher keeps its claims through the slowest upload. Only rows that still carry one of this pass's
    claim tokens are renewed, so a claim taken over is never taken back.
    """

    def __init__(self, engine: Engine, now: Callable[[], datetime], opts: DispatchOptions) -> None:
        assert opts.lease_seconds is not None
        self.engine, self.now = engine, now
        self.lease = timedelta(seconds=opts.lease_seconds)
        self.interval = opts.heartbeat_seconds or opts.lease_seconds / 3
        self.worker = opts.worker
        self.opts = opts
        self.recovered = 0  # claims of others released by this heartbeat
        self._tokens: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-heartbeat-{opts.worker}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def hold(self, token: str) -> None:
        """Renew the claims made with ``token`` from now on."""
        with self._lock:
            self._tokens.add(token)

    def beat(self) -> int:
        """Renew now; returns how many claims were renewed."""
        with self._lock:
            tokens = list(self._tokens)
        if not tokens:
            return 0
        with self.engine.begin() as conn:
            result = conn.execute(
                update(posts)
                .where(posts.c.claim_token.in_(tokens), posts.c.status.in_(HELD))
                .values(lease_until=self.now() + self.lease)
            )
        return int(result.rowcount or 0)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.beat()
                self.recovered += recover_expired_claims(self.engine, self.now(), self.opts)
            except Exception as exc:  # noqa: BLE001 - a missed beat is retried; the lease covers a few of them
                log.warning("dispatcher %s: renewing its leases failed: %s", self.worker, exc)
