"""The sandbox's own SQLite database (never mcn's): accounts, sessions, products, uploads, posts, orders.

A file in the sandbox data dir, WAL mode, so state survives restarts. The schema is small and owned by the
sandbox alone, so ``create_all`` on start is enough (no migrations). Times are simulated epoch seconds (floats);
secrets are stored only as digests (scrypt for passwords, SHA-256 for random tokens).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base with its own metadata, separate from mcn's tables."""


class Account(Base):
    """A creator account on the platform."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    handle: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    buyin_id: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[float] = mapped_column(Float)


class WebSession(Base):
    """A creator-site login; the cookie holds a random token, the row its SHA-256."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)


class ExpiredToken(Base):
    """An API token that was expired by force (``POST /api/admin/sessions/expire`` with ``api_tokens``).

    The account's live token digest is replaced; this row remembers the old digest so a client holding it is told
    ``token_expired`` (log in again) rather than ``invalid_token``.
    """

    __tablename__ = "expired_tokens"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    expired_at: Mapped[float] = mapped_column(Float)


class QrChallenge(Base):
    """A QR-style login: the login page shows it, an operator approves it, the same browser completes it."""

    __tablename__ = "qr_challenges"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce_digest: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # pending, approved, denied, used
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), nullable=True)
    expires_at_wall: Mapped[float] = mapped_column(Float)


class Product(Base):
    """A product in the affiliate catalogue. Prices in fen, commission rate in 1/10,000 (buyin units)."""

    __tablename__ = "products"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    price_fen: Mapped[int] = mapped_column(Integer)
    commission_rate: Mapped[int] = mapped_column(Integer)
    link: Mapped[str | None] = mapped_column(String(500), nullable=True, unique=True)
    created_at: Mapped[float] = mapped_column(Float)


class Upload(Base):
    """Bytes received for a future post, with their SHA-256 and perceptual fingerprint once complete."""

    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    declared_size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    size: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16))  # pending, complete, used
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    phash: Mapped[str | None] = mapped_column(Text, nullable=True)  # vpdq: + 64 hex digits per frame
    duration: Mapped[float | None] = mapped_column(Float, nullable=True)
    path: Mapped[str] = mapped_column(String(500))
    post_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)


class Post(Base):
    """An accepted post, with the market model's final figures (revealed over simulated time)."""

    __tablename__ = "posts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    upload_id: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    topics: Mapped[str] = mapped_column(Text)  # JSON list
    hook_style: Mapped[str] = mapped_column(String(64))
    product_id: Mapped[str | None] = mapped_column(ForeignKey("products.id"), nullable=True)
    external_info: Mapped[str | None] = mapped_column(String(200), nullable=True)
    ai_declared: Mapped[bool] = mapped_column(Boolean)
    ad_disclosed: Mapped[bool] = mapped_column(Boolean)
    file_sha256: Mapped[str] = mapped_column(String(64), index=True)
    phash: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(Integer)
    duration: Mapped[float] = mapped_column(Float)
    via: Mapped[str] = mapped_column(String(8))  # web or api
    created_at: Mapped[float] = mapped_column(Float)
    publish_at: Mapped[float] = mapped_column(Float)
    limited: Mapped[bool] = mapped_column(Boolean, default=False)
    limited_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    duplicate_of: Mapped[int | None] = mapped_column(Integer, nullable=True)
    plays: Mapped[int] = mapped_column(Integer)
    completion_rate: Mapped[float] = mapped_column(Float)
    likes: Mapped[int] = mapped_column(Integer)
    comments: Mapped[int] = mapped_column(Integer)
    shares: Mapped[int] = mapped_column(Integer)
    product_clicks: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_posts_account_publish", "account_id", "publish_at"),)


class PublishKey(Base):
    """An idempotency key a client sent with a publish, per account, and the post it produced.

    A second publish with the same key gets that post back instead of a new one, so a client that lost an answer
    can safely send the publish again. Its own table (not a column of ``posts``) so ``create_all`` adds it to
    existing databases.
    """

    __tablename__ = "publish_keys"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id"))
    created_at: Mapped[float] = mapped_column(Float)


class Order(Base):
    """An affiliate order attributed to a post, with its planned pay, settle and refund times.

    The export shows an order only once ``pay_time`` has passed on the simulated clock, and its flow point from
    whichever of the planned events have happened by then.
    """

    __tablename__ = "orders"

    order_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"))
    total_pay_amount: Mapped[int] = mapped_column(Integer)
    commission_rate: Mapped[int] = mapped_column(Integer)
    estimated_commission: Mapped[int] = mapped_column(Integer)
    media_type: Mapped[str] = mapped_column(String(16))
    pay_time: Mapped[float] = mapped_column(Float)
    settle_time: Mapped[float | None] = mapped_column(Float, nullable=True)
    refund_time: Mapped[float | None] = mapped_column(Float, nullable=True)

    __table_args__ = (Index("ix_orders_account_pay", "account_id", "pay_time"),)


class Strike(Base):
    """One "posting too often" hit; enough of them within a day earn the account spam replies."""

    __tablename__ = "strikes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    at: Mapped[float] = mapped_column(Float)


class Meta(Base):
    """Small JSON state that must survive restarts (the clock)."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


def make_engine(path: Path) -> Engine:
    """Open (creating if needed) the sandbox database at ``path`` and create missing tables."""
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable across application crashes in WAL mode and skips an fsync per commit, which the
        # upload rate (>= 50 posts/s on 2 cores) needs; a power cut may lose the last transactions of a test bed.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    Base.metadata.create_all(engine)
    return engine
