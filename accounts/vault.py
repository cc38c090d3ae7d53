"""Encrypted account secrets: browser sessions (storage state), API tokens and OAuth token sets.

Every secret is JSON-serialised and sealed with Fernet (AES-128-CBC + HMAC-SHA256) before it reaches the
``account_secrets`` table, so the database, its backups and its logs never hold a usable cookie or token. The
sealed payload also names the account and the kind it belongs to; a ciphertext copied onto another account's row
is refused instead of logging that account in as someone else.

The key is ``MCN_SECRET_KEY`` (a Fernet key) or else a key file (``MCN_SECRET_KEY_FILE``, default
``<data dir>/secret.key``) created on first use with mode 0600. A key file that group or others can read is
refused: anyone who can read it can read every session. Losing the key loses the secrets (accounts then need
``mcn accounts login`` again), nothing else.

The dispatcher calls :func:`load_credentials` before each publish and the adapters renew secrets through
``Credentials.renew`` -> :func:`store_secret`.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, delete, select

from accounts.errors import AccountError, SecretsError
from mcn.db import session
from mcn.settings import Settings, get_settings
from mcn.tables import AccountRecord, AccountSecret, utcnow
from publisher.adapters.base import Credentials

log = logging.getLogger(__name__)

SECRET_KINDS = ("session", "api_token", "oauth")
_MAKE_KEY = "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"


class Vault:
    """Seals and opens account secrets with one Fernet key. ``repr`` never shows the key."""

    def __init__(self, key: bytes | str, source: str = "MCN_SECRET_KEY") -> None:
        try:
            self._fernet = Fernet(key.strip())
        except (ValueError, TypeError):
            raise SecretsError(
                f"{source} is not a Fernet key (32 url-safe base64-encoded bytes); make one with: {_MAKE_KEY}"
            ) from None
        self.source = source

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Vault:
        """The vault for ``MCN_SECRET_KEY``, or for the key file (created with mode 0600 on first use)."""
        settings = settings or get_settings()
        if settings.secret_key is not None and settings.secret_key.get_secret_value().strip():
            return cls(settings.secret_key.get_secret_value())
        path = settings.resolved_secret_key_file
        return cls(read_or_create_key_file(path), source=f"key file {path}")

    def seal(self, account_id: int, kind: str, value: Any) -> str:
        """``value`` as JSON, bound to ``(account_id, kind)``, encrypted; the text stored in the database."""
        try:
            payload = json.dumps({"account": account_id, "kind": kind, "value": value}, ensure_ascii=False)
        except (TypeError, ValueError):
            # the message names the type only: the value itself is the secret
            raise SecretsError(
                f"account {account_id}'s {kind} secret cannot be stored: {type(value).__name__} is not JSON"
            ) from None
        return self._fernet.encrypt(payload.encode("utf-8")).decode("ascii")

    def open(self, account_id: int, kind: str, ciphertext: str) -> Any:
        """The value :meth:`seal` sealed; a one-line :class:`SecretsError` when the key differs or rows were
        tampered with."""
        try:
            payload = json.loads(self._fernet.decrypt(ciphertext.encode("ascii")))
        except (InvalidToken, UnicodeError, ValueError):
            raise SecretsError(
                f"cannot decrypt account {account_id}'s secrets: "
                "MCN_SECRET_KEY differs from the key they were stored with"
            ) from None
        if payload.get("account") != account_id or payload.get("kind") != kind:
            raise SecretsError(f"account {account_id}'s {kind} secret belongs to another account or kind; refusing it")
        return payload["value"]

    def __repr__(self) -> str:
        return f"Vault(source={self.source!r})"


def read_or_create_key_file(path: Path) -> bytes:
    """The Fernet key in ``path``, created (mode 0600, atomically) when missing; refuses a file others can read."""
    try:
        return _read_key_file(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # O_EXCL + 0600: the key is never readable by others, not even for the moment between create and chmod
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(Fernet.generate_key() + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            # link() fails if the name exists: two processes starting at once end up sharing the first one's key
            os.link(temporary, path)
            log.info("created secret key file %s (mode 0600); back it up: without it stored logins are lost", path)
        except FileExistsError:
            pass
    finally:
        temporary.unlink(missing_ok=True)
    return _read_key_file(path)


def _read_key_file(path: Path) -> bytes:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise SecretsError(
            f"key file {path} is accessible by group or others (mode {mode:04o}); fix it with: chmod 600 {path}"
        )
    key = path.read_bytes().strip()
    if not key:
        raise SecretsError(f"key file {path} is empty; delete it to make a new key (stored logins are then lost)")
    return key


def store_secret(account_id: int, kind: str, value: Any, expires_at: datetime | None = None) -> None:
    """Encrypt ``value`` (JSON-serialisable) and store it as the account's ``kind`` secret, replacing the old one.

    ``kind`` is ``session`` (Playwright storage state), ``api_token`` or ``oauth`` (a token set); ``expires_at``
    (timezone-aware) is informational. Raises :class:`AccountError` for an unknown account.
    """
    if not kind or not kind.replace("_", "").isalnum():
        raise SecretsError(f"account {account_id}: secret kind {kind!r} must be a word such as api_token")
    if expires_at is not None and expires_at.tzinfo is None:
        raise SecretsError(f"account {account_id}: expires_at must be timezone-aware")
    ciphertext = Vault.from_settings().seal(account_id, kind, value)
    for attempt in range(2):
        with session() as db:
            if db.get(AccountRecord, account_id) is None:
                raise AccountError(f"no account with id {account_id}")
            row = db.exec(
                select(AccountSecret).where(AccountSecret.account_id == account_id, AccountSecret.kind == kind)
            ).first()
            row = row or AccountSecret(account_id=account_id, kind=kind, ciphertext=ciphertext)
            row.ciphertext = ciphertext
            row.expires_at = expires_at
            row.updated_at = utcnow()
            db.add(row)
            try:
                db.commit()
            except IntegrityError:
                # another process inserted the same (account, kind) between our read and write: update theirs
                db.rollback()
                if attempt:
                    raise
                continue
            log.debug("stored account %s's %s secret", account_id, kind)
            return


def load_credentials(account_id: int) -> Credentials:
    """All of the account's secrets, decrypted, as :class:`Credentials` whose ``renew`` stores renewed ones.

    An account without secrets gives empty credentials. A wrong key raises a one-line :class:`SecretsError`.
    """
    with session() as db:
        rows = db.exec(select(AccountSecret).where(AccountSecret.account_id == account_id)).all()
    vault = Vault.from_settings() if rows else None
    secrets = {row.kind: vault.open(account_id, row.kind, row.ciphertext) for row in rows if vault}

    def save(kind: str, value: Any) -> None:
        store_secret(account_id, kind, value)

    return Credentials(account_id=account_id, secrets=secrets, save=save)


def secret_kinds(account_ids: list[int] | None = None) -> dict[int, list[str]]:
    """Which secret kinds each account has (nothing is decrypted); accounts without secrets are absent."""
    query = select(AccountSecret.account_id, AccountSecret.kind).order_by(col(AccountSecret.kind))
    if account_ids is not None:
        query = query.where(col(AccountSecret.account_id).in_(account_ids))
    kinds: dict[int, list[str]] = {}
    with session() as db:
        for account_id, kind in db.exec(query).all():
            kinds.setdefault(account_id, []).append(kind)
    return kinds


def delete_secrets(account_id: int) -> int:
    """Forget every secret of the account (e.g. before handing it over); returns how many were deleted."""
    with session() as db:
        result = db.exec(delete(AccountSecret).where(col(AccountSecret.account_id) == account_id))
        db.commit()
        return int(result.rowcount or 0)
