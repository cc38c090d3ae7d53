"""The GMV dashboard (analytics/dashboard.py): every page through Streamlit's AppTest against a database seeded by
analytics' own import functions, its figures checked against SQL on that database (SQLite, and a throwaway Postgres
database: the dashboard's SQL runs on both); the login gate; and one run of ``mcn dashboard`` in real Chromium that
loads every page and saves screenshots."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

pytest.importorskip("streamlit", reason="the dashboard extra (pip install 'mcn[dashboard]')")

from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from analytics.collect import _store_snapshot
from analytics.dashboard import PAGES
from analytics.orders import import_orders
from mcn.db import get_engine
from publisher.adapters.insights import PostMetrics
from tests.analytics_support import add_account, add_posts, add_product, order, write_export
from tests.helpers import throwaway_postgres

APP = str(Path(__file__).resolve().parents[1] / "analytics" / "dashboard.py")
DAY = date(2025, 3, 3)
SNAPSHOT_AT = datetime(2025, 3, 6, tzinfo=UTC)


def yuan(fen: int) -> str:
    return f"¥{fen / 100:,.2f}"


@pytest.fixture
def database(request: pytest.FixtureRequest, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """SQLite under the data dir, or (``indirect`` parameter ``postgres``) a throwaway Postgres database."""
    del data_dir
    if getattr(request, "param", "sqlite") == "sqlite":
        yield "sqlite"
        return
    with throwaway_postgres(monkeypatch):
        assert get_engine().dialect.name == "postgresql"  # the app and the checks below read this database
        yield "postgres"


BOTH_DATABASES = pytest.mark.parametrize("database", ["sqlite", "postgres"], indirect=True)


@pytest.fixture
def seeded(database: str, tmp_path: Path) -> dict[str, Any]:
    """Two accounts, seven posts of p1/p2 with metric snapshots, a catalogue of three products (p3 never posted),
    and an order export: five attributed orders (settled, paid, refunded; one paid 00:10 CST = the UTC day
    before), one without a code, one with an unknown code, one with a post's code but another product."""
    del database
    add_product("p1", price=99.0, rate=0.2, niches=["home"])
    add_product("p2", price=49.0, rate=0.1, niches=["home"])
    add_product("p3", price=80.0, rate=0.2, niches=["home"])
    posted = datetime(2025, 3, 3, 2, 0, tzinfo=UTC)
    alice = add_account("alice")
    bob = add_account("bob")
    posts = add_posts(
        alice,
        [{"product_id": "p1", "hook_style": "question", "posted_at": posted}] * 3
        + [{"product_id": "p2", "hook_style": "plain", "posted_at": posted}] * 2,
        day=DAY,
        source="a",
    )
    posts += add_posts(bob, [{"product_id": "p1", "hook_style": "plain", "posted_at": posted}] * 2, day=DAY, source="b")
    for n, post in enumerate(posts):
        if n == 0:  # an older reading: only the latest one counts
            _store_snapshot(post.post_id, posted, PostMetrics("r", SNAPSHOT_AT - timedelta(days=1), 5, 0, 1))
        _store_snapshot(post.post_id, posted, PostMetrics("r", SNAPSHOT_AT, 100 * (n + 1), 3, n + 1))
    code = [p.tracking_code for p in posts]
    rows = [
        order("o1", "p1", "SETTLE", **{"pid_info.external_info": code[0]}),
        order("o2", "p1", "PAY_SUCC", pay_success_time="2025-03-03 23:30:00", **{"pid_info.external_info": code[0]}),
        order("o3", "p1", "REFUND", pay_success_time="2025-03-04 00:10:00", **{"pid_info.external_info": code[1]}),
        order(
            "o4",
            "p2",
            "SETTLE",
            total_pay_amount="4900",
            ads_estimated_commission="490",
            ads_real_commission="490",
            pay_success_time="2025-03-04 09:00:00",
            settle_time="2025-03-12 09:00:00",
            **{"pid_info.external_info": code[3]},
        ),
        order(
            "o5",
            "p1",
            "SETTLE",
            pay_success_time="2025-03-04 12:00:00",
            settle_time="2025-03-12 12:00:00",
            **{"pid_info.external_info": code[5]},
        ),
        order("o6", "p1", "PAY_SUCC", pay_success_time="2025-03-04 13:00:00"),
        order(
            "o7",
            "p2",
            "PAY_SUCC",
            total_pay_amount="4900",
            pay_success_time="2025-03-05 10:00:00",
            **{"pid_info.external_info": "zzz"},
        ),
        order("o8", "p1", "PAY_SUCC", pay_success_time="2025-03-05 11:00:00", **{"pid_info.external_info": code[3]}),
    ]
    report = import_orders(write_export(tmp_path / "orders.csv", rows))
    assert not report.bad and report.stored.inserted == len(rows)
    return {"posts": posts}


def sql(query: str) -> list[Any]:
    with get_engine().connect() as conn:
        return list(conn.execute(text(query)).all())


@pytest.fixture
def loopback() -> Iterator[None]:
    previous = st_config.get_option("server.address")
    st_config.set_option("server.address", "127.0.0.1")
    yield
    st_config.set_option("server.address", previous)


def open_page(slug: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30)
    at.query_params["page"] = slug
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def table(at: AppTest, n: int = 0) -> Any:
    """The page's ``n``-th table as a DataFrame."""
    return at.dataframe[n].value


def charts(at: AppTest) -> int:
    return len(at.get("vega_lite_chart"))


@BOTH_DATABASES
def test_money_page_gmv_by_pay_day_and_commission_by_settle_day(seeded: dict[str, Any], loopback: None) -> None:
    at = open_page("money")
    gmv = sql("SELECT SUM(total_pay_amount) FROM affiliate_orders WHERE pay_success_time IS NOT NULL")[0][0]
    settled = sql("SELECT SUM(ads_real_commission) FROM affiliate_orders WHERE flow_point = 'SETTLE'")[0][0]
    attributed = sql("SELECT SUM(total_pay_amount) FROM affiliate_orders WHERE attribution = 'attributed'")[0][0]
    shown = metrics(at)
    assert shown["GMV (by pay time)"] == yuan(gmv)
    assert shown["Settled commission (by settle time)"] == yuan(settled)
    assert shown["Attributed GMV"] == yuan(attributed)
    assert shown["Paid orders"] == str(sql("SELECT COUNT(*) FROM affiliate_orders")[0][0])
    assert charts(at) == 2
    days = table(at).set_index("day")
    # CST days: o3, paid 00:10 on 4 March in China (16:10 UTC on the 3rd), belongs to the 4th
    gmv_by_day = {
        date(2025, 3, 3): 198.0,
        date(2025, 3, 4): 99.0 + 49.0 + 99.0 + 99.0,
        date(2025, 3, 5): 49.0 + 99.0,
    }
    # every day from the first payment (3 March) to the last settlement (12 March), zero where nothing was paid
    assert days["gmv"].to_dict() == {date(2025, 3, d): gmv_by_day.get(date(2025, 3, d), 0.0) for d in range(3, 13)}
    # settled commission lands on the settle day, not the pay day
    assert days["settled_commission"][date(2025, 3, 11)] == 19.80
    assert days["settled_commission"][date(2025, 3, 12)] == pytest.approx(4.90 + 19.80)
    assert days["settled_commission"][date(2025, 3, 3)] == 0


@BOTH_DATABASES
def test_funnel_page_adds_latest_snapshots_and_attributed_orders(seeded: dict[str, Any], loopback: None) -> None:
    at = open_page("funnel")
    plays = sql(
        "SELECT SUM(s.plays), SUM(s.product_clicks) FROM metric_snapshots s WHERE s.taken_at = "
        "(SELECT MAX(taken_at) FROM metric_snapshots t WHERE t.post_id = s.post_id)"
    )[0]
    orders = sql(
        "SELECT COUNT(*), SUM(CASE WHEN flow_point = 'SETTLE' THEN 1 ELSE 0 END) FROM affiliate_orders "
        "WHERE attribution = 'attributed'"
    )[0]
    shown = metrics(at)
    assert shown["Posts"] == "7"
    assert shown["Plays"] == f"{plays[0]:,}"
    assert shown["Clicks"] == f"{plays[1]:,}"
    assert (shown["Orders"], shown["Settled"]) == (str(orders[0]), str(orders[1]))
    assert charts(at) == 2
    rows = table(at)
    # product x hook x account x day: p1/question/alice, p2/plain/alice, p1/plain/bob
    assert len(rows) == 3
    p1_alice = rows[(rows["product_id"] == "p1") & (rows["account"] == "sandbox:alice")].iloc[0]
    assert (p1_alice["posts"], p1_alice["plays"], p1_alice["orders"], p1_alice["settled"]) == (3, 600, 3, 1)

    at.multiselect(key="funnel_accounts").set_value(["sandbox:bob"]).run()
    shown = metrics(at)
    assert (shown["Posts"], shown["Plays"], shown["Orders"]) == ("2", f"{600 + 700:,}", "1")


@BOTH_DATABASES
def test_refunds_posts_and_attribution_pages(seeded: dict[str, Any], loopback: None) -> None:
    at = open_page("refunds")
    refunded = sql("SELECT COUNT(*), SUM(total_pay_amount) FROM affiliate_orders WHERE flow_point = 'REFUND'")[0]
    assert metrics(at) == {"Refunded orders": str(refunded[0]), "Refunded amount": yuan(refunded[1])}
    assert charts(at) == 2
    rates = table(at).set_index("product_id")
    assert rates.loc["p1", "refund_rate"] == pytest.approx(1 / 3)  # o1, o5 settled, o3 refunded

    at = open_page("posts")
    best = sql(
        "SELECT post_id, SUM(ads_estimated_commission) AS c FROM affiliate_orders WHERE attribution = 'attributed' "
        "GROUP BY post_id ORDER BY c DESC LIMIT 1"
    )[0]
    top = table(at)
    assert top.iloc[0]["post_id"] == best[0]
    assert top.iloc[0]["estimated_commission"] == best[1] / 100
    bottom = table(at, 1)
    idle = {
        r[0]
        for r in sql(
            "SELECT id FROM posts WHERE id NOT IN "
            "(SELECT post_id FROM affiliate_orders WHERE attribution = 'attributed')"
        )
    }
    assert len(bottom) == 5 and set(bottom["post_id"][: len(idle)]) == idle
    assert list(bottom["estimated_commission"]) == sorted(bottom["estimated_commission"])
    assert charts(at) == 1

    at = open_page("attribution")
    counts = dict(sql("SELECT attribution, COUNT(*) FROM affiliate_orders GROUP BY attribution"))
    reasons = table(at).set_index("reason")["orders"].to_dict()
    assert reasons == {**dict.fromkeys(("attributed", "no_code", "unknown_code", "product_mismatch"), 0), **counts}
    assert reasons["no_code"] == reasons["unknown_code"] == reasons["product_mismatch"] == 1
    assert metrics(at)["Unattributed orders"] == "3"
    assert charts(at) == 1


@BOTH_DATABASES
def test_policy_page_posterior_beside_tomorrows_allocation(seeded: dict[str, Any], loopback: None) -> None:
    at = open_page("policy")
    rows = table(at).set_index("product_id")
    assert list(sorted(rows.index)) == ["p1", "p2", "p3"]  # p3, never posted, starts from its category
    posts = dict(sql("SELECT product_id, COUNT(*) FROM posts WHERE status = 'posted' GROUP BY product_id"))
    paid = dict(
        sql(
            "SELECT o.product_id, COUNT(*) FROM affiliate_orders o WHERE attribution = 'attributed' "
            "GROUP BY o.product_id"
        )
    )
    for product in ("p1", "p2", "p3"):
        assert rows.loc[product, "posts"] == posts.get(product, 0)
        assert rows.loc[product, "paid"] == paid.get(product, 0)
        assert rows.loc[product, "low_yuan"] <= rows.loc[product, "mean_yuan"] <= rows.loc[product, "high_yuan"]
    assert rows["share_tomorrow"].sum() == pytest.approx(1.0)
    assert rows["p_best"].sum() == pytest.approx(1.0)
    assert (rows["share_tomorrow"] > 0).all()  # the exploration floor: no live product starves
    assert "Tomorrow = 2025-03-13" in at.caption[0].value  # platform clock: the last settlement, 12 March
    assert charts(at) == 2


def test_login_gate(seeded: dict[str, Any], loopback: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from mcn.settings import get_settings

    monkeypatch.setenv("MCN_DASHBOARD_PASSWORD", "s3cret-pass")
    get_settings.cache_clear()
    at = open_page("money")
    assert not at.metric and not at.dataframe  # nothing before the password
    at.text_input(key="password").input("wrong")
    at.button[0].click().run()
    assert [e.value for e in at.error] == ["wrong password"] and not at.metric
    at.text_input(key="password").input("s3cret-pass")
    at.button[0].click().run()
    assert metrics(at)["GMV (by pay time)"].startswith("¥")

    monkeypatch.delenv("MCN_DASHBOARD_PASSWORD")
    get_settings.cache_clear()
    st_config.set_option("server.address", "0.0.0.0")
    at = open_page("money")
    assert not at.metric
    assert "without a password" in at.error[0].value


def test_cli_refuses_off_loopback_without_a_password(data_dir: Path) -> None:
    from mcn.cli import app

    result = CliRunner().invoke(app, ["dashboard", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "MCN_DASHBOARD_PASSWORD" in result.output and "Traceback" not in result.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(seeded: dict[str, Any]) -> Iterator[str]:
    port = _free_port()
    mcn = Path(sys.executable).with_name("mcn")
    proc = subprocess.Popen(
        [str(mcn), "dashboard", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=os.environ.copy(),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/_stcore/health", timeout=1).text == "ok":
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                output = proc.stdout.read().decode() if proc.stdout else ""
                pytest.fail(f"mcn dashboard did not come up: {output[-2000:]}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


HEADINGS = {
    "money": "GMV and settled commission",
    "funnel": "Funnel: plays → clicks → orders → settled",
    "refunds": "Refunds",
    "posts": "Top and bottom posts",
    "policy": "What the policy believes, and tomorrow's allocation",
    "attribution": "Attribution",
}


def test_every_page_in_chromium(served: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    from mcn.browser import launch_chromium

    gmv = sql("SELECT SUM(total_pay_amount) FROM affiliate_orders")[0][0]
    unattributed = sql("SELECT COUNT(*) FROM affiliate_orders WHERE attribution != 'attributed'")[0][0]
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(20_000)
            page.goto(f"{served}/?page=money")
            sidebar = page.get_by_test_id("stSidebar")
            for slug, (title, _) in PAGES.items():
                if slug != "money":  # the others through the sidebar, as an operator would (one session)
                    sidebar.get_by_text(title, exact=True).click()
                    page.wait_for_url(f"**/?page={slug}")
                expect(page.get_by_role("heading", level=2).first).to_have_text(HEADINGS[slug], timeout=30_000)
                # every page ends with its table; then the run is over (no "running" icon) and the charts are drawn
                expect(page.get_by_test_id("stDataFrame").last).to_be_visible(timeout=30_000)
                expect(page.get_by_test_id("stStatusWidgetRunningIcon")).to_have_count(0, timeout=30_000)
                expect(page.locator('[data-stale="true"]')).to_have_count(0, timeout=30_000)  # the last page's
                page.wait_for_selector('[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg')
                expect(page.get_by_test_id("stException")).to_have_count(0)
                page.screenshot(path=str(tmp_path / f"{slug}.png"), full_page=True)
                values = page.get_by_test_id("stMetricValue").all_inner_texts()
                if slug == "money":
                    assert yuan(gmv) in values
                if slug == "attribution":
                    assert str(unattributed) in values
        finally:
            browser.close()
    shots = sorted(tmp_path.glob("*.png"))
    assert [s.stem for s in shots] == sorted(PAGES)
    assert all(s.stat().st_size > 10_000 for s in shots)
