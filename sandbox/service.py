"""The platform itself: accounts, logins, products, uploads, publishing rules, metrics and the order export.

Web pages and the API are thin layers over :class:`Platform`; both publish through :meth:`Platform.publish`, so
the rules are the same whichever way a post arrives. Expected refusals raise :class:`SandboxError`.

Concurrency: the server runs in one process; request handlers run in a thread pool. Publishing (pacing checks,
duplicate checks, insert) runs under one lock, so two simultaneous posts cannot both slip under a cap.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import random
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
from sqlalchemy import and_, case, delete, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from sandbox import db
from sandbox.clock import ClockState, SimClock, format_local
from sandbox.config import DAY, DEFAULT_MANUAL_START, Faults, Rules, SandboxConfig, merge
from sandbox.errors import SandboxError
from sandbox.market import TIME_OF_DAY, PostContext, ProductTerms, World, accrued, commission_per_order
from sandbox.rules import PostFields, check_fields, check_pacing
from sandbox.security import hash_password, new_token, token_digest, verify_password
from sandbox.vhash import FingerprintError, HashIndex, fingerprint, parse_hex

# Public ids look like the platform's: 19-digit numbers. Clients must keep them as strings (they overflow a
# JavaScript number), which the sandbox makes sure they get used to.
POST_ID_BASE = 7_300_000_000_000_000_000
ORDER_ID_BASE = 6_900_000_000_000_000_000
BUYIN_ID_BASE = 1_680_000_000_000
_HANDLE = re.compile(r"^[A-Za-z0-9_.-]{3,32}$")
_PRODUCT_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_ITEM_PATH = re.compile(r"/item/([A-Za-z0-9_.-]{1,64})/?$")
MAX_ORDER_WINDOW = 90 * DAY


def public_post_id(pk: int) -> str:
    """The post id clients see."""
    return str(POST_ID_BASE + pk)


def parse_post_id(text: str) -> int:
    """The database key of a public post id; raise ``post_not_found`` for anything else."""
    try:
        pk = int(text) - POST_ID_BASE if text.isdigit() and len(text) <= 19 else 0
    except ValueError:
        pk = 0
    if not 0 < pk < 2**62:
        raise SandboxError("post_not_found", f"no post with id {text[:40]!r}", status=404)
    return pk


@dataclass(frozen=True, slots=True)
class NewAccount:
    """A created account with its one-time secrets (only the admin's create call ever returns them)."""

    account_id: int
    handle: str
    password: str
    api_token: str
    author_buyin_id: str


@dataclass(frozen=True, slots=True)
class UploadResult:
    """State of an upload after a PUT."""

    upload_id: str
    received: int
    complete: bool
    sha256: str | None = None
    duration: float | None = None


class Platform:
    """One sandbox platform instance over its own database in ``config.data_dir``."""

    def __init__(self, config: SandboxConfig, wall: Callable[[], float] = time.time) -> None:
        self.config = config.validate()
        self.rules: Rules = config.rules
        self.faults: Faults = config.faults
        self.world = World(config.seed, config.market)
        self.engine = db.make_engine(config.database_path)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.uploads_dir = config.data_dir / "uploads"
        self.uploads_dir.mkdir(parents=True, exist_ok=True)
        self._wall = wall
        self.clock = SimClock(self._load_clock(), on_change=self._save_clock, wall=wall)
        self.index = HashIndex()
        self._publish_lock = threading.Lock()
        self._fault_lock = threading.Lock()
        self._fault_rng = random.Random(config.seed)
        self.fault_counts: Counter[str] = Counter()
        with self._session() as s:
            for post_id, account_id, phash in s.execute(select(db.Post.id, db.Post.account_id, db.Post.phash)):
                self.index.add(post_id, account_id, parse_hex(phash))

    # -- plumbing -------------------------------------------------------------------------------------------

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with self._sessions() as s:
            yield s

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def _load_clock(self) -> ClockState:
        cfg = self.config
        with self._session() as s:
            row = s.get(db.Meta, "clock")
            if row is not None:
                data = json.loads(row.value)
                state = ClockState(data["mode"], float(data["anchor_sim"]), float(data["anchor_wall"]))
                if cfg.clock_mode is not None and cfg.clock_mode != state.mode:
                    # switch mode without a jump in simulated time
                    clock = SimClock(state, wall=self._wall)
                    clock.set_mode(cfg.clock_mode)
                    state = clock.state
                    self._write_clock(s, state)
                return state
            mode = cfg.clock_mode or "running"
            start = cfg.clock_start
            if start is None:
                start = DEFAULT_MANUAL_START if mode == "manual" else self._wall()
            state = ClockState(mode, start, self._wall())
            self._write_clock(s, state)
            return state

    @staticmethod
    def _write_clock(s: Session, state: ClockState) -> None:
        value = json.dumps({"mode": state.mode, "anchor_sim": state.anchor_sim, "anchor_wall": state.anchor_wall})
        s.merge(db.Meta(key="clock", value=value))
        s.commit()

    def _save_clock(self, state: ClockState) -> None:
        with self._session() as s:
            self._write_clock(s, state)

    def now(self) -> float:
        """The simulated time."""
        return self.clock.now()

    def fault_draws(self) -> tuple[bool, bool, bool]:
        """(error, slow, timeout) for one request, from the seeded fault stream."""
        f = self.faults
        with self._fault_lock:
            r = self._fault_rng.random(), self._fault_rng.random(), self._fault_rng.random()
        return r[0] < f.error_rate, r[1] < f.slow_rate, r[2] < f.timeout_rate

    def late_commit_draw(self) -> bool:
        """Whether this publish request is held and committed late (``late_commit_rate``); counted when so."""
        if self.faults.late_commit_rate <= 0:
            return False
        with self._fault_lock:
            late = self._fault_rng.random() < self.faults.late_commit_rate
            if late:
                self.fault_counts["late_commit_held"] += 1
        return late

    def count_fault(self, name: str) -> None:
        """Add one to an injected-fault counter (``GET /api/admin/faults/injected``)."""
        with self._fault_lock:
            self.fault_counts[name] += 1

    def _spam_draw(self) -> bool:
        if self.faults.spam_rate <= 0:
            return False
        with self._fault_lock:
            return self._fault_rng.random() < self.faults.spam_rate

    # -- accounts and logins --------------------------------------------------------------------------------

    def create_account(self, handle: str | None = None, password: str | None = None) -> NewAccount:
        """Create a test account; returns its password and API token (the only time they are shown)."""
        handle = handle.strip() if handle else f"creator_{secrets.token_hex(3)}"
        if not _HANDLE.match(handle):
            raise SandboxError("invalid_handle", "handle must be 3-32 letters, digits, '_', '.' or '-'")
        password = password or secrets.token_urlsafe(12)
        if not 8 <= len(password) <= 128:
            raise SandboxError("invalid_password", "password must be 8-128 characters")
        token = new_token("sbx-act-")
        with self._session() as s:
            if s.scalar(select(db.Account.id).where(db.Account.handle == handle)) is not None:
                raise SandboxError("handle_taken", f"the handle {handle!r} is taken", status=409)
            account = db.Account(
                handle=handle,
                password_hash=hash_password(password),
                token_digest=token_digest(token),
                buyin_id=f"pending-{secrets.token_hex(8)}",
                created_at=self.now(),
            )
            s.add(account)
            s.flush()
            account.buyin_id = str(BUYIN_ID_BASE + account.id)
            s.commit()
            return NewAccount(account.id, handle, password, token, account.buyin_id)

    def accounts(self) -> list[db.Account]:
        """Every account, oldest first."""
        with self._session() as s:
            return list(s.scalars(select(db.Account).order_by(db.Account.id)))

    def account_by_token(self, token: str) -> db.Account:
        """The account an API bearer token belongs to."""
        with self._session() as s:
            account = s.scalar(select(db.Account).where(db.Account.token_digest == token_digest(token)))
            expired = None if account else s.get(db.ExpiredToken, token_digest(token))
        if expired is not None:
            raise SandboxError("token_expired", "the access token expired; authorise the app again", status=401)
        if account is None:
            raise SandboxError("invalid_token", "the access token is not valid", status=401)
        return account

    def issue_api_token(self, account_id: int) -> str:
        """Give ``account_id`` a new API token (the old one stops working); shown once, stored as a digest."""
        token = new_token("sbx-act-")
        with self._session() as s:
            account = s.get(db.Account, account_id)
            if account is None:
                raise SandboxError("account_not_found", f"no account {account_id}", status=404)
            account.token_digest = token_digest(token)
            s.commit()
        return token

    def expire_api_tokens(self, account_id: int | None = None) -> int:
        """Force-expire API tokens (all, or one account's); holders get ``token_expired`` until re-authorised."""
        now = self.now()
        with self._session() as s:
            stmt = select(db.Account)
            if account_id is not None:
                stmt = stmt.where(db.Account.id == account_id)
            accounts = list(s.scalars(stmt))
            for account in accounts:
                s.merge(db.ExpiredToken(digest=account.token_digest, account_id=account.id, expired_at=now))
                # an unguessable digest no token hashes to, until the account authorises the app again
                account.token_digest = token_digest(new_token("sbx-expired-"))
            s.commit()
        return len(accounts)

    def login_password(self, handle: str, password: str) -> str:
        """Check a handle and password; return a new session token for the cookie."""
        with self._session() as s:
            account = s.scalar(select(db.Account).where(db.Account.handle == handle.strip()))
        # verify against a dummy hash for unknown handles too, so timing does not reveal which handles exist
        stored = account.password_hash if account else _dummy_hash()
        if not verify_password(password, stored) or account is None:
            raise SandboxError("wrong_credentials", "账号或密码错误 (wrong handle or password)", status=401)
        return self.create_session(account.id)

    def create_session(self, account_id: int) -> str:
        """Start a web session for ``account_id``; returns the cookie value."""
        token = new_token("sbx-ses-")
        now = self.now()
        with self._session() as s:
            s.add(
                db.WebSession(
                    digest=token_digest(token),
                    account_id=account_id,
                    created_at=now,
                    expires_at=now + self.rules.session_ttl_seconds,
                )
            )
            s.commit()
        return token

    def session_account(self, token: str | None) -> db.Account:
        """The account of a session cookie; ``not_logged_in`` or ``session_expired`` (401) otherwise."""
        if not token:
            raise SandboxError("not_logged_in", "请先登录 (log in first)", status=401)
        with self._session() as s:
            row = s.scalar(select(db.WebSession).where(db.WebSession.digest == token_digest(token)))
            if row is None:
                raise SandboxError("not_logged_in", "请先登录 (log in first)", status=401)
            if row.expires_at <= self.now():
                raise SandboxError(
                    "session_expired", "登录已过期, 请重新登录 (the session expired; log in again)", status=401
                )
            account = s.get(db.Account, row.account_id)
        assert account is not None  # foreign key
        return account

    def logout(self, token: str | None) -> None:
        """End a web session."""
        if token:
            with self._session() as s:
                s.execute(delete(db.WebSession).where(db.WebSession.digest == token_digest(token)))
                s.commit()

    def expire_sessions(self, account_id: int | None = None) -> int:
        """Force-expire live web sessions (all, or one account's); returns how many."""
        now = self.now()
        with self._session() as s:
            stmt = update(db.WebSession).where(db.WebSession.expires_at > now)
            if account_id is not None:
                stmt = stmt.where(db.WebSession.account_id == account_id)
            count = s.execute(stmt.values(expires_at=now)).rowcount  # type: ignore[attr-defined]
            s.commit()
        return int(count or 0)

    def new_qr(self) -> tuple[str, str]:
        """A login QR challenge: ``(challenge id, browser nonce)``. The nonce goes in the login page's cookie, so
        only the browser that showed the code can complete the login."""
        challenge, nonce = secrets.token_urlsafe(18), secrets.token_urlsafe(18)
        with self._session() as s:
            # challenges are short-lived: drop the stale ones as new ones are made
            s.execute(delete(db.QrChallenge).where(db.QrChallenge.expires_at_wall < self._wall() - 3600))
            s.add(
                db.QrChallenge(
                    id=challenge,
                    nonce_digest=token_digest(nonce),
                    status="pending",
                    expires_at_wall=self._wall() + self.rules.qr_ttl_seconds,
                )
            )
            s.commit()
        return challenge, nonce

    def qr_status(self, challenge: str) -> str:
        """pending, approved, denied, used, expired or unknown."""
        with self._session() as s:
            row = s.get(db.QrChallenge, challenge)
        if row is None:
            return "unknown"
        if row.status in ("pending", "approved") and row.expires_at_wall < self._wall():
            return "expired"
        return row.status

    def answer_qr(self, challenge: str, handle: str, approve: bool) -> db.Account | None:
        """The operator's answer on the "phone" page: approve the login as ``handle``, or deny it."""
        status = self.qr_status(challenge)
        if status != "pending":
            raise SandboxError("qr_not_pending", f"二维码已失效 (this login code is {status})", status=409)
        with self._session() as s:
            row = s.get(db.QrChallenge, challenge)
            assert row is not None
            if not approve:
                row.status = "denied"
                s.commit()
                return None
            account = s.scalar(select(db.Account).where(db.Account.handle == handle.strip()))
            if account is None:
                raise SandboxError("unknown_handle", f"没有这个账号 (no account {handle.strip()[:40]!r})", status=404)
            row.status, row.account_id = "approved", account.id
            s.commit()
            return account

    def complete_qr(self, challenge: str, nonce: str | None) -> str:
        """Finish an approved QR login in the browser that showed it; returns the session cookie value."""
        status = self.qr_status(challenge)
        with self._session() as s:
            row = s.get(db.QrChallenge, challenge)
            if row is None or status != "approved" or row.account_id is None:
                raise SandboxError("qr_not_approved", f"二维码未确认 (this login code is {status})", status=409)
            if not nonce or token_digest(nonce) != row.nonce_digest:
                raise SandboxError(
                    "qr_wrong_browser", "请在显示二维码的浏览器中完成登录 (finish in the same browser)", status=409
                )
            row.status = "used"
            account_id = row.account_id
            s.commit()
        return self.create_session(account_id)

    # -- products -------------------------------------------------------------------------------------------

    def create_product(
        self, name: str, price_fen: int, commission_rate: int, product_id: str | None = None, link: str | None = None
    ) -> db.Product:
        """Add a catalogue product. ``commission_rate`` in 1/10,000 (2000 = 20 %)."""
        product_id = product_id or f"sp{secrets.token_hex(5)}"
        if not _PRODUCT_ID.match(product_id):
            raise SandboxError("invalid_product_id", "product_id must be 1-64 letters, digits, '_', '.' or '-'")
        if not name.strip():
            raise SandboxError("invalid_product", "a product needs a name")
        if price_fen <= 0:
            raise SandboxError("invalid_product", "price must be positive")
        if not 0 < commission_rate <= 10000:
            raise SandboxError("invalid_product", "commission_rate must be in (0, 1]")
        with self._session() as s:
            if s.get(db.Product, product_id) is not None:
                raise SandboxError("product_exists", f"product {product_id!r} exists", status=409)
            if link and s.scalar(select(db.Product.id).where(db.Product.link == link)) is not None:
                raise SandboxError("product_exists", "another product has this link", status=409)
            product = db.Product(
                id=product_id,
                name=name.strip(),
                price_fen=price_fen,
                commission_rate=commission_rate,
                link=link or None,
                created_at=self.now(),
            )
            s.add(product)
            s.commit()
            return product

    def products(self) -> list[db.Product]:
        """The catalogue, in creation order."""
        with self._session() as s:
            return list(s.scalars(select(db.Product).order_by(db.Product.created_at, db.Product.id)))

    def product(self, product_id: str) -> db.Product:
        """One product; ``product_not_found`` otherwise."""
        with self._session() as s:
            found = s.get(db.Product, product_id)
        if found is None:
            raise SandboxError("product_not_found", f"未搜索到对应商品 (no product {product_id[:64]!r})", status=404)
        return found

    def resolve_product_link(self, link: str) -> db.Product:
        """The product a pasted link points at: its stored link, a ``.../item/<id>`` URL or an ``?id=<id>`` URL."""
        link = link.strip()
        with self._session() as s:
            found = s.scalar(select(db.Product).where(db.Product.link == link))
            if found is None:
                parts = urlsplit(link)
                match = _ITEM_PATH.search(parts.path)
                ids = parse_qs(parts.query).get("id", [])
                candidate = match.group(1) if match else (ids[0] if ids else None)
                if candidate and parts.scheme in ("http", "https"):
                    found = s.get(db.Product, candidate)
        if found is None:
            raise SandboxError("product_not_found", "未搜索到对应商品 (the product link does not match any product)")
        return found

    # -- uploads --------------------------------------------------------------------------------------------

    def init_upload(self, account_id: int, declared_size: int | None) -> db.Upload:
        """Start an upload (``declared_size`` is checked against the size limit right away)."""
        if declared_size is not None:
            self.check_size(declared_size)
        upload_id = secrets.token_urlsafe(18)
        row = db.Upload(
            id=upload_id,
            account_id=account_id,
            declared_size=declared_size,
            size=0,
            status="pending",
            path=str(self.uploads_dir / f"{upload_id}.mp4"),
            created_at=self.now(),
        )
        with self._session() as s:
            s.add(row)
            s.commit()
        return row

    def check_size(self, size: int) -> None:
        """``file_too_large`` (413) when ``size`` exceeds the upload limit."""
        limit = self.rules.max_upload_bytes
        if size > limit:
            raise SandboxError(
                "file_too_large",
                f"视频文件过大 (the file is {_mib(size)}; the limit is {_mib(limit)})",
                status=413,
                max_bytes=limit,
            )

    def upload_for_put(self, account_id: int, upload_id: str) -> db.Upload:
        """The upload a PUT writes to; it must be this account's and not complete yet."""
        with self._session() as s:
            row = s.get(db.Upload, upload_id)
        if row is None or row.account_id != account_id:
            raise SandboxError("upload_not_found", "no such upload for this account", status=404)
        if row.status != "pending":
            raise SandboxError("upload_complete", "this upload is already complete", status=409)
        return row

    def record_put(self, upload: db.Upload, received: int, total: int | None) -> UploadResult:
        """Record bytes written by a PUT; when the file is whole, hash and fingerprint it.

        ``total`` is the full size from Content-Range, or ``None`` when the body was the whole file.
        """
        done = total is None or received >= total
        if total is not None and received > total:
            raise SandboxError("bad_content_range", "more bytes than the declared total", status=400)
        if done and upload.declared_size is not None and received != upload.declared_size:
            self._discard(upload)
            raise SandboxError(
                "size_mismatch", f"received {received} bytes but init declared {upload.declared_size}", status=400
            )
        if not done:
            with self._session() as s:
                s.execute(update(db.Upload).where(db.Upload.id == upload.id).values(size=received))
                s.commit()
            return UploadResult(upload.id, received, False)
        path = Path(upload.path)
        try:
            fp = fingerprint(path, self.config.fingerprint_seconds)
        except FingerprintError as exc:
            self._discard(upload)
            raise SandboxError("invalid_video", f"视频格式不支持 ({exc})", status=400) from None
        sha = _sha256_file(path)
        with self._session() as s:
            s.execute(
                update(db.Upload)
                .where(db.Upload.id == upload.id)
                .values(size=received, status="complete", sha256=sha, phash=fp.hex, duration=fp.duration)
            )
            s.commit()
        return UploadResult(upload.id, received, True, sha, fp.duration)

    def discard_upload(self, upload: db.Upload) -> None:
        """Forget an upload that failed (too large, not a video) and delete its bytes."""
        self._discard(upload)

    def _discard(self, upload: db.Upload) -> None:
        Path(upload.path).unlink(missing_ok=True)
        with self._session() as s:
            s.execute(delete(db.Upload).where(db.Upload.id == upload.id))
            s.commit()

    # -- publishing -----------------------------------------------------------------------------------------

    def publish(
        self,
        account_id: int,
        upload_id: str,
        fields: PostFields,
        via: str = "api",
        product_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> db.Post:
        """Apply every rule and publish; returns the post. Refusals raise :class:`SandboxError`.

        With ``idempotency_key``, a key this account already published with returns that post (whatever this
        request's upload and fields), and nothing new is published; a refused publish stores no key, so the same
        key can be sent again. The key is checked again under the publish lock, so two requests with one key that
        race (a late-committed request and its retry) make one post.
        """
        if idempotency_key is not None:
            earlier = self.keyed_post(account_id, idempotency_key)
            if earlier is not None:
                return earlier
        now = self.now()
        if self._spam_draw():
            raise SandboxError("spam_risk_too_many_posts", "发布过于频繁 (spam risk: too many posts)", status=429)
        topics, hook_style = check_fields(fields, self.rules, now)
        product: db.Product | None = None
        if fields.product_link:
            product = self.resolve_product_link(fields.product_link)
        elif product_id:
            try:
                product = self.product(product_id)
            except SandboxError as exc:
                raise SandboxError(exc.code, exc.message) from None  # a bad field (400), not a missing resource
        with self._session() as s:
            upload = s.get(db.Upload, upload_id)
            if upload is None or upload.account_id != account_id:
                raise SandboxError("upload_not_found", "请先上传视频 (no such upload for this account)", status=404)
            if upload.status == "used":
                raise SandboxError(
                    "upload_already_published",
                    "this upload was already published",
                    status=409,
                    post_id=public_post_id(upload.post_id or 0),
                )
            if upload.status != "complete" or upload.sha256 is None or upload.phash is None:
                raise SandboxError("upload_incomplete", "视频还在上传中 (the upload is not complete)", status=409)
            sha, phash, size, duration = upload.sha256, upload.phash, upload.size, upload.duration or 0.0
        when = fields.schedule_at if fields.schedule_at is not None else now
        hashes = parse_hex(phash)
        with self._publish_lock, self._session() as s:
            if idempotency_key is not None:
                earlier = self._keyed(s, account_id, idempotency_key)
                if earlier is not None:
                    return earlier
            times = list(
                s.scalars(
                    select(db.Post.publish_at).where(
                        db.Post.account_id == account_id,
                        db.Post.publish_at > when - 2 * DAY,
                        db.Post.publish_at < when + 2 * DAY,
                    )
                )
            )
            strikes = list(
                s.scalars(
                    select(db.Strike.at).where(
                        db.Strike.account_id == account_id, db.Strike.at > now - self.rules.spam_cooldown_seconds
                    )
                )
            )
            verdict = check_pacing(times, strikes, when, now, self.rules)
            if verdict is not None:
                if verdict.code == "posting_too_often":
                    s.add(db.Strike(account_id=account_id, at=now))
                    s.commit()
                raise verdict
            checks = self.rules.duplicate_checks
            same = s.execute(select(db.Post.id, db.Post.account_id).where(db.Post.file_sha256 == sha)).first()
            if same is not None and checks:
                mine = same.account_id == account_id
                raise SandboxError(
                    "duplicate_video",
                    "该视频已发布过, 请勿重复发布 (this exact file was already published"
                    + (f" as {public_post_id(same.id)})" if mine else " by another account)"),
                    status=409,
                )
            limited_by: tuple[int, float] | None = None
            for other_post, other_account, share in self.index.nearest(hashes, self.rules.near_dup_share):
                if other_account == account_id and checks:
                    raise SandboxError(
                        "duplicate_video",
                        f"该视频与已发布作品高度相似 (a near-duplicate of your post {public_post_id(other_post)}: "
                        f"{share:.0%} of frames match)",
                        status=409,
                    )
                if limited_by is None:
                    limited_by = (other_post, share)
            post = db.Post(
                account_id=account_id,
                upload_id=upload_id,
                title=fields.title.strip(),
                description=fields.description,
                topics=json.dumps(topics, ensure_ascii=False),
                hook_style=hook_style,
                product_id=product.id if product else None,
                external_info=fields.external_info,
                ai_declared=fields.ai_declared,
                ad_disclosed=fields.ad_disclosed,
                file_sha256=sha,
                phash=phash,
                size=size,
                duration=duration,
                via=via,
                created_at=now,
                publish_at=when,
                limited=limited_by is not None,
                limited_reason="near_duplicate" if limited_by else None,
                duplicate_of=limited_by[0] if limited_by else None,
                plays=0,
                completion_rate=0.0,
                likes=0,
                comments=0,
                shares=0,
                product_clicks=0,
            )
            s.add(post)
            s.flush()
            self._simulate_into(s, post, product)
            s.execute(update(db.Upload).where(db.Upload.id == upload_id).values(status="used", post_id=post.id))
            if idempotency_key is not None:
                s.add(db.PublishKey(account_id=account_id, key=idempotency_key, post_id=post.id, created_at=now))
            s.commit()
            self.index.add(post.id, account_id, hashes)
            return post

    def keyed_post(self, account_id: int, key: str) -> db.Post | None:
        """The post ``account_id`` published with idempotency key ``key``, or ``None``."""
        with self._session() as s:
            return self._keyed(s, account_id, key)

    @staticmethod
    def _keyed(s: Session, account_id: int, key: str) -> db.Post | None:
        post_id = s.scalar(
            select(db.PublishKey.post_id).where(db.PublishKey.account_id == account_id, db.PublishKey.key == key)
        )
        return s.get(db.Post, post_id) if post_id is not None else None

    def _simulate_into(self, s: Session, post: db.Post, product: db.Product | None) -> None:
        terms = ProductTerms(product.id, product.price_fen, product.commission_rate) if product else None
        ctx = PostContext(
            post.id,
            post.account_id,
            post.hook_style,
            post.publish_at,
            terms,
            self.rules.near_dup_reach if post.limited else 1.0,
        )
        outcome = self.world.simulate(ctx)
        post.plays, post.completion_rate, post.likes = outcome.plays, outcome.completion_rate, outcome.likes
        post.comments, post.shares, post.product_clicks = outcome.comments, outcome.shares, outcome.product_clicks
        if terms is None:
            return
        commission = commission_per_order(terms.price_fen, terms.commission_rate)
        rows = []
        for i, o in enumerate(outcome.orders[:99_999]):
            pay = post.publish_at + o.pay_delay
            rows.append(
                db.Order(
                    order_id=str(ORDER_ID_BASE + post.id * 100_000 + i),
                    post_id=post.id,
                    account_id=post.account_id,
                    product_id=terms.product_id,
                    total_pay_amount=terms.price_fen,
                    commission_rate=terms.commission_rate,
                    estimated_commission=commission,
                    media_type=o.media_type,
                    pay_time=pay,
                    settle_time=None if o.settle_delay is None else pay + o.settle_delay,
                    refund_time=None if o.refund_delay is None else pay + o.refund_delay,
                )
            )
        s.add_all(rows)

    # -- reading posts, metrics and orders ------------------------------------------------------------------

    def post(self, post_id: str, account_id: int | None = None) -> db.Post:
        """A post by public id; with ``account_id``, only that account's (others are "not found")."""
        pk = parse_post_id(post_id)
        with self._session() as s:
            post = s.get(db.Post, pk)
        if post is None or (account_id is not None and post.account_id != account_id):
            raise SandboxError("post_not_found", f"no post with id {post_id[:40]!r}", status=404)
        return post

    def post_status(self, post: db.Post) -> dict[str, Any]:
        """The status view of a post."""
        now = self.now()
        return {
            "post_id": public_post_id(post.id),
            "status": "scheduled" if post.publish_at > now else "published",
            "publish_time": format_local(post.publish_at),
            "publish_timestamp": post.publish_at,
            "create_time": format_local(post.created_at),
            "limited": post.limited,
            "limited_reason": post.limited_reason,
            "title": post.title,
            "product_id": post.product_id,
            "external_info": post.external_info,
            "hook_style": post.hook_style,
        }

    def post_metrics(self, post: db.Post) -> dict[str, Any]:
        """Metrics as of the simulated now: final figures scaled by how much attention has arrived so far."""
        now = self.now()
        share = accrued(now - post.publish_at, self.config.market)
        with self._session() as s:
            paid = (
                s.scalar(
                    select(func.count())
                    .select_from(db.Order)
                    .where(db.Order.post_id == post.id, db.Order.pay_time <= now)
                )
                or 0
            )
        plays = round(post.plays * share)
        return {
            "post_id": public_post_id(post.id),
            "as_of": format_local(now),
            "as_of_timestamp": now,
            "play_count": plays,
            "completion_rate": post.completion_rate if plays else 0.0,
            "like_count": round(post.likes * share),
            "comment_count": round(post.comments * share),
            "share_count": round(post.shares * share),
            "product_click_count": round(post.product_clicks * share),
            "order_count": int(paid),
        }

    def posts_of(self, account_id: int, cursor: int, count: int) -> tuple[list[db.Post], int, bool]:
        """An account's posts, newest first, paged by an offset cursor."""
        with self._session() as s:
            rows = list(
                s.scalars(
                    select(db.Post)
                    .where(db.Post.account_id == account_id)
                    .order_by(db.Post.id.desc())
                    .offset(cursor)
                    .limit(count + 1)
                )
            )
        return rows[:count], cursor + min(count, len(rows)), len(rows) > count

    def orders(
        self,
        account: db.Account,
        start: float | None,
        end: float | None,
        time_type: str = "update",
        cursor: str | None = None,
        count: int = 20,
    ) -> tuple[list[dict[str, Any]], str, bool]:
        """The account's affiliate orders in buyin's shape, by update (or pay) time in ``[start, end]``.

        Paged by an opaque cursor over (time, order id); an order whose state changes moves to a later update
        time, so incremental sync by update time sees it again.
        """
        now = self.now()
        end = now if end is None else end
        start = end - MAX_ORDER_WINDOW if start is None else start
        if start > end:
            raise SandboxError("invalid_time_window", "start_time is after end_time")
        if end - start > MAX_ORDER_WINDOW:
            raise SandboxError("time_window_too_large", "the time window is limited to 90 days")
        if time_type not in ("update", "pay"):
            raise SandboxError("invalid_time_type", "time_type must be update or pay")
        if not 1 <= count <= 100:
            raise SandboxError("invalid_count", "count must be between 1 and 100")
        o = db.Order
        updated = case(
            (and_(o.refund_time.is_not(None), o.refund_time <= now), o.refund_time),
            (and_(o.settle_time.is_not(None), o.settle_time <= now), o.settle_time),
            else_=o.pay_time,
        )
        key = updated if time_type == "update" else o.pay_time
        stmt = (
            select(o, db.Post.external_info, db.Product.name)
            .join(db.Post, db.Post.id == o.post_id)
            .join(db.Product, db.Product.id == o.product_id)
            .where(o.account_id == account.id, o.pay_time <= now, key >= start, key <= end)
        )
        if cursor:
            after_time, after_id = _decode_cursor(cursor)
            stmt = stmt.where(or_(key > after_time, and_(key == after_time, o.order_id > after_id)))
        stmt = stmt.order_by(key, o.order_id).limit(count + 1)
        with self._session() as s:
            rows = s.execute(stmt).all()
        out = [self._order_view(row[0], row[1], row[2], account, now) for row in rows[:count]]
        more = len(rows) > count
        next_cursor = cursor or ""
        if out:
            last = rows[min(count, len(rows)) - 1][0]
            last_key = _update_time(last, now) if time_type == "update" else last.pay_time
            next_cursor = _encode_cursor(last_key, last.order_id)
        return out, next_cursor, more

    @staticmethod
    def _order_view(
        order: db.Order, external_info: str | None, product_name: str, account: db.Account, now: float
    ) -> dict[str, Any]:
        refunded = order.refund_time is not None and order.refund_time <= now
        settled = not refunded and order.settle_time is not None and order.settle_time <= now
        flow = "REFUND" if refunded else "SETTLE" if settled else "PAY_SUCC"
        return {
            "order_id": order.order_id,
            "product_id": order.product_id,
            "product_name": product_name,
            "author_buyin_id": account.buyin_id,
            "author_account": account.handle,
            "item_num": 1,
            "total_pay_amount": order.total_pay_amount,
            "pay_goods_amount": order.total_pay_amount,
            "settled_goods_amount": order.total_pay_amount if settled else 0,
            "commission_rate": order.commission_rate,
            "estimated_commission": order.estimated_commission,
            "real_commission": order.estimated_commission if settled else 0,
            "flow_point": flow,
            "pay_success_time": format_local(order.pay_time),
            "settle_time": format_local(order.settle_time) if settled else "",
            "refund_time": format_local(order.refund_time) if refunded else "",
            "update_time": format_local(_update_time(order, now)),
            "update_timestamp": _update_time(order, now),
            "media_type": order.media_type,
            "media_id": public_post_id(order.post_id) if order.media_type == "video" else "",
            "pid_info": {"pid": f"sbx_pid_{account.buyin_id}", "external_info": external_info or ""},
        }

    # -- evaluation and operation ---------------------------------------------------------------------------

    def all_posts(self) -> list[tuple[db.Post, str]]:
        """Every accepted post with its account handle (admin listing for evaluation)."""
        with self._session() as s:
            rows = s.execute(
                select(db.Post, db.Account.handle)
                .join(db.Account, db.Account.id == db.Post.account_id)
                .order_by(db.Post.id)
            ).all()
        return [(row[0], row[1]) for row in rows]

    def oracle(self) -> dict[str, Any]:
        """True expected figures per (product, hook style), per-account reach multipliers and the time-of-day
        curve. For evaluation only: nothing in mcn may read this."""
        with self._session() as s:
            used = set(s.scalars(select(db.Post.hook_style).distinct()))
        styles = list(dict.fromkeys([*self.config.market.hook_styles, *sorted(used)]))
        table = []
        for product in self.products():
            terms = ProductTerms(product.id, product.price_fen, product.commission_rate)
            for style in styles:
                e = self.world.expected(terms, style)
                table.append(
                    {
                        "product_id": product.id,
                        "hook_style": style,
                        "expected_plays": e.plays,
                        "expected_product_clicks": e.product_clicks,
                        "expected_orders": e.orders,
                        "expected_gmv_fen": e.gmv_fen,
                        "expected_estimated_commission_fen": e.estimated_commission_fen,
                        "expected_settled_commission_fen": e.settled_commission_fen,
                        "refund_rate": e.refund_rate,
                    }
                )
        return {
            "warning": "evaluation only: nothing in mcn may read this endpoint",
            "basis": "one post by an average account (multiplier 1) at an average hour (multiplier 1)",
            "products": table,
            "accounts": [
                {"account_id": a.id, "handle": a.handle, "reach_multiplier": self.world.account_multiplier(a.id)}
                for a in self.accounts()
            ],
            "time_of_day": [float(x) for x in np.round(TIME_OF_DAY, 4)],
            "near_duplicate_reach": self.rules.near_dup_reach,
            "settle_delay_days": str(self.config.market.settle_delay),
            "attention_days": self.config.market.attention_days,
        }

    def set_rules(self, changes: dict[str, Any]) -> Rules:
        """Replace the rules with ``changes`` applied (validated)."""
        self.rules = merge(self.rules, changes)
        return self.rules

    def set_faults(self, changes: dict[str, Any]) -> Faults:
        """Replace the fault knobs with ``changes`` applied (validated)."""
        self.faults = merge(self.faults, changes)
        return self.faults


@functools.cache
def _dummy_hash() -> str:
    return hash_password("not-a-real-password")


def _update_time(order: db.Order, now: float) -> float:
    if order.refund_time is not None and order.refund_time <= now:
        return order.refund_time
    if order.settle_time is not None and order.settle_time <= now:
        return order.settle_time
    return order.pay_time


def _encode_cursor(at: float, order_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([repr(at), order_id]).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, order_id = json.loads(raw)
        return float(at), str(order_id)
    except (ValueError, TypeError):
        raise SandboxError("invalid_cursor", "the cursor is not one this API returned") from None


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _mib(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MiB" if size >= 1024 * 1024 else f"{size / 1024:.0f} KiB"
