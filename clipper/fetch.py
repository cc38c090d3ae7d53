"""Download a source URL into the data dir, with a size limit, an overall deadline and one-line errors.

Only public addresses are fetched unless the caller allows private ones: a source URL is user input, and without
the check it could make the clip factory read internal services (cloud metadata at 169.254.169.254, admin ports
on loopback, the intranet) and keep what they answer. The host is resolved here, every address it resolves to is
checked, and the connection goes to a checked address (the URL's host is kept for the ``Host`` header and TLS:
SNI and certificate verification), so a DNS answer that changes between check and connect (rebinding) cannot
swap it. Redirects are followed here, one hop at a time, each hop checked the same way.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import ipaddress
import logging
import os
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlparse

import httpx

from clipper.errors import DownloadError, MediaError
from clipper.media import IMAGE_SUFFIXES, SUPPORTED_SUFFIXES, probe, probe_image
from clipper.urls import redact_text, redact_url

__all__ = ["FetchOptions", "MediaKind", "download", "is_public_address", "is_url", "origin_of", "resolve_host"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
MediaKind = Literal["video", "image"]


@dataclass(frozen=True, slots=True)
class FetchOptions:
    """Limits of one download.

    ``max_bytes`` caps the body (a declared Content-Length over it fails before any byte is read);
    ``deadline_seconds`` caps the whole transfer, connecting included: a server that trickles one byte now and
    then never trips a per-read timeout, so only an overall deadline stops it; ``timeout_seconds`` is the
    per-connect/per-read timeout inside that. ``allow_private`` lets loopback, private, link-local and other
    non-public addresses through (an operator pulling from their own intranet); ``max_redirects`` bounds the
    hops; ``ca_file`` adds a CA bundle to trust (an intranet's own CA) instead of the public ones.

    ``allow_origins`` lets through only the named origins (``scheme://host[:port]``) whatever their address: a
    service the operator configured, such as the platform a product pool is synced from, when it runs on loopback
    (the sandbox) or the intranet; every other non-public address stays refused, and a redirect is checked anew.
    ``kind`` is what the file must probe as before it is kept: ``video`` (a container with a video stream, and an
    audio track unless ``require_audio`` is off) or ``image`` (a still that decodes: JPEG, PNG, WebP, BMP).
    """

    max_bytes: int = 8 * 1024**3
    deadline_seconds: float = 3600.0
    timeout_seconds: float = 60.0
    allow_private: bool = False
    max_redirects: int = 5
    ca_file: str | None = None
    allow_origins: tuple[str, ...] = ()
    kind: MediaKind = "video"
    require_audio: bool = True


# Content types that are never a video or an image: refused from the headers, before the body is read. Anything else is
# downloaded and probed (servers label video files loosely: octet-stream, text/vnd.trolltech.linguist for .ts).
_NOT_MEDIA_TYPES = frozenset({"text/html", "application/xhtml+xml", "application/json"})
_ARTICLE = {"video": "a video", "image": "an image"}


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
    return source.split(":", 1)[0].lower() in ("http", "https") and "://" in source


def origin_of(url: str | httpx.URL) -> str:
    """``scheme://host:port`` of ``url`` (lower case, default port filled in): what :attr:`FetchOptions.allow_origins`
    entries are compared as, so ``http://Sandbox:80/api`` and ``http://sandbox`` are one origin.

    Raises:
        ValueError: ``url`` is not an http(s) URL with a host.
    """
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ValueError(f"not a valid URL ({exc})") from None
    if parsed.scheme not in ("http", "https") or not parsed.raw_host:
        raise ValueError("not an http(s) URL with a host")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return f"{parsed.scheme}://{parsed.raw_host.decode('ascii').lower()}:{port}"


def resolve_host(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to for a TCP connection, in the resolver's order of preference."""
    found: list[IPAddress] = []
    for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        if address not in found:
            found.append(address)
    return found


_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def is_public_address(address: IPAddress) -> bool:
    """Whether ``address`` is a public unicast address: not loopback, private, link-local, shared (CGNAT),
    reserved, multicast or unspecified, and not an IPv6 form that embeds such an IPv4 address."""
    if address.is_multicast or not address.is_global:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public_address(embedded)
    return True


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

    The file name keeps the URL's suffix (when it is a suffix of ``options.kind``) and a hash of the URL, so
    re-running a batch does not download twice. A 4xx/5xx, a Content-Length over ``max_bytes`` or a body that
    grows past it, a transfer still running at the deadline and network errors raise :class:`DownloadError`
    naming the URL.

    The body goes to a uniquely named ``.part`` file next to the destination and is renamed only when complete
    and probed as usable media of ``options.kind`` (so an error page answered with 200 is never cached, nor an
    image where a video was asked for); the ``.part`` file is removed on every other way out, Ctrl-C and
    termination signals (that Prefect turns into exceptions) included. A web page (``text/html``) is refused from
    its headers. Errors name the URL, never the cache file.
    """
    options = options or FetchOptions()
    shown = redact_url(url)  # every message names this form: no credentials, no token values
    try:
        parsed = urlparse(url)
        if not httpx.URL(url).raw_host:
            raise DownloadError(shown, "the URL has no host")
    except (ValueError, httpx.InvalidURL) as exc:
        raise DownloadError(shown, f"not a valid URL ({redact_text(str(exc))})") from None
    suffix = Path(unquote(parsed.path)).suffix.lower()
    if options.kind == "image":
        suffix = suffix if suffix in IMAGE_SUFFIXES else ".image"
    elif suffix not in SUPPORTED_SUFFIXES:
        suffix = ".mp4"
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / f"{hashlib.sha256(url.encode()).hexdigest()[:16]}{suffix}"
    if dest.exists():
        try:
            _probe(dest, options)
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
            _probe(part, options)
        except MediaError as exc:
            raise DownloadError(shown, f"downloaded file is not usable media: {exc.problem}") from None
        part.replace(dest)
        done = True
    finally:
        if not done:
            part.unlink(missing_ok=True)
    return dest


def _probe(path: Path, options: FetchOptions) -> None:
    """Raise :class:`MediaError` unless ``path`` is the kind of media the caller asked for."""
    if options.kind == "image":
        probe_image(path)
    else:
        probe(path, require_audio=options.require_audio)


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
    # trust_env off: the connection must go to the address checked here, not to a proxy from the environment.
    verify: Any = ssl.create_default_context(cafile=options.ca_file) if options.ca_file else True
    with (
        httpx.Client(follow_redirects=False, timeout=timeout, trust_env=False, verify=verify) as client,
        contextlib.closing(_open(client, url, shown, options, deadline)) as response,
    ):
        if response.status_code >= 400:
            raise DownloadError(shown, f"HTTP {response.status_code} {response.reason_phrase}")
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type in _NOT_MEDIA_TYPES:
            raise DownloadError(
                shown, f"the server answered with {content_type}, not {_ARTICLE[options.kind]} (a login or error page?)"
            )
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


def _open(client: httpx.Client, url: str, shown: str, options: FetchOptions, deadline: _Deadline) -> httpx.Response:
    """GET ``url`` and follow its redirects, each hop to a checked address; return the last hop's response with
    its body not yet read."""
    current = httpx.URL(url)
    origin = _origin(current)
    credentials = _basic_auth(current)
    for hop in range(options.max_redirects + 1):
        if current.scheme not in ("http", "https"):
            raise DownloadError(shown, f"redirected to a {current.scheme or 'relative'} URL; only http(s) is fetched")
        addresses = _checked_addresses(current, shown, options, redirected=hop > 0)
        headers = {"Host": current.netloc.decode("ascii")}
        # credentials go to the URL's own origin only, never along a redirect to another host
        auth = _basic_auth(current) or (credentials if _origin(current) == origin else None)
        if auth:
            headers["Authorization"] = auth
        response = _connect(client, current, addresses, headers, deadline)
        location = response.headers.get("location")
        if response.status_code not in (301, 302, 303, 307, 308) or not location:
            return response
        response.close()
        try:
            current = current.join(location)
        except httpx.InvalidURL:
            raise DownloadError(shown, "redirected to an invalid URL") from None
    raise DownloadError(shown, f"more than {options.max_redirects} redirects")


def _checked_addresses(url: httpx.URL, shown: str, options: FetchOptions, *, redirected: bool) -> list[IPAddress]:
    """The addresses to connect to for ``url``; a non-public one is refused unless allowed. The refusal happens
    before any connection, so its message is the same whether anything listens there or not."""
    host = url.raw_host.decode("ascii")
    literal = True
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        literal = False
        try:
            addresses = resolve_host(host, url.port or (443 if url.scheme == "https" else 80))
        except (OSError, UnicodeError):
            addresses = []
        if not addresses:
            where = f"redirected to {redact_url(str(url))}, whose host" if redirected else "host"
            raise DownloadError(shown, f"{where} {host} cannot be resolved") from None
    if options.allow_private or (options.allow_origins and _allowed_origin(url, options.allow_origins)):
        return addresses
    refused = next((a for a in addresses if not is_public_address(a)), None)
    if refused is not None:
        target = f"redirected to {redact_url(str(url))}, which" if redirected else host
        resolves = "is" if literal else f"resolves to {refused}, which is"
        raise DownloadError(
            shown,
            f"refused: {target} {resolves} not a public address (loopback, private, link-local or reserved); "
            "set MCN_FETCH_ALLOW_PRIVATE=1 to fetch from your own network",
        )
    return addresses


def _allowed_origin(url: httpx.URL, allowed: tuple[str, ...]) -> bool:
    """Whether ``url``'s origin is one of ``allowed`` (entries that do not parse allow nothing)."""
    try:
        origin = origin_of(url)
    except ValueError:
        return False
    for entry in allowed:
        with contextlib.suppress(ValueError):
            if origin_of(entry) == origin:
                return True
    return False


def _connect(
    client: httpx.Client, url: httpx.URL, addresses: list[IPAddress], headers: dict[str, str], deadline: _Deadline
) -> httpx.Response:
    """Send the request to each checked address in turn until one connects."""
    extensions: dict[str, Any] = {"trace": deadline.trace}
    if url.scheme == "https":
        extensions["sni_hostname"] = url.raw_host.decode("ascii")  # TLS verifies the name, not the address
    failure: httpx.ConnectError | None = None
    for address in addresses:
        pinned = url.copy_with(host=str(address), userinfo=b"", fragment=None)
        request = client.build_request("GET", pinned, headers=headers, extensions=extensions)
        try:
            return client.send(request, stream=True)
        except httpx.ConnectError as exc:
            failure = exc
    assert failure is not None
    raise failure


def _origin(url: httpx.URL) -> tuple[str, bytes, int | None]:
    return url.scheme, url.raw_host, url.port


def _basic_auth(url: httpx.URL) -> str | None:
    if not url.userinfo:
        return None
    return "Basic " + base64.b64encode(f"{url.username}:{url.password}".encode()).decode("ascii")
