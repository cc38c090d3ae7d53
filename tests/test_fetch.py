"""Source downloads against a real local HTTP server: deadline, cleanup, what gets cached, secrets, SSRF."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import socket
import threading
import time
from pathlib import Path

import pytest

from clipper import fetch
from clipper.errors import DownloadError
from clipper.fetch import FetchOptions, download
from clipper.media import probe
from tests.helpers import lavfi_video
from tests.http_support import (
    LocalServer,
    bytes_route,
    file_route,
    local_http,
    redirect_route,
    self_signed_certificate,
    serve_local,
    trickle_route,
)

__all__ = ["local_http"]  # the fixture, imported for pytest


def _options(**kw: float) -> FetchOptions:
    """The test servers listen on 127.0.0.1: allowed explicitly, as for an intranet."""
    return FetchOptions(**{"allow_private": True, **kw})  # type: ignore[arg-type]


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


# --- non-public addresses (SSRF) ---------------------------------------------------------------------------------


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Names the resolver answers (patched at clipper.fetch.resolve_host); any other name does not resolve."""
    table: dict[str, list[str]] = {}

    def resolve(host: str, port: int) -> list[fetch.IPAddress]:
        return [ipaddress.ip_address(a) for a in table.get(host, [])]

    monkeypatch.setattr(fetch, "resolve_host", resolve)
    return table


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_non_public_addresses_are_refused_by_default_with_one_line_whatever_the_port_state(
    tmp_path: Path, local_http: LocalServer, fake_dns: dict[str, list[str]], small_mp4: Path
) -> None:
    local_http.routes["/v.mp4"] = file_route(small_mp4)
    fake_dns["videos.example.com"] = ["127.0.0.1"]  # a public-looking name pointing inside
    fake_dns["mixed.example.com"] = ["93.184.216.34", "10.0.0.8"]  # one bad answer is enough
    port = local_http.port
    urls = {
        f"http://127.0.0.1:{port}/v.mp4": "127.0.0.1 is",  # something answers here ...
        f"http://127.0.0.1:{_closed_port()}/v.mp4": "127.0.0.1 is",  # ... and nothing here: same message
        "http://169.254.169.254/latest/meta-data/iam/": "169.254.169.254 is",
        "http://10.1.2.3:8080/v.mp4": "10.1.2.3 is",
        "http://192.168.0.10/v.mp4": "192.168.0.10 is",
        "http://100.64.0.1/v.mp4": "100.64.0.1 is",
        "http://0.0.0.0:22/": "0.0.0.0 is",
        f"http://[::1]:{port}/v.mp4": "::1 is",
        "http://[::ffff:127.0.0.1]/v.mp4": "::ffff:127.0.0.1 is",
        "http://[fe80::1]/v.mp4": "fe80::1 is",
        f"http://videos.example.com:{port}/v.mp4": "videos.example.com resolves to 127.0.0.1, which is",
        "https://mixed.example.com/v.mp4": "mixed.example.com resolves to 10.0.0.8, which is",
    }
    dest = tmp_path / "sources"
    messages = []
    for url, what in urls.items():
        with pytest.raises(DownloadError) as err:
            download(url, dest, FetchOptions(timeout_seconds=2.0, deadline_seconds=5.0))
        message = str(err.value)
        assert message == (
            f"{url}: refused: {what} not a public address (loopback, private, link-local or reserved); "
            "set MCN_FETCH_ALLOW_PRIVATE=1 to fetch from your own network"
        ), message
        messages.append(message.removeprefix(f"{url}: "))
    assert messages[0] == messages[1]
    assert local_http.seen == [] and list(dest.iterdir()) == []


def test_each_redirect_hop_is_checked_and_credentials_stay_with_their_origin(
    tmp_path: Path,
    local_http: LocalServer,
    fake_dns: dict[str, list[str]],
    small_mp4: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Pretend the test server (127.0.0.1) is a public host; every other address keeps the real check.
    real_check = fetch.is_public_address
    monkeypatch.setattr(fetch, "is_public_address", lambda a: str(a) == "127.0.0.1" or real_check(a))
    fake_dns["cdn.example.com"] = ["127.0.0.1"]
    fake_dns["metadata.internal"] = ["169.254.169.254"]
    port = local_http.port
    local_http.routes["/to-metadata"] = redirect_route("http://169.254.169.254/latest/meta-data/")
    local_http.routes["/to-name"] = redirect_route("http://metadata.internal/latest/")
    local_http.routes["/to-loopback"] = redirect_route("http://127.0.0.2:9200/_cat/indices")
    local_http.routes["/loop"] = redirect_route("/loop")
    local_http.routes["/to-file"] = redirect_route("file:///etc/passwd")
    base = f"http://cdn.example.com:{port}"
    cases = {
        "/to-metadata": "refused: redirected to http://169.254.169.254/latest/meta-data/, which is not a public",
        "/to-name": "refused: redirected to http://metadata.internal/latest/, which resolves to 169.254.169.254",
        "/to-loopback": "refused: redirected to http://127.0.0.2:9200/_cat/indices, which is not a public",
        "/loop": "more than 5 redirects",
        "/to-file": "redirected to a file URL; only http(s) is fetched",
    }
    dest = tmp_path / "sources"
    for path, expected in cases.items():
        with pytest.raises(DownloadError) as err:
            download(base + path, dest, FetchOptions(timeout_seconds=2.0))
        assert str(err.value).startswith(f"{base}{path}: {expected}"), str(err.value)
    assert list(dest.iterdir()) == []
    # an allowed redirect is followed; the Host header names the host, the connection went to its checked
    # address (the name exists only in the patched resolver), and credentials are not sent to another origin
    with contextlib.contextmanager(serve_local)() as other:
        other.routes["/v.mp4"] = file_route(small_mp4)
        local_http.routes["/moved.mp4"] = redirect_route(other.url("/v.mp4"), 301)
        local_http.routes["/same.mp4"] = redirect_route("/v-final.mp4", 307)
        local_http.routes["/v-final.mp4"] = file_route(small_mp4)
        got = download(f"http://me:pw@cdn.example.com:{port}/moved.mp4", dest, FetchOptions(timeout_seconds=5.0))
        assert probe(got).duration > 1.5
        download(f"http://me:pw@cdn.example.com:{port}/same.mp4", dest, FetchOptions(timeout_seconds=5.0))
    hops = {path: headers for path, headers in local_http.seen + other.seen}
    assert hops["/moved.mp4"]["Host"] == f"cdn.example.com:{port}" and "Authorization" in hops["/moved.mp4"]
    assert "Authorization" not in hops["/v.mp4"]
    assert "Authorization" in hops["/v-final.mp4"]


def test_private_addresses_are_fetched_when_allowed(
    tmp_path: Path, local_http: LocalServer, fake_dns: dict[str, list[str]], small_mp4: Path
) -> None:
    local_http.routes["/v.mp4"] = file_route(small_mp4)
    local_http.routes["/hop"] = redirect_route("/v.mp4")
    fake_dns["nas.lan"] = ["127.0.0.1"]
    allowed = FetchOptions(allow_private=True, timeout_seconds=5.0)
    for url in (local_http.url("/v.mp4"), f"http://nas.lan:{local_http.port}/hop"):
        assert probe(download(url, tmp_path / "sources", allowed)).duration > 1.5
    with contextlib.contextmanager(serve_local)("::1") as v6:
        v6.routes["/v.mp4"] = file_route(small_mp4)
        assert probe(download(v6.url("/v.mp4"), tmp_path / "sources", allowed)).duration > 1.5


def test_https_goes_to_the_checked_address_and_still_verifies_the_host_name(
    tmp_path: Path, fake_dns: dict[str, list[str]], small_mp4: Path
) -> None:
    cert, key = self_signed_certificate(tmp_path, "videos.internal.example")
    fake_dns["videos.internal.example"] = fake_dns["wrong-name.example"] = ["127.0.0.1"]
    options = FetchOptions(allow_private=True, timeout_seconds=5.0, ca_file=str(cert))
    with contextlib.contextmanager(serve_local)("127.0.0.1", tls=(cert, key)) as server:
        server.routes["/v.mp4"] = file_route(small_mp4)
        url = server.url("/v.mp4", netloc=f"videos.internal.example:{server.port}")
        assert probe(download(url, tmp_path / "sources", options)).duration > 1.5
        # same address, a name the certificate does not cover: TLS refuses it
        wrong = server.url("/v.mp4", netloc=f"wrong-name.example:{server.port}")
        with pytest.raises(DownloadError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
            download(wrong, tmp_path / "sources", options)
    assert [path for path, _ in server.seen] == ["/v.mp4"]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://[::1/v.mp4", "not a valid URL (Invalid IPv6 URL)"),
        ("http://me:pw@/v.mp4", "the URL has no host"),
        ("http://no-such-host.invalid/v.mp4", "host no-such-host.invalid cannot be resolved"),
    ],
)
def test_malformed_urls_are_one_line_download_errors(
    tmp_path: Path, fake_dns: dict[str, list[str]], url: str, problem: str
) -> None:
    with pytest.raises(DownloadError) as err:
        download(url, tmp_path / "sources", FetchOptions(timeout_seconds=5.0))
    assert str(err.value).endswith(f": {problem}") and "pw" not in str(err.value)


def _jpeg(width: int = 64, height: int = 48) -> bytes:
    import cv2
    import numpy as np

    image = np.full((height, width, 3), (40, 120, 200), np.uint8)
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return bytes(data)


def test_an_image_is_kept_only_where_an_image_is_asked_for_and_the_video_path_stays_strict(
    tmp_path: Path, local_http: LocalServer, small_mp4: Path
) -> None:
    from clipper.media import probe_image

    local_http.routes["/p.jpg"] = bytes_route(_jpeg(), "image/jpeg")
    local_http.routes["/no-suffix"] = bytes_route(_jpeg(), "application/octet-stream")
    local_http.routes["/fake.jpg"] = bytes_route(b"GIF89a not really anything", "image/jpeg")
    local_http.routes["/page.jpg"] = bytes_route(HTML, "text/html")
    local_http.routes["/v.mp4"] = file_route(small_mp4)
    dest = tmp_path / "material"
    image = _options(kind="image")  # type: ignore[arg-type]
    got = download(local_http.url("/p.jpg"), dest, image)
    assert got.suffix == ".jpg" and probe_image(got) == (64, 48)
    assert probe_image(download(local_http.url("/no-suffix"), dest, image)) == (64, 48)
    # what is not a decodable image is refused naming the URL, and nothing is kept
    for path, expected in (("/fake.jpg", "not usable media: not a readable image"), ("/page.jpg", "not an image")):
        with pytest.raises(DownloadError) as err:
            download(local_http.url(path), dest, image)
        assert str(err.value).startswith(f"{local_http.url(path)}: ") and expected in str(err.value), str(err.value)
    # a video is not an image, and an image is not a video: the default (video) path refuses the same JPEG
    with pytest.raises(DownloadError, match="not usable media"):
        download(local_http.url("/v.mp4"), dest, image)
    with pytest.raises(DownloadError, match="not usable media"):
        download(local_http.url("/p.jpg"), tmp_path / "sources", _options())
    assert not (tmp_path / "sources").exists() or list((tmp_path / "sources").iterdir()) == []
    assert sorted(p.suffix for p in dest.iterdir()) == [".image", ".jpg"]


def test_allowed_origins_let_only_that_origin_through_on_a_private_address(
    tmp_path: Path, local_http: LocalServer, small_mp4: Path
) -> None:
    dest = tmp_path / "sources"
    with contextlib.contextmanager(serve_local)() as other:
        other.routes["/v.mp4"] = file_route(small_mp4)
        local_http.routes["/v.mp4"] = file_route(small_mp4)
        local_http.routes["/to-other"] = redirect_route(other.url("/v.mp4"))
        local_http.routes["/same"] = redirect_route("/v.mp4")
        # the origin as configured (a path, upper case, a trailing slash) matches the URL's origin
        platform = FetchOptions(timeout_seconds=5.0, allow_origins=(f"HTTP://127.0.0.1:{local_http.port}/api/",))
        assert probe(download(local_http.url("/v.mp4"), dest, platform)).duration > 1.5
        assert probe(download(local_http.url("/same"), dest, platform)).duration > 1.5
        # the same address on another port, and a redirect there, stay refused
        for url in (other.url("/v.mp4"), local_http.url("/to-other")):
            with pytest.raises(DownloadError, match="not a public address") as err:
                download(url, dest, platform)
            assert str(err.value).startswith(f"{url}: refused"), str(err.value)
        assert other.seen == []
