"""The sandbox's affiliate alliance over real HTTP: product search (paging, filters, order), details, generated
product images and videos, and share links that validate ``external_info`` and link to posts."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import av
import cv2
import httpx
import numpy as np
import pytest

from sandbox.app import create_app
from sandbox.catalogue import catalogue
from sandbox.config import MarketParams
from sandbox.market import World
from sandbox.product_media import media_file
from sandbox.server import serve_in_thread
from tests.sandbox_support import ADMIN, bearer, make_video, new_account, publish, sandbox_config

SEARCH = "/api/v1/buyin/kolMaterialsProductsSearch"
DETAILS = "/api/v1/buyin/kolMaterialsProductsDetails"
SHARE = "/api/v1/buyin/kolProductShare"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    app = create_app(sandbox_config(tmp_path_factory.mktemp("sandbox-alliance"), seed=7))
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=60) as http:
        yield http


def search(client: httpx.Client, **params: Any) -> dict[str, Any]:
    response = client.post(SEARCH, json=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def everything(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    """Every page of a search, 7 at a time (a size that does not divide the catalogue)."""
    items: list[dict[str, Any]] = []
    page = 1
    while True:
        answer = search(client, page=page, page_size=7, **params)
        items += answer["products"]
        if page * 7 >= answer["total"]:
            assert search(client, page=page + 1, page_size=7, **params)["products"] == []
            return items
        page += 1


def test_paging_covers_the_catalogue_once_across_categories(client: httpx.Client) -> None:
    items = everything(client)
    ids = [p["product_id"] for p in items]
    assert len(ids) == len(set(ids)) == search(client)["total"] >= 20
    assert len({p["third_cid"] for p in items}) >= 5
    assert search(client)["page_size"] == 20 and len(search(client)["products"]) == 20
    first = items[0]
    for key in ("price", "coupon_price", "cos_ratio", "cos_fee", "kol_cos_ratio", "kol_cos_fee", "sales"):
        assert isinstance(first[key], int), key
    assert {"in_stock", "sharable", "shop_id", "shop_name", "cover", "detail_url", "first_cid"} <= first.keys()
    # fen and 1/10,000: the fee is the ratio of what a buyer pays
    for p in items:
        pay = p["coupon_price"] or p["price"]
        assert p["cos_fee"] == (pay * p["cos_ratio"] + 5000) // 10000
        assert p["kol_cos_ratio"] < p["cos_ratio"]


Pick = Callable[[dict[str, Any]], bool]


@pytest.mark.parametrize(
    ("params", "keep"),
    [
        ({"third_cids": [30011]}, lambda p: p["third_cid"] == 30011),
        ({"first_cids": [20000, 50000]}, lambda p: p["first_cid"] in (20000, 50000)),
        ({"price_min": 5000, "price_max": 15000}, lambda p: 5000 <= p["price"] <= 15000),
        ({"price_min": 20000}, lambda p: p["price"] >= 20000),
        ({"cos_ratio_min": 2500}, lambda p: p["cos_ratio"] >= 2500),
        ({"cos_ratio_min": 1000, "cos_ratio_max": 2000}, lambda p: 1000 <= p["cos_ratio"] <= 2000),
        ({"cos_fee_min": 3000}, lambda p: p["cos_fee"] >= 3000),
        ({"sell_num_min": 10000}, lambda p: p["sales"] >= 10000),
        ({"sell_num_max": 5000}, lambda p: p["sales"] <= 5000),
        ({"share_status": 1}, lambda p: p["sharable"]),
        ({"title": "PILLOW"}, lambda p: "pillow" in p["title"].lower()),
        ({"third_cids": [40011], "price_max": 20000}, lambda p: p["third_cid"] == 40011 and p["price"] <= 20000),
    ],
)
def test_filters_keep_exactly_the_matching_products(client: httpx.Client, params: dict[str, Any], keep: Pick) -> None:
    catalogue_items = everything(client)
    expected = [p["product_id"] for p in catalogue_items if keep(p)]
    got = [p["product_id"] for p in everything(client, **params)]
    assert got == expected
    assert 0 < len(got) < len(catalogue_items), "the filter must split the catalogue to test anything"


@pytest.mark.parametrize(("search_type", "key"), [(1, "sales"), (2, "price"), (3, "cos_fee"), (4, "cos_ratio")])
def test_search_type_orders_every_page_by_its_key(client: httpx.Client, search_type: int, key: str) -> None:
    up = [p[key] for p in everything(client, search_type=search_type, sort_type=0)]
    down = [p[key] for p in everything(client, search_type=search_type, sort_type=1)]
    assert up == sorted(up) and down == sorted(down, reverse=True)
    assert up != down


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"page_size": 21}, "page_size must be 1..20"),
        ({"page_size": 0}, "page_size must be 1..20"),
        ({"page": 0}, "page starts at 1"),
        ({"search_type": 5}, "search_type must be"),
        ({"sort_type": 2}, "sort_type must be"),
        ({"price_min": 9000, "price_max": 100}, "price_min 9000 is above price_max 100"),
        ({"cos_ratio_min": -1}, "cos_ratio_min must not be negative"),
    ],
)
def test_bad_search_parameters_are_400(client: httpx.Client, params: dict[str, Any], message: str) -> None:
    response = client.post(SEARCH, json=params)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_param" and message in response.json()["message"]
    assert client.post(SEARCH, json={"pagesize": 5}).status_code == 422  # a misspelt parameter is not ignored


def test_details_carry_the_selection_fields_and_media_that_download(client: httpx.Client) -> None:
    ids = [p["product_id"] for p in everything(client)]
    assert client.post(DETAILS, json={"product_ids": ids}).status_code == 400  # more than 20
    answer = client.post(DETAILS, json={"product_ids": [int(ids[0]), ids[1], "999"]}).json()
    assert answer["missing"] == ["999"] and [p["product_id"] for p in answer["products"]] == ids[:2]
    item = answer["products"][0]
    for key in ("order_num", "view_num", "kol_num", "comment_num"):
        assert isinstance(item[key], int) and item[key] >= 0
    assert 0 <= item["comment_score"] <= 5
    score = item["shop_total_score"]
    assert set(score) == {"shop_score", "product_score", "logistics_score", "service_score"}
    assert all(0 <= float(s["score"]) <= 5 and s["level"] in (1, 2, 3) for s in score.values())
    assert 5 <= len(item["imgs"]) <= 6 and len(item["videos"]) == 1 and item["cover"] == item["imgs"][0]

    image = client.get(item["imgs"][1])
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    picture = cv2.imdecode(np.frombuffer(image.content, np.uint8), cv2.IMREAD_COLOR)
    assert (
        picture is not None and picture.shape == (600, 600, 3) and float(picture.std()) > 20
    )  # a drawn shot, not a flat card
    video = client.get(item["videos"][0])
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    assert len(video.content) < 400_000
    with av.open(io.BytesIO(video.content), mode="r") as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="gray") for f in container.decode(stream)]
    assert (stream.width, stream.height) == (360, 640) and 30 <= len(frames) <= 40
    assert float(np.abs(frames[0].astype(int) - frames[-1].astype(int)).mean()) > 3  # the camera moves
    assert client.get(item["imgs"][0].replace("img1.jpg", "img9.jpg")).status_code == 404
    assert client.get(item["imgs"][0].replace("img1.jpg", "..%2Fsandbox.db")).status_code == 404


def test_share_link_validates_external_info_and_links_a_post(client: httpx.Client, tmp_path: Path) -> None:
    account = new_account(client)
    token = account["api_token"]
    items = everything(client)
    product = next(p for p in items if p["sharable"] and p["in_stock"])
    assert client.post(SHARE, json={"product_id": product["product_id"]}).status_code == 401  # an author's call

    for bad in ("x" * 41, "post-1", "post 1", "帖子1", "a;b", "a\nb"):
        response = client.post(
            SHARE, json={"product_id": product["product_id"], "external_info": bad}, headers=bearer(token)
        )
        assert response.status_code == 400, bad
        assert response.json()["error"] == "invalid_external_info"
    code = "p" + "0123456789" * 3 + "_abcdefgh"  # 40 characters
    answer = client.post(
        SHARE, json={"product_id": product["product_id"], "external_info": code}, headers=bearer(token)
    )
    assert answer.status_code == 200, answer.text
    link = answer.json()["share_link"]
    assert answer.json()["external_info"] == code and f"/item/{product['product_id']}?" in link
    by_url = client.post(
        SHARE, json={"product_url": product["detail_url"], "external_info": code}, headers=bearer(token)
    )
    assert by_url.json()["share_link"] == link

    closed = next(p for p in items if not p["sharable"])
    response = client.post(SHARE, json={"product_id": closed["product_id"]}, headers=bearer(token))
    assert response.status_code == 400 and response.json()["error"] == "product_not_sharable"
    assert client.post(SHARE, json={"product_id": "404"}, headers=bearer(token)).status_code == 404

    # the link is a product link the publish API accepts: the post is linked and carries the code
    video = make_video(tmp_path / "v.mp4", 3)
    published = publish(client, token, video, product_link=link, external_info=code, ad_disclosure=True)
    assert published.status_code == 200, published.text
    posts = client.get("/api/admin/posts", headers=ADMIN).json()["posts"]
    (post,) = [p for p in posts if p["account_id"] == account["account_id"]]
    assert post["product_id"] == product["product_id"] and post["external_info"] == code


def test_the_catalogue_and_its_pictures_are_a_function_of_the_seed(tmp_path: Path) -> None:
    one, again, other = (catalogue(World(seed, MarketParams())) for seed in (7, 7, 8))
    assert one == again and [p.product_id for p in one] != [p.product_id for p in other]
    assert sum(not p.in_stock for p in one) >= 2 and sum(not p.sharable for p in one) >= 2
    assert sum(p.shop_scores[0] < 4.0 for p in one) >= 2
    a = media_file(one[3], "img2.jpg", tmp_path / "a", 7)
    b = media_file(again[3], "img2.jpg", tmp_path / "b", 7)
    c = media_file(one[4], "img2.jpg", tmp_path / "c", 7)
    assert a is not None and b is not None and c is not None
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()
