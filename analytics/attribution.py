"""Joining affiliate orders to our posts through the tracking code, and counting what could not be joined.

Every post carries a tracking code (``posts.tracking_code``, made by the plan) that the adapter sends as the
platform's ``external_info``; buyin hands it back on each order as ``pid_info.external_info``. So an order leads
to a post, and the post to its clip or remix (``clip_id``, ``variant_id``), product, hook style, account and day:

* ``attributed``: the code names one of our posts and the order's product is the post's product;
* ``no_code``: the order carries no code (bought from the showcase or another author's link);
* ``unknown_code``: a code that no post of ours carries (another tool's, or a post deleted from this database);
* ``product_mismatch``: the code names a post of ours, but of another product (the buyer went on to buy
  something else from the shop). The post is still recorded in ``post_id``, but the order is not counted as
  the post's product's result.

Nothing is dropped: unattributed orders stay in ``affiliate_orders`` with the reason, and :func:`coverage`
counts them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, func, select, update
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from mcn.db import get_engine
from mcn.tables import ATTRIBUTIONS, AffiliateOrderRecord, PostRecord, as_utc

if TYPE_CHECKING:
    from analytics.orders import OrderRow

ORDERS: Table = SQLModel.metadata.tables[AffiliateOrderRecord.__tablename__]
POSTS: Table = SQLModel.metadata.tables[PostRecord.__tablename__]
_CHUNK = 500


def _posts_by_code(conn: Connection, codes: Sequence[str]) -> dict[str, tuple[str, str | None]]:
    found: dict[str, tuple[str, str | None]] = {}
    unique = list(dict.fromkeys(codes))
    for start in range(0, len(unique), _CHUNK):
        part = unique[start : start + _CHUNK]
        rows = conn.execute(
            select(POSTS.c.tracking_code, POSTS.c.id, POSTS.c.product_id).where(POSTS.c.tracking_code.in_(part))
        )
        for code, post_id, product_id in rows:
            found[code] = (post_id, product_id)
    return found


def classify(code: str | None, product_id: str, post: tuple[str, str | None] | None) -> dict[str, Any]:
    """``{"post_id": ..., "attribution": reason}`` for one order (see the module docstring)."""
    if not code:
        return {"post_id": None, "attribution": "no_code"}
    if post is None:
        return {"post_id": None, "attribution": "unknown_code"}
    post_id, post_product = post
    if post_product != product_id:
        return {"post_id": post_id, "attribution": "product_mismatch"}
    return {"post_id": post_id, "attribution": "attributed"}


def attribute_rows(conn: Connection, rows: Sequence[OrderRow]) -> dict[str, dict[str, Any]]:
    """Attribution of each row, by order id, looked up on ``conn`` (inside the caller's transaction)."""
    posts = _posts_by_code(conn, [r.external_info for r in rows if r.external_info])
    return {r.order_id: classify(r.external_info, r.product_id, posts.get(r.external_info or "")) for r in rows}


def reattribute() -> int:
    """Look again at every order not yet attributed (posts may have been added since); returns how many changed."""
    changed = 0
    with get_engine().begin() as conn:
        pending = conn.execute(
            select(
                ORDERS.c.order_id, ORDERS.c.external_info, ORDERS.c.product_id, ORDERS.c.post_id, ORDERS.c.attribution
            )
            .where(ORDERS.c.attribution != "attributed")
            .where(ORDERS.c.external_info.is_not(None))
        ).all()
        posts = _posts_by_code(conn, [row.external_info for row in pending])
        for row in pending:
            link = classify(row.external_info, row.product_id, posts.get(row.external_info))
            if (link["post_id"], link["attribution"]) != (row.post_id, row.attribution):
                conn.execute(update(ORDERS).where(ORDERS.c.order_id == row.order_id).values(**link))
                changed += 1
    return changed


@dataclass(frozen=True, slots=True)
class Coverage:
    """How many orders (and how much estimated commission, fen) are attributed, and the others by reason."""

    orders: int
    by_reason: dict[str, int]
    commission_fen: int
    commission_by_reason: dict[str, int]

    @property
    def attributed(self) -> int:
        return self.by_reason.get("attributed", 0)

    @property
    def share(self) -> float:
        """Attributed share of orders (0 when there are none)."""
        return self.attributed / self.orders if self.orders else 0.0

    @property
    def commission_share(self) -> float:
        attributed = self.commission_by_reason.get("attributed", 0)
        return attributed / self.commission_fen if self.commission_fen else 0.0

    def summary(self) -> str:
        if not self.orders:
            return "no orders yet"
        others = ", ".join(f"{reason} {n}" for reason, n in self.by_reason.items() if reason != "attributed" and n)
        return (
            f"{self.attributed} of {self.orders} orders attributed ({self.share:.1%}; "
            f"{self.commission_share:.1%} of estimated commission)" + (f"; unattributed: {others}" if others else "")
        )


def coverage() -> Coverage:
    """Attribution coverage over every stored order; every reason is listed, zero or not."""
    with get_engine().connect() as conn:
        rows = conn.execute(
            select(
                ORDERS.c.attribution, func.count(), func.coalesce(func.sum(ORDERS.c.ads_estimated_commission), 0)
            ).group_by(ORDERS.c.attribution)
        ).all()
    by_reason = dict.fromkeys(ATTRIBUTIONS, 0)
    money = dict.fromkeys(ATTRIBUTIONS, 0)
    for reason, count, commission in rows:
        by_reason[reason] = int(count)
        money[reason] = int(commission)
    return Coverage(sum(by_reason.values()), by_reason, sum(money.values()), money)


@dataclass(frozen=True, slots=True)
class AttributedOrder:
    """An attributed order with the post facts it is credited to: product x hook x account x day, clip or remix."""

    order_id: str
    flow_point: str
    pay_success_time: datetime | None
    settle_time: datetime | None
    refund_time: datetime | None
    ads_estimated_commission: int
    ads_real_commission: int
    post_id: str
    clip_id: str
    variant_id: str | None
    product_id: str | None
    hook_style: str | None
    account_id: int
    day: date


def attributed_orders(since: datetime | None = None) -> list[AttributedOrder]:
    """Attributed orders (paid at or after ``since`` when given) joined to their posts."""
    o, p = ORDERS, POSTS
    query = (
        select(
            o.c.order_id,
            o.c.flow_point,
            o.c.pay_success_time,
            o.c.settle_time,
            o.c.refund_time,
            o.c.ads_estimated_commission,
            o.c.ads_real_commission,
            p.c.id,
            p.c.clip_id,
            p.c.variant_id,
            p.c.product_id,
            p.c.hook_style,
            p.c.account_id,
            p.c.plan_date,
        )
        .join(p, p.c.id == o.c.post_id)
        .where(o.c.attribution == "attributed")
        .order_by(o.c.order_id)
    )
    if since is not None:
        query = query.where(o.c.pay_success_time >= since)
    with get_engine().connect() as conn:
        rows = conn.execute(query).all()

    def utc(value: datetime | None) -> datetime | None:
        return as_utc(value) if value is not None else None

    return [
        AttributedOrder(
            order_id=r[0],
            flow_point=r[1],
            pay_success_time=utc(r[2]),
            settle_time=utc(r[3]),
            refund_time=utc(r[4]),
            ads_estimated_commission=int(r[5]),
            ads_real_commission=int(r[6]),
            post_id=r[7],
            clip_id=r[8],
            variant_id=r[9],
            product_id=r[10],
            hook_style=r[11],
            account_id=int(r[12]),
            day=r[13],
        )
        for r in rows
    ]
