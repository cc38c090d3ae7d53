"""Product lists from CSV and JSON: parsing, percentages, and one-line errors naming the file and the line."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from clipper import csvsafe
from clipper.errors import InputFileError
from clipper.products import load_products, write_products_csv
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
    """The sample generator writes products.csv with write_products_csv; the loader reads it back unchanged."""
    from mcn.samples.scripts import DEV_ZH

    expected = tuple(seg.product for seg in DEV_ZH.segments)
    assert load_products(write_products_csv(tmp_path / "products.csv", expected)) == expected
    # names a spreadsheet would take for formulas are quoted in the file and read back as they were
    odd = (
        Product("-20", "-20% rain jacket", ("+1 cable", "@home lamp"), 9.9, None, None, ("-10°C rated",)),
        Product("p2", "plain", (), 3.0, 0.2, "https://shop.example/p/2"),
    )
    path = write_products_csv(tmp_path / "odd.csv", odd)
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[1] == ["'-20", "'-20% rain jacket", "'+1 cable|@home lamp", "9.9", "", "", "'-10°C rated"]
    assert load_products(path) == odd


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


GOOD_ROW = "p1,rain jacket,jacket,79,20%,https://shop.example/p/1,waterproof"


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        (
            f"p2,{'x' * 10_000},,,,,",
            "name 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…' is 10000 characters long (at most 200)",
        ),
        ("p2,=cmd|'/c calc'!A1,,,,,", "name \"=cmd|'/c calc'!A1\" starts with '=' like a spreadsheet formula"),
        ('p2,"=HYPERLINK(""https://evil.example"",""x"")",,,,,', "starts with '=' like a spreadsheet formula"),
        ("p2,mug,,,,+1,", "link '+1' is not an http(s) URL with a host"),
        ("p2,mug,,,,javascript:alert(1),", "link 'javascript:alert(1)' is not an http(s) URL with a host"),
        ("p2,mug,,,,https:///no-host,", "link 'https:///no-host' is not an http(s) URL with a host"),
        ("p2,mug,,,,http://[::1,", "link 'http://[::1' is not an http(s) URL with a host"),
        (f"p2,mug,,,,https://shop.example/{'a' * 2100},", "is 2121 characters long (at most 2048)"),
        (f"{'i' * 101},mug,,,,,", "is 101 characters long (at most 100)"),
        (
            f"p2,mug,{'a' * 101},,,,",
            "alias 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa…' is 101 characters long (at most 100)",
        ),
        ("p2,mug,=1+1|cup,,,,", "alias '=1+1' starts with '='"),
        ("p2,mug," + "|".join(f"a{n}" for n in range(51)) + ",,,,", "aliases lists 51 entries (at most 50)"),
        ("p2,mug,,,,," + "|".join(f"t{n}" for n in range(51)), "attributes lists 51 entries (at most 50)"),
        (f"p2,mug,,,,,{'t' * 101}", "attribute 'tttttttttttttttttttttttttttttttttttttttt…' is 101 characters long"),
        ("p2,mu\0g,,,,,", "name 'mu\\x00g' contains the control character U+0000"),
    ],
)
def test_product_rows_with_oversized_text_formulas_or_bad_links_are_rejected_by_line(
    tmp_path: Path, row: str, problem: str
) -> None:
    path = _write(
        tmp_path, "products.csv", f"id,name,aliases,price,commission_rate,link,attributes\n{GOOD_ROW}\n{row}\n"
    )
    message = _error(path)
    assert message.startswith(f"{path}: line 3: ") and problem in message, message
    assert "line 2" not in message and len(message) < 400  # the 10,000 characters are not echoed


def test_json_products_get_the_same_checks(tmp_path: Path) -> None:
    items = [{"id": "a", "name": "A", "link": "+1"}, {"id": "b", "name": "n" * 201, "aliases": ["ok", "=SUM(A1)"]}]
    message = _error(_write(tmp_path, "p.json", json.dumps(items)))
    assert "item 0: link '+1' is not an http(s) URL with a host" in message
    assert "item 1: name 'nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn…' is 201 characters long (at most 200)" in message
    assert "alias '=SUM(A1)' starts with '='" in message


def test_csv_writer_neutralises_every_formula_prefix_and_leaves_numbers() -> None:
    cells = ["=cmd|'/c calc'!A1", '=HYPERLINK("https://evil.example","x")', "+1", "-2", "@SUM(A1)", "\tx", "\rx"]
    buffer = io.StringIO()
    csvsafe.writer(buffer).writerows([[*cells, "plain", "a=b", -1.5, 7, None]])
    written = next(csv.reader(io.StringIO(buffer.getvalue(), newline="")))
    assert written[: len(cells)] == ["'" + cell for cell in cells]
    assert written[len(cells) :] == ["plain", "a=b", "-1.5", "7", ""]
    assert [csvsafe.restore(cell) for cell in written[: len(cells)]] == cells
    assert csvsafe.restore("'quoted on purpose") == "'quoted on purpose"


def test_no_csv_is_written_without_the_neutralising_writer() -> None:
    """Every CSV mcn writes goes through clipper.csvsafe: a plain csv.writer, DictWriter or to_csv elsewhere in
    the product code would write formulas as they are."""
    root = Path(__file__).resolve().parents[1]
    offenders = []
    for package in ("mcn", "clipper", "publisher", "accounts", "analytics", "sandbox", "flows", "remix", "scripts"):
        for path in (root / package).rglob("*.py"):
            if path == root / "clipper" / "csvsafe.py":
                continue
            text = path.read_text(encoding="utf-8")
            if "csv.writer(" in text or "DictWriter(" in text or ".to_csv(" in text:
                offenders.append(str(path.relative_to(root)))
    assert offenders == []
