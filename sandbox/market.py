"""The market model: how many plays, clicks, orders, refunds and settlements a post earns.

Hidden appeals (drawn once from the seed, never shown to clients):

* per product: a click-through effect, a conversion effect (both on the logit scale) and a refund rate;
* per hook style: a reach effect (log scale), a completion effect and a click-through effect;
* per account: a reach multiplier ``exp(a)`` with ``a ~ N(-s^2/2, s)``, so the average account has 1.

One post (seeded from ``(seed, post id)``, so its numbers never depend on which other posts or requests came
first)::

    mu      = base_plays * account * exp(hook.play) * time_of_day(publish hour) * reach
    plays   ~ Poisson(mu * exp(eps)),            eps ~ N(-sigma^2/2, sigma)   (E[exp(eps)] = 1)
    clicks  ~ Binomial(plays, sigmoid(logit(ctr_base) + product.ctr + hook.ctr))
    orders  ~ Poisson(clicks * sigmoid(logit(cvr_base) + product.cvr))
    each order: paid after Exp(attention_days); refunded with the product's refund rate at a uniform fraction of
    its settlement delay, otherwise settled after a delay from the configured distribution.

So ``E[orders] = mu * ctr * cvr`` exactly, and the oracle's expected settled commission of a (product, hook) is
``E[orders] * commission per order * (1 - refund rate)`` for an average account at an average hour. Plays and
metrics accrue as ``1 - exp(-age / attention_days)`` of their final values.
"""

from __future__ import annotations

import hashlib
import math
import threading
from dataclasses import dataclass

import numpy as np

from sandbox.clock import local_hour
from sandbox.config import DAY, MarketParams

# Relative audience by local hour (China short-video usage: lunch and evening peaks, quiet nights); normalised to
# mean 1 below so the oracle's "average hour" multiplier is exactly 1.
# fmt: off
_HOURLY = np.array([
    0.55, 0.35, 0.22, 0.15, 0.12, 0.15, 0.3, 0.55, 0.8, 0.85, 0.9, 1.05,
    1.45, 1.35, 1.0, 0.9, 0.9, 1.0, 1.25, 1.6, 1.9, 2.05, 1.85, 1.2,
])
# fmt: on
TIME_OF_DAY = _HOURLY / _HOURLY.mean()

_PRODUCT, _HOOK, _ACCOUNT = 1, 2, 3


def _key(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def time_of_day(ts: float) -> float:
    """Audience multiplier at simulated time ``ts`` (linear between hourly points; mean over a day is 1)."""
    hour = local_hour(ts)
    low = int(hour) % 24
    frac = hour - int(hour)
    return float(TIME_OF_DAY[low] * (1 - frac) + TIME_OF_DAY[(low + 1) % 24] * frac)


def commission_per_order(price_fen: int, commission_rate: int) -> int:
    """Commission in fen of one order: price times rate (1/10,000), rounded half up, as buyin reports it."""
    return (price_fen * commission_rate + 5000) // 10000


@dataclass(frozen=True, slots=True)
class ProductTerms:
    """What the market needs to know about a linked product."""

    product_id: str
    price_fen: int
    commission_rate: int  # 1/10,000

    @property
    def commission_fen(self) -> int:
        return commission_per_order(self.price_fen, self.commission_rate)


@dataclass(frozen=True, slots=True)
class PostContext:
    """One accepted post as the market sees it."""

    post_id: int
    account_id: int
    hook_style: str
    publish_at: float
    product: ProductTerms | None = None
    reach: float = 1.0  # < 1 for throttled posts (near-duplicates)


@dataclass(frozen=True, slots=True)
class ProductAppeal:
    """Hidden per-product effects."""

    ctr: float
    cvr: float
    refund_rate: float


@dataclass(frozen=True, slots=True)
class HookAppeal:
    """Hidden per-hook-style effects."""

    play: float
    completion: float
    ctr: float


@dataclass(frozen=True, slots=True)
class SimulatedOrder:
    """One order of a post; delays in seconds (pay after publish; settle and refund after pay)."""

    pay_delay: float
    settle_delay: float | None
    refund_delay: float | None
    media_type: str


@dataclass(frozen=True, slots=True)
class PostOutcome:
    """A post's final figures; clients see them accrue over simulated time."""

    plays: int
    completion_rate: float
    likes: int
    comments: int
    shares: int
    product_clicks: int
    orders: tuple[SimulatedOrder, ...]


@dataclass(frozen=True, slots=True)
class Expectation:
    """Expected figures of one post (the oracle)."""

    plays: float
    product_clicks: float
    orders: float
    gmv_fen: float
    estimated_commission_fen: float
    settled_commission_fen: float
    refund_rate: float


def accrued(age_seconds: float, params: MarketParams) -> float:
    """Share of a post's final plays (and likes, clicks) seen ``age_seconds`` after it went public."""
    if age_seconds <= 0:
        return 0.0
    return 1.0 - math.exp(-age_seconds / (params.attention_days * DAY))


class World:
    """The hidden state of one sandbox market: appeals drawn from ``seed`` and the model's parameters."""

    def __init__(self, seed: int, params: MarketParams) -> None:
        self.seed = seed
        self.params = params
        self._products: dict[str, ProductAppeal] = {}
        self._hooks: dict[str, HookAppeal] = {}
        self._accounts: dict[int, float] = {}
        self._lock = threading.Lock()

    def _rng(self, kind: int, key: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, kind, key])

    def product_appeal(self, product_id: str) -> ProductAppeal:
        """The product's hidden effects (the same for the same seed and id, whenever asked)."""
        with self._lock:
            found = self._products.get(product_id)
        if found is None:
            p = self.params
            rng = self._rng(_PRODUCT, _key(product_id))
            ctr, cvr = rng.normal(0.0, [p.product_ctr_sigma, p.product_cvr_sigma])
            refund = rng.beta(p.refund_alpha, p.refund_beta)
            found = ProductAppeal(float(ctr), float(cvr), float(refund))
            with self._lock:
                self._products[product_id] = found
        return found

    def hook_appeal(self, style: str) -> HookAppeal:
        """The hook style's hidden effects; any style name has one (styles are open-ended)."""
        with self._lock:
            found = self._hooks.get(style)
        if found is None:
            p = self.params
            rng = self._rng(_HOOK, _key(style))
            play, completion, ctr = rng.normal(0.0, [p.hook_play_sigma, p.hook_completion_sigma, p.hook_ctr_sigma])
            found = HookAppeal(float(play), float(completion), float(ctr))
            with self._lock:
                self._hooks[style] = found
        return found

    def account_multiplier(self, account_id: int) -> float:
        """The account's hidden reach multiplier (mean 1 across accounts)."""
        with self._lock:
            found = self._accounts.get(account_id)
        if found is None:
            s = self.params.account_sigma
            found = float(math.exp(self._rng(_ACCOUNT, account_id).normal(-(s**2) / 2, s)))
            with self._lock:
                self._accounts[account_id] = found
        return found

    def _rates(self, product: ProductTerms, hook: HookAppeal) -> tuple[float, float, ProductAppeal]:
        p = self.params
        appeal = self.product_appeal(product.product_id)
        ctr = _sigmoid(_logit(p.ctr_base) + appeal.ctr + hook.ctr)
        cvr = _sigmoid(_logit(p.cvr_base) + appeal.cvr)
        return ctr, cvr, appeal

    def expected_plays(
        self, account_id: int | None, hook_style: str, publish_at: float | None, reach: float = 1.0
    ) -> float:
        """Mean plays; ``None`` account or time means the average account or the average hour (multiplier 1)."""
        account = 1.0 if account_id is None else self.account_multiplier(account_id)
        tod = 1.0 if publish_at is None else time_of_day(publish_at)
        return self.params.base_plays * account * math.exp(self.hook_appeal(hook_style).play) * tod * reach

    def expected(
        self,
        product: ProductTerms,
        hook_style: str,
        account_id: int | None = None,
        publish_at: float | None = None,
        reach: float = 1.0,
    ) -> Expectation:
        """Expected figures of one post linking ``product`` with a ``hook_style`` hook (the oracle)."""
        plays = self.expected_plays(account_id, hook_style, publish_at, reach)
        ctr, cvr, appeal = self._rates(product, self.hook_appeal(hook_style))
        orders = plays * ctr * cvr
        estimated = orders * product.commission_fen
        return Expectation(
            plays=plays,
            product_clicks=plays * ctr,
            orders=orders,
            gmv_fen=orders * product.price_fen,
            estimated_commission_fen=estimated,
            settled_commission_fen=estimated * (1.0 - appeal.refund_rate),
            refund_rate=appeal.refund_rate,
        )

    def simulate(self, ctx: PostContext) -> PostOutcome:
        """Draw one post's final figures and orders. Deterministic in ``(seed, ctx)``."""
        p = self.params
        rng = np.random.default_rng([self.seed, ctx.post_id])
        hook = self.hook_appeal(ctx.hook_style)
        mu = self.expected_plays(ctx.account_id, ctx.hook_style, ctx.publish_at, ctx.reach)
        # Draw order is fixed (reach, completion, engagement, then commerce) so a post's engagement figures do not
        # change with whether it links a product.
        sigma = p.play_noise_sigma
        plays = int(rng.poisson(mu * math.exp(rng.normal(-(sigma**2) / 2, sigma))))
        completion = _sigmoid(_logit(p.completion_base) + hook.completion + rng.normal(0.0, p.completion_noise_sigma))
        like_rate = _sigmoid(_logit(p.like_base) + 0.5 * hook.completion)
        likes = int(rng.binomial(plays, like_rate))
        comments = int(rng.binomial(plays, like_rate * 0.05))
        shares = int(rng.binomial(plays, like_rate * 0.1))
        clicks = 0
        orders: tuple[SimulatedOrder, ...] = ()
        if ctx.product is not None:
            ctr, cvr, appeal = self._rates(ctx.product, hook)
            clicks = int(rng.binomial(plays, ctr))
            count = int(rng.poisson(clicks * cvr))
            if count:
                orders = self._orders(rng, count, appeal.refund_rate)
        return PostOutcome(plays, round(completion, 4), likes, comments, shares, clicks, orders)

    def _orders(self, rng: np.random.Generator, count: int, refund_rate: float) -> tuple[SimulatedOrder, ...]:
        p = self.params
        pay = rng.exponential(p.attention_days, count) * DAY
        settle = p.settle_delay.sample(rng, count) * DAY
        refunded = rng.random(count) < refund_rate
        refund_at = rng.random(count) * settle  # refunds come before the order would have settled
        shop_list = rng.random(count) < p.shop_list_share
        return tuple(
            SimulatedOrder(
                pay_delay=float(pay[i]),
                settle_delay=None if refunded[i] else float(settle[i]),
                refund_delay=float(refund_at[i]) if refunded[i] else None,
                media_type="shop_list" if shop_list[i] else "video",
            )
            for i in range(count)
        )
