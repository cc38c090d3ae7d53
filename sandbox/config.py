"""Typed, frozen options for the sandbox platform: rules it enforces, fault knobs, the market model, the server.

Every option has a default that behaves like a plausible short-video platform; tests and the demo override a few.
Runtime changes (the admin API) replace a whole frozen object, so a request never sees half an update.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from sandbox.security import same_secret

DelayKind = Literal["fixed", "uniform", "exponential", "gamma", "lognormal"]
ClockMode = Literal["running", "manual"]

DAY = 86_400.0
# Fixed start of the simulated clock in manual mode, so two runs with the same seed produce the same timestamps.
DEFAULT_MANUAL_START = datetime(2025, 3, 3, 8, 0, tzinfo=UTC).timestamp()


@dataclass(frozen=True, slots=True)
class Rules:
    """Platform rules enforced on every publish (web page and API alike)."""

    daily_cap: int = 15  # posts per account per local (UTC+8) day; TikTok's ~15/day/creator
    min_interval_seconds: float = 600.0  # between two posts of one account (by publish time)
    spam_strikes: int = 3  # "posting too often" hits within a day before the account gets spam replies
    spam_cooldown_seconds: float = DAY  # how long spam replies last after the last strike
    max_upload_bytes: int = 256 * 1024 * 1024
    max_title_chars: int = 30
    max_topics: int = 5
    max_description_chars: int = 1000
    session_ttl_seconds: float = 3 * DAY  # web session cookie lifetime, on the simulated clock
    qr_ttl_seconds: float = 120.0  # a login QR code stays valid this long (wall clock: a human approves it)
    near_dup_share: float = 0.5  # vPDQ: a video sharing more of its frames than this with a post is a near-duplicate
    near_dup_reach: float = 0.1  # reach multiplier of a near-duplicate of another account's post (throttled)
    require_ad_disclosure: bool = False  # reject posts with a product link but no 广告 disclosure
    # Refuse an identical file and a near-duplicate of the account's own post. Off models a platform without
    # such checks, so a test sees every double publish mcn would make (the late-commit tests turn it off).
    duplicate_checks: bool = True
    schedule_min_ahead_seconds: float = 2 * 3600.0  # Douyin: scheduled posts at least 2 h ahead
    schedule_max_ahead_seconds: float = 14 * DAY

    def validate(self) -> Rules:
        """Return ``self`` or raise ``ValueError`` naming the first bad value."""
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{f.name} must be a finite number")
        if self.daily_cap < 1:
            raise ValueError("daily_cap must be at least 1")
        if self.max_upload_bytes > 64 * 1024**3 or self.min_interval_seconds > 30 * DAY:
            raise ValueError("max_upload_bytes is limited to 64 GiB and min_interval_seconds to 30 days")
        if self.session_ttl_seconds > 3650 * DAY or self.spam_cooldown_seconds > 3650 * DAY:
            raise ValueError("lifetimes are limited to 10 years")
        if self.min_interval_seconds < 0 or self.spam_cooldown_seconds < 0:
            raise ValueError("intervals must not be negative")
        if self.spam_strikes < 1:
            raise ValueError("spam_strikes must be at least 1")
        if self.max_upload_bytes < 1:
            raise ValueError("max_upload_bytes must be positive")
        if self.session_ttl_seconds <= 0 or self.qr_ttl_seconds <= 0:
            raise ValueError("session and QR lifetimes must be positive")
        if not 0 <= self.near_dup_share <= 1:
            raise ValueError("near_dup_share must be between 0 and 1")
        if not 0 <= self.near_dup_reach <= 1:
            raise ValueError("near_dup_reach must be between 0 and 1")
        return self


@dataclass(frozen=True, slots=True)
class Faults:
    """Fault knobs applied to creator pages and the account API (never to admin routes).

    ``error_rate``: answer 503 before doing anything. ``slow_rate``: wait ``slow_seconds`` before handling.
    ``timeout_rate``: handle the request (a publish really happens), then hold the answer ``timeout_seconds`` and
    send 504, so a client sees a timeout with an unknown outcome. ``spam_rate``: a publish is refused with
    ``spam_risk_too_many_posts``. ``late_commit_rate``: a publish request (API or creator form) is read whole, then
    held ``late_commit_seconds`` before the platform handles it; a client whose timeout is shorter has given up by
    then, and the post appears afterwards (a gateway or queue that commits after the caller stopped waiting).
    """

    error_rate: float = 0.0
    slow_rate: float = 0.0
    slow_seconds: float = 2.0
    timeout_rate: float = 0.0
    timeout_seconds: float = 30.0
    spam_rate: float = 0.0
    late_commit_rate: float = 0.0
    late_commit_seconds: float = 60.0

    def validate(self) -> Faults:
        """Return ``self`` or raise ``ValueError`` naming the first bad value."""
        for name in ("error_rate", "slow_rate", "timeout_rate", "spam_rate", "late_commit_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1 (got {value})")
        for name in ("slow_seconds", "timeout_seconds", "late_commit_seconds"):
            value = getattr(self, name)
            if not 0.0 <= value <= 600.0:
                raise ValueError(f"{name} must be between 0 and 600 (got {value})")
        return self

    @property
    def active(self) -> bool:
        """Whether any request-level knob is on (the middleware's fast path skips everything otherwise)."""
        return self.error_rate > 0 or self.slow_rate > 0 or self.timeout_rate > 0 or self.late_commit_rate > 0


@dataclass(frozen=True, slots=True)
class DelayDistribution:
    """A distribution of delays in days: ``fixed:D``, ``uniform:A:B``, ``exponential:MEAN``, ``gamma:MEAN:SHAPE``
    or ``lognormal:MEDIAN:SIGMA``."""

    kind: DelayKind = "gamma"
    a: float = 8.0
    b: float = 4.0

    @classmethod
    def parse(cls, text: str) -> DelayDistribution:
        """Parse the ``kind:a[:b]`` form used on the command line; raise ``ValueError`` with the accepted forms."""
        parts = text.strip().split(":")
        forms = "fixed:D, uniform:A:B, exponential:MEAN, gamma:MEAN:SHAPE or lognormal:MEDIAN:SIGMA (days)"
        kind = parts[0]
        arity = {"fixed": 1, "exponential": 1, "uniform": 2, "gamma": 2, "lognormal": 2}
        if kind not in arity or len(parts) != arity[kind] + 1:
            raise ValueError(f"bad delay distribution {text!r}; use {forms}")
        try:
            values = [float(p) for p in parts[1:]]
        except ValueError:
            raise ValueError(f"bad delay distribution {text!r}; use {forms}") from None
        dist = cls(kind, values[0], values[1] if len(values) > 1 else 0.0)  # type: ignore[arg-type]
        return dist.validate()

    def validate(self) -> DelayDistribution:
        """Return ``self`` or raise ``ValueError`` for parameters outside the distribution's domain."""
        ok = {
            "fixed": self.a >= 0,
            "uniform": 0 <= self.a <= self.b,
            "exponential": self.a > 0,
            "gamma": self.a > 0 and self.b > 0,
            "lognormal": self.a > 0 and self.b >= 0,
        }[self.kind]
        if not ok:
            raise ValueError(f"bad parameters for {self.kind} delay: {self.a}, {self.b}")
        return self

    def __str__(self) -> str:
        if self.kind in ("fixed", "exponential"):
            return f"{self.kind}:{self.a:g}"
        return f"{self.kind}:{self.a:g}:{self.b:g}"

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Draw ``size`` delays in days."""
        if self.kind == "fixed":
            return np.full(size, self.a)
        if self.kind == "uniform":
            return rng.uniform(self.a, self.b, size)
        if self.kind == "exponential":
            return rng.exponential(self.a, size)
        if self.kind == "gamma":
            return rng.gamma(self.b, self.a / self.b, size)
        return self.a * np.exp(rng.normal(0.0, self.b, size))

    def mean(self) -> float:
        """The distribution's mean in days."""
        if self.kind in ("fixed", "exponential", "gamma"):
            return self.a
        if self.kind == "uniform":
            return (self.a + self.b) / 2
        return self.a * math.exp(self.b**2 / 2)

    def cdf(self, x: float) -> float:
        """P(delay <= x days); used by tests (Kolmogorov-Smirnov) and the oracle's "settled by day d" figures."""
        if x < 0:
            return 0.0
        if self.kind == "fixed":
            return 1.0 if x >= self.a else 0.0
        if self.kind == "uniform":
            if self.b == self.a:
                return 1.0 if x >= self.a else 0.0
            return min(1.0, max(0.0, (x - self.a) / (self.b - self.a)))
        if self.kind == "exponential":
            return 1.0 - math.exp(-x / self.a)
        if self.kind == "gamma":
            return _regularized_lower_gamma(self.b, x * self.b / self.a)
        if x == 0:
            return 0.0
        if self.b == 0:
            return 1.0 if x >= self.a else 0.0
        return 0.5 * (1.0 + math.erf(math.log(x / self.a) / (self.b * math.sqrt(2.0))))


def _regularized_lower_gamma(shape: float, x: float) -> float:
    """P(shape, x) by its power series (Numerical Recipes 6.2); fine for the moderate shapes delays use."""
    if x <= 0:
        return 0.0
    term = 1.0 / shape
    total = term
    n = 0
    while abs(term) > abs(total) * 1e-15 and n < 10_000:
        n += 1
        term *= x / (shape + n)
        total += term
    return min(1.0, total * math.exp(-x + shape * math.log(x) - math.lgamma(shape)))


@dataclass(frozen=True, slots=True)
class MarketParams:
    """The market model's knobs. Hidden appeals are drawn once from the seed; see :mod:`sandbox.market`."""

    base_plays: float = 3000.0  # expected plays of a post by an average account at an average hour
    play_noise_sigma: float = 0.9  # per-post log-normal noise on reach
    account_sigma: float = 0.5  # spread of hidden per-account reach (log scale)
    hook_play_sigma: float = 0.4  # spread of hidden per-hook reach (log scale)
    completion_base: float = 0.3
    hook_completion_sigma: float = 0.5
    completion_noise_sigma: float = 0.3
    like_base: float = 0.03
    ctr_base: float = 0.012  # product clicks per play
    product_ctr_sigma: float = 0.5
    hook_ctr_sigma: float = 0.3
    cvr_base: float = 0.06  # orders per product click
    product_cvr_sigma: float = 0.6
    refund_alpha: float = 2.0  # per-product refund rate ~ Beta(alpha, beta)
    refund_beta: float = 14.0
    attention_days: float = 1.0  # plays and orders arrive after publish with this mean delay (exponential)
    settle_delay: DelayDistribution = field(default_factory=DelayDistribution)
    shop_list_share: float = 0.1  # orders placed later from the showcase: media_type shop_list, no media_id
    hook_styles: tuple[str, ...] = ("question", "pain_point", "benefit", "number", "story", "urgency", "plain")

    def validate(self) -> MarketParams:
        """Return ``self`` or raise ``ValueError`` naming the first bad value."""
        for name in ("completion_base", "like_base", "ctr_base", "cvr_base"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be strictly between 0 and 1")
        if self.base_plays <= 0 or self.attention_days <= 0:
            raise ValueError("base_plays and attention_days must be positive")
        if not 0.0 <= self.shop_list_share <= 1.0:
            raise ValueError("shop_list_share must be between 0 and 1")
        self.settle_delay.validate()
        return self


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """Everything one sandbox server needs. ``admin_token`` protects ``/api/admin``.

    ``approval_secret``: when set, answering a QR login on the "phone" page needs it (or the admin token): the
    approval is password-less, so a server reachable from other machines must not hand sessions to whoever knows a
    handle. ``mcn sandbox serve`` sets one whenever it binds off loopback.
    """

    data_dir: Path
    admin_token: str
    approval_secret: str | None = None
    seed: int = 0
    clock_mode: ClockMode | None = None  # None: keep the stored mode (a new database starts "running")
    clock_start: float | None = None  # a new database's start; None: now (running) or DEFAULT_MANUAL_START (manual)
    rules: Rules = field(default_factory=Rules)
    faults: Faults = field(default_factory=Faults)
    market: MarketParams = field(default_factory=MarketParams)
    fingerprint_seconds: float = 1.0  # one PDQ frame hash per this many seconds of video (vPDQ)

    def validate(self) -> SandboxConfig:
        """Return ``self`` or raise ``ValueError`` for the first inconsistent option."""
        if len(self.admin_token) < 16:
            raise ValueError("the admin token must be at least 16 characters")
        if self.approval_secret is not None and len(self.approval_secret) < 16:
            raise ValueError("the QR approval secret must be at least 16 characters")
        if not 0 <= self.seed < 2**63:
            raise ValueError("seed must be a non-negative 63-bit integer")
        if not 0.1 <= self.fingerprint_seconds <= 60:
            raise ValueError("fingerprint_seconds must be between 0.1 and 60")
        self.rules.validate()
        self.faults.validate()
        self.market.validate()
        return self

    @property
    def database_path(self) -> Path:
        return self.data_dir / "sandbox.db"

    def may_answer_qr(self, given: str) -> bool:
        """Whether ``given`` lets the phone page answer a QR login: always without an approval secret, else only
        with that secret or the admin token (constant-time comparisons)."""
        if self.approval_secret is None:
            return True
        return bool(given) and (same_secret(given, self.approval_secret) or same_secret(given, self.admin_token))


def new_admin_token() -> str:
    """A random admin token (printed once by ``mcn sandbox serve`` when none is configured)."""
    return "sbx-admin-" + secrets.token_urlsafe(24)


def new_approval_secret() -> str:
    """A random QR approval secret (printed once by ``mcn sandbox serve --allow-remote`` when none is configured)."""
    return "sbx-approve-" + secrets.token_urlsafe(18)


def merge(obj: Any, changes: dict[str, Any]) -> Any:
    """Return a copy of the frozen dataclass ``obj`` with ``changes`` applied, type-coerced and validated.

    Unknown names raise ``ValueError`` so a typo in an admin request is reported instead of ignored.
    """
    known = {f.name: f for f in fields(obj)}
    coerced: dict[str, Any] = {}
    for name, value in changes.items():
        if name not in known:
            raise ValueError(f"unknown option {name!r}; known: {', '.join(sorted(known))}")
        current = getattr(obj, name)
        try:
            if isinstance(current, bool):
                if not isinstance(value, bool):
                    raise TypeError
                coerced[name] = value
            elif isinstance(current, int):
                if isinstance(value, bool) or float(value) != int(value):
                    raise TypeError
                coerced[name] = int(value)
            elif isinstance(current, float):
                if isinstance(value, bool):
                    raise TypeError
                coerced[name] = float(value)
            elif isinstance(current, DelayDistribution):
                coerced[name] = DelayDistribution.parse(str(value))
            else:
                raise TypeError
        except (TypeError, ValueError, OverflowError) as exc:
            if isinstance(exc, ValueError) and "delay" in str(exc):
                raise
            raise ValueError(f"{name} must be a {type(current).__name__} (got {value!r})") from None
    return replace(obj, **coerced).validate()


def as_dict(obj: Any) -> dict[str, Any]:
    """A JSON-ready dict of a frozen options dataclass (delay distributions as their ``kind:a:b`` text)."""
    out: dict[str, Any] = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        out[f.name] = str(value) if isinstance(value, DelayDistribution) else value
    return out
