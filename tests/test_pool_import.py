"""``mcn products import``: alliance-shaped CSV/JSON rows into the pool table; bad rows by line, good rows kept,
units as the platform gives them (fen, 1/10,000), and a second import of the same file changes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from alliance.importer import read_pool_file
from alliance.product import PoolProduct, RowProblems, pool_product_from_row
from alliance.store import load_pool
from mcn.cli import app
from mcn.db import session
from mcn.tables import PoolProductRecord

WIDE = {"COLUMNS": "250"}
HEADER = (
    "product_id,title,price,coupon_price,cos_ratio,cos_fee,kol_cos_ratio,kol_cos_fee,sales,in_stock,sharable,"
    "shop_id,shop_name,comment_score,comment_num,order_num,view_num,kol_num,shop_score,shop_score_level,"
    "product_score,logistics_score,service_score,imgs,cover,detail_url,first_cid,second_cid,third_cid,category_name"
)
GOOD = (
    "3600000000000000001,Insulated steel bottle 500 ml,9900,7900,2000,1580,1800,1422,12000,1,true,"
    "shop1,Steel Works,4.8,5321,830,41000,120,4.7,1,4.8,4.6,4.9,"
    "https://cdn.example/a.jpg|https://cdn.example/b.jpg,https://cdn.example/a.jpg,"
    "https://shop.example/item/3600000000000000001,20000,20010,20011,Kitchen"
)


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["products", *args], env=WIDE)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def row(**changes: str) -> str:
    """The GOOD row with some cells replaced (by column name)."""
    names = HEADER.split(",")
    cells = dict(zip(names, GOOD.split(","), strict=True))
    cells.update(changes)
    return ",".join(cells[n] for n in names)


def test_a_good_csv_row_keeps_platform_units_and_converts_only_at_the_edge(tmp_path: Path) -> None:
    file = tmp_path / "pool.csv"
    file.write_text(f"{HEADER}\n{GOOD}\n", encoding="utf-8")
    loaded = read_pool_file(file)
    assert loaded.problems == ()
    (p,) = loaded.products
    assert (p.price, p.coupon_price, p.cos_ratio, p.cos_fee, p.kol_cos_ratio, p.kol_cos_fee) == (
        9900,
        7900,
        2000,
        1580,
        1800,
        1422,
    )
    assert (p.sales, p.order_num, p.view_num, p.kol_num, p.comment_num) == (12000, 830, 41000, 120, 5321)
    assert p.in_stock and p.sharable
    assert p.shop_total_score is not None and p.shop_score == 4.7
    assert p.shop_total_score.as_dict()["shop_score"] == {"score": 4.7, "level": 1}
    assert p.shop_total_score.logistics_score is not None and p.shop_total_score.logistics_score.score == 4.6
    assert p.imgs == ("https://cdn.example/a.jpg", "https://cdn.example/b.jpg")
    assert (p.first_cid, p.second_cid, p.third_cid, p.category_key) == (20000, 20010, 20011, "20011")
    # the edge: yuan and percent
    assert p.price_yuan == 99.0 and p.kol_cos_percent == 18.0 and p.pay_price == 7900
    remix = p.to_remix()
    assert (remix.price, remix.coupon_price, remix.category, remix.images) == (99.0, 79.0, "Kitchen", p.imgs)


def test_kol_terms_default_to_the_plan_and_a_missing_fee_comes_from_the_ratio() -> None:
    p = pool_product_from_row({"product_id": "a1", "title": "Cup", "price": "5000", "cos_ratio": "2500"})
    assert (p.cos_fee, p.kol_cos_ratio, p.kol_cos_fee) == (1250, 2500, 1250)
    q = pool_product_from_row({"product_id": "a2", "title": "Cup", "price": 5000, "coupon_price": 4000, "cos_fee": 400})
    assert (q.cos_ratio, q.cos_fee) == (1000, 400)  # 400 fen of the 4000 fen a buyer pays


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"product_id": ""}, "product_id is missing"),
        ({"product_id": "../../etc"}, "product_id '../../etc' must be 1-64 letters"),
        ({"title": '=HYPERLINK("http://x")'}, "title '=HYPERLINK(\"http://x\")' starts with '='"),
        ({"title": "x" * 201}, "is 201 characters long (at most 200)"),
        ({"price": "99.9"}, "price '99.9' must be a whole number of fen (9990 is 99.90 yuan)"),
        ({"price": "-5"}, "price -5 is outside"),
        ({"price": ""}, "price is missing"),
        ({"coupon_price": "12000"}, "coupon_price 12000 is above price 9900"),
        ({"cos_ratio": "20", "cos_fee": "1980"}, "cos_ratio 20 looks like a percentage"),
        ({"cos_ratio": "20001"}, "cos_ratio 20001 is outside 0..10000"),
        ({"cos_ratio": "", "cos_fee": ""}, "cos_ratio and cos_fee are both missing"),
        ({"in_stock": "maybe"}, "in_stock 'maybe' is not true/false"),
        ({"comment_score": "6"}, "comment_score 6 is outside 0..5"),
        ({"shop_score_level": "4"}, "shop_score_level 4 is not 1 (high), 2 (mid) or 3 (low)"),
        ({"imgs": "javascript:alert(1)"}, "imgs 'javascript:alert(1)' is not an http(s) URL with a host"),
        ({"imgs": "shots/none.jpg"}, "imgs 'shots/none.jpg': no such file"),
        ({"imgs": "ftp://cdn.example/a.jpg"}, "imgs 'ftp://cdn.example/a.jpg' is not an http(s) URL with a host"),
        ({"detail_url": "https:///nohost"}, "detail_url 'https:///nohost' is not an http(s) URL with a host"),
        ({"imgs": "https://cdn.example/" + "a" * 2100}, "is 2120 characters long (at most 2048)"),
        ({"shop_name": "bad\x07name"}, "contains the control character U+0007"),
        ({"view_num": "many"}, "view_num 'many' is not a number"),
    ],
)
def test_each_bad_cell_is_named(tmp_path: Path, changes: dict[str, str], problem: str) -> None:
    file = tmp_path / "pool.csv"
    file.write_text(f"{HEADER}\n{row(**{'product_id': 'x9', **changes})}\n{GOOD}\n")
    loaded = read_pool_file(file)
    assert [p.product_id for p in loaded.products] == ["3600000000000000001"]  # the good row is kept
    (message,) = loaded.problems
    assert message.startswith(f"{file} line 2: ")
    assert problem in message


def test_cli_reports_bad_rows_by_line_keeps_good_ones_and_reimport_is_idempotent(
    data_dir: Path, tmp_path: Path
) -> None:
    file = tmp_path / "pool.csv"
    lines = [
        HEADER,
        GOOD,
        row(product_id="p2", price="12.5"),  # line 3
        row(product_id="p3", title="Folding chair", price="15900", coupon_price="", cos_fee="3180"),
        row(product_id="3600000000000000001", title="Same id again"),  # line 5: repeats line 2
        row(product_id="p5", imgs="ftp://x/a.jpg", comment_score="9"),  # line 6: two problems
    ]
    file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, stdout, stderr = cli("import", str(file))
    assert code == 1
    assert "imported 2 of 5 products" in stdout and "(2 new, 0 updated, 0 unchanged, 3 bad rows skipped)" in stdout
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 3
    assert f"{file} line 3: price '12.5' must be a whole number" in errors[0]
    assert "line 5: product_id '3600000000000000001' repeats line 2" in errors[1]
    assert "line 6: " in errors[2] and "imgs 'ftp://x/a.jpg'" in errors[2] and "comment_score 9" in errors[2]
    assert {p.product_id for p in load_pool()} == {"3600000000000000001", "p3"}

    with session() as s:
        first = {r.product_id: r.updated_at for r in s.exec(select(PoolProductRecord))}
    code, stdout, _ = cli("import", str(file))
    assert "(0 new, 0 updated, 2 unchanged, 3 bad rows skipped)" in stdout
    with session() as s:
        records = s.exec(select(PoolProductRecord)).all()
        assert {r.product_id: r.updated_at for r in records} == first  # untouched
        assert {r.source for r in records} == {"import:pool.csv"}

    # fixed file: the bad rows come in, the changed row is updated, nothing is duplicated
    lines[2] = row(product_id="p2", price="12500", cos_fee="2500")
    lines[3] = row(product_id="p3", title="Folding chair", price="14900", coupon_price="", cos_fee="2980")
    del lines[4]
    lines[4] = row(product_id="p5")
    file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, stdout, stderr = cli("import", str(file))
    assert code == 0, stderr
    assert "imported 4 of 4 products" in stdout and "(2 new, 1 updated, 1 unchanged, 0 bad rows skipped)" in stdout
    pool = {p.product_id: p for p in load_pool()}
    assert len(pool) == 4 and pool["p3"].price == 14900 and pool["p3"].cos_fee == 2980


def test_json_in_the_details_shape_with_nested_scores_and_local_media(data_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "shots").mkdir()
    (tmp_path / "shots" / "front.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    data: dict[str, Any] = {
        "data": {
            "total": 3,
            "products": [
                {
                    "product_id": 3400312511185213726,
                    "title": "电热水壶 1.7L",
                    "price": 15900,
                    "cos_ratio": "2000.00",
                    "kol_cos_ratio": 1500,
                    "in_stock": True,
                    "sharable": False,
                    "shop_total_score": {
                        "shop_score": {"text": "高", "score": "4.86", "level": 1},
                        "product_score": {"score": "4.7", "level": 2},
                        "logistics_score": {"score": "4.9", "level": 1},
                        "service_score": {"score": "4.8", "level": 1},
                    },
                    "imgs": [{"url": "https://cdn.example/k1.jpg"}, "shots/front.jpg"],
                    "videos": ["shots/missing.mp4"],
                },
                "not an object",
                {"product_id": "ok2", "title": "Tea set", "price": 6800, "cos_fee": 680, "shop_total_score": "4.9"},
            ],
        }
    }
    file = tmp_path / "details.json"
    file.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    loaded = read_pool_file(file)
    assert [p.split(": ", 1)[0] for p in loaded.problems] == [
        f"{file} products[0]",
        f"{file} products[1]",
        f"{file} products[2]",
    ]
    assert "videos 'shots/missing.mp4': no such file" in loaded.problems[0]
    assert "not an object (str)" in loaded.problems[1]
    assert "shop_total_score must be an object" in loaded.problems[2]

    data["data"]["products"] = [data["data"]["products"][0]]
    data["data"]["products"][0]["videos"] = []
    file.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    code, _, stderr = cli("import", str(file))
    assert code == 0, stderr
    (kettle,) = load_pool()
    assert kettle.product_id == "3400312511185213726" and kettle.sharable is False
    assert (kettle.cos_ratio, kettle.cos_fee, kettle.kol_cos_ratio, kettle.kol_cos_fee) == (2000, 3180, 1500, 2385)
    assert kettle.imgs == ("https://cdn.example/k1.jpg", str((tmp_path / "shots" / "front.jpg").resolve()))
    assert kettle.shop_total_score is not None and kettle.shop_total_score.product_score is not None
    assert kettle.shop_total_score.product_score.level == 2 and kettle.shop_score == 4.86
    assert kettle.to_remix().lang == "zh"


def test_unusable_files_end_with_one_line(data_dir: Path, tmp_path: Path) -> None:
    for name, text, problem in (
        ("empty.csv", "", "the pool file is empty"),
        ("noid.csv", "title,price\nCup,100\n", "line 1: no product_id column"),
        ("bad.json", "[{", "line 1: invalid JSON"),
        ("obj.json", '{"items": []}', 'a JSON object must have a "products" list'),
        ("none.csv", f"{HEADER}\n", "the pool file lists no products"),
    ):
        file = tmp_path / name
        file.write_text(text, encoding="utf-8")
        code, stdout, stderr = cli("import", str(file))
        assert code == 2 and stdout == ""  # refused input (README: exit codes)
        assert stderr.strip() == f"error: {file}: {problem}" or problem in stderr, stderr
        assert len(stderr.strip().splitlines()) == 1
    code, _, stderr = cli("import", str(tmp_path / "missing.csv"))
    assert code == 2 and "cannot read the pool file" in stderr


def test_row_problems_are_one_clause_each() -> None:
    with pytest.raises(RowProblems) as caught:
        pool_product_from_row({"product_id": "a b", "price": "x", "cos_ratio": "-1"})
    clauses = str(caught.value).split("; ")
    assert len(clauses) == 4, clauses  # id, title, price, ratio
    assert all("\n" not in c for c in clauses)
    assert isinstance(pool_product_from_row({"id": "z", "name": "Z", "price": 1, "cos_ratio": 1}), PoolProduct)


@pytest.mark.postgres
def test_reimport_is_idempotent_on_postgres_too(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.helpers import throwaway_postgres

    big = row(product_id="p9", view_num=str(5 * 2**31), order_num=str(2**31 + 7), sales=str(2**40))
    file = tmp_path / "pool.csv"
    file.write_text(f"{HEADER}\n{GOOD}\n{big}\n", encoding="utf-8")
    with throwaway_postgres(monkeypatch):
        code, stdout, stderr = cli("import", str(file))
        assert code == 0, stderr
        assert "(2 new, 0 updated, 0 unchanged" in stdout
        code, stdout, _ = cli("import", str(file))
        assert "(0 new, 0 updated, 2 unchanged" in stdout
        pool = {p.product_id: p for p in load_pool()}
        assert pool["p9"].view_num == 5 * 2**31 and pool["p9"].sales == 2**40
        assert pool["3600000000000000001"].shop_total_score == read_pool_file(file).products[0].shop_total_score
