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
from tests.http_support import LocalServer, local_http, trickle_route

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
