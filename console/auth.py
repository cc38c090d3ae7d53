"""Console users and sessions: scrypt password hashes, HMAC-signed session cookies and per-session CSRF tokens.

A session cookie is ``<payload>.<signature>``: the payload (base64 JSON) names the user, a random session id, the
time it was issued and a fingerprint of the user's password hash (a new password ends every old session); the
signature is HMAC-SHA256 under the console's secret. The cookie is HttpOnly and SameSite=Lax; the CSRF token of a
session is an HMAC of its session id, so it needs no server-side store. Nothing here logs a password or a token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import select

from console.tables import ROLES, ConsoleUser
from mcn.db import session
from sandbox.security import hash_password, verify_password

SESSION_COOKIE = "mcn_console"
SESSION_SECONDS = 12 * 3600
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,59}$")
MIN_PASSWORD = 8


class ConsoleError(ValueError):
    """Bad input to the console (a user name, a role, a project, an upload); ``str`` is one line naming it."""


@dataclass(frozen=True, slots=True)
class User:
    """A logged-in user as the pages see it (never the hash)."""

    id: int
    name: str
    role: str
    brand: str | None

    @property
    def is_operator(self) -> bool:
        return self.role == "operator"


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """Who a valid session cookie belongs to, and its id (the CSRF token is derived from it)."""

    user: User
    sid: str


def add_user(name: str, role: str, password: str, brand: str | None = None) -> User:
    """Create (or reset the password, role and brand of) a console user.

    Raises:
        ConsoleError: a bad name, an unknown role, a brand user without a brand, or a password shorter than
            8 characters.
    """
    if not _NAME.match(name):
        raise ConsoleError(f"user {name[:40]!r}: use 1-60 letters, digits, '.', '_', '@' or '-'")
    if role not in ROLES:
        raise ConsoleError(f"--role {role!r}: must be brand or operator")
    brand = (brand or "").strip() or None
    if role == "brand" and not brand:
        raise ConsoleError(f"user {name}: a brand user needs --brand")
    if brand is not None and len(brand) > 60:
        raise ConsoleError(f"--brand {brand[:40]!r}: give 1-60 characters")
    if len(password) < MIN_PASSWORD:
        raise ConsoleError(f"user {name}: the password needs at least {MIN_PASSWORD} characters")
    with session() as db:
        row = db.exec(select(ConsoleUser).where(ConsoleUser.name == name)).first() or ConsoleUser(
            name=name, role=role, password_hash=""
        )
        row.role, row.brand, row.password_hash = role, brand if role == "brand" else None, hash_password(password)
        db.add(row)
        db.commit()
        return _user(row)


def authenticate(name: str, password: str) -> User | None:
    """The user when ``password`` is theirs, else ``None`` (an unknown name costs a hash too: no timing hint)."""
    with session() as db:
        row = db.exec(select(ConsoleUser).where(ConsoleUser.name == name)).first()
    if row is None:
        verify_password(password, _DUMMY_HASH)
        return None
    return _user(row) if verify_password(password, row.password_hash) else None


def list_users() -> list[User]:
    with session() as db:
        return [_user(r) for r in db.exec(select(ConsoleUser).order_by(ConsoleUser.name))]


_DUMMY_HASH = hash_password(secrets.token_hex(8))


def _user(row: ConsoleUser) -> User:
    assert row.id is not None
    return User(row.id, row.name, row.role, row.brand)


def _fingerprint(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Signer:
    """Signs and checks session cookies and CSRF tokens under one secret."""

    secret: bytes

    def _mac(self, purpose: str, data: bytes) -> str:
        digest = hmac.new(self.secret, purpose.encode() + b"\0" + data, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def issue(self, user: User) -> str:
        """A new session cookie value for ``user``."""
        with session() as db:
            row = db.get(ConsoleUser, user.id)
            fingerprint = _fingerprint(row.password_hash) if row else ""
        payload = {"u": user.id, "s": secrets.token_urlsafe(16), "t": int(time.time()), "f": fingerprint}
        body = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")
        return f"{body}.{self._mac('session', body.encode())}"

    def check(self, cookie: str | None) -> SessionInfo | None:
        """The session a cookie stands for, or ``None`` (missing, forged, expired, or the password changed)."""
        if not cookie or "." not in cookie:
            return None
        body, signature = cookie.rsplit(".", 1)
        if not hmac.compare_digest(signature.encode(), self._mac("session", body.encode()).encode()):
            return None
        try:
            payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            user_id, sid, issued, fingerprint = int(payload["u"]), str(payload["s"]), int(payload["t"]), payload["f"]
        except (ValueError, KeyError, TypeError):
            return None
        if time.time() - issued > SESSION_SECONDS:
            return None
        with session() as db:
            row = db.get(ConsoleUser, user_id)
        if row is None or not hmac.compare_digest(_fingerprint(row.password_hash), str(fingerprint)):
            return None
        return SessionInfo(_user(row), sid)

    def csrf(self, sid: str) -> str:
        """The CSRF token of session ``sid`` (or of a login form's nonce)."""
        return self._mac("csrf", sid.encode())

    def csrf_ok(self, sid: str, given: str) -> bool:
        return bool(given) and hmac.compare_digest(given.encode(), self.csrf(sid).encode())


class LoginThrottle:
    """Slows password guessing: after ``limit`` failed logins of one name (or four times as many from one client
    address, which people behind one proxy share) within ``window`` seconds, further tries are refused until the
    oldest failure leaves the window. In memory, per console process; a good login of the name clears its
    failures."""

    def __init__(self, limit: int = 5, window: float = 900.0) -> None:
        self.limit, self.window = limit, window
        self._limits = {"name": limit, "client": 4 * limit}
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> list[float]:
        kept = [t for t in self._failures.get(key, ()) if now - t < self.window]
        if kept:
            self._failures[key] = kept
        else:
            self._failures.pop(key, None)
        return kept

    def wait_seconds(self, name: str, client: str) -> float:
        """0 when a try is allowed now, else how long until it is."""
        now = time.monotonic()
        with self._lock:
            waits = [
                self.window - (now - recent[-self._limits[kind]])
                for kind, key in (("name", f"name:{name}"), ("client", f"client:{client}"))
                if len(recent := self._recent(key, now)) >= self._limits[kind]
            ]
        return max(waits, default=0.0)

    def failed(self, name: str, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in (f"name:{name}", f"client:{client}"):
                self._failures.setdefault(key, []).append(now)

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failures.pop(f"name:{name}", None)


def load_secret(path: Path) -> bytes:
    """The console's signing secret: 32 random bytes in a 0600 file, made on first use (sessions survive a
    restart; deleting the file logs everybody out)."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    secret = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return path.read_bytes()
    with os.fdopen(fd, "wb") as handle:
        handle.write(secret)
    return secret
