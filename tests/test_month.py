"""The compressed month at a tiny scale: two real sandbox processes on one seed, mcn's plan, dispatcher, collect
and order import in between, weekly figures read back from each allocation's database, and the PNG's series."""

from __future__ import annotations

import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from rich.console import Console
from sqlalchemy import create_engine, text

from analytics.month import PNG_KEY, MonthClip, MonthOptions, read_plot_series, run_month
from clipper.ffmpeg import locate_ffmpeg
from mcn.demo_month import print_month

START = date(2027, 1, 4)
HOOKS = ("为什么冬天穿它不冷？", "3个理由告诉你", "还在为收纳烦恼吗")


def pool_products(count: int) -> list[str]:
    """The first ``count`` sharable products in stock of the seed-0 sandbox's alliance pool (its catalogue module
    gives the ids a seed-0 server lists; the month itself reads them over HTTP)."""
    from sandbox.catalogue import catalogue
    from sandbox.config import MarketParams
    from sandbox.market import World

    pool = [p for p in catalogue(World(0, MarketParams())) if p.sharable and p.in_stock]
    return [p.product_id for p in pool][:count]


def tiny_videos(folder: Path, products: list[str], per_product: int) -> list[MonthClip]:
    folder.mkdir(parents=True, exist_ok=True)
    clips = []
    for i, product in enumerate(products):
        for k in range(per_product):
            path = folder / f"p{i}-{k}.mp4"
            subprocess.run(
                [locate_ffmpeg(), "-v", "error", "-y", "-f", "lavfi", "-i",
                 "testsrc2=size=180x320:rate=10:duration=2", "-vf", f"hue=h={40 * i + 90 * k}",
                 "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)],
                check=True,
            )  # fmt: skip
            clips.append(MonthClip(product, str(path), f"好物 {i}-{k}", HOOKS[(i + k) % len(HOOKS)], 2.0))
    return clips


def db_week(url: str, day_from: int, day_to: int) -> tuple[int, int, int]:
    """(GMV, commission not refunded, posts) between two days of the month, straight from the database."""
    origin = datetime.combine(START, datetime.min.time(), ZoneInfo("Asia/Shanghai")).astimezone(UTC)
    low = (origin + timedelta(days=day_from)).replace(tzinfo=None).isoformat(sep=" ")
    high = (origin + timedelta(days=day_to)).replace(tzinfo=None).isoformat(sep=" ")
    engine = create_engine(url)
    with engine.connect() as conn:
        gmv, commission = conn.execute(
            text(
                "select coalesce(sum(total_pay_amount), 0), "
                "coalesce(sum(case when flow_point != 'REFUND' then ads_estimated_commission else 0 end), 0) "
                "from affiliate_orders where attribution = 'attributed' "
                "and pay_success_time >= :low and pay_success_time < :high"
            ),
            {"low": low, "high": high},
        ).one()
        posts = conn.execute(
            text("select count(*) from posts where status = 'posted' and posted_at >= :low and posted_at < :high"),
            {"low": low, "high": high},
        ).scalar_one()
        unattributed = conn.execute(
            text("select count(*) from affiliate_orders where attribution != 'attributed'")
        ).scalar_one()
    engine.dispose()
    assert unattributed == 0  # every order of the month came back with its post's tracking code
    return int(gmv), int(commission), int(posts)


def test_month_runs_both_allocations_and_the_figures_match_the_databases(data_dir: Path, tmp_path: Path) -> None:
    products = pool_products(3)
    clips = tiny_videos(tmp_path / "videos", products, 2)
    options = MonthOptions(days=3, accounts=2, posts_per_account=2, start=START, metrics_days=2)
    lines: list[str] = []
    result = run_month(clips, tmp_path / "month", options, png=tmp_path / "month.png", progress=lines.append)

    assert [m.allocation for m in result.months] == ["equal", "thompson"]
    assert len(lines) == 2 * options.days
    for month in result.months:
        # every planned post went out through the dispatcher, at 4 a day
        assert month.posts == options.days * options.posts_per_day and month.refused == 0
        assert len(month.weeks) == 1 and len(month.daily_gmv_fen) == options.days
        gmv, commission, posts = db_week(month.database_url, 0, options.days)
        assert (month.weeks[0].gmv_fen, month.weeks[0].commission_fen, month.weeks[0].posts) == (gmv, commission, posts)
        assert sum(month.daily_gmv_fen) == gmv and sum(month.daily_commission_fen) == commission
    # orders came back through collect (the sandbox's order export), not from the market model
    assert sum(m.weeks[0].orders for m in result.months) > 0
    assert sum(m.gmv_fen for m in result.months) > 0

    # the PNG is a PNG and carries both curves' series, the ones the figures above came from
    assert result.png is not None and result.png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    series = read_plot_series(result.png)
    assert series["start"] == START.isoformat()
    for month in result.months:
        stored = series["allocations"][month.allocation]
        assert stored["daily_gmv_fen"] == list(month.daily_gmv_fen)
        assert stored["daily_commission_fen"] == list(month.daily_commission_fen)
    assert PNG_KEY == "mcn-month"

    # the demo's summary prints every week and both allocations
    console = Console(record=True, width=200)
    print_month(result, console)
    printed = console.export_text()
    assert "GMV equal" in printed and "GMV thompson" in printed and str(result.png) in printed


def test_month_refuses_clips_of_products_the_platform_does_not_sell(data_dir: Path, tmp_path: Path) -> None:
    clips = [MonthClip("no-such-product", str(tmp_path / "x.mp4"), "t", "h")]
    options = MonthOptions(days=1, accounts=1, posts_per_account=1, start=START, allocations=("equal",))
    with pytest.raises(ValueError, match="not in the sandbox's catalogue: no-such-product"):
        run_month(clips, tmp_path / "month", options)
    with pytest.raises(ValueError, match="no rendered clips"):
        run_month([], tmp_path / "month", options)


def test_demo_month_posts_the_demos_remixes_whose_files_exist(data_dir: Path, tmp_path: Path) -> None:
    from sqlalchemy import update

    from mcn.db import get_engine
    from mcn.demo_month import demo_clips
    from mcn.tables import ClipRecord
    from tests.analytics_support import add_clips

    remixes = add_clips("p1", 3, "remix-src")
    add_clips("p2", 2, "stream-src")  # livestream clips: not reposted by the month
    clips = ClipRecord.__table__  # type: ignore[attr-defined]
    kept = tmp_path / "kept.mp4"
    kept.write_bytes(b"video")
    with get_engine().begin() as conn:
        conn.execute(update(clips).where(clips.c.id.in_(remixes)).values(kind="remix"))
        conn.execute(update(clips).where(clips.c.id == remixes[0]).values(path=str(kept)))
    found = demo_clips()
    assert [(c.product_id, c.path) for c in found] == [("p1", str(kept))]  # the others' files are gone
