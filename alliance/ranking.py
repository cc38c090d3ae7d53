"""Which pool products are worth a post: expected commission per post, with the reasons shown, and exclusions.

Score of a product (all money in fen)::

    conversion  = a ConversionPrior's orders per product view (default: empirical Bayes, see below)
    per_post    = kol_cos_fee x conversion x views_per_post
    score       = per_post x shop_weight x comment_weight
    shop_weight = (shop_score / 5) ** 2            a shop at 4.0 counts 64 %, at 4.8 92 %
    comment_weight = (c / 5) ** 2, c = (comment_num x comment_score + k x pool mean) / (comment_num + k)

``views_per_post`` (product page views one post brings) scales every product alike: it makes the figure read as
yuan per post and never changes the order.

**Conversion prior** (:class:`CategoryShrinkage`): the 30-day ``order_num / view_num`` of a product with 40 views
says little; one with 100,000 views says a lot. Each product's rate is shrunk toward its category's pooled rate
``m_c`` (its ``third_cid``, else the pool when the category has fewer than ``min_group`` products with views)
with a beta-binomial prior of strength ``M`` pseudo-views: ``rate = (orders + m_c M) / (views + M)``. ``M`` is
fitted from the pool itself by the method of moments: the intra-class correlation ``rho`` of orders within
categories (Kleinman 1973; ``E[S_c] = m_c(1-m_c)[(k_c - 1) + rho (N_c - sum n_i^2 / N_c)]`` for
``S_c = sum n_i (p_i - m_c)^2``) pooled over categories, and ``M = 1/rho - 1``.

**Exclusions** (every reason is listed, not just the first): out of stock, not sharable, a shop score under the
operator's minimum, a category the operator bans (by id at any level, or by name), no commission.

The prior is the replaceable part: :class:`ConversionPrior` is a small ABC and :func:`rank` takes any; the
allocation policy can later hand in conversion rates learned from our own settled orders.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from statistics import median
from typing import ClassVar

from alliance.product import PoolProduct

__all__ = [
    "CategoryShrinkage",
    "ConversionEstimate",
    "ConversionPrior",
    "RankOptions",
    "RankedProduct",
    "Ranking",
    "prior_names",
    "rank",
    "register_prior",
]

POOL = "pool"


@dataclass(frozen=True, slots=True)
class ConversionEstimate:
    """A product's orders per product view, and where the number comes from.

    ``raw`` is its own ``order_num / view_num`` (``None`` without views); ``prior_mean`` and ``strength`` (in
    pseudo-views) are the prior it was shrunk toward, fitted on ``group`` (``category <id>`` or ``pool``);
    ``own_share`` is the weight of its own data, ``views / (views + strength)``.
    """

    rate: float
    raw: float | None
    prior_mean: float
    strength: float
    group: str
    own_share: float
    orders: int | None = None
    views: int | None = None
    note: str = ""


class ConversionPrior(ABC):
    """Estimates each product's conversion (orders per product view) from the pool."""

    name: ClassVar[str]

    @abstractmethod
    def estimate(self, products: Sequence[PoolProduct]) -> dict[str, ConversionEstimate]:
        """An estimate for every product of ``products``, by product id."""


_PRIORS: dict[str, Callable[[], ConversionPrior]] = {}


def register_prior(name: str) -> Callable[[type[ConversionPrior]], type[ConversionPrior]]:
    """Class decorator: make a prior available by ``name`` (``mcn products list --prior NAME``)."""

    def add(cls: type[ConversionPrior]) -> type[ConversionPrior]:
        _PRIORS[name] = cls
        return cls

    return add


def prior_names() -> list[str]:
    return sorted(_PRIORS)


def make_prior(name: str) -> ConversionPrior:
    """The registered prior ``name``. Raises ``KeyError`` naming the known ones."""
    if name not in _PRIORS:
        raise KeyError(f"no conversion prior {name!r} (known: {', '.join(prior_names())})")
    return _PRIORS[name]()


@register_prior("category-eb")
@dataclass(frozen=True)
class CategoryShrinkage(ConversionPrior):
    """Empirical-Bayes beta-binomial shrinkage toward the category's pooled rate (see the module docstring).

    ``min_group``: a category needs this many products with views for its own mean, else the pool's is used.
    ``max_strength``: the cap on ``M`` when the data show no spread beyond noise (everything pooled).
    ``default_rate``: the rate assumed when no product of the pool has any views at all.
    """

    name: ClassVar[str] = "category-eb"
    min_group: int = 3
    max_strength: float = 1e6
    default_rate: float = 0.02

    def estimate(self, products: Sequence[PoolProduct]) -> dict[str, ConversionEstimate]:
        observed = [
            (p, min(p.order_num, p.view_num), p.view_num)
            for p in products
            if p.view_num and p.order_num is not None and p.view_num > 0
        ]
        total_views = sum(n for _, _, n in observed)
        if not total_views:
            note = f"no 30-day views in the pool: {self.default_rate:.2%} assumed"
            return {
                p.product_id: ConversionEstimate(self.default_rate, None, self.default_rate, 0.0, POOL, 0.0, note=note)
                for p in products
            }
        pool_mean = sum(k for _, k, _ in observed) / total_views
        members: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for p, k, n in observed:
            members[p.category_key or POOL].append((k, n))
        means: dict[str, float] = {}
        for key, rows in members.items():
            if key != POOL and len(rows) >= self.min_group:
                means[key] = sum(k for k, _ in rows) / sum(n for _, n in rows)
        strength = self._strength(observed, means, pool_mean)
        out: dict[str, ConversionEstimate] = {}
        for p in products:
            key = p.category_key
            group = f"category {key}" if key in means else POOL
            mean = means.get(key, pool_mean)
            views = p.view_num or 0
            orders = min(p.order_num, views) if p.order_num is not None else None
            if views and orders is not None:
                rate = (orders + mean * strength) / (views + strength)
                own = views / (views + strength)
                out[p.product_id] = ConversionEstimate(rate, orders / views, mean, strength, group, own, orders, views)
            else:
                note = "no 30-day views: the group's rate"
                out[p.product_id] = ConversionEstimate(mean, None, mean, strength, group, 0.0, orders, views, note)
        return out

    def _strength(
        self, observed: list[tuple[PoolProduct, int, int]], means: dict[str, float], pool_mean: float
    ) -> float:
        """``M`` from the intra-class correlation pooled over groups (method of moments)."""
        groups: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for p, k, n in observed:
            key = p.category_key if p.category_key in means else POOL
            groups[key].append((k, n))
        s = a = b = 0.0
        for key, rows in groups.items():
            m = means.get(key, pool_mean)
            big_n = sum(n for _, n in rows)
            if len(rows) < 2 or not 0 < m < 1:
                continue
            s += sum(n * (k / n - m) ** 2 for k, n in rows)
            a += m * (1 - m) * (len(rows) - 1)
            b += m * (1 - m) * (big_n - sum(n * n for _, n in rows) / big_n)
        if b <= 0:
            return self.max_strength
        rho = (s - a) / b
        if rho <= 1 / (self.max_strength + 1):
            return self.max_strength
        return min(self.max_strength, max(0.0, 1 / min(rho, 1.0) - 1))


@dataclass(frozen=True, slots=True)
class RankOptions:
    """The operator's knobs (``MCN_POOL_*`` settings give the defaults on the command line)."""

    views_per_post: float = 50.0
    min_shop_score: float | None = 4.0
    banned_categories: frozenset[str] = field(default_factory=frozenset)
    comment_pseudo_count: float = 50.0


@dataclass(frozen=True, slots=True)
class RankedProduct:
    """One product's place: ``rank`` from 1 (``None`` when excluded), its score and every reason."""

    product: PoolProduct
    rank: int | None
    score: float  # fen per post, weighed
    per_post: float  # fen per post, before the shop and comment weights
    conversion: ConversionEstimate
    shop_weight: float
    comment_weight: float
    reasons: tuple[str, ...]  # how the score was made
    excluded: tuple[str, ...]  # why it is not ranked (empty when ranked)


@dataclass(frozen=True, slots=True)
class Ranking:
    """Ranked products (best first) and excluded ones (with reasons), and the prior that was used."""

    ranked: tuple[RankedProduct, ...]
    excluded: tuple[RankedProduct, ...]
    prior: str

    def top(self, n: int) -> tuple[RankedProduct, ...]:
        return self.ranked[:n]


def _yuan(fen: float) -> str:
    return f"¥{fen / 100:,.2f}"


def _is_banned(product: PoolProduct, banned: frozenset[str]) -> str | None:
    lowered = {b.casefold() for b in banned}
    for cid in product.category_ids:
        if cid.casefold() in lowered:
            return cid
    return None


def rank(
    products: Iterable[PoolProduct], options: RankOptions | None = None, prior: ConversionPrior | None = None
) -> Ranking:
    """Rank ``products`` (see the module docstring); ``prior`` defaults to :class:`CategoryShrinkage`."""
    options = options or RankOptions()
    prior = prior or CategoryShrinkage()
    items = list(products)
    estimates = prior.estimate(items)
    scored = [p.shop_score for p in items if p.shop_score is not None]
    typical_shop = median(scored) if scored else 4.5
    rated = [(p.comment_score, p.comment_num or 0) for p in items if p.comment_score is not None]
    weight_sum = sum(n for _, n in rated)
    comment_mean = (
        sum(s * n for s, n in rated) / weight_sum if weight_sum else (median(s for s, _ in rated) if rated else 4.5)
    )

    ranked: list[RankedProduct] = []
    excluded: list[RankedProduct] = []
    for p in items:
        est = estimates[p.product_id]
        reasons: list[str] = []
        reasons.append(
            f"commission {_yuan(p.kol_cos_fee)} per order ({p.kol_cos_percent:.2f}% of {_yuan(p.pay_price)})"
        )
        reasons.append(_conversion_reason(est))
        shop = p.shop_score
        shop_weight = ((shop if shop is not None else typical_shop) / 5) ** 2
        reasons.append(
            f"shop {shop:.2f} -> x{shop_weight:.2f}"
            if shop is not None
            else f"no shop score: the pool's median {typical_shop:.2f} -> x{shop_weight:.2f}"
        )
        n = p.comment_num or 0
        k = options.comment_pseudo_count
        if p.comment_score is not None:
            blended = (n * p.comment_score + k * comment_mean) / (n + k)
            comment_weight = (blended / 5) ** 2
            reasons.append(
                f"comments {p.comment_score:.1f} from {n:,} (blended {blended:.2f}) -> x{comment_weight:.2f}"
            )
        else:
            comment_weight = (comment_mean / 5) ** 2
            reasons.append(f"no comment score: the pool's {comment_mean:.2f} -> x{comment_weight:.2f}")
        per_post = p.kol_cos_fee * est.rate * options.views_per_post
        score = per_post * shop_weight * comment_weight
        reasons.append(
            f"{_yuan(per_post)} per post at {options.views_per_post:g} product views, {_yuan(score)} weighed"
        )

        out: list[str] = []
        if not p.in_stock:
            out.append("out of stock")
        if not p.sharable:
            out.append("not sharable (no share link to put in a post)")
        if options.min_shop_score is not None and shop is not None and shop < options.min_shop_score:
            out.append(f"shop score {shop:.2f} is under the minimum {options.min_shop_score:.2f}")
        banned = _is_banned(p, options.banned_categories)
        if banned is not None:
            out.append(f"category {banned} is banned by the operator")
        if p.kol_cos_fee <= 0:
            out.append("no commission for creators")
        item = RankedProduct(p, None, score, per_post, est, shop_weight, comment_weight, tuple(reasons), tuple(out))
        (excluded if out else ranked).append(item)
    ranked.sort(key=lambda r: (-r.score, r.product.product_id))
    final = tuple(
        RankedProduct(r.product, i, r.score, r.per_post, r.conversion, r.shop_weight, r.comment_weight, r.reasons, ())
        for i, r in enumerate(ranked, start=1)
    )
    excluded.sort(key=lambda r: r.product.product_id)
    return Ranking(final, tuple(excluded), prior.name)


def _conversion_reason(est: ConversionEstimate) -> str:
    if est.raw is None:
        return f"conversion {est.rate:.2%}: {est.note or 'no views'} ({est.group})"
    assert est.orders is not None and est.views is not None
    toward = f"the {est.group} mean {est.prior_mean:.2%}"
    if math.isclose(est.own_share, 1.0, abs_tol=5e-4):
        how = "its own data"
    else:
        how = f"{est.own_share:.0%} its own data, shrunk toward {toward}"
    return f"conversion {est.rate:.2%} ({est.orders:,} orders / {est.views:,} views = {est.raw:.2%}; {how})"
