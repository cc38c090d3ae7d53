"""The daily posting plan: which clip goes out on which account at what time, written as ``planned`` posts rows.

:func:`plan_day` fills every eligible account's free slots of one local day:

1. **Accounts.** ``active`` ones, and ``paused`` ones whose ``paused_until`` is before the local day starts.
   ``banned`` and ``needs_login`` accounts get nothing.
2. **Slots.** An account posts at most ``min(daily_cap, platform cap)`` times a day (:mod:`publisher.limits`),
   inside its posting windows in its own time zone (:func:`accounts.windows.slot_bounds`), at least
   ``max(plan spacing, platform spacing)`` apart. Slots are spread evenly over the windows and jittered; the jitter
   is seeded by (date, account id), so a re-plan computes the same grid and only fills the slots that no existing
   post occupies. Slots already past (``now``) stay empty. A platform's own daily cap over all accounts
   (YouTube's project quota) trims the slots round-robin over accounts.
3. **Products.** An :class:`~publisher.allocation.Allocation` (``equal`` by default) gives each product with
   unused clips a share; :func:`~publisher.allocation.apportion` turns shares into post counts (largest remainder,
   never more than the product's unused clips); clips without a product are one more bucket.
4. **Matching.** Products with niches go first to accounts sharing a niche, then to accounts without niches; a
   product and an account that both have niches and share none are never paired. Products without niches fill
   the rest. What a product cannot place is re-apportioned among the others.
5. **Clips.** A clip (or variant) goes out at most once per platform, ever (any existing posts row counts), and
   near-identical posts (same ``content_key``: a clip and its variants) at most once per platform per day, so
   the same product on two accounts always gets two different clips. Best-scored clips first. Two posts on one
   platform on one day share at most half of their source footage (:mod:`publisher.overlap`): a clip that would
   share more with a same-day post, or with a better clip of the day, is held back for another day or platform.
   Livestream clips and product remixes (``clips.kind``) are planned alike; after matching, posts are swapped
   between accounts so one source (a recording, or a product's material) reaches every account before any
   account gets a second clip of it.
   **The approval gate** comes first: a clip (remix or edit) a reviewer rejected in the console is never planned,
   and one that needs approval only once approved: clips of a console project's recordings when the project
   requires approval (the default; the project page turns it off), or every clip with ``MCN_REQUIRE_APPROVAL``.
   Clips made from the CLI for the operator's own use need none. Slots left empty while clips wait say so.
   Rejecting a clip later cancels its posts still ``planned`` (:func:`publisher.review.cancel_posts_of_clip`).
6. **Rows.** Title, caption and topics from :mod:`publisher.content`; the AI label always, the 广告 disclosure
   with a product link; ``approval = pending`` for accounts that require approval. The idempotency key hashes
   (account, clip, variant, date), so the same plan inputs never insert twice.

Rows are inserted with one Core ``executemany`` per chunk, in one transaction that holds the database's write
lock (``BEGIN IMMEDIATE`` on SQLite, an advisory lock on Postgres) from reading the existing posts to the commit,
so two planners running at once cannot both fill the same free slot.

Speed (``bench/bench_plan.py``: 10,000 accounts x 10 posts in about 7 s on 2 cores, rows written): one query per
table, slot times by plain arithmetic, matching with round-robin queues, the cyclic garbage collector paused, and
for big plans a helper process (:mod:`publisher.plan_worker`) building part of the post text while rows are
inserted.
"""

from __future__ import annotations

import base64
import gc
import hashlib
import random
import threading
import time as time_module
import zlib
from collections import Counter, defaultdict, deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Table, column, func, select, table, text, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

from accounts.windows import WindowError, resolve_timezone, slot_bounds
from mcn.db import get_engine
from mcn.settings import get_settings
from mcn.tables import AccountRecord, ClipRecord, PostRecord, ProductRecord, SourceRecord, as_utc
from publisher.adapters.base import AD_DISCLOSURE, AI_LABEL
from publisher.allocation import Allocation, ProductCandidate, apportion, get_allocation
from publisher.content import TextJob
from publisher.footage import Footage, PostFootage
from publisher.limits import PlatformLimits, effective_limits
from publisher.overlap import FootageGuard, day_guards, footage_of_clip, held_back_note
from publisher.plan_worker import TextResult, TextWorker, build_texts

# Core tables (bulk reads and executemany inserts: no ORM object per row).
ACCOUNTS: Table = SQLModel.metadata.tables[AccountRecord.__tablename__]
CLIPS: Table = SQLModel.metadata.tables[ClipRecord.__tablename__]
POSTS: Table = SQLModel.metadata.tables[PostRecord.__tablename__]
PRODUCTS: Table = SQLModel.metadata.tables[ProductRecord.__tablename__]
SOURCES: Table = SQLModel.metadata.tables[SourceRecord.__tablename__]
# The approval gate reads the console's rows (console.tables, migrations 0010 and 0012) as bare table clauses, so
# the publisher does not import the console: a clip's latest verdict, and which recordings belong to a project
# that requires approval (an upload's path is its source's uri).
_CONSOLE_REVIEWS = table("console_clip_reviews", column("clip_id"), column("verdict"))
_CONSOLE_UPLOADS = table("console_uploads", column("path"), column("project_id"))
_CONSOLE_PROJECTS = table("console_projects", column("id"), column("require_approval"))
_GATED_SOURCES = (
    select(SOURCES.c.id)
    .join(_CONSOLE_UPLOADS, _CONSOLE_UPLOADS.c.path == SOURCES.c.uri)
    .join(_CONSOLE_PROJECTS, _CONSOLE_PROJECTS.c.id == _CONSOLE_UPLOADS.c.project_id)
    .where(_CONSOLE_PROJECTS.c.require_approval == true())
)

#: Post statuses that hold a slot and count towards the caps: everything except what never went out for good.
FREED_STATUSES = ("failed", "rejected")
_PG_PLAN_LOCK = 0x6D636E_706C  # "mcn" "pl": one planner at a time across processes
_INSERT_CHUNK = 5000
_SQLITE_CACHE_KIB = 64 * 1024
_MAX_REFILL_ROUNDS = 20
_SPREAD_REACH = 32  # other accounts a repeated source is offered to (publisher.plan._spread_sources)
_HELPER_SHARE = 0.6  # of a big plan's texts built by the helper: it finishes about when the planner's share is in


class PlanError(ValueError):
    """Bad input to the planner (unknown allocation, bad options); ``str()`` is one line."""


@dataclass(frozen=True, slots=True)
class PlanOptions:
    """Pacing of the plan.

    Attributes:
        spacing_seconds: least time between two posts of one account (the platform's own minimum wins if larger).
        jitter_seconds: each slot moves by up to this much either way around its even spot (less when the
            windows are tight, so the spacing always holds).
        max_clip_age_days: only clips made in the last this many days (before the planned day) are posted;
            ``None`` posts clips of any age. Bounds what a plan reads as the clips and posts tables grow by
            a day's worth each day.
        text_helper_min_posts: a plan with at least this many new posts builds part of their text in a helper
            process while it writes rows (:mod:`publisher.plan_worker`); ``None`` never does. Below ~20,000
            posts starting the process costs more than it saves.
    """

    spacing_seconds: int = 30 * 60
    jitter_seconds: int = 8 * 60
    max_clip_age_days: int | None = 90
    text_helper_min_posts: int | None = 20_000

    def __post_init__(self) -> None:
        if self.spacing_seconds < 0 or self.jitter_seconds < 0:
            raise PlanError("plan options: spacing_seconds and jitter_seconds cannot be negative")
        if self.max_clip_age_days is not None and self.max_clip_age_days < 0:
            raise PlanError("plan options: max_clip_age_days cannot be negative")


@dataclass(frozen=True, slots=True)
class Variant:
    """A per-account variant of a clip (re-cut, re-captioned): posted like its clip, sharing its ``content_key``."""

    clip_id: str
    variant_id: str
    video_path: str


@dataclass(frozen=True, slots=True)
class PlannedPost:
    """One post the plan made (the row it inserted, or would insert on a dry run)."""

    post_id: str
    idempotency_key: str
    tracking_code: str
    account_id: int
    platform: str
    clip_id: str
    variant_id: str | None
    content_key: str
    product_id: str | None
    slot_at: datetime
    title: str
    hook_style: str
    approval: str
    video_path: str = ""


@dataclass(frozen=True, slots=True)
class UnfilledSlots:
    """Slots of one account that stay empty, and why (e.g. ``no unused clip for niche beauty``)."""

    account_id: int
    platform: str
    count: int
    reason: str


@dataclass(frozen=True, slots=True)
class PlanResult:
    """What :func:`plan_day` did.

    Attributes:
        day: the planned local day.
        dry_run: True when nothing was written.
        posts: the new posts, by platform, account and slot.
        per_platform: new posts per platform.
        per_product: new posts per product id (``None``: clips without a product).
        unfilled: empty slots with their reasons.
        skipped_accounts: accounts that got no slots, by status (banned, needs_login, paused).
        accounts: accounts that got at least one new post.
        timings: seconds per phase (read, match, text, write, helper wait, commit), for the benchmark and
            slow-plan reports.
        awaiting_approval: clips young enough to post that wait for approval (the gate), so were not planned.
        rejected_clips: clips young enough to post that a reviewer rejected.
    """

    day: date
    dry_run: bool
    posts: tuple[PlannedPost, ...]
    per_platform: Mapping[str, int]
    per_product: Mapping[str | None, int]
    unfilled: tuple[UnfilledSlots, ...]
    skipped_accounts: Mapping[str, int]
    accounts: int
    timings: Mapping[str, float] = field(default_factory=dict)
    awaiting_approval: int = 0
    rejected_clips: int = 0

    @property
    def planned(self) -> int:
        return len(self.posts)

    def unfilled_by_reason(self) -> dict[str, int]:
        """Empty slots per reason, most first."""
        counts: Counter[str] = Counter()
        for item in self.unfilled:
            counts[item.reason] += item.count
        return dict(counts.most_common())


# ---------------------------------------------------------------------------------------------- plan inputs


@dataclass(slots=True)
class _Account:
    id: int
    platform: str
    handle: str
    persona: str
    niches: tuple[str, ...]
    niche_keys: frozenset[str]
    daily_cap: int
    windows: tuple[str, ...]
    timezone: str
    approval_required: bool


@dataclass(frozen=True, slots=True)
class _Product:
    id: str | None
    name: str
    niches: tuple[str, ...]
    niche_keys: frozenset[str]
    link: str | None
    price: float | None
    commission_rate: float | None


@dataclass(frozen=True, slots=True)
class _Item:
    """One postable video: a clip itself (variant_id None) or one of its variants."""

    clip_id: str
    variant_id: str | None
    video_path: str


@dataclass(slots=True)
class _Group:
    """A clip with its variants: near-identical content, at most one of them per platform per day."""

    content_key: str
    product_id: str | None
    title: str
    hook: str
    items: list[_Item]
    footage: PostFootage
    source: str = ""  # what "one source" means for spreading: the recording, or a remix's product material


@dataclass(slots=True)
class _Existing:
    """Posts already in the table that constrain this plan."""

    used_items: dict[str, set[tuple[str, str | None]]] = field(default_factory=lambda: defaultdict(set))
    used_keys_today: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    platform_today: Counter[str] = field(default_factory=Counter)
    account_today: Counter[int] = field(default_factory=Counter)
    account_slots: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    footage_today: dict[str, FootageGuard] = field(default_factory=dict)


def _niche_keys(niches: Sequence[str]) -> frozenset[str]:
    return frozenset(n.strip().lower() for n in niches if n and n.strip())


def _as_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _local_day_start(day: date, tz: str) -> datetime | None:
    try:
        return datetime.combine(day, time(0), tzinfo=resolve_timezone(tz)).astimezone(UTC)
    except WindowError:
        return None


def _load_accounts(conn: Connection, day: date, platform: str | None) -> tuple[list[_Account], Counter[str]]:
    query = select(
        ACCOUNTS.c.id,
        ACCOUNTS.c.platform,
        ACCOUNTS.c.handle,
        ACCOUNTS.c.persona,
        ACCOUNTS.c.niches,
        ACCOUNTS.c.status,
        ACCOUNTS.c.paused_until,
        ACCOUNTS.c.daily_cap,
        ACCOUNTS.c.windows,
        ACCOUNTS.c.timezone,
        ACCOUNTS.c.approval_required,
    ).order_by(ACCOUNTS.c.id)
    if platform is not None:
        query = query.where(ACCOUNTS.c.platform == platform)
    eligible: list[_Account] = []
    skipped: Counter[str] = Counter()
    for row in conn.execute(query):
        if row.status == "paused":
            day_start = _local_day_start(day, row.timezone)
            if row.paused_until is None or day_start is None or as_utc(row.paused_until) > day_start:
                skipped["paused"] += 1
                continue
        elif row.status != "active":
            skipped[row.status] += 1
            continue
        niches = tuple(_as_list(row.niches))
        eligible.append(
            _Account(
                id=row.id,
                platform=row.platform,
                handle=row.handle,
                persona=row.persona or "",
                niches=niches,
                niche_keys=_niche_keys(niches),
                daily_cap=row.daily_cap,
                windows=tuple(_as_list(row.windows)),
                timezone=row.timezone,
                approval_required=bool(row.approval_required),
            )
        )
    return eligible, skipped


def _load_existing(conn: Connection, day: date, platforms: Sequence[str], clip_cutoff: datetime | None) -> _Existing:
    existing = _Existing()
    used = (
        select(POSTS.c.platform, POSTS.c.clip_id, POSTS.c.variant_id).distinct().where(POSTS.c.platform.in_(platforms))
    )
    if clip_cutoff is not None:  # only clips young enough to be posted matter
        used = used.join(CLIPS, CLIPS.c.id == POSTS.c.clip_id).where(CLIPS.c.created_at >= clip_cutoff)
    for platform, clip_id, variant_id in conn.execute(used):
        existing.used_items[platform].add((clip_id, variant_id))
    # Posts of the day and its neighbours: a slot near midnight may sit beside a post planned for the next day.
    nearby = select(
        POSTS.c.platform,
        POSTS.c.account_id,
        POSTS.c.content_key,
        POSTS.c.plan_date,
        POSTS.c.slot_at,
        POSTS.c.status,
    ).where(
        POSTS.c.plan_date >= day - timedelta(days=1),
        POSTS.c.plan_date <= day + timedelta(days=1),
        POSTS.c.platform.in_(platforms),
    )
    for row in conn.execute(nearby):
        today = row.plan_date == day
        if today:
            existing.used_keys_today[row.platform].add(row.content_key)
        if row.status in FREED_STATUSES:
            continue
        existing.account_slots[row.account_id].append(int(as_utc(row.slot_at).timestamp()))
        if today:
            existing.platform_today[row.platform] += 1
            existing.account_today[row.account_id] += 1
    existing.footage_today = day_guards(conn, day, platforms)
    return existing


@dataclass(slots=True)
class _Gate:
    """What the approval gate kept out of a plan (clips young enough to post)."""

    awaiting: int = 0
    rejected: int = 0

    def note(self) -> str:
        """`` (N clips wait for approval ...)`` for an empty-slot reason when clips wait, else ``""``."""
        if not self.awaiting:
            return ""
        return f" ({self.awaiting} clip{'s' if self.awaiting != 1 else ''} wait for approval: {_APPROVE_HINT})"


_APPROVE_HINT = "approve them in the console (mcn console serve)"


def approval_gate(conn: Connection, clip_cutoff: datetime | None = None) -> tuple[int, int]:
    """``(awaiting, rejected)``: clips (made at or after ``clip_cutoff``) the gate keeps out of every plan: those
    waiting for approval (of a console project that requires it, or every clip with ``MCN_REQUIRE_APPROVAL``)
    and those a reviewer rejected. ``mcn plan show`` says so when a day is empty."""
    gate = _Gate()
    query = (
        select(CLIPS.c.source_id, _CONSOLE_REVIEWS.c.verdict, func.count())
        .select_from(CLIPS)
        .outerjoin(_CONSOLE_REVIEWS, _CONSOLE_REVIEWS.c.clip_id == CLIPS.c.id)
        .group_by(CLIPS.c.source_id, _CONSOLE_REVIEWS.c.verdict)
    )
    if clip_cutoff is not None:
        query = query.where(CLIPS.c.created_at >= clip_cutoff)
    gated = _gated_sources(conn)
    for source_id, verdict, count in conn.execute(query):
        _admitted(gate, gated, source_id, verdict, count)
    return gate.awaiting, gate.rejected


def _gated_sources(conn: Connection) -> frozenset[str] | None:
    """Sources whose clips need approval before they are planned; ``None``: every clip does."""
    if get_settings().require_approval:
        return None
    return frozenset(conn.execute(_GATED_SOURCES).scalars())


def _admitted(gate: _Gate, gated: frozenset[str] | None, source_id: str, verdict: str | None, count: int = 1) -> bool:
    """Whether a clip passes the approval gate; counts the ones it stops in ``gate``."""
    if verdict == "rejected":
        gate.rejected += count
        return False
    if verdict != "approved" and (gated is None or source_id in gated):
        gate.awaiting += count
        return False
    return True


def _load_content(
    conn: Connection, variants: Sequence[Variant], clip_cutoff: datetime | None, gate: _Gate
) -> tuple[list[_Group], dict[str | None, _Product]]:
    products: dict[str | None, _Product] = {None: _Product(None, "", (), frozenset(), None, None, None)}
    query = select(
        PRODUCTS.c.id,
        PRODUCTS.c.name,
        PRODUCTS.c.niches,
        PRODUCTS.c.link,
        PRODUCTS.c.price,
        PRODUCTS.c.commission_rate,
    )
    for row in conn.execute(query):
        niches = tuple(_as_list(row.niches))
        products[row.id] = _Product(
            row.id, row.name, niches, _niche_keys(niches), row.link, row.price, row.commission_rate
        )
    by_clip: dict[str, list[Variant]] = defaultdict(list)
    for variant in variants:
        by_clip[variant.clip_id].append(variant)
    groups: list[_Group] = []
    clips = select(
        CLIPS.c.id,
        CLIPS.c.product_id,
        CLIPS.c.title,
        CLIPS.c.hook,
        CLIPS.c.path,
        CLIPS.c.source_id,
        CLIPS.c.source_start,
        CLIPS.c.source_end,
        CLIPS.c.footage,
        _CONSOLE_REVIEWS.c.verdict,
    ).outerjoin(_CONSOLE_REVIEWS, _CONSOLE_REVIEWS.c.clip_id == CLIPS.c.id)
    clips = clips.order_by(CLIPS.c.score.desc(), CLIPS.c.created_at.desc(), CLIPS.c.id)
    if clip_cutoff is not None:
        clips = clips.where(CLIPS.c.created_at >= clip_cutoff)
    gated = _gated_sources(conn)
    for clip_id, product_id, title, hook, path, source_id, start, end, stored, verdict in conn.execute(clips):
        # The approval gate: a rejected clip (or remix, or edit) is never planned; one that needs approval
        # (a console project's, or any with MCN_REQUIRE_APPROVAL) only once approved.
        if not _admitted(gate, gated, source_id, verdict):
            continue
        if product_id is not None and product_id not in products:
            # A clip of a product missing from the products table: plan it, without name, niches or link.
            products[product_id] = _Product(product_id, "", (), frozenset(), None, None, None)
        items = [_Item(clip_id, None, path)]
        items.extend(_Item(clip_id, v.variant_id, v.video_path) for v in sorted(by_clip.get(clip_id, ()), key=_vid))
        footage = footage_of_clip(source_id, start, end, stored)
        source = footage.source_id if isinstance(footage, Footage) else f"material:{product_id or clip_id}"
        groups.append(_Group(content_key_of(clip_id), product_id, title or "", hook or "", items, footage, source))
    return groups, products


def _vid(variant: Variant) -> str:
    return variant.variant_id


# ---------------------------------------------------------------------------------------------- keys


def content_key_of(clip_id: str) -> str:
    """The ``content_key`` of a clip and all its variants: the clip id (they are near-identical posts)."""
    return clip_id


def idempotency_key(account_id: int, clip_id: str, variant_id: str | None, day: date) -> str:
    """Stable hash of (account, clip, variant, plan date): the same plan inputs always give the same key."""
    raw = f"{account_id}\x1f{clip_id}\x1f{variant_id or ''}\x1f{day.isoformat()}"
    return hashlib.sha256(raw.encode()).hexdigest()


def tracking_code(key: str) -> str:
    """Short, URL-safe code sent as ``external_info``: ``mcn-`` + 16 base32 characters of a hash of ``key``."""
    digest = hashlib.sha256(b"tracking\x1f" + key.encode()).digest()
    return "mcn-" + base64.b32encode(digest[:10]).decode().lower()


def _seed(*parts: object) -> int:
    return int.from_bytes(hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest(), "big")


# ---------------------------------------------------------------------------------------------- slots


def slot_grid(
    bounds: Sequence[tuple[int, int]], count: int, spacing: int, jitter: int, rng: random.Random
) -> list[int]:
    """Up to ``count`` slot times (UTC epoch seconds) inside ``bounds`` (sorted, disjoint ``[start, end)``).

    The windows are laid end to end; slot *k* sits at ``(k + 0.5) * L / n`` of their total length ``L`` plus a
    jitter of at most ``min(jitter, (L / n - spacing) / 2)``, so two slots are never closer than ``spacing`` (gaps
    between windows only add room) and no slot leaves its window. Only ``L // spacing`` slots fit.
    """
    total = sum(end - start for start, end in bounds)
    if count <= 0 or total <= 0:
        return []
    n = min(count, total // spacing) if spacing > 0 else count
    if n <= 0:
        return []
    gap = total / n
    reach = max(0.0, min(float(jitter), (gap - spacing) / 2))
    slots: list[int] = []
    window = 0
    passed = 0  # total length of the windows before ``window``
    for k in range(n):
        offset = min((k + 0.5) * gap + rng.uniform(-reach, reach), total - 1)
        while offset >= passed + (bounds[window][1] - bounds[window][0]):
            passed += bounds[window][1] - bounds[window][0]
            window += 1
        slots.append(int(bounds[window][0] + offset - passed))  # floor keeps integer spacing exact
    return slots


@dataclass(frozen=True, slots=True)
class _Assignment:
    account: _Account
    product: _Product
    group: _Group
    item: _Item
    slot_ts: int


@dataclass(slots=True)
class _Slots:
    account: _Account
    times: list[int]  # free slot times to fill, in order


def _account_slots(
    accounts: Sequence[_Account],
    day: date,
    limits: PlatformLimits,
    options: PlanOptions,
    existing: _Existing,
    now_ts: int,
    unfilled: list[UnfilledSlots],
) -> list[_Slots]:
    spacing = max(options.spacing_seconds, limits.min_spacing_seconds)
    bounds_cache: dict[tuple[tuple[str, ...], str], list[tuple[int, int]] | str] = {}
    result: list[_Slots] = []
    for account in accounts:
        cap = min(account.daily_cap, limits.per_account_daily_max)
        want = cap - existing.account_today[account.id]
        if want <= 0:
            continue
        key = (account.windows, account.timezone)
        bounds = bounds_cache.get(key)
        if bounds is None:
            try:
                bounds = [
                    (int(start.timestamp()), int(end.timestamp()))
                    for start, end in slot_bounds(list(account.windows), day, account.timezone)
                ]
            except WindowError as exc:
                bounds = f"posting windows unusable: {exc}"
            bounds_cache[key] = bounds
        if isinstance(bounds, str):
            unfilled.append(UnfilledSlots(account.id, account.platform, want, bounds))
            continue
        rng = random.Random(_seed(day.isoformat(), account.id))
        grid = slot_grid(bounds, cap, spacing, options.jitter_seconds, rng)
        taken = existing.account_slots.get(account.id, ())
        free = [t for t in grid if all(abs(t - e) >= spacing for e in taken)]
        future = [t for t in free if t >= now_ts]
        times = future[:want]
        short = want - len(times)
        past = min(short, len(free) - len(future))
        if past:
            unfilled.append(UnfilledSlots(account.id, account.platform, past, "slot time already passed"))
        if short - past:
            reason = f"posting windows fit no more posts at {spacing // 60}-minute spacing"
            unfilled.append(UnfilledSlots(account.id, account.platform, short - past, reason))
        if times:
            result.append(_Slots(account, times))
    return result


def _apply_platform_cap(
    slots: list[_Slots], platform: str, limits: PlatformLimits, existing: _Existing, unfilled: list[UnfilledSlots]
) -> None:
    """Trim the slots round-robin over accounts so the platform's daily total stays under its own cap."""
    if limits.platform_daily_max is None:
        return
    budget = max(limits.platform_daily_max - existing.platform_today[platform], 0)
    wanted = [len(s.times) for s in slots]
    if sum(wanted) <= budget:
        return
    keep = [0] * len(slots)
    level = 0
    while budget > 0:
        level += 1
        for i, n in enumerate(wanted):
            if n >= level and budget > 0:
                keep[i] += 1
                budget -= 1
    reason = f"platform daily cap reached ({platform}: {limits.platform_daily_max} a day)"
    for s, n in zip(slots, keep, strict=True):
        if len(s.times) > n:
            unfilled.append(UnfilledSlots(s.account.id, platform, len(s.times) - n, reason))
            del s.times[n:]


# ---------------------------------------------------------------------------------------------- matching


class _Matcher:
    """Places product quotas on account slots: niche-sharing accounts first, then niche-free ones."""

    def __init__(self, slots: Sequence[_Slots]) -> None:
        self.free = [len(s.times) for s in slots]
        self.assigned: list[list[str | None]] = [[] for _ in slots]
        self.by_niche: dict[str, deque[int]] = defaultdict(deque)
        self.open: deque[int] = deque()  # accounts without niches: take any product
        self.everyone: deque[int] = deque()
        for i, s in enumerate(slots):
            if not self.free[i]:
                continue
            self.everyone.append(i)
            if s.account.niche_keys:
                for niche in sorted(s.account.niche_keys):
                    self.by_niche[niche].append(i)
            else:
                self.open.append(i)

    @property
    def free_total(self) -> int:
        return sum(self.free)

    def _take(self, queue: deque[int]) -> int | None:
        # Round robin: the account goes to the back while it has room, so a product spreads over accounts.
        while queue:
            i = queue.popleft()
            if self.free[i] > 0:
                if self.free[i] > 1:
                    queue.append(i)
                return i
        return None

    def place(self, product: _Product, quota: int) -> int:
        """Assign up to ``quota`` slots to ``product``; returns how many were placed."""
        phases: list[list[deque[int]]]
        if product.niche_keys:
            matching = [self.by_niche[n] for n in sorted(product.niche_keys) if n in self.by_niche]
            phases = [matching, [self.open]]
        else:
            phases = [[self.everyone]]
        placed = 0
        for queues in phases:
            live = [q for q in queues if q]
            while placed < quota and live:
                for queue in live:
                    if placed >= quota:
                        break
                    i = self._take(queue)
                    if i is not None:
                        self.free[i] -= 1
                        self.assigned[i].append(product.id)
                        placed += 1
                live = [q for q in live if q]
        return placed


def _match(
    slots: Sequence[_Slots],
    products: Mapping[str | None, _Product],
    supply: Mapping[str | None, int],
    shares: Mapping[str | None, float],
) -> _Matcher:
    matcher = _Matcher(slots)
    left = dict(supply)
    for _ in range(_MAX_REFILL_ROUNDS):
        free = matcher.free_total
        if not free:
            break
        quotas = apportion(free, shares, left)
        # Products with niches are the hardest to place: they go first, the narrowest first.
        order = sorted(
            (k for k, q in quotas.items() if q > 0),
            key=lambda k: (not products[k].niche_keys, len(products[k].niche_keys), -quotas[k], str(k)),
        )
        placed = 0
        for key in order:
            n = matcher.place(products[key], quotas[key])
            left[key] -= n
            placed += n
        if not placed:
            break
    return matcher


# ---------------------------------------------------------------------------------------------- the plan


def _resolve_allocation(allocation: Allocation | str | None) -> Allocation:
    if isinstance(allocation, Allocation):
        return allocation
    try:
        return get_allocation(allocation or "equal")
    except ValueError as exc:
        raise PlanError(str(exc)) from None


def _plan_platform(
    platform: str,
    accounts: Sequence[_Account],
    day: date,
    groups: Sequence[_Group],
    products: Mapping[str | None, _Product],
    existing: _Existing,
    allocation: Allocation,
    options: PlanOptions,
    now: datetime,
    unfilled: list[UnfilledSlots],
    gate: _Gate | None = None,
) -> list[_Assignment]:
    try:
        limits = effective_limits(platform)
    except ValueError as exc:
        raise PlanError(str(exc)) from None
    slots = _account_slots(accounts, day, limits, options, existing, int(now.timestamp()), unfilled)
    _apply_platform_cap(slots, platform, limits, existing, unfilled)
    if not slots:
        return []

    used = existing.used_items.get(platform, set())
    used_keys = existing.used_keys_today.get(platform, set())
    guard = existing.footage_today.setdefault(platform, FootageGuard())
    stock: dict[str | None, deque[tuple[_Group, _Item]]] = defaultdict(deque)
    for group in groups:
        if group.content_key in used_keys:
            continue
        for item in group.items:  # the clip itself first, then its variants
            if (item.clip_id, item.variant_id) not in used:
                # Best first: of two clips sharing over half their footage, the better one gets the day.
                if guard.admit(group.footage):
                    stock[group.product_id].append((group, item))
                break
    candidates = [
        ProductCandidate(
            k, products[k].name or str(k), products[k].niches, len(v), products[k].price, products[k].commission_rate
        )
        for k, v in stock.items()
    ]
    shares = allocation.shares(candidates, day) if candidates else {}
    matcher = _match(slots, products, {k: len(v) for k, v in stock.items()}, shares)

    assignments: list[_Assignment] = []
    for i, s in enumerate(slots):
        account = s.account
        if matcher.free[i]:
            niches = ", ".join(account.niches)
            reason = f"no unused clip for niche {niches}" if niches else "no unused clip left"
            reason += held_back_note(guard) + (gate.note() if gate is not None else "")
            unfilled.append(UnfilledSlots(account.id, platform, matcher.free[i], reason))
        picks = matcher.assigned[i]
        if not picks:
            continue
        # Products were placed in niche order; shuffle which slot gets which so no product owns the mornings.
        times = s.times[: len(picks)]
        random.Random(_seed("order", day.isoformat(), account.id)).shuffle(picks)
        for product_id, slot_ts in zip(picks, times, strict=True):
            group, item = stock[product_id].popleft()
            assignments.append(_Assignment(account, products[product_id], group, item, slot_ts))
    _spread_sources(assignments)
    return assignments


def _fits(account: _Account, product: _Product) -> bool:
    return not product.niche_keys or not account.niche_keys or bool(product.niche_keys & account.niche_keys)


def _spread_sources(assignments: list[_Assignment], reach: int = _SPREAD_REACH) -> None:
    """Spread each source over accounts before any account gets a second clip of it.

    The matcher spreads *products* round robin; a recording sells many products, so an account can still get two
    clips of one stream while another gets none. This swaps the content (not the slot times) of two accounts'
    posts when account A holds source S twice, account B holds none of S, and B holds a post of a source T that A
    lacks, niches permitting. Each swap lowers the number of repeated (account, source) pairs, so it ends; caps,
    spacing, the footage guard and ``content_key`` rules are per platform and day and hold as they were. Each
    repeat looks at up to ``reach`` other accounts, which keeps a 100,000-post plan linear.
    """
    by_account: dict[int, list[int]] = defaultdict(list)
    counts: dict[int, Counter[str]] = defaultdict(Counter)
    for n, a in enumerate(assignments):
        by_account[a.account.id].append(n)
        counts[a.account.id][a.group.source] += 1
    order = list(by_account)
    if len(order) < 2:
        return
    holders = Counter(source for c in counts.values() for source in c)  # accounts holding each source
    for pos, account_id in enumerate(order):
        mine = counts[account_id]
        for n in list(by_account[account_id]):
            a = assignments[n]
            if mine[a.group.source] < 2 or holders[a.group.source] >= len(order):
                continue  # not repeated here, or every account has it already: nobody to give it to
            for step in range(1, min(reach, len(order) - 1) + 1):
                other = order[(pos + step) % len(order)]
                theirs = counts[other]
                if theirs[a.group.source] or not _fits(assignments[by_account[other][0]].account, a.product):
                    continue
                swap = next(
                    (
                        m
                        for m in by_account[other]
                        if not mine[assignments[m].group.source] and _fits(a.account, assignments[m].product)
                    ),
                    None,
                )
                if swap is None:
                    continue
                b = assignments[swap]
                mine[a.group.source] -= 1
                theirs[a.group.source] += 1
                theirs[b.group.source] -= 1
                mine[b.group.source] += 1
                holders[a.group.source] += 1  # ``other`` had none of it; ``account_id`` keeps one
                holders[b.group.source] += 1  # ``account_id`` had none of it
                if not theirs[b.group.source]:
                    holders[b.group.source] -= 1
                assignments[n] = _Assignment(a.account, b.product, b.group, b.item, a.slot_ts)
                assignments[swap] = _Assignment(b.account, a.product, a.group, a.item, b.slot_ts)
                break


def _text_job(assignment: _Assignment) -> TextJob:
    account, product, group = assignment.account, assignment.product, assignment.group
    seed = zlib.crc32(f"{account.id}\x1f{group.content_key}".encode())
    return (group.title, group.hook, product.name, product.niches, account.niches, account.persona, seed)


def _post_row(assignment: _Assignment, day: date, created: datetime, text: TextResult | None = None) -> dict[str, Any]:
    account, product, group, item = assignment.account, assignment.product, assignment.group, assignment.item
    key = idempotency_key(account.id, item.clip_id, item.variant_id, day)
    title, caption, topics, hook_style = text or build_texts([_text_job(assignment)])[0]
    return {
        "id": key[:32],  # derived from the key: a re-plan of the same inputs names the same post
        "idempotency_key": key,
        "tracking_code": tracking_code(key),
        "plan_date": day,
        "account_id": account.id,
        "platform": account.platform,
        "clip_id": item.clip_id,
        "variant_id": item.variant_id,
        "content_key": group.content_key,
        "product_id": product.id,
        "video_path": item.video_path,
        "title": title,
        "caption": caption,
        "topics": list(topics),
        "product_link": product.link,
        "hook_style": hook_style,
        "ai_label": AI_LABEL,
        "ad_disclosure": AD_DISCLOSURE if product.link else None,
        "slot_at": datetime.fromtimestamp(assignment.slot_ts, UTC),
        "status": "planned",
        "approval": "pending" if account.approval_required else "not_required",
        "attempts": 0,
        # Columns that stay NULL until dispatch are left out: fewer values to bind per row, and a column added
        # by a later migration needs no change here.
        "created_at": created,
        "updated_at": created,
    }


def _build_and_insert(
    conn: Connection | None,
    assignments: Sequence[_Assignment],
    day: date,
    options: PlanOptions,
    timings: dict[str, float],
) -> list[dict[str, Any]]:
    """Build every row and, unless ``conn`` is None (dry run), insert them chunk by chunk.

    A big plan hands the text of its last :data:`_HELPER_SHARE` of posts to a helper process
    (:mod:`publisher.plan_worker`) and builds and inserts the rest meanwhile, so text building and database writes
    overlap on two cores (threads would not: the GIL). Rows come back in assignment order either way.
    """
    created = datetime.now(UTC)
    split = len(assignments)
    helper = None
    if options.text_helper_min_posts is not None and len(assignments) >= options.text_helper_min_posts:
        split = int(len(assignments) * (1 - _HELPER_SHARE))
        helper = TextWorker([_text_job(a) for a in assignments[split:]])
    statement: Any = _insert_statement(conn) if conn is not None else None
    rows: list[dict[str, Any]] = []
    spent: dict[str, float] = defaultdict(float)

    def add(batch: Sequence[_Assignment], texts: Sequence[TextResult] | None) -> None:
        clock = time_module.perf_counter()
        chunk = [_post_row(a, day, created, texts[i] if texts else None) for i, a in enumerate(batch)]
        spent["text"] += time_module.perf_counter() - clock
        if conn is not None:
            clock = time_module.perf_counter()
            conn.execute(statement, chunk)
            spent["write"] += time_module.perf_counter() - clock
        rows.extend(chunk)

    try:
        for start in range(0, split, _INSERT_CHUNK):
            add(assignments[start : min(start + _INSERT_CHUNK, split)], None)
        if helper is not None:
            clock = time_module.perf_counter()
            texts = helper.results()
            spent["helper wait"] += time_module.perf_counter() - clock
            for start in range(split, len(assignments), _INSERT_CHUNK):
                end = min(start + _INSERT_CHUNK, len(assignments))
                add(assignments[start:end], texts[start - split : end - split] if texts else None)
    finally:
        if helper is not None:
            helper.close()
    timings.update((phase, round(seconds, 3)) for phase, seconds in spent.items())
    return rows


_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = False


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a plan runs.

    A plan keeps about a million small acyclic objects alive (clips, slots, rows); every full collection walks all
    of them, which made up half of a 100,000-post plan's time (9.5 s -> 6 s without). Reference counting still frees
    everything; the collector resumes when the last concurrent plan ends.
    """
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()


@contextmanager
def _plan_transaction(engine: Engine, dry_run: bool) -> Iterator[Connection]:
    """One transaction from the first read to the commit; unless a dry run, it holds the planner lock."""
    with engine.connect() as conn:
        sqlite_cache = None
        if conn.dialect.name == "sqlite":
            # A bigger page cache for this connection while it writes ~100k rows into a table with 11 indexes
            # (8 % faster); the pooled connection gets its own setting back afterwards.
            sqlite_cache = conn.exec_driver_sql("PRAGMA cache_size").scalar()
            conn.exec_driver_sql(f"PRAGMA cache_size=-{_SQLITE_CACHE_KIB}")
            conn.commit()
        try:
            if not dry_run:
                if conn.dialect.name == "sqlite":
                    # pysqlite begins transactions lazily, as DEFERRED; take the write lock before reading instead.
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                elif conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_PLAN_LOCK})
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
        finally:
            if sqlite_cache is not None:
                conn.exec_driver_sql(f"PRAGMA cache_size={int(sqlite_cache)}")
                conn.commit()


def hold_planner_lock(conn: Connection) -> None:
    """Make the transaction of ``conn`` wait for, and then exclude, a planner writing posts: a change the plan
    must see (a clip rejected) then either lands before the plan reads or after its posts are in. SQLite
    serialises writers already; Postgres takes the planners' advisory lock until the transaction ends."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_PLAN_LOCK})


def _insert_statement(conn: Connection) -> Any:
    # ON CONFLICT DO NOTHING: the planner lock already prevents duplicates; this keeps a re-plan harmless anyway.
    if conn.dialect.name == "postgresql":
        return postgresql.insert(POSTS).on_conflict_do_nothing()
    if conn.dialect.name == "sqlite":
        return sqlite.insert(POSTS).on_conflict_do_nothing()
    return POSTS.insert()  # pragma: no cover - mcn runs on SQLite or Postgres


def plan_day(
    day: date,
    platform: str | None = None,
    allocation: Allocation | str | None = None,
    now: datetime | None = None,
    dry_run: bool = False,
    *,
    variants: Sequence[Variant] = (),
    options: PlanOptions | None = None,
    engine: Engine | None = None,
) -> PlanResult:
    """Plan the posts of the local calendar ``day`` and write them as ``planned`` posts rows.

    Args:
        day: the day to plan, in each account's own time zone.
        platform: plan only accounts of this platform (adapter name); ``None`` plans every platform.
        allocation: an :class:`~publisher.allocation.Allocation` or a registered name; default ``equal``.
        now: slots before this stay empty (default: the current time).
        dry_run: compute everything, write nothing.
        variants: per-account variants of clips; each shares its clip's ``content_key``.
        options: spacing and jitter (:class:`PlanOptions`).
        engine: the database (default :func:`mcn.db.get_engine`).

    Returns:
        A :class:`PlanResult`; re-running it for the same day returns no new posts unless slots became free
        (a post failed or was rejected, clips arrived, a cap was raised).

    Raises:
        PlanError: unknown allocation name, bad ``MCN_PLATFORM_LIMITS`` override.
    """
    chosen = _resolve_allocation(allocation)
    options = options or PlanOptions()
    moment = as_utc(now) if now is not None else datetime.now(UTC)
    engine = engine or get_engine()
    unfilled: list[UnfilledSlots] = []
    assignments: list[_Assignment] = []
    timings: dict[str, float] = {}
    gate = _Gate()
    clock = time_module.perf_counter()

    def lap(phase: str) -> None:
        nonlocal clock
        now_clock = time_module.perf_counter()
        timings[phase] = round(now_clock - clock, 3)
        clock = now_clock

    with _gc_paused():
        with _plan_transaction(engine, dry_run) as conn:
            accounts, skipped = _load_accounts(conn, day, platform)
            by_platform: dict[str, list[_Account]] = defaultdict(list)
            for account in accounts:
                by_platform[account.platform].append(account)
            if by_platform:
                cutoff = None
                if options.max_clip_age_days is not None:
                    cutoff = datetime.combine(day - timedelta(days=options.max_clip_age_days), time(0), tzinfo=UTC)
                existing = _load_existing(conn, day, sorted(by_platform), cutoff)
                groups, products = _load_content(conn, variants, cutoff, gate)
                lap("read")
                for name in sorted(by_platform):
                    assignments.extend(
                        _plan_platform(
                            name,
                            by_platform[name],
                            day,
                            groups,
                            products,
                            existing,
                            chosen,
                            options,
                            moment,
                            unfilled,
                            gate,
                        )
                    )
                lap("match")
            rows = _build_and_insert(None if dry_run else conn, assignments, day, options, timings)
            clock = time_module.perf_counter()
        lap("commit")
        posts = tuple(
            PlannedPost(
                post_id=r["id"],
                idempotency_key=r["idempotency_key"],
                tracking_code=r["tracking_code"],
                account_id=r["account_id"],
                platform=r["platform"],
                clip_id=r["clip_id"],
                variant_id=r["variant_id"],
                content_key=r["content_key"],
                product_id=r["product_id"],
                slot_at=r["slot_at"],
                title=r["title"],
                hook_style=r["hook_style"],
                approval=r["approval"],
                video_path=r["video_path"],
            )
            for r in rows
        )
        return PlanResult(
            day=day,
            dry_run=dry_run,
            posts=posts,
            per_platform=dict(Counter(p.platform for p in posts)),
            per_product=dict(Counter(p.product_id for p in posts)),
            unfilled=tuple(unfilled),
            skipped_accounts=dict(skipped),
            accounts=len({p.account_id for p in posts}),
            timings=timings,
            awaiting_approval=gate.awaiting,
            rejected_clips=gate.rejected,
        )
