"""What to post tomorrow: Thompson sampling on settled commission per post, learning from paid orders early.

An *arm* is what the plan can choose (a product; or product x hook in the bench). Its value per post is

    score = lambda x commission x (1 - rho)

* ``lambda`` - orders per post, Gamma-Poisson: ``lambda ~ Gamma(alpha_g + K, beta_g + E)`` where ``K`` counts the
  arm's *paid* orders and ``E`` its posts. Paid orders are the early signal: they arrive within about a day
  of posting, while settlement comes a week or more later. A post that is still young has not brought all its
  orders yet, so it counts as the share of them it should have brought by now: ``E = sum F(age)`` with ``F`` the
  pay-lag distribution (exponential, its mean fitted to the observed delays by :func:`fit_pay_lag`, a truncated
  likelihood so young posts do not bias it). No waiting for settlement, and no under-counting of young posts.
* Clicks - the earlier, denser signal: a post's product clicks (about 17 per order at the sandbox's base
  conversion) come in with its plays. With clicks, ``lambda = c x v``: clicks per post ``c ~ Gamma(ac_g + C,
  bc_g + E)`` and orders per click ``v ~ Gamma(av_g + K, bv_g + C)`` (``C`` the arm's clicks so far, discounted
  like its orders; a young post's clicks and orders are the same share of their final counts, so ``K / C`` is
  not biased by age). The conversion prior is the category's (empirical Bayes over its arms, at most
  ``max_prior_clicks`` clicks strong): an arm with many clicks and few orders yet is judged by its clicks at its
  category's conversion, and its own orders take over as they come in (the correction). ``alpha, beta`` are then
  the Gamma with the same mean and variance as ``c x v``; draws use ``c`` and ``v`` themselves.
* ``commission`` - known per order from the catalogue (price x rate), in fen.
* ``rho`` - refund rate, Beta: ``rho ~ Beta(a_g + R, b_g + S)`` over orders old enough to have resolved
  (older than the settlement horizon, :func:`settle_horizon`: counting younger resolved orders would see the
  refunds, which come first, and not the settlements). This is the correction settlements bring.
* ``alpha_g, beta_g`` and ``a_g, b_g`` - empirical-Bayes priors per group (the product's category): a new product
  starts from what its category's products earn (method of moments over arms with data, Poisson noise removed),
  with a bounded strength so its own posts soon dominate; groups with too few arms fall back to all arms.
* Drift - every post and order is weighted ``g ** age_days`` (``discount``; memory about ``1 / (1 - g)`` days).

Allocation: one fresh posterior draw per slot, the slot goes to the arm with the highest sampled score, so
posts spread in proportion to each arm's chance of being best (right for daily batches with delayed rewards:
a deterministic policy puts the whole day on one arm). Then an exploration floor spreads ``exploration_floor``
of the day evenly over every live arm, so no live product starves.

Everything here is NumPy on arrays (the bench runs it for thousands of simulated days); :mod:`analytics.learn`
feeds it from the database.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_LAG_GRID = np.exp(np.linspace(math.log(0.02), math.log(30.0), 80))  # days
_LAG_SAMPLE = 2000
_MIN_SETTLED_FOR_HORIZON = 20


@dataclass(frozen=True, slots=True)
class PolicyOptions:
    """Knobs of :class:`ThompsonPolicy`.

    Attributes:
        discount: per-day weight ``g`` of old evidence (0.97-0.99; 1 = no forgetting).
        exploration_floor: share of a day spread evenly over live arms, whatever the posterior says.
        max_prior_posts: an empirical-Bayes prior is worth at most this many posts of evidence.
        min_group_arms: a group needs this many arms with evidence for its own prior (else all arms' prior).
        refund_prior: Beta prior of the refund rate before any order resolved anywhere.
        refund_prior_strength: pseudo-orders of a group's refund prior.
        default_lag_days: pay lag assumed before any order was seen.
        draws: posterior draws when slots are not known (allocation shares).
        click_signal: use product clicks (when the evidence has them) as the early signal of orders.
        max_prior_clicks: a category's conversion prior is worth at most this many clicks.
    """

    discount: float = 0.97
    exploration_floor: float = 0.02
    max_prior_posts: float = 5.0
    min_group_arms: int = 3
    refund_prior: tuple[float, float] = (1.0, 9.0)
    refund_prior_strength: float = 20.0
    default_lag_days: float = 1.0
    draws: int = 4000
    click_signal: bool = False
    max_prior_clicks: float = 200.0

    def __post_init__(self) -> None:
        if not 0 < self.discount <= 1:
            raise ValueError("policy: discount must be in (0, 1]")
        if not 0 <= self.exploration_floor < 1:
            raise ValueError("policy: exploration_floor must be in [0, 1)")
        if self.max_prior_posts <= 0 or self.refund_prior_strength <= 0 or self.default_lag_days <= 0:
            raise ValueError("policy: prior strengths and the default lag must be positive")
        if self.max_prior_clicks <= 0:
            raise ValueError("policy: max_prior_clicks must be positive")
        if min(self.refund_prior) <= 0 or self.draws < 1:
            raise ValueError("policy: refund_prior must be positive and draws at least 1")


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the arms have shown, discounted and lag-corrected (arrays of one value per arm).

    Attributes:
        exposure: effective posts ``sum g**age * F(age)``.
        paid: paid orders ``sum g**age_of_post``.
        refunded, kept: resolved orders older than the settlement horizon, refunded or not (discounted).
        commission: fen per order (price x rate).
        group: group index per arm (category) for the empirical-Bayes priors.
        live: arms that can be posted now (others get nothing, not even the floor).
        clicks: product clicks seen so far ``sum g**age_of_post``; ``None`` when no metrics were read.
        conversion_unit: arms with the same value share orders per click (a product's hooks: the hook brings the
            click, the product page converts it); ``None``: each arm its own.
    """

    exposure: np.ndarray
    paid: np.ndarray
    refunded: np.ndarray
    kept: np.ndarray
    commission: np.ndarray
    group: np.ndarray
    live: np.ndarray
    clicks: np.ndarray | None = None
    conversion_unit: np.ndarray | None = None

    @classmethod
    def empty(cls, commission: np.ndarray, group: np.ndarray | None = None, live: np.ndarray | None = None) -> Evidence:
        n = len(commission)
        zeros = np.zeros(n)
        return cls(
            zeros,
            zeros.copy(),
            zeros.copy(),
            zeros.copy(),
            np.asarray(commission, dtype=float),
            np.zeros(n, dtype=int) if group is None else np.asarray(group, dtype=int),
            np.ones(n, dtype=bool) if live is None else np.asarray(live, dtype=bool),
        )


@dataclass(frozen=True, slots=True)
class Posterior:
    """Gamma(alpha, beta) of orders per post and Beta(a, b) of the refund rate, per arm.

    With clicks, orders per post are clicks per post Gamma(click_alpha, click_beta) times orders per click
    Gamma(conversion_alpha, conversion_beta); ``alpha, beta`` then match that product's mean and variance.
    """

    alpha: np.ndarray
    beta: np.ndarray
    refund_a: np.ndarray
    refund_b: np.ndarray
    commission: np.ndarray
    live: np.ndarray
    click_alpha: np.ndarray | None = None
    click_beta: np.ndarray | None = None
    conversion_alpha: np.ndarray | None = None
    conversion_beta: np.ndarray | None = None

    @property
    def mean_score(self) -> np.ndarray:
        """Expected settled commission per post (fen)."""
        return self.alpha / self.beta * self.commission * (self.refund_b / (self.refund_a + self.refund_b))

    def sample(self, draws: int, rng: np.random.Generator) -> np.ndarray:
        """``draws`` x arms sampled scores (settled commission per post, fen); dead arms score -inf."""
        arms = len(self.alpha)
        if (
            self.click_alpha is not None
            and self.click_beta is not None
            and self.conversion_alpha is not None
            and self.conversion_beta is not None
        ):
            clicks = rng.standard_gamma(self.click_alpha, size=(draws, arms)) / self.click_beta
            lam = clicks * rng.standard_gamma(self.conversion_alpha, size=(draws, arms)) / self.conversion_beta
        else:
            lam = rng.standard_gamma(self.alpha, size=(draws, arms)) / self.beta
        x = rng.standard_gamma(self.refund_a, size=(draws, arms))
        y = rng.standard_gamma(self.refund_b, size=(draws, arms))
        keep = y / (x + y)
        scores = lam * self.commission * keep
        scores[:, ~self.live] = -np.inf
        return scores

    def interval(
        self, rng: np.random.Generator, draws: int = 4000, level: float = 0.9
    ) -> tuple[np.ndarray, np.ndarray]:
        """Central ``level`` interval of the score per arm (from draws)."""
        scores = self.sample(draws, rng)
        tail = (1 - level) / 2
        return np.quantile(scores, tail, axis=0), np.quantile(scores, 1 - tail, axis=0)

    def prob_best(self, rng: np.random.Generator, draws: int = 4000) -> np.ndarray:
        """P(arm has the highest score) among live arms."""
        if not self.live.any():
            return np.zeros(len(self.alpha))
        wins = np.bincount(np.argmax(self.sample(draws, rng), axis=1), minlength=len(self.alpha))
        return wins / draws


def fit_pay_lag(
    delays: np.ndarray, ages: np.ndarray, default: float = 1.0, rng: np.random.Generator | None = None
) -> float:
    """Mean pay lag (days) of an exponential fitted to order delays (pay time - post time), each seen only because
    it was shorter than its post's age: the likelihood of each delay is truncated at that age, so a young post's
    quick orders do not make the lag look short. ``default`` when nothing was seen."""
    delays = np.asarray(delays, dtype=float)
    ages = np.asarray(ages, dtype=float)
    ok = (delays >= 0) & (ages > 0) & (delays <= ages)
    delays, ages = delays[ok], ages[ok]
    if len(delays) < 5:
        return default
    if len(delays) > _LAG_SAMPLE:
        pick = (rng or np.random.default_rng(0)).choice(len(delays), _LAG_SAMPLE, replace=False)
        delays, ages = delays[pick], ages[pick]
    grid = _LAG_GRID[:, None]
    loglik = -np.log(grid) - delays[None, :] / grid - np.log(-np.expm1(-ages[None, :] / grid))
    return float(_LAG_GRID[int(np.argmax(loglik.sum(axis=1)))])


def settle_horizon(settle_delays: np.ndarray) -> float | None:
    """How long after payment an order has surely resolved: the 95th percentile of observed settlement delays
    (days), or ``None`` while fewer than 20 orders have settled (refund evidence then waits)."""
    delays = np.asarray(settle_delays, dtype=float)
    delays = delays[np.isfinite(delays) & (delays >= 0)]
    if len(delays) < _MIN_SETTLED_FOR_HORIZON:
        return None
    return max(float(np.quantile(delays, 0.95)), 0.25)


def build_evidence(
    n_arms: int,
    now: float,
    post_arm: np.ndarray,
    post_time: np.ndarray,
    order_arm: np.ndarray,
    order_post_time: np.ndarray,
    order_pay_time: np.ndarray,
    order_resolved_time: np.ndarray,
    order_refunded: np.ndarray,
    commission: np.ndarray,
    group: np.ndarray | None = None,
    live: np.ndarray | None = None,
    *,
    discount: float,
    lag_days: float | None,
    horizon_days: float | None,
    post_clicks: np.ndarray | None = None,
) -> Evidence:
    """:class:`Evidence` at time ``now`` (days) from posts and orders (times in days on one clock).

    ``order_resolved_time`` is NaN for orders not yet settled or refunded. ``lag_days=None`` counts every post
    in full (no pay-lag correction); ``horizon_days=None`` leaves refund evidence empty. ``post_clicks``: each
    post's product clicks so far (its latest metric snapshot); ``None`` leaves the evidence without clicks.
    """
    base = Evidence.empty(commission, group, live)
    post_age = now - np.asarray(post_time, dtype=float)
    exposure = np.bincount(np.asarray(post_arm, dtype=int), _post_weight(post_age, discount, lag_days), n_arms)
    clicks: np.ndarray | None = None
    if post_clicks is not None:
        weight = (post_age > 0) * discount ** np.where(post_age > 0, post_age, 0.0)
        clicks = np.bincount(np.asarray(post_arm, dtype=int), weight * np.asarray(post_clicks, float), n_arms)

    # Masks multiply weights rather than index arrays: boolean indexing of millions of orders is the slow part.
    arms = np.asarray(order_arm, dtype=int)
    pay = np.asarray(order_pay_time, dtype=float)
    seen = pay <= now
    paid = np.bincount(arms, seen * discount ** (now - np.asarray(order_post_time, dtype=float)), n_arms)
    refunded: np.ndarray = np.zeros(n_arms)
    kept: np.ndarray = np.zeros(n_arms)
    if horizon_days is not None:
        with np.errstate(invalid="ignore"):
            mature = seen & (now - pay >= horizon_days) & (np.asarray(order_resolved_time, dtype=float) <= now)
        weight = mature * discount ** (now - pay)
        was_refund = np.asarray(order_refunded, dtype=bool)
        refunded = np.bincount(arms, weight * was_refund, n_arms)
        kept = np.bincount(arms, weight * ~was_refund, n_arms)
    return Evidence(exposure, paid, refunded, kept, base.commission, base.group, base.live, clicks)


def _post_weight(age: np.ndarray, discount: float, lag_days: float | None) -> np.ndarray:
    """A post's weight in the exposure: discounted, times the share of its orders paid by its age."""
    posted = age > 0
    safe = np.where(posted, age, 0.0)
    weight = posted * discount**safe
    if lag_days is not None:
        weight = weight * -np.expm1(-safe / lag_days)
    return weight


class EvidenceStream:
    """:func:`build_evidence`'s figures kept up to date day by day, for simulators that know every event's time
    when it is created (the bench): orders are revealed when paid, resolutions when they happen, so a day costs
    the events of that day instead of a pass over everything. ``now`` moves forward in whole days.

    Refund evidence uses the horizon given at each call; a horizon longer than the last one rebuilds it.
    """

    _RECENT_DAYS = 10
    _SETTLE_SAMPLE = 20_000

    def __init__(self, n_arms: int, discount: float) -> None:
        self.n_arms = n_arms
        self.discount = discount
        self._post_arm: list[np.ndarray] = []
        self._post_time: list[np.ndarray] = []
        self._post_clicks: list[np.ndarray] = []
        self._pay_queue: dict[int, list[tuple[np.ndarray, ...]]] = {}
        self._resolve_queue: dict[int, list[tuple[np.ndarray, ...]]] = {}
        self._paid_u = np.zeros(n_arms)  # sum of g ** -post_time over revealed orders
        self._pending: list[tuple[np.ndarray, ...]] = []  # resolved, not yet older than the horizon
        self._matured: list[tuple[np.ndarray, ...]] = []
        self._refunded_u = np.zeros(n_arms)  # sum of g ** -pay_time over matured refunds
        self._kept_u = np.zeros(n_arms)
        self._horizon: float | None = None
        self._recent: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}  # post day -> (post time, pay time)
        self._settle_delays: list[np.ndarray] = []
        self.now = -math.inf

    def add_posts(self, arm: np.ndarray, time: np.ndarray, clicks: np.ndarray | None = None) -> None:
        """Posts with their final product clicks (revealed as they accrue, see :meth:`evidence`)."""
        self._post_arm.append(np.asarray(arm, dtype=int))
        self._post_time.append(np.asarray(time, dtype=float))
        self._post_clicks.append(np.zeros(len(self._post_arm[-1])) if clicks is None else np.asarray(clicks, float))

    def add_orders(
        self, arm: np.ndarray, post_time: np.ndarray, pay: np.ndarray, resolved: np.ndarray, refunded: np.ndarray
    ) -> None:
        """Orders with their future pay and resolution times (days)."""
        columns = (np.asarray(arm, dtype=int), np.asarray(post_time, float), np.asarray(pay, float))
        extra = (np.asarray(resolved, float), np.asarray(refunded, bool))
        _enqueue(self._pay_queue, np.ceil(columns[2]).astype(int), (*columns, *extra))
        _enqueue(self._resolve_queue, np.ceil(extra[0]).astype(int), (*columns, *extra))

    def advance(self, now: int) -> None:
        """Reveal every payment and resolution up to day ``now``."""
        g = self.discount
        for day in sorted(d for d in self._pay_queue if d <= now):
            for arm, post_time, pay, _resolved, _refunded in self._pay_queue.pop(day):
                self._paid_u += np.bincount(arm, g**-post_time, self.n_arms)
                for post_day in np.unique(np.floor(post_time).astype(int)):
                    part = np.floor(post_time).astype(int) == post_day
                    self._recent.setdefault(int(post_day), []).append((post_time[part], pay[part]))
        for day in sorted(d for d in self._resolve_queue if d <= now):
            for arm, _post_time, pay, resolved, refunded in self._resolve_queue.pop(day):
                self._pending.append((arm, pay, refunded))
                self._settle_delays.append((resolved - pay)[~refunded])
        for old in [d for d in self._recent if d < now - self._RECENT_DAYS]:
            del self._recent[old]
        self.now = float(now)

    def lag_sample(self) -> tuple[np.ndarray, np.ndarray]:
        """(delay, post age) of the paid orders of posts from the last days, for :func:`fit_pay_lag`."""
        parts = [p for day in sorted(self._recent) if day >= self.now - self._RECENT_DAYS for p in self._recent[day]]
        if not parts:
            return np.zeros(0), np.zeros(0)
        post_time = np.concatenate([p[0] for p in parts])
        pay = np.concatenate([p[1] for p in parts])
        return pay - post_time, self.now - post_time

    def settle_delays(self) -> np.ndarray:
        """Settlement delays (days) of the latest settled orders, for :func:`settle_horizon`."""
        if not self._settle_delays:
            return np.zeros(0)
        delays = np.concatenate(self._settle_delays)[-self._SETTLE_SAMPLE :]
        self._settle_delays = [delays]
        return delays

    def evidence(
        self,
        lag_days: float | None,
        horizon_days: float | None,
        commission: np.ndarray,
        group: np.ndarray | None = None,
        live: np.ndarray | None = None,
        click_accrual_days: float | None = None,
    ) -> Evidence:
        """The evidence at the current day (what :func:`build_evidence` would compute from the same events).

        ``click_accrual_days``: clicks are seen as ``1 - exp(-age / click_accrual_days)`` of their final count
        (the platform's metrics curve); ``None`` leaves the evidence without clicks.
        """
        g, now, n = self.discount, self.now, self.n_arms
        base = Evidence.empty(commission, group, live)
        exposure: np.ndarray = np.zeros(n)
        clicks: np.ndarray | None = None
        if self._post_arm:
            arm = np.concatenate(self._post_arm)
            time = np.concatenate(self._post_time)
            final_clicks = np.concatenate(self._post_clicks)
            self._post_arm, self._post_time, self._post_clicks = [arm], [time], [final_clicks]
            exposure = np.bincount(arm, _post_weight(now - time, g, lag_days), n)
            if click_accrual_days is not None:
                clicks = np.bincount(arm, _post_weight(now - time, g, click_accrual_days) * final_clicks, n)
        elif click_accrual_days is not None:
            clicks = np.zeros(n)
        refunded: np.ndarray = np.zeros(n)
        kept: np.ndarray = np.zeros(n)
        if horizon_days is not None:
            if self._horizon is not None and horizon_days > self._horizon:
                self._pending += self._matured
                self._matured = []
                self._refunded_u = np.zeros(n)
                self._kept_u = np.zeros(n)
            self._horizon = horizon_days
            still: list[tuple[np.ndarray, ...]] = []
            for arm, pay, was_refund in self._pending:
                ripe = now - pay >= horizon_days
                if ripe.any():
                    u = g ** -pay[ripe]
                    self._refunded_u += np.bincount(arm[ripe], u * was_refund[ripe], n)
                    self._kept_u += np.bincount(arm[ripe], u * ~was_refund[ripe], n)
                    self._matured.append((arm[ripe], pay[ripe], was_refund[ripe]))
                if not ripe.all():
                    still.append((arm[~ripe], pay[~ripe], was_refund[~ripe]))
            self._pending = still
            refunded, kept = g**now * self._refunded_u, g**now * self._kept_u
        paid = g**now * self._paid_u
        return Evidence(exposure, paid, refunded, kept, base.commission, base.group, base.live, clicks)


def _enqueue(queue: dict[int, list[tuple[np.ndarray, ...]]], day: np.ndarray, columns: tuple[np.ndarray, ...]) -> None:
    if len(day) == 0:
        return
    order = np.argsort(day, kind="stable")
    day = day[order]
    starts = np.flatnonzero(np.r_[True, day[1:] != day[:-1]])
    ends = np.r_[starts[1:], len(day)]
    for start, end in zip(starts, ends, strict=True):
        index = order[start:end]
        queue.setdefault(int(day[start]), []).append(tuple(c[index] for c in columns))


def _moments_prior(paid: np.ndarray, exposure: np.ndarray, max_posts: float) -> tuple[float, float] | None:
    """Gamma prior (alpha, beta) matching the spread of arms' order rates, Poisson noise removed."""
    has = exposure >= 1.0
    if has.sum() < 2:
        return None
    mean = float(paid[has].sum() / exposure[has].sum())
    if mean <= 0:
        return None
    rates = paid[has] / exposure[has]
    noise = float(np.mean(mean / exposure[has]))
    between = max(float(np.var(rates, ddof=1)) - noise, (0.05 * mean) ** 2)
    alpha, beta = mean**2 / between, mean / between
    if beta > max_posts:  # bounded strength: the arm's own posts take over soon
        alpha, beta = alpha * max_posts / beta, max_posts
    return alpha, beta


def _group_priors(
    count: np.ndarray, exposure: np.ndarray, group: np.ndarray, max_strength: float, min_group_arms: int
) -> tuple[np.ndarray, np.ndarray]:
    """Gamma(alpha, beta) priors per arm of a rate ``count / exposure``: its group's spread where the group has
    ``min_group_arms`` arms with evidence, else all arms', else Gamma(1, 1)."""
    n = len(exposure)
    alpha0 = np.ones(n)
    beta0 = np.ones(n)
    overall = _moments_prior(count, exposure, max_strength)
    if overall is not None:
        alpha0[:], beta0[:] = overall
    for g in np.unique(group):
        members = group == g
        if (exposure[members] >= 1.0).sum() >= min_group_arms:
            prior = _moments_prior(count[members], exposure[members], max_strength)
            if prior is not None:
                alpha0[members], beta0[members] = prior
    return alpha0, beta0


def posterior(evidence: Evidence, options: PolicyOptions) -> Posterior:
    """The arms' posteriors under empirical-Bayes group priors (module docstring)."""
    n = len(evidence.exposure)
    group, lots = evidence.group, options.min_group_arms
    alpha0, beta0 = _group_priors(evidence.paid, evidence.exposure, group, options.max_prior_posts, lots)
    a0, b0 = options.refund_prior
    total_r, total_k = evidence.refunded.sum(), evidence.kept.sum()
    p_all = (a0 + total_r) / (a0 + b0 + total_r + total_k)
    refund_mean = np.full(n, p_all)
    for g in np.unique(group):
        members = group == g
        r, k = evidence.refunded[members].sum(), evidence.kept[members].sum()
        if r + k > 0:
            # the group's refund rate, shrunk to everyone's by the prior strength
            strength = options.refund_prior_strength
            refund_mean[members] = (r + strength * p_all) / (r + k + strength)
    strength = options.refund_prior_strength
    refund_a = refund_mean * strength + evidence.refunded
    refund_b = (1 - refund_mean) * strength + evidence.kept
    clicks = evidence.clicks
    if not options.click_signal or clicks is None:
        return Posterior(
            alpha=alpha0 + evidence.paid,
            beta=beta0 + evidence.exposure,
            refund_a=refund_a,
            refund_b=refund_b,
            commission=evidence.commission,
            live=evidence.live,
        )
    clicks = np.asarray(clicks, dtype=float)
    ca0, cb0 = _group_priors(clicks, evidence.exposure, group, options.max_prior_posts, lots)
    va0, vb0 = _group_priors(evidence.paid, clicks, group, options.max_prior_clicks, lots)
    ca, cb = ca0 + clicks, cb0 + evidence.exposure
    paid = evidence.paid
    if evidence.conversion_unit is not None:  # each arm sees its unit's orders and clicks
        unit = np.asarray(evidence.conversion_unit, dtype=int)
        paid = np.bincount(unit, paid)[unit]
        clicks = np.bincount(unit, clicks)[unit]
    va, vb = va0 + paid, vb0 + clicks
    mean = ca / cb * va / vb
    variance = ca * (ca + 1) / cb**2 * va * (va + 1) / vb**2 - mean**2  # of the product of the two Gammas
    return Posterior(
        alpha=mean**2 / variance,
        beta=mean / variance,
        refund_a=refund_a,
        refund_b=refund_b,
        commission=evidence.commission,
        live=evidence.live,
        click_alpha=ca,
        click_beta=cb,
        conversion_alpha=va,
        conversion_beta=vb,
    )


def largest_remainder(total: int, weights: np.ndarray) -> np.ndarray:
    """Whole counts summing to ``total`` in proportion to ``weights`` (Hamilton's method; ties to lower index)."""
    weights = np.clip(np.asarray(weights, dtype=float), 0, None)
    if total <= 0 or weights.sum() <= 0:
        return np.zeros(len(weights), dtype=int)
    ideal = total * weights / weights.sum()
    counts = np.floor(ideal).astype(int)
    left = total - int(counts.sum())
    if left:
        order = np.argsort(-(ideal - counts), kind="stable")
        counts[order[:left]] += 1
    return counts


class ThompsonPolicy:
    """Thompson sampling with early signals, empirical-Bayes priors, discounting and an exploration floor."""

    def __init__(self, options: PolicyOptions | None = None) -> None:
        self.options = options or PolicyOptions()

    def shares(self, evidence: Evidence, rng: np.random.Generator, draws: int | None = None) -> np.ndarray:
        """Share of the day per arm (sums to 1 over live arms): wins of per-slot draws, then the floor."""
        post = posterior(evidence, self.options)
        n_draws = draws or self.options.draws
        live = evidence.live
        if not live.any():
            return np.zeros(len(live))
        winners = np.argmax(post.sample(n_draws, rng), axis=1)
        wins = np.bincount(winners, minlength=len(live)) / n_draws
        floor = self.options.exploration_floor
        return (1 - floor) * wins + floor * live / live.sum()

    def allocate(self, evidence: Evidence, slots: int, rng: np.random.Generator) -> np.ndarray:
        """Posts per arm for a day of ``slots`` posts: one posterior draw per slot, the floor on top."""
        return largest_remainder(slots, self.shares(evidence, rng, draws=max(slots, 1)))
