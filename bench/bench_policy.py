"""What to post: the feedback-loop policy (``analytics.policy``) against uniform, epsilon-greedy 0.1 and plain
Thompson sampling, as a share of the oracle's settled commission, on the sandbox's market model.

The market is :mod:`sandbox.market`'s: a post's plays are ``base_plays x account x exp(hook.play) x
time_of_day x lognormal noise`` (Poisson), clicks Binomial with ``sigmoid(logit(ctr_base) + product.ctr +
hook.ctr)``, orders Poisson with ``sigmoid(logit(cvr_base) + product.cvr)`` per click; each order is paid after
an exponential attention delay, refunded with the product's refund rate (at a uniform point before it would have
settled) or settled after the scenario's settlement delay. Parameters are ``MarketParams()``'s defaults; hook
appeals and each product's own appeals are ``sandbox.market.World``'s draws for the seed. One addition: products
belong to categories (3), and half of each product's click and conversion spread is its category's (the total
spread is the sandbox's), so a category says something about a new product. The simulation is vectorised over
posts here (the sandbox draws one post at a time), with the same distributions.

A day: 3,000 posts over arms = product x hook (10 products x 4 hook styles = 40 arms; more with cold start),
decided at the start of the day from what was observed by then. Scenarios: settlement delay 1 and 7 days
(stationary); drift (7 days: each product's appeals random-walk 0.04/day on the logit scale and the best
product's conversion drops by 1.0 logit on day 30); cold start (7 days: 2 new products on days 15, 30 and 45).

Policies (each sees only what a collector would have stored by then, never the oracle):

* ``uniform``: the same number of posts per live arm;
* ``eps-greedy 0.1``: per slot, a random arm with probability 0.1, else the best mean settled commission per post;
* ``thompson (plain)``: Gamma(1, 1)-Poisson on settled orders per post x commission, a draw per slot, counting a
  post once its settlements can have arrived (older than the delay + 3 days of attention);
* ``ours``: :class:`analytics.policy.ThompsonPolicy` (paid orders early with the fitted pay-lag correction,
  refunds from resolved orders, empirical-Bayes category priors, discount, exploration floor), without clicks;
* ``ours + clicks``: the same with product clicks as the early signal (clicks per post x the category's orders per
  click, corrected by the arm's own orders as they come in); clicks are seen as they accrue on the platform's
  metrics curve (``1 - exp(-age / attention_days)`` of their final count), as a collector reads them.

Measured: expected settled commission of the posts a policy made (each post valued at its arm's true expected
figure that day, so luck in the draws does not count) / the oracle's (every post on that day's best live arm),
over 60 days; mean and standard error over seeds. Goal (issue 11): ours >= 95 % at the 7-day delay and ahead
of plain Thompson.

    .venv/bin/python bench/bench_policy.py --seeds 20 --out bench/results/policy.md
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analytics.policy import (  # noqa: E402
    EvidenceStream,
    PolicyOptions,
    ThompsonPolicy,
    fit_pay_lag,
    largest_remainder,
    settle_horizon,
)
from sandbox.config import MarketParams  # noqa: E402
from sandbox.market import TIME_OF_DAY, World, commission_per_order  # noqa: E402

POLICIES = ("uniform", "eps-greedy 0.1", "thompson (plain)", "ours", "ours + clicks")
SLOTS = 3000
DAYS = 60
PRODUCTS = 10
HOOKS = 4
CATEGORIES = 3
CATEGORY_SHARE = 0.5  # of the product appeal variance that is the category's
ACCOUNTS = 500
WINDOW_HOURS = (8, 23)  # posting windows, local time
ATTENTION_TAIL_DAYS = 3.0  # plain policies count a post once delay + this has passed
DRIFT_STEP = 0.04
DRIFT_SHOCK_DAY, DRIFT_SHOCK = 30, 1.0
COLD_DAYS, COLD_PER_DAY = (15, 30, 45), 2


@dataclass(frozen=True)
class Scenario:
    name: str
    delay_days: float
    drift: bool = False
    cold_start: bool = False


SCENARIOS = (
    Scenario("stationary, 1-day settlement", 1.0),
    Scenario("stationary, 7-day settlement", 7.0),
    Scenario("drift, 7-day settlement", 7.0, drift=True),
    Scenario("cold start, 7-day settlement", 7.0, cold_start=True),
)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


class Market:
    """One seed's hidden world: products (with categories, prices, rates, refund rates), hooks, accounts."""

    def __init__(self, seed: int, scenario: Scenario, params: MarketParams) -> None:
        self.params = params
        self.scenario = scenario
        world = World(seed, params)
        rng = np.random.default_rng([seed, 99])
        n_products = PRODUCTS + (len(COLD_DAYS) * COLD_PER_DAY if scenario.cold_start else 0)
        self.intro_day = np.zeros(n_products, dtype=int)
        if scenario.cold_start:
            for i, day in enumerate(COLD_DAYS):
                self.intro_day[PRODUCTS + i * COLD_PER_DAY : PRODUCTS + (i + 1) * COLD_PER_DAY] = day
        self.category = rng.integers(0, CATEGORIES, n_products)
        own = [world.product_appeal(f"bench-{seed}-p{i}") for i in range(n_products)]
        w = math.sqrt(CATEGORY_SHARE)
        cat_ctr = rng.normal(0, params.product_ctr_sigma * w, CATEGORIES)
        cat_cvr = rng.normal(0, params.product_cvr_sigma * w, CATEGORIES)
        own_w = math.sqrt(1 - CATEGORY_SHARE)
        self.p_ctr = np.array([a.ctr for a in own]) * own_w + cat_ctr[self.category]
        self.p_cvr = np.array([a.cvr for a in own]) * own_w + cat_cvr[self.category]
        self.refund = np.array([a.refund_rate for a in own])
        price = np.round(np.exp(rng.normal(math.log(8000), 0.6, n_products)))  # fen, ~80 yuan
        rate = np.round(rng.uniform(0.05, 0.3, n_products) * 10000)
        self.commission = np.array([commission_per_order(int(p), int(r)) for p, r in zip(price, rate, strict=True)])
        styles = params.hook_styles[:HOOKS]
        hooks = [world.hook_appeal(s) for s in styles]
        self.h_play = np.array([h.play for h in hooks])
        self.h_ctr = np.array([h.ctr for h in hooks])
        s = params.account_sigma
        self.accounts = np.exp(rng.normal(-(s**2) / 2, s, ACCOUNTS))
        self.n_products = n_products
        self.arm_product = np.repeat(np.arange(n_products), HOOKS)
        self.arm_hook = np.tile(np.arange(HOOKS), n_products)
        self.drift_rng = np.random.default_rng([seed, 7])

    @property
    def n_arms(self) -> int:
        return self.n_products * HOOKS

    def live(self, day: int) -> np.ndarray:
        return self.intro_day[self.arm_product] <= day

    def rates(self) -> tuple[np.ndarray, np.ndarray]:
        p = self.params
        ctr = _sigmoid(_logit(p.ctr_base) + self.p_ctr[self.arm_product] + self.h_ctr[self.arm_hook])
        cvr = _sigmoid(_logit(p.cvr_base) + self.p_cvr[self.arm_product])
        return ctr, cvr

    def value(self) -> np.ndarray:
        """Expected settled commission per post of each arm (fen), average account and hour: the oracle."""
        ctr, cvr = self.rates()
        orders = self.params.base_plays * np.exp(self.h_play[self.arm_hook]) * ctr * cvr
        return orders * self.commission[self.arm_product] * (1 - self.refund[self.arm_product])

    def step_drift(self, day: int) -> None:
        if not self.scenario.drift:
            return
        self.p_ctr += self.drift_rng.normal(0, DRIFT_STEP, self.n_products)
        self.p_cvr += self.drift_rng.normal(0, DRIFT_STEP, self.n_products)
        if day == DRIFT_SHOCK_DAY:
            best = self.arm_product[int(np.argmax(np.where(self.live(day), self.value(), -np.inf)))]
            self.p_cvr[best] -= DRIFT_SHOCK


class Buffer:
    """Growable columns (appending a day's posts or orders without re-copying everything every day)."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.size = 0
        self.cap = 1024
        self.cols = {n: np.zeros(self.cap) for n in names}

    def extend(self, **values: np.ndarray) -> None:
        n = len(next(iter(values.values())))
        while self.size + n > self.cap:
            self.cap *= 2
            for name, col in self.cols.items():
                grown = np.zeros(self.cap)
                grown[: self.size] = col[: self.size]
                self.cols[name] = grown
        for name, value in values.items():
            self.cols[name][self.size : self.size + n] = value
        self.size += n

    def __getitem__(self, name: str) -> np.ndarray:
        return self.cols[name][: self.size]


def simulate_day(
    market: Market, counts: np.ndarray, day: int, rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray] | None]:
    """Publish ``counts`` posts per arm on ``day`` and draw their orders (times in days)."""
    p = market.params
    arm = np.repeat(np.arange(market.n_arms), counts)
    n = len(arm)
    hour = rng.uniform(*WINDOW_HOURS, n)
    t = day + hour / 24
    tod = TIME_OF_DAY[hour.astype(int) % 24]
    account = market.accounts[rng.integers(0, ACCOUNTS, n)]
    mu = p.base_plays * account * np.exp(market.h_play[market.arm_hook[arm]]) * tod
    sigma = p.play_noise_sigma
    plays = rng.poisson(mu * np.exp(rng.normal(-(sigma**2) / 2, sigma, n)))
    ctr, cvr = market.rates()
    clicks = rng.binomial(plays, ctr[arm])
    count = rng.poisson(clicks * cvr[arm])
    posts = {"arm": arm, "time": t, "clicks": clicks.astype(float)}
    k = int(count.sum())
    if k == 0:
        return posts, None
    o_arm = np.repeat(arm, count)
    o_post = np.repeat(t, count)
    pay = o_post + rng.exponential(p.attention_days, k)
    refunded = rng.random(k) < market.refund[market.arm_product[o_arm]]
    delay = market.scenario.delay_days
    resolved = pay + np.where(refunded, rng.random(k) * delay, delay)
    return posts, {"arm": o_arm, "post": o_post, "pay": pay, "resolved": resolved, "refunded": refunded}


class Ours:
    """:class:`analytics.policy.ThompsonPolicy` fed by an :class:`~analytics.policy.EvidenceStream` of what a
    collector would have stored by each morning (payments and resolutions revealed when they happen)."""

    def __init__(self, market: Market, options: PolicyOptions) -> None:
        self.policy = ThompsonPolicy(options)
        self.accrual = market.params.attention_days if options.click_signal else None
        self.stream = EvidenceStream(market.n_arms, options.discount)
        self.group = market.category[market.arm_product]
        self.commission = market.commission[market.arm_product].astype(float)

    def observe(self, posts: dict[str, np.ndarray], orders: dict[str, np.ndarray] | None) -> None:
        self.stream.add_posts(posts["arm"], posts["time"], posts["clicks"])
        if orders is not None:
            self.stream.add_orders(orders["arm"], orders["post"], orders["pay"], orders["resolved"], orders["refunded"])

    def __call__(self, market: Market, posts: Buffer, orders: Buffer, day: int, rng: np.random.Generator) -> np.ndarray:
        self.stream.advance(day)
        delays, ages = self.stream.lag_sample()
        lag = fit_pay_lag(delays, ages, rng=rng)
        horizon = settle_horizon(self.stream.settle_delays())
        evidence = self.stream.evidence(lag, horizon, self.commission, self.group, market.live(day), self.accrual)
        if self.accrual is not None:
            evidence = replace(evidence, conversion_unit=market.arm_product)
        return self.policy.allocate(evidence, SLOTS, rng)


def _settled_stats(market: Market, posts: Buffer, orders: Buffer, day: int) -> tuple[np.ndarray, np.ndarray]:
    """Posts old enough for their settlements, and their settled orders so far, per arm (plain policies)."""
    now = float(day)
    cutoff = now - market.scenario.delay_days - ATTENTION_TAIL_DAYS
    old = posts["time"] <= cutoff
    n = np.bincount(posts["arm"][old].astype(int), minlength=market.n_arms).astype(float)
    done = (orders["post"] <= cutoff) & (orders["resolved"] <= now) & (orders["refunded"] == 0)
    k = np.bincount(orders["arm"][done].astype(int), minlength=market.n_arms).astype(float)
    return n, k


def plain_thompson(market: Market, posts: Buffer, orders: Buffer, day: int, rng: np.random.Generator) -> np.ndarray:
    n, k = _settled_stats(market, posts, orders, day)
    live = market.live(day)
    lam = rng.standard_gamma(1 + k, size=(SLOTS, market.n_arms)) / (1 + n)
    scores = lam * market.commission[market.arm_product]
    scores[:, ~live] = -np.inf
    return np.bincount(np.argmax(scores, axis=1), minlength=market.n_arms)


def eps_greedy(market: Market, posts: Buffer, orders: Buffer, day: int, rng: np.random.Generator) -> np.ndarray:
    n, k = _settled_stats(market, posts, orders, day)
    live = market.live(day)
    mean = np.where(live, (1 + k) / (1 + n) * market.commission[market.arm_product], -np.inf)
    explore = rng.binomial(SLOTS, 0.1)
    counts = np.zeros(market.n_arms, dtype=int)
    live_idx = np.flatnonzero(live)
    np.add.at(counts, rng.choice(live_idx, explore), 1)
    counts[int(np.argmax(mean))] += SLOTS - explore
    return counts


def uniform(market: Market, posts: Buffer, orders: Buffer, day: int, rng: np.random.Generator) -> np.ndarray:
    return largest_remainder(SLOTS, market.live(day).astype(float))


def run(seed: int, scenario: Scenario, policy: str, options: PolicyOptions) -> float:
    """Share of the oracle's expected settled commission one policy earns in one seeded market."""
    params = MarketParams()
    market = Market(seed, scenario, params)
    plain = {"uniform": uniform, "eps-greedy 0.1": eps_greedy, "thompson (plain)": plain_thompson}
    learner = None
    if policy.startswith("ours"):
        learner = Ours(market, replace(options, click_signal=policy == "ours + clicks"))
    decide: Callable[..., np.ndarray] = learner or plain[policy]
    rng = np.random.default_rng([seed, POLICIES.index(policy), 1])
    sim_rng = np.random.default_rng([seed, POLICIES.index(policy), 2])
    posts = Buffer(("arm", "time"))
    orders = Buffer(("arm", "post", "pay", "resolved", "refunded"))
    earned = oracle = 0.0
    for day in range(DAYS):
        if day:
            market.step_drift(day)
        counts = decide(market, posts, orders, day, rng)
        live = market.live(day)
        assert counts.sum() == SLOTS and not counts[~live].any(), (policy, day, counts.sum())
        value = market.value()
        earned += float(counts @ value)
        oracle += SLOTS * float(value[live].max())
        new_posts, new_orders = simulate_day(market, counts, day, sim_rng)
        if learner is not None:
            learner.observe(new_posts, new_orders)
        else:
            posts.extend(arm=new_posts["arm"], time=new_posts["time"])
            if new_orders is not None:
                orders.extend(**{k: v.astype(float) for k, v in new_orders.items()})
    return earned / oracle


def _job(args: tuple[int, int, str, PolicyOptions]) -> tuple[int, int, str, float, float]:
    seed, s, policy, options = args
    started = time.process_time()
    share = run(seed, SCENARIOS[s], policy, options)
    return seed, s, policy, share, time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=0, help="Seeds first-seed .. first-seed + seeds - 1.")
    parser.add_argument("--scenario", type=int, action="append", help="Only these scenarios (0-based index).")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--policy", action="append", choices=POLICIES, help="Only these policies.")
    parser.add_argument("--discount", type=float, default=PolicyOptions().discount)
    parser.add_argument("--floor", type=float, default=PolicyOptions().exploration_floor)
    parser.add_argument("--out", type=Path, default=None, help="Write the markdown table here too.")
    args = parser.parse_args()
    options = replace(PolicyOptions(), discount=args.discount, exploration_floor=args.floor)
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    chosen = args.scenario or list(range(len(SCENARIOS)))
    policies = tuple(p for p in POLICIES if not args.policy or p in args.policy)
    jobs = [(seed, s, p, options) for seed in seeds for s in chosen for p in policies]
    started = time.perf_counter()
    results: dict[tuple[int, str], list[float]] = {}
    paired: dict[tuple[int, int], dict[str, float]] = {}
    cpu: dict[str, float] = dict.fromkeys(policies, 0.0)
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for seed, s, policy, share, seconds in pool.map(_job, jobs, chunksize=4):
            results.setdefault((s, policy), []).append(share)
            paired.setdefault((s, seed), {})[policy] = share
            cpu[policy] += seconds
    elapsed = time.perf_counter() - started

    lines = [
        f"Share of the oracle's expected settled commission, mean +- standard error over {args.seeds} seeds "
        f"({DAYS} days x {SLOTS} posts, {PRODUCTS} products x {HOOKS} hooks; ours: discount {options.discount}, "
        f"floor {options.exploration_floor}). {elapsed:.0f} s wall with {args.workers} workers; CPU "
        f"{sum(cpu.values()):.0f} s (" + ", ".join(f"{p} {c:.0f} s" for p, c in cpu.items()) + ").",
        "",
        "| policy | " + " | ".join(SCENARIOS[s].name for s in chosen) + " |",
        "|---|" + "---:|" * len(chosen),
    ]
    for policy in policies:
        cells = []
        for s in chosen:
            values = np.array(results[(s, policy)])
            cells.append(f"{values.mean():.1%} +- {values.std(ddof=1) / math.sqrt(len(values)):.1%}")
        lines.append(f"| {policy} | " + " | ".join(cells) + " |")
    for better, worse in (("ours", "thompson (plain)"), ("ours + clicks", "ours")):
        if better not in policies or worse not in policies:
            continue
        diffs = []
        for s in chosen:
            d = np.array([paired[(s, seed)][better] - paired[(s, seed)][worse] for seed in seeds])
            diffs.append(f"{d.mean():+.1%} +- {d.std(ddof=1) / math.sqrt(len(d)):.1%}")
        lines.append(f"| {better} - {worse} (paired) | " + " | ".join(diffs) + " |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
