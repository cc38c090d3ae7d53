"""Remixes as plannable posts: make-remix's rows (kind remix, material footage) planned beside livestream clips
on the test Postgres database, sources spread over accounts, and the material sets that make remix variants."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from mcn import store
from mcn.db import get_engine
from publisher.adapters.base import AD_DISCLOSURE, AI_LABEL
from publisher.footage import MAX_SHARED_FOOTAGE, MaterialFootage, overlap
from publisher.overlap import footage_of_clip
from publisher.plan import CLIPS, POSTS, PRODUCTS, plan_day
from remix.products import RemixProduct, material_variant, material_variants
from tests.helpers import throwaway_postgres
from tests.test_plan import NOW, add_account, add_product

DAY = date(2026, 12, 3)


@pytest.fixture
def pg(data_dir: object, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    with throwaway_postgres(monkeypatch):
        yield get_engine()


def _source_and_run(engine: Engine, name: str) -> None:
    stamp = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(SQLModel.metadata.tables["sources"]),
            [{"id": name, "uri": name, "status": "done", "created_at": stamp, "updated_at": stamp}],
        )
        conn.execute(
            insert(SQLModel.metadata.tables["runs"]),
            [
                {
                    "id": f"run-{name}",
                    "kind": "test",
                    "status": "succeeded",
                    "params": {},
                    "stats": {},
                    "started_at": stamp,
                }
            ],
        )


def _stream_clips(engine: Engine, source: str, product: str, count: int) -> None:
    rows: list[dict[str, Any]] = [
        {
            "id": f"{source}-{product}-{n}",
            "run_id": f"run-{source}",
            "source_id": source,
            "product_id": product,
            "rank": n,
            "source_start": n * 60.0,
            "source_end": n * 60.0 + 20.0,
            "duration": 20.0,
            "score": 1.0 - n / 100,
            "hook": "为什么冬天穿它不冷？",
            "title": f"{product} 第{n}段",
            "reason": "test",
            "points": [],
            "sentences": [],
            "path": f"/renders/{source}-{product}-{n}.mp4",
            "created_at": datetime.now(UTC),
        }
        for n in range(count)
    ]
    with engine.begin() as conn:
        conn.execute(insert(CLIPS), rows)


def _remix(product: str, variant: int, materials: tuple[str, ...]) -> store.RemixRow:
    return store.RemixRow(
        product_id=product,
        product_name=f"{product} 保温杯",
        variant=variant,
        path=f"/remixes/{product}-v{variant}.mp4",
        duration=18.0,
        hook=f"{product} 的第{variant}个亮点",
        title=f"{product} 保温杯 {variant}",
        lines=("一杯热水保温十二小时。", "杯盖一键打开。"),
        materials=tuple(f"{product}/{m}" for m in materials),
        category="home",
        price=59.0,
    )


@pytest.mark.postgres
def test_recorded_remixes_are_planned_with_labels_beside_clips_and_the_material_guard_holds(pg: Engine) -> None:
    run_id, source_id = store.start_run("make_remix", "products.json", {})
    remixes = [
        _remix("cup", 0, ("img1.jpg", "img2.jpg")),
        _remix("cup", 1, ("img1.jpg", "img3.jpg")),  # shares half of v0: allowed the same day
        _remix("cup", 2, ("img2.jpg", "img1.jpg")),  # the same material as v0: a near-duplicate, held back
        _remix("cup", 3, ("img3.jpg", "video1.mp4")),
    ]
    store.record_remixes(run_id, source_id, remixes)
    with pg.begin() as conn:  # the operator's link (the sandbox's product page): the 广告 disclosure follows it
        conn.execute(update(PRODUCTS).where(PRODUCTS.c.id == "cup").values(link="https://shop.example/cup"))
    _source_and_run(pg, "stream")
    add_product(pg, "coat", ["home"])
    _stream_clips(pg, "stream", "coat", 3)
    for n in range(3):
        add_account(pg, f"acct{n}", niches=["home"])

    result = plan_day(DAY, platform="sandbox", now=NOW)

    with pg.connect() as conn:
        clips = {r.id: r for r in conn.execute(select(CLIPS))}
        posts = list(conn.execute(select(POSTS)))
        product = conn.execute(select(PRODUCTS).where(PRODUCTS.c.id == "cup")).one()
    assert product.niches == ["home"]  # the remix's category became the product's niche
    kinds = Counter(clips[p.clip_id].kind for p in posts)
    assert kinds == {"remix": 3, "livestream": 3}, result.unfilled_by_reason()
    planned_remixes = sorted(clips[p.clip_id].reason for p in posts if clips[p.clip_id].kind == "remix")
    # v0 and v2 show the same two images: one of them gets the day, the other waits
    assert len(planned_remixes) == 3 and {"product remix, variant 1", "product remix, variant 3"} < set(planned_remixes)
    assert not {"product remix, variant 0", "product remix, variant 2"} <= set(planned_remixes)
    for p in posts:
        assert p.ai_label == AI_LABEL and p.ad_disclosure == AD_DISCLOSURE and p.product_link
        if clips[p.clip_id].kind == "remix":
            assert p.video_path.startswith("/remixes/") and p.title
    footage = [
        footage_of_clip(c.source_id, c.source_start, c.source_end, c.footage) for c in (clips[p.clip_id] for p in posts)
    ]
    assert sum(isinstance(f, MaterialFootage) for f in footage) == 3
    for a, b in itertools.combinations(footage, 2):
        assert overlap(a, b) <= MAX_SHARED_FOOTAGE
    # each account gets a livestream clip and a remix: the niche's two kinds of content mixed per account
    per_account: dict[int, Counter[str]] = defaultdict(Counter)
    for p in posts:
        per_account[p.account_id][clips[p.clip_id].kind] += 1
    assert all(c == {"remix": 1, "livestream": 1} for c in per_account.values()), per_account


def test_one_source_goes_to_every_account_before_any_gets_a_second_clip_of_it(data_dir: object) -> None:
    engine = get_engine()
    _source_and_run(engine, "stream-a")
    _source_and_run(engine, "stream-b")
    add_product(engine, "serum", ["beauty"])
    add_product(engine, "tent")
    _stream_clips(engine, "stream-a", "serum", 2)
    _stream_clips(engine, "stream-b", "tent", 2)
    # The niche account takes the serum first, twice; the open account is left with the tent twice.
    add_account(engine, "beauty", niches=["beauty"], daily_cap=2)
    add_account(engine, "open", daily_cap=2)

    plan_day(DAY, platform="sandbox", now=NOW)

    with engine.connect() as conn:
        rows = conn.execute(select(POSTS.c.account_id, CLIPS.c.source_id).join(CLIPS, CLIPS.c.id == POSTS.c.clip_id))
        sources: dict[int, Counter[str]] = defaultdict(Counter)
        for account_id, source_id in rows:
            sources[account_id][source_id] += 1
    assert len(sources) == 2
    assert all(c == {"stream-a": 1, "stream-b": 1} for c in sources.values()), sources


def test_material_sets_give_variants_sharing_at_most_half_their_material() -> None:
    product = RemixProduct("p", "Steel cup", images=("a.jpg", "b.jpg", "c.jpg", "d.jpg"), videos=("v.mp4",))
    assert material_variants(product, 2) == 10
    sets = [material_variant(product, 2, v) for v in range(12)]
    assert sets[10] is None and sets[11] is None
    media = [set(s.media) for s in sets[:10] if s is not None]
    assert len(media) == 10 and all(len(m) == 2 for m in media)
    assert len({frozenset(m) for m in media}) == 10
    assert all(len(a & b) <= 1 for a, b in itertools.combinations(media, 2))
    assert material_variant(product, 0, 0) == product and material_variant(product, 0, 3) == product
    assert material_variant(product, 5, 0) == product and material_variant(product, 5, 1) is None
