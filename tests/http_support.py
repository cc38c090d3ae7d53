"""A real local HTTP server for download tests: routes that serve bytes, trickle, redirect or check credentials."""

from __future__ import annotations

import base64
import contextlib
import http.server
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

Route = Callable[[http.server.BaseHTTPRequestHandler], None]


@dataclass
class LocalServer:
    """``routes`` maps a path (without query) to a handler; every request is recorded in ``seen``."""

    host: str
    port: int
    scheme: str = "http"
    routes: dict[str, Route] = field(default_factory=dict)
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str, *, netloc: str | None = None) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{netloc or f'{host}:{self.port}'}{path}"


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    state: LocalServer

    def handle_error(self, request: object, client_address: object) -> None:
        # a client that hangs up (the downloader giving up, a deadline) is not a server error worth a traceback
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class _V6Server(_Server):
    address_family = socket.AF_INET6


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        state = self.server.state
        path = urlsplit(self.path).path
        state.seen.append((self.path, dict(self.headers.items())))
        route = state.routes.get(path)
        if route is None:
            send(self, 404, b"not here", "text/plain")
            return
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            route(self)

    def log_message(self, format: str, *args: object) -> None:
        pass


def serve_local(host: str = "127.0.0.1", tls: tuple[Path, Path] | None = None) -> Iterator[LocalServer]:
    """Serve on ``host`` (an ephemeral port); ``tls`` is ``(certificate, key)`` for HTTPS."""
    cls = _V6Server if ":" in host else _Server
    server = cls((host, 0), _Handler)
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    state = LocalServer(host, server.server_address[1], scheme="https" if tls else "http")
    server.state = state
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.stop.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def local_http() -> Iterator[LocalServer]:
    yield from serve_local()


def send(handler: http.server.BaseHTTPRequestHandler, status: int, body: bytes, content_type: str) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def bytes_route(body: bytes, content_type: str = "video/mp4", status: int = 200) -> Route:
    return lambda h: send(h, status, body, content_type)


def file_route(path: Path, content_type: str = "video/mp4") -> Route:
    """Serve a file read at request time (a test can swap what the URL answers)."""
    return lambda h: send(h, 200, Path(str(path)).read_bytes(), content_type)


def trickle_route(every: float, size: int = 1_000_000, *, headers_too: bool = False) -> Route:
    """Announce ``size`` bytes, then send one byte every ``every`` seconds (the headers too, when asked)."""

    def route(h: http.server.BaseHTTPRequestHandler) -> None:
        state: LocalServer = h.server.state  # type: ignore[attr-defined]
        if headers_too:
            head = f"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: {size}\r\n\r\n".encode()
            chunks = [head[i : i + 1] for i in range(len(head))]
        else:
            h.send_response(200)
            h.send_header("Content-Type", "video/mp4")
            h.send_header("Content-Length", str(size))
            h.end_headers()
            h.wfile.flush()
            chunks = []
        chunks += [b"\0"] * size
        for chunk in chunks:
            if state.stop.wait(every):
                return
            h.wfile.write(chunk)
            h.wfile.flush()

    return route


def redirect_route(location: str, status: int = 302) -> Route:
    def route(h: http.server.BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()

    return route


def credentials_route(user: str, password: str, token: str, inner: Route) -> Route:
    """``inner`` only for a request with HTTP basic ``user:password`` and ``?token=token``; 401 otherwise."""
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def route(h: http.server.BaseHTTPRequestHandler) -> None:
        query = parse_qs(urlsplit(h.path).query)
        if h.headers.get("Authorization") != expected or query.get("token") != [token]:
            send(h, 401, b"who are you?", "text/plain")
            return
        inner(h)

    return route


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def self_signed_certificate(folder: Path, hostname: str) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for ``hostname``: ``(certificate, key)`` PEM files (the certificate
    doubles as the CA bundle that trusts it)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / f"{hostname}.crt", folder / f"{hostname}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path
