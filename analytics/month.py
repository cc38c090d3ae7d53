"""A compressed month in the sandbox market: the feedback loop run day by day, once per allocation on the same seed.

For each allocation (``equal``, the uniform one, and ``thompson``, the learned one) a fresh sandbox platform with
the same market seed runs in its own process and mcn gets its own SQLite database, so both see the same hidden
appeals, the same accounts (same ids, same hidden reach) and the same per-post noise. Then, day by day:

1. **Collect** (:func:`analytics.collect.collect`): metric snapshots and the buyin order export of every account,
   through the sandbox's account API, exactly as ``mcn collect`` reads them.
2. **Plan** (:func:`publisher.plan.plan_day`) with the allocation; ``thompson`` reads its evidence from what
   collect stored (:mod:`analytics.learn`), never from the sandbox market's hidden truth.
3. **Publish** (:func:`publisher.dispatch.publish_due`): the sandbox's clock is set to each planned slot in turn and
   one dispatcher pass uploads and publishes what is due, so each post goes out at its slot.

After the last day the clock moves to the end of the month and a final collect runs. Weekly GMV (paid orders by
pay time), commission (estimated commission of orders not refunded, by pay time) and settled commission (by settle
time) are read from each database (:func:`weekly_figures`), and a PNG plots both allocations' daily GMV and
cumulative commission, the plotted series stored in the PNG's ``mcn-month`` text chunk (JSON).

Content: each day every rendered clip given (:class:`MonthClip`) is offered again as a new clips row made that
day (the plan posts a clip once per platform, and rendering a month of new videos would take hours), so the
month's sandboxes run with their duplicate checks off and no near-duplicate throttling; the market then sees each
post as product x hook style x account x hour, which is what the policy learns about. The scale (accounts, posts a
day) is the caller's choice and is printed with the figures.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import insert, select
from sqlmodel import SQLModel

from mcn.tables import (
    AffiliateOrderRecord,
    ClipRecord,
    PostRecord,
    ProductRecord,
    RunRecord,
    SourceRecord,
    as_utc,
)

MONTH_TZ = "Asia/Shanghai"
ALLOCATIONS = ("equal", "thompson")
PNG_KEY = "mcn-month"
_SOURCE_ID = "month-material"


@dataclass(frozen=True, slots=True)
class MonthClip:
    """A rendered video the month may post again: its product, file, title, hook and footage (``clips`` columns)."""

    product_id: str
    path: str
    title: str
    hook: str
    duration: float = 20.0
    footage: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class MonthProduct:
    """A product as mcn's catalogue holds it (price in yuan, commission rate as a fraction, niche)."""

    product_id: str
    name: str
    price: float
    commission_rate: float
    niche: str = ""


@dataclass(frozen=True, slots=True)
class MonthOptions:
    """The scale and market of a compressed month.

    Attributes:
        days: simulated days (28: four whole weeks).
        accounts: creator accounts per allocation.
        posts_per_account: each account's daily cap (posts a day = accounts x this).
        seed: the sandbox market's seed (the same for every allocation).
        settle_delay: the sandbox's pay-to-settle delay (``mcn sandbox serve --settle-delay``).
        start: the first simulated day (local, UTC+8); default the day after today.
        metrics_days: collect reads metrics of posts at most this many days old (plays accrue in about a day).
        allocations: the allocations compared, in the order printed.
    """

    days: int = 28
    accounts: int = 6
    posts_per_account: int = 3
    seed: int = 0
    settle_delay: str = "gamma:8:4"
    start: date | None = None
    metrics_days: float = 3.0
    allocations: tuple[str, ...] = ALLOCATIONS

    def __post_init__(self) -> None:
        if self.days < 1 or self.accounts < 1 or self.posts_per_account < 1:
            raise ValueError("month options: days, accounts and posts_per_account must be at least 1")
        if not self.allocations:
            raise ValueError("month options: name at least one allocation")

    @property
    def posts_per_day(self) -> int:
        return self.accounts * self.posts_per_account


@dataclass(frozen=True, slots=True)
class WeekFigures:
    """One week of one allocation, in fen: GMV and commission by pay time, settled commission by settle time."""

    week: int
    posts: int
    orders: int
    gmv_fen: int
    commission_fen: int
    settled_commission_fen: int


@dataclass(frozen=True, slots=True)
class AllocationMonth:
    """What one allocation's month produced: weeks, daily series (for the plot) and its database."""

    allocation: str
    database_url: str
    weeks: tuple[WeekFigures, ...]
    daily_gmv_fen: tuple[int, ...]
    daily_commission_fen: tuple[int, ...]
    posts: int
    refused: int
    wall_seconds: float

    @property
    def gmv_fen(self) -> int:
        return sum(w.gmv_fen for w in self.weeks)

    @property
    def commission_fen(self) -> int:
        return sum(w.commission_fen for w in self.weeks)


@dataclass(frozen=True, slots=True)
class MonthComparison:
    """Every allocation's month on one seed, and the plot."""

    options: MonthOptions
    start: date
    products: int
    clips: int
    months: tuple[AllocationMonth, ...]
    png: Path | None
    wall_seconds: float

    def month(self, allocation: str) -> AllocationMonth:
        return next(m for m in self.months if m.allocation == allocation)


@dataclass(slots=True)
class _Sandbox:
    url: str
    admin: httpx.Client
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo(MONTH_TZ))

    def set_clock(self, moment: datetime) -> None:
        self.admin.post("/api/admin/clock", json={"set_time": moment.timestamp()}).raise_for_status()


# -- the database of one allocation ------------------------------------------------------------------------------


@contextmanager
def use_database(url: str) -> Iterator[None]:
    """Point mcn (settings, engines) at ``url`` while the block runs; the previous database afterwards."""
    from mcn.db import dispose_engines
    from mcn.settings import get_settings

    before = os.environ.get("MCN_DATABASE_URL")
    os.environ["MCN_DATABASE_URL"] = url
    get_settings.cache_clear()
    dispose_engines()
    try:
        yield
    finally:
        dispose_engines()
        if before is None:
            os.environ.pop("MCN_DATABASE_URL", None)
        else:
            os.environ["MCN_DATABASE_URL"] = before
        get_settings.cache_clear()


def _table(record: Any) -> Any:
    return SQLModel.metadata.tables[str(record.__tablename__)]


def _seed_catalogue(products: Sequence[MonthProduct], url: str, started: datetime) -> None:
    from mcn.db import get_engine

    with get_engine().begin() as conn:
        conn.execute(
            insert(_table(SourceRecord)).values(
                id=_SOURCE_ID, uri="month://material", status="done", created_at=started, updated_at=started
            )
        )
        conn.execute(
            insert(_table(RunRecord)).values(
                id=_SOURCE_ID,
                kind="month",
                source_id=_SOURCE_ID,
                status="succeeded",
                params={},
                stats={},
                started_at=started,
            )
        )
        for p in products:
            conn.execute(
                insert(_table(ProductRecord)).values(
                    id=p.product_id,
                    name=p.name,
                    aliases=[],
                    price=p.price,
                    commission_rate=p.commission_rate,
                    link=f"{url}/item/{p.product_id}",
                    niches=[],
                    updated_at=started,
                )
            )


def _offer_clips(clips: Sequence[MonthClip], day: date, made_at: datetime) -> None:
    """Every rendered clip as a new clips row of ``day`` (the plan only reads the day's rows: max_clip_age 0)."""
    from mcn.db import get_engine

    rows = [
        {
            "id": f"month-{day:%Y%m%d}-{n:04d}",
            "run_id": _SOURCE_ID,
            "source_id": _SOURCE_ID,
            "product_id": c.product_id,
            "rank": n,
            "source_start": 0.0,
            "source_end": c.duration,
            "duration": c.duration,
            "score": 1.0 - n / 10_000,
            "hook": c.hook,
            "title": c.title,
            "reason": "month: a rendered clip offered again",
            "points": [],
            "sentences": [],
            "path": c.path,
            # each file is its own material unless the clip says what it shows (a remix's material ids)
            "footage": c.footage or {"materials": [c.path]},
            "kind": "remix",
            "created_at": made_at,
        }
        for n, c in enumerate(clips)
    ]
    with get_engine().begin() as conn:
        conn.execute(insert(_table(ClipRecord)), rows)


def _register_accounts(sandbox: _Sandbox, options: MonthOptions) -> None:
    from accounts.registry import AccountSpec, record_login, upsert_accounts
    from accounts.vault import store_secret

    remote = []
    for n in range(1, options.accounts + 1):
        answer = sandbox.admin.post("/api/admin/accounts", json={"handle": f"month_creator_{n:02d}"})
        answer.raise_for_status()
        remote.append(answer.json())
    specs = [
        AccountSpec(
            platform="sandbox",
            handle=r["handle"],
            display_name=f"好物分享官 {n:02d}",
            persona="好物分享",
            daily_cap=options.posts_per_account,
            timezone=MONTH_TZ,
            author_id=r["author_buyin_id"],
        )
        for n, r in enumerate(remote, start=1)
    ]
    for (account, _), r in zip(upsert_accounts(specs), remote, strict=True):
        store_secret(account.id, "api_token", r["api_token"])
        record_login(account.id)


def _due_slots(day: date) -> list[datetime]:
    from mcn.db import get_engine

    posts = _table(PostRecord)
    with get_engine().connect() as conn:
        found = conn.execute(
            select(posts.c.slot_at).where(posts.c.status == "planned", posts.c.plan_date == day).distinct()
        ).scalars()
        return sorted({as_utc(s) for s in found})


def _run_days(
    sandbox: _Sandbox,
    adapter: Any,
    allocation: str,
    clips: Sequence[MonthClip],
    start: date,
    options: MonthOptions,
    progress: Callable[[str], None],
) -> tuple[int, int]:
    """The month's days for one allocation; returns (posts that went out, posts refused or failed)."""
    from analytics.collect import CollectOptions, collect
    from analytics.learn import ThompsonAllocation
    from publisher.dispatch import DispatchOptions, publish_due
    from publisher.plan import PlanOptions, plan_day

    dispatch = DispatchOptions(reconcile_delay_seconds=0)
    plan_options = PlanOptions(max_clip_age_days=0)
    gathering = CollectOptions(platforms=("sandbox",), max_post_age_days=options.metrics_days)
    went, refused = 0, 0
    for offset in range(options.days):
        day = start + timedelta(days=offset)
        day_start = datetime.combine(day, datetime.min.time(), sandbox.tz).astimezone(UTC)
        sandbox.set_clock(day_start)
        collect(_at(gathering, day_start), adapters={"sandbox": adapter})
        # made "that day" as the plan's clip-age cutoff counts days (UTC midnight of the planned day)
        _offer_clips(clips, day, datetime.combine(day, datetime.min.time(), UTC))
        chosen: Any = ThompsonAllocation() if allocation == "thompson" else allocation
        plan_day(day, platform="sandbox", allocation=chosen, now=day_start, options=plan_options)
        for slot in _due_slots(day):
            moment = slot + timedelta(seconds=1)
            sandbox.set_clock(moment)
            for outcome in publish_due(now=moment, options=dispatch, adapters={"sandbox": adapter}).outcomes:
                if outcome.status == "posted":
                    went += 1
                else:
                    refused += 1
        progress(f"{allocation}: day {offset + 1}/{options.days}, {went} posts")
    end = datetime.combine(start + timedelta(days=options.days), datetime.min.time(), sandbox.tz).astimezone(UTC)
    sandbox.set_clock(end)
    collect(_at(gathering, end), adapters={"sandbox": adapter})
    return went, refused


def _at(options: Any, now: datetime) -> Any:
    """Collect options reading on the platform's clock ``now`` (the sandbox's simulated time)."""
    from dataclasses import replace

    return replace(options, now=now)


def _platform_products(admin: httpx.Client, wanted: set[str]) -> list[MonthProduct]:
    """The catalogue terms of ``wanted`` products as the platform lists them (what a seller page shows)."""
    from alliance.sync import SandboxPoolSource

    pool = SandboxPoolSource(str(admin.base_url))
    try:
        next(iter(pool.search_pages()), None)  # the alliance pool joins the platform's catalogue on first use
    finally:
        pool.close()
    listed = admin.get("/api/admin/products")
    listed.raise_for_status()
    found = {
        p["product_id"]: MonthProduct(p["product_id"], p["name"], float(p["price"]), float(p["commission_rate"]))
        for p in listed.json()["products"]
        if p["product_id"] in wanted
    }
    strays = sorted(wanted - set(found))
    if strays:
        raise ValueError(f"month: clips of products not in the sandbox's catalogue: {', '.join(strays[:5])}")
    return [found[k] for k in sorted(found)]


# -- figures ------------------------------------------------------------------------------------------------------


def weekly_figures(start: date, days: int, tz: str = MONTH_TZ) -> tuple[tuple[WeekFigures, ...], list[int], list[int]]:
    """Weeks of the month from the current database, plus daily GMV and daily commission (fen) for the plot.

    A week is 7 local days from ``start`` (the last one shorter when ``days`` is not a multiple of 7). GMV counts
    attributed orders by pay time (``total_pay_amount``), commission their estimated commission unless refunded
    (by pay time), settled commission ``ads_real_commission`` of settled orders by settle time; posts count
    by publish time.
    """
    from mcn.db import get_engine

    zone = ZoneInfo(tz)
    origin = datetime.combine(start, datetime.min.time(), zone)
    weeks = (days + 6) // 7

    def day_of(moment: datetime | None) -> int | None:
        if moment is None:
            return None
        index = (as_utc(moment) - origin).days if as_utc(moment) >= origin else -1
        return index if 0 <= index < days else None

    orders, posts = _table(AffiliateOrderRecord), _table(PostRecord)
    with get_engine().connect() as conn:
        order_rows = conn.execute(
            select(
                orders.c.total_pay_amount,
                orders.c.ads_estimated_commission,
                orders.c.ads_real_commission,
                orders.c.flow_point,
                orders.c.pay_success_time,
                orders.c.settle_time,
            ).where(orders.c.attribution == "attributed")
        ).all()
        post_times = conn.execute(select(posts.c.posted_at).where(posts.c.status == "posted")).scalars().all()
    gmv, commission, settled = [0] * days, [0] * days, [0] * days
    counted, post_count = [0] * days, [0] * days
    for pay_amount, estimated, real, flow_point, paid_at, settled_at in order_rows:
        paid_day = day_of(paid_at)
        if paid_day is not None:
            gmv[paid_day] += int(pay_amount)
            counted[paid_day] += 1
            if flow_point != "REFUND":
                commission[paid_day] += int(estimated)
        settle_day = day_of(settled_at)
        if settle_day is not None and flow_point == "SETTLE":
            settled[settle_day] += int(real)
    for posted_at in post_times:
        posted_day = day_of(posted_at)
        if posted_day is not None:
            post_count[posted_day] += 1

    def week_sum(values: list[int], week: int) -> int:
        return sum(values[week * 7 : week * 7 + 7])

    figures = tuple(
        WeekFigures(
            week=w + 1,
            posts=week_sum(post_count, w),
            orders=week_sum(counted, w),
            gmv_fen=week_sum(gmv, w),
            commission_fen=week_sum(commission, w),
            settled_commission_fen=week_sum(settled, w),
        )
        for w in range(weeks)
    )
    return figures, gmv, commission


def plot_month(comparison_months: Sequence[AllocationMonth], start: date, path: Path) -> Path:
    """Daily GMV and cumulative commission of each allocation, as a PNG; the series go in its text chunk."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True)
    series: dict[str, Any] = {"start": start.isoformat(), "allocations": {}}
    for month in comparison_months:
        days = list(range(1, len(month.daily_gmv_fen) + 1))
        cumulative = [sum(month.daily_commission_fen[:n]) / 100 for n in days]
        top.plot(days, [g / 100 for g in month.daily_gmv_fen], marker="o", markersize=3, label=month.allocation)
        bottom.plot(days, cumulative, label=month.allocation)
        series["allocations"][month.allocation] = {
            "daily_gmv_fen": list(month.daily_gmv_fen),
            "daily_commission_fen": list(month.daily_commission_fen),
        }
    top.set_ylabel("GMV per day (yuan, by pay time)")
    bottom.set_ylabel("commission so far (yuan, not refunded)")
    bottom.set_xlabel(f"day of the month (from {start.isoformat()}, UTC+8)")
    top.set_title("compressed month in the sandbox market: learned allocation vs uniform, same seed")
    for axis in (top, bottom):
        axis.grid(alpha=0.3)
        axis.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=110, metadata={PNG_KEY: json.dumps(series)})
    plt.close(fig)
    return path


def read_plot_series(path: Path) -> dict[str, Any]:
    """The series :func:`plot_month` stored in a PNG."""
    from PIL import Image

    with Image.open(path) as image:
        text = image.text  # type: ignore[attr-defined]
    return dict(json.loads(text[PNG_KEY]))


# -- the facade ---------------------------------------------------------------------------------------------------


def run_month(
    clips: Sequence[MonthClip],
    workdir: Path,
    options: MonthOptions | None = None,
    png: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> MonthComparison:
    """Run the compressed month once per allocation on one market seed and compare them (module docstring).

    Args:
        clips: rendered videos to post, each of a product in the sandbox's catalogue for ``options.seed`` (the
            alliance pool; mcn's catalogue rows take the platform's price and commission rate from its admin API).
        workdir: where each allocation's database, sandbox data and log go (``<workdir>/<allocation>/``).
        options: scale and market (:class:`MonthOptions`).
        png: where to save the plot; ``None`` saves none.
        progress: called with a short line after each simulated day.

    Returns:
        A :class:`MonthComparison` with weekly figures read back from each allocation's database.

    Raises:
        ValueError: no clips, or a clip of a product not in the sandbox's catalogue.
    """
    from publisher.adapters.base import create_adapter
    from sandbox.process import spawn_sandbox

    options = options or MonthOptions()
    if not clips:
        raise ValueError("month: no rendered clips to post")
    say = progress or (lambda _line: None)
    start = options.start or (datetime.now(ZoneInfo(MONTH_TZ)) + timedelta(days=1)).date()
    origin = datetime.combine(start, datetime.min.time(), ZoneInfo(MONTH_TZ))
    began = time.perf_counter()
    months = []
    for allocation in options.allocations:
        clock = time.perf_counter()
        base = workdir / allocation
        for stale in (base / "mcn.db", base / "mcn.db-wal", base / "mcn.db-shm"):
            stale.unlink(missing_ok=True)
        _remove_tree(base / "sandbox")
        base.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{base / 'mcn.db'}"
        token = secrets.token_urlsafe(24)
        serve_options = (
            "--clock", "manual", "--start", origin.strftime("%Y-%m-%d %H:%M"), "--seed", str(options.seed),
            "--settle-delay", options.settle_delay, "--daily-cap", str(max(options.posts_per_account, 15)),
        )  # fmt: skip
        with (
            use_database(url),
            spawn_sandbox(
                base / "sandbox", token, *serve_options, log=base / "sandbox.log", startup_timeout=120
            ) as sandbox_url,
            httpx.Client(base_url=sandbox_url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as admin,
            _sandbox_env(sandbox_url),
        ):
            sandbox = _Sandbox(sandbox_url, admin)
            # the same files go out again each day: no duplicate refusals, no near-duplicate throttling
            admin.patch("/api/admin/rules", json={"duplicate_checks": False, "near_dup_reach": 1.0}).raise_for_status()
            products = _platform_products(admin, {c.product_id for c in clips})
            _seed_catalogue(products, sandbox_url, origin.astimezone(UTC))
            _register_accounts(sandbox, options)
            # one adapter (one HTTP client) for the whole month: a new client per pass costs more than the pass
            adapter = create_adapter("sandbox")
            try:
                went, refused = _run_days(sandbox, adapter, allocation, clips, start, options, say)
            finally:
                adapter.close()
            weeks, gmv, commission = weekly_figures(start, options.days)
        months.append(
            AllocationMonth(
                allocation=allocation,
                database_url=url,
                weeks=weeks,
                daily_gmv_fen=tuple(gmv),
                daily_commission_fen=tuple(commission),
                posts=went,
                refused=refused,
                wall_seconds=time.perf_counter() - clock,
            )
        )
    saved = plot_month(months, start, png) if png is not None else None
    return MonthComparison(
        options=options,
        start=start,
        products=len({c.product_id for c in clips}),
        clips=len(clips),
        months=tuple(months),
        png=saved,
        wall_seconds=time.perf_counter() - began,
    )


@contextmanager
def _sandbox_env(url: str) -> Iterator[None]:
    """mcn's sandbox adapter talks to ``url`` through its API while the block runs."""
    from mcn.settings import get_settings

    names = ("MCN_SANDBOX_URL", "MCN_SANDBOX_PUBLISH_VIA")
    before = {n: os.environ.get(n) for n in names}
    os.environ.update({"MCN_SANDBOX_URL": url, "MCN_SANDBOX_PUBLISH_VIA": "api"})
    get_settings.cache_clear()
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()


def _remove_tree(path: Path) -> None:
    import shutil

    if path.is_dir():
        shutil.rmtree(path)


def format_yuan(fen: int) -> str:
    return f"{fen / 100:,.0f}"
