"""The sandbox's account API, admin API and platform rules, through HTTP (FastAPI TestClient, real app, real
SQLite database, real generated videos)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sandbox.app import create_app
from sandbox.config import DAY, Rules
from sandbox.service import Platform
from tests.sandbox_support import (
    ADMIN,
    advance,
    bearer,
    make_video,
    new_account,
    new_product,
    publish,
    reencode,
    sandbox_config,
    upload,
)

VideoFactory = Callable[[int], Path]


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> VideoFactory:
    """``video(n)``: the n-th distinct tiny video (generated once per module)."""
    folder = tmp_path_factory.mktemp("videos")
    cache: dict[int, Path] = {}

    def get(n: int) -> Path:
        if n not in cache:
            cache[n] = make_video(folder / f"life-{n}.mp4", n)
        return cache[n]

    return get


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(sandbox_config(tmp_path / "sandbox"))
    with TestClient(app) as c:
        yield c


@pytest.fixture
def alice(client: TestClient) -> dict[str, Any]:
    return new_account(client, "alice")


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code, body
    assert isinstance(body["message"], str) and "\n" not in body["message"] and "Traceback" not in body["message"]
    return dict(body)


# -- admin setup ---------------------------------------------------------------------------------------------


def test_admin_routes_need_the_admin_token(client: TestClient) -> None:
    for method, path in (
        ("get", "/api/admin/posts"),
        ("post", "/api/admin/accounts"),
        ("get", "/api/admin/oracle"),
        ("get", "/api/admin/clock"),
        ("patch", "/api/admin/faults"),
    ):
        _error(client.request(method, path, json={}), 401, "admin_token_required")
        _error(
            client.request(method, path, json={}, headers={"Authorization": "Bearer wrong-token-xxxxxxxx"}),
            401,
            "admin_token_required",
        )
    assert client.get("/api/admin/clock", headers={"X-Admin-Token": ADMIN["Authorization"][7:]}).status_code == 200


def test_create_accounts_and_products(client: TestClient) -> None:
    made = new_account(client)
    assert made["handle"].startswith("creator_") and len(made["password"]) >= 8
    assert made["api_token"].startswith("sbx-act-") and made["author_buyin_id"].isdigit()
    named = new_account(client, "bob.shop")
    _error(client.post("/api/admin/accounts", json={"handle": "bob.shop"}, headers=ADMIN), 409, "handle_taken")
    _error(client.post("/api/admin/accounts", json={"handle": "x"}, headers=ADMIN), 400, "invalid_handle")
    _error(
        client.post("/api/admin/accounts", json={"handle": "carol", "password": "short"}, headers=ADMIN),
        400,
        "invalid_password",
    )
    listed = client.get("/api/admin/accounts", headers=ADMIN).json()["accounts"]
    assert [a["handle"] for a in listed] == [made["handle"], "bob.shop"]
    assert all("password" not in a and "api_token" not in a for a in listed)
    # passwords and tokens are stored only as digests
    platform: Platform = client.app.state.platform  # type: ignore[attr-defined]
    stored = {a.handle: a for a in platform.accounts()}
    assert named["password"] not in stored["bob.shop"].password_hash
    assert stored["bob.shop"].password_hash.startswith("scrypt$")
    assert named["api_token"] not in stored["bob.shop"].token_digest

    cup = new_product(client, "cup-1", price=59.9, rate=0.25)
    assert cup == {
        "product_id": "cup-1",
        "name": "商品 cup-1",
        "price": 59.9,
        "price_fen": 5990,
        "commission_rate": 0.25,
        "commission_rate_x10000": 2500,
        "link": "http://testserver/item/cup-1",
    }
    by_fen = client.post(
        "/api/admin/products",
        headers=ADMIN,
        json={"name": "伞", "price_fen": 1999, "commission_rate": 0.1, "link": "https://shop.example/x?id=umb"},
    ).json()
    assert by_fen["price_fen"] == 1999 and by_fen["link"] == "https://shop.example/x?id=umb"
    _error(
        client.post(
            "/api/admin/products",
            headers=ADMIN,
            json={"product_id": "cup-1", "name": "again", "price": 1, "commission_rate": 0.1},
        ),
        409,
        "product_exists",
    )
    _error(
        client.post(
            "/api/admin/products",
            headers=ADMIN,
            json={"name": "both", "price": 1, "price_fen": 100, "commission_rate": 0.1},
        ),
        400,
        "invalid_product",
    )
    _error(
        client.post("/api/admin/products", headers=ADMIN, json={"name": "free", "price": 1, "commission_rate": 2}),
        422,
        "invalid_request",
    )
    listed_products = client.get("/api/admin/products", headers=ADMIN).json()["products"]
    assert [p["product_id"] for p in listed_products] == ["cup-1", by_fen["product_id"]]
    page = client.get("/item/cup-1")
    assert page.status_code == 200 and "59.90" in page.text


# -- account API: upload, publish, status, metrics, list --------------------------------------------------------


def test_account_endpoint_needs_a_valid_bearer_token(client: TestClient, alice: dict[str, Any]) -> None:
    _error(client.get("/api/v1/account"), 401, "missing_token")
    _error(client.get("/api/v1/account", headers=bearer("sbx-act-not-a-token")), 401, "invalid_token")
    me = client.get("/api/v1/account", headers=bearer(alice["api_token"])).json()
    assert me == {"account_id": alice["account_id"], "handle": "alice", "author_buyin_id": alice["author_buyin_id"]}


def test_upload_publish_status_metrics_and_list(client: TestClient, alice: dict[str, Any], video: VideoFactory) -> None:
    new_product(client, "cup")
    token = alice["api_token"]
    data = video(1).read_bytes()
    init = client.post(
        "/api/v1/video/upload/init", json={"file_size": len(data), "file_name": "a.mp4"}, headers=bearer(token)
    ).json()
    assert init["upload_url"] == f"/api/v1/video/upload/{init['upload_id']}"
    _error(
        client.post(
            "/api/v1/video/publish",
            headers=bearer(token),
            json={"upload_id": init["upload_id"], "title": "t", "is_aigc": True},
        ),
        409,
        "upload_incomplete",
    )
    put = client.put(init["upload_url"], content=data, headers=bearer(token)).json()
    assert put["complete"] and put["received"] == len(data) and len(put["sha256"]) == 64
    assert put["duration"] == pytest.approx(1.0, abs=0.15)
    response = client.post(
        "/api/v1/video/publish",
        headers=bearer(token),
        json={
            "upload_id": init["upload_id"],
            "title": "为什么这个杯子卖爆了?",
            "description": "好用 #保温杯 #好物",
            "is_aigc": True,
            "ad_disclosure": True,
            "product_link": "http://anything.example/item/cup",
            "external_info": "mcn-post-1",
            "hook_style": "Question",
        },
    )
    assert response.status_code == 200, response.text
    post = response.json()
    assert post["post_id"].isdigit() and len(post["post_id"]) == 19
    assert post["status"] == "published" and post["limited"] is False
    assert post["hook_style"] == "question" and post["product_id"] == "cup" and post["external_info"] == "mcn-post-1"

    status = client.get(f"/api/v1/video/{post['post_id']}/status", headers=bearer(token)).json()
    assert status == post
    fresh = client.get(f"/api/v1/video/{post['post_id']}/metrics", headers=bearer(token)).json()
    assert fresh["play_count"] == 0 and fresh["order_count"] == 0  # nothing has happened yet on the clock
    advance(client, 6 * 3600)
    early = client.get(f"/api/v1/video/{post['post_id']}/metrics", headers=bearer(token)).json()
    advance(client, 20 * DAY)
    late = client.get(f"/api/v1/video/{post['post_id']}/metrics", headers=bearer(token)).json()
    platform: Platform = client.app.state.platform  # type: ignore[attr-defined]
    final = platform.post(post["post_id"])
    assert 0 < early["play_count"] < late["play_count"] == final.plays  # attention accrues, then saturates
    assert late["like_count"] == final.likes and late["product_click_count"] == final.product_clicks
    assert 0 < late["completion_rate"] < 1
    for key in ("like_count", "comment_count", "share_count", "product_click_count", "order_count"):
        assert 0 <= early[key] <= late[key]

    listing = client.get("/api/v1/video/list", headers=bearer(token)).json()
    assert [p["post_id"] for p in listing["posts"]] == [post["post_id"]] and listing["has_more"] is False
    # another account sees neither the post nor its metrics
    bob = new_account(client, "bob")
    _error(
        client.get(f"/api/v1/video/{post['post_id']}/metrics", headers=bearer(bob["api_token"])), 404, "post_not_found"
    )
    _error(client.get("/api/v1/video/not-a-number/status", headers=bearer(token)), 404, "post_not_found")
    assert client.get("/api/v1/video/list", headers=bearer(bob["api_token"])).json()["posts"] == []


def test_chunked_upload_with_content_range(client: TestClient, alice: dict[str, Any], video: VideoFactory) -> None:
    token = alice["api_token"]
    data = video(2).read_bytes()
    url = client.post("/api/v1/video/upload/init", json={}, headers=bearer(token)).json()["upload_url"]
    half = len(data) // 2
    first = client.put(
        url, content=data[:half], headers={**bearer(token), "Content-Range": f"bytes 0-{half - 1}/{len(data)}"}
    )
    assert first.json() == {
        "upload_id": url.rsplit("/", 1)[1],
        "received": half,
        "complete": False,
        "sha256": None,
        "duration": None,
    }
    _error(
        client.put(url, content=data[half:], headers={**bearer(token), "Content-Range": f"bytes 5-9/{len(data)}"}),
        416,
        "bad_content_range",
    )
    _error(
        client.put(url, content=b"x", headers={**bearer(token), "Content-Range": "chunk 1"}), 400, "bad_content_range"
    )
    last = client.put(
        url,
        content=data[half:],
        headers={**bearer(token), "Content-Range": f"bytes {half}-{len(data) - 1}/{len(data)}"},
    )
    assert last.json()["complete"] is True
    import hashlib

    assert last.json()["sha256"] == hashlib.sha256(data).hexdigest()
    _error(client.put(url, content=b"more", headers=bearer(token)), 409, "upload_complete")


def test_upload_refusals(client: TestClient, alice: dict[str, Any], video: VideoFactory, tmp_path: Path) -> None:
    token = alice["api_token"]
    client.patch("/api/admin/rules", json={"max_upload_bytes": 20_000}, headers=ADMIN)
    big = video(3).read_bytes()
    assert len(big) > 20_000
    _error(
        client.post("/api/v1/video/upload/init", json={"file_size": len(big)}, headers=bearer(token)),
        413,
        "file_too_large",
    )
    url = client.post("/api/v1/video/upload/init", json={}, headers=bearer(token)).json()["upload_url"]
    too_large = _error(client.put(url, content=big, headers=bearer(token)), 413, "file_too_large")
    assert too_large["max_bytes"] == 20_000
    _error(client.put(url, content=b"x", headers=bearer(token)), 404, "upload_not_found")  # discarded
    client.patch("/api/admin/rules", json={"max_upload_bytes": 10_000_000}, headers=ADMIN)
    url = client.post("/api/v1/video/upload/init", json={}, headers=bearer(token)).json()["upload_url"]
    _error(client.put(url, content=b"\x00not a video" * 500, headers=bearer(token)), 400, "invalid_video")
    url = client.post("/api/v1/video/upload/init", json={"file_size": 10}, headers=bearer(token)).json()["upload_url"]
    _error(client.put(url, content=b"0123456789AB", headers=bearer(token)), 400, "size_mismatch")
    _error(client.put("/api/v1/video/upload/nope", content=b"x", headers=bearer(token)), 404, "upload_not_found")
    bob = new_account(client, "bob")
    url = client.post("/api/v1/video/upload/init", json={}, headers=bearer(token)).json()["upload_url"]
    _error(client.put(url, content=big, headers=bearer(bob["api_token"])), 404, "upload_not_found")
    _error(
        client.post("/api/v1/video/upload/init", json={"file_size": -1}, headers=bearer(token)), 422, "invalid_request"
    )


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"title": "这" * 31}, 400, "title_too_long"),
        ({"title": "  "}, 400, "title_required"),
        ({"description": "#a #b #c #d #e #f"}, 400, "too_many_topics"),
        ({"is_aigc": False}, 400, "ai_declaration_required"),
        ({"product_link": "https://shop.example/item/no-such-product"}, 400, "product_not_found"),
        ({"product_link": "not a link"}, 400, "product_not_found"),
        ({"product_id": "missing"}, 400, "product_not_found"),
        ({"schedule_time": "2025-03-03 16:30"}, 400, "invalid_schedule_time"),  # less than 2 h ahead
        ({"schedule_time": "next tuesday"}, 400, "invalid_schedule_time"),
        ({"hook_style": "has spaces!"}, 400, "invalid_hook_style"),
        ({"unknown_field": 1}, 422, "invalid_request"),
    ],
)
def test_publish_field_refusals(
    client: TestClient, alice: dict[str, Any], video: VideoFactory, fields: dict[str, Any], status: int, code: str
) -> None:
    _error(publish(client, alice["api_token"], video(4), **fields), status, code)
    assert client.get("/api/admin/posts", headers=ADMIN).json()["posts"] == []


def test_upload_is_published_once_and_only_by_its_account(
    client: TestClient, alice: dict[str, Any], video: VideoFactory
) -> None:
    token = alice["api_token"]
    upload_id = upload(client, token, video(5))
    bob = new_account(client, "bob")
    body = {"upload_id": upload_id, "title": "好物", "is_aigc": True}
    _error(client.post("/api/v1/video/publish", json=body, headers=bearer(bob["api_token"])), 404, "upload_not_found")
    first = client.post("/api/v1/video/publish", json=body, headers=bearer(token)).json()
    again = _error(
        client.post("/api/v1/video/publish", json=body, headers=bearer(token)), 409, "upload_already_published"
    )
    assert again["post_id"] == first["post_id"]  # the idempotency answer a publisher reconciles with


def test_ad_disclosure_rule_is_a_knob(client: TestClient, alice: dict[str, Any], video: VideoFactory) -> None:
    new_product(client, "cup")
    link = "http://testserver/item/cup"
    client.patch("/api/admin/rules", json={"require_ad_disclosure": True}, headers=ADMIN)
    _error(publish(client, alice["api_token"], video(6), product_link=link), 400, "ad_disclosure_required")
    ok = publish(client, alice["api_token"], video(6), product_link=link, ad_disclosure=True)
    assert ok.status_code == 200, ok.text


# -- pacing rules ----------------------------------------------------------------------------------------------


def test_min_interval_then_spam_after_repeated_strikes(
    client: TestClient, alice: dict[str, Any], video: VideoFactory
) -> None:
    token = alice["api_token"]
    assert publish(client, token, video(10)).status_code == 200
    advance(client, 60)
    early = publish(client, token, video(11))
    body = _error(early, 429, "posting_too_often")
    assert body["retry_after"] == 540 and early.headers["Retry-After"] == "540"
    advance(client, 540)
    assert publish(client, token, video(11)).status_code == 200  # 10 minutes after the first: fine
    # posting too fast again and again gets the account spam replies for a day
    _error(publish(client, token, video(12)), 429, "posting_too_often")
    _error(publish(client, token, video(12)), 429, "posting_too_often")
    spam = _error(publish(client, token, video(12)), 429, "spam_risk_too_many_posts")
    assert spam["retry_after"] == pytest.approx(DAY, abs=1)
    advance(client, 3600)
    _error(publish(client, token, video(12)), 429, "spam_risk_too_many_posts")  # even when spaced out now
    advance(client, DAY)
    assert publish(client, token, video(12)).status_code == 200
    # other accounts are not affected by alice's pace
    assert publish(client, new_account(client, "bob")["api_token"], video(13)).status_code == 200


def test_daily_cap(client: TestClient, alice: dict[str, Any], video: VideoFactory) -> None:
    assert client.get("/api/admin/rules", headers=ADMIN).json()["daily_cap"] == Rules().daily_cap == 15
    client.patch("/api/admin/rules", json={"daily_cap": 3, "min_interval_seconds": 60}, headers=ADMIN)
    token = alice["api_token"]
    for n in range(3):
        assert publish(client, token, video(20 + n)).status_code == 200
        advance(client, 120)
    capped = _error(publish(client, token, video(23)), 429, "spam_risk_too_many_posts")
    assert "daily limit is 3" in capped["message"]
    # the cap counts local (UTC+8) calendar days: clock starts 16:00, so 8 h later is the next day
    advance(client, 8 * 3600)
    assert publish(client, token, video(23)).status_code == 200


def test_scheduled_posts_count_at_their_publish_time(
    client: TestClient, alice: dict[str, Any], video: VideoFactory
) -> None:
    token = alice["api_token"]
    later = client.get("/api/admin/clock", headers=ADMIN).json()["timestamp"] + 3 * 3600
    scheduled = publish(client, token, video(30), schedule_time=int(later)).json()
    assert scheduled["status"] == "scheduled" and scheduled["publish_timestamp"] == later
    assert publish(client, token, video(31)).status_code == 200  # now is 3 h away from the scheduled one
    _error(publish(client, token, video(32), schedule_time=int(later) + 60), 429, "posting_too_often")
    advance(client, 4 * 3600)
    status = client.get(f"/api/v1/video/{scheduled['post_id']}/status", headers=bearer(token)).json()
    assert status["status"] == "published"


# -- duplicates --------------------------------------------------------------------------------------------------


def test_exact_and_near_duplicates(client: TestClient, video: VideoFactory, tmp_path: Path) -> None:
    alice, bob = new_account(client, "alice"), new_account(client, "bob")
    original = make_video(tmp_path / "orig.mp4", "testsrc2", bitrate="300k", seconds=2.0)
    near = reencode(original, tmp_path / "near.mp4", "60k")
    assert near.read_bytes() != original.read_bytes()
    first = publish(client, alice["api_token"], original, title="原视频", external_info="e1").json()
    advance(client, 3600)
    _error(publish(client, alice["api_token"], original), 409, "duplicate_video")  # same file, same account
    _error(publish(client, bob["api_token"], original), 409, "duplicate_video")  # same file, other account
    same_account = _error(publish(client, alice["api_token"], near), 409, "duplicate_video")
    assert first["post_id"] in same_account["message"]
    throttled = publish(client, bob["api_token"], near, title="搬运")  # another account: accepted but throttled
    assert throttled.status_code == 200 and throttled.json()["limited"] is True
    assert throttled.json()["limited_reason"] == "near_duplicate"
    distinct = publish(client, bob["api_token"], video(40))
    assert distinct.status_code == 429  # bob's interval; spaced out it is fine and not limited
    advance(client, 3600)
    assert publish(client, bob["api_token"], video(40)).json()["limited"] is False

    posts = client.get("/api/admin/posts", headers=ADMIN).json()["posts"]
    assert [p["title"] for p in posts] == ["原视频", "搬运", "好物分享"]
    import hashlib

    row = posts[0]
    assert row["file_sha256"] == hashlib.sha256(original.read_bytes()).hexdigest()
    assert row["phash"].startswith("vpdq:") and row["external_info"] == "e1" and row["handle"] == "alice"
    assert row["ai_declared"] is True and row["ad_disclosed"] is False and row["via"] == "api"
    assert row["created_at"].startswith("2025-03-03")
    assert posts[1]["duplicate_of"] == first["post_id"] and posts[1]["limited"] is True
    # the throttled copy reaches a tenth of the audience in expectation (hidden reach factor of the market)
    platform: Platform = client.app.state.platform  # type: ignore[attr-defined]
    assert platform.rules.near_dup_reach == pytest.approx(0.1)


def test_state_and_duplicate_index_survive_a_restart(tmp_path: Path, video: VideoFactory) -> None:
    config = sandbox_config(tmp_path / "sandbox")
    with TestClient(create_app(config)) as c:
        alice = new_account(c, "alice")
        post = publish(c, alice["api_token"], video(50)).json()
        advance(c, 5 * DAY)
        before = c.get("/api/admin/clock", headers=ADMIN).json()
    with TestClient(create_app(config)) as c:
        assert c.get("/api/admin/clock", headers=ADMIN).json() == before
        assert c.get(f"/api/v1/video/{post['post_id']}/status", headers=bearer(alice["api_token"])).status_code == 200
        login = c.post("/login", data={"handle": "alice", "password": alice["password"]}, follow_redirects=False)
        assert login.status_code == 303
        reencoded = reencode(video(50), tmp_path / "again.mp4", "60k")
        _error(publish(c, alice["api_token"], reencoded), 409, "duplicate_video")


# -- orders --------------------------------------------------------------------------------------------------------


def _all_orders(client: TestClient, token: str, **params: Any) -> list[dict[str, Any]]:
    orders: list[dict[str, Any]] = []
    cursor = ""
    for _ in range(500):  # bounded paging loop
        page = client.get("/api/v1/buyin/orders", params={**params, "cursor": cursor}, headers=bearer(token))
        assert page.status_code == 200, page.text
        body = page.json()
        orders += body["orders"]
        cursor = body["cursor"]
        if not body["has_more"]:
            return orders
    raise AssertionError("paging did not end")


def test_order_export(client: TestClient, alice: dict[str, Any], video: VideoFactory) -> None:
    token = alice["api_token"]
    new_product(client, "cup", price=88.0, rate=0.3)
    client.patch("/api/admin/rules", json={"min_interval_seconds": 0, "daily_cap": 100}, headers=ADMIN)
    posts = [
        publish(client, token, video(60 + n), product_id="cup", external_info=f"ext-{n}", hook_style="benefit").json()
        for n in range(12)
    ]
    assert _all_orders(client, token) == []  # nothing is paid at publish time
    advance(client, 2 * DAY)
    paid = _all_orders(client, token, count=3)
    assert paid, "twelve posts should sell something in two days"
    assert len({o["order_id"] for o in paid}) == len(paid)
    first = paid[0]
    assert set(first) >= {
        "order_id",
        "product_id",
        "author_buyin_id",
        "total_pay_amount",
        "commission_rate",
        "estimated_commission",
        "real_commission",
        "flow_point",
        "pay_success_time",
        "settle_time",
        "refund_time",
        "media_type",
        "media_id",
        "pid_info",
        "update_time",
    }
    assert first["author_buyin_id"] == alice["author_buyin_id"] and first["product_id"] == "cup"
    assert first["total_pay_amount"] == 8800 and first["commission_rate"] == 3000
    assert first["estimated_commission"] == 2640
    by_post = {p["post_id"]: p for p in posts}
    for order in paid:
        assert order["flow_point"] in ("PAY_SUCC", "REFUND")  # settlement takes days
        assert order["real_commission"] == 0
        assert order["media_type"] in ("video", "shop_list")
        if order["media_type"] == "video":
            assert order["media_id"] in by_post
            assert order["pid_info"]["external_info"] == by_post[order["media_id"]]["external_info"]
        else:
            assert order["media_id"] == "" and order["pid_info"]["external_info"].startswith("ext-")
    times = [o["update_timestamp"] for o in paid]
    assert times == sorted(times)

    advance(client, 60 * DAY)
    final = _all_orders(client, token, count=100)
    assert {o["order_id"] for o in final} >= {o["order_id"] for o in paid}
    assert {o["flow_point"] for o in final} <= {"SETTLE", "REFUND"}
    for o in final:
        if o["flow_point"] == "SETTLE":
            assert o["real_commission"] == o["estimated_commission"] and o["settle_time"] > o["pay_success_time"]
        else:
            assert o["real_commission"] == 0 and o["refund_time"] > o["pay_success_time"] and o["settle_time"] == ""
    # incremental sync by update time: a window after the first sync returns only orders that changed since
    cut = max(o["update_timestamp"] for o in paid)
    changed = _all_orders(client, token, start_time=str(cut + 0.001), count=7)
    assert {o["order_id"] for o in changed} == {o["order_id"] for o in final if o["update_timestamp"] > cut}
    window = _all_orders(
        client, token, time_type="pay", start_time="2025-03-03 00:00:00", end_time="2025-03-04 23:59:59"
    )
    assert all("2025-03-03" <= o["pay_success_time"][:10] <= "2025-03-04" for o in window)
    # the export matches what the market drew for each post
    platform: Platform = client.app.state.platform  # type: ignore[attr-defined]
    from sandbox.market import PostContext, ProductTerms

    for post in posts:
        row = platform.post(post["post_id"])
        outcome = platform.world.simulate(
            PostContext(row.id, row.account_id, row.hook_style, row.publish_at, ProductTerms("cup", 8800, 3000))
        )
        mine = [o for o in final if o["pid_info"]["external_info"] == post["external_info"]]
        assert len(mine) == len(outcome.orders)
    bob = new_account(client, "bob")
    assert _all_orders(client, bob["api_token"]) == []  # an author sees only their own orders

    _error(
        client.get(
            "/api/v1/buyin/orders",
            params={"start_time": "2025-01-01 00:00", "end_time": "2025-06-01 00:00"},
            headers=bearer(token),
        ),
        400,
        "time_window_too_large",
    )
    _error(
        client.get("/api/v1/buyin/orders", params={"cursor": "garbage!"}, headers=bearer(token)), 400, "invalid_cursor"
    )
    _error(
        client.get("/api/v1/buyin/orders", params={"start_time": "yesterday"}, headers=bearer(token)),
        400,
        "invalid_time",
    )
    _error(
        client.get("/api/v1/buyin/orders", params={"time_type": "settle"}, headers=bearer(token)),
        422,
        "invalid_request",
    )


# -- clock, faults, rules, sessions, oracle ------------------------------------------------------------------------


def test_clock(client: TestClient) -> None:
    start = client.get("/api/admin/clock", headers=ADMIN).json()
    assert start == {"now": "2025-03-03 16:00:00", "timestamp": start["timestamp"], "mode": "manual"}
    moved = client.post("/api/admin/clock", json={"advance_days": 30, "advance_seconds": 60}, headers=ADMIN).json()
    assert moved["timestamp"] == start["timestamp"] + 30 * DAY + 60 and moved["now"] == "2025-04-02 16:01:00"
    jumped = client.post("/api/admin/clock", json={"set_time": "2025-05-01 09:30"}, headers=ADMIN).json()
    assert jumped["now"] == "2025-05-01 09:30:00"
    _error(
        client.post("/api/admin/clock", json={"set_time": "2025-01-01 00:00"}, headers=ADMIN),
        400,
        "invalid_clock_change",
    )
    _error(client.post("/api/admin/clock", json={"advance_days": -1}, headers=ADMIN), 422, "invalid_request")
    running = client.post("/api/admin/clock", json={"mode": "running"}, headers=ADMIN).json()
    assert running["mode"] == "running"
    time.sleep(0.05)
    assert client.get("/api/admin/clock", headers=ADMIN).json()["timestamp"] > running["timestamp"]


def test_fault_knobs(client: TestClient, alice: dict[str, Any], video: VideoFactory) -> None:
    token = alice["api_token"]
    assert client.get("/api/admin/faults", headers=ADMIN).json()["error_rate"] == 0.0
    client.patch("/api/admin/faults", json={"error_rate": 1.0}, headers=ADMIN)
    _error(client.get("/api/v1/account", headers=bearer(token)), 503, "server_error")
    assert client.get("/api/admin/clock", headers=ADMIN).status_code == 200  # admin routes are never faulted
    page = client.get("/creator/upload", follow_redirects=False)
    assert page.status_code == 503 and 'data-error-code="server_error"' in page.text
    client.patch("/api/admin/faults", json={"error_rate": 0.0, "slow_rate": 1.0, "slow_seconds": 0.3}, headers=ADMIN)
    started = time.monotonic()
    assert client.get("/api/v1/account", headers=bearer(token)).status_code == 200
    assert time.monotonic() - started >= 0.3
    client.patch("/api/admin/faults", json={"slow_rate": 0.0, "spam_rate": 1.0}, headers=ADMIN)
    _error(publish(client, token, video(70)), 429, "spam_risk_too_many_posts")
    # a timeout: the publish happens, the answer is lost (504 after the delay); the list shows the truth
    client.patch(
        "/api/admin/faults", json={"spam_rate": 0.0, "timeout_rate": 1.0, "timeout_seconds": 0.2}, headers=ADMIN
    )
    upload_id = upload_with_faults_off(client, token, video(71))
    started = time.monotonic()
    lost = client.post(
        "/api/v1/video/publish", json={"upload_id": upload_id, "title": "超时", "is_aigc": True}, headers=bearer(token)
    )
    _error(lost, 504, "gateway_timeout")
    assert time.monotonic() - started >= 0.2
    client.patch("/api/admin/faults", json={"timeout_rate": 0.0}, headers=ADMIN)
    titles = [p["title"] for p in client.get("/api/v1/video/list", headers=bearer(token)).json()["posts"]]
    assert titles == ["超时"]
    _error(client.patch("/api/admin/faults", json={"error_rate": 2}, headers=ADMIN), 400, "invalid_faults")
    _error(client.patch("/api/admin/faults", json={"eror_rate": 0.1}, headers=ADMIN), 400, "invalid_faults")


def upload_with_faults_off(client: TestClient, token: str, video_path: Path) -> str:
    """Upload while keeping the configured faults for the publish only."""
    faults = client.get("/api/admin/faults", headers=ADMIN).json()
    client.patch("/api/admin/faults", json={"timeout_rate": 0.0}, headers=ADMIN)
    try:
        return upload(client, token, video_path)
    finally:
        client.patch("/api/admin/faults", json={"timeout_rate": faults["timeout_rate"]}, headers=ADMIN)


def test_rules_admin(client: TestClient) -> None:
    rules = client.get("/api/admin/rules", headers=ADMIN).json()
    assert rules["max_title_chars"] == 30 and rules["max_topics"] == 5 and rules["daily_cap"] == 15
    changed = client.patch("/api/admin/rules", json={"min_interval_seconds": 30}, headers=ADMIN).json()
    assert changed["min_interval_seconds"] == 30.0 and changed["daily_cap"] == 15
    _error(client.patch("/api/admin/rules", json={"daily_cap": 0}, headers=ADMIN), 400, "invalid_rules")
    _error(client.patch("/api/admin/rules", json={"daily_cap": "many"}, headers=ADMIN), 400, "invalid_rules")


def test_web_sessions_expire_with_the_clock_and_by_force(client: TestClient, alice: dict[str, Any]) -> None:
    def login() -> None:
        response = client.post(
            "/login", data={"handle": "alice", "password": alice["password"]}, follow_redirects=False
        )
        assert response.status_code == 303 and response.headers["location"] == "/creator/upload"
        assert "sbx_session" in response.headers["set-cookie"]

    login()
    assert client.get("/creator/upload", follow_redirects=False).status_code == 200
    advance(client, 3 * DAY + 1)  # default session lifetime: 3 days
    gone = client.get("/creator/upload", follow_redirects=False)
    assert gone.status_code == 303 and gone.headers["location"] == "/login?next=/creator/upload&expired=1"
    login()
    assert client.post(
        "/api/admin/sessions/expire", json={"account_id": alice["account_id"]}, headers=ADMIN
    ).json() == {"expired": 1}
    assert client.get("/creator/upload", follow_redirects=False).headers["location"].endswith("&expired=1")
    upload_xhr = client.put("/creator/api/upload", content=b"x")
    assert _error(upload_xhr, 401, "session_expired")["login_url"] == "/login?next=/creator/upload&expired=1"
    client.cookies.clear()
    assert client.get("/creator/upload", follow_redirects=False).headers["location"] == "/login?next=/creator/upload"
    wrong = client.post("/login", data={"handle": "alice", "password": "wrong-password"})
    assert wrong.status_code == 401 and 'data-testid="login-error"' in wrong.text


def test_oracle(client: TestClient, alice: dict[str, Any]) -> None:
    new_product(client, "good", price=100, rate=0.2)
    new_product(client, "other", price=50, rate=0.1)
    oracle = client.get("/api/admin/oracle", headers=ADMIN).json()
    assert "nothing in mcn may read" in oracle["warning"]
    rows = oracle["products"]
    styles = {r["hook_style"] for r in rows}
    assert styles >= {"question", "pain_point", "benefit", "plain"}
    assert {r["product_id"] for r in rows} == {"good", "other"}
    for r in rows:
        assert r["expected_settled_commission_fen"] == pytest.approx(
            r["expected_estimated_commission_fen"] * (1 - r["refund_rate"])
        )
        assert r["expected_orders"] < r["expected_product_clicks"] < r["expected_plays"]
    assert len(oracle["time_of_day"]) == 24 and sum(oracle["time_of_day"]) == pytest.approx(24, abs=0.01)
    assert oracle["accounts"][0]["handle"] == "alice" and oracle["accounts"][0]["reach_multiplier"] > 0


def test_bad_input_gets_one_line_errors(client: TestClient, alice: dict[str, Any]) -> None:
    token = bearer(alice["api_token"])
    broken = client.post(
        "/api/v1/video/publish", content=b"{not json", headers={**token, "content-type": "application/json"}
    )
    assert "JSON" in _error(broken, 422, "invalid_request")["message"]
    _error(client.get("/api/v1/video/99999999999999999999999999999/metrics", headers=token), 404, "post_not_found")
    _error(client.get("/api/v1/buyin/orders", params={"start_time": "1e400"}, headers=token), 400, "invalid_time")
    _error(
        client.post("/api/admin/clock", json={"set_time": "9999-12-31 00:00"}, headers=ADMIN),
        400,
        "invalid_clock_change",
    )
    _error(client.post("/api/admin/clock", json={"advance_days": 1e308}, headers=ADMIN), 422, "invalid_request")
    _error(client.patch("/api/admin/rules", json={"max_upload_bytes": 1e300}, headers=ADMIN), 400, "invalid_rules")
    _error(client.patch("/api/admin/faults", json=[1, 2], headers=ADMIN), 422, "invalid_request")
    _error(client.post("/api/v1/video/upload/init", json={"file_size": 10**30}, headers=token), 422, "invalid_request")


def test_unknown_routes_and_methods_answer_json(client: TestClient) -> None:
    _error(client.get("/api/v1/nothing-here"), 404, "not_found")
    _error(client.delete("/api/v1/account"), 405, "method_not_allowed")
    assert client.get("/api/openapi.json").json()["info"]["title"] == "mcn sandbox platform"


def test_pages_show_errors_in_place(client: TestClient, alice: dict[str, Any]) -> None:
    assert client.get("/", follow_redirects=False).headers["location"] == "/creator/upload"
    login = client.get("/login?next=//evil.example/")
    assert login.status_code == 200 and 'value="/creator/upload"' in login.text  # no open redirect
    challenge = re.search(r'href="/qr/([^"]+)"', login.text)
    assert challenge is not None
    code = challenge.group(1)
    assert client.get(f"/login/qr/{code}/status").json() == {"status": "pending"}
    not_yet = client.get(f"/login/qr/{code}/complete", follow_redirects=False)
    assert not_yet.status_code == 409 and 'data-error-code="qr_not_approved"' in not_yet.text
    unknown = client.post(f"/qr/{code}", data={"handle": "nobody", "action": "approve"})
    assert unknown.status_code == 404 and 'data-error-code="unknown_handle"' in unknown.text
    empty = client.post(f"/qr/{code}", data={"handle": " ", "action": "approve"})
    assert 'data-error-code="handle_required"' in empty.text
    assert "已确认登录 alice" in client.post(f"/qr/{code}", data={"handle": "alice", "action": "approve"}).text
    again = client.post(f"/qr/{code}", data={"handle": "alice", "action": "approve"})
    assert again.status_code == 409 and 'data-error-code="qr_not_pending"' in again.text
    done = client.get(f"/login/qr/{code}/complete?next=/creator/manage", follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/creator/manage"
    assert client.get("/login/qr/{code}/status".replace("{code}", code)).json() == {"status": "used"}
    assert client.get("/creator/manage").status_code == 200
    missing = client.get("/creator/posts/7300000000000000999")
    assert missing.status_code == 404 and 'data-error-code="post_not_found"' in missing.text
    assert client.get("/item/nothing").status_code == 404
    no_upload = client.post("/creator/publish", data={"title": "x", "ai_declaration": "1"})
    assert no_upload.status_code == 400 and 'data-error-code="upload_required"' in no_upload.text
    assert client.get("/logout", follow_redirects=False).headers["location"] == "/login"
    assert client.get("/creator/manage", follow_redirects=False).status_code == 303


def test_api_tokens_expire_and_are_reissued_from_the_developer_page(client: TestClient, alice: dict[str, Any]) -> None:
    assert client.get("/api/v1/account", headers=bearer(alice["api_token"])).status_code == 200
    answer = client.post(
        "/api/admin/sessions/expire", json={"account_id": alice["account_id"], "api_tokens": True}, headers=ADMIN
    ).json()
    assert answer == {"expired": 0, "expired_api_tokens": 1}
    _error(client.get("/api/v1/account", headers=bearer(alice["api_token"])), 401, "token_expired")
    _error(
        client.get("/api/v1/account", headers={"Authorization": "Bearer sbx-act-never-issued"}), 401, "invalid_token"
    )
    assert client.get("/creator/developer", follow_redirects=False).headers["location"].startswith("/login")
    client.post("/login", data={"handle": "alice", "password": alice["password"]})
    assert 'data-testid="authorize-button"' in client.get("/creator/developer").text
    page = client.post("/creator/developer").text
    token = re.search(r'data-testid="api-token">([^<]+)<', page)
    assert token is not None
    fresh = client.get("/api/v1/account", headers={"Authorization": f"Bearer {token.group(1)}"})
    assert fresh.status_code == 200 and fresh.json()["account_id"] == alice["account_id"]
    platform: Platform = client.app.state.platform  # type: ignore[attr-defined]
    assert token.group(1) not in next(a for a in platform.accounts() if a.handle == "alice").token_digest
