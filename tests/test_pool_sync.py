"""``mcn products sync --platform sandbox`` end to end against a real sandbox server: every page and every product's
details land in ``pool_products`` as the platform gave them, images and videos are downloaded into the data dir,
a second sync changes and downloads nothing, and an unreachable platform or a bad item ends with one line."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import av
import cv2
import httpx
import numpy as np
import pytest
from sqlmodel import select
from typer.testing import CliRunner

from alliance.store import load_pool, pool_media
from alliance.sync import PoolSource, sync_pool
from clipper.fetch import FetchOptions
from mcn.cli import app
from mcn.db import session
from mcn.tables import PoolProductRecord
from sandbox.app import create_app
from sandbox.server import serve_in_thread
from tests.http_support import LocalServer, bytes_route, local_http, redirect_route, serve_local
from tests.sandbox_support import sandbox_config

__all__ = ["local_http"]  # the fixture, imported for pytest

WIDE = {"COLUMNS": "250"}


@pytest.fixture(scope="module")
def sandbox_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    app_ = create_app(sandbox_config(tmp_path_factory.mktemp("sandbox-pool"), seed=11))
    with serve_in_thread(app_) as url:
        yield url


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["products", *args], env=WIDE)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def api_details(url: str) -> dict[str, dict[str, Any]]:
    """What the platform says about every product (read independently of the sync)."""
    with httpx.Client(base_url=url) as http:
        ids = [
            p["product_id"] for p in http.post("/api/v1/buyin/kolMaterialsProductsSearch", json={}).json()["products"]
        ]
        ids += [
            p["product_id"]
            for p in http.post("/api/v1/buyin/kolMaterialsProductsSearch", json={"page": 2}).json()["products"]
        ]
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), 20):
            answer = http.post(
                "/api/v1/buyin/kolMaterialsProductsDetails", json={"product_ids": ids[start : start + 20]}
            )
            found.update({p["product_id"]: p for p in answer.json()["products"]})
    return found


def test_sync_pulls_every_page_with_details_and_media_then_is_idempotent(data_dir: Path, sandbox_url: str) -> None:
    started = time.perf_counter()
    code, stdout, stderr = cli("sync", "--platform", "sandbox", "--url", sandbox_url)
    first_seconds = time.perf_counter() - started
    assert code == 0, stderr
    truth = api_details(sandbox_url)
    assert len(truth) == 24
    assert "synced 24 products from sandbox (2 pages): 24 new, 0 updated, 0 unchanged" in stdout
    pool = {p.product_id: p for p in load_pool()}
    assert set(pool) == set(truth)
    for pid, item in truth.items():
        p = pool[pid]
        assert (p.price, p.coupon_price or 0, p.cos_ratio, p.cos_fee) == (
            item["price"],
            item["coupon_price"],
            item["cos_ratio"],
            item["cos_fee"],
        )
        assert (p.kol_cos_ratio, p.kol_cos_fee, p.sales, p.in_stock, p.sharable) == (
            item["kol_cos_ratio"],
            item["kol_cos_fee"],
            item["sales"],
            item["in_stock"],
            item["sharable"],
        )
        assert (p.order_num, p.view_num, p.kol_num, p.comment_num) == (
            item["order_num"],
            item["view_num"],
            item["kol_num"],
            item["comment_num"],
        )
        assert p.shop_score == float(item["shop_total_score"]["shop_score"]["score"])
        assert (p.third_cid, p.category_name, list(p.imgs), list(p.videos)) == (
            item["third_cid"],
            item["category_name"],
            item["imgs"],
            item["videos"],
        )

    media = pool_media()
    files = [Path(path) for paths in media.values() for path in paths.values()]
    expected = sum(len(item["imgs"]) + len(item["videos"]) for item in truth.values())
    assert len(files) == expected and all(f.is_file() for f in files)
    assert all(f.is_relative_to(data_dir / "pool" / "media") for f in files)
    assert f"media: {expected} downloaded, 0 already here" in stdout
    some = next(iter(truth.values()))
    picture = cv2.imread(media[some["product_id"]][some["imgs"][0]])
    assert picture is not None and picture.shape == (600, 600, 3)
    with av.open(media[some["product_id"]][some["videos"][0]], mode="r") as container:
        assert container.streams.video[0].frames > 0 or container.duration

    # remix material: local copies in place of the URLs
    remix = pool[some["product_id"]].to_remix(media[some["product_id"]])
    assert remix.images and all(Path(i).is_file() for i in remix.images) and remix.videos

    with session() as s:
        before = {r.product_id: r.updated_at for r in s.exec(select(PoolProductRecord))}
    started = time.perf_counter()
    code, stdout, stderr = cli("sync", "--url", sandbox_url)
    second_seconds = time.perf_counter() - started
    assert code == 0, stderr
    assert "24 products from sandbox (2 pages): 0 new, 0 updated, 24 unchanged" in stdout
    assert f"media: 0 downloaded, {expected} already here" in stdout
    with session() as s:
        assert {r.product_id: r.updated_at for r in s.exec(select(PoolProductRecord))} == before
    print(f"sync: first {first_seconds:.1f} s ({expected} media files), second {second_seconds:.1f} s")


def test_unreachable_platform_and_unknown_platform_end_with_one_line(data_dir: Path) -> None:
    code, stdout, stderr = cli("sync", "--url", "http://127.0.0.1:9/")
    assert code == 1 and stdout == ""
    assert stderr.strip().startswith("error: http://127.0.0.1:9: search page 1: cannot reach the platform")
    assert len(stderr.strip().splitlines()) == 1
    code, _, stderr = cli("sync", "--platform", "weibo")
    assert code == 2 and "--platform 'weibo' has no pool source (known: sandbox)" in stderr
    assert load_pool() == []


class _Listing(PoolSource):
    """A platform answer with one broken item (the sandbox never sends one, so the test brings its own)."""

    platform = "listing"

    def __init__(self, items: list[Mapping[str, Any]]) -> None:
        self.items = items

    def search_pages(self) -> Iterator[list[Mapping[str, Any]]]:
        yield self.items

    def details(self, product_ids: list[str]) -> list[Mapping[str, Any]]:
        return [i for i in self.items if str(i["product_id"]) in product_ids]


def test_a_bad_item_from_the_platform_is_reported_and_the_rest_stored(data_dir: Path) -> None:
    good = {"product_id": "g1", "title": "Tea cup", "price": 3900, "cos_ratio": 1500, "imgs": []}
    bad = {"product_id": "b1", "title": "Kettle", "price": 9900, "cos_ratio": 1500, "imgs": ["javascript:x"]}
    result = sync_pool(_Listing([good, bad]), None)
    (problem,) = result.problems
    assert problem.startswith("listing product b1: imgs 'javascript:x' is not an http(s) URL with a host")
    assert [p.product_id for p in load_pool()] == ["g1"] and result.stored.added == ("g1",)
    # the platform stops listing g1: it stays in the pool and is reported as no longer listed
    assert sync_pool(_Listing([bad]), None).stale == ("g1",)


class _Platform(_Listing):
    """A platform on loopback (as the sandbox is) whose items point at media there and elsewhere."""

    def __init__(self, items: list[Mapping[str, Any]], base_url: str) -> None:
        super().__init__(items)
        self.base_url = base_url

    def media_origins(self) -> tuple[str, ...]:
        return (self.base_url,)


def test_media_urls_from_platform_data_are_fetched_like_any_untrusted_url(
    data_dir: Path, local_http: LocalServer, tmp_path: Path
) -> None:
    ok, jpeg = cv2.imencode(".jpg", np.full((40, 60, 3), 128, np.uint8))
    assert ok
    with contextlib.contextmanager(serve_local)() as intranet:
        for server in (local_http, intranet):
            server.routes["/a.jpg"] = bytes_route(bytes(jpeg), "image/jpeg")
        local_http.routes["/page.jpg"] = bytes_route(b"<html>sign in</html>", "text/html")
        local_http.routes["/hop.jpg"] = redirect_route(intranet.url("/a.jpg"))
        imgs = [
            local_http.url("/a.jpg"),
            intranet.url("/a.jpg"),
            local_http.url("/page.jpg"),
            local_http.url("/hop.jpg"),
        ]
        item = {"product_id": "p1", "title": "Tea cup", "price": 3900, "cos_ratio": 1500, "imgs": imgs}
        media_dir = tmp_path / "media"
        # the platform's own origin is fetched although it is loopback; another loopback port is not, not even
        # through a redirect from the platform, and a page is not kept as an image
        result = sync_pool(_Platform([item], local_http.url("/")), media_dir)
        assert intranet.seen == []
        assert pool_media()["p1"].keys() == {imgs[0]} and result.media_downloaded == 1
        problems = dict(p.split(": ", 2)[1:] for p in result.problems)
        assert problems.keys() == set(imgs[1:]), result.problems
        assert problems[imgs[1]].startswith("refused: 127.0.0.1 is not a public address")
        assert "text/html, not an image" in problems[imgs[2]]
        assert problems[imgs[3]].startswith(f"refused: redirected to {intranet.url('/a.jpg')}, which is not a public")
        # the operator's MCN_FETCH_ALLOW_PRIVATE (the fetch options) lets the intranet through
        allowed = FetchOptions(allow_private=True, timeout_seconds=5.0)
        result = sync_pool(_Platform([item], local_http.url("/")), media_dir, fetch=allowed)
        assert pool_media()["p1"].keys() == {imgs[0], imgs[1], imgs[3]}, result.problems
        assert len(intranet.seen) == 2 and result.media_cached == 1
