"""``analytics.collect`` against a real sandbox server (uvicorn in a thread, manual clock): metric snapshots as a
time series, orders by update-time watermark with cursor paging, flow points moving forward as settlements come,
attribution reasons, a failing account reported while the others go on, and ``mcn collect`` / the Prefect flow."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from analytics.collect import CURSORS, SNAPSHOTS, CollectOptions, collect, read_cursor
from analytics.orders import ORDERS
from mcn.cli import app
from mcn.db import get_engine
from mcn.tables import PostRecord
from sandbox.app import create_app
from sandbox.config import DelayDistribution, MarketParams, Rules
from sandbox.server import serve_in_thread
from tests.analytics_support import add_posts
from tests.publish_support import distinct_videos, mirror_accounts, sandbox_accounts
from tests.sandbox_support import ADMIN, advance, bearer, new_product, publish, sandbox_config

DAY = 86_400.0
POSTS = PostRecord.__table__  # type: ignore[attr-defined]


@pytest.fixture
def sandbox_url(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A sandbox server that mcn's settings point at (``MCN_SANDBOX_URL``)."""
    from mcn.settings import get_settings

    # Busy posts (10x the default reach) so a handful of posts earns dozens of orders; settlement after 1 day.
    market = replace(MarketParams(), base_plays=30_000.0, settle_delay=DelayDistribution("fixed", 1.0))
    config = sandbox_config(tmp_path / "sandbox", seed=11, rules=Rules(min_interval_seconds=0), market=market)
    with serve_in_thread(create_app(config)) as url:
        monkeypatch.setenv("MCN_SANDBOX_URL", url)
        get_settings.cache_clear()
        yield url
    get_settings.cache_clear()


def sandbox_orders(client: httpx.Client, token: str) -> list[dict[str, Any]]:
    """Every order of an account the sandbox shows now (the truth to compare with)."""
    found, cursor = [], None
    while True:
        params: dict[str, Any] = {"count": 100, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/buyin/orders", params=params, headers=bearer(token)).json()
        found += page["orders"]
        if not page["has_more"]:
            return found
        cursor = page["cursor"]


def stored_orders() -> dict[str, dict[str, Any]]:
    with get_engine().connect() as conn:
        return {r["order_id"]: dict(r) for r in conn.execute(select(ORDERS)).mappings()}


def test_collect_against_the_sandbox(data_dir: Path, tmp_path: Path, sandbox_url: str) -> None:
    client = httpx.Client(base_url=sandbox_url, timeout=30)
    new_product(client, "p1", price=99.0, rate=0.2)
    new_product(client, "p2", price=45.0, rate=0.3)
    remote = sandbox_accounts(sandbox_url, 2, "collector")
    account_ids = mirror_accounts(remote)
    videos = iter(distinct_videos(tmp_path / "videos", 8))

    # Ours: three posts on account 0, two on account 1, each published with its tracking code.
    ours = add_posts(account_ids[0], [{"product_id": "p1", "hook_style": "question"}, {"product_id": "p2"}] * 1)
    ours += add_posts(account_ids[0], [{"product_id": "p1", "hook_style": "story"}], source="b")
    ours += add_posts(account_ids[1], [{"product_id": "p2"}, {"product_id": "p1", "variant_id": "remix-7"}])
    token = {account_ids[i]: remote[i]["api_token"] for i in range(2)}
    with get_engine().begin() as conn:
        for post in ours:
            answer = publish(
                client,
                token[post.account_id],
                next(videos),
                product_id=post.product_id,
                external_info=post.tracking_code,
                hook_style=post.hook_style,
                ad_disclosure=True,
            )
            assert answer.status_code == 200, answer.text
            conn.execute(update(POSTS).where(POSTS.c.id == post.post_id).values(remote_id=answer.json()["post_id"]))
    # Not ours: a post with another tool's code, and one without a code.
    publish(client, remote[0]["api_token"], next(videos), product_id="p1", external_info="other-tool-1")
    publish(client, remote[1]["api_token"], next(videos), product_id="p2")

    advance(client, 2 * DAY)
    options = CollectOptions(page_size=7)  # several pages per account
    first = collect(options)
    assert first.problems == [] and first.accounts == 2 and first.posts == 5
    assert first.snapshots == 5
    truth = {o["order_id"]: o for t in token.values() for o in sandbox_orders(client, t)}
    assert len(truth) > 20, "the market should have produced orders"
    stored = stored_orders()
    assert set(stored) == set(truth)
    assert {k: v["flow_point"] for k, v in stored.items()} == {k: v["flow_point"] for k, v in truth.items()}
    assert first.orders.inserted == len(truth)

    # Attribution: ours by code (product x hook x account x day), the others by reason.
    codes = {p.tracking_code: p for p in ours}
    for order_id, row in stored.items():
        code = truth[order_id]["pid_info"]["external_info"]
        if code in codes:
            assert (row["attribution"], row["post_id"]) == ("attributed", codes[code].post_id)
        else:
            assert row["attribution"] == ("unknown_code" if code == "other-tool-1" else "no_code")
    assert first.coverage is not None and first.coverage.orders == len(truth)
    reasons = Counter(r["attribution"] for r in stored.values())
    assert first.coverage.by_reason == {"attributed": 0, "no_code": 0, "unknown_code": 0, "product_mismatch": 0} | dict(
        reasons
    )
    assert reasons["attributed"] and reasons["unknown_code"] and reasons["no_code"]

    # Watermarks persisted per account: the latest update time stored.
    for i, account_id in enumerate(account_ids):
        latest = max(
            datetime.fromtimestamp(o["update_timestamp"], UTC) for o in sandbox_orders(client, remote[i]["api_token"])
        )
        assert read_cursor(f"orders:sandbox:{account_id}") == latest.replace(microsecond=0).isoformat()

    # Same platform time again: no new snapshot, no order changes.
    again = collect(options)
    assert again.snapshots == 0 and again.orders.changed == 0 and again.problems == []

    # Two days on: settlements and refunds arrive; flow points move forward; snapshots form a time series.
    advance(client, 2 * DAY)
    later = collect(options)
    truth = {o["order_id"]: o for t in token.values() for o in sandbox_orders(client, t)}
    stored = stored_orders()
    assert {k: v["flow_point"] for k, v in stored.items()} == {k: v["flow_point"] for k, v in truth.items()}
    assert later.orders.advanced > 0 and later.snapshots == 5
    assert {v["flow_point"] for v in stored.values()} >= {"SETTLE", "REFUND"}
    settled = next(v for v in stored.values() if v["flow_point"] == "SETTLE")
    assert settled["ads_real_commission"] > 0 and settled["settle_time"] is not None
    with get_engine().connect() as conn:
        series = conn.execute(
            select(SNAPSHOTS.c.post_id, SNAPSHOTS.c.taken_at, SNAPSHOTS.c.plays, SNAPSHOTS.c.published_at).order_by(
                SNAPSHOTS.c.post_id, SNAPSHOTS.c.taken_at
            )
        ).all()
    by_post: dict[str, list[Any]] = {}
    for snapshot in series:
        by_post.setdefault(snapshot.post_id, []).append(snapshot)
    assert len(by_post) == 5 and all(len(rows) == 2 for rows in by_post.values())
    for rows in by_post.values():
        assert rows[0].plays <= rows[1].plays and rows[0].taken_at < rows[1].taken_at
        assert rows[0].published_at is not None and rows[0].published_at == rows[1].published_at


def test_failing_account_is_reported_and_others_go_on(data_dir: Path, tmp_path: Path, sandbox_url: str) -> None:
    client = httpx.Client(base_url=sandbox_url, timeout=30)
    new_product(client, "p1")
    remote = sandbox_accounts(sandbox_url, 2, "mixed")
    account_ids = mirror_accounts(remote)
    videos = distinct_videos(tmp_path / "videos", 2, start=50)
    for i in range(2):
        assert (
            publish(client, remote[i]["api_token"], videos[i], product_id="p1", external_info=f"x{i}").status_code
            == 200
        )
    advance(client, 2 * DAY)
    expired = client.post(
        "/api/admin/sessions/expire", json={"account_id": remote[1]["account_id"], "api_tokens": True}, headers=ADMIN
    )
    assert expired.status_code == 200
    report = collect()
    assert len(report.problems) == 1 and f"account {account_ids[1]}" in report.problems[0]
    assert len(sandbox_orders(client, remote[0]["api_token"])) == len(stored_orders()) > 0
    with get_engine().connect() as conn:
        names = set(conn.execute(select(CURSORS.c.name)).scalars())
    assert names == {f"orders:sandbox:{account_ids[0]}"}

    result = CliRunner().invoke(app, ["collect"])
    assert result.exit_code == 1
    assert "problem" in result.output and "Traceback" not in result.output
    assert "orders attributed" in result.output


def test_collect_flow_runs_in_prefect(
    prefect_server_for_test: str, data_dir: Path, tmp_path: Path, sandbox_url: str
) -> None:
    from flows.collect import collect_flow

    client = httpx.Client(base_url=sandbox_url, timeout=30)
    new_product(client, "p1")
    remote = sandbox_accounts(sandbox_url, 1, "flow")
    mirror_accounts(remote)
    video = distinct_videos(tmp_path / "videos", 1, start=90)[0]
    assert publish(client, remote[0]["api_token"], video, product_id="p1", external_info="x").status_code == 200
    advance(client, 2 * DAY)
    counts = collect_flow(platforms=["sandbox"])
    assert counts["problems"] == 0 and counts["orders_new"] == len(stored_orders()) > 0
