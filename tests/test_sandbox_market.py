"""The market model holds statistically: sample means match the oracle, a better product earns more, settlement
delays follow the configured distribution, and the same seed gives the same numbers whatever the request order.

Tolerances come from the samples' own variance (k standard errors) and the Kolmogorov-Smirnov critical value, never
from hand-picked constants; seeds are fixed, so every run draws the same numbers.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from sandbox.app import create_app
from sandbox.config import DAY, DEFAULT_MANUAL_START, DelayDistribution, MarketParams
from sandbox.market import TIME_OF_DAY, PostContext, ProductTerms, World, accrued, time_of_day
from tests.sandbox_support import ADMIN, advance, bearer, make_video, new_account, new_product, publish, sandbox_config

K_SE = 4.0  # |observed - expected| < 4 standard errors: a false alarm about once in 16,000 runs per check
KS_CRITICAL_1PCT = 1.63  # Kolmogorov-Smirnov: sqrt(n) * D exceeds 1.63 with probability 1 % under the null


def contexts(
    n: int, product: ProductTerms | None, hook: str = "benefit", first_id: int = 1, accounts: int = 40
) -> list[PostContext]:
    """``n`` posts spread over accounts and hours of the day (deterministic)."""
    return [
        PostContext(
            post_id=first_id + i,
            account_id=1 + i % accounts,
            hook_style=hook,
            publish_at=DEFAULT_MANUAL_START + (i * 7919) % int(30 * DAY),
            product=product,
        )
        for i in range(n)
    ]


def settled_commission(world: World, ctx: PostContext) -> int:
    assert ctx.product is not None
    outcome = world.simulate(ctx)
    return sum(ctx.product.commission_fen for o in outcome.orders if o.settle_delay is not None)


def mean_and_se(values: Sequence[float] | np.ndarray) -> tuple[float, float]:
    arr = np.asarray(values, dtype=float)
    return float(arr.mean()), float(arr.std(ddof=1) / math.sqrt(len(arr)))


def ks_statistic(samples: np.ndarray, cdf: Any) -> float:
    """sup |F_n(x) - F(x)| over the sample points (both sides of each jump)."""
    xs = np.sort(samples)
    n = len(xs)
    model = np.array([cdf(float(x)) for x in xs])
    above = np.arange(1, n + 1) / n - model
    below = model - np.arange(0, n) / n
    return float(max(above.max(), below.max()))


@pytest.fixture(scope="module")
def world() -> World:
    return World(seed=11, params=MarketParams())


def test_sample_means_match_the_oracle(world: World) -> None:
    cup = ProductTerms("cup", price_fen=9900, commission_rate=2000)
    posts = contexts(10_000, cup)  # enough that a 10 % error in any rate is > 5 standard errors
    outcomes = [world.simulate(c) for c in posts]
    expected = [world.expected(cup, c.hook_style, c.account_id, c.publish_at) for c in posts]
    checks = {
        "plays": ([o.plays for o in outcomes], [e.plays for e in expected]),
        "clicks": ([o.product_clicks for o in outcomes], [e.product_clicks for e in expected]),
        "orders": ([len(o.orders) for o in outcomes], [e.orders for e in expected]),
        "settled": ([settled_commission(world, c) for c in posts], [e.settled_commission_fen for e in expected]),
    }
    for name, (observed, truth) in checks.items():
        mean, se = mean_and_se(observed)
        assert abs(mean - float(np.mean(truth))) < K_SE * se, (name, mean, np.mean(truth), se)
    # refunds happen at the product's hidden rate (binomial standard error)
    flags = [o.refund_delay is not None for out in outcomes for o in out.orders]
    rate = world.product_appeal("cup").refund_rate
    assert abs(np.mean(flags) - rate) < K_SE * math.sqrt(rate * (1 - rate) / len(flags))


def test_a_better_product_earns_more(world: World) -> None:
    catalogue = [ProductTerms(f"p{i}", price_fen=9900, commission_rate=2000) for i in range(6)]
    oracle = {p.product_id: world.expected(p, "benefit").settled_commission_fen for p in catalogue}
    best = max(catalogue, key=lambda p: oracle[p.product_id])
    worst = min(catalogue, key=lambda p: oracle[p.product_id])
    n = 2500
    best_values = [settled_commission(world, c) for c in contexts(n, best, first_id=1)]
    worst_values = [settled_commission(world, c) for c in contexts(n, worst, first_id=100_001)]
    (m_best, se_best), (m_worst, se_worst) = mean_and_se(best_values), mean_and_se(worst_values)
    se_diff = math.hypot(se_best, se_worst)
    truth_best = np.mean(
        [
            world.expected(best, c.hook_style, c.account_id, c.publish_at).settled_commission_fen
            for c in contexts(n, best)
        ]
    )
    truth_worst = np.mean(
        [
            world.expected(worst, c.hook_style, c.account_id, c.publish_at).settled_commission_fen
            for c in contexts(n, worst)
        ]
    )
    # the experiment has the power to tell them apart: the true gap is many standard errors wide
    assert truth_best - truth_worst > 2 * K_SE * se_diff
    assert m_best - m_worst > K_SE * se_diff
    assert abs((m_best - m_worst) - (truth_best - truth_worst)) < K_SE * se_diff


def test_hidden_appeals_have_the_configured_spread(world: World) -> None:
    params = world.params
    n = 4000
    hooks = np.array([world.hook_appeal(f"style-{i}").play for i in range(n)])
    accounts = np.array([world.account_multiplier(i) for i in range(1, n + 1)])
    # log-scale spreads match the parameters (standard error of a normal sample's sd: sigma / sqrt(2n))
    for values, sigma in ((hooks, params.hook_play_sigma), (np.log(accounts), params.account_sigma)):
        assert abs(float(values.std(ddof=1)) - sigma) < K_SE * sigma / math.sqrt(2 * n)
    # account reach is centred so the average account has multiplier 1 (the oracle's basis)
    mean, se = mean_and_se(accounts)
    assert abs(mean - 1.0) < K_SE * se
    assert world.hook_appeal("question") == World(11, params).hook_appeal("question")


@pytest.mark.parametrize("spec", ["gamma:8:4", "uniform:3:10", "lognormal:6:0.5", "fixed:7"])
def test_settlement_delays_follow_the_configured_distribution(spec: str) -> None:
    dist = DelayDistribution.parse(spec)
    world = World(seed=5, params=replace(MarketParams(), settle_delay=dist, ctr_base=0.05))
    product = ProductTerms("bestseller", price_fen=5000, commission_rate=1000)
    settle: list[float] = []
    pay: list[float] = []
    for ctx in contexts(2000, product):
        for order in world.simulate(ctx).orders:
            pay.append(order.pay_delay / DAY)
            if order.settle_delay is not None:
                settle.append(order.settle_delay / DAY)
        if len(settle) >= 4000:
            break
    delays = np.array(settle)
    n = len(delays)
    assert n >= 4000
    if dist.kind == "fixed":
        assert np.allclose(delays, dist.a)
    else:
        assert math.sqrt(n) * ks_statistic(delays, dist.cdf) < KS_CRITICAL_1PCT
        mean, se = mean_and_se(delays)
        assert abs(mean - dist.mean()) < K_SE * se
    # orders arrive after publishing with the attention delay (exponential, mean attention_days)
    attention = DelayDistribution("exponential", world.params.attention_days)
    assert math.sqrt(len(pay)) * ks_statistic(np.array(pay), attention.cdf) < KS_CRITICAL_1PCT


def test_same_seed_same_numbers_whatever_the_order() -> None:
    cup = ProductTerms("cup", 9900, 2000)
    posts = contexts(300, cup)
    forward = {c.post_id: World(3, MarketParams()).simulate(c) for c in posts}
    shuffled_posts = list(posts)
    random.Random(1).shuffle(shuffled_posts)
    other_world = World(3, MarketParams())
    other_world.product_appeal("something-else")  # touching other state first changes nothing
    shuffled = {c.post_id: other_world.simulate(c) for c in shuffled_posts}
    assert shuffled == forward
    different = {c.post_id: World(4, MarketParams()).simulate(c) for c in posts}
    assert different != forward


def test_time_of_day_curve() -> None:
    assert TIME_OF_DAY.mean() == pytest.approx(1.0)
    # averaged over the day (fine grid), the interpolated curve is 1 too: the oracle's "average hour"
    grid = [time_of_day(DEFAULT_MANUAL_START + s) for s in range(0, int(DAY), 60)]
    assert np.mean(grid) == pytest.approx(1.0, abs=1e-3)
    evening = DEFAULT_MANUAL_START + 5 * 3600  # 21:00 UTC+8 (the clock starts at 16:00)
    night = DEFAULT_MANUAL_START + 12 * 3600  # 04:00
    assert time_of_day(evening) > 4 * time_of_day(night)
    assert time_of_day(evening) > 1 > time_of_day(night)
    assert accrued(0, MarketParams()) == 0.0
    assert accrued(DAY, MarketParams()) == pytest.approx(1 - math.exp(-1))


def test_delay_distribution_parsing() -> None:
    assert str(DelayDistribution.parse("gamma:8:4")) == "gamma:8:4"
    assert DelayDistribution.parse("exponential:2").mean() == 2
    for bad in ("gamma:8", "weibull:1:2", "uniform:5:1", "gamma:x:1", "fixed:-1"):
        with pytest.raises(ValueError):
            DelayDistribution.parse(bad)
    gamma = DelayDistribution.parse("gamma:8:4")
    # the series CDF agrees with numerically integrating the gamma density
    xs = np.linspace(1e-6, 12, 20001)
    shape, scale = 4, 2
    density = xs ** (shape - 1) * np.exp(-xs / scale) / (math.gamma(shape) * scale**shape)
    assert gamma.cdf(12) == pytest.approx(float(np.sum((density[1:] + density[:-1]) / 2 * np.diff(xs))), abs=1e-6)


def _run_scenario(data_dir: Path, videos: list[Path], seed: int, metrics_order: list[int]) -> dict[str, Any]:
    """Two accounts post three videos each through the API, 30 days pass, then read everything back."""
    with TestClient(create_app(sandbox_config(data_dir, seed=seed))) as c:
        new_product(c, "cup", price=99, rate=0.2)
        tokens = [new_account(c, f"acct{n}")["api_token"] for n in range(2)]
        post_ids = []
        for i, path in enumerate(videos):
            response = publish(c, tokens[i % 2], path, title=f"第{i}条", product_id="cup", hook_style="story")
            assert response.status_code == 200, response.text
            post_ids.append((tokens[i % 2], response.json()["post_id"]))
            if i % 2:
                advance(c, 3600)
        advance(c, 30 * DAY)
        metrics = {}
        for i in metrics_order:
            token, post_id = post_ids[i]
            metrics[post_id] = c.get(f"/api/v1/video/{post_id}/metrics", headers=bearer(token)).json()
        orders = [
            c.get("/api/v1/buyin/orders", params={"count": 100}, headers=bearer(t)).json()["orders"] for t in tokens
        ]
        posts = c.get("/api/admin/posts", headers=ADMIN).json()["posts"]
        return {"metrics": metrics, "orders": orders, "posts": [(p["post_id"], p["publish_at"]) for p in posts]}


def test_same_seed_same_numbers_through_the_server(tmp_path: Path) -> None:
    videos = [make_video(tmp_path / f"v{i}.mp4", 200 + i) for i in range(6)]
    first = _run_scenario(tmp_path / "a", videos, seed=21, metrics_order=[0, 1, 2, 3, 4, 5])
    again = _run_scenario(tmp_path / "b", videos, seed=21, metrics_order=[5, 3, 1, 4, 2, 0])
    assert again == first
    assert sum(len(o) for o in first["orders"]) > 0
    other = _run_scenario(tmp_path / "c", videos, seed=22, metrics_order=[0, 1, 2, 3, 4, 5])
    assert other["posts"] == first["posts"] and other["metrics"] != first["metrics"]
