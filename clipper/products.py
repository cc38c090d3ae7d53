"""Load the brand's product list from CSV or JSON.

The format is the ``--products`` file: columns ``id,name,aliases,price,commission_rate,link``. Only ``id`` and
``name`` are required; an optional ``attributes`` column lists key product facts (材质, "12 oz"), ``|``-separated
like aliases. ``aliases`` are separated by ``|`` (in JSON they may also be a list); ``price`` and
``commission_rate`` are optional numbers, and ``commission_rate`` accepts a fraction (``0.2``) or a percentage
(``"20%"``). JSON is a list of objects or an object ``{"products": [...]}``.

Every problem is reported at once, as one line naming the file and each bad CSV line or JSON index, so a brand
manager can fix the whole file in one go. Text is bounded (an id of at most 100 characters, a name of 200, at
most 50 aliases and 50 attributes of 100 each), holds no control characters and does not start with ``=`` (a
spreadsheet formula such as ``=HYPERLINK(...)`` is no product name); a link is an http(s) URL with a host. A cell
that mcn's own CSV writer quoted against formulas (``'-20%``, see :mod:`clipper.csvsafe`) reads back unquoted.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from clipper import csvsafe
from clipper.csvsafe import restore
from clipper.errors import InputFileError
from clipper.types import Product

COLUMNS = ("id", "name", "aliases", "price", "commission_rate", "link", "attributes")
REQUIRED_COLUMNS = ("id", "name")
MAX_REPORTED_PROBLEMS = 8
MAX_ID_CHARS = 100
MAX_NAME_CHARS = 200
MAX_LIST_ITEMS = 50  # aliases, and attributes
MAX_ITEM_CHARS = 100  # one alias or attribute
MAX_LINK_CHARS = 2048

_CURRENCY = re.compile(r"^(?:[¥￥$€£]|rmb|cny|usd)\s*|\s*(?:元|块|rmb|cny|usd|dollars?)$", re.IGNORECASE)


def load_products(path: str | Path) -> tuple[Product, ...]:
    """Read a product list.

    Args:
        path: a ``.csv`` or ``.json`` file; any other suffix is sniffed (``[`` or ``{`` first means JSON).
            CSV may be UTF-8 (with or without BOM) or GB18030, as Excel saves it on Chinese Windows.

    Returns:
        The products in file order.

    Raises:
        InputFileError: the file is missing, unreadable, empty or has bad rows; the message names the file and
            every bad CSV line number (the header is line 1) or JSON index (``products[3]``) with what is wrong.
    """
    file = Path(path)
    subject = str(file)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise InputFileError(subject, f"cannot read the products file ({exc.strerror or exc})") from exc
    text = _decode(raw, subject)
    if not text.strip():
        raise InputFileError(subject, "the products file is empty")
    suffix = file.suffix.lower()
    is_json = suffix == ".json" or (suffix != ".csv" and text.lstrip()[:1] in "[{")
    rows = _json_rows(text, subject) if is_json else _csv_rows(text, subject)
    return _build(rows, subject)


def write_products_csv(path: str | Path, products: Iterable[Product]) -> Path:
    """Write ``products`` in the ``--products`` CSV format (UTF-8, all columns) that :func:`load_products` reads
    back unchanged; text a spreadsheet would run as a formula is quoted (:mod:`clipper.csvsafe`). Returns ``path``."""
    file = Path(path)
    with file.open("w", newline="", encoding="utf-8") as fh:
        writer = csvsafe.writer(fh)
        writer.writerow(COLUMNS)
        for p in products:
            row = (p.id, p.name, "|".join(p.aliases), p.price, p.commission_rate, p.link, "|".join(p.attributes))
            writer.writerow(["" if cell is None else cell for cell in row])
    return file


def _decode(raw: bytes, subject: str) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InputFileError(subject, "the products file is neither UTF-8 nor GB18030 text")


def _csv_rows(text: str, subject: str) -> list[tuple[str, Mapping[str, Any]]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise InputFileError(subject, f"line 1: cannot read the CSV header ({exc})") from exc
    names = [h.strip().lower() for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise InputFileError(
            subject,
            f"line 1: missing required column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"(the header must name {','.join(COLUMNS)}; found {','.join(names) or 'nothing'})",
        )
    duplicated = sorted({n for n in names if n and names.count(n) > 1})
    if duplicated:
        raise InputFileError(subject, f"line 1: column {', '.join(duplicated)} appears more than once")
    rows: list[tuple[str, Mapping[str, Any]]] = []
    try:
        for cells in reader:
            line = f"line {reader.line_num}"
            if not any(c.strip() for c in cells):
                continue
            if len(cells) > len(names):
                rows.append((line, {"__error__": f"{len(cells)} cells but the header has {len(names)} columns"}))
                continue
            rows.append((line, {n: restore(c) for n, c in zip(names, cells, strict=False) if n}))
    except csv.Error as exc:
        raise InputFileError(subject, f"line {reader.line_num}: {exc}") from exc
    return rows


def _json_rows(text: str, subject: str) -> list[tuple[str, Mapping[str, Any]]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputFileError(subject, f"line {exc.lineno}: invalid JSON ({exc.msg})") from exc
    where = "products"
    if isinstance(data, dict):
        if "products" not in data:
            raise InputFileError(subject, 'a JSON object must have a "products" list')
        data = data["products"]
    else:
        where = ""
    if not isinstance(data, list):
        raise InputFileError(subject, "expected a list of product objects")
    rows: list[tuple[str, Mapping[str, Any]]] = []
    missing_everywhere = set(REQUIRED_COLUMNS)
    for i, item in enumerate(data):
        label = f"{where}[{i}]" if where else f"item {i}"
        if not isinstance(item, dict):
            rows.append((label, {"__error__": f"expected an object, got {type(item).__name__}"}))
            continue
        lowered = {str(k).strip().lower(): v for k, v in item.items()}
        missing_everywhere &= {c for c in REQUIRED_COLUMNS if c not in lowered}
        rows.append((label, lowered))
    if data and missing_everywhere:
        cols = ", ".join(sorted(missing_everywhere))
        raise InputFileError(subject, f"missing required field {cols} in every product")
    return rows


def _build(rows: Iterable[tuple[str, Mapping[str, Any]]], subject: str) -> tuple[Product, ...]:
    products: list[Product] = []
    problems: list[str] = []
    seen: dict[str, str] = {}
    for where, row in rows:
        if "__error__" in row:
            problems.append(f"{where}: {row['__error__']}")
            continue
        errors: list[str] = []
        pid = _text(row.get("id"))
        name = _text(row.get("name"))
        if not pid:
            errors.append("id is empty")
        elif pid in seen:
            errors.append(f"duplicate id {_short(pid)} (first at {seen[pid]})")
        if not name:
            errors.append("name is empty")
        _check_text("id", pid, MAX_ID_CHARS, errors)
        _check_text("name", name, MAX_NAME_CHARS, errors)
        price = _number(row.get("price"), "price", errors)
        if price is not None and price < 0:
            errors.append(f"price {price:g} is negative")
        commission = _commission(row.get("commission_rate"), errors)
        aliases = _aliases(row.get("aliases"), name, errors)
        attributes = _aliases(row.get("attributes"), name, errors, column="attributes")
        link = _text(row.get("link")) or None
        if link is not None:
            _check_link(link, errors)
        if errors:
            problems.append(f"{where}: {'; '.join(errors)}")
            continue
        seen[pid] = where
        products.append(Product(pid, name, aliases, price, commission, link, attributes))
    if problems:
        shown = problems[:MAX_REPORTED_PROBLEMS]
        more = len(problems) - len(shown)
        raise InputFileError(subject, " | ".join(shown) + (f" | and {more} more bad rows" if more else ""))
    if not products:
        raise InputFileError(subject, "the products file lists no products")
    return tuple(products)


def _short(text: str) -> str:
    """``text`` quoted for a message, cut to 40 characters (a 10,000-character cell must not flood the line)."""
    return repr(text[:40] + "…") if len(text) > 40 else repr(text)


def _check_text(column: str, text: str, limit: int, errors: list[str]) -> None:
    if len(text) > limit:
        errors.append(f"{column} {_short(text)} is {len(text)} characters long (at most {limit})")
    if text.startswith("="):
        errors.append(f"{column} {_short(text)} starts with '=' like a spreadsheet formula")
    bad = next((ch for ch in text if unicodedata.category(ch) == "Cc"), None)
    if bad is not None:
        errors.append(f"{column} {_short(text)} contains the control character U+{ord(bad):04X}")


def _check_link(link: str, errors: list[str]) -> None:
    if len(link) > MAX_LINK_CHARS:
        errors.append(f"link {_short(link)} is {len(link)} characters long (at most {MAX_LINK_CHARS})")
        return
    if any(c.isspace() or unicodedata.category(c) == "Cc" for c in link):
        errors.append(f"link {_short(link)} contains spaces or control characters")
        return
    try:
        parts = urlsplit(link)
        host = parts.hostname
    except ValueError:  # a malformed port or IPv6 literal
        host = None
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not host:
        errors.append(f"link {_short(link)} is not an http(s) URL with a host (https://shop.example/item/1)")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return " ".join(str(value).split())


def _number(value: Any, column: str, errors: list[str]) -> float | None:
    if value is None or isinstance(value, bool):
        if isinstance(value, bool):
            errors.append(f"{column} {value!r} is not a number")
        return None
    if isinstance(value, int | float):
        return float(value)
    text = _CURRENCY.sub("", str(value).strip()).replace(",", "").strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        errors.append(f"{column} {str(value).strip()!r} is not a number")
        return None
    if not math.isfinite(number):
        errors.append(f"{column} {str(value).strip()!r} is not a finite number")
        return None
    return number


def _commission(value: Any, errors: list[str]) -> float | None:
    if isinstance(value, str) and value.strip().endswith(("%", "％")):
        text = value.strip()[:-1].strip()
        try:
            rate = float(text) / 100.0
        except ValueError:
            errors.append(f"commission_rate {value.strip()!r} is not a percentage")
            return None
    else:
        number = _number(value, "commission_rate", errors)
        if number is None:
            return None
        if number > 1:
            errors.append(f"commission_rate {number:g} is above 1; write a fraction (0.2) or a percentage (20%)")
            return None
        rate = number
    if not 0 <= rate <= 1:
        errors.append(f"commission_rate {rate:g} is outside 0..1 (0%..100%)")
        return None
    return rate


def _aliases(value: Any, name: str, errors: list[str], column: str = "aliases") -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        items = [_text(v) for v in value]
    elif isinstance(value, str | int | float):
        items = [_text(v) for v in str(value).split("|")]
    else:
        errors.append(f"{column} must be text separated by | or a list, got {type(value).__name__}")
        return ()
    out: list[str] = []
    for alias in items:
        if alias and alias.casefold() != name.casefold() and alias.casefold() not in {a.casefold() for a in out}:
            out.append(alias)
    if len(out) > MAX_LIST_ITEMS:
        errors.append(f"{column} lists {len(out)} entries (at most {MAX_LIST_ITEMS})")
    for alias in out:
        before = len(errors)
        _check_text({"aliases": "alias"}.get(column, column[:-1]), alias, MAX_ITEM_CHARS, errors)
        if len(errors) > before:
            break  # one bad entry per column is enough to point at the cell
    return tuple(out)
