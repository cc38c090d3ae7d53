"""``mcn clips review --web``: the review page in real Chromium (Playwright), its media served with range
requests, and its guards (CSRF token on every POST, loopback Host only, no path traversal, one-line errors)."""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from mcn import labels_store
from mcn.browser import launch_chromium
from mcn.labels_store import read_clips_folder
from mcn.review_web import ReviewApp, create_review_app
from sandbox.server import serve_in_thread
from tests.labels_support import SOURCE, make_clips_folder, make_video


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("review-media") / "clip.mp4", seconds=3.0)


@pytest.fixture
def folder(tmp_path: Path, video: Path) -> Path:
    return make_clips_folder(tmp_path / "out", video)


@pytest.fixture
def review(folder: Path, data_dir: Path) -> ReviewApp:
    del data_dir  # labels go to this test's own SQLite database
    return create_review_app(read_clips_folder(folder), "li.na")


@pytest.fixture
def base_url(review: ReviewApp) -> Iterator[str]:
    with serve_in_thread(review.app) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = launch_chromium(p)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, base_url: str) -> Iterator[Page]:
    context = browser.new_context(base_url=base_url)
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def tid(name: str) -> str:
    return f'[data-testid="{name}"]'


def test_review_page_plays_video_edits_kind_and_verdict_and_saves(page: Page) -> None:
    page.goto("/")
    expect(page.locator(tid("source"))).to_have_text(SOURCE)
    clips = page.locator("section.clip")
    expect(clips).to_have_count(2)
    assert clips.first.get_attribute("data-testid") == "clip-c01"  # best first

    video = page.locator(tid("video-c01"))
    page.wait_for_function("v => v.readyState >= 1 && v.duration > 0", arg=video.element_handle(), timeout=15_000)
    duration = video.evaluate("v => v.duration")
    assert 2.5 < duration < 3.6
    # play it for real (muted: headless autoplay rules) and see the playhead move
    video.evaluate("v => { v.muted = true; return v.play(); }")
    page.wait_for_function("v => v.currentTime > 0.3", arg=video.element_handle(), timeout=15_000)
    # seeking needs range requests; the player asks for the part it needs
    video.evaluate("v => { v.currentTime = 2.0; }")
    page.wait_for_function("v => !v.seeking && v.currentTime >= 2.0", arg=video.element_handle(), timeout=15_000)

    # transcript with kinds: sentence 3 is unclassified in transcript.json, so it starts as the pipeline's guess
    kind = page.locator(tid("kind-c01-3"))
    expect(kind).to_have_value("selling")
    expect(page.locator(tid("kind-c01-4"))).to_have_value("price")
    kind.select_option("chatter")
    page.check(tid("bad-c01"))
    page.fill(tid("reason-c01"), "价格句混在卖点里")
    page.fill(tid("first-c01"), "3")
    page.click(tid("save-c01"))
    expect(page.locator(tid("saved"))).to_have_text("saved c01")
    expect(page.locator(tid("kind-c01-3"))).to_have_value("chatter")
    expect(page.locator(tid("bad-c01"))).to_be_checked()
    expect(page.locator(tid("first-c01"))).to_have_value("3")

    labels = labels_store.load_source_labels(SOURCE)
    assert labels is not None and labels.annotator == "li.na" and labels.updated_at
    assert labels.kinds()[3] == "chatter"
    assert [(v.clip_id, v.first_sentence, v.last_sentence, v.good, v.reason) for v in labels.clips] == [
        ("c01", 3, 4, False, "价格句混在卖点里")
    ]

    # the other clip: good, and a bad input gives one clear line
    page.fill(tid("first-c02"), "7")
    page.fill(tid("last-c02"), "6")
    page.check(tid("bad-c02"))
    page.click(tid("save-c02"))
    expect(page.locator(tid("error"))).to_have_text(
        "error: clip c02: boundaries must satisfy 0 <= first <= last <= 8 (got 7..6)"
    )
    page.go_back()
    page.fill(tid("first-c02"), "6")
    page.check(tid("good-c02"))
    page.fill(tid("last-c02"), "8")
    page.click(tid("save-c02"))
    expect(page.locator(tid("saved"))).to_have_text("saved c02")
    labels = labels_store.load_source_labels(SOURCE)
    assert labels is not None
    assert {v.clip_id: (v.good, v.last_sentence) for v in labels.clips} == {"c01": (False, 4), "c02": (True, 8)}


def _form(review: ReviewApp, **extra: str) -> dict[str, str]:
    return {"csrf_token": review.csrf_token, "clip_id": "c01", "first": "2", "last": "4", **extra}


def test_posts_need_the_token_a_loopback_host_and_good_input(review: ReviewApp, base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        no_token = {k: v for k, v in _form(review, verdict="good").items() if k != "csrf_token"}
        refused = client.post("/save", data=no_token)
        assert refused.status_code == 403 and "csrf_token: missing or wrong" in refused.text
        refused = client.post("/save", data={**no_token, "csrf_token": "guess"})
        assert refused.status_code == 403
        assert labels_store.load_source_labels(SOURCE) is None  # nothing stored

        # the header works as well as the field; a foreign Origin or Host is refused even with the token
        ok = client.post("/save", data=no_token, headers={"X-CSRF-Token": review.csrf_token})
        assert ok.status_code == 303 and ok.headers["location"].startswith("/?saved=c01")
        foreign = client.post("/save", data=_form(review), headers={"Origin": "http://evil.example"})
        assert foreign.status_code == 403 and "cross-site" in foreign.text
        rebound = client.get("/", headers={"Host": "evil.example:8710"})
        assert rebound.status_code == 400 and "127.0.0.1 only" in rebound.text

        for data, message in [
            (_form(review, **{"kind-3": "hello"}), "kind-3: 'hello' is not one of"),
            (_form(review, **{"kind-x": "selling"}), "kind-x: 'x' must be a whole number"),
            (_form(review, verdict="bad"), "clip c01: a bad clip needs a reason"),
            (_form(review, verdict="meh"), "verdict: 'meh' must be good or bad"),
            (_form(review, first="one"), "first: 'one' must be a whole number"),
            (_form(review, clip_id="c99"), "no clip 'c99'"),
        ]:
            bad = client.post("/save", data=data)
            assert bad.status_code == 400, data
            error = [html.unescape(ln) for ln in bad.text.splitlines() if 'data-testid="error"' in ln]
            assert len(error) == 1 and message in error[0], bad.text
        stored = labels_store.load_source_labels(SOURCE)
        assert stored is not None and [v.good for v in stored.clips] == [True]


def test_media_is_served_with_ranges_and_only_from_the_folder(
    review: ReviewApp, base_url: str, folder: Path, tmp_path: Path
) -> None:
    size = (folder / "c01.mp4").stat().st_size
    (tmp_path / "secret.txt").write_text("secret", encoding="utf-8")
    with httpx.Client(base_url=base_url, timeout=10) as client:
        whole = client.get("/media/c01.mp4")
        assert whole.status_code == 200 and len(whole.content) == size
        assert whole.headers["content-type"] == "video/mp4" and whole.headers["accept-ranges"] == "bytes"
        part = client.get("/media/c01.mp4", headers={"Range": "bytes=100-199"})
        assert part.status_code == 206 and part.content == whole.content[100:200]
        assert part.headers["content-range"] == f"bytes 100-199/{size}"
        for path in ("/media/..%2Fsecret.txt", "/media/%2e%2e/secret.txt", "/media/clips.json", "/media/c03.mp4"):
            refused = client.get(path)
            assert refused.status_code == 404 and "secret" not in refused.text.replace("secret.txt", ""), path


def test_a_clips_json_path_leaving_the_folder_is_not_served(folder: Path, data_dir: Path, tmp_path: Path) -> None:
    del data_dir
    (tmp_path / "private.mp4").write_bytes(b"private bytes")
    manifest = json.loads((folder / "clips.json").read_text(encoding="utf-8"))
    manifest["clips"][0]["path"] = "../private.mp4"
    (folder / "clips.json").write_text(json.dumps(manifest), encoding="utf-8")
    review = create_review_app(read_clips_folder(folder), "li.na")
    with serve_in_thread(review.app) as url, httpx.Client(base_url=url, timeout=10) as client:
        refused = client.get("/media/../private.mp4")
        assert refused.status_code == 404 and b"private bytes" not in refused.content
        refused = client.get("/media/..%2Fprivate.mp4")
        assert refused.status_code == 404 and "outside" in refused.text
