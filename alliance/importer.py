"""Read a pool file (``mcn products import FILE``): CSV or JSON rows in the alliance's fields (:mod:`alliance.product`).

JSON is a list of product objects, ``{"products": [...]}``, or a saved API answer ``{"data": {"products": [...]}}``.
CSV has a header row naming the fields; list cells (``imgs``, ``videos``, ``attributes``) are ``|``-separated;
``shop_total_score`` comes as flat columns (``shop_score``, ``shop_score_level``, ``product_score``...). CSV may be
UTF-8 (with or without BOM) or GB18030, as Excel saves it on Chinese Windows; a cell that mcn's own CSV writer
quoted against formulas reads back unquoted (:func:`clipper.csvsafe.restore`).

Bad rows do not stop the file: each is reported as ``FILE line N: problem; problem`` (or ``products[i]``), and the
good rows are kept.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alliance.product import PoolProduct, RowProblems, pool_product_from_row
from clipper.csvsafe import restore
from clipper.errors import InputFileError
from clipper.products import _decode

__all__ = ["MAX_FILE_BYTES", "PoolFile", "read_pool_file"]

MAX_FILE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class PoolFile:
    """The good products of a pool file, in file order, and one line per bad row."""

    products: tuple[PoolProduct, ...]
    problems: tuple[str, ...]
    rows: int


def read_pool_file(path: str | Path) -> PoolFile:
    """Read ``path`` (see the module docstring).

    Raises:
        InputFileError: the file is missing, unreadable, too large, not CSV/JSON, or has no rows at all; bad rows
            alone do not raise, they are in :attr:`PoolFile.problems`.
    """
    file = Path(path)
    subject = str(file)
    try:
        if file.stat().st_size > MAX_FILE_BYTES:
            raise InputFileError(subject, f"the pool file is larger than {MAX_FILE_BYTES // 2**20} MiB")
        raw = file.read_bytes()
    except OSError as exc:
        raise InputFileError(subject, f"cannot read the pool file ({exc.strerror or exc})") from None
    text = _decode(raw, subject)
    if not text.strip():
        raise InputFileError(subject, "the pool file is empty")
    suffix = file.suffix.lower()
    is_json = suffix == ".json" or (suffix != ".csv" and text.lstrip()[:1] in "[{")
    rows = _json_rows(text, subject) if is_json else _csv_rows(text, subject)
    if not rows:
        raise InputFileError(subject, "the pool file lists no products")
    products: list[PoolProduct] = []
    problems: list[str] = []
    seen: dict[str, str] = {}
    for where, row in rows:
        try:
            if "__error__" in row:
                raise RowProblems(str(row["__error__"]))
            product = pool_product_from_row(row, file.parent)
            if product.product_id in seen:
                raise RowProblems(f"product_id {product.product_id!r} repeats {seen[product.product_id]}")
        except RowProblems as exc:
            problems.append(f"{subject} {where}: {exc}")
            continue
        seen[product.product_id] = where
        products.append(product)
    return PoolFile(tuple(products), tuple(problems), len(rows))


def _csv_rows(text: str, subject: str) -> list[tuple[str, Mapping[str, Any]]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except (StopIteration, csv.Error) as exc:
        raise InputFileError(subject, f"line 1: cannot read the CSV header ({exc})") from None
    if "product_id" not in header and "id" not in header:
        raise InputFileError(subject, f"line 1: no product_id column (found {','.join(header) or 'nothing'})")
    repeated = sorted({h for h in header if h and header.count(h) > 1})
    if repeated:
        raise InputFileError(subject, f"line 1: column {', '.join(repeated)} appears more than once")
    rows: list[tuple[str, Mapping[str, Any]]] = []
    try:
        for cells in reader:
            where = f"line {reader.line_num}"
            if not any(c.strip() for c in cells):
                continue
            if len(cells) > len(header):
                rows.append((where, {"__error__": f"{len(cells)} cells but the header has {len(header)} columns"}))
                continue
            rows.append((where, {h: restore(c) for h, c in zip(header, cells, strict=False) if h}))
    except csv.Error as exc:
        raise InputFileError(subject, f"line {reader.line_num}: {exc}") from None
    return rows


def _json_rows(text: str, subject: str) -> list[tuple[str, Mapping[str, Any]]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputFileError(subject, f"line {exc.lineno}: invalid JSON ({exc.msg})") from None
    if isinstance(data, dict) and isinstance(data.get("data"), dict):
        data = data["data"]  # a saved API answer
    if isinstance(data, dict):
        if "products" not in data:
            raise InputFileError(subject, 'a JSON object must have a "products" list')
        data = data["products"]
    if not isinstance(data, list):
        raise InputFileError(subject, "expected a list of product objects")
    return [
        (f"products[{i}]", item if isinstance(item, dict) else {"__error__": f"not an object ({type(item).__name__})"})
        for i, item in enumerate(data)
    ]
