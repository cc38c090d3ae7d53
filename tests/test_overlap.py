"""The near-duplicate guard in real planning (SQLite test database): two posts on one platform on one day share
at most half of their footage; held-back edits go out another day; failed posts free their footage; the guard's
index agrees with a brute-force check."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from itertools import combinations
from typing import Any

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine

from publisher.footage import MAX_SHARED_FOOTAGE, Footage, MaterialFootage, PostFootage, overlap
from publisher.overlap import FootageGuard, footage_of_clip
from publisher.plan import CLIPS, POSTS, plan_day
from tests.test_plan import DAY, NOW, add_account, engine

__all__ = ["engine"]  # the fixture, shared with test_plan

EDITS: dict[str, tuple[float, PostFootage]] = {
    # Edits of one livestream recombining selling segments from across it.
    "e1": (0.9, Footage("src", ((0, 10), (60, 70), (120, 130)))),
    "e2": (0.8, Footage("src", ((60, 70), (200, 215)))),  # 10 of its 25 s are in e1: 40 %
    "e3": (0.7, Footage("src", ((62, 68), (120, 135)))),  # 16 of its 21 s are in e1: held back
    "e2-overlay": (0.5, Footage("src", ((60, 70), (200, 215)))),  # e2 with another hook card burned on
    # Product remixes by material ids.
    "r1": (0.6, MaterialFootage(("p/1.jpg", "p/2.jpg", "p/3.jpg", "p/shot.mp4"))),
    "r2": (0.55, MaterialFootage(("p/1.jpg", "p/2.jpg", "p/3.jpg", "p/4.jpg"))),  # 3 of 4 in r1: held back
    "r3": (0.52, MaterialFootage(("p/1.jpg", "p/5.jpg", "p/6.jpg", "p/7.jpg"))),  # 1 of 4
}


def add_edits(engine: Engine, edits: dict[str, tuple[float, PostFootage]], created: datetime | None = None) -> None:
    rows: list[dict[str, Any]] = []
    for clip_id, (score, footage) in edits.items():
        rows.append(
            {
                "id": clip_id,
                "run_id": "run",
                "source_id": "src",
                "product_id": None,
                "rank": 1,
                "source_start": 0.0,
                "source_end": 20.0,
                "duration": 20.0,
                "score": score,
                "hook": "为什么冬天穿它不冷？",
                "title": f"这款羽绒服防风保暖{clip_id}",
                "reason": "test",
                "points": [],
                "sentences": [],
                "path": f"/renders/{clip_id}.mp4",
                "footage": footage.to_json(),
                "created_at": created or datetime.now(UTC),
            }
        )
    with engine.begin() as conn:
        conn.execute(insert(CLIPS), rows)


def planned(engine: Engine, day: Any) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.execute(select(POSTS.c.clip_id, POSTS.c.id).where(POSTS.c.plan_date == day))
        return {clip_id: post_id for clip_id, post_id in rows}


def test_same_day_posts_share_at_most_half_their_footage(engine: Engine) -> None:
    add_edits(engine, EDITS)
    add_account(engine, "a", daily_cap=10)
    add_account(engine, "b", daily_cap=10)

    result = plan_day(DAY, now=NOW)

    today = planned(engine, DAY)
    assert set(today) == {"e1", "e2", "r1", "r3"}
    for a, b in combinations(today, 2):
        assert overlap(EDITS[a][1], EDITS[b][1]) <= MAX_SHARED_FOOTAGE, (a, b)
    assert result.unfilled_by_reason() == {
        "no unused clip left (3 held back: over 50% of their footage in a same-day post)": 16
    }

    # The next day the held-back edits go out (each clip once per platform, ever: the others are used).
    tomorrow = DAY + timedelta(days=1)
    plan_day(tomorrow, now=NOW)
    assert set(planned(engine, tomorrow)) == {"e3", "e2-overlay", "r2"}


def test_posts_already_planned_today_count_and_failed_ones_do_not(engine: Engine) -> None:
    add_edits(engine, {"e1": EDITS["e1"]})
    add_account(engine, "a", daily_cap=2)
    plan_day(DAY, now=NOW)
    assert set(planned(engine, DAY)) == {"e1"}

    # A better edit arrives that reuses two thirds of e1: a re-plan of the same day keeps it back.
    add_edits(engine, {"late": (0.99, Footage("src", ((0, 10), (60, 70), (400, 410))))})
    again = plan_day(DAY, now=NOW)
    assert again.planned == 0 and "1 held back" in next(iter(again.unfilled_by_reason()))

    # e1's post failed (never went out): its footage no longer counts, the late edit takes the day.
    with engine.begin() as conn:
        conn.execute(update(POSTS).where(POSTS.c.clip_id == "e1").values(status="failed"))
    third = plan_day(DAY, now=NOW)
    assert [p.clip_id for p in third.posts] == ["late"]


def test_platforms_are_guarded_separately(engine: Engine) -> None:
    add_edits(engine, {"e2": EDITS["e2"], "e2-overlay": EDITS["e2-overlay"]})
    add_account(engine, "s", daily_cap=5)
    add_account(engine, "d", platform="douyin", daily_cap=5)
    plan_day(DAY, now=NOW)
    with engine.connect() as conn:
        rows = sorted(conn.execute(select(POSTS.c.platform, POSTS.c.clip_id)))
    # one of the two same-footage edits per platform and day
    assert rows == [("douyin", "e2"), ("sandbox", "e2")]


def test_guard_index_agrees_with_brute_force() -> None:
    rng = random.Random(3)
    candidates: list[PostFootage] = []
    for _ in range(400):
        if rng.random() < 0.2:
            candidates.append(MaterialFootage(tuple(f"m{rng.randrange(30)}" for _ in range(rng.randint(1, 5)))))
            continue
        ranges = []
        for _ in range(rng.randint(1, 4)):
            start = rng.uniform(0, 900)
            ranges.append((start, start + rng.uniform(2, 40)))
        candidates.append(Footage(f"s{rng.randrange(3)}", tuple(ranges)))
    guard = FootageGuard()
    kept: list[PostFootage] = []
    for footage in candidates:
        expected = all(overlap(footage, other) <= MAX_SHARED_FOOTAGE for other in kept)
        assert guard.admit(footage) == expected
        if expected:
            kept.append(footage)
    assert guard.held_back == len(candidates) - len(kept) and len(guard) == len(kept) > 50
    with pytest.raises(ValueError, match="between 0 and 1"):
        FootageGuard(1.5)


def test_a_malformed_record_falls_back_to_the_clip_range() -> None:
    assert footage_of_clip("src", 5.0, 25.0, {"source": "src"}) == Footage("src", ((5.0, 25.0),))
    assert footage_of_clip("src", 25.0, 5.0, None) == Footage("src", ())
