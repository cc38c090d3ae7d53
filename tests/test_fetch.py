"""Source downloads against a real local HTTP server: deadline, cleanup, what gets cached, secrets, SSRF."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from clipper.errors import DownloadError
from clipper.fetch import FetchOptions, download
from clipper.media import probe
from tests.helpers import lavfi_video
from tests.http_support import LocalServer, file_route, local_http, trickle_route

__all__ = ["local_http"]  # the fixture, imported for pytest


def _options(**kw: float) -> FetchOptions:
    return FetchOptions(**kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("every", "headers_too"),
    [(0.1, False), (0.1, True), (5.0, False)],
    ids=["body-trickle", "header-trickle", "long-silence"],
)
def test_trickling_server_fails_at_the_deadline_naming_the_url_and_leaves_no_part(
    tmp_path: Path, local_http: LocalServer, every: float, headers_too: bool
) -> None:
    local_http.routes["/slow.mp4"] = trickle_route(every, headers_too=headers_too)
    url = local_http.url("/slow.mp4")
    dest = tmp_path / "sources"
    parts: list[list[Path]] = []
    # what the download dir held half-way: the transfer was under way in a .part file
    watcher = threading.Timer(0.8, lambda: parts.append(list(dest.glob("*.part"))))
    watcher.start()
    started = time.monotonic()
    with pytest.raises(DownloadError) as err:
        download(url, dest, _options(deadline_seconds=1.5, timeout_seconds=60.0))
    elapsed = time.monotonic() - started
    watcher.join()
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{url}: ") and "deadline" in message, message
    # the per-read timeout (60 s) never fires here: only the overall deadline ends it, and promptly
    assert 1.4 <= elapsed < 3.0, elapsed
    assert parts and parts[0], "the transfer had not started a .part file"
    assert list(dest.iterdir()) == []


def test_ctrl_c_during_a_download_removes_the_part_file(tmp_path: Path, local_http: LocalServer) -> None:
    local_http.routes["/slow.mp4"] = trickle_route(0.05)
    dest = tmp_path / "sources"
    seen: list[Path] = []

    def interrupt() -> None:
        seen.extend(dest.glob("*.part"))
        os.kill(os.getpid(), signal.SIGINT)

    timer = threading.Timer(0.8, interrupt)
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        download(local_http.url("/slow.mp4"), dest, _options(deadline_seconds=30.0))
    timer.join()
    assert seen, "the download had not started a .part file"
    assert list(dest.iterdir()) == []


def test_part_files_left_by_a_killed_process_are_swept_once_past_the_deadline(
    tmp_path: Path, local_http: LocalServer
) -> None:
    dest = tmp_path / "sources"
    dest.mkdir()
    old, recent = dest / "a.mp4.1.part", dest / "b.mp4.2.part"
    old.write_bytes(b"x")
    recent.write_bytes(b"x")
    hours_ago = time.time() - 3 * 3600
    os.utime(old, (hours_ago, hours_ago))
    with pytest.raises(DownloadError, match="404"):
        download(local_http.url("/missing.mp4"), dest, _options(deadline_seconds=3600.0))
    assert sorted(p.name for p in dest.iterdir()) == [recent.name]


@pytest.fixture(scope="module")
def small_mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two seconds of lavfi picture and tone: real media for the server to answer with."""
    path = tmp_path_factory.mktemp("fetch-media") / "real.mp4"
    return lavfi_video(path, "testsrc=s=160x120:r=10:d=2", "sine=f=440:r=16000:d=2")


HTML = b"<!doctype html><html><head><title>Sign in</title></head><body>Please log in</body></html>\n"


@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", "video/mp4"])
def test_a_web_page_answered_with_200_is_refused_naming_the_url_and_never_cached(
    tmp_path: Path, local_http: LocalServer, small_mp4: Path, content_type: str
) -> None:
    body = tmp_path / "body"
    body.write_bytes(HTML)
    local_http.routes["/v.mp4"] = file_route(body, content_type)
    url = local_http.url("/v.mp4")
    dest = tmp_path / "sources"
    with pytest.raises(DownloadError) as err:
        download(url, dest, _options())
    message = str(err.value)
    assert message.startswith(f"{url}: ") and "\n" not in message, message
    assert ("text/html" in message) if content_type.startswith("text/html") else ("not usable media" in message)
    assert str(dest) not in message
    assert list(dest.iterdir()) == []
    # the same URL now answers with a video: fetched anew (nothing bad was kept), and it probes
    body.write_bytes(small_mp4.read_bytes())
    local_http.routes["/v.mp4"] = file_route(body, "video/mp4")
    got = download(url, dest, _options())
    assert probe(got).duration > 1.5
    assert [p.name for p in dest.iterdir()] == [got.name]


def test_a_bad_file_cached_before_probing_existed_is_fetched_again(
    tmp_path: Path, local_http: LocalServer, small_mp4: Path
) -> None:
    dest = tmp_path / "sources"
    local_http.routes["/v.mp4"] = file_route(small_mp4)
    url = local_http.url("/v.mp4")
    first = download(url, dest, _options())
    first.write_bytes(HTML)  # what older versions kept for good
    again = download(url, dest, _options())
    assert again == first and probe(again).duration > 1.5
    assert sum(1 for path, _ in local_http.seen if path == "/v.mp4") == 2


def test_download_errors_name_the_url_without_credentials_or_token_values(
    tmp_path: Path, local_http: LocalServer
) -> None:
    port = local_http.port
    url = local_http.url("/v.mp4?token=tok-1&n=2", netloc=f"me:pw-secret@127.0.0.1:{port}")
    with pytest.raises(DownloadError) as err:
        download(url, tmp_path / "sources", _options())
    assert str(err.value) == f"http://***@127.0.0.1:{port}/v.mp4?token=***&n=2: HTTP 404 Not Found"
    # the server did get them
    (path, headers), *_ = local_http.seen
    assert path == "/v.mp4?token=tok-1&n=2" and headers["Authorization"].startswith("Basic ")
