"""The GMV dashboard's figures, read from the database (``analytics/dashboard.py`` draws them; no Streamlit here).

Money stays in fen (the stored unit) until the page shows it. Days are China Standard Time days (the alliance's
and buyin's clock) for order times, and the plan's day for posts:

* GMV (``total_pay_amount``) of every stored order, by the day it was paid; the attributed part beside it;
* settled commission (``ads_real_commission`` of ``SETTLE`` orders) by the day it settled - days or weeks after
  the payment, so the two series are kept apart rather than summed per order;
* refunds (``REFUND`` orders) by the day they were refunded;
* per post: the latest metric snapshot (plays, product clicks) and its attributed orders (paid, settled,
  refunded, estimated and settled commission); the funnel adds posts up by product x hook x account x day;
* the policy's posterior per product (:mod:`analytics.learn`) with the share of tomorrow it would give each.
"""

from __future__ import annotations

import hmac
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Table, case, func, select
from sqlmodel import SQLModel

from analytics.attribution import Coverage, coverage
from analytics.fields import CST
from mcn.db import get_engine
from mcn.llm_server import is_loopback
from mcn.tables import (
    AccountRecord,
    AffiliateOrderRecord,
    MetricSnapshotRecord,
    PostRecord,
    ProductRecord,
    as_utc,
)

ORDERS: Table = SQLModel.metadata.tables[AffiliateOrderRecord.__tablename__]
POSTS: Table = SQLModel.metadata.tables[PostRecord.__tablename__]
SNAPSHOTS: Table = SQLModel.metadata.tables[MetricSnapshotRecord.__tablename__]
ACCOUNTS: Table = SQLModel.metadata.tables[AccountRecord.__tablename__]
PRODUCTS: Table = SQLModel.metadata.tables[ProductRecord.__tablename__]


def cst_day(moment: datetime) -> date:
    """The China Standard Time day of a stored (UTC) moment."""
    return as_utc(moment).astimezone(CST).date()


# ------------------------------------------------------------------------------------------------ money by day


@dataclass(slots=True)
class DayMoney:
    """One CST day: orders paid (GMV), orders settled (commission) and orders refunded that day, in fen."""

    day: date
    paid_orders: int = 0
    gmv: int = 0
    attributed_gmv: int = 0
    settled_orders: int = 0
    settled_commission: int = 0
    refunds: int = 0
    refunded_amount: int = 0


def money_by_day() -> list[DayMoney]:
    """GMV by pay day, settled commission by settle day and refunds by refund day: one row per day from the first
    to the last (days without any are zero)."""
    with get_engine().connect() as conn:
        rows = conn.execute(
            select(
                ORDERS.c.flow_point,
                ORDERS.c.attribution,
                ORDERS.c.total_pay_amount,
                ORDERS.c.ads_real_commission,
                ORDERS.c.pay_success_time,
                ORDERS.c.settle_time,
                ORDERS.c.refund_time,
            )
        ).all()
    days: dict[date, DayMoney] = {}

    def at(moment: datetime) -> DayMoney:
        day = cst_day(moment)
        return days.setdefault(day, DayMoney(day))

    for flow_point, attribution, pay_amount, real_commission, paid, settled, refunded in rows:
        if paid is not None:
            d = at(paid)
            d.paid_orders += 1
            d.gmv += int(pay_amount)
            if attribution == "attributed":
                d.attributed_gmv += int(pay_amount)
        if flow_point == "SETTLE" and settled is not None:
            d = at(settled)
            d.settled_orders += 1
            d.settled_commission += int(real_commission)
        if flow_point == "REFUND" and refunded is not None:
            d = at(refunded)
            d.refunds += 1
            d.refunded_amount += int(pay_amount)
    if not days:
        return []
    # every day from the first to the last, so a chart's line goes through zero on a day without orders
    first, last = min(days), max(days)
    return [days.get(first + timedelta(n), DayMoney(first + timedelta(n))) for n in range((last - first).days + 1)]


# ------------------------------------------------------------------------------------------------ posts and funnel


@dataclass(frozen=True, slots=True)
class PostResult:
    """One posted post: where it went, what it showed (latest snapshot) and what its attributed orders earned."""

    post_id: str
    day: date
    product_id: str | None
    hook_style: str | None
    account: str
    title: str
    video_path: str
    remote_url: str | None
    plays: int
    clicks: int
    orders: int
    settled: int
    refunded: int
    estimated_commission: int
    settled_commission: int


def post_results() -> list[PostResult]:
    """Every posted post with its latest plays/clicks and its attributed orders (best estimated commission first)."""
    latest = (
        select(SNAPSHOTS.c.post_id, func.max(SNAPSHOTS.c.taken_at).label("taken_at"))
        .group_by(SNAPSHOTS.c.post_id)
        .subquery()
    )
    snap = (
        select(SNAPSHOTS.c.post_id, SNAPSHOTS.c.plays, SNAPSHOTS.c.product_clicks)
        .join(latest, (latest.c.post_id == SNAPSHOTS.c.post_id) & (latest.c.taken_at == SNAPSHOTS.c.taken_at))
        .subquery()
    )
    settled = ORDERS.c.flow_point == "SETTLE"
    orders = (
        select(
            ORDERS.c.post_id,
            func.count().label("orders"),
            func.sum(case((settled, 1), else_=0)).label("settled"),
            func.sum(case((ORDERS.c.flow_point == "REFUND", 1), else_=0)).label("refunded"),
            func.sum(ORDERS.c.ads_estimated_commission).label("estimated"),
            func.sum(case((settled, ORDERS.c.ads_real_commission), else_=0)).label("real"),
        )
        .where(ORDERS.c.attribution == "attributed")
        .group_by(ORDERS.c.post_id)
        .subquery()
    )
    query = (
        select(
            POSTS.c.id,
            POSTS.c.plan_date,
            POSTS.c.product_id,
            POSTS.c.hook_style,
            ACCOUNTS.c.platform,
            ACCOUNTS.c.handle,
            POSTS.c.title,
            POSTS.c.video_path,
            POSTS.c.remote_url,
            snap.c.plays,
            snap.c.product_clicks,
            orders.c.orders,
            orders.c.settled,
            orders.c.refunded,
            orders.c.estimated,
            orders.c.real,
        )
        .join(ACCOUNTS, ACCOUNTS.c.id == POSTS.c.account_id)
        .outerjoin(snap, snap.c.post_id == POSTS.c.id)
        .outerjoin(orders, orders.c.post_id == POSTS.c.id)
        .where(POSTS.c.status == "posted")
    )
    with get_engine().connect() as conn:
        rows = conn.execute(query).all()
    results = [
        PostResult(
            post_id=r[0],
            day=r[1],
            product_id=r[2],
            hook_style=r[3],
            account=f"{r[4]}:{r[5]}",
            title=r[6],
            video_path=r[7],
            remote_url=r[8],
            plays=int(r[9] or 0),
            clicks=int(r[10] or 0),
            orders=int(r[11] or 0),
            settled=int(r[12] or 0),
            refunded=int(r[13] or 0),
            estimated_commission=int(r[14] or 0),
            settled_commission=int(r[15] or 0),
        )
        for r in rows
    ]
    return sorted(results, key=lambda p: (-p.estimated_commission, -p.orders, p.post_id))


@dataclass(slots=True)
class FunnelRow:
    """Posts of one product x hook x account x day added up: plays -> clicks -> orders -> settled."""

    day: date
    product_id: str | None
    hook_style: str | None
    account: str
    posts: int = 0
    plays: int = 0
    clicks: int = 0
    orders: int = 0
    settled: int = 0
    refunded: int = 0
    estimated_commission: int = 0
    settled_commission: int = 0


def funnel(posts: Iterable[PostResult]) -> list[FunnelRow]:
    """``posts`` grouped by product x hook x account x day (latest day first)."""
    groups: dict[tuple[date, str | None, str | None, str], FunnelRow] = {}
    for p in posts:
        key = (p.day, p.product_id, p.hook_style, p.account)
        row = groups.setdefault(key, FunnelRow(*key))
        row.posts += 1
        row.plays += p.plays
        row.clicks += p.clicks
        row.orders += p.orders
        row.settled += p.settled
        row.refunded += p.refunded
        row.estimated_commission += p.estimated_commission
        row.settled_commission += p.settled_commission
    return sorted(groups.values(), key=lambda r: (-r.day.toordinal(), str(r.product_id), str(r.hook_style), r.account))


@dataclass(frozen=True, slots=True)
class RefundRate:
    """A product's attributed orders that resolved (settled or refunded), and the refunded share of them."""

    product_id: str | None
    orders: int
    settled: int
    refunded: int

    @property
    def rate(self) -> float:
        resolved = self.settled + self.refunded
        return self.refunded / resolved if resolved else 0.0


def refund_rates(posts: Iterable[PostResult]) -> list[RefundRate]:
    """Refund rate per product over its posts' attributed orders (highest first)."""
    sums: dict[str | None, list[int]] = defaultdict(lambda: [0, 0, 0])
    for p in posts:
        s = sums[p.product_id]
        s[0] += p.orders
        s[1] += p.settled
        s[2] += p.refunded
    rates = [RefundRate(k, *v) for k, v in sums.items() if v[0]]
    return sorted(rates, key=lambda r: (-r.rate, str(r.product_id)))


# ------------------------------------------------------------------------------------------------ attribution


def attribution() -> Coverage:
    """Orders and estimated commission by attribution reason (every reason listed)."""
    return coverage()


# ------------------------------------------------------------------------------------------------ policy


@dataclass(frozen=True, slots=True)
class PolicyRow:
    """A product's posterior (settled commission per post, fen) and its share of tomorrow."""

    product_id: str
    name: str
    mean: float
    low: float
    high: float
    p_best: float
    share: float
    planned: int
    posts: int
    paid: int
    settled: int
    refunded: int


@dataclass(frozen=True, slots=True)
class PolicyView:
    """The posterior table for ``day`` (tomorrow on the platform's clock) and what the board was fitted with."""

    day: date
    now: datetime
    rows: list[PolicyRow] = field(default_factory=list)
    lag_days: float | None = None
    horizon_days: float | None = None


def policy_view(now: datetime | None = None) -> PolicyView:
    """The thompson allocation's posterior per product and the share of tomorrow's posts it would give each
    (the same draws as the nightly report: :func:`analytics.learn.day_rng`), beside the posts already planned
    for tomorrow. Every product in the catalogue or in a posted post is shown and counted as live."""
    from analytics.learn import day_rng, load_board, platform_now
    from analytics.policy import PolicyOptions, ThompsonPolicy
    from publisher.allocation import ProductCandidate

    now = now or platform_now() or datetime.now(UTC)
    day = as_utc(now).astimezone(CST).date() + timedelta(days=1)
    with get_engine().connect() as conn:
        catalogue = {
            r[0]: r
            for r in conn.execute(
                select(PRODUCTS.c.id, PRODUCTS.c.name, PRODUCTS.c.niches, PRODUCTS.c.price, PRODUCTS.c.commission_rate)
            )
        }
        posted = [
            r[0]
            for r in conn.execute(
                select(POSTS.c.product_id).where(POSTS.c.status == "posted", POSTS.c.product_id.is_not(None)).distinct()
            )
        ]
        planned: dict[str | None, int] = dict(
            conn.execute(
                select(POSTS.c.product_id, func.count())
                .where(POSTS.c.plan_date == day, POSTS.c.status.not_in(("failed", "rejected")))
                .group_by(POSTS.c.product_id)
            ).all()
        )
    ids = sorted(set(catalogue) | set(posted))
    if not ids:
        return PolicyView(day, now)
    candidates = []
    for pid in ids:
        row = catalogue.get(pid)
        candidates.append(
            ProductCandidate(
                pid,
                row[1] if row else pid,
                tuple(row[2] or ()) if row else (),
                1,
                row[3] if row else None,
                row[4] if row else None,
            )
        )
    options = PolicyOptions()
    board = load_board(candidates, options, now)
    shares = ThompsonPolicy(options).shares(board.evidence, day_rng(day))
    rng = day_rng(day, "report")
    low, high = board.posterior.interval(rng)
    p_best = board.posterior.prob_best(rng)
    mean = board.posterior.mean_score
    rows = [
        PolicyRow(
            product_id=str(key),
            name=c.name,
            mean=float(mean[i]),
            low=float(low[i]),
            high=float(high[i]),
            p_best=float(p_best[i]),
            share=float(shares[i]),
            planned=int(planned.get(key, 0)),
            posts=int(board.posts[i]),
            paid=int(board.paid[i]),
            settled=int(board.settled[i]),
            refunded=int(board.refunded[i]),
        )
        for i, (key, c) in enumerate(zip(board.keys, candidates, strict=True))
    ]
    rows.sort(key=lambda r: (-r.mean, r.product_id))
    return PolicyView(day, now, rows, board.lag_days, board.horizon_days)


# ------------------------------------------------------------------------------------------------ access


def login_required(password_set: bool, address: str | None) -> str | None:
    """Why the dashboard must not show anything, or ``None``: off loopback (an empty address means every
    interface) it needs a password, and refuses to run without one."""
    if password_set:
        return None
    if not address or not is_loopback(address.strip("[]")):
        return (
            f"the dashboard is served on {address or 'every interface'} without a password: "
            "set MCN_DASHBOARD_PASSWORD or serve it on 127.0.0.1"
        )
    return None


def password_matches(entered: str, password: str) -> bool:
    """Constant-time comparison of the entered password with the setting."""
    return hmac.compare_digest(entered.encode(), password.encode())
