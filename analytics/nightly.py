"""The nightly loop: collect -> update the posteriors -> plan tomorrow with them, and say what changed and why.

:func:`learn_and_plan` is what the ``learn-and-plan`` deployment runs (``flows/learn_and_plan.py``). The report
compares each product's posts planned for tomorrow with those of the day before and shows the posterior behind
the change: expected settled commission per post (mean and 90 % interval), the chance of being the best
product, and the raw counts (posts, paid, settled, refunded orders).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Table, func, select
from sqlmodel import SQLModel

from analytics.collect import CollectOptions, CollectReport, collect
from analytics.learn import Board, ThompsonAllocation, day_rng
from analytics.policy import PolicyOptions
from mcn.db import get_engine
from mcn.tables import PostRecord
from publisher.plan import PlanResult, plan_day

POSTS: Table = SQLModel.metadata.tables[PostRecord.__tablename__]
_PROMOTE_RATIO = 1.5
_MIN_CHANGE_POSTS = 2


@dataclass(frozen=True, slots=True)
class ProductChange:
    """One product's posts the day before and tomorrow, with its posterior figures (money in yuan per post)."""

    product_id: str | None
    before: int
    after: int
    verdict: str  # promoted, dropped, new, stopped or steady
    mean: float | None = None
    low: float | None = None
    high: float | None = None
    p_best: float | None = None
    posts: int = 0
    paid: int = 0
    settled: int = 0
    refunded: int = 0


@dataclass(frozen=True, slots=True)
class LearnReport:
    """What one nightly run did."""

    day: date
    collected: CollectReport | None
    plan: PlanResult
    changes: tuple[ProductChange, ...]
    board: Board | None

    def summary(self) -> str:
        verdicts = Counter(c.verdict for c in self.changes)
        moved = ", ".join(f"{n} {v}" for v, n in verdicts.items() if v != "steady") or "no product changed much"
        verb = "would plan" if self.plan.dry_run else "planned"
        return f"{self.day}: {verb} {self.plan.planned} posts; {moved}"


def _posts_per_product(day: date) -> dict[str | None, int]:
    with get_engine().connect() as conn:
        rows = conn.execute(
            select(POSTS.c.product_id, func.count())
            .where(POSTS.c.plan_date == day, POSTS.c.status.not_in(("failed", "rejected")))
            .group_by(POSTS.c.product_id)
        ).all()
    return {product: int(n) for product, n in rows}


def _verdict(before: int, after: int) -> str:
    if before == 0 and after > 0:
        return "new"
    if after == 0 and before > 0:
        return "stopped"
    if after - before >= _MIN_CHANGE_POSTS and after >= before * _PROMOTE_RATIO:
        return "promoted"
    if before - after >= _MIN_CHANGE_POSTS and before >= after * _PROMOTE_RATIO:
        return "dropped"
    return "steady"


def changes(day: date, plan: PlanResult, board: Board | None) -> list[ProductChange]:
    """Per product: posts planned the day before vs tomorrow (including this run's), with posterior figures."""
    before = _posts_per_product(day - timedelta(days=1))
    after = _posts_per_product(day)
    if plan.dry_run:
        for product, n in plan.per_product.items():
            after[product] = after.get(product, 0) + n
    figures: dict[str | None, dict[str, float]] = {}
    if board is not None:
        rng = day_rng(day, "report")
        low, high = board.posterior.interval(rng)
        p_best = board.posterior.prob_best(rng)
        mean = board.posterior.mean_score
        for i, key in enumerate(board.keys):
            figures[key] = {
                "mean": float(mean[i]) / 100,
                "low": float(low[i]) / 100,
                "high": float(high[i]) / 100,
                "p_best": float(p_best[i]),
                "posts": float(board.posts[i]),
                "paid": float(board.paid[i]),
                "settled": float(board.settled[i]),
                "refunded": float(board.refunded[i]),
            }
    out = []
    for product in sorted(set(before) | set(after) | set(figures), key=lambda k: (k is None, str(k))):
        f = figures.get(product, {})
        b, a = before.get(product, 0), after.get(product, 0)
        out.append(
            ProductChange(
                product_id=product,
                before=b,
                after=a,
                verdict=_verdict(b, a),
                mean=f.get("mean"),
                low=f.get("low"),
                high=f.get("high"),
                p_best=f.get("p_best"),
                posts=int(f.get("posts", 0)),
                paid=int(f.get("paid", 0)),
                settled=int(f.get("settled", 0)),
                refunded=int(f.get("refunded", 0)),
            )
        )
    return out


def learn_and_plan(
    day: date,
    *,
    collect_first: bool = True,
    collect_options: CollectOptions | None = None,
    policy_options: PolicyOptions | None = None,
    platform: str | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
) -> LearnReport:
    """Collect (unless ``collect_first`` is False), then plan ``day`` with the ``thompson`` allocation.

    Args:
        day: the local day to plan (tomorrow, for the nightly run).
        collect_options: what to collect first (default: everything).
        policy_options: the policy's knobs (default :class:`~analytics.policy.PolicyOptions`).
        platform: plan only this platform's accounts.
        dry_run: plan without writing posts.
        now: wall-clock time for the plan's "slots already past" rule (default: now).

    Returns:
        A :class:`LearnReport` with the collection, the plan and the per-product changes.
    """
    collected = collect(collect_options) if collect_first else None
    allocation = ThompsonAllocation(policy_options)
    plan = plan_day(day, platform=platform, allocation=allocation, dry_run=dry_run, now=now)
    return LearnReport(day, collected, plan, tuple(changes(day, plan, allocation.last_board)), allocation.last_board)


def _money(value: float | None) -> str:
    return "" if value is None else f"{value:,.2f}"


def report_markdown(report: LearnReport) -> str:
    """The nightly artifact: what changed (promoted, dropped, new, stopped) and the posterior behind each product."""
    lines = [f"# learn and plan {report.day}", "", report.summary(), ""]
    if report.collected is not None:
        lines += [f"Collected: {report.collected.summary()}", ""]
        if report.collected.coverage is not None:
            lines += [f"Attribution: {report.collected.coverage.summary()}", ""]
    if report.board is not None:
        horizon = "not yet known" if report.board.horizon_days is None else f"{report.board.horizon_days:.1f} days"
        lines += [f"Pay lag fitted: {report.board.lag_days:.2f} days; settlement horizon: {horizon}.", ""]
    order = {"promoted": 0, "new": 1, "dropped": 2, "stopped": 3, "steady": 4}
    lines += [
        "| product | verdict | posts before | posts tomorrow | settled commission / post (yuan) | 90% interval | "
        "P(best) | posts seen | paid | settled | refunded |",
        "|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for c in sorted(report.changes, key=lambda c: (order[c.verdict], -(c.mean or 0))):
        interval = f"{_money(c.low)} - {_money(c.high)}" if c.low is not None else ""
        p_best = f"{c.p_best:.1%}" if c.p_best is not None else ""
        lines.append(
            f"| {c.product_id or '(no product)'} | {c.verdict} | {c.before} | {c.after} | {_money(c.mean)} | "
            f"{interval} | {p_best} | {c.posts} | {c.paid} | {c.settled} | {c.refunded} |"
        )
    reasons = report.plan.unfilled_by_reason()
    if reasons:
        lines += ["", "Empty slots: " + "; ".join(f"{reason} ({n})" for reason, n in reasons.items())]
    return "\n".join(lines)
