"""What an adapter with a metrics API offers the feedback loop (``analytics.collect``): a post's counters and the
account's affiliate orders, page by page.

Adapters opt in by implementing :class:`InsightsSource`'s methods; ``isinstance(adapter, InsightsSource)`` tells
the collector whether a platform has them. Errors are the adapter errors of :mod:`publisher.adapters.base`:
``SessionExpired`` (the account's login or token no longer works), ``RetryableError`` (ask again later),
``PostRejected`` (the platform refuses this request for good, e.g. an unknown post or a too-long time window).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from publisher.adapters.base import Credentials


@dataclass(frozen=True, slots=True)
class PostMetrics:
    """A post's counters as of ``as_of`` (the platform's clock), cumulative since it went public."""

    remote_id: str
    as_of: datetime
    plays: int
    likes: int
    product_clicks: int
    completion_rate: float | None = None
    comments: int | None = None
    shares: int | None = None
    orders: int | None = None  # paid orders the platform attributes to the post, when it says


@dataclass(frozen=True, slots=True)
class OrderPage:
    """One page of the account's affiliate orders (buyin field names), and how to get the next."""

    orders: list[dict[str, Any]] = field(default_factory=list)
    cursor: str = ""
    has_more: bool = False


@runtime_checkable
class InsightsSource(Protocol):
    """A platform adapter that can read back metrics and affiliate orders."""

    def post_metrics(self, remote_id: str, credentials: Credentials) -> PostMetrics:
        """The post's counters now."""

    def post_published_at(self, remote_id: str, credentials: Credentials) -> datetime | None:
        """When the post went (or goes) public, on the platform's clock; ``None`` when it does not say."""

    def order_page(
        self,
        credentials: Credentials,
        start: datetime | None,
        end: datetime | None,
        cursor: str | None,
        count: int,
    ) -> OrderPage:
        """Orders whose update time is in ``[start, end]`` (platform defaults when ``None``), oldest change first,
        after ``cursor`` (from the previous page)."""
