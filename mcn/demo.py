"""The demo: the whole loop on embedded defaults (SQLite, ephemeral Prefect, offline detector, sandbox platform).

1. Start the sandbox platform in its own process, with a manual clock; its alliance product pool syncs into mcn
   in the background (the sandbox draws product images and videos on request) while the next step runs.
2. Generate three sample livestreams at once (espeak-ng speech over a test picture, each with a product list) and
   make clips from them (rendered at 540x960, 15 fps, x264 ultrafast to stay quick).
3. Create a few dozen creator accounts on the sandbox through its admin API (no manual steps), register them in
   mcn with their API tokens encrypted in the vault, and put the sample products in its catalogue.
4. Render product remixes from the pool for the slots the clips leave free (make-remix at 540x960, 12 fps).
5. Plan tomorrow (Asia/Shanghai) across the accounts: caps, posting windows, spacing, one clip per platform.
6. Compress the day: step a simulated clock through tomorrow's slots, moving the sandbox's clock along, and run a
   dispatcher pass at each step, so every post goes out at its slot in a few seconds of real time. Meanwhile the
   compressed month (:mod:`mcn.demo_month`) runs in its own process on the rendered remixes.
7. Print what went out and what the outbox holds, then the month.

Everything lives under ``<data dir>/demo`` (its own SQLite database, so re-runs start clean); the whisper model
and settings are the usual ones. Each phase prints its wall time and CPU seconds (:mod:`mcn.demo_timing`).
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections import Counter
from concurrent.futures import Future
from contextlib import ExitStack
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import httpx
from rich.console import Console
from rich.table import Table

from mcn.demo_timing import PhaseClock
from mcn.settings import get_settings

if TYPE_CHECKING:
    from mcn.demo_month import BackgroundMonth

DEMO_ACCOUNTS = 30
DEMO_POSTS_PER_ACCOUNT = 10  # the sandbox's daily cap per account
#: Remixes per pool product, each from its own pair of the product's images/video (any two share at most half):
#: enough, with the livestream clips, to fill every slot of the day (20 products x 15 pairs of 5-6 images and a
#: video); the plan spreads a product's remixes over accounts, so no account gets two of one product.
DEMO_REMIX_VARIANTS = 15
#: Remix frame rate in the demo (12: the zoompan and encoding work scale with it; the near-duplicate measures
#: sample 1 fps and footage ids, so they see the same thing).
DEMO_REMIX_FPS = 12
#: Livestream clips in the demo: 540x960 at 15 fps, x264 ultrafast (a product run renders 1080x1920, 30 fps,
#: veryfast); the demo shows what is cut and posted, not broadcast quality.
DEMO_CLIP_FPS = 15
#: Remixes rendered at once: each ffmpeg pass is partly single-threaded, two keep two cores busy.
DEMO_REMIX_WORKERS = 2
DEMO_TZ = "Asia/Shanghai"
# Demo accounts take any product: three short samples give fewer clips than accounts, and the plan spreads them
# one per account. (Niche matching is in tests/test_plan.py; set niches with `mcn accounts add --niche`.)
PERSONAS = ("护肤达人", "居家好物", "户外装备控")


def run_demo(
    workdir: Path | None, console: Console, accounts: int = DEMO_ACCOUNTS, remix_variants: int = DEMO_REMIX_VARIANTS
) -> int:
    """Run the demo; return the process exit code. Each phase's wall time is printed as it ends, and a table of
    them with the total at the end (also when a phase failed)."""
    clock = PhaseClock(console)
    try:
        return _run_phases(workdir, console, accounts, remix_variants, clock)
    finally:
        clock.print_summary()


def _run_phases(workdir: Path | None, console: Console, accounts: int, remix_variants: int, clock: PhaseClock) -> int:
    from mcn.samples.scripts import DEV_EN, HELDOUT2_EN, HELDOUT_EN

    base = (workdir or get_settings().resolved_data_dir / "demo").resolve()
    for stale in (base / "demo.db", base / "demo.db-wal", base / "demo.db-shm", base / "sandbox"):
        if stale.is_dir():
            shutil.rmtree(stale)
        else:
            stale.unlink(missing_ok=True)
    base.mkdir(parents=True, exist_ok=True)
    _use_database(f"sqlite:///{base / 'demo.db'}")

    from concurrent.futures import ThreadPoolExecutor

    from sandbox.process import spawn_sandbox

    tz = ZoneInfo(DEMO_TZ)
    day = (datetime.now(tz) + timedelta(days=1)).date()
    day_start = datetime.combine(day, datetime.min.time(), tz)
    admin_token = secrets.token_urlsafe(24)
    month: BackgroundMonth | None = None
    try:
        with ExitStack() as stack:
            # The sandbox first: its alliance pool (product images and videos it draws on request) syncs in the
            # background while the samples and clips are made, instead of after them.
            with clock.phase("sandbox start"), console.status("starting the sandbox platform"):
                url = stack.enter_context(
                    spawn_sandbox(
                        base / "sandbox",
                        admin_token,
                        "--clock",
                        "manual",
                        "--start",
                        day_start.strftime("%Y-%m-%d %H:%M"),
                        log=base / "sandbox.log",
                    )
                )
            os.environ["MCN_SANDBOX_URL"] = url
            os.environ["MCN_SANDBOX_PUBLISH_VIA"] = "api"
            get_settings.cache_clear()
            console.print(f"sandbox platform on {url} (creator pages: {url}/login)", highlight=False)
            admin = stack.enter_context(
                httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin_token}"}, timeout=30)
            )
            pool_sync = stack.enter_context(ThreadPoolExecutor(max_workers=1)).submit(_sync_pool, url, base)
            console.print("product pool: syncing from the sandbox's alliance API in the background", highlight=False)

            made = 0
            samples = {"stream-a": DEV_EN, "stream-b": HELDOUT_EN, "stream-c": HELDOUT2_EN}
            with clock.phase(f"sample generation ({len(samples)} streams at once)"):
                streams = _generate_samples(samples, base, console)
            for name, stream in streams.items():
                with clock.phase(f"make-clips {name}"):
                    error = _clips_from_sample(name, stream, base)
                if error:
                    return 1
                made += 1
            clip_count = _count_clips()
            console.print(f"{clip_count} clips from {made} sample streams", highlight=False)

            with clock.phase("accounts"):
                account_ids = _create_accounts(admin, accounts)
                _list_products(admin, url)
                console.print(
                    f"{len(account_ids)} sandbox accounts registered in mcn (tokens encrypted)", highlight=False
                )
            needed = len(account_ids) * DEMO_POSTS_PER_ACCOUNT - clip_count
            if remix_variants > 0 and _remixes_from_pool(url, base, remix_variants, needed, console, clock, pool_sync):
                return 1
            # The month reposts the remixes just rendered: it runs alongside the plan and the day (demo_month).
            from mcn.demo_month import BackgroundMonth

            month = BackgroundMonth(base, console)
            with clock.phase("planning"):
                planned = _plan(day, day_start, console)
            if not planned:
                console.print("[red]error:[/red] the plan has no posts; see the unfilled slots above")
                return 1
            with clock.phase("compressed day's posting (the month alongside)"):
                posted = _run_compressed_day(admin, day_start, console)
        _print_outcome(posted, console)
        console.print(f"demo database: {base / 'demo.db'}; clips under {base}", highlight=False)
        with clock.phase("compressed month (what was left of it after the day)"):
            return month.finish()
    finally:
        if month is not None:
            month.stop()


def _use_database(url: str) -> None:
    from mcn.db import dispose_engines

    os.environ["MCN_DATABASE_URL"] = url
    get_settings.cache_clear()
    dispose_engines()


def _generate_samples(scripts: dict[str, Any], base: Path, console: Console) -> dict[str, Any]:
    """Speak and render the sample streams at once: espeak-ng runs line by line on one core, so three in threads
    keep two cores busy (measured 30-34 s against 44-48 s one after another, load average 9-12)."""
    from concurrent.futures import ThreadPoolExecutor

    from mcn.samples import build_script, generate_stream

    def one(name: str) -> Any:
        script = scripts[name]
        # each bank's segments twice over (as numbered products): a longer stream, more clips to post
        return generate_stream(build_script(script, products=2 * len(script.segments)), base / name)

    with (
        console.status(f"generating {len(scripts)} sample livestreams (espeak-ng + lavfi)"),
        ThreadPoolExecutor(max_workers=len(scripts)) as pool,
    ):
        streams = dict(zip(scripts, pool.map(one, scripts), strict=True))
    for stream in streams.values():
        console.print(f"sample stream: {stream.video} ({stream.duration:.0f} s, {len(stream.products)} products)")
    return streams


def _clips_from_sample(name: str, stream: Any, base: Path) -> str | None:
    from mcn.cli import _make_one
    from mcn.clips_pipeline import ClipsOptions

    options = ClipsOptions(
        products=str(stream.products_csv),
        max_clips=15,
        min_seconds=6.0,
        max_seconds=30.0,
        out=str(base / f"{name}-clips"),
        width=540,
        height=960,
        fps=DEMO_CLIP_FPS,
        preset="ultrafast",
    )
    return _make_one(str(stream.video), options)


def _count_clips() -> int:
    from sqlalchemy import func, select

    from mcn.db import get_engine
    from mcn.tables import ClipRecord

    with get_engine().connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ClipRecord)).scalar_one())


def _create_accounts(admin: httpx.Client, count: int) -> list[int]:
    from accounts.registry import AccountSpec, record_login, upsert_accounts
    from accounts.vault import store_secret

    remote = []
    for n in range(1, count + 1):
        answer = admin.post("/api/admin/accounts", json={"handle": f"demo_creator_{n:02d}"})
        answer.raise_for_status()
        remote.append(answer.json())
    specs = [
        AccountSpec(
            platform="sandbox",
            handle=r["handle"],
            display_name=f"好物分享官 {n:02d}",
            persona=PERSONAS[n % len(PERSONAS)],
            timezone=DEMO_TZ,
            author_id=r["author_buyin_id"],
        )
        for n, r in enumerate(remote, start=1)
    ]
    registered = upsert_accounts(specs)
    ids = []
    for (account, _), r in zip(registered, remote, strict=True):
        store_secret(account.id, "api_token", r["api_token"])
        record_login(account.id)
        ids.append(account.id)
    return ids


def _list_products(admin: httpx.Client, url: str) -> None:
    """Put mcn's products in the sandbox catalogue; mcn links them to the sandbox's product pages."""
    from sqlmodel import select

    from mcn.db import session
    from mcn.tables import ProductRecord

    niches = ("beauty", "home", "outdoor")
    with session() as db:
        for n, product in enumerate(db.exec(select(ProductRecord)).all()):
            body = {
                "product_id": product.id,
                "name": product.name,
                "price": product.price or 99.0,
                "commission_rate": product.commission_rate or 0.2,
            }
            admin.post("/api/admin/products", json=body).raise_for_status()
            product.link = f"{url}/item/{product.id}"
            product.niches = [niches[n % len(niches)]]
            db.add(product)
        db.commit()


def _sync_pool(url: str, base: Path) -> Any:
    """The sandbox's alliance pool into mcn, its media under ``base / "pool-media"`` (the background step)."""
    from alliance.sync import SandboxPoolSource, sync_pool

    return sync_pool(SandboxPoolSource(url), base / "pool-media")


def _remixes_from_pool(
    url: str,
    base: Path,
    variants: int,
    needed: int,
    console: Console,
    clock: PhaseClock,
    pool_sync: Future[Any],
) -> str | None:
    """Wait for the pool sync started in the background (``pool_sync``), then remix every sharable product in
    stock up to ``variants``
    times, as many as ``needed`` posts call for (make-remix at 540x960, two pieces of material a variant) into
    plannable clips rows; an error line or None."""
    import json
    import math

    from alliance.store import load_pool, pool_media
    from alliance.sync import SyncError
    from flows.make_remix import make_remix
    from mcn.db import session
    from mcn.tables import ProductRecord

    with (
        clock.phase("pool sync (what was left of it after make-clips)"),
        console.status("syncing the product pool from the sandbox's alliance API"),
    ):
        try:
            synced = pool_sync.result()
        except SyncError as exc:
            console.print(f"[red]error:[/red] product pool: {exc}")
            return str(exc)
    media = pool_media()
    pool = [p for p in load_pool() if p.in_stock and p.sharable]
    material = []
    for p in pool:
        local = media.get(p.product_id, {})
        material.append(
            {
                "product_id": p.product_id,
                "title": p.title,
                "imgs": [local.get(u, u) for u in p.imgs],
                "videos": [local.get(u, u) for u in p.videos],
                "price": p.price,
                "coupon_price": p.coupon_price,
                "category": p.category_name or "",
                "attributes": list(p.attributes),
                "sales": p.sales,
                "comment_score": p.comment_score,
                "comment_num": p.comment_num,
            }
        )
    supported = sum(math.comb(len(p.imgs) + len(p.videos), 2) for p in pool)
    # A few more than the free slots: a render can fail, and the same-day guard may hold one back.
    variants = max(1, min(variants, math.ceil(max(needed, 1) * 1.04 / max(len(material), 1))))
    console.print(
        f"product pool: {synced.stored.stored} products synced, {len(material)} sharable and in stock; their "
        f"material supports {supported} distinct remixes (pairs of images/video); rendering up to {variants} each",
        highlight=False,
    )
    products_file = base / "pool-material.json"
    products_file.write_text(json.dumps({"products": material}, ensure_ascii=False), encoding="utf-8")
    with (
        clock.phase("remix rendering"),
        console.status(f"rendering {len(material) * variants} product remixes (540x960)"),
    ):
        state = make_remix(
            products=str(products_file),
            out=str(base / "remixes"),
            variants=variants,
            width=540,
            height=960,
            material_per_variant=2,
            fps=DEMO_REMIX_FPS,
            preset="ultrafast",
            workers=DEMO_REMIX_WORKERS,
            return_state=True,
        )
    if state.is_failed():
        console.print(f"[red]error:[/red] make-remix: {state.message}")
        return state.message or "make-remix failed"
    manifest: dict[str, Any] = state.result()  # type: ignore[assignment]
    console.print(f"{len(manifest['remixes'])} remixes rendered, {len(manifest['failures'])} failed", highlight=False)
    # The alliance products are on the sandbox already (its own catalogue): link each to its product page.
    with session() as db:
        for p in pool:
            row = db.get(ProductRecord, p.product_id)
            if row is not None:
                row.link = f"{url}/item/{p.product_id}"
                row.commission_rate = p.kol_cos_ratio / 10_000
                db.add(row)
        db.commit()
    return None


def _plan(day: date, day_start: datetime, console: Console) -> int:
    from publisher.plan import plan_day

    result = plan_day(day, platform="sandbox", now=day_start.astimezone(UTC))
    table = Table(title=f"posting plan for {day} ({DEMO_TZ})")
    for col in ("planned posts", "accounts with posts", "unfilled slots"):
        table.add_column(col, justify="right")
    planned = len(result.posts)
    unfilled = result.unfilled_by_reason()
    table.add_row(str(planned), str(result.accounts), str(sum(unfilled.values())))
    console.print(table)
    for reason, count in unfilled.items():
        console.print(f"  {count} slots unfilled: {reason}", highlight=False)
    if unfilled:
        console.print(f"  content supply: {_supply()}", highlight=False)
    return planned


def _supply() -> str:
    """What the plan had to post, by kind: why slots stay empty when the content runs out."""
    from sqlalchemy import func, select

    from mcn.db import get_engine
    from mcn.tables import ClipRecord

    clips = ClipRecord.__table__  # type: ignore[attr-defined]
    with get_engine().connect() as conn:
        kinds: dict[str, int] = dict(
            conn.execute(select(clips.c.kind, func.count()).group_by(clips.c.kind)).tuples().all()
        )
    return (
        f"{kinds.get('livestream', 0)} livestream clips (three short sample streams), {kinds.get('edit', 0)} edits "
        f"and {kinds.get('remix', 0)} product remixes (each posted once per platform; two posts of a day share at "
        f"most half their footage)"
    )


def _run_compressed_day(admin: httpx.Client, day_start: datetime, console: Console) -> list[Any]:
    """Step a simulated clock through the day's slots; the sandbox's clock follows; one pass per step."""
    from sqlalchemy import select

    from mcn.db import get_engine
    from mcn.tables import PostRecord, as_utc
    from publisher.dispatch import DispatchOptions, publish_due

    posts = PostRecord.__table__  # type: ignore[attr-defined]
    with get_engine().connect() as conn:
        slots = sorted(
            {as_utc(s) for s in conn.execute(select(posts.c.slot_at).where(posts.c.status == "planned")).scalars()}
        )
    options = DispatchOptions(concurrency=4, reconcile_delay_seconds=0)
    outcomes: list[Any] = []
    with console.status("publishing through the day (compressed)") as status:
        for slot in slots:
            moment = slot + timedelta(seconds=1)
            admin.post("/api/admin/clock", json={"set_time": moment.timestamp()}).raise_for_status()
            report = publish_due(now=moment, options=options)
            outcomes += report.outcomes
            local = moment.astimezone(ZoneInfo(DEMO_TZ))
            status.update(f"publishing through the day (compressed): {local:%H:%M}, {len(outcomes)} attempts")
    return outcomes


def _print_outcome(outcomes: list[Any], console: Console) -> None:
    from sqlalchemy import select

    from mcn.db import get_engine
    from mcn.tables import AccountRecord, PostRecord, as_utc

    posts, accounts = PostRecord.__table__, AccountRecord.__table__  # type: ignore[attr-defined]
    tz = ZoneInfo(DEMO_TZ)
    with get_engine().connect() as conn:
        rows = conn.execute(
            select(posts, accounts.c.handle)
            .join(accounts, accounts.c.id == posts.c.account_id)
            .order_by(posts.c.slot_at)
        ).all()
    table = Table(title="what went out (each post: AI label in file, caption and flag; 广告 with its link)")
    for col in ("UTC+8", "account", "product", "title", "outcome"):
        table.add_column(col, overflow="fold" if col == "outcome" else "ellipsis", no_wrap=col != "outcome")
    for r in rows:
        outcome = "posted" if r.status == "posted" else f"{r.status}: {r.error_code or ''}"
        table.add_row(
            f"{as_utc(r.slot_at).astimezone(tz):%H:%M}",
            r.handle.removeprefix("demo_creator_"),
            r.product_id or "-",
            r.title[:22],
            outcome,
        )
    console.print(table)
    counts = Counter(r.status for r in rows)
    accounts_posting = len({r.account_id for r in rows if r.status == "posted"})
    console.print(
        f"{counts.get('posted', 0)} of {len(rows)} planned posts went out on {accounts_posting} accounts "
        f"({', '.join(f'{n} {s}' for s, n in sorted(counts.items()))}); {len(outcomes)} publish attempts",
        highlight=False,
    )
