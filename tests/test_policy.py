"""The feedback-loop policy's properties on synthetic data: posteriors move toward the truth, young posts and
young orders do not bias it, the pay lag is recovered from truncated delays, new products start from their
category, the exploration floor holds, and the bench's day-by-day evidence equals the stateless one."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from analytics.policy import (
    Evidence,
    EvidenceStream,
    PolicyOptions,
    ThompsonPolicy,
    build_evidence,
    fit_pay_lag,
    largest_remainder,
    posterior,
    settle_horizon,
)


def synthetic(
    rng: np.random.Generator,
    rates: np.ndarray,
    posts_per_day: int,
    days: int,
    lag: float = 1.0,
    refund: float = 0.1,
    settle: float = 7.0,
) -> dict[str, np.ndarray]:
    """Posts spread over ``days`` (uniform arms), Poisson orders paid after Exp(lag), refunds before settling."""
    n = posts_per_day * days
    arm = rng.integers(0, len(rates), n)
    time = rng.uniform(0, days, n)
    count = rng.poisson(rates[arm])
    o_arm = np.repeat(arm, count)
    o_post = np.repeat(time, count)
    pay = o_post + rng.exponential(lag, len(o_arm))
    refunded = rng.random(len(o_arm)) < refund
    resolved = pay + np.where(refunded, rng.random(len(o_arm)) * settle, settle)
    return {"arm": arm, "time": time, "o_arm": o_arm, "o_post": o_post, "pay": pay, "res": resolved, "ref": refunded}


def evidence_at(data: dict[str, np.ndarray], now: float, n_arms: int, **kwargs: object) -> Evidence:
    resolved = np.where(data["res"] <= now, data["res"], np.nan)
    options = {"discount": 1.0, "lag_days": 1.0, "horizon_days": 7.0} | kwargs
    return build_evidence(
        n_arms,
        now,
        data["arm"],
        data["time"],
        data["o_arm"],
        data["o_post"],
        data["pay"],
        resolved,
        data["ref"],
        np.full(n_arms, 100.0),
        **options,  # type: ignore[arg-type]
    )


def test_posterior_moves_toward_the_truth_and_young_posts_do_not_bias_it() -> None:
    rng = np.random.default_rng(1)
    truth = np.array([0.5, 1.0, 2.0, 4.0])
    data = synthetic(rng, truth, posts_per_day=1000, days=10)
    errors = []
    for now in (2.0, 5.0, 10.0):
        post = posterior(evidence_at(data, now, 4), PolicyOptions())
        errors.append(np.abs(post.alpha / post.beta - truth) / truth)
    assert errors[-1].max() < 0.06, errors[-1]
    assert errors[-1].mean() < errors[0].mean()
    # Right after posting, half the orders are still to come: counting posts in full halves the estimate,
    # the pay-lag correction does not.
    corrected = posterior(evidence_at(data, 10.0, 4), PolicyOptions())
    naive = posterior(evidence_at(data, 10.0, 4, lag_days=None), PolicyOptions())
    assert np.abs(corrected.alpha / corrected.beta / truth - 1).max() < 0.06
    assert (naive.alpha / naive.beta / truth).max() < 0.96


def test_refund_rate_learns_from_mature_orders_only() -> None:
    rng = np.random.default_rng(2)
    data = synthetic(rng, np.array([3.0, 3.0]), posts_per_day=500, days=12, refund=0.25, settle=7.0)
    post = posterior(evidence_at(data, 12.0, 2), PolicyOptions())
    assert post.refund_a / (post.refund_a + post.refund_b) == pytest.approx(np.full(2, 0.25), abs=0.03)
    # Without the horizon, resolved orders of the last week are mostly refunds (they come first).
    early = evidence_at(data, 12.0, 2, horizon_days=0.0)
    assert (early.refunded / (early.refunded + early.kept)).min() > 0.35


def test_pay_lag_is_fitted_from_truncated_delays() -> None:
    rng = np.random.default_rng(3)
    post_time = rng.uniform(0, 3, 20_000)
    delay = rng.exponential(1.5, 20_000)
    now = 3.0
    seen = post_time + delay <= now
    fitted = fit_pay_lag(delay[seen], (now - post_time)[seen], rng=rng)
    assert fitted == pytest.approx(1.5, rel=0.1)
    assert delay[seen].mean() < 1.0  # what a plain mean would have said
    assert fit_pay_lag(np.zeros(0), np.zeros(0), default=0.7) == 0.7
    assert settle_horizon(np.full(10, 7.0)) is None
    assert settle_horizon(np.full(30, 7.0)) == pytest.approx(7.0)


def test_cold_start_product_starts_from_its_category() -> None:
    # Category 0 earns ~4 orders per post, category 1 ~0.5; arm 8 (category 0) and arm 9 (category 1) are new.
    exposure = np.array([200.0, 200, 200, 200, 200, 200, 200, 200, 0, 0])
    rates = np.array([4.0, 3.5, 4.5, 4.2, 0.5, 0.4, 0.6, 0.5, 0, 0])
    group = np.array([0, 0, 0, 0, 1, 1, 1, 1, 0, 1])
    evidence = Evidence(
        exposure, exposure * rates, np.zeros(10), np.zeros(10), np.full(10, 100.0), group, np.ones(10, dtype=bool)
    )
    post = posterior(evidence, PolicyOptions())
    mean = post.alpha / post.beta
    assert mean[8] == pytest.approx(4.05, rel=0.05)
    assert mean[9] == pytest.approx(0.5, rel=0.1)
    assert post.beta[8] <= PolicyOptions().max_prior_posts + 1e-9  # a bounded prior: its own posts soon dominate
    # With every arm in one group the new arms would both start from the overall mean instead.
    pooled = posterior(replace_group(evidence, np.zeros(10, dtype=int)), PolicyOptions())
    assert abs(pooled.alpha[8] / pooled.beta[8] - pooled.alpha[9] / pooled.beta[9]) < 1e-9


def replace_group(evidence: Evidence, group: np.ndarray) -> Evidence:
    return Evidence(
        evidence.exposure,
        evidence.paid,
        evidence.refunded,
        evidence.kept,
        evidence.commission,
        group,
        evidence.live,
    )


def test_exploration_floor_holds_and_dead_arms_get_nothing() -> None:
    exposure = np.full(6, 1000.0)
    rates = np.array([10.0, 1, 1, 1, 1, 1])
    live = np.array([True, True, True, True, True, False])
    evidence = Evidence(
        exposure, exposure * rates, np.zeros(6), np.zeros(6), np.full(6, 100.0), np.zeros(6, dtype=int), live
    )
    policy = ThompsonPolicy(PolicyOptions(exploration_floor=0.05))
    counts = policy.allocate(evidence, 1000, np.random.default_rng(0))
    assert counts.sum() == 1000 and counts[5] == 0
    assert (counts[1:5] >= 1000 * 0.05 / 5).all()  # 10 each from the floor, nothing more
    assert counts[0] >= 940
    shares = policy.shares(evidence, np.random.default_rng(0))
    assert shares.sum() == pytest.approx(1.0) and (shares[:5] >= 0.05 / 5 - 1e-12).all()
    # without a floor the weak arms starve
    assert (
        ThompsonPolicy(PolicyOptions(exploration_floor=0.0))
        .allocate(evidence, 1000, np.random.default_rng(0))[1:]
        .sum()
        == 0
    )


def test_one_draw_per_slot_spreads_posts_when_arms_are_close() -> None:
    # two arms nobody can tell apart yet: a per-slot draw splits the day instead of betting it on one
    evidence = Evidence(
        np.full(2, 5.0),
        np.full(2, 5.0),
        np.zeros(2),
        np.zeros(2),
        np.full(2, 100.0),
        np.zeros(2, dtype=int),
        np.ones(2, dtype=bool),
    )
    counts = ThompsonPolicy(PolicyOptions(exploration_floor=0.0)).allocate(evidence, 1000, np.random.default_rng(5))
    assert 350 < counts[0] < 650


def test_largest_remainder() -> None:
    assert largest_remainder(10, np.array([1.0, 1, 1])).tolist() == [4, 3, 3]
    assert largest_remainder(7, np.array([0.0, 2, 5])).tolist() == [0, 2, 5]
    assert largest_remainder(5, np.zeros(3)).tolist() == [0, 0, 0]


def test_evidence_stream_equals_build_evidence() -> None:
    rng = np.random.default_rng(4)
    data = synthetic(rng, np.array([0.5, 2.0, 3.0]), posts_per_day=50, days=12, settle=3.0)
    stream = EvidenceStream(3, discount=0.97)
    day_of_post = np.floor(data["time"]).astype(int)
    day_of_order = np.floor(data["o_post"]).astype(int)
    commission = np.full(3, 100.0)

    def feed(day: int) -> None:  # as a simulator does: a day's posts and their (future) orders at once
        posts, orders = day_of_post == day, day_of_order == day
        stream.add_posts(data["arm"][posts], data["time"][posts])
        stream.add_orders(
            data["o_arm"][orders], data["o_post"][orders], data["pay"][orders], data["res"][orders], data["ref"][orders]
        )

    feed(0)
    for now in range(1, 15):
        stream.advance(now)
        for horizon in (None, 2.5, 3.5, 3.0):  # a longer horizon than the last one rebuilds the refund sums
            got = stream.evidence(0.8, horizon, commission)
            want = evidence_at(data, float(now), 3, discount=0.97, lag_days=0.8, horizon_days=horizon)
            for name in ("exposure", "paid", "refunded", "kept"):
                np.testing.assert_allclose(getattr(got, name), getattr(want, name), rtol=1e-9, atol=1e-9, err_msg=name)
        assert stream.evidence(0.8, 3.0, commission).refunded.sum() > 0 or now < 4
        feed(now)


def test_clicks_are_an_early_signal_corrected_by_orders() -> None:
    """Two new arms with a few young posts and no orders yet: with clicks, the one its audience clicks ten times as
    often is judged better at its category's orders per click; without clicks they look alike. When its orders
    come in and show a poor conversion, its own orders take over."""
    n = 6
    exposure = np.array([60.0, 60, 60, 60, 1.5, 1.5])
    clicks = np.array([60 * 40.0, 60 * 30, 60 * 50, 60 * 35, 1.5 * 100, 1.5 * 10])
    paid = np.array([*(clicks[:4] * 0.06), 0.0, 0.0])
    zeros = np.zeros(n)
    commission = np.full(n, 1000.0)
    with_clicks = PolicyOptions(click_signal=True)
    evidence = Evidence(exposure, paid, zeros, zeros, commission, np.zeros(n, dtype=int), np.ones(n, bool), clicks)
    learned = posterior(evidence, with_clicks)
    mean = learned.alpha / learned.beta
    assert mean[4] > 4 * mean[5]
    # clicks per post (its 1.5 posts' 100, shrunk toward the category's 39) x the category's 6 % conversion
    assert 40 * 0.06 < mean[4] < 100 * 0.06
    blind = posterior(evidence, PolicyOptions(click_signal=False))
    assert blind.alpha[4] / blind.beta[4] == pytest.approx(blind.alpha[5] / blind.beta[5])
    # draws follow the same posterior: the high-click arm wins most draws between the two new arms
    scores = learned.sample(4000, np.random.default_rng(0))
    assert (scores[:, 4] > scores[:, 5]).mean() > 0.9
    # its orders arrive: 40 posts, 4000 clicks, 8 orders (0.2 % conversion); the estimate follows its own orders
    grown = Evidence(
        np.array([*exposure[:4], 40.0, 1.5]),
        np.array([*paid[:4], 8.0, 0.0]),
        zeros,
        zeros,
        commission,
        np.zeros(n, dtype=int),
        np.ones(n, bool),
        np.array([*clicks[:4], 4000.0, 15.0]),
    )
    corrected = posterior(grown, with_clicks)
    assert corrected.alpha[4] / corrected.beta[4] < 0.5 * mean[4]


def test_a_products_hooks_share_its_orders_per_click() -> None:
    """With conversion units, an arm with clicks but no orders borrows its product's other hooks' conversion."""
    exposure = np.array([50.0, 50, 2])
    clicks = np.array([2000.0, 1500, 120])
    paid = np.array([20.0, 15, 0])  # the product converts 1 %
    zeros = np.zeros(3)
    base = Evidence(exposure, paid, zeros, zeros, np.full(3, 1000.0), np.zeros(3, int), np.ones(3, bool), clicks)
    shared = posterior(replace(base, conversion_unit=np.array([0, 0, 0])), PolicyOptions(click_signal=True))
    assert shared.conversion_alpha is not None and shared.conversion_beta is not None
    assert shared.conversion_alpha[2] / shared.conversion_beta[2] == pytest.approx(0.01, rel=0.1)
