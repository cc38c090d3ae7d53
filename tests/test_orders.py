"""Affiliate order import: spreadsheet cells, idempotent upserts, forward-only flow points, bad rows by line,
attribution reasons and the ``mcn orders`` commands."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from analytics.attribution import coverage, reattribute
from analytics.fields import FieldError, parse_id, parse_money, parse_rate, parse_time
from analytics.orders import ORDERS, OrderRow, decide, import_orders, read_orders_file
from mcn.cli import app
from mcn.db import get_engine
from tests.analytics_support import ORDER_COLUMNS, add_account, add_posts, order, write_export
from tests.helpers import throwaway_postgres


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "sqlite":
        yield "sqlite"
        return
    with throwaway_postgres(monkeypatch):
        yield "postgres"


def stored() -> dict[str, dict[str, Any]]:
    with get_engine().connect() as conn:
        return {r["order_id"]: dict(r) for r in conn.execute(select(ORDERS)).mappings()}


# -- cells ---------------------------------------------------------------------------------------------------


def test_cells_as_excel_writes_them() -> None:
    assert parse_money("1,234") == 1234
    assert parse_money("￥12.30", "yuan") == 1230
    assert parse_money(" 12.30元 ", "yuan") == 1230
    assert parse_money("1234.0") == 1234
    assert parse_money("") == 0
    assert parse_money(1980) == 1980
    assert parse_id('="4912345678901234567"') == "4912345678901234567"
    assert parse_id("'4912345678901234567") == "4912345678901234567"
    assert parse_id("3711.0") == "3711"
    assert parse_rate("20%") == 2000
    assert parse_rate("2000") == 2000
    assert parse_rate("0.2") == 2000
    with pytest.raises(FieldError, match="Excel rounded"):
        parse_id("4.91235E+18")
    with pytest.raises(FieldError, match="fraction"):
        parse_money("12.30")
    with pytest.raises(FieldError, match="negative"):
        parse_money("(5)")
    cst_ten = datetime(2025, 3, 3, 2, 0, tzinfo=UTC)  # 10:00 China Standard Time
    for text in ("2025-03-03 10:00:00", "2025/3/3 10:00", "2025-03-03T02:00:00Z", "1740967200", "1740967200000"):
        assert parse_time(text) == cst_ten, text
    assert abs((parse_time("45719.4166666667") - cst_ten).total_seconds()) < 1  # type: ignore[operator]
    assert parse_time("") is None and parse_time("0") is None
    with pytest.raises(FieldError):
        parse_time("yesterday")


# -- import ----------------------------------------------------------------------------------------------------


def test_import_reads_bom_excel_numbers_and_is_idempotent(database: str, tmp_path: Path) -> None:
    rows = [
        order('="4912345678901234567"', total_pay_amount="12,900", pay_goods_amount="12,900"),
        order("4912345678901234568", "p2", "SETTLE", ads_estimated_commission="2,580", ads_real_commission="2,580"),
        order("4912345678901234569", "p3", "REFUND"),
    ]
    path = write_export(tmp_path / "orders.csv", rows)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    first = import_orders(path)
    assert (first.rows, first.bad, first.stored.inserted) == (3, (), 3)
    data = stored()
    assert set(data) == {"4912345678901234567", "4912345678901234568", "4912345678901234569"}
    one = data["4912345678901234567"]
    assert one["total_pay_amount"] == 12900 and one["ads_estimated_commission"] == 1980
    assert one["flow_point"] == "PAY_SUCC" and one["author_buyin_id"] == "7001"
    assert data["4912345678901234568"]["ads_real_commission"] == 2580
    # update_time defaults to the latest event: the refund
    assert data["4912345678901234569"]["update_time"].replace(tzinfo=UTC) == datetime(2025, 3, 5, 2, tzinfo=UTC)

    again = import_orders(path)
    assert (again.stored.unchanged, again.stored.changed) == (3, 0)
    assert stored() == data  # not even updated_at moved


def test_flow_points_move_forward_only(database: str, tmp_path: Path) -> None:
    paid = write_export(tmp_path / "paid.csv", [order("1"), order("2"), order("3")])
    later = write_export(
        tmp_path / "later.csv",
        [
            order("1", flow_point="CONFIRM", update_time="2025-03-06 09:00:00"),
            order("2", flow_point="SETTLE", settled_goods_amount="9900"),
            order("3", flow_point="REFUND"),
        ],
    )
    import_orders(paid)
    moved = import_orders(later)
    assert moved.stored.advanced == 3
    assert {k: v["flow_point"] for k, v in stored().items()} == {"1": "CONFIRM", "2": "SETTLE", "3": "REFUND"}
    # the old export again: stale rows, nothing moves back, and the pay time it knew is still there
    back = import_orders(paid)
    assert (back.stored.stale, back.stored.changed) == (3, 0)
    assert {k: v["flow_point"] for k, v in stored().items()} == {"1": "CONFIRM", "2": "SETTLE", "3": "REFUND"}
    # a terminal order never changes state: REFUND after SETTLE is a reported conflict, SETTLE after CONFIRM moves
    final = import_orders(
        write_export(tmp_path / "final.csv", [order("2", flow_point="REFUND"), order("1", flow_point="SETTLE")])
    )
    assert final.stored.advanced == 1
    assert final.stored.conflicts == ["order 2: stored SETTLE, row says REFUND"]
    assert {k: v["flow_point"] for k, v in stored().items()} == {"1": "SETTLE", "2": "SETTLE", "3": "REFUND"}


def test_same_flow_point_refreshes_only_with_a_later_update_time() -> None:
    base = OrderRow("9", "p1", "PAY_SUCC", ads_estimated_commission=100, update_time=datetime(2025, 3, 3, tzinfo=UTC))
    corrected = OrderRow(
        "9", "p1", "PAY_SUCC", ads_estimated_commission=90, update_time=datetime(2025, 3, 4, tzinfo=UTC)
    )
    older = OrderRow("9", "p1", "PAY_SUCC", ads_estimated_commission=80, update_time=datetime(2025, 3, 2, tzinfo=UTC))
    assert decide(base, corrected)[0] == "refreshed"
    assert decide(corrected, older) == ("unchanged", None)
    assert decide(base, base) == ("unchanged", None)
    # a later row cannot erase a known code
    coded = OrderRow("9", "p1", "PAY_SUCC", external_info="mcn-x", update_time=datetime(2025, 3, 3, tzinfo=UTC))
    settled = OrderRow("9", "p1", "SETTLE", update_time=datetime(2025, 3, 9, tzinfo=UTC))
    outcome, row = decide(coded, settled)
    assert outcome == "advanced" and row is not None and row.external_info == "mcn-x"


def test_bad_rows_are_reported_by_line_and_good_rows_kept(data_dir: Path, tmp_path: Path) -> None:
    rows = [
        order("100"),  # line 2
        order("101", flow_point="SHIPPED"),  # line 3
        order("4.91235E+18"),  # line 4
        order("102", product_id="p\nwith a newline"),  # lines 5-6: a quoted cell over two lines
        order("103", total_pay_amount="99.5"),  # line 7: fen with a fraction
        order("", product_id="p1"),  # line 8
        order("104", pay_success_time="3 March"),  # line 9
        order("105"),  # line 10
    ]
    path = write_export(tmp_path / "mixed.csv", rows)
    good, bad = read_orders_file(path)
    assert [line for line, _ in good] == [2, 5, 10]
    assert [(b.line, b.reason.split(":")[0].split(" ")[0]) for b in bad] == [
        (3, "flow_point"),
        (4, "order_id"),
        (7, "total_pay_amount"),
        (8, "order_id"),
        (9, "pay_success_time"),
    ]
    report = import_orders(path)
    assert report.stored.inserted == 3 and len(report.bad) == 5
    assert set(stored()) == {"100", "102", "105"}


def test_gbk_and_tab_separated_exports(data_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "orders.txt"
    lines = [
        "order_id\tproduct_id\tflow_point\ttotal_pay_amount\tpay_success_time",
        "7\t商品7\tPAY_SUCC\t1,000\t2025-03-03",
    ]
    path.write_bytes("\r\n".join(lines).encode("gb18030"))
    report = import_orders(path)
    assert report.stored.inserted == 1
    assert stored()["7"]["product_id"] == "商品7"
    assert stored()["7"]["total_pay_amount"] == 1000


def test_yuan_exports(data_dir: Path, tmp_path: Path) -> None:
    path = write_export(
        tmp_path / "yuan.csv", [order("8", total_pay_amount="¥1,299.90", ads_estimated_commission="259.98")]
    )
    import_orders(path, unit="yuan")
    row = stored()["8"]
    assert (row["total_pay_amount"], row["ads_estimated_commission"]) == (129990, 25998)


# -- attribution -------------------------------------------------------------------------------------------------


def test_attribution_keeps_every_order_with_a_reason(data_dir: Path, tmp_path: Path) -> None:
    account = add_account("a1")
    posts = add_posts(
        account, [{"product_id": "p1", "hook_style": "question"}, {"product_id": "p2", "variant_id": "remix-1"}]
    )
    rows = [
        order("1", "p1", **{"pid_info.external_info": posts[0].tracking_code}),
        order("2", "p2", **{"pid_info.external_info": posts[1].tracking_code}),
        order("3", "p9", **{"pid_info.external_info": posts[0].tracking_code}),  # bought something else
        order("4", "p1", **{"pid_info.external_info": "mcn-not-ours"}),
        order("5", "p1"),
    ]
    import_orders(write_export(tmp_path / "o.csv", rows))
    data = stored()
    assert {k: (v["attribution"], v["post_id"]) for k, v in data.items()} == {
        "1": ("attributed", posts[0].post_id),
        "2": ("attributed", posts[1].post_id),
        "3": ("product_mismatch", posts[0].post_id),
        "4": ("unknown_code", None),
        "5": ("no_code", None),
    }
    cov = coverage()
    assert cov.orders == 5 and cov.attributed == 2
    assert cov.by_reason == {"attributed": 2, "no_code": 1, "unknown_code": 1, "product_mismatch": 1}

    from analytics.attribution import attributed_orders

    joined = {o.order_id: o for o in attributed_orders()}
    assert joined["2"].variant_id == "remix-1" and joined["2"].clip_id == posts[1].clip_id
    assert joined["1"].hook_style == "question" and joined["1"].account_id == account

    # a post added later (another database's code) turns an unknown code into an attributed order
    add_posts(account, [{"product_id": "p1", "tracking_code": "mcn-not-ours"}], source="later")
    assert reattribute() == 1
    assert coverage().by_reason["unknown_code"] == 0


# -- commands ----------------------------------------------------------------------------------------------------


def test_orders_commands(data_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    path = write_export(tmp_path / "o.csv", [order("1"), order("2", flow_point="LOST")])
    result = runner.invoke(app, ["orders", "import", str(path)])
    assert result.exit_code == 1
    assert "line 3: flow_point 'LOST'" in result.output
    assert "1 new" in result.output and "no_code" in result.output
    again = runner.invoke(app, ["orders", "import", str(path)])
    assert again.exit_code == 1 and "0 new" in again.output and "1 unchanged" in again.output
    missing = runner.invoke(app, ["orders", "import", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 2 and "file not found" in missing.output and "Traceback" not in missing.output
    header_only = tmp_path / "wrong.csv"
    header_only.write_text("id,name\n1,x\n")
    wrong = runner.invoke(app, ["orders", "import", str(header_only)])
    assert wrong.exit_code == 2 and "no order_id, product_id, flow_point column" in wrong.output
    coverage_run = runner.invoke(app, ["orders", "attribution"])
    assert coverage_run.exit_code == 0 and "0 of 1 orders attributed" in coverage_run.output


def test_xlsx_without_openpyxl_says_so(data_dir: Path, tmp_path: Path) -> None:
    from analytics.orders import xlsx_supported

    path = tmp_path / "o.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a workbook")
    result = CliRunner().invoke(app, ["orders", "import", str(path)])
    assert result.exit_code == 2
    if xlsx_supported():
        assert "not a readable .xlsx" in result.output
    else:
        assert "needs openpyxl" in result.output


def test_xlsx_export_with_good_and_bad_rows(data_dir: Path, tmp_path: Path) -> None:
    """An alliance export saved as .xlsx by Excel: numbers and dates as typed cells, bad rows reported by their
    sheet row, good rows stored once (a re-import changes nothing)."""
    import openpyxl

    def cells(row: dict[str, Any]) -> list[Any]:
        return [row.get(c, "") for c in ORDER_COLUMNS]

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(ORDER_COLUMNS))
    typed = order("200", total_pay_amount=9900, ads_estimated_commission=1980.0)
    typed["pay_success_time"] = datetime(2025, 3, 3, 10, 0)  # a date cell: China time, as the export's strings
    sheet.append(cells(typed))  # row 2: good
    sheet.append(cells(order("201", flow_point="SHIPPED")))  # row 3
    numbered = order("x")
    numbered["order_id"] = 4.91235e18
    sheet.append(cells(numbered))  # row 4: an id Excel turned into a number
    sheet.append(cells(order("202", pay_success_time="3 March")))  # row 5
    sheet.append([None] * len(ORDER_COLUMNS))  # row 6: Excel's empty row
    settled = order("203", flow_point="SETTLE")
    settled["order_id"] = 203
    settled["settle_time"] = datetime(2025, 3, 11, 10, 0)
    sheet.append(cells(settled))  # row 7: good, a numeric id that kept its digits
    path = tmp_path / "alliance-export.xlsx"
    book.save(path)

    good, bad = read_orders_file(path)
    assert [(line, row.order_id) for line, row in good] == [(2, "200"), (7, "203")]
    assert good[0][1].pay_success_time == datetime(2025, 3, 3, 2, 0, tzinfo=UTC)
    assert good[0][1].total_pay_amount == 9900 and good[0][1].ads_estimated_commission == 1980
    assert good[1][1].settle_time == datetime(2025, 3, 11, 2, 0, tzinfo=UTC)
    assert [(b.line, b.reason.split(" ")[0].rstrip(":")) for b in bad] == [
        (3, "flow_point"),
        (4, "order_id"),
        (5, "pay_success_time"),
    ]
    runner = CliRunner()
    result = runner.invoke(app, ["orders", "import", str(path)])
    assert result.exit_code == 1, result.output
    assert "line 3: flow_point 'SHIPPED'" in result.output and "2 new" in result.output
    assert set(stored()) == {"200", "203"}
    again = runner.invoke(app, ["orders", "import", str(path)])
    assert again.exit_code == 1 and "0 new" in again.output and "2 unchanged" in again.output
