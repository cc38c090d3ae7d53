"""Download a source URL into the data dir, with a size limit and one-line errors."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlparse

import httpx

from clipper.errors import DownloadError
from clipper.media import SUPPORTED_SUFFIXES


def is_url(source: str) -> bool:
    return urlparse(source).scheme in ("http", "https")


def download(
    url: str,
    dest_dir: Path,
    *,
    max_bytes: int,
    timeout: float = 60.0,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> Path:
    """Fetch ``url`` into ``dest_dir``; return the local path.

    The file name keeps the URL's suffix (when it is a video suffix) and a hash of the URL, so re-running a batch
    does not download twice. A 4xx/5xx, a Content-Length over ``max_bytes`` or a body that grows past it, and
    network errors raise :class:`DownloadError` naming the URL; a partial download is removed.
    """
    parsed = urlparse(url)
    suffix = Path(unquote(parsed.path)).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        suffix = ".mp4"
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / f"{hashlib.sha256(url.encode()).hexdigest()[:16]}{suffix}"
    if dest.exists() and dest.stat().st_size > 0:
        return dest
    part = dest.with_name(dest.name + ".part")
    try:
        with httpx.stream("GET", url, follow_redirects=True, timeout=timeout) as response:
            if response.status_code >= 400:
                raise DownloadError(url, f"HTTP {response.status_code} {response.reason_phrase}")
            declared = response.headers.get("content-length")
            total = int(declared) if declared and declared.isdigit() else None
            if total is not None and total > max_bytes:
                raise DownloadError(url, f"too large ({total} bytes; the limit is {max_bytes})")
            received = 0
            with part.open("wb") as fh:
                for chunk in response.iter_bytes(1 << 20):
                    received += len(chunk)
                    if received > max_bytes:
                        raise DownloadError(url, f"too large (over the {max_bytes}-byte limit)")
                    fh.write(chunk)
                    if on_progress is not None:
                        on_progress(received, total)
    except httpx.HTTPError as exc:
        part.unlink(missing_ok=True)
        raise DownloadError(url, f"download failed ({type(exc).__name__}: {exc})") from None
    except DownloadError:
        part.unlink(missing_ok=True)
        raise
    if received == 0:
        part.unlink(missing_ok=True)
        raise DownloadError(url, "server returned an empty body")
    part.replace(dest)
    return dest
