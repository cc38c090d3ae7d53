"""The one interface every platform adapter implements, the typed package it publishes, and its errors.

An adapter knows one platform: how to publish a :class:`PostPackage` with an account's decrypted
:class:`Credentials`, how to find a post again by its tracking code (reconciliation after a lost answer), how to
check that a login is still valid, and where its login page is. It knows nothing about the outbox: the dispatcher
(``publisher.dispatch``) decides what to do with each error class below.

Error classes are the contract between adapters and the dispatcher:

=======================  ======================================================  =================================
error                    meaning                                                 the dispatcher
=======================  ======================================================  =================================
``RetryableError``       nothing was published (5xx before submit, network        retries with backoff
                         error before submit, upload step failed)
``OutcomeUnknown``       the publish request was sent; its answer was lost        marks ``unknown``; reconciles
                         (timeout, 504, connection reset after submit)            with :meth:`find`, never re-posts
``SessionExpired``       the login or token is no longer valid                    account -> needs_login, holds posts
``AccountRestricted``    spam / cap / "too many posts" replies                    pauses the account for the day
``RateLimited``          slow down (``retry_after`` seconds); not a strike        re-queues after ``retry_after``
``PostRejected``         the platform refused this post for good (duplicate,     fails the post with the reason
                         field rules, product not found)
=======================  ======================================================  =================================

Every error's ``str()`` is one line, carries a stable ``code``, and never contains a secret.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

AI_LABEL = "内容由AI生成 / AI-generated"
AD_DISCLOSURE = "广告"


@dataclass(frozen=True, slots=True)
class PostPackage:
    """Everything a platform needs for one post. Built from a ``posts`` row by the dispatcher."""

    post_id: str
    idempotency_key: str
    tracking_code: str  # sent as external_info / in the description; joins orders and reconciles lost answers
    platform: str
    account_id: int
    account_handle: str
    video_path: Path
    title: str
    caption: str = ""
    topics: tuple[str, ...] = ()
    product_id: str | None = None
    product_link: str | None = None
    hook_style: str | None = None
    ai_label: str = AI_LABEL
    ad_disclosure: str | None = None
    schedule_at: datetime | None = None  # None: publish now
    slot_at: datetime | None = None  # the planned slot (UTC): bounds how far back reconciliation looks
    # The platform's handle on an earlier attempt whose outcome was lost (e.g. TikTok's publish_id), as carried
    # by that attempt's error's ``remote_ref``; lets any worker reconcile it, not only the one that made it.
    remote_upload_id: str | None = None

    def compliance_problem(self) -> str | None:
        """Why this package must not leave (missing AI label, affiliate post without 广告), or ``None``."""
        if not self.ai_label.strip():
            return "the post has no AI-generated label"
        if self.product_link and not (self.ad_disclosure or "").strip():
            return "the post links a product but carries no ad disclosure (广告)"
        return None

    def description(self, max_topics: int = 5) -> str:
        """Caption, the visible labels and up to ``max_topics`` #topics, as one description text."""
        labels = " ".join(x for x in (self.ad_disclosure, f"[{self.ai_label}]") if x)
        topics = " ".join(f"#{t.lstrip('#')}" for t in self.topics[:max_topics])
        return "\n".join(x for x in (self.caption.strip(), labels, topics) if x)


@dataclass(frozen=True, slots=True)
class Credentials:
    """An account's decrypted secrets for one publish; ``repr`` never shows them."""

    account_id: int
    secrets: dict[str, Any] = field(repr=False)  # kind -> value: "session" (storage state), "api_token", "oauth"
    # Stores a renewed secret (refreshed OAuth tokens, a re-saved browser session) encrypted, by kind.
    save: Callable[[str, Any], None] | None = field(default=None, repr=False, compare=False)

    def get(self, kind: str) -> Any | None:
        return self.secrets.get(kind)

    def renew(self, kind: str, value: Any) -> None:
        """Persist a renewed secret through ``save`` (no-op when the caller keeps nothing)."""
        if self.save is not None:
            self.save(kind, value)

    def __repr__(self) -> str:
        return f"Credentials(account_id={self.account_id}, kinds={sorted(self.secrets)})"


@dataclass(frozen=True, slots=True)
class PublishReceipt:
    """What the platform answered: its id for the post (recorded before anything else happens)."""

    remote_id: str
    remote_url: str | None = None
    upload_id: str | None = None
    limited: bool = False  # throttled by the platform (e.g. a near-duplicate of another account's post)
    detail: str = ""


@dataclass(frozen=True, slots=True)
class RemotePost:
    """A post found on the platform while reconciling."""

    remote_id: str
    tracking_code: str | None
    remote_url: str | None = None
    published_at: datetime | None = None


class PublishError(Exception):
    """Base of adapter errors: a stable ``code`` and a one-line ``message`` (no secrets, no tracebacks)."""

    def __init__(
        self, code: str, message: str, retry_after: float | None = None, remote_ref: str | None = None
    ) -> None:
        self.code = code
        self.message = " ".join(str(message).split())[:500]
        self.retry_after = retry_after
        self.remote_ref = remote_ref  # the platform's id for this attempt, when it gave one (stored for reconciling)
        super().__init__(f"{code}: {self.message}")


class RetryableError(PublishError):
    """Nothing was published; trying again later is safe."""


class OutcomeUnknown(PublishError):
    """The publish was submitted and its answer was lost: the platform may have the post."""


class SessionExpired(PublishError):
    """The account's login or token is no longer valid; a human must log in again."""


class AccountRestricted(PublishError):
    """The platform says this account posts too much (spam risk, daily cap): stop the account for the day."""


class RateLimited(PublishError):
    """The platform asks to slow down for ``retry_after`` seconds; nothing was published."""


class PostRejected(PublishError):
    """The platform refused this post for good; retrying the same post cannot succeed."""


ProgressCallback = Callable[[str, float], None]


class PlatformAdapter(ABC):
    """One platform. Subclasses set the class attributes and implement the four methods."""

    name: ClassVar[str]
    #: how it publishes: "api" (official API), "browser" (Playwright on the creator site) or "folder"
    method: ClassVar[str]
    #: True only for adapters that have published on the live platform; README lists the others
    live_tested: ClassVar[bool] = False
    #: the secret kinds ``publish`` needs (one of them); ``mcn accounts login`` captures them
    secret_kinds: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def publish(
        self, post: PostPackage, credentials: Credentials, progress: ProgressCallback | None = None
    ) -> PublishReceipt:
        """Upload and publish ``post``; raise one of the :class:`PublishError` classes on failure."""

    @abstractmethod
    def find(self, post: PostPackage, credentials: Credentials) -> RemotePost | None:
        """The platform's post carrying ``post.tracking_code``, or ``None`` when it certainly has none.

        Raise :class:`RetryableError` when the platform cannot be asked right now (the post stays unknown).
        """

    @abstractmethod
    def check_session(self, credentials: Credentials) -> bool:
        """Whether the stored login still works (False: expired). Raise RetryableError if it cannot tell."""

    def login_url(self) -> str | None:
        """The creator login page ``mcn accounts login`` opens, or ``None`` when logins are not browser-based."""
        return None

    def capture_login(self, page: Any, timeout_s: float) -> dict[str, Any]:
        """Wait (at most ``timeout_s``) until the operator has logged in on ``page`` (a Playwright page opened at
        :meth:`login_url`), then return the secrets to store, by kind (e.g. ``{"session": storage_state}``).

        Raise :class:`SessionExpired` when the login did not complete in time.
        """
        raise NotImplementedError(f"{self.name}: logins are not browser-based; store its token with `mcn accounts`")

    def close(self) -> None:  # noqa: B027 - optional hook, most adapters hold nothing
        """Release browsers or HTTP clients."""

    @property
    def request_timeout_s(self) -> float | None:
        """How long one request to the platform waits before giving up, when the adapter knows (``None``: the
        configured ``publish_request_timeout_seconds``). The dispatcher's reconcile grace is derived from it."""
        return None


AdapterFactory = Callable[..., PlatformAdapter]
_REGISTRY: dict[str, AdapterFactory] = {}


def register_adapter(name: str) -> Callable[[AdapterFactory], AdapterFactory]:
    """Class decorator: make an adapter available under ``name`` (the accounts' ``platform`` field)."""

    def add(factory: AdapterFactory) -> AdapterFactory:
        _REGISTRY[name] = factory
        return factory

    return add


def adapter_names() -> list[str]:
    """Every registered platform name."""
    _load_builtin_adapters()
    return sorted(_REGISTRY)


def create_adapter(name: str, **options: Any) -> PlatformAdapter:
    """A new adapter for platform ``name``; ``options`` go to its constructor (settings when omitted)."""
    _load_builtin_adapters()
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown platform {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None
    return factory(**options)


def _load_builtin_adapters() -> None:
    # Importing the modules registers them; done lazily so `import publisher.adapters.base` stays cheap.
    import importlib

    for module in ("outbox", "sandbox", "douyin", "kuaishou", "xiaohongshu", "tiktok", "youtube"):
        try:
            importlib.import_module(f"publisher.adapters.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"publisher.adapters.{module}":
                raise


def video_file(path: Path) -> Path:
    """``path`` if it is a readable file, else a :class:`PostRejected` naming it."""
    if not path.is_file():
        raise PostRejected("video_missing", f"{path}: the clip file is missing")
    return path
