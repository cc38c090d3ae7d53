"""The policy on the database: evidence per product from posts, metric snapshots and attributed orders, and the
``thompson`` allocation the plan can use (``mcn plan --allocation thompson``; ``equal`` stays the default).

An arm is a product (the plan shares a day among products; the clip, and with it the hook, is the plan's
choice). Times are the platform's: a post's publish time from its metric snapshots (``posted_at`` until the
first snapshot), order times as the platform reported them, and *now* is the latest time the platform told us
(a snapshot's "as of" or an order's update time), so a simulated sandbox clock works like a real one.
Commission per order is the catalogue's price x rate (``products``), else what its orders reported.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
from sqlalchemy import Table, and_, func, select
from sqlmodel import SQLModel

from analytics.policy import (
    Evidence,
    PolicyOptions,
    Posterior,
    ThompsonPolicy,
    build_evidence,
    fit_pay_lag,
    posterior,
    settle_horizon,
)
from mcn.db import get_engine
from mcn.tables import AffiliateOrderRecord, MetricSnapshotRecord, PostRecord, as_utc
from publisher.allocation import Allocation, ProductCandidate, register_allocation

ORDERS: Table = SQLModel.metadata.tables[AffiliateOrderRecord.__tablename__]
POSTS: Table = SQLModel.metadata.tables[PostRecord.__tablename__]
SNAPSHOTS: Table = SQLModel.metadata.tables[MetricSnapshotRecord.__tablename__]

DAY = 86_400.0
LOOKBACK = timedelta(days=180)  # older evidence weighs less than 0.97**180 = 0.4 %: not worth reading
_LAG_WINDOW_DAYS = 10.0


@dataclass(frozen=True, slots=True)
class Board:
    """Per-product evidence and posterior at ``now``: what the allocation and the nightly report show."""

    now: datetime
    keys: tuple[str | None, ...]
    evidence: Evidence
    posterior: Posterior
    posts: np.ndarray  # raw posts counted (undiscounted)
    paid: np.ndarray  # raw paid orders
    settled: np.ndarray
    refunded: np.ndarray
    lag_days: float
    horizon_days: float | None


def platform_now() -> datetime | None:
    """The latest time the platforms told us: a snapshot's "as of" or an order's update time."""
    with get_engine().connect() as conn:
        times = [
            conn.execute(select(func.max(SNAPSHOTS.c.taken_at))).scalar(),
            conn.execute(select(func.max(ORDERS.c.update_time))).scalar(),
        ]
    known = [as_utc(t) for t in times if t is not None]
    return max(known) if known else None


def _commission_fen(candidate: ProductCandidate) -> float | None:
    if candidate.product_id is None:
        return 0.0  # clips without a product earn no commission
    if candidate.price is None or candidate.commission_rate is None:
        return None
    return round(candidate.price * 100 * candidate.commission_rate)


def load_board(
    products: Sequence[ProductCandidate], options: PolicyOptions | None = None, now: datetime | None = None
) -> Board:
    """Evidence and posterior for ``products`` from the posts and attributed orders in the database."""
    options = options or PolicyOptions()
    now = now or platform_now() or datetime.now(UTC)
    keys = tuple(p.product_id for p in products)
    index = {k: i for i, k in enumerate(keys)}
    since = now - LOOKBACK
    published = (
        select(SNAPSHOTS.c.post_id, func.min(SNAPSHOTS.c.published_at).label("published_at"))
        .group_by(SNAPSHOTS.c.post_id)
        .subquery()
    )
    with get_engine().connect() as conn:
        post_rows = conn.execute(
            select(POSTS.c.id, POSTS.c.product_id, POSTS.c.posted_at, published.c.published_at)
            .outerjoin(published, published.c.post_id == POSTS.c.id)
            .where(POSTS.c.status == "posted")
        ).all()
        latest = (
            select(SNAPSHOTS.c.post_id, func.max(SNAPSHOTS.c.taken_at).label("taken_at"))
            .group_by(SNAPSHOTS.c.post_id)
            .subquery()
        )
        click_rows = conn.execute(
            select(SNAPSHOTS.c.post_id, SNAPSHOTS.c.product_clicks).join(
                latest, and_(latest.c.post_id == SNAPSHOTS.c.post_id, latest.c.taken_at == SNAPSHOTS.c.taken_at)
            )
        ).all()
        order_rows = conn.execute(
            select(
                ORDERS.c.post_id,
                ORDERS.c.flow_point,
                ORDERS.c.pay_success_time,
                ORDERS.c.settle_time,
                ORDERS.c.refund_time,
                ORDERS.c.ads_estimated_commission,
            ).where(ORDERS.c.attribution == "attributed", ORDERS.c.pay_success_time.is_not(None))
        ).all()

    def days(moment: datetime | None) -> float:
        return np.nan if moment is None else (as_utc(moment) - now).total_seconds() / DAY

    post_arm: dict[str, int] = {}
    post_time: dict[str, float] = {}
    for post_id, product_id, posted_at, published_at in post_rows:
        when = published_at or posted_at
        if product_id not in index or when is None or as_utc(when) < since:
            continue
        post_arm[post_id] = index[product_id]
        post_time[post_id] = days(when)
    orders = [row for row in order_rows if row[0] in post_arm]
    o_arm = np.array([post_arm[r[0]] for r in orders], dtype=int)
    o_post = np.array([post_time[r[0]] for r in orders], dtype=float)
    o_pay = np.array([days(r[2]) for r in orders], dtype=float)
    o_refunded = np.array([r[1] == "REFUND" for r in orders], dtype=bool)
    o_resolved = np.array(
        [days(r[4]) if r[1] == "REFUND" else days(r[3]) if r[1] == "SETTLE" else np.nan for r in orders], dtype=float
    )
    # orders whose platform times are missing or later than now cannot be placed in time
    ok = np.isfinite(o_pay) & (o_pay <= 0)
    o_arm, o_post, o_pay, o_refunded, o_resolved = o_arm[ok], o_post[ok], o_pay[ok], o_refunded[ok], o_resolved[ok]

    recent = o_post >= -_LAG_WINDOW_DAYS
    lag = fit_pay_lag(o_pay[recent] - o_post[recent], -o_post[recent], default=options.default_lag_days)
    settled_mask = np.isfinite(o_resolved) & ~o_refunded
    horizon = settle_horizon(o_resolved[settled_mask] - o_pay[settled_mask])

    commission = np.array([_commission_fen(p) if _commission_fen(p) is not None else np.nan for p in products])
    reported = np.bincount(o_arm, minlength=len(keys)) if len(o_arm) else np.zeros(len(keys))
    if np.isnan(commission).any():
        # no catalogue price: what its orders reported, else the median of the others
        per_order = {r[0]: r[5] for r in orders}
        sums = np.zeros(len(keys))
        for (post_id, *_), keep in zip(orders, ok, strict=True):
            if keep:
                sums[post_arm[post_id]] += per_order[post_id]
        from_orders = np.divide(sums, reported, out=np.full(len(keys), np.nan), where=reported > 0)
        commission = np.where(np.isnan(commission), from_orders, commission)
        known = commission[np.isfinite(commission)]
        commission = np.where(np.isnan(commission), float(np.median(known)) if len(known) else 0.0, commission)

    groups = {name: i for i, name in enumerate(sorted({p.niches[0] if p.niches else "" for p in products}))}
    group = np.array([groups[p.niches[0] if p.niches else ""] for p in products], dtype=int)
    live = np.array([p.supply > 0 for p in products], dtype=bool)
    p_arm = np.array([post_arm[k] for k in post_arm], dtype=int)
    p_time = np.array([post_time[k] for k in post_arm], dtype=float)
    clicks_so_far = {post_id: clicks for post_id, clicks in click_rows}
    p_clicks = np.array([float(clicks_so_far.get(k) or 0) for k in post_arm], dtype=float)
    evidence = build_evidence(
        len(keys),
        0.0,
        p_arm,
        p_time,
        o_arm,
        o_post,
        o_pay,
        o_resolved,
        o_refunded,
        commission,
        group,
        live,
        discount=options.discount,
        lag_days=lag,
        horizon_days=horizon,
        post_clicks=p_clicks,  # the latest snapshot's product clicks: used when options.click_signal is on
    )
    return Board(
        now=now,
        keys=keys,
        evidence=evidence,
        posterior=posterior(evidence, options),
        posts=np.bincount(p_arm, minlength=len(keys)).astype(float),
        paid=np.bincount(o_arm, minlength=len(keys)).astype(float),
        settled=np.bincount(o_arm[settled_mask], minlength=len(keys)).astype(float),
        refunded=np.bincount(o_arm[o_refunded], minlength=len(keys)).astype(float),
        lag_days=lag,
        horizon_days=horizon,
    )


def day_rng(day: date, salt: str = "thompson") -> np.random.Generator:
    """A generator seeded by the day: re-planning the same day draws the same shares."""
    return np.random.default_rng(int.from_bytes(hashlib.sha256(f"{salt}:{day.isoformat()}".encode()).digest()[:8]))


@register_allocation("thompson")
class ThompsonAllocation(Allocation):
    """The feedback loop's allocation: each product's share of the day is its chance of earning the most settled
    commission per post (one posterior draw per slot), plus an exploration floor (see :mod:`analytics.policy`)."""

    name = "thompson"

    def __init__(self, options: PolicyOptions | None = None, now: datetime | None = None) -> None:
        self.options = options or PolicyOptions()
        self.now = now
        self.last_board: Board | None = None

    def shares(self, products: Sequence[ProductCandidate], day: date) -> dict[str | None, float]:
        if not products:
            return {}
        board = load_board(products, self.options, self.now)
        self.last_board = board
        shares = ThompsonPolicy(self.options).shares(board.evidence, day_rng(day))
        return {key: float(share) for key, share in zip(board.keys, shares, strict=True) if share > 0}
