"""What an adapter with a metrics API offers the feedback loop (``analytics.collect``): a post's counters and the
account's affiliate orders, page by page.

Adapters opt in by implementing :class:`InsightsSource`'s methods; ``isinstance(adapter, InsightsSource)`` tells
the collector whether a platform has them. Errors are the adapter errors of :mod:`publisher.adapters.base`:
``SessionExpired`` (the account's login or token no longer works), ``RetryableError`` (ask again later),
``PostRejected`` (the platform refuses this request for good, e.g. an unknown post or a too-long time window),
``RateLimited`` (slow down: the collector stops the account for this run), and :class:`InsightsUnsupported` (the
platform's API has no such data at all, e.g. TikTok and YouTube have no affiliate order export: the collector
skips it with that reason, not as a problem).

An adapter whose API reads many posts per request also implements :class:`BatchMetricsSource`; the collector
then asks once per account (the adapter splits the ids into the platform's batch size).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from publisher.adapters.base import Credentials, PublishError


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
    #: when the post went public (platform clock), for APIs that answer it with the counters
    published_at: datetime | None = None


class InsightsUnsupported(PublishError):
    """The platform's API offers no such data (not a failure: nothing can be read, now or later)."""


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


@runtime_checkable
class BatchMetricsSource(Protocol):
    """An adapter that reads many posts' counters per request (TikTok video/query, YouTube videos.list)."""

    def posts_metrics(self, remote_ids: Sequence[str], credentials: Credentials) -> dict[str, PostMetrics]:
        """Counters of every post in ``remote_ids`` the platform answered for, by remote id; a post missing from
        the answer is gone, private or not the account's (the collector reports it per post)."""
