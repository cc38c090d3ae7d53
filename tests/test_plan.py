"""The daily posting plan on a real SQLite database: caps, windows and spacing in local time, niches, clip reuse
rules, platform caps, product shares, approval, idempotent re-plans, compliant text, account statuses, the CLI.

Rows are inserted directly (Core) into a fresh database per test (``data_dir``); ``now`` is the day before the
planned day unless a test is about past slots.
"""

from __future__ import annotations

import random
import re
import threading
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel
from typer.testing import CliRunner

from accounts.windows import parse_windows
from mcn.db import get_engine
from publisher.adapters.base import AD_DISCLOSURE, AI_LABEL
from publisher.allocation import Allocation, ProductCandidate, apportion
from publisher.content import BANNED_PATTERNS, HOOK_STYLES, classify_hook, post_caption, post_title, trips_screen
from publisher.plan import ACCOUNTS, CLIPS, POSTS, PRODUCTS, PlanError, PlanOptions, Variant, plan_day, slot_grid
from tests.helpers import throwaway_postgres

DAY = date(2026, 12, 3)
NOW = datetime(2026, 12, 1, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
_clip_numbers = iter(range(10**6))


@pytest.fixture
def engine(data_dir: object) -> Engine:
    return _with_source_and_run(get_engine())


def _with_source_and_run(engine: Engine) -> Engine:
    # Clips reference a run and a source (foreign keys).
    stamp = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(SQLModel.metadata.tables["sources"]),
            [{"id": "src", "uri": "test", "status": "done", "created_at": stamp, "updated_at": stamp}],
        )
        conn.execute(
            insert(SQLModel.metadata.tables["runs"]),
            [{"id": "run", "kind": "test", "status": "succeeded", "params": {}, "stats": {}, "started_at": stamp}],
        )
    return engine


def add_product(engine: Engine, product_id: str, niches: list[str] | None = None, link: str | None = "auto") -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(PRODUCTS),
            [
                {
                    "id": product_id,
                    "name": f"{product_id}好物",
                    "aliases": [],
                    "link": f"https://shop.example/{product_id}" if link == "auto" else link,
                    "niches": niches or [],
                    "updated_at": datetime.now(UTC),
                }
            ],
        )


def add_clips(
    engine: Engine,
    count: int,
    product_id: str | None = None,
    title: str = "这款羽绒服防风保暖",
    hook: str = "",
    numbered: bool = True,
) -> list[str]:
    ids = []
    rows: list[dict[str, Any]] = []
    for _ in range(count):
        n = next(_clip_numbers)
        ids.append(f"clip{n:05d}")
        rows.append(
            {
                "id": ids[-1],
                "run_id": "run",
                "source_id": "src",
                "product_id": product_id,
                "rank": 1,
                # Each clip its own stretch of the recording: distinct footage (the same-day overlap guard).
                "source_start": n * 30.0,
                "source_end": n * 30.0 + 20.0,
                "duration": 20.0,
                "score": random.Random(n).random(),
                "hook": hook or "为什么冬天穿它不冷？",
                "title": f"{title}{n}" if numbered else title,
                "reason": "test",
                "points": [],
                "sentences": [],
                "path": f"/renders/{ids[-1]}.mp4",
                "created_at": datetime.now(UTC),
            }
        )
    with engine.begin() as conn:
        conn.execute(insert(CLIPS), rows)
    return ids


def add_account(engine: Engine, handle: str, **fields: Any) -> int:
    row = {
        "platform": "sandbox",
        "handle": handle,
        "display_name": handle,
        "persona": "",
        "niches": [],
        "status": "active",
        "daily_cap": 10,
        "windows": ["09:00-12:00", "18:00-23:30"],
        "timezone": "Asia/Shanghai",
        "approval_required": False,
        "created_at": datetime.now(UTC),
        "updated_at": datetime.now(UTC),
        **fields,
    }
    with engine.begin() as conn:
        return int(conn.execute(insert(ACCOUNTS).returning(ACCOUNTS.c.id), [row]).scalar_one())


def stored_posts(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(POSTS).order_by(POSTS.c.account_id, POSTS.c.slot_at)))


def in_windows(moment: datetime, windows: list[str], tz: ZoneInfo, day: date) -> bool:
    local = moment.astimezone(tz)
    minute = local.hour * 60 + local.minute + local.second / 60
    return local.date() == day and any(w.start <= minute < w.end for w in parse_windows(windows))


# ------------------------------------------------------------------------------------------- slots and caps


def test_caps_windows_and_spacing_hold_in_each_accounts_local_time(engine: Engine) -> None:
    add_clips(engine, 60)
    shanghai = add_account(engine, "sh", daily_cap=6, windows=["09:00-12:00", "19:00-22:00"])
    new_york = add_account(
        engine, "ny", daily_cap=5, windows=["08:00-10:00", "18:00-21:00"], timezone="America/New_York"
    )
    greedy = add_account(engine, "greedy", daily_cap=50)  # the sandbox allows 15 a day: we stop at 12
    narrow = add_account(engine, "narrow", daily_cap=5, windows=["09:00-10:00"])  # 60 min fit 2 posts 30 min apart
    twin = add_account(engine, "twin", daily_cap=6, windows=["09:00-12:00", "19:00-22:00"])

    result = plan_day(DAY, now=NOW)

    posts = stored_posts(engine)
    assert len(posts) == result.planned == 6 + 5 + 12 + 2 + 6
    by_account: dict[int, list[datetime]] = defaultdict(list)
    for post in posts:
        by_account[post.account_id].append(post.slot_at)
        assert post.plan_date == DAY and post.status == "planned" and post.platform == "sandbox"
    assert {a: len(s) for a, s in by_account.items()} == {shanghai: 6, new_york: 5, greedy: 12, narrow: 2, twin: 6}
    for account, windows, tz in (
        (shanghai, ["09:00-12:00", "19:00-22:00"], SHANGHAI),
        (new_york, ["08:00-10:00", "18:00-21:00"], NEW_YORK),
        (greedy, ["09:00-12:00", "18:00-23:30"], SHANGHAI),
        (narrow, ["09:00-10:00"], SHANGHAI),
    ):
        slots = sorted(by_account[account])
        assert all(in_windows(s, windows, tz, DAY) for s in slots), (account, slots)
        gaps = [(b - a).total_seconds() for a, b in pairwise(slots)]
        assert min(gaps) >= 1800, (account, gaps)
    # Jitter, seeded per account: twins with the same windows and cap post at different times.
    assert not set(by_account[shanghai]) & set(by_account[twin])
    assert result.unfilled_by_reason() == {"posting windows fit no more posts at 30-minute spacing": 3}


def test_windows_hold_on_a_daylight_saving_day_and_past_slots_stay_empty(engine: Engine) -> None:
    add_clips(engine, 20)
    windows = ["00:30-03:30", "12:00-14:00"]  # New York falls back at 02:00 on 2026-11-01: 00:30-03:30 is 4 h
    account = add_account(engine, "ny", daily_cap=8, windows=windows, timezone="America/New_York")
    fall_back = date(2026, 11, 1)
    result = plan_day(fall_back, now=datetime(2026, 10, 30, tzinfo=UTC))
    slots = sorted(p.slot_at for p in stored_posts(engine))
    assert result.planned == len(slots) == 8  # 6 h of windows fit 12 at 30 min; the cap is 8
    assert all(in_windows(s, windows, NEW_YORK, fall_back) for s in slots)
    assert min((b - a).total_seconds() for a, b in pairwise(slots)) >= 1800

    # Planning the next day at 13:00 local: the morning window is over, those slots stay empty.
    next_day = date(2026, 11, 2)
    noon = datetime(2026, 11, 2, 13, 0, tzinfo=NEW_YORK)
    later = plan_day(next_day, now=noon)
    assert all(p.slot_at >= noon for p in later.posts)
    assert later.unfilled_by_reason().get("slot time already passed", 0) >= 1
    assert later.planned + sum(u.count for u in later.unfilled if u.account_id == account) == 8


def test_slot_grid_keeps_spacing_inside_windows_for_any_jitter() -> None:
    rng = random.Random(7)
    for _ in range(300):
        bounds, start = [], 0
        for _ in range(rng.randint(1, 3)):
            start += rng.randint(0, 7200)
            length = rng.randint(600, 4 * 3600)
            bounds.append((start, start + length))
            start += length
        spacing = rng.choice([0, 600, 1800])
        slots = slot_grid(bounds, rng.randint(1, 20), spacing, rng.choice([0, 480, 3600]), rng)
        assert all(any(s <= t < e for s, e in bounds) for t in slots)
        assert all(b - a >= spacing for a, b in pairwise(slots))
        assert len(slots) <= (sum(e - s for s, e in bounds) // spacing if spacing else 20)


def test_platform_daily_cap_is_shared_round_robin(engine: Engine) -> None:
    add_clips(engine, 130)
    accounts = [add_account(engine, f"yt{n}", platform="youtube") for n in range(12)]  # 12 x 10 wanted, 90 allowed
    result = plan_day(DAY, now=NOW)
    assert result.per_platform == {"youtube": 90}
    counts = Counter(p.account_id for p in result.posts)
    assert set(counts) == set(accounts) and set(counts.values()) == {7, 8}
    assert result.unfilled_by_reason() == {"platform daily cap reached (youtube: 90 a day)": 30}
    assert plan_day(DAY, now=NOW).planned == 0  # the cap counts what is already planned


# ------------------------------------------------------------------------------------------- what goes where


def test_niches_match_and_are_preferred(engine: Engine) -> None:
    add_product(engine, "lipstick", ["beauty"])
    add_product(engine, "scarf", ["Fashion"])  # niches compare case-insensitively
    add_product(engine, "cup", [])
    lipsticks, scarves, cups = (
        add_clips(engine, 5, "lipstick"),
        add_clips(engine, 5, "scarf"),
        add_clips(engine, 5, "cup"),
    )
    beauty = add_account(engine, "beauty", niches=["beauty"], daily_cap=3)
    fashion = add_account(engine, "fashion", niches=["fashion"], daily_cap=3)
    anything = add_account(engine, "anything", daily_cap=3)

    plan_day(DAY, now=NOW)
    posts = stored_posts(engine)
    got = {a: Counter(p.product_id for p in posts if p.account_id == a) for a in (beauty, fashion, anything)}
    # Equal shares give 3 posts per product; each niche product lands on its niche, the general one on the rest.
    assert got == {beauty: {"lipstick": 3}, fashion: {"scarf": 3}, anything: {"cup": 3}}
    assert {p.clip_id for p in posts} <= set(lipsticks + scarves + cups)

    # Next day, 2 clips of each niche product are left: accounts fill up with general ones, never a wrong niche.
    pets = add_account(engine, "pets", niches=["pets"], daily_cap=2)
    add_clips(engine, 8, "cup")
    allowed = {beauty: {"lipstick", "cup"}, fashion: {"scarf", "cup"}, anything: {"lipstick", "scarf", "cup"}}
    allowed[pets] = {"cup"}
    result = plan_day(DAY + timedelta(days=1), now=NOW)
    assert result.planned == 11
    assert all(post.product_id in allowed[post.account_id] for post in result.posts)
    mine = Counter((p.account_id, p.product_id) for p in result.posts)
    assert mine[(beauty, "lipstick")] == 2 and mine[(fashion, "scarf")] == 2  # their niche first


def test_non_matching_niches_are_never_paired(engine: Engine) -> None:
    add_product(engine, "lipstick", ["beauty"])
    add_clips(engine, 10, "lipstick")
    pets = add_account(engine, "pets", niches=["pets"], daily_cap=3)
    beauty = add_account(engine, "beauty", niches=["beauty", "fashion"], daily_cap=2)
    result = plan_day(DAY, now=NOW)
    assert Counter(p.account_id for p in result.posts) == {beauty: 2}
    assert result.unfilled_by_reason() == {"no unused clip for niche pets": 3}
    assert [u.account_id for u in result.unfilled] == [pets]


def test_a_clip_goes_out_once_per_platform_ever(engine: Engine) -> None:
    clips = add_clips(engine, 7)
    add_account(engine, "a", daily_cap=2)
    add_account(engine, "b", daily_cap=2)
    add_account(engine, "d", platform="douyin", daily_cap=3)
    first = plan_day(DAY, now=NOW)
    second = plan_day(DAY + timedelta(days=1), now=NOW)
    assert first.per_platform == {"sandbox": 4, "douyin": 3}
    assert second.per_platform == {"sandbox": 3, "douyin": 3}  # 7 clips: sandbox has 3 left, douyin 4
    pairs = [(p.platform, p.clip_id) for p in stored_posts(engine)]
    assert len(pairs) == len(set(pairs)) == 13
    assert {c for _, c in pairs} == set(clips)  # the same clip may go to two platforms
    assert second.unfilled_by_reason() == {"no unused clip left": 1}


def test_near_identical_variants_once_per_platform_per_day(engine: Engine) -> None:
    (clip,) = add_clips(engine, 1)
    variants = [Variant(clip, "v1", "/renders/v1.mp4"), Variant(clip, "v2", "/renders/v2.mp4")]
    for handle in ("a", "b", "c"):
        add_account(engine, handle, daily_cap=1)
    day1 = plan_day(DAY, now=NOW, variants=variants)
    assert [(p.clip_id, p.variant_id, p.content_key) for p in day1.posts] == [(clip, None, clip)]
    assert day1.unfilled_by_reason() == {"no unused clip left": 2}
    # A re-plan of the same day (a new account's slots to fill) still may not post a variant that day.
    add_account(engine, "late", daily_cap=1)
    assert plan_day(DAY, now=NOW, variants=variants).planned == 0
    day2 = plan_day(DAY + timedelta(days=1), now=NOW, variants=variants)
    assert [(p.variant_id, p.content_key) for p in day2.posts] == [("v1", clip)]
    rows = {p.variant_id: p for p in stored_posts(engine)}
    assert rows["v1"].video_path == "/renders/v1.mp4" and rows[None].video_path.endswith(f"{clip}.mp4")


def test_equal_shares_split_posts_by_product_within_supply(engine: Engine) -> None:
    add_product(engine, "p1")
    add_product(engine, "p2")
    add_clips(engine, 10, "p1")
    add_clips(engine, 10, "p2")
    add_clips(engine, 10, None)
    for n in range(3):
        add_account(engine, f"a{n}", daily_cap=3)
    assert plan_day(DAY, now=NOW).per_product == {"p1": 3, "p2": 3, None: 3}
    # Next day p2's clips belong to a product without a row ("gone"), and p3 has a single clip: p3 gets 1,
    # the other three share the remaining 8 by largest remainder (3, 3, 2).
    with get_engine().begin() as conn:
        conn.execute(update(CLIPS).where(CLIPS.c.product_id == "p2").values(product_id="gone"))
    add_product(engine, "p3")
    add_clips(engine, 1, "p3")
    second = plan_day(DAY + timedelta(days=1), now=NOW)
    assert second.per_product == {"p3": 1, None: 3, "gone": 3, "p1": 2}


def test_apportion_uses_largest_remainders_and_respects_supply() -> None:
    assert apportion(10, {"a": 1.0, "b": 1.0, "c": 1.0}, {"a": 9, "b": 9, "c": 9}) == {"a": 4, "b": 3, "c": 3}
    assert apportion(10, {"a": 1.0, "b": 1.0}, {"a": 2, "b": 50}) == {"a": 2, "b": 8}
    assert apportion(7, {"a": 3.0, "b": 1.0, None: 0.0}, {"a": 50, "b": 50, None: 5}) == {"a": 5, "b": 2, None: 0}
    assert apportion(100, {"a": 1.0, "b": 2.0}, {"a": 3, "b": 4}) == {"a": 3, "b": 4}
    counts = apportion(1000, {k: random.Random(k).random() for k in range(37)}, dict.fromkeys(range(37), 40))
    assert sum(counts.values()) == 1000 and max(counts.values()) <= 40


def test_a_custom_allocation_decides_the_split(engine: Engine) -> None:
    class OnlyP2(Allocation):
        name = "only-p2"

        def shares(self, products: Sequence[ProductCandidate], day: date) -> dict[str | None, float]:
            assert {p.product_id for p in products} == {"p1", "p2"} and day == DAY
            return {"p2": 1.0}

    add_product(engine, "p1")
    add_product(engine, "p2")
    add_clips(engine, 5, "p1")
    add_clips(engine, 5, "p2")
    add_account(engine, "a", daily_cap=4)
    assert plan_day(DAY, now=NOW, allocation=OnlyP2()).per_product == {"p2": 4}
    with pytest.raises(PlanError, match="unknown allocation 'bandit'; known: equal"):
        plan_day(DAY, now=NOW, allocation="bandit")


# ------------------------------------------------------------------------------------------- the rows


def test_rows_carry_labels_disclosure_unique_tracking_and_approval(engine: Engine) -> None:
    add_product(engine, "cup", ["home"])
    add_product(engine, "nolink", [], link=None)
    add_clips(engine, 6, "cup")
    add_clips(engine, 6, "nolink")
    add_clips(engine, 6, None)
    reviewed = add_account(engine, "reviewed", approval_required=True, daily_cap=4, persona="宝妈", niches=["home"])
    free = add_account(engine, "free", daily_cap=4, persona="上班族", niches=["home", "kitchen"])

    plan_day(DAY, now=NOW)
    posts = stored_posts(engine)
    assert len(posts) == 8
    assert {p.approval for p in posts if p.account_id == reviewed} == {"pending"}
    assert {p.approval for p in posts if p.account_id == free} == {"not_required"}
    for post in posts:
        assert post.ai_label == AI_LABEL
        linked = post.product_id == "cup"
        assert post.product_link == ("https://shop.example/cup" if linked else None)
        assert post.ad_disclosure == (AD_DISCLOSURE if linked else None)
        assert re.fullmatch(r"mcn-[a-z2-7]{16}", post.tracking_code)
        assert len(post.title) <= 30 and not trips_screen(post.title)
        assert post.caption and not trips_screen(post.caption)
        assert 0 < len(post.topics) <= 5 and all("#" not in t and " " not in t for t in post.topics)
        assert post.hook_style in HOOK_STYLES
    assert len({p.tracking_code for p in posts}) == len({p.idempotency_key for p in posts}) == len(posts)
    # The same product on two accounts goes out as different clips.
    cups = [p for p in posts if p.product_id == "cup"]
    assert {p.account_id for p in cups} == {reviewed, free}
    assert len({p.clip_id for p in cups}) == len(cups)


def test_captions_vary_per_account_and_stay_clean() -> None:
    def caption(persona: str, niche: str, seed: int) -> str:
        return post_caption(
            title="这款保温杯304不锈钢内胆", product_name="保温杯", persona=persona, niche=niche, variant_seed=seed
        )

    captions = {
        caption(persona, niche, seed) for persona in ("宝妈", "上班族") for niche in ("家居", "") for seed in range(6)
    }
    assert len(captions) >= 8
    assert all("这款保温杯304不锈钢内胆" in c and not trips_screen(c) and len(c) <= 200 for c in captions)
    assert caption("宝妈", "", 0) == "宝妈分享：这款保温杯304不锈钢内胆。你们觉得呢？"
    assert caption("今晚秒杀专场", "", 0).startswith("最近在用保温杯，")  # a persona that trips is not used
    english = post_caption(title="Keeps coffee hot", product_name="Mug", persona="", niche="home", variant_seed=3)
    assert english == "Been using Mug lately. Keeps coffee hot. What do you think?"


def test_titles_drop_price_and_urgency_sentences() -> None:
    assert post_title("今晚只要99元，这款羽绒服防风保暖") == "这款羽绒服防风保暖"
    assert post_title("Only tonight $5! Waterproof jacket, stays dry") == "Waterproof jacket, stays dry"
    assert post_title("link 3, 79 dollars", hook="Stays dry in heavy rain") == "Stays dry in heavy rain"
    assert post_title("赶紧下单，手慢无", hook="今晚秒杀", fallback="保温杯") == "保温杯"
    assert post_title("赶紧下单") == "好物分享"
    long = post_title("This double-wall steel bottle keeps drinks cold for a whole day")
    assert len(long) <= 30 and long == "This double-wall steel bottle"
    assert len(post_title("这款羽绒服采用九十克白鸭绒填充三层面料防风防水保暖又轻薄适合通勤")) == 30


def test_planned_titles_never_carry_price_claims(engine: Engine) -> None:
    # not numbered: a clip number such as 321 or 666 after the title reads as livestream chatter and is screened too
    add_clips(engine, 3, title="今晚只要99元，这款保温杯304不锈钢内胆", numbered=False)
    add_clips(engine, 3, title="Last chance, 50% off! Keeps coffee hot for 12 hours", numbered=False)
    add_account(engine, "a", daily_cap=6)
    plan_day(DAY, now=NOW)
    titles = [p.title for p in stored_posts(engine)]
    assert len(titles) == 6
    assert all(not trips_screen(t) and "99" not in t and "50%" not in t for t in titles)
    assert sum(t.startswith("这款保温杯304不锈钢内胆") for t in titles) == 3, titles


def test_fast_screen_matches_the_cue_lexicons() -> None:
    texts = [
        "今晚只要99元",
        "这款羽绒服防风保暖",
        "Only tonight $5",
        "ONLY TONIGHT",
        "Waterproof jacket keeps you dry",
        "欢迎新来的宝宝",
        "Thanks for joining us",
        "@Anna asked about sizes",
        "3, 2, 1 go",
        "SPF 50 protects all day",
        "Link 3 in the CART",
        "第三件半价",
        "Free Shipping today",
    ]
    for text in texts:
        assert trips_screen(text) == any(p.search(text) for p in BANNED_PATTERNS), text


def test_hook_styles() -> None:
    assert classify_hook("为什么冬天穿它不冷？") == "question"
    assert classify_hook("How do you keep coffee hot") == "question"
    assert classify_hook("还在为起球烦恼") == "pain_point"
    assert classify_hook("Tired of soggy socks") == "pain_point"
    assert classify_hook("让你一整天都干爽") == "benefit"
    assert classify_hook("Keeps you warm all day") == "benefit"
    assert classify_hook("这款羽绒服是白色的") == "plain"


# ------------------------------------------------------------------------------------------- re-plans, statuses


def test_replanning_adds_nothing_twice_and_fills_freed_slots(engine: Engine) -> None:
    add_clips(engine, 30)
    add_account(engine, "a", daily_cap=4)
    add_account(engine, "b", daily_cap=3, timezone="America/New_York")
    preview = plan_day(DAY, now=NOW, dry_run=True)
    assert preview.planned == 7 and stored_posts(engine) == []
    first = plan_day(DAY, now=NOW)
    # A dry run shows exactly what the real run writes (same slots, same keys).
    assert [(p.idempotency_key, p.slot_at) for p in first.posts] == [
        (p.idempotency_key, p.slot_at) for p in preview.posts
    ]
    again = plan_day(DAY, now=NOW)
    assert again.planned == 0 and again.unfilled == ()
    assert len(stored_posts(engine)) == 7

    failed = first.posts[0]
    with get_engine().begin() as conn:
        conn.execute(update(POSTS).where(POSTS.c.id == failed.post_id).values(status="failed"))
    refill = plan_day(DAY, now=NOW)
    assert refill.planned == 1
    (new,) = refill.posts
    assert new.account_id == failed.account_id and new.slot_at == failed.slot_at and new.clip_id != failed.clip_id


def test_text_helper_process_gives_the_same_rows_and_failures_fall_back(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import publisher.plan_worker

    add_product(engine, "cup", ["home"])
    add_clips(engine, 8, "cup", title="今晚只要99元，这款保温杯304不锈钢内胆")
    add_clips(
        engine, 8, None, title="Keeps coffee hot for 12 hours, tired of cold coffee?", hook="Tired of cold coffee?"
    )
    add_account(engine, "a", daily_cap=6, persona="宝妈", niches=["home"])
    add_account(engine, "b", daily_cap=6, persona="office worker")

    def texts(result: Any) -> list[tuple[str, ...]]:
        return [(p.idempotency_key, p.title, p.hook_style, str(p.slot_at)) for p in result.posts]

    inline = plan_day(DAY, now=NOW, dry_run=True, options=PlanOptions(text_helper_min_posts=None))
    helped = plan_day(DAY, now=NOW, dry_run=True, options=PlanOptions(text_helper_min_posts=1))
    assert len(inline.posts) == 12 and texts(helped) == texts(inline)
    assert "helper wait" in helped.timings and "helper wait" not in inline.timings

    monkeypatch.setattr(publisher.plan_worker.sys, "executable", "/bin/false")  # the helper exits 1 at once
    written = plan_day(DAY, now=NOW, options=PlanOptions(text_helper_min_posts=1))
    assert texts(written) == texts(inline)
    assert "plan text helper failed" in caplog.text
    rows = {p.idempotency_key: p for p in stored_posts(engine)}
    assert {(k, rows[k].title) for k, *_ in texts(inline)} == {(p.idempotency_key, p.title) for p in inline.posts}
    assert all(rows[p.idempotency_key].caption for p in inline.posts)


def test_two_planners_at_once_never_overfill(engine: Engine) -> None:
    add_clips(engine, 80)
    for n in range(6):
        add_account(engine, f"a{n}", daily_cap=5)
    results: list[int] = []

    def run() -> None:
        results.append(plan_day(DAY, now=NOW).planned)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [0, 0, 30]
    with get_engine().connect() as conn:
        assert conn.execute(select(func.count()).select_from(POSTS)).scalar_one() == 30


@pytest.fixture
def postgres_engine(data_dir: object, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """A throwaway Postgres database as the configured one (the planner's advisory lock is Postgres-only)."""
    with throwaway_postgres(monkeypatch):
        yield _with_source_and_run(get_engine())


@pytest.mark.postgres
def test_planners_on_postgres_take_turns_and_replans_add_nothing(postgres_engine: Engine) -> None:
    engine = postgres_engine
    add_product(engine, "cup", ["home"])
    add_clips(engine, 40, "cup")
    add_clips(engine, 40, None)
    for n in range(5):
        add_account(engine, f"a{n}", daily_cap=4, niches=["home"] if n % 2 else [], approval_required=n == 0)
    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(plan_day(DAY, now=NOW).planned)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [0, 0, 20]
    posts = stored_posts(engine)
    assert len(posts) == 20 and len({p.tracking_code for p in posts}) == 20
    assert plan_day(DAY, now=NOW).planned == 0
    assert plan_day(DAY + timedelta(days=1), now=NOW, dry_run=True).planned == 20


def test_paused_banned_and_logged_out_accounts_get_nothing(engine: Engine) -> None:
    add_clips(engine, 40)
    day_start = datetime(2026, 12, 3, tzinfo=SHANGHAI)
    active = add_account(engine, "active", daily_cap=2)
    resumed = add_account(engine, "resumed", status="paused", paused_until=day_start - timedelta(hours=1), daily_cap=2)
    add_account(engine, "paused", status="paused", paused_until=day_start + timedelta(hours=1), daily_cap=2)
    add_account(engine, "banned", status="banned", daily_cap=2)
    add_account(engine, "logged-out", status="needs_login", daily_cap=2)
    result = plan_day(DAY, now=NOW)
    assert Counter(p.account_id for p in result.posts) == {active: 2, resumed: 2}
    assert result.skipped_accounts == {"paused": 1, "banned": 1, "needs_login": 1}


def test_bad_windows_and_limits_overrides_are_one_line(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from mcn.settings import get_settings

    add_clips(engine, 5)
    add_account(engine, "bad", windows=["22:00-02:00"], daily_cap=2)
    good = add_account(engine, "good", daily_cap=2)
    result = plan_day(DAY, now=NOW)
    assert {p.account_id for p in result.posts} == {good}
    (reason,) = result.unfilled_by_reason()
    assert reason.startswith("posting windows unusable: window '22:00-02:00' crosses midnight")

    monkeypatch.setenv("MCN_PLATFORM_LIMITS", '{"sandbox": {"per_account_daily_maximum": 3}}')
    get_settings.cache_clear()
    with pytest.raises(PlanError, match=r"^MCN_PLATFORM_LIMITS: sandbox: unknown field 'per_account_daily_maximum'"):
        plan_day(DAY + timedelta(days=1), now=NOW)
    monkeypatch.setenv("MCN_PLATFORM_LIMITS", '{"sandbox": {"per_account_daily_max": 1}}')
    get_settings.cache_clear()
    assert plan_day(DAY + timedelta(days=1), now=NOW).planned == 1  # good: capped at 1 by the override
    with pytest.raises(PlanError, match="jitter_seconds cannot be negative"):
        PlanOptions(jitter_seconds=-1)


def test_old_clips_are_not_planned(engine: Engine) -> None:
    (old,) = add_clips(engine, 1)
    with get_engine().begin() as conn:
        conn.execute(update(CLIPS).where(CLIPS.c.id == old).values(created_at=datetime(2026, 6, 1, tzinfo=UTC)))
    add_account(engine, "a", daily_cap=1)
    assert plan_day(DAY, now=NOW, dry_run=True).planned == 0
    assert plan_day(DAY, now=NOW, dry_run=True, options=PlanOptions(max_clip_age_days=None)).planned == 1


def test_cli_prints_the_summary_and_reports_bad_input(engine: Engine) -> None:
    from mcn.cli import app

    add_product(engine, "cup")
    add_clips(engine, 5, "cup")
    add_account(engine, "a", daily_cap=3)
    add_account(engine, "b", status="banned")
    runner = CliRunner()
    day = (date.today() + timedelta(days=2)).isoformat()
    dry = runner.invoke(app, ["plan", "--date", day, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would plan 3 posts on 1 accounts" in dry.output and "1 banned" in dry.output and "cup" in dry.output
    assert stored_posts(engine) == []
    real = runner.invoke(app, ["plan", "--date", day, "--platform", "sandbox"])
    assert real.exit_code == 0 and "planned 3 posts" in real.output
    assert len(stored_posts(engine)) == 3
    bad = runner.invoke(app, ["plan", "--date", "5 Jan"])
    assert bad.exit_code == 2 and "--date '5 Jan': expected YYYY-MM-DD" in bad.output
    unknown = runner.invoke(app, ["plan", "--allocation", "bandit"])
    assert unknown.exit_code == 2 and "unknown allocation 'bandit'" in unknown.output
    assert "Traceback" not in unknown.output
