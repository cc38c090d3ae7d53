"""Helpers for the feedback-loop tests: posts rows with tracking codes (accounts, a source, a run and clips under
them) and order exports written the way spreadsheets write them."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlmodel import SQLModel

from analytics.orders import OrderRow, upsert_orders
from mcn.db import get_engine
from mcn.tables import AccountRecord, ClipRecord, PostRecord, RunRecord, SourceRecord
from publisher.adapters.base import AD_DISCLOSURE, AI_LABEL

_TABLE: dict[Any, Any] = {
    t: SQLModel.metadata.tables[str(t.__tablename__)]
    for t in (AccountRecord, ClipRecord, PostRecord, RunRecord, SourceRecord)
}

#: The doukeOrderAds columns, in an alliance export's order.
ORDER_COLUMNS = (
    "order_id",
    "product_id",
    "author_buyin_id",
    "total_pay_amount",
    "pay_goods_amount",
    "settled_goods_amount",
    "ads_estimated_commission",
    "ads_real_commission",
    "flow_point",
    "pay_success_time",
    "settle_time",
    "refund_time",
    "update_time",
    "media_type",
    "pid_info.external_info",
)


@dataclass(frozen=True)
class SeededPost:
    post_id: str
    tracking_code: str
    product_id: str | None
    hook_style: str
    account_id: int
    clip_id: str
    variant_id: str | None


def add_account(
    handle: str, platform: str = "sandbox", author_id: str | None = None, remote_id: str | None = None
) -> int:
    now = datetime.now(UTC)
    row = {
        "platform": platform,
        "handle": handle,
        "display_name": handle,
        "persona": "",
        "niches": [],
        "status": "active",
        "daily_cap": 10,
        "windows": ["00:00-23:59"],
        "timezone": "UTC",
        "author_id": author_id,
        "approval_required": False,
        "remote_id": remote_id,
        "created_at": now,
        "updated_at": now,
    }
    with get_engine().begin() as conn:
        key = conn.execute(insert(_TABLE[AccountRecord]).values(**row)).inserted_primary_key
        assert key is not None
        return int(key[0])


def add_posts(
    account_id: int,
    specs: Sequence[dict[str, Any]],
    day: date = date(2025, 3, 3),
    platform: str = "sandbox",
    source: str = "src",
) -> list[SeededPost]:
    """One clip and one post per spec; a spec gives ``product_id``, ``hook_style``, and optionally
    ``variant_id``, ``status``, ``remote_id``, ``tracking_code``, ``posted_at``."""
    engine = get_engine()
    now = datetime.now(UTC)
    source_id = f"{source}-{account_id}"
    made = []
    with engine.begin() as conn:
        conn.execute(
            insert(_TABLE[SourceRecord]).values(
                id=source_id, uri=source_id, status="done", created_at=now, updated_at=now
            )
        )
        conn.execute(
            insert(_TABLE[RunRecord]).values(
                id=source_id, kind="test", source_id=source_id, status="succeeded", params={}, stats={}, started_at=now
            )
        )
        for n, spec in enumerate(specs):
            clip_id = f"{source_id}-clip{n}"
            conn.execute(
                insert(_TABLE[ClipRecord]).values(
                    id=clip_id,
                    run_id=source_id,
                    source_id=source_id,
                    product_id=spec.get("product_id"),
                    rank=n,
                    source_start=0.0,
                    source_end=1.0,
                    duration=1.0,
                    score=1.0,
                    hook="好物分享",
                    title="好物分享",
                    reason="test",
                    points=[],
                    sentences=[],
                    path=f"/clips/{clip_id}.mp4",
                    created_at=now,
                )
            )
            post_id = f"{source_id}-post{n}"
            code = spec.get("tracking_code", f"mcn-{source_id}-{n}")
            conn.execute(
                insert(_TABLE[PostRecord]).values(
                    id=post_id,
                    idempotency_key=post_id,
                    tracking_code=code,
                    plan_date=day,
                    account_id=account_id,
                    platform=platform,
                    clip_id=clip_id,
                    variant_id=spec.get("variant_id"),
                    content_key=clip_id,
                    product_id=spec.get("product_id"),
                    video_path=f"/clips/{clip_id}.mp4",
                    title=f"好物分享 {n}",
                    caption="",
                    topics=[],
                    product_link=None,
                    hook_style=spec.get("hook_style", "plain"),
                    ai_label=AI_LABEL,
                    ad_disclosure=AD_DISCLOSURE,
                    slot_at=spec.get("slot_at", now),
                    status=spec.get("status", "posted"),
                    approval="not_required",
                    attempts=1,
                    remote_id=spec.get("remote_id"),
                    posted_at=spec.get("posted_at", now),
                    created_at=now,
                    updated_at=now,
                )
            )
            made.append(
                SeededPost(
                    post_id,
                    code,
                    spec.get("product_id"),
                    spec.get("hook_style", "plain"),
                    account_id,
                    clip_id,
                    spec.get("variant_id"),
                )
            )
    return made


def order(order_id: str, product_id: str = "p1", flow_point: str = "PAY_SUCC", **fields: Any) -> dict[str, Any]:
    """One export row with plausible figures (99.00 yuan, 20 %); ``fields`` override any column."""
    row: dict[str, Any] = {
        "order_id": order_id,
        "product_id": product_id,
        "author_buyin_id": "7001",
        "total_pay_amount": "9900",
        "pay_goods_amount": "9900",
        "settled_goods_amount": "9900" if flow_point == "SETTLE" else "0",
        "ads_estimated_commission": "1980",
        "ads_real_commission": "1980" if flow_point == "SETTLE" else "0",
        "flow_point": flow_point,
        "pay_success_time": "2025-03-03 10:00:00",
        "settle_time": "2025-03-11 10:00:00" if flow_point == "SETTLE" else "",
        "refund_time": "2025-03-05 10:00:00" if flow_point == "REFUND" else "",
        "update_time": "",
        "media_type": "video",
        "pid_info.external_info": "",
    }
    row.update(fields)
    return row


def write_export(
    path: Path, rows: Sequence[dict[str, Any]], columns: Sequence[str] = ORDER_COLUMNS, encoding: str = "utf-8-sig"
) -> Path:
    """A CSV as Excel saves it: CRLF line ends, a BOM with ``utf-8-sig``."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(c, "") for c in columns])
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def add_product(
    product_id: str, price: float | None = 100.0, rate: float | None = 0.2, niches: list[str] | None = None
) -> None:
    """A catalogue row (price in yuan, commission rate as a fraction)."""
    with get_engine().begin() as conn:
        conn.execute(
            insert(SQLModel.metadata.tables["products"]).values(
                id=product_id,
                name=f"{product_id}好物",
                aliases=[],
                price=price,
                commission_rate=rate,
                link=f"https://shop.example/{product_id}",
                niches=niches or [],
                updated_at=datetime.now(UTC),
            )
        )


def add_clips(product_id: str | None, count: int, source: str) -> list[str]:
    """Unused clips of a product (under their own source and run)."""
    now = datetime.now(UTC)
    ids = [f"{source}-free{n}" for n in range(count)]
    with get_engine().begin() as conn:
        conn.execute(
            insert(_TABLE[SourceRecord]).values(id=source, uri=source, status="done", created_at=now, updated_at=now)
        )
        conn.execute(
            insert(_TABLE[RunRecord]).values(
                id=source, kind="test", source_id=source, status="succeeded", params={}, stats={}, started_at=now
            )
        )
        for n, clip_id in enumerate(ids):
            conn.execute(
                insert(_TABLE[ClipRecord]).values(
                    id=clip_id,
                    run_id=source,
                    source_id=source,
                    product_id=product_id,
                    rank=n,
                    source_start=n * 30.0,
                    source_end=n * 30.0 + 20,
                    duration=20.0,
                    score=1.0 - n / 1000,
                    hook="为什么冬天穿它不冷？",
                    title=f"{product_id}好物{n}",
                    reason="test",
                    points=[],
                    sentences=[],
                    path=f"/clips/{clip_id}.mp4",
                    created_at=now,
                )
            )
    return ids


def seed_history(
    now: datetime, orders_per_post: dict[str, int], posts_per_product: int = 20, day: date = date(2025, 3, 3)
) -> None:
    """Posts of each product (plan date ``day``) over the 10 platform days before ``now``, each with
    ``orders_per_post`` paid orders (every fifth refunded, every other one settled) attributed by tracking code."""
    account = add_account(f"learner-{day}")
    rows: list[OrderRow] = []
    for product, per_post in orders_per_post.items():
        times = [now - timedelta(days=10 - n * 9 / posts_per_product) for n in range(posts_per_product)]
        specs: list[dict[str, Any]] = [{"product_id": product, "posted_at": t} for t in times]
        for post_n, post in enumerate(add_posts(account, specs, day=day, source=f"src-{product}-{day}")):
            posted = times[post_n]
            for k in range(per_post):
                pay = posted + timedelta(hours=2 + k)
                state = "REFUND" if k % 5 == 4 else "SETTLE" if k % 2 == 0 else "PAY_SUCC"
                rows.append(
                    OrderRow(
                        order_id=f"{post.post_id}-{k}",
                        product_id=product,
                        flow_point=state,
                        ads_estimated_commission=2000,
                        pay_success_time=pay,
                        settle_time=pay + timedelta(days=1) if state == "SETTLE" else None,
                        refund_time=pay + timedelta(hours=12) if state == "REFUND" else None,
                        external_info=post.tracking_code,
                    )
                )
    report = upsert_orders(rows, source="test")
    assert report.inserted == len(rows)
