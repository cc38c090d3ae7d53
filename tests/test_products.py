"""Product lists from CSV and JSON: parsing, percentages, and one-line errors naming the file and the line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clipper.errors import InputFileError
from clipper.products import load_products
from clipper.types import Product


def _write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_csv_with_aliases_percent_and_optional_columns(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "products.csv",
        "id,name,aliases,price,commission_rate,link\n"
        "p-jacket,rain jacket,jacket|shell| ,79,20%,https://shop.example/p/jacket\n"
        "p-bottle,steel bottle,,¥25.5,0.25,\n"
        "p-down,轻薄羽绒服,羽绒服|外套,,,\n",
    )
    products = load_products(path)
    assert products == (
        Product("p-jacket", "rain jacket", ("jacket", "shell"), 79.0, 0.2, "https://shop.example/p/jacket"),
        Product("p-bottle", "steel bottle", (), 25.5, 0.25, None),
        Product("p-down", "轻薄羽绒服", ("羽绒服", "外套"), None, None, None),
    )


def test_csv_needs_only_id_and_name_and_accepts_bom_and_gb18030(tmp_path: Path) -> None:
    bom = _write(tmp_path, "bom.csv", "\ufeffID,Name\nA1,保温杯\n")
    assert load_products(bom) == (Product("A1", "保温杯"),)
    gbk = _write(tmp_path, "gbk.csv", "id,name,aliases\nA2,充电宝,移动电源\n", encoding="gb18030")
    assert load_products(gbk) == (Product("A2", "充电宝", ("移动电源",)),)


def test_generated_stream_products_csv_round_trips(tmp_path: Path) -> None:
    """The sample generator writes products.csv with csv.writer; the loader reads it back unchanged."""
    import csv

    from mcn.samples.scripts import DEV_ZH

    expected = tuple(seg.product for seg in DEV_ZH.segments)
    path = tmp_path / "products.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "name", "aliases", "price", "commission_rate", "link"])
        for p in expected:
            writer.writerow([p.id, p.name, "|".join(p.aliases), p.price, p.commission_rate, p.link or ""])
    assert load_products(path) == expected


def test_json_list_and_products_object(tmp_path: Path) -> None:
    items = [
        {"id": 1, "name": "yoga mat", "aliases": ["mat", "yoga"], "price": "28", "commission_rate": "15%"},
        {"id": "p2", "name": "desk lamp", "aliases": "lamp|light", "link": "https://shop.example/p/lamp"},
    ]
    expected = (
        Product("1", "yoga mat", ("mat", "yoga"), 28.0, 0.15, None),
        Product("p2", "desk lamp", ("lamp", "light"), None, None, "https://shop.example/p/lamp"),
    )
    assert load_products(_write(tmp_path, "a.json", json.dumps(items))) == expected
    assert load_products(_write(tmp_path, "b.json", json.dumps({"products": items}))) == expected
    # An unknown suffix is sniffed.
    assert load_products(_write(tmp_path, "c.txt", json.dumps(items))) == expected


def _error(path: Path) -> str:
    with pytest.raises(InputFileError) as info:
        load_products(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    return message


def test_bad_csv_rows_name_each_line_and_problem(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "products.csv",
        "id,name,aliases,price,commission_rate,link\n"
        "p1,ok product,,10,0.1,\n"
        "p2,,,abc,,\n"
        "\n"
        "p3,third,,5,150,\n"
        "p1,duplicate,,1,2%,\n"
        "p4,fourth,,-3,0.1,https://x.example/a b\n",
    )
    message = _error(path)
    assert "line 3: name is empty; price 'abc' is not a number" in message
    assert "line 5: commission_rate 150 is above 1" in message
    assert "line 6: duplicate id 'p1' (first at line 2)" in message
    assert "line 7: price -3 is negative; link 'https://x.example/a b' contains spaces" in message
    assert "line 2" not in message.split("first at line 2")[0]


def test_missing_required_columns_reported_once(tmp_path: Path) -> None:
    path = _write(tmp_path, "products.csv", "sku,title,price\n1,a,2\n3,b,4\n")
    message = _error(path)
    assert "missing required columns id, name" in message
    assert message.removeprefix(str(path)).count("missing") == 1


def test_bad_json_items_name_their_index(tmp_path: Path) -> None:
    items = [{"id": "a", "name": "A"}, "not an object", {"id": "b", "name": "B", "commission_rate": "x%"}]
    message = _error(_write(tmp_path, "p.json", json.dumps({"products": items})))
    assert "products[1]: expected an object, got str" in message
    assert "products[2]: commission_rate 'x%' is not a percentage" in message
    every = _error(_write(tmp_path, "q.json", json.dumps([{"title": "A"}, {"title": "B"}])))
    assert every.count("missing required field id, name in every product") == 1  # once, not per item


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        ("empty.csv", "", "the products file is empty"),
        ("header.csv", "id,name\n", "lists no products"),
        ("broken.json", '{"products": [', "line 1: invalid JSON"),
        ("object.json", '{"items": []}', 'must have a "products" list'),
        ("ragged.csv", "id,name\na,b,c\n", "line 2: 3 cells but the header has 2 columns"),
    ],
)
def test_unusable_files(tmp_path: Path, name: str, text: str, problem: str) -> None:
    assert problem in _error(_write(tmp_path, name, text))


def test_missing_file(tmp_path: Path) -> None:
    assert "cannot read the products file" in _error(tmp_path / "nope.csv")
