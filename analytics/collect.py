"""Collect what posts earned: metric snapshots per post and affiliate orders per account, from every platform whose
adapter has a metrics API (:class:`~publisher.adapters.insights.InsightsSource`).

**Metrics.** Every post that went out (``posts.status = posted`` with a remote id) in the last
``max_post_age_days`` is read once per run and stored as a row of ``metric_snapshots`` keyed by the platform's
"as of" time, so the table is a time series and a second run at the same platform time adds nothing. The post's
publish time on the platform's clock is asked once (the first snapshot) and carried on later ones: the policy
measures post ages on that clock, which in the sandbox is simulated.

**Orders.** Per account, the order export is read by *update time* from a watermark (``sync_cursors``,
``orders:<platform>:<account id>``), minus an overlap for late writes, page by page with the platform's cursor;
rows go through :func:`analytics.orders.upsert_orders` (idempotent, forward-only, attributed). The watermark
moves to the latest update time stored, only after the rows are stored: a crash re-reads, never skips. A
watermark older than the platform's 90-day window is caught up window by window.

One account failing (expired token, platform down, asked to slow down) is one line and the others go on. A
platform whose API has no order export (TikTok, YouTube) is noted in ``skipped_orders``, not as a problem.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Table, func, select
from sqlmodel import SQLModel

from analytics.attribution import Coverage, coverage
from analytics.fields import FieldError
from analytics.orders import OrderRow, UpsertReport, row_from_api, upsert_orders
from mcn.db import get_engine
from mcn.tables import (
    AccountRecord,
    MetricSnapshotRecord,
    PostRecord,
    SyncCursorRecord,
    as_utc,
    utcnow,
)
from publisher.adapters.base import (
    Credentials,
    PlatformAdapter,
    PublishError,
    RateLimited,
    SessionExpired,
    create_adapter,
)
from publisher.adapters.insights import BatchMetricsSource, InsightsSource, InsightsUnsupported, PostMetrics

log = logging.getLogger(__name__)

ACCOUNTS: Table = SQLModel.metadata.tables[AccountRecord.__tablename__]
POSTS: Table = SQLModel.metadata.tables[PostRecord.__tablename__]
SNAPSHOTS: Table = SQLModel.metadata.tables[MetricSnapshotRecord.__tablename__]
CURSORS: Table = SQLModel.metadata.tables[SyncCursorRecord.__tablename__]

ORDER_WINDOW = timedelta(days=89)  # buyin allows 90 days per request; one day of margin
_MAX_WINDOWS = 50
_SKIPPED_STATUSES = ("banned",)


@dataclass(frozen=True, slots=True)
class CollectOptions:
    """What one collection run reads.

    Attributes:
        platforms: only these platforms (default: every platform whose adapter has a metrics API).
        max_post_age_days: read metrics of posts posted at most this long ago (our clock); older figures have
            stopped moving.
        order_overlap: re-read this much before the watermark (a platform may write an update late).
        page_size: orders per page (the sandbox and buyin allow at most 100).
        max_pages: bound on pages per account and window.
        metrics: read post metrics; ``orders``: read affiliate orders.
        now: the clock post ages are measured on (default: the wall clock); a simulated platform clock (the
            sandbox's, in a compressed run) passes its own time so old posts stop being read.
    """

    platforms: tuple[str, ...] | None = None
    max_post_age_days: float = 30.0
    order_overlap: timedelta = timedelta(hours=1)
    page_size: int = 100
    max_pages: int = 1000
    metrics: bool = True
    orders: bool = True
    now: datetime | None = None

    def __post_init__(self) -> None:
        if self.max_post_age_days <= 0 or self.page_size < 1 or self.max_pages < 1:
            raise ValueError("collect options: max_post_age_days, page_size and max_pages must be positive")


@dataclass(slots=True)
class CollectReport:
    """What a run stored and what it could not read (one line per problem)."""

    accounts: int = 0
    posts: int = 0
    snapshots: int = 0
    orders_read: int = 0
    orders: UpsertReport = field(default_factory=UpsertReport)
    skipped_platforms: dict[str, str] = field(default_factory=dict)
    skipped_orders: dict[str, str] = field(default_factory=dict)  # platform -> why its API has no orders to read
    problems: list[str] = field(default_factory=list)
    coverage: Coverage | None = None

    def summary(self) -> str:
        text = (
            f"{self.accounts} accounts, {self.posts} posts: {self.snapshots} new metric snapshots; "
            f"{self.orders_read} orders read ({self.orders.summary()})"
        )
        if self.problems:
            text += f"; {len(self.problems)} problems"
        return text


def _cursor_name(platform: str, account_id: int) -> str:
    return f"orders:{platform}:{account_id}"


def read_cursor(name: str) -> str | None:
    """A stored sync cursor's value, or ``None``."""
    with get_engine().connect() as conn:
        return conn.execute(select(CURSORS.c.value).where(CURSORS.c.name == name)).scalar()


def write_cursor(name: str, value: str) -> None:
    """Store a sync cursor (insert or replace)."""
    with get_engine().begin() as conn:
        changed = conn.execute(CURSORS.update().where(CURSORS.c.name == name).values(value=value, updated_at=utcnow()))
        if not changed.rowcount:
            conn.execute(CURSORS.insert().values(name=name, value=value, updated_at=utcnow()))


def _accounts(platforms: tuple[str, ...] | None) -> list[tuple[int, str]]:
    query = select(ACCOUNTS.c.id, ACCOUNTS.c.platform).where(ACCOUNTS.c.status.not_in(_SKIPPED_STATUSES))
    if platforms is not None:
        query = query.where(ACCOUNTS.c.platform.in_(platforms))
    with get_engine().connect() as conn:
        return [(int(i), str(p)) for i, p in conn.execute(query.order_by(ACCOUNTS.c.id))]


def _posts_to_read(account_id: int, since: datetime) -> list[tuple[str, str, datetime | None]]:
    """(post id, remote id, known publish time) of the account's posts that went out since ``since``."""
    latest = (
        select(SNAPSHOTS.c.post_id, func.max(SNAPSHOTS.c.published_at).label("published_at"))
        .group_by(SNAPSHOTS.c.post_id)
        .subquery()
    )
    query = (
        select(POSTS.c.id, POSTS.c.remote_id, latest.c.published_at)
        .outerjoin(latest, latest.c.post_id == POSTS.c.id)
        .where(
            POSTS.c.account_id == account_id,
            POSTS.c.status == "posted",
            POSTS.c.remote_id.is_not(None),
            POSTS.c.posted_at >= since,
        )
        .order_by(POSTS.c.posted_at)
    )
    with get_engine().connect() as conn:
        return [(r[0], r[1], as_utc(r[2]) if r[2] is not None else None) for r in conn.execute(query)]


def _store_snapshot(post_id: str, published_at: datetime | None, metrics: PostMetrics) -> bool:
    taken_at = as_utc(metrics.as_of)
    with get_engine().begin() as conn:
        exists = conn.execute(
            select(SNAPSHOTS.c.id).where(SNAPSHOTS.c.post_id == post_id, SNAPSHOTS.c.taken_at == taken_at)
        ).first()
        if exists is not None:
            return False
        conn.execute(
            SNAPSHOTS.insert().values(
                post_id=post_id,
                taken_at=taken_at,
                published_at=published_at,
                plays=metrics.plays,
                completion_rate=metrics.completion_rate,
                likes=metrics.likes,
                comments=metrics.comments,
                shares=metrics.shares,
                product_clicks=metrics.product_clicks,
                orders=metrics.orders,
                created_at=utcnow(),
            )
        )
    return True


def collect_metrics(
    adapter: InsightsSource, account_id: int, credentials: Credentials, since: datetime, report: CollectReport
) -> None:
    """One snapshot per post of the account that went out since ``since``; per-post failures are reported.

    An expired login or a request to slow down ends the account's reading (one line for the account, from the
    caller): asking again for every post would only repeat it.
    """
    posts = _posts_to_read(account_id, since)
    if isinstance(adapter, BatchMetricsSource):
        _collect_batch(adapter, posts, credentials, report)
        return
    for post_id, remote_id, published_at in posts:
        report.posts += 1
        try:
            if published_at is None:
                published_at = adapter.post_published_at(remote_id, credentials)
            metrics = adapter.post_metrics(remote_id, credentials)
        except (SessionExpired, RateLimited):
            raise
        except PublishError as exc:
            report.problems.append(f"post {post_id}: metrics: {exc}")
            continue
        report.snapshots += _store_snapshot(post_id, published_at, metrics)


def _collect_batch(
    adapter: BatchMetricsSource,
    posts: list[tuple[str, str, datetime | None]],
    credentials: Credentials,
    report: CollectReport,
) -> None:
    """The account's posts in the adapter's batches; a post the platform did not answer for is one problem."""
    if not posts:
        return
    report.posts += len(posts)
    found = adapter.posts_metrics([remote_id for _, remote_id, _ in posts], credentials)
    for post_id, remote_id, published_at in posts:
        metrics = found.get(remote_id)
        if metrics is None:
            report.problems.append(
                f"post {post_id}: metrics: the platform did not answer for {remote_id} (deleted, private or not "
                "this account's)"
            )
            continue
        report.snapshots += _store_snapshot(post_id, published_at or metrics.published_at, metrics)


def collect_orders(
    adapter: InsightsSource,
    platform: str,
    account_id: int,
    credentials: Credentials,
    options: CollectOptions,
    report: CollectReport,
) -> None:
    """Read the account's orders changed since its watermark and store them; move the watermark. A platform
    without an order export is noted in ``report.skipped_orders``."""
    name = _cursor_name(platform, account_id)
    stored = read_cursor(name)
    start = datetime.fromisoformat(stored) - options.order_overlap if stored else None
    for _ in range(_MAX_WINDOWS):
        try:
            latest = _sync_window(adapter, credentials, start, None, options, platform, account_id, report)
        except InsightsUnsupported as exc:
            report.skipped_orders[platform] = exc.message
            return
        except PublishError as exc:
            if exc.code != "time_window_too_large" or start is None:
                raise
            # the watermark is older than the platform's window: catch up window by window
            end = start + ORDER_WINDOW
            latest = _sync_window(adapter, credentials, start, end, options, platform, account_id, report)
            if latest is not None:
                write_cursor(name, latest.isoformat())
            start = end
            continue
        if latest is not None:
            write_cursor(name, latest.isoformat())
        return
    report.problems.append(f"account {account_id}: orders: still catching up after {_MAX_WINDOWS} windows")


def _sync_window(
    adapter: InsightsSource,
    credentials: Credentials,
    start: datetime | None,
    end: datetime | None,
    options: CollectOptions,
    platform: str,
    account_id: int,
    report: CollectReport,
) -> datetime | None:
    """Every page of one time window; returns the latest update time stored (``None`` if no order came)."""
    cursor: str | None = None
    latest: datetime | None = None
    for _ in range(options.max_pages):
        page = adapter.order_page(credentials, start, end, cursor, options.page_size)
        rows: list[OrderRow] = []
        for raw in page.orders:
            try:
                rows.append(row_from_api(raw))
            except FieldError as exc:
                report.problems.append(f"account {account_id}: order {raw.get('order_id', '?')}: {exc}")
        report.orders_read += len(page.orders)
        report.orders.add(upsert_orders(rows, source=platform))
        for row in rows:
            if row.update_time is not None and (latest is None or row.update_time > latest):
                latest = row.update_time
        if not page.has_more or not page.cursor:
            return latest
        cursor = page.cursor
    report.problems.append(f"account {account_id}: orders: more than {options.max_pages} pages; the rest next run")
    return latest


def collect(
    options: CollectOptions | None = None,
    adapters: dict[str, PlatformAdapter] | None = None,
    load_credentials: Callable[[int], Credentials] | None = None,
) -> CollectReport:
    """Read metrics and orders from every account on a platform with a metrics API (see the module docstring).

    Args:
        options: what to read; defaults to :class:`CollectOptions`.
        adapters: adapters by platform name to use instead of new ones (tests, a caller's shared clients).
        load_credentials: how to get an account's decrypted secrets (default: the vault).

    Returns:
        A :class:`CollectReport` with counts, one line per problem, and the attribution coverage afterwards.
    """
    options = options or CollectOptions()
    if load_credentials is None:
        from accounts.vault import load_credentials as vault_credentials

        load_credentials = vault_credentials
    report = CollectReport()
    made: dict[str, PlatformAdapter | None] = {}
    since = (options.now or utcnow()) - timedelta(days=options.max_post_age_days)
    by_platform: dict[str, list[int]] = defaultdict(list)
    for account_id, platform in _accounts(options.platforms):
        by_platform[platform].append(account_id)
    try:
        for platform, account_ids in by_platform.items():
            adapter = _adapter(platform, adapters, made, report)
            if adapter is None:
                continue
            for account_id in account_ids:
                report.accounts += 1
                try:
                    credentials = load_credentials(account_id)
                    if options.metrics:
                        collect_metrics(adapter, account_id, credentials, since, report)
                    if options.orders:
                        collect_orders(adapter, platform, account_id, credentials, options, report)
                except PublishError as exc:
                    report.problems.append(f"account {account_id} ({platform}): {exc}")
                except Exception as exc:
                    log.warning("collect: account %s failed", account_id, exc_info=True)
                    report.problems.append(f"account {account_id} ({platform}): {type(exc).__name__}: {exc}")
    finally:
        for adapter_made in made.values():
            if adapter_made is not None and (adapters is None or adapter_made not in adapters.values()):
                adapter_made.close()
    report.coverage = coverage()
    return report


def _adapter(
    platform: str,
    given: dict[str, PlatformAdapter] | None,
    made: dict[str, PlatformAdapter | None],
    report: CollectReport,
) -> InsightsSource | None:
    if platform not in made:
        try:
            made[platform] = given[platform] if given and platform in given else create_adapter(platform)
        except (ValueError, KeyError) as exc:
            report.skipped_platforms[platform] = str(exc)
            made[platform] = None
    adapter = made[platform]
    if adapter is None:
        return None
    if not isinstance(adapter, InsightsSource):
        report.skipped_platforms[platform] = "no metrics API in its adapter"
        return None
    return adapter
