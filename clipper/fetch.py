"""Download a source URL into the data dir, with a size limit, an overall deadline and one-line errors."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import httpx

from clipper.errors import DownloadError, MediaError
from clipper.media import SUPPORTED_SUFFIXES, probe
from clipper.urls import redact_text, redact_url

__all__ = ["FetchOptions", "download", "is_url"]


@dataclass(frozen=True, slots=True)
class FetchOptions:
    """Limits of one download.

    ``max_bytes`` caps the body (a declared Content-Length over it fails before any byte is read);
    ``deadline_seconds`` caps the whole transfer, connecting included: a server that trickles one byte now and
    then never trips a per-read timeout, so only an overall deadline stops it; ``timeout_seconds`` is the
    per-connect/per-read timeout inside that.
    """

    max_bytes: int = 8 * 1024**3
    deadline_seconds: float = 3600.0
    timeout_seconds: float = 60.0


# Content types that are never a video: refused from the headers, before the body is read. Anything else is
# downloaded and probed (servers label video files loosely: octet-stream, text/vnd.trolltech.linguist for .ts).
_NOT_MEDIA_TYPES = frozenset({"text/html", "application/xhtml+xml", "application/json"})


class _RedactURLs(logging.Filter):
    """httpx logs every request's URL at INFO ("HTTP Request: GET https://...?token=..."): redact it there too,
    for whoever turns httpx logging on."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_text(str(a)) if isinstance(a, httpx.URL | str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact_text(record.msg)
        return True


_HTTPX_LOG = logging.getLogger("httpx")
if not any(isinstance(f, _RedactURLs) for f in _HTTPX_LOG.filters):
    _HTTPX_LOG.addFilter(_RedactURLs())


def is_url(source: str) -> bool:
    return urlparse(source).scheme in ("http", "https")


class _Deadline:
    """Aborts the transfer when the deadline passes, wherever it is blocked.

    httpx timeouts are per operation, so a body (or headers) trickled in small pieces would run for ever. A
    timer shuts the connection's socket down when time is up; that wakes a blocked read at once, the read fails,
    and :meth:`expired` tells the caller why. The socket comes from httpcore's documented ``trace`` extension
    (``connection.connect_tcp.complete`` returns the network stream).
    """

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._expired = False
        self._sockets: list[socket.socket] = []
        self._timer = threading.Timer(max(seconds, 0.0), self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    @property
    def expired(self) -> bool:
        return self._expired or time.monotonic() >= self.end

    def remaining(self) -> float:
        return max(self.end - time.monotonic(), 0.0)

    def trace(self, event: str, info: dict[str, Any]) -> None:
        if event != "connection.connect_tcp.complete":
            return
        sock = info["return_value"].get_extra_info("socket")
        if isinstance(sock, socket.socket):
            with self._lock:
                self._sockets.append(sock)
                if self._expired:
                    _shutdown(sock)

    def _expire(self) -> None:
        with self._lock:
            self._expired = True
            for sock in self._sockets:
                _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def download(
    url: str,
    dest_dir: Path,
    options: FetchOptions | None = None,
    *,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> Path:
    """Fetch ``url`` into ``dest_dir``; return the local path.

    The file name keeps the URL's suffix (when it is a video suffix) and a hash of the URL, so re-running a batch
    does not download twice. A 4xx/5xx, a Content-Length over ``max_bytes`` or a body that grows past it, a
    transfer still running at the deadline and network errors raise :class:`DownloadError` naming the URL.

    The body goes to a uniquely named ``.part`` file next to the destination and is renamed only when complete
    and probed as usable media (so an error page answered with 200 is never cached); the ``.part`` file is
    removed on every other way out, Ctrl-C and termination signals (that Prefect turns into exceptions)
    included. A web page (``text/html``) is refused from its headers. Errors name the URL, never the cache file.
    """
    options = options or FetchOptions()
    shown = redact_url(url)  # every message names this form: no credentials, no token values
    parsed = urlparse(url)
    suffix = Path(unquote(parsed.path)).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        suffix = ".mp4"
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / f"{hashlib.sha256(url.encode()).hexdigest()[:16]}{suffix}"
    if dest.exists():
        try:
            probe(dest)
            return dest
        except MediaError:
            dest.unlink(missing_ok=True)  # cached before downloads were probed, or damaged since: fetch again
    _sweep_stale_parts(dest_dir, options.deadline_seconds)
    fd, part_name = tempfile.mkstemp(dir=dest_dir, prefix=dest.name + ".", suffix=".part")
    part = Path(part_name)
    done = False
    try:
        with os.fdopen(fd, "wb") as fh, _Deadline(options.deadline_seconds) as deadline:
            try:
                _transfer(url, shown, fh, options, deadline, on_progress)
            except httpx.HTTPError as exc:
                if deadline.expired:
                    raise _deadline_error(shown, options) from None
                detail = redact_text(str(exc)).replace(url, shown)
                raise DownloadError(shown, f"download failed ({type(exc).__name__}: {detail})") from None
            if deadline.expired:
                raise _deadline_error(shown, options)
        if part.stat().st_size == 0:
            raise DownloadError(shown, "server returned an empty body")
        try:
            probe(part)
        except MediaError as exc:
            raise DownloadError(shown, f"downloaded file is not usable media: {exc.problem}") from None
        part.replace(dest)
        done = True
    finally:
        if not done:
            part.unlink(missing_ok=True)
    return dest


def _sweep_stale_parts(dest_dir: Path, deadline_seconds: float) -> None:
    """Remove ``.part`` files left by a process killed outright (kill -9 runs no cleanup). One untouched for
    longer than the deadline cannot belong to a live download: that one writes as it goes, or has been stopped."""
    cutoff = time.time() - max(deadline_seconds, 60.0) - 60.0
    for stale in dest_dir.glob("*.part"):
        with contextlib.suppress(OSError):
            if stale.stat().st_mtime < cutoff:
                stale.unlink()


def _deadline_error(url: str, options: FetchOptions) -> DownloadError:
    return DownloadError(
        url, f"not finished within the {options.deadline_seconds:g} s download deadline (MCN_DOWNLOAD_DEADLINE_SECONDS)"
    )


def _transfer(
    url: str,
    shown: str,
    fh: Any,
    options: FetchOptions,
    deadline: _Deadline,
    on_progress: Callable[[int, int | None], None] | None,
) -> None:
    max_bytes = options.max_bytes
    timeout = httpx.Timeout(min(options.timeout_seconds, max(deadline.remaining(), 0.001)))
    extensions = {"trace": deadline.trace}
    with (
        httpx.Client(follow_redirects=True, timeout=timeout) as client,
        client.stream("GET", url, extensions=extensions) as response,
    ):
        if response.status_code >= 400:
            raise DownloadError(shown, f"HTTP {response.status_code} {response.reason_phrase}")
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type in _NOT_MEDIA_TYPES:
            raise DownloadError(shown, f"the server answered with {content_type}, not a video (a login or error page?)")
        declared = response.headers.get("content-length")
        total = int(declared) if declared and declared.isdigit() else None
        if total is not None and total > max_bytes:
            raise DownloadError(shown, f"too large ({total} bytes; the limit is {max_bytes})")
        received = 0
        for chunk in response.iter_bytes(1 << 20):
            if deadline.expired:
                raise _deadline_error(shown, options)
            received += len(chunk)
            if received > max_bytes:
                raise DownloadError(shown, f"too large (over the {max_bytes}-byte limit)")
            fh.write(chunk)
            if on_progress is not None:
                on_progress(received, total)
