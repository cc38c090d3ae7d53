"""The policy on the database: evidence per product from posts and attributed orders on the platform's clock, the
``thompson`` allocation behind the plan's interface (``equal`` stays the default), and ``mcn plan --allocation``."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analytics.learn import ThompsonAllocation, load_board, platform_now
from analytics.policy import PolicyOptions
from mcn.cli import app
from publisher.allocation import ProductCandidate, allocation_names, get_allocation
from publisher.plan import plan_day
from tests.analytics_support import add_account, add_clips, add_product, seed_history

# The platform's clock (a simulated sandbox day), far from the wall clock on purpose.
NOW = datetime(2025, 3, 20, 4, 0, tzinfo=UTC)
DAY = date(2025, 3, 21)


def candidates(*products: tuple[str | None, tuple[str, ...]]) -> list[ProductCandidate]:
    return [ProductCandidate(p, str(p), niches, 10, 100.0 if p else None, 0.2 if p else None) for p, niches in products]


def test_board_reads_posts_and_orders_on_the_platform_clock(data_dir: Path) -> None:
    seed_history(NOW, {"p1": 6, "p2": 1})
    assert platform_now() is not None and platform_now() <= NOW  # type: ignore[operator]
    board = load_board(candidates(("p1", ()), ("p2", ())), now=NOW)
    assert board.posts.tolist() == [20, 20]
    assert board.paid.tolist() == [120, 20]
    assert board.refunded.tolist() == [20, 0]
    mean = board.posterior.alpha / board.posterior.beta
    assert mean[0] == pytest.approx(6, rel=0.15) and mean[1] == pytest.approx(1, rel=0.3)
    assert board.evidence.commission.tolist() == [2000, 2000]  # 100 yuan x 20 %


def test_thompson_allocation_prefers_what_earns_and_keeps_a_floor(data_dir: Path) -> None:
    seed_history(NOW, {"p1": 6, "p2": 1, "p4": 1, "p5": 1})
    options = PolicyOptions(exploration_floor=0.05)
    allocation = ThompsonAllocation(options, now=NOW)
    products = candidates(("p1", ("home",)), ("p2", ("home",)), ("p3", ("home",)), (None, ()))
    shares = allocation.shares(products, DAY)
    assert shares["p1"] > 0.5
    # the new product is explored (its category's spread leaves room), the known weak one only gets the floor
    assert shares["p3"] > 4 * shares["p2"]
    assert all(shares[k] >= 0.05 / 4 - 1e-9 for k in ("p2", "p3", None))
    # the new product p3 starts from its category's figures, not from nothing
    board = allocation.last_board
    assert board is not None
    mean = board.posterior.alpha / board.posterior.beta
    assert mean[1] < mean[2] < mean[0]
    # the same day draws the same shares (a re-plan fills the same way)
    assert ThompsonAllocation(options, now=NOW).shares(products, DAY) == shares
    # a product without unused clips is not live: nothing, not even the floor
    dead = [*products[:3], ProductCandidate("p9", "p9", ("home",), 0, 50.0, 0.1)]
    assert "p9" not in ThompsonAllocation(options, now=NOW).shares(dead, DAY)


def test_the_plan_uses_it_by_name_and_equal_stays_the_default(data_dir: Path) -> None:
    seed_history(NOW, {"p1": 6, "p2": 1})
    add_product("p1")
    add_product("p2")
    add_clips("p1", 30, "free-p1")
    add_clips("p2", 30, "free-p2")
    for n in range(3):
        add_account(f"planner{n}")
    assert "thompson" in allocation_names() and isinstance(get_allocation("thompson"), ThompsonAllocation)
    wall_now = datetime(2025, 3, 20, 16, 0, tzinfo=UTC)
    learned = plan_day(DAY, allocation=ThompsonAllocation(now=NOW), dry_run=True, now=wall_now)
    equal = plan_day(DAY, dry_run=True, now=wall_now)
    assert learned.per_product["p1"] > 2 * learned.per_product.get("p2", 0)
    assert abs(equal.per_product["p1"] - equal.per_product["p2"]) <= 1
    result = CliRunner().invoke(app, ["plan", "--date", DAY.isoformat(), "--allocation", "thompson", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "would plan" in result.output
