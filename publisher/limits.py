"""How much each platform lets one account (and one app) post: the numbers the posting plan never exceeds.

Each platform's :class:`PlatformLimits` keeps a margin below what the platform itself enforces or publishes, because
hitting a platform's cap is not a plain refusal: ``spam_risk_too_many_posts`` and friends put the account on a
watch list (research notes, lesson 3: "caps per account, per platform and per app/project with pacing;
``spam_risk*``/21515 stop the account, not retry"). Sources, from ``/work/shared/research/publishing.md``:

* **sandbox** - our test platform: 15 posts per account per UTC+8 day (``spam_risk_too_many_posts``) and at least
  600 s between two posts of one account (``posting_too_often``, a strike). We plan at most 12.
* **tiktok** - Content Posting API: about 15 posts a day per creator across all apps, ``video/init`` 6 requests a
  minute per user token. We plan at most 12.
* **youtube** - ``videos.insert``: 100 uploads a day per API project (since 2026-06), shared by every channel we
  run; no per-channel number is published. We plan at most 90 in all, 10 per channel.
* **douyin**, **kuaishou** - no published per-account cap for creator posting; Douyin's rules (2023-12-01) punish
  organised batch posting of near-identical content. 10 a day, 30 minutes apart, is an operating choice, not a
  platform number.
* **xiaohongshu** - no posting API (browser only) and no published cap; Bilibili banned an account after ~30
  uploads 5 minutes apart (error 21515), so browser-driven platforms get the most conservative pacing: 5 a day,
  an hour apart.
* **outbox** - writes packages to a folder for a human to post; nothing to protect.

A platform without an entry gets :data:`DEFAULT_LIMITS` (as careful as Douyin); add one with
:func:`register_limits` when an adapter lands. The operator can override single numbers per platform with
``MCN_PLATFORM_LIMITS`` (JSON, e.g. ``{"sandbox": {"min_spacing_seconds": 0}}`` for a test run):
:func:`effective_limits` applies them, and the planner and the dispatcher both read limits through it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

#: ``per_account_daily_max`` of a platform that has no limit (an int keeps arithmetic plain; no account plans more).
UNLIMITED = 1_000_000


@dataclass(frozen=True, slots=True)
class PlatformLimits:
    """What the plan allows on one platform (already below the platform's own caps).

    Attributes:
        per_account_daily_max: posts of one account per local day; an account's own ``daily_cap`` can only lower it.
        platform_daily_max: posts a day over all our accounts on the platform (an API project's quota), or ``None``.
        min_spacing_seconds: the platform's minimum gap between two posts of one account; the plan's own spacing
            (30 minutes by default) applies when larger.
        requests_per_minute: API calls a minute per account token the dispatcher may make, or ``None`` when the
            platform publishes none (browser platforms; the sandbox).
        source: where the numbers come from, for ``mcn plan`` output and reviews.
    """

    per_account_daily_max: int
    platform_daily_max: int | None
    min_spacing_seconds: int
    requests_per_minute: int | None
    source: str = ""

    def __post_init__(self) -> None:
        for name in ("per_account_daily_max", "platform_daily_max", "min_spacing_seconds", "requests_per_minute"):
            value = getattr(self, name)
            optional = name in ("platform_daily_max", "requests_per_minute")
            if not (isinstance(value, int) and not isinstance(value, bool)) and not (optional and value is None):
                raise ValueError(f"platform limits: {name} must be a whole number, not {value!r}")
        if self.per_account_daily_max < 0 or (self.platform_daily_max is not None and self.platform_daily_max < 0):
            raise ValueError("platform limits: daily maximums cannot be negative")
        if self.min_spacing_seconds < 0:
            raise ValueError("platform limits: min_spacing_seconds cannot be negative")


DEFAULT_LIMITS = PlatformLimits(
    per_account_daily_max=10,
    platform_daily_max=None,
    min_spacing_seconds=1800,
    requests_per_minute=None,
    source="no entry for this platform: Douyin-like conservative defaults",
)

_REGISTRY: dict[str, PlatformLimits] = {
    "sandbox": PlatformLimits(12, None, 600, None, "sandbox rules: 15/account/UTC+8 day, 600 s min interval"),
    "douyin": PlatformLimits(10, None, 1800, None, "no published cap; Douyin punishes batch posting"),
    "kuaishou": PlatformLimits(10, None, 1800, None, "no published cap; same care as Douyin"),
    "xiaohongshu": PlatformLimits(5, None, 3600, None, "no API, no published cap; browser pacing (cf. Bilibili 21515)"),
    "tiktok": PlatformLimits(12, None, 600, 6, "Content Posting API: ~15 posts/day/creator, video/init 6/min"),
    "youtube": PlatformLimits(10, 90, 600, None, "videos.insert: 100 uploads/day per API project"),
    "outbox": PlatformLimits(UNLIMITED, None, 0, None, "folder outbox: posted by a human, no platform limit"),
}


def register_limits(platform: str, limits: PlatformLimits) -> None:
    """Set (or replace) the limits the plan applies to ``platform`` (an adapter name)."""
    _REGISTRY[platform] = limits


def limits_for(platform: str) -> PlatformLimits:
    """The limits for ``platform``; :data:`DEFAULT_LIMITS` when it has no entry."""
    return _REGISTRY.get(platform, DEFAULT_LIMITS)


def effective_limits(platform: str) -> PlatformLimits:
    """:func:`limits_for` with the operator's ``MCN_PLATFORM_LIMITS`` overrides for ``platform`` applied.

    ``MCN_PLATFORM_LIMITS='{"sandbox": {"min_spacing_seconds": 0}}'`` fits a sandbox started with
    ``--min-interval 0`` (the demo's compressed day, the multi-dispatcher tests). Overrides can only describe what
    the platform allows; the plan and the dispatcher both read this function, so they never disagree.

    Raises:
        ValueError: one line naming the platform and the bad field or value.
    """
    from mcn.settings import get_settings

    base = limits_for(platform)
    overrides = get_settings().platform_limits.get(platform)
    if not overrides:
        return base
    names = {f.name for f in fields(PlatformLimits)} - {"source"}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ValueError(
            f"MCN_PLATFORM_LIMITS: {platform}: unknown field {unknown[0]!r}; known: {', '.join(sorted(names))}"
        )
    try:
        return replace(base, **overrides, source=f"{base.source}; overridden by MCN_PLATFORM_LIMITS")  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"MCN_PLATFORM_LIMITS: {platform}: {exc}") from None


def known_platforms() -> list[str]:
    """Platforms with their own entry."""
    return sorted(_REGISTRY)
