"""The make-remix flow under Prefect's test harness, and ``mcn remix make`` end to end."""

from __future__ import annotations

import functools
import http.server
import json
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from clipper.ffmpeg import locate_ffmpeg
from clipper.media import probe
from mcn.db import get_engine
from mcn.tables import ClipRecord, RunFailure, RunRecord
from tests.http_support import LocalServer, bytes_route, file_route, local_http, redirect_route

__all__ = ["local_http"]  # the fixture, imported for pytest


@pytest.fixture(scope="module")
def material(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("flow-material")
    for name, colour in (("a.png", (150, 80, 40)), ("b.jpg", (60, 110, 30))):
        image = np.zeros((700, 700, 3), np.uint8)
        image[:] = colour
        cv2.circle(image, (350, 350), 160, (200, 200, 80), -1)
        cv2.imwrite(str(root / name), image)
    lavfi = ("-f", "lavfi", "-i", "testsrc2=s=480x270:r=25:d=4")
    encode = ("-c:v", "libx264", "-pix_fmt", "yuv420p", str(root / "clip.mp4"))
    subprocess.run([locate_ffmpeg(), "-y", "-loglevel", "error", *lavfi, *encode], check=True)
    (root / "broken.mp4").write_bytes(b"junk")
    return root


@pytest.fixture(scope="module")
def image_server(material: Path) -> Iterator[str]:
    """The material folder over HTTP on loopback: product images given as URLs, as the alliance gives them."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(material))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def _products(material: Path, base_url: str) -> list[dict[str, object]]:
    return [
        {
            "product_id": "mug",
            "title": "Insulated Stainless Steel Travel Mug",
            "price": 8900,
            "coupon_price": 5990,
            "imgs": ["a.png", f"{base_url}/b.jpg", f"{base_url}/missing.png"],
            "videos": ["clip.mp4"],
            "category": "Home > Kitchen",
            "attributes": ["keeps drinks hot for 12 hours", "leak-proof lid"],
        },
        {
            "product_id": "cup",
            "title": "保温杯 316不锈钢",
            "price": 5900,
            "imgs": ["a.png"],
            "category": "家居",
            "attributes": ["12小时长效保温"],
        },
        {"product_id": "no-media", "title": "Nothing to show"},
        {"product_id": "broken", "title": "Broken Video Only", "videos": ["broken.mp4"]},
    ]


@pytest.mark.expect_error_logs  # Prefect logs the broken product's failed task state at ERROR
def test_flow_remixes_every_good_product_and_records_the_rest(
    prefect_server: None,
    data_dir: Path,
    material: Path,
    image_server: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flows.make_remix import make_remix
    from mcn.settings import get_settings

    monkeypatch.setenv("MCN_FETCH_ALLOW_PRIVATE", "1")  # the image server is on 127.0.0.1
    get_settings.cache_clear()
    products = material / "products.json"
    products.write_text(json.dumps(_products(material, image_server)), encoding="utf-8")
    out = tmp_path / "remixes"
    state = make_remix(products=str(products), out=str(out), width=540, height=960, return_state=True)
    assert state.is_completed(), state.message
    manifest = json.loads((out / "remixes.json").read_text(encoding="utf-8"))
    assert [(r["product_id"], r["language"], r["voiced"]) for r in manifest["remixes"]] == [
        ("mug", "en", True),
        ("cup", "zh", False),
    ]
    mug, cup = manifest["remixes"]
    assert any("missing.png" in n and "HTTP 404" in n for n in mug["notes"])
    assert {f["source"] for f in mug["footage"]} >= {str(material / "a.png"), str(material / "clip.mp4")}
    assert any(f["source"].startswith(str(data_dir / "material")) for f in mug["footage"])  # the fetched URL
    assert any("no zh voice" in n for n in cup["notes"])
    for remix in manifest["remixes"]:
        info = probe(out / remix["path"])
        assert (info.display_width, info.display_height) == (540, 960) and info.has_audio
        assert 15.0 <= info.duration <= 40.0 and abs(info.duration - remix["duration"]) < 0.15
        assert remix["captions"] and remix["lines"][0]["start"] == remix["captions"][0]["start"]
    reasons = [f["reason"] for f in manifest["failures"]]
    assert len(reasons) == 2
    assert "products[2]: no imgs or videos" in reasons[0]
    assert reasons[1].startswith("product broken: no usable material")
    with Session(get_engine()) as db:
        run = db.exec(select(RunRecord).where(RunRecord.kind == "make_remix")).one()
        assert run.status == "succeeded" and run.stats["remixes"] == 2 and run.stats["failed"] == 2
        failures = db.exec(select(RunFailure).where(RunFailure.run_id == run.id)).all()
        assert sorted(f.step for f in failures) == ["load", "remix"]
        assert all("\n" not in f.message for f in failures)
        # every remix is a plannable clips row: kind remix, its product material as footage, hook and title
        rows = {c.product_id: c for c in db.exec(select(ClipRecord).where(ClipRecord.run_id == run.id)).all()}
        assert set(rows) == {"mug", "cup"} and all(c.kind == "remix" for c in rows.values())
        for remix in manifest["remixes"]:
            row = rows[remix["product_id"]]
            assert row.hook == remix["hook"] and row.title == remix["title"]
            assert row.path == str(out / remix["path"]) and abs(row.duration - remix["duration"]) < 1e-3
            shown = {f"{remix['product_id']}/{Path(f['source']).name}" for f in remix["footage"]}
            assert row.footage == {"materials": sorted(shown)}


def test_material_urls_go_through_the_fetch_guard(material: Path, local_http: LocalServer, tmp_path: Path) -> None:
    """Product material URLs are user input: loopback is refused unless allowed (before any request), a page
    answered with 200 is not kept as an image, a video without sound is fine, and a note names the URL."""
    from remix.products import MATERIAL_FETCH, RemixProduct, localise_media

    local_http.routes["/b.jpg"] = file_route(material / "b.jpg", "image/jpeg")
    local_http.routes["/login.jpg"] = bytes_route(b"<html><body>please sign in</body></html>", "text/html")
    local_http.routes["/fake.png"] = bytes_route(b"not an image at all", "image/png")
    local_http.routes["/clip.mp4"] = file_route(material / "clip.mp4")  # no audio track
    local_http.routes["/hop.jpg"] = redirect_route("http://169.254.169.254/latest/meta-data/")
    urls = {name: local_http.url(f"/{name}") for name in ("b.jpg", "login.jpg", "fake.png", "clip.mp4", "hop.jpg")}
    product = RemixProduct(
        id="mug",
        title="Mug",
        images=(str(material / "a.png"), urls["b.jpg"], urls["login.jpg"], urls["fake.png"], urls["hop.jpg"]),
        videos=(urls["clip.mp4"],),
    )
    dest = tmp_path / "material"

    local, notes = localise_media(product, dest)  # the defaults: public addresses only
    assert local.images == (str(material / "a.png"),) and local.videos == ()
    assert len(notes) == 5 and all("refused" in n and "not a public address" in n for n in notes), notes
    assert local_http.seen == [] and (not dest.exists() or list(dest.iterdir()) == [])

    # the test server's origin allowed (as the pool sync allows its platform's): the rest of the guard still holds
    allowed = replace(MATERIAL_FETCH, allow_origins=(local_http.url("/"),))
    local, notes = localise_media(product, dest, allowed)
    assert local.images[0] == str(material / "a.png") and len(local.images) == 2 and len(local.videos) == 1
    assert Path(local.images[1]).parent == dest and Path(local.videos[0]).suffix == ".mp4"
    assert probe(local.videos[0], require_audio=False).has_video
    by_url = {n.split(": ", 1)[0]: n for n in notes}
    assert set(by_url) == {urls["login.jpg"], urls["fake.png"], urls["hop.jpg"]}, notes
    assert "text/html, not an image" in by_url[urls["login.jpg"]]
    assert "not a readable image" in by_url[urls["fake.png"]]
    assert "redirected to http://169.254.169.254/latest/meta-data/, which is not a public" in by_url[urls["hop.jpg"]]
    assert sorted(p.name for p in dest.iterdir()) == sorted(Path(x).name for x in (local.images[1], local.videos[0]))


@pytest.mark.expect_error_logs
def test_flow_fails_with_one_line_when_nothing_can_be_made(
    prefect_server: None, data_dir: Path, material: Path, tmp_path: Path
) -> None:
    from flows.make_remix import make_remix

    products = tmp_path / "p.json"
    products.write_text(json.dumps([{"product_id": "b", "title": "B", "videos": ["x.mp4"]}]), encoding="utf-8")
    state = make_remix(products=str(products), out=str(tmp_path / "o"), width=540, height=960, return_state=True)
    assert state.is_failed()
    assert state.message == "product b: no usable material (" + str(tmp_path / "x.mp4") + ": file not found, skipped)"
    with Session(get_engine()) as db:
        run = db.exec(select(RunRecord).where(RunRecord.kind == "make_remix")).one()
        assert run.status == "failed" and run.error == state.message


def test_cli_remix_make(prefect_server: None, data_dir: Path, material: Path, tmp_path: Path) -> None:
    from mcn.remix_cli import remix_app

    products = material / "one.json"
    products.write_text(json.dumps(_products(material, "http://127.0.0.1:9")[1:2]), encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(remix_app, [str(products), "--out", str(tmp_path / "o"), "--size", "540x960"])
    assert result.exit_code == 0, result.output
    assert "1 remixes" in result.output and (tmp_path / "o" / "cup-v0.mp4").is_file()
    missing = runner.invoke(remix_app, [str(tmp_path / "nope.json")])
    assert missing.exit_code == 2 and "nope.json: file not found" in missing.output
    bad_size = runner.invoke(remix_app, [str(products), "--size", "big"])
    assert bad_size.exit_code == 2 and "--size must be WIDTHxHEIGHT" in bad_size.output
    odd = runner.invoke(remix_app, [str(products), "--size", "541x961", "--out", str(tmp_path / "x")])
    assert odd.exit_code == 1 and "output size must be even" in odd.output and "Traceback" not in odd.output


def test_mcn_remix_make_is_registered() -> None:
    from mcn.cli import app

    result = CliRunner().invoke(app, ["remix", "make", "--help"])
    assert result.exit_code == 0 and "products_file" in result.output and "--variants" in result.output
