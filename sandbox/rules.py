"""Platform rules as pure functions over plain values, so they are testable without a server.

Field rules (title, topics, declarations, schedule) run first and explain what to fix; pacing rules (daily cap,
minimum interval, spam) run on the account's own post times; duplicate rules run in the service, which holds the
fingerprint index.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sandbox.clock import format_local, local_day
from sandbox.config import DAY, Rules
from sandbox.errors import SandboxError

_TOPIC = re.compile(r"#([^\s#]+)")
_HOOK_STYLE = re.compile(r"^[\w-]{1,32}$")

# Title cues per hook style, checked in this order; the first style with a cue wins. Only a fallback for posts
# that do not say their hook style (see classify_hook).
_HOOK_CUES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("question", re.compile(r"[?？]|吗|为什么|怎么|如何|^(why|how|what|which|do|does|is|are|can)\b", re.I)),
    ("urgency", re.compile(r"限时|最后|马上|赶紧|手慢无|今天|\b(now|hurry|last chance|today|limited)\b", re.I)),
    ("pain_point", re.compile(r"还在|别再|烦|痛|难受|踩坑|\b(tired of|stop|struggl\w*|problem|annoy\w*)\b", re.I)),
    ("number", re.compile(r"\d|[一二三四五六七八九十]+[个招款步]")),
    ("benefit", re.compile(r"省|轻松|神器|好用|提升|\b(save|easy|best|better|faster)\b", re.I)),
    ("story", re.compile(r"我的|那天|终于|\b(my|when i|i finally)\b", re.I)),
)


@dataclass(frozen=True, slots=True)
class PostFields:
    """What a publish request asks for, before the platform resolves the upload and the product."""

    title: str
    description: str = ""
    ai_declared: bool = False
    ad_disclosed: bool = False
    product_link: str | None = None
    external_info: str | None = None
    schedule_at: float | None = None
    hook_style: str | None = None


def parse_topics(description: str) -> list[str]:
    """The ``#topic`` tags of a description, in order, without duplicates."""
    seen: dict[str, None] = {}
    for match in _TOPIC.finditer(description):
        seen.setdefault(match.group(1), None)
    return list(seen)


def classify_hook(title: str) -> str:
    """A hook style read from the title's wording, for posts that do not declare one.

    The sandbox cannot watch a video, so its market model keys appeal on a hook *style*; a publisher that knows
    its clip's hook style should send it (``hook_style``), and this classifier is the fallback.
    """
    for style, cue in _HOOK_CUES:
        if cue.search(title.strip()):
            return style
    return "plain"


def check_fields(fields: PostFields, rules: Rules, now: float) -> tuple[list[str], str]:
    """Validate a publish request's own fields; return its topics and hook style or raise :class:`SandboxError`.

    The checks and their order follow what a creator fixes on the upload page: title, description, topics,
    declarations, product link presence, schedule, hook style.
    """
    title = fields.title.strip()
    if not title:
        raise SandboxError("title_required", "请填写作品标题 (a title is required)")
    if len(title) > rules.max_title_chars:
        raise SandboxError(
            "title_too_long",
            f"标题最多{rules.max_title_chars}个字 (the title has {len(title)} characters; "
            f"the limit is {rules.max_title_chars})",
        )
    if len(fields.description) > rules.max_description_chars:
        raise SandboxError(
            "description_too_long",
            f"作品简介最多{rules.max_description_chars}个字 (the description has {len(fields.description)} characters)",
        )
    topics = parse_topics(fields.description)
    if len(topics) > rules.max_topics:
        raise SandboxError(
            "too_many_topics",
            f"最多添加{rules.max_topics}个话题 (the description has {len(topics)} #topics; "
            f"the limit is {rules.max_topics})",
        )
    if not fields.ai_declared:
        raise SandboxError(
            "ai_declaration_required",
            "请声明内容由AI生成 (AI-generated content must be declared: tick the AI-generated declaration)",
        )
    if rules.require_ad_disclosure and fields.product_link and not fields.ad_disclosed:
        raise SandboxError(
            "ad_disclosure_required", "带货作品需标注广告 (a post with a product link must be disclosed as 广告)"
        )
    if fields.external_info is not None and len(fields.external_info) > 100:
        raise SandboxError("external_info_too_long", "external_info is limited to 100 characters")
    if fields.schedule_at is not None:
        check_schedule(fields.schedule_at, now, rules)
    style = fields.hook_style.strip().lower() if fields.hook_style and fields.hook_style.strip() else None
    if style is not None and not _HOOK_STYLE.match(style):
        raise SandboxError("invalid_hook_style", "hook_style must be 1-32 letters, digits, '_' or '-'")
    return topics, style or classify_hook(title)


def check_schedule(when: float, now: float, rules: Rules) -> None:
    """A scheduled publish time must lie between ``schedule_min_ahead`` and ``schedule_max_ahead`` from now."""
    earliest = now + rules.schedule_min_ahead_seconds
    latest = now + rules.schedule_max_ahead_seconds
    if not earliest <= when <= latest:
        raise SandboxError(
            "invalid_schedule_time",
            f"定时发布时间需在{rules.schedule_min_ahead_seconds / 3600:g}小时后、"
            f"{rules.schedule_max_ahead_seconds / DAY:g}天内 (choose a time between {format_local(earliest)} and "
            f"{format_local(latest)}, UTC+8)",
        )


def check_pacing(
    publish_times: Sequence[float], strike_times: Sequence[float], when: float, now: float, rules: Rules
) -> SandboxError | None:
    """The pacing verdict for an account posting at ``when``, or ``None`` when it may post.

    ``publish_times`` are the account's accepted posts (scheduled ones included, at their publish time) and
    ``strike_times`` its earlier "posting too often" hits. Order: an account in spam cooldown gets the spam reply
    whatever it sends; then the daily cap (``spam_risk_too_many_posts``, as TikTok answers it); then the minimum
    interval (``posting_too_often``, which the caller records as a strike).
    """
    recent = [t for t in strike_times if now - t < rules.spam_cooldown_seconds]
    if len(recent) >= rules.spam_strikes:
        until = max(recent) + rules.spam_cooldown_seconds
        return SandboxError(
            "spam_risk_too_many_posts",
            f"发布过于频繁, 账号已被限制 (this account posted too fast {len(recent)} times; "
            f"posting is blocked until {format_local(until)} UTC+8)",
            status=429,
            retry_after=round(until - now),
        )
    day = local_day(when)
    same_day = sum(1 for t in publish_times if local_day(t) == day)
    if same_day >= rules.daily_cap:
        return SandboxError(
            "spam_risk_too_many_posts",
            f"今日发布数量已达上限 (this account already has {same_day} posts on {format_local(when)[:10]}; "
            f"the daily limit is {rules.daily_cap})",
            status=429,
        )
    if publish_times and rules.min_interval_seconds > 0:
        gap = min(abs(when - t) for t in publish_times)
        if gap < rules.min_interval_seconds:
            wait = rules.min_interval_seconds - gap
            return SandboxError(
                "posting_too_often",
                f"发布太频繁, 请稍后再试 (posts of one account must be {rules.min_interval_seconds / 60:g} minutes "
                f"apart; try again in {wait:.0f} s)",
                status=429,
                retry_after=round(wait),
            )
    return None
