"""Pool ranking: expected commission per post with the reasons shown, empirical-Bayes conversion that shrinks thin
data toward the category, exclusions with every reason, the replaceable prior, and ``mcn products list``."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from typer.testing import CliRunner

from alliance.product import PoolProduct, ShopScores, SubScore
from alliance.ranking import CategoryShrinkage, ConversionEstimate, ConversionPrior, RankOptions, rank
from alliance.store import upsert_pool
from mcn.cli import app
from mcn.settings import get_settings
from sandbox.catalogue import catalogue
from sandbox.config import MarketParams
from sandbox.market import World


def product(pid: str, fee: int, orders: int, views: int, cid: int = 100, **more: Any) -> PoolProduct:
    """A pool product with a commission of ``fee`` fen per order (ratio 20 % of a price 5x the fee)."""
    base = PoolProduct(
        product_id=pid,
        title=f"Product {pid}",
        price=fee * 5,
        cos_ratio=2000,
        cos_fee=fee,
        kol_cos_ratio=2000,
        kol_cos_fee=fee,
        order_num=orders,
        view_num=views,
        third_cid=cid,
        shop_total_score=ShopScores(shop_score=SubScore(4.8, 1)),
        comment_score=4.8,
        comment_num=1000,
    )
    return replace(base, **more)


def test_thin_data_is_shrunk_toward_the_category_and_thick_data_is_not() -> None:
    pool = [product(f"c{i}", 1000, 200 + 10 * i, 10_000) for i in range(5)]  # category 100 converts ~2.2 %
    pool += [product(f"d{i}", 1000, 800 + 40 * i, 10_000, cid=200) for i in range(5)]  # category 200 ~8.8 %
    pool.append(product("new", 1000, 5, 40))  # 12.5 % on 40 views
    pool.append(product("big", 1000, 1200, 100_000))  # 1.2 % on 100,000 views
    estimates = CategoryShrinkage().estimate(pool)
    new, big = estimates["new"], estimates["big"]
    category = sum(200 + 10 * i for i in range(5)) + 5 + 1200
    assert new.group == "category 100" and new.prior_mean == pytest.approx(category / (50_000 + 100_040))
    # the posterior mean is (orders + m M) / (views + M), and the own share views / (views + M)
    assert new.rate == pytest.approx((5 + new.prior_mean * new.strength) / (40 + new.strength))
    assert new.own_share == pytest.approx(40 / (40 + new.strength))
    assert new.raw == 0.125 and new.prior_mean < new.rate < 0.05 and new.own_share < 0.2
    assert big.rate == pytest.approx(0.012, abs=0.001) and big.own_share > 0.95
    assert estimates["d0"].prior_mean > 0.08  # each category has its own mean
    # a category with fewer than min_group products with views borrows the pool's mean
    lone = CategoryShrinkage().estimate([*pool, product("lone", 1000, 3, 30, cid=999)])["lone"]
    assert lone.group == "pool"


def test_the_prior_strength_is_fitted_from_the_spread_between_products() -> None:
    """Beta-binomial data with a known prior: the method of moments recovers its strength."""
    rng = np.random.default_rng(5)
    for strength in (30.0, 300.0):
        mean = 0.05
        rates = rng.beta(mean * strength, (1 - mean) * strength, 600)
        views = rng.integers(500, 5000, 600)
        orders = rng.binomial(views, rates)
        pool = [
            product(f"p{i}", 100, int(k), int(n), cid=i % 6) for i, (k, n) in enumerate(zip(orders, views, strict=True))
        ]
        fitted = CategoryShrinkage().estimate(pool)["p0"].strength
        assert strength / 1.5 < fitted < strength * 1.5, (strength, fitted)
    # no spread beyond binomial noise: everything pools (capped strength)
    views = rng.integers(500, 5000, 300)
    flat = [product(f"f{i}", 100, int(rng.binomial(n, 0.05)), int(n)) for i, n in enumerate(views)]
    assert CategoryShrinkage().estimate(flat)["f0"].strength >= 1e4


def test_shrinkage_beats_the_raw_rate_on_thin_sandbox_products() -> None:
    """Against the sandbox market's hidden conversion (what a linked post really converts at), over 40 seeds."""
    params = MarketParams()
    raw_errors: list[float] = []
    shrunk_errors: list[float] = []
    for seed in range(1, 41):
        world = World(seed, params)
        items = catalogue(world)
        pool = [product(c.product_id, c.kol_cos_fee, c.order_num, c.view_num, cid=c.category.third_cid) for c in items]
        estimates = CategoryShrinkage().estimate(pool)
        for c in items:
            if c.view_num >= 200:
                continue
            logit = math.log(params.cvr_base / (1 - params.cvr_base)) + world.product_appeal(c.product_id).cvr
            truth = 1 / (1 + math.exp(-logit))
            est = estimates[c.product_id]
            assert est.raw is not None
            raw_errors.append(abs(est.raw - truth))
            shrunk_errors.append(abs(est.rate - truth))
    assert len(raw_errors) == 120
    assert float(np.mean(shrunk_errors)) < 0.95 * float(np.mean(raw_errors))


def test_score_weighs_commission_conversion_shop_and_comments_and_explains_itself() -> None:
    pool = [product(f"c{i}", 1000, 200, 10_000) for i in range(4)]
    pool[0] = replace(pool[0], kol_cos_fee=3000, kol_cos_ratio=2000, price=15000)  # 3x the commission
    pool[1] = replace(pool[1], shop_total_score=ShopScores(shop_score=SubScore(4.0, 2)))  # weaker shop
    pool[2] = replace(pool[2], comment_score=3.9, comment_num=5000)  # poorly reviewed
    ranking = rank(pool, RankOptions(views_per_post=50, min_shop_score=None))
    order = [r.product.product_id for r in ranking.ranked]
    assert order == ["c0", "c3", "c1", "c2"]
    top = ranking.ranked[0]
    assert top.per_post == pytest.approx(3000 * top.conversion.rate * 50)
    assert top.score == pytest.approx(top.per_post * top.shop_weight * top.comment_weight)
    assert ranking.ranked[2].shop_weight == pytest.approx((4.0 / 5) ** 2)
    reasons = top.reasons
    assert reasons[0] == "commission ¥30.00 per order (20.00% of ¥150.00)"
    assert reasons[1].startswith("conversion 2.00% (200 orders / 10,000 views = 2.00%;")
    assert reasons[2] == "shop 4.80 -> x0.92"
    assert reasons[3].startswith("comments 4.8 from 1,000 (blended")
    assert reasons[4].startswith(f"¥{top.per_post / 100:,.2f} per post at 50 product views")
    # views_per_post scales money, never the order
    again = rank(pool, RankOptions(views_per_post=500, min_shop_score=None))
    assert [r.product.product_id for r in again.ranked] == order
    assert again.ranked[0].score == pytest.approx(top.score * 10)


def test_exclusions_name_every_reason_and_leave_the_ranking() -> None:
    pool = [
        product("ok", 1000, 200, 10_000),
        product("gone", 1000, 200, 10_000, in_stock=False),
        product("closed", 1000, 200, 10_000, sharable=False),
        product("shabby", 1000, 200, 10_000, shop_total_score=ShopScores(shop_score=SubScore(3.6, 3))),
        product("wine", 1000, 200, 10_000, first_cid=9, third_cid=901, category_name="Alcohol"),
        product("beer", 1000, 200, 10_000, third_cid=902, category_name="alcohol"),
        product("free", 1000, 200, 10_000, kol_cos_fee=0, in_stock=False),
        product("noscore", 1000, 200, 10_000, shop_total_score=None),
    ]
    ranking = rank(pool, RankOptions(min_shop_score=4.0, banned_categories=frozenset({"ALCOHOL", "901"})))
    assert [r.product.product_id for r in ranking.ranked] == ["noscore", "ok"]  # same score: by id
    why = {r.product.product_id: r.excluded for r in ranking.excluded}
    assert why == {
        "beer": ("category alcohol is banned by the operator",),
        "closed": ("not sharable (no share link to put in a post)",),
        "free": ("out of stock", "no commission for creators"),
        "gone": ("out of stock",),
        "shabby": ("shop score 3.60 is under the minimum 4.00",),
        "wine": ("category 901 is banned by the operator",),
    }
    assert all(r.rank is None and r.reasons for r in ranking.excluded)  # excluded still say what they would score
    noscore = next(r for r in ranking.ranked if r.product.product_id == "noscore")
    assert noscore.reasons[2] == f"no shop score: the pool's median 4.80 -> x{(4.8 / 5) ** 2:.2f}"


class FixedRates(ConversionPrior):
    """A prior handed in from elsewhere (as the allocation policy will): fixed rates per product."""

    name: ClassVar[str] = "fixed"

    def __init__(self, rates: dict[str, float]) -> None:
        self.rates = rates

    def estimate(self, products: Sequence[PoolProduct]) -> dict[str, ConversionEstimate]:
        return {
            p.product_id: ConversionEstimate(self.rates[p.product_id], None, 0.0, 0.0, "orders", 0.0, note="learned")
            for p in products
        }


def test_the_prior_is_replaceable() -> None:
    pool = [product("a", 1000, 900, 10_000), product("b", 1000, 100, 10_000)]
    assert [r.product.product_id for r in rank(pool).ranked] == ["a", "b"]
    flipped = rank(pool, prior=FixedRates({"a": 0.01, "b": 0.05}))
    assert [r.product.product_id for r in flipped.ranked] == ["b", "a"] and flipped.prior == "fixed"
    assert flipped.ranked[0].reasons[1] == "conversion 5.00%: learned (orders)"


def test_cli_lists_the_top_n_with_reasons_and_the_exclusions(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pool = [product(f"p{i}", 500 + 300 * i, 200, 10_000) for i in range(6)]
    pool.append(product("gone", 99_999, 900, 10_000, in_stock=False))
    pool.append(product("tea", 99_999, 900, 10_000, third_cid=300, category_name="Tea"))
    upsert_pool(pool, source="test")
    runner = CliRunner()
    result = runner.invoke(app, ["products", "list", "--top", "3"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert "top 3 of 7" in text and "tea" in text.lower()  # not banned yet: the best product
    assert "excluded (1):" in text and "gone Product gone: out of stock" in text

    monkeypatch.setenv("MCN_POOL_BANNED_CATEGORIES", "tea, 12345")
    get_settings.cache_clear()
    result = runner.invoke(app, ["products", "list", "--top", "3", "--json"], env={"COLUMNS": "250"})
    data = json.loads(result.stdout)
    ranked = [r for r in data["products"] if r["rank"] is not None]
    assert [r["product_id"] for r in ranked] == ["p5", "p4", "p3"] and data["prior"] == "category-eb"
    assert all(r["reasons"][0].startswith("commission ¥") for r in ranked)
    assert {r["product_id"]: r["excluded"] for r in data["products"] if r["rank"] is None} == {
        "gone": ["out of stock"],
        "tea": ["category Tea is banned by the operator"],
    }
    result = runner.invoke(app, ["products", "list", "--ban", "100", "--json", "--no-excluded"])
    assert json.loads(result.stdout)["products"] == []
    result = runner.invoke(app, ["products", "list", "--prior", "nope"])
    assert result.exit_code == 2 and "no conversion prior 'nope' (known: category-eb)" in result.stderr


def test_cli_on_an_empty_pool_says_what_to_do(data_dir: Path) -> None:
    result = CliRunner().invoke(app, ["products", "list"], env={"COLUMNS": "250"})
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: the product pool is empty: run `mcn products import FILE` or `mcn products sync` first"
    )
