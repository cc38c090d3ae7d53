"""SQLModel tables: what the clip factory stores (sources, transcripts, products, clips, runs, failures) and what
publishing stores (accounts, their encrypted secrets, posts = the outbox, post events).

Times are timezone-aware UTC (SQLModel 0.0.50 rejects naive datetimes). JSON columns hold small lists only;
the full transcript lives in ``transcript.json`` beside the renders and the table points at it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive value is UTC already (SQLite hands stored times back naive through Core)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


class SourceRecord(SQLModel, table=True):
    """A recording submitted for clipping: a local file or a URL (downloaded into the data dir)."""

    __tablename__ = "sources"

    id: str = Field(default_factory=new_id, primary_key=True)
    uri: str = Field(index=True, description="What the user passed: a path or an http(s) URL.")
    local_path: str | None = None
    size_bytes: int | None = None
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    status: str = Field(default="pending", index=True, description="pending, processing, done or failed.")
    error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class TranscriptRecord(SQLModel, table=True):
    """Where a source's transcript is stored and what it holds."""

    __tablename__ = "transcripts"

    id: str = Field(default_factory=new_id, primary_key=True)
    source_id: str = Field(foreign_key="sources.id", index=True)
    language: str
    origin: str = Field(description="asr, srt or vtt.")
    path: str
    sentence_count: int
    word_count: int
    created_at: datetime = Field(default_factory=utcnow)


class ProductRecord(SQLModel, table=True):
    """A product from a brand's list or the affiliate alliance, keyed by its external id."""

    __tablename__ = "products"

    id: str = Field(primary_key=True)
    name: str
    aliases: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    price: float | None = None
    commission_rate: float | None = None
    link: str | None = None
    niches: list[str] = Field(
        default_factory=list,
        sa_column=Column(JSON, nullable=False, server_default="[]"),
        description="Categories the posting plan matches against accounts' niches; empty matches every account.",
    )
    updated_at: datetime = Field(default_factory=utcnow)


class RunRecord(SQLModel, table=True):
    """One execution of a job (e.g. making clips from one source), with its outcome."""

    __tablename__ = "runs"

    id: str = Field(default_factory=new_id, primary_key=True)
    kind: str = Field(index=True)
    source_id: str | None = Field(default=None, foreign_key="sources.id", index=True)
    status: str = Field(default="running", index=True, description="running, succeeded or failed.")
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    stats: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    error: str | None = None
    flow_run_id: str | None = None
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    # The process running it (mcn.runs): a running row whose process is gone is swept to failed.
    owner_host: str | None = None
    owner_pid: int | None = None
    owner_start: str | None = Field(default=None, description="boot id:start ticks, so a reused pid is not it")


class RunFailure(SQLModel, table=True):
    """A failure inside a run: which step, on what, and the one-line reason."""

    __tablename__ = "run_failures"

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(foreign_key="runs.id", index=True)
    step: str
    subject: str
    message: str
    created_at: datetime = Field(default_factory=utcnow)


class ClipRecord(SQLModel, table=True):
    """A rendered clip, as listed in ``clips.json``."""

    __tablename__ = "clips"
    __table_args__ = (Index("ix_clips_source_score", "source_id", "score"),)

    id: str = Field(primary_key=True)
    run_id: str = Field(foreign_key="runs.id", index=True)
    source_id: str = Field(foreign_key="sources.id")
    product_id: str | None = Field(default=None, index=True)
    rank: int
    source_start: float
    source_end: float
    duration: float
    score: float
    hook: str
    title: str
    reason: str
    points: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    sentences: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    path: str
    footage: dict[str, Any] | None = Field(
        default=None,
        sa_column=Column(JSON, nullable=True),
        description="Source footage the video shows (publisher.footage): {source, ranges} or {materials}; "
        "NULL means source_start-source_end of source_id.",
    )
    kind: str = Field(
        default="livestream",
        sa_column_kwargs={"server_default": "livestream"},
        description="livestream (an edit of a recording) or remix (a product-material remix, mcn remix make).",
    )
    created_at: datetime = Field(default_factory=utcnow)


# -- accounts and publishing ------------------------------------------------------------------------------------

ACCOUNT_STATUSES = ("active", "needs_login", "paused", "banned")
POST_STATUSES = ("planned", "claimed", "uploading", "posted", "failed", "unknown", "rejected")
APPROVALS = ("not_required", "pending", "approved", "rejected")


class AccountRecord(SQLModel, table=True):
    """A creator account the operator owns on one platform, with its caps, posting windows and affiliate id."""

    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("platform", "handle", name="uq_accounts_platform_handle"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(index=True, description="Adapter name: sandbox, douyin, kuaishou, xiaohongshu, ...")
    handle: str
    display_name: str = ""
    persona: str = ""
    niches: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="active", index=True, description="active, needs_login, paused or banned.")
    status_reason: str | None = None
    paused_until: datetime | None = Field(default=None, description="A paused account resumes after this.")
    daily_cap: int = 10
    windows: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False), description="'HH:MM-HH:MM' in its time zone."
    )
    timezone: str = "Asia/Shanghai"
    author_id: str | None = Field(default=None, description="Affiliate (buyin) author id, joins orders to posts.")
    approval_required: bool = False
    remote_id: str | None = Field(default=None, description="The platform's own id for the account, when known.")
    last_checked_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class AccountSecret(SQLModel, table=True):
    """An account's login session or API token, Fernet-encrypted; plaintext never reaches the database."""

    __tablename__ = "account_secrets"
    __table_args__ = (UniqueConstraint("account_id", "kind", name="uq_account_secrets_account_kind"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="accounts.id", index=True)
    kind: str = Field(description="session (browser storage state), api_token or oauth (token set).")
    ciphertext: str
    expires_at: datetime | None = None
    updated_at: datetime = Field(default_factory=utcnow)


class PostRecord(SQLModel, table=True):
    """One planned post of one clip (or variant) on one account: a row of the outbox.

    ``status`` moves planned -> claimed -> uploading -> posted, or to failed (``last_error`` says why), unknown
    (the platform may have it; reconciled by asking it) or rejected (by a reviewer). A posted post the platform
    throttled keeps ``status`` posted (it is out, counts against caps and is collected) with ``throttled`` set;
    the CLI and the publish table show it as "throttled".
    """

    __tablename__ = "posts"
    __table_args__ = (
        Index("ix_posts_status_slot", "status", "slot_at"),
        Index("ix_posts_account_slot", "account_id", "slot_at"),
        Index("ix_posts_account_started", "account_id", "upload_started_at"),
        Index("ix_posts_platform_started", "platform", "upload_started_at"),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    idempotency_key: str = Field(unique=True, description="Same plan inputs -> same key; a re-plan adds nothing.")
    tracking_code: str = Field(unique=True, description="Sent as external_info; joins affiliate orders to the post.")
    plan_date: date = Field(index=True)
    account_id: int = Field(foreign_key="accounts.id")
    platform: str = Field(index=True)
    clip_id: str = Field(foreign_key="clips.id", index=True)
    variant_id: str | None = None
    content_key: str = Field(index=True, description="Posts sharing it are near-identical (a clip and its variants).")
    product_id: str | None = Field(default=None, index=True)
    video_path: str
    title: str
    caption: str = ""
    topics: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    product_link: str | None = None
    hook_style: str | None = None
    ai_label: str = Field(default="", description="Visible AI-generated label; a post without one never leaves.")
    ad_disclosure: str | None = Field(default=None, description="'广告' on affiliate posts; required with a link.")
    slot_at: datetime = Field(description="When it should go out (UTC).")
    status: str = Field(default="planned", index=True)
    approval: str = Field(default="not_required", description="not_required, pending, approved or rejected.")
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, description="Backoff: not claimed again before this.")
    claimed_by: str | None = None
    claim_token: str | None = Field(default=None, description="Fencing token of the dispatcher holding the claim.")
    lease_until: datetime | None = None
    upload_started_at: datetime | None = Field(
        default=None, description="When the last upload began: caps and spacing count posts from here."
    )
    remote_id: str | None = None
    remote_upload_id: str | None = None
    outcome_lost_at: datetime | None = Field(
        default=None,
        description="When the last publish's answer was lost: 'not on the platform' is final only a grace after it.",
    )
    remote_url: str | None = None
    error_code: str | None = None
    last_error: str | None = None
    posted_at: datetime | None = None
    throttled: bool = Field(
        default=False,
        description="Posted, but the platform throttled it (e.g. a near-duplicate of another account's post).",
    )
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class PostEvent(SQLModel, table=True):
    """Every status change of a post, with who made it and why: the outbox's audit trail."""

    __tablename__ = "post_events"

    id: int | None = Field(default=None, primary_key=True)
    post_id: str = Field(foreign_key="posts.id", index=True)
    at: datetime = Field(default_factory=utcnow)
    from_status: str | None = None
    to_status: str
    worker: str | None = None
    detail: str | None = None


# -- labels -----------------------------------------------------------------------------------------------------


class SourceLabelsRecord(SQLModel, table=True):
    """The human labels of one recording (sentence kinds, clip verdicts) as one ``mcn-labels/1`` source document.

    Keyed by the source key the clip factory records (``sources.uri``, also ``clips.json``'s ``source``) rather than
    by a foreign key: labels made outside (an annotator's export) may name recordings this database never clipped.
    """

    __tablename__ = "source_labels"

    source: str = Field(primary_key=True, description="The recording's path or URI, as in clips.json.")
    language: str
    annotator: str = ""
    sentence_count: int = 0
    verdict_count: int = 0
    document: dict[str, Any] = Field(
        default_factory=dict,
        sa_column=Column(JSON, nullable=False),
        description="One source of an mcn-labels/1 document (see clipper.labels).",
    )
    updated_at: datetime = Field(default_factory=utcnow, index=True, description="When the labels last changed.")
    created_at: datetime = Field(default_factory=utcnow)


# -- feedback loop: affiliate orders, metric snapshots, sync cursors ------------------------------------------

#: Affiliate order states in the order they happen (see :mod:`analytics.orders` for the forward-only rule).
FLOW_POINTS = ("PAY_SUCC", "CONFIRM", "SETTLE", "REFUND")
#: Why an order is not attributed to one of our posts (``attributed`` when it is).
ATTRIBUTIONS = ("attributed", "no_code", "unknown_code", "product_mismatch")


class AffiliateOrderRecord(SQLModel, table=True):
    """One affiliate order (buyin ``doukeOrderAds`` / ``kolOrderAds`` fields), money in fen, times in UTC.

    ``post_id`` and ``attribution`` come from the tracking code in ``external_info`` (``analytics.attribution``);
    an order that cannot be joined to a post is kept with the reason in ``attribution``.
    """

    __tablename__ = "affiliate_orders"
    __table_args__ = (
        Index("ix_affiliate_orders_attribution", "attribution"),
        Index("ix_affiliate_orders_pay_time", "pay_success_time"),
        Index("ix_affiliate_orders_settle_time", "settle_time"),
    )

    order_id: str = Field(primary_key=True)
    product_id: str = Field(index=True)
    author_buyin_id: str | None = Field(default=None, index=True)
    total_pay_amount: int = Field(default=0, description="fen")
    pay_goods_amount: int = Field(default=0, description="fen")
    settled_goods_amount: int = Field(default=0, description="fen")
    ads_estimated_commission: int = Field(default=0, description="fen")
    ads_real_commission: int = Field(default=0, description="fen")
    commission_rate: int | None = Field(default=None, description="1/10,000, when the source gives it.")
    flow_point: str = Field(description="PAY_SUCC, CONFIRM, SETTLE or REFUND; moves forward only.")
    pay_success_time: datetime | None = None
    settle_time: datetime | None = None
    refund_time: datetime | None = None
    update_time: datetime | None = Field(default=None, description="The platform's last change of the order.")
    media_type: str | None = None
    media_id: str | None = None
    external_info: str | None = Field(default=None, description="pid_info.external_info: our tracking code.")
    source: str = Field(default="", description="Where it came from: import:<file name> or the platform's name.")
    post_id: str | None = Field(default=None, index=True, description="Our post, when the code names one.")
    attribution: str = Field(default="no_code", description="attributed, no_code, unknown_code or product_mismatch.")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class MetricSnapshotRecord(SQLModel, table=True):
    """A post's counters as the platform reported them at ``taken_at`` (its own clock): one row per reading."""

    __tablename__ = "metric_snapshots"
    __table_args__ = (UniqueConstraint("post_id", "taken_at", name="uq_metric_snapshots_post_taken"),)

    id: int | None = Field(default=None, primary_key=True)
    post_id: str = Field(foreign_key="posts.id", index=True)
    taken_at: datetime = Field(index=True, description="The platform's 'as of' time of the figures.")
    published_at: datetime | None = Field(default=None, description="When the post went public (platform time).")
    plays: int = 0
    completion_rate: float | None = None
    likes: int = 0
    comments: int | None = None
    shares: int | None = None
    product_clicks: int = 0
    orders: int | None = Field(default=None, description="Paid orders the platform counts for the post.")
    created_at: datetime = Field(default_factory=utcnow)


class SyncCursorRecord(SQLModel, table=True):
    """Where an incremental sync stopped (e.g. the update-time watermark of one account's order export)."""

    __tablename__ = "sync_cursors"

    name: str = Field(primary_key=True)
    value: str
    updated_at: datetime = Field(default_factory=utcnow)


# -- the affiliate product pool ---------------------------------------------------------------------------------


class PoolProductRecord(SQLModel, table=True):
    """A product of the affiliate pool (精选联盟 search + details fields, :mod:`alliance.product`).

    Money in fen and ratios in 1/10,000 as the platform gives them. ``local_media`` maps each image/video URL to
    its downloaded copy in the data dir (``mcn products sync``); ``source`` is ``import:<file name>`` or the
    platform the product was synced from.
    """

    __tablename__ = "pool_products"

    product_id: str = Field(primary_key=True)
    title: str
    price: int = Field(description="fen")
    coupon_price: int | None = Field(default=None, description="fen")
    cos_ratio: int = Field(description="1/10,000 (x100 of the percentage)")
    cos_fee: int = Field(description="fen")
    kol_cos_ratio: int = Field(description="1/10,000")
    kol_cos_fee: int = Field(description="fen")
    sales: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    in_stock: bool = True
    sharable: bool = True
    shop_id: str | None = None
    shop_name: str | None = None
    comment_score: float | None = None
    comment_num: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    order_num: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    view_num: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    kol_num: int | None = None
    shop_total_score: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    imgs: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    videos: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    cover: str | None = None
    detail_url: str | None = None
    first_cid: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    second_cid: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    third_cid: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    category_name: str | None = None
    attributes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    local_media: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    source: str = Field(default="", description="import:<file name> or the platform's name.")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
