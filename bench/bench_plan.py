"""Posting-plan throughput: ``publisher.plan.plan_day`` for 10,000 accounts x 10 posts, rows written, against a
bare SQLAlchemy Core executemany of the same number of posts rows measured in the same run.

Target (issue "daily posting plan"): at most 10 s on 2 cores, reading accounts, clips, products and existing posts,
placing slots, matching products and clips, building titles/captions and writing every row. A fresh SQLite
database in a temporary folder is seeded with Core bulk inserts: 10,000 accounts (two time zones, niches, some
needing approval), 1,000 products and 120,000 clips with distinct Chinese and English titles. The baseline
inserts the same number of prebuilt posts rows into the empty posts table (then deletes them) so the ratio shows
what planning costs on top of writing.

    .venv/bin/python bench/bench_plan.py --accounts 10000 --clips 120000
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NICHES = ("beauty", "fashion", "home", "food", "digital", "baby", "sports", "pets", "outdoor", "books")
ZH_NAMES = ("羽绒服", "保温杯", "面霜", "跑鞋", "收纳箱", "蓝牙耳机", "猫粮", "帐篷", "奶瓶", "台灯")
ZH_PHRASES = (
    "防风保暖一整天",
    "轻薄好收纳",
    "三层加厚不透风",
    "为什么冬天穿它不冷？",
    "还在为起球烦恼吗",
    "让你通勤更轻松",
    "304不锈钢内胆",
    "亲肤不刺激",
    "降噪效果很明显",
    "一手就能折叠",
    "防水面料实测",
    "细节做工很扎实",
    "续航可以用一周",
    "宝宝用着放心",
    "露营一晚不漏风",
    "口感软糯不粘牙",
    "大容量装得下",
    "静音设计不吵人",
    "透气速干不闷脚",
    "敏感肌也能用",
)
ZH_ADJ = ("这款", "新款", "经典款", "升级版", "加厚款", "轻量版", "家用款", "便携款", "旗舰款", "基础款")
EN_PHRASES = (
    "keeps you warm all day",
    "why it never leaks",
    "tired of soggy socks?",
    "folds flat in one move",
    "waterproof fabric test",
    "quiet motor, strong grip",
    "soft on sensitive skin",
    "a week on one charge",
    "double-wall steel, no sweat",
    "lighter than it looks",
)


def seed_database(engine: Any, accounts: int, products: int, clips: int, day: date) -> None:
    """Bulk-insert a source, a run, products, clips and accounts with Core executemany."""
    from sqlalchemy import insert
    from sqlmodel import SQLModel

    from publisher.plan import ACCOUNTS, CLIPS, PRODUCTS

    sources = SQLModel.metadata.tables["sources"]
    runs = SQLModel.metadata.tables["runs"]
    now = datetime.now(UTC)
    product_rows = []
    for p in range(products):
        niches = [] if p % 10 == 0 else [NICHES[p % len(NICHES)]] + ([NICHES[(p * 7) % len(NICHES)]] if p % 3 else [])
        product_rows.append(
            {
                "id": f"p{p:05d}",
                "name": f"{ZH_NAMES[p % len(ZH_NAMES)]}{p}",
                "aliases": [],
                "price": 9.9 + p % 50,
                "commission_rate": 0.1 + (p % 5) / 20,
                "link": f"https://shop.example/item/{p}",
                "niches": sorted(set(niches)),
                "updated_at": now,
            }
        )
    clip_rows = []
    for n in range(clips):
        product = n % (products + products // 10)  # about 1 clip in 11 has no product
        product_id = f"p{product:05d}" if product < products else None
        base = ZH_NAMES[product % len(ZH_NAMES)]
        per = n // (products + products // 10)
        if n % 5 == 4:
            title = f"{base} #{product}: {EN_PHRASES[per % len(EN_PHRASES)]} ({per // len(EN_PHRASES)})"
        else:
            title = (
                f"{ZH_ADJ[(per // len(ZH_PHRASES)) % len(ZH_ADJ)]}{base}{product}{ZH_PHRASES[per % len(ZH_PHRASES)]}"
            )
        clip_rows.append(
            {
                "id": f"c{n:07d}",
                "run_id": "bench-run",
                "source_id": "bench-source",
                "product_id": product_id,
                "rank": n % 30,
                # distinct stretches of the recording: the plan's footage-overlap guard keeps them all
                "source_start": n * 40.0,
                "source_end": n * 40.0 + 30.0,
                "duration": 30.0,
                "score": (n * 7919 % 1000) / 1000,
                "hook": ZH_PHRASES[(n + 3) % len(ZH_PHRASES)] if n % 5 != 4 else EN_PHRASES[(n + 1) % len(EN_PHRASES)],
                "title": title,
                "reason": "bench",
                "points": [],
                "sentences": [],
                "path": f"/renders/bench/c{n:07d}.mp4",
                "created_at": now - timedelta(seconds=n),
            }
        )
    account_rows = []
    for a in range(accounts):
        niches = [] if a % 5 == 0 else sorted({NICHES[a % len(NICHES)], NICHES[(a * 3) % len(NICHES)]})
        account_rows.append(
            {
                "platform": "sandbox",
                "handle": f"acct{a:05d}",
                "display_name": f"Account {a}",
                "persona": ("宝妈", "上班族", "户外达人", "")[a % 4],
                "niches": niches,
                "status": "active",
                "daily_cap": 10,
                "windows": ["09:00-12:00", "18:00-23:30"],
                "timezone": "America/New_York" if a % 4 == 3 else "Asia/Shanghai",
                "approval_required": a % 10 == 0,
                "created_at": now,
                "updated_at": now,
            }
        )
    with engine.begin() as conn:
        conn.execute(
            insert(sources),
            [{"id": "bench-source", "uri": "bench", "status": "done", "created_at": now, "updated_at": now}],
        )
        conn.execute(
            insert(runs),
            [
                {
                    "id": "bench-run",
                    "kind": "bench",
                    "source_id": "bench-source",
                    "status": "succeeded",
                    "params": {},
                    "stats": {},
                    "started_at": now,
                }
            ],
        )
        conn.execute(insert(PRODUCTS), product_rows)
        conn.execute(insert(CLIPS), clip_rows)
        conn.execute(insert(ACCOUNTS), account_rows)


def baseline_rows(count: int, accounts: int, clips: int, day: date) -> list[dict[str, Any]]:
    """Prebuilt posts rows shaped like the planner's (same columns, similar text lengths)."""
    created = datetime.now(UTC)
    slot = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    rows = []
    for n in range(count):
        key = uuid.uuid4().hex + uuid.uuid4().hex
        rows.append(
            {
                "id": uuid.uuid4().hex,
                "idempotency_key": key,
                "tracking_code": "mcn-" + key[:16],
                "plan_date": day,
                "account_id": 1 + n % accounts,
                "platform": "sandbox",
                "clip_id": f"c{n % clips:07d}",
                "variant_id": None,
                "content_key": f"c{n % clips:07d}",
                "product_id": f"p{n % 1000:05d}",
                "video_path": f"/renders/bench/c{n % clips:07d}.mp4",
                "title": "新款羽绒服12防风保暖一整天",
                "caption": "宝妈分享：让你通勤更轻松。收藏起来慢慢看。",
                "topics": ["fashion", "羽绒服12"],
                "product_link": "https://shop.example/item/12",
                "hook_style": "benefit",
                "ai_label": "内容由AI生成 / AI-generated",
                "ad_disclosure": "广告",
                "slot_at": slot + timedelta(seconds=n),
                "status": "planned",
                "approval": "not_required",
                "attempts": 0,
                "next_attempt_at": None,
                "claimed_by": None,
                "claim_token": None,
                "lease_until": None,
                "remote_id": None,
                "remote_upload_id": None,
                "remote_url": None,
                "error_code": None,
                "last_error": None,
                "posted_at": None,
                "created_at": created,
                "updated_at": created,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--products", type=int, default=1_000)
    parser.add_argument("--clips", type=int, default=120_000)
    parser.add_argument("--target-seconds", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-plan-") as workdir:
        os.environ["MCN_DATA_DIR"] = workdir
        run_bench(args)


def run_bench(args: argparse.Namespace) -> None:
    from sqlalchemy import delete, func, insert, select

    from mcn.db import get_engine
    from publisher.plan import POSTS, plan_day

    engine = get_engine()
    day = date.today() + timedelta(days=1)
    started = time.perf_counter()
    seed_database(engine, args.accounts, args.products, args.clips, day)
    print(
        f"seeded {args.accounts} accounts, {args.products} products, {args.clips} clips "
        f"in {time.perf_counter() - started:.1f} s",
        flush=True,
    )

    expected = args.accounts * 10
    rows = baseline_rows(expected, args.accounts, args.clips, day - timedelta(days=30))
    gc.disable()  # plan_day pauses the cyclic collector too: the baseline gets the same help
    started, cpu = time.perf_counter(), time.process_time()
    with engine.begin() as conn:
        for start in range(0, len(rows), 5000):
            conn.execute(insert(POSTS), rows[start : start + 5000])
    baseline, baseline_cpu = time.perf_counter() - started, time.process_time() - cpu
    gc.enable()
    with engine.begin() as conn:
        conn.execute(delete(POSTS))
    del rows
    print(
        f"baseline: Core executemany of {expected} posts rows: {baseline:.2f} s (CPU time {baseline_cpu:.2f} s)",
        flush=True,
    )

    now = datetime.combine(day - timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    started, cpu = time.perf_counter(), time.process_time()
    result = plan_day(day, now=now)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(POSTS)).scalar_one()
    empty = result.unfilled_by_reason()
    print(
        f"plan_day: {result.planned} posts on {result.accounts} accounts ({stored} rows stored) in {elapsed:.2f} s"
        f" = {result.planned / elapsed:,.0f} posts/s (CPU time {cpu:.2f} s; load average {os.getloadavg()[0]:.1f})"
    )
    print("phases: " + ", ".join(f"{k} {v:.2f} s" for k, v in result.timings.items()))
    print(f"empty slots: {sum(empty.values())} {dict(list(empty.items())[:3])}")
    print(f"ratio plan/baseline: {elapsed / baseline:.2f}   ({os.cpu_count()} CPUs)")
    met = elapsed <= args.target_seconds and result.planned >= expected * 0.99
    print(f"target {expected} posts in <= {args.target_seconds:.0f} s: {'met' if met else 'NOT met'}")

    started = time.perf_counter()
    again = plan_day(day, now=now)
    print(f"re-plan of the same day: {again.planned} new posts in {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
