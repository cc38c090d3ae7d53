"""Affiliate orders: reading an alliance export (CSV, XLSX) and storing orders idempotently.

**Flow points move forward only.** An order is paid (``PAY_SUCC``), the buyer may confirm receipt (``CONFIRM``),
and it ends either settled (``SETTLE``: commission paid out) or refunded (``REFUND``: no commission). So

    PAY_SUCC < CONFIRM < SETTLE, and PAY_SUCC < CONFIRM < REFUND; SETTLE and REFUND are both terminal.

A row whose flow point is later than the stored one replaces the stored figures (times it leaves empty keep the
stored ones); an earlier one is *stale* and ignored (exports overlap; an old file re-imported after a new one
must not undo a settlement); the other terminal state than the stored one is a *conflict*, ignored and reported.
A row with the same flow point refreshes the figures only when its ``update_time`` is later (a correction);
otherwise it is unchanged. Re-importing a file therefore changes nothing, and importing files in any order ends
in the same state as long as the platform's own history is consistent.

**Bad rows** (missing order or product id, unknown flow point, unreadable number or time) are reported by line
(the file's physical line, header = line 1) and skipped; every good row is stored.

Money is in fen (buyin's API unit); a back-office export in yuan is read with ``unit="yuan"``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Table, select, update
from sqlmodel import SQLModel

from analytics.fields import FieldError, MoneyUnit, clean, parse_id, parse_money, parse_rate, parse_time
from mcn.db import get_engine
from mcn.tables import FLOW_POINTS, AffiliateOrderRecord, PostRecord, as_utc, utcnow

ORDERS: Table = SQLModel.metadata.tables[AffiliateOrderRecord.__tablename__]
POSTS: Table = SQLModel.metadata.tables[PostRecord.__tablename__]

#: Rank of each flow point; equal ranks (SETTLE, REFUND) are the two terminal outcomes.
FLOW_RANK = {"PAY_SUCC": 0, "CONFIRM": 1, "SETTLE": 2, "REFUND": 2}
TERMINAL = frozenset({"SETTLE", "REFUND"})
_CHUNK = 500

# Header names accepted for each field (lower case). The doukeOrderAds names first, then kolOrderAds and plain ones.
_HEADERS: dict[str, tuple[str, ...]] = {
    "order_id": ("order_id", "orderid"),
    "product_id": ("product_id", "productid"),
    "author_buyin_id": ("author_buyin_id", "buyin_id"),
    "total_pay_amount": ("total_pay_amount",),
    "pay_goods_amount": ("pay_goods_amount",),
    "settled_goods_amount": ("settled_goods_amount",),
    "ads_estimated_commission": ("ads_estimated_commission", "estimated_commission"),
    "ads_real_commission": ("ads_real_commission", "real_commission"),
    "commission_rate": ("commission_rate", "ads_commission_rate"),
    "flow_point": ("flow_point",),
    "pay_success_time": ("pay_success_time", "pay_time"),
    "settle_time": ("settle_time",),
    "refund_time": ("refund_time",),
    "update_time": ("update_time",),
    "media_type": ("media_type",),
    "media_id": ("media_id",),
    "external_info": ("pid_info.external_info", "external_info", "pid_info_external_info"),
}
_REQUIRED = ("order_id", "product_id", "flow_point")
_MONEY = (
    "total_pay_amount",
    "pay_goods_amount",
    "settled_goods_amount",
    "ads_estimated_commission",
    "ads_real_commission",
)
_TIMES = ("pay_success_time", "settle_time", "refund_time", "update_time")


class OrderFileError(ValueError):
    """The file as a whole cannot be read (missing, no header, no order_id column); ``str()`` is one line."""


@dataclass(frozen=True, slots=True)
class OrderRow:
    """One order as read from an export or an API page: buyin field names, money in fen, times in UTC."""

    order_id: str
    product_id: str
    flow_point: str
    author_buyin_id: str | None = None
    total_pay_amount: int = 0
    pay_goods_amount: int = 0
    settled_goods_amount: int = 0
    ads_estimated_commission: int = 0
    ads_real_commission: int = 0
    commission_rate: int | None = None
    pay_success_time: datetime | None = None
    settle_time: datetime | None = None
    refund_time: datetime | None = None
    update_time: datetime | None = None
    media_type: str | None = None
    media_id: str | None = None
    external_info: str | None = None

    def __post_init__(self) -> None:
        if self.update_time is None:
            # the latest event we know of stands in for a missing update time (orders only move forward)
            known = [t for t in (self.pay_success_time, self.settle_time, self.refund_time) if t is not None]
            if known:
                object.__setattr__(self, "update_time", max(known))

    @property
    def rank(self) -> int:
        return FLOW_RANK[self.flow_point]


_ROW_FIELDS = tuple(f.name for f in fields(OrderRow))


@dataclass(frozen=True, slots=True)
class BadRow:
    """A row that was not stored: its line in the file and why."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass(slots=True)
class UpsertReport:
    """What storing a batch of orders did, by outcome."""

    inserted: int = 0
    advanced: int = 0  # flow point moved forward
    refreshed: int = 0  # same flow point, later update_time
    unchanged: int = 0
    stale: int = 0  # an earlier flow point than stored: ignored
    conflicts: list[str] = field(default_factory=list)  # "order X: stored SETTLE, row says REFUND"

    @property
    def changed(self) -> int:
        return self.inserted + self.advanced + self.refreshed

    def add(self, other: UpsertReport) -> None:
        self.inserted += other.inserted
        self.advanced += other.advanced
        self.refreshed += other.refreshed
        self.unchanged += other.unchanged
        self.stale += other.stale
        self.conflicts.extend(other.conflicts)

    def summary(self) -> str:
        parts = [
            f"{self.inserted} new",
            f"{self.advanced} moved forward",
            f"{self.refreshed} refreshed",
            f"{self.unchanged} unchanged",
        ]
        if self.stale:
            parts.append(f"{self.stale} stale (older flow point, ignored)")
        if self.conflicts:
            parts.append(f"{len(self.conflicts)} conflicting (ignored)")
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class ImportReport:
    """The outcome of importing one file."""

    path: Path
    rows: int
    bad: tuple[BadRow, ...]
    stored: UpsertReport


# ------------------------------------------------------------------------------------------------ reading


def row_from_mapping(values: Mapping[str, Any], unit: MoneyUnit = "fen") -> OrderRow:
    """An :class:`OrderRow` from one record keyed by field name (an export row or a buyin API order, whose
    ``pid_info`` may be a nested object). Raises :class:`FieldError` naming the column."""

    def get(name: str) -> Any:
        return values.get(name)

    def column(name: str, parse: Any) -> Any:
        try:
            return parse(get(name))
        except FieldError as exc:
            raise FieldError(f"{name}: {exc}") from None

    for name in _REQUIRED:
        if not clean(get(name)):
            raise FieldError(f"{name} is empty")
    flow = clean(get("flow_point")).upper()
    if flow not in FLOW_RANK:
        raise FieldError(f"flow_point {flow!r} is not one of {', '.join(FLOW_POINTS)}")
    external = get("external_info")
    pid_info = values.get("pid_info")
    if external is None and isinstance(pid_info, Mapping):
        external = pid_info.get("external_info")
    media_type = clean(get("media_type")) or None
    return OrderRow(
        order_id=column("order_id", parse_id),
        product_id=column("product_id", parse_id),
        flow_point=flow,
        author_buyin_id=column("author_buyin_id", parse_id) or None,
        commission_rate=column("commission_rate", parse_rate),
        media_type=media_type,
        media_id=clean(get("media_id")) or None,
        external_info=clean(external) or None,
        **{name: column(name, lambda v: parse_money(v, unit)) for name in _MONEY},
        **{name: column(name, parse_time) for name in _TIMES},
    )


def row_from_api(order: Mapping[str, Any]) -> OrderRow:
    """An :class:`OrderRow` from one order of a buyin-style API answer (``kolOrderAds`` names such as
    ``estimated_commission`` are read as their ``doukeOrderAds`` fields; ``pid_info`` is an object)."""
    lookup = {alias: name for name, aliases in _HEADERS.items() for alias in aliases}
    values: dict[str, Any] = {}
    for key, value in order.items():
        name = lookup.get(key.lower(), key)
        if name not in values or values[name] in (None, ""):
            values[name] = value
    return row_from_mapping(values)


def _header_map(header: Sequence[Any]) -> dict[int, str]:
    lookup = {alias: name for name, aliases in _HEADERS.items() for alias in aliases}
    mapping: dict[int, str] = {}
    for index, raw in enumerate(header):
        key = clean(raw).lower().replace(" ", "_")
        if key in lookup and lookup[key] not in mapping.values():
            mapping[index] = lookup[key]
    return mapping


def _rows_from_table(
    records: Iterable[tuple[int, Sequence[Any]]], source: str, unit: MoneyUnit
) -> tuple[list[tuple[int, OrderRow]], list[BadRow]]:
    """``records`` are (line, cells) with the header first."""
    iterator = iter(records)
    try:
        _, header = next(iterator)
    except StopIteration:
        raise OrderFileError(f"{source}: the file is empty") from None
    mapping = _header_map(header)
    missing = [name for name in _REQUIRED if name not in mapping.values()]
    if missing:
        raise OrderFileError(f"{source}: no {', '.join(missing)} column in the header (doukeOrderAds field names)")
    good: list[tuple[int, OrderRow]] = []
    bad: list[BadRow] = []
    for line, cells in iterator:
        if not any(clean(c) for c in cells):
            continue  # blank lines and Excel's trailing empty rows
        values = {name: cells[i] if i < len(cells) else None for i, name in mapping.items()}
        try:
            good.append((line, row_from_mapping(values, unit)))
        except FieldError as exc:
            bad.append(BadRow(line, str(exc)))
    return good, bad


def _decode(data: bytes, source: str) -> str:
    # Excel on Chinese Windows saves CSV as GBK; everything else is UTF-8 (with or without a BOM).
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise OrderFileError(f"{source}: neither UTF-8 nor GBK text")


def _csv_records(text: str) -> Iterator[tuple[int, list[str]]]:
    sample = text[:4096]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",\t;")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    start = 1
    for cells in reader:
        yield start, cells
        start = reader.line_num + 1


def _xlsx_records(path: Path) -> Iterator[tuple[int, tuple[Any, ...]]]:
    try:
        import openpyxl
    except ImportError:
        raise OrderFileError(
            f"{path}: reading .xlsx needs openpyxl (pip install openpyxl), which is not installed; "
            "save the sheet as CSV and import that"
        ) from None
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a damaged file
        raise OrderFileError(f"{path}: not a readable .xlsx file ({str(exc).splitlines()[0][:120]})") from None
    try:
        sheet = book.worksheets[0]
        for number, cells in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, tuple(cells)
    finally:
        book.close()


def xlsx_supported() -> bool:
    """Whether ``.xlsx`` exports can be read here (openpyxl is installed)."""
    try:
        import openpyxl  # noqa: F401
    except ImportError:
        return False
    return True


def read_orders_file(path: Path, unit: MoneyUnit = "fen") -> tuple[list[tuple[int, OrderRow]], list[BadRow]]:
    """The good rows (with their line) and the bad rows of an order export (``.csv``/``.txt``/``.tsv``, or
    ``.xlsx`` when openpyxl is installed). Raises :class:`OrderFileError` when the file cannot be read at all."""
    if not path.is_file():
        raise OrderFileError(f"{path}: file not found")
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return _rows_from_table(_xlsx_records(path), str(path), unit)
    if path.suffix.lower() == ".xls":
        raise OrderFileError(f"{path}: the old .xls format is not read; save it as .xlsx or CSV")
    text = _decode(path.read_bytes(), str(path))
    return _rows_from_table(_csv_records(text), str(path), unit)


# ------------------------------------------------------------------------------------------------ storing


def _stored_row(record: Any) -> OrderRow:
    values = {name: record[name] for name in _ROW_FIELDS}
    for name in _TIMES:
        if values[name] is not None:
            values[name] = as_utc(values[name])
    return OrderRow(**values)


def decide(stored: OrderRow | None, incoming: OrderRow) -> tuple[str, OrderRow | None]:
    """What ``incoming`` does to the ``stored`` order: ``(outcome, row to store or None)``.

    Outcomes: inserted, advanced, refreshed, unchanged, stale, conflict (see the module docstring).
    """
    if stored is None:
        return "inserted", incoming
    if incoming.flow_point == stored.flow_point:
        if incoming == stored:
            return "unchanged", None
        later = (
            incoming.update_time is not None
            and stored.update_time is not None
            and incoming.update_time > stored.update_time
        )
        return ("refreshed", _merged(stored, incoming)) if later else ("unchanged", None)
    if stored.flow_point in TERMINAL:
        return ("conflict" if incoming.flow_point in TERMINAL else "stale"), None
    if incoming.rank > stored.rank:
        return "advanced", _merged(stored, incoming)
    return "stale", None


def _merged(stored: OrderRow, incoming: OrderRow) -> OrderRow:
    # A later row wins field by field, except that it cannot erase what was already known (times, the code).
    keep = {
        name: getattr(stored, name)
        for name in (*_TIMES, "external_info", "media_id", "media_type", "author_buyin_id", "commission_rate")
        if getattr(incoming, name) is None and getattr(stored, name) is not None
    }
    return replace(incoming, **keep)


def upsert_orders(rows: Iterable[OrderRow], source: str) -> UpsertReport:
    """Store ``rows`` (in order: a later row about the same order sees the earlier one) by the forward-only rule,
    attributing new and changed orders to posts. Writes nothing for rows that change nothing."""
    from analytics.attribution import attribute_rows

    report = UpsertReport()
    engine = get_engine()
    batch: list[OrderRow] = []

    def flush() -> None:
        if not batch:
            return
        with engine.begin() as conn:
            ids = list(dict.fromkeys(r.order_id for r in batch))
            existing = {
                rec["order_id"]: _stored_row(rec)
                for rec in conn.execute(select(ORDERS).where(ORDERS.c.order_id.in_(ids))).mappings()
            }
            inserts: dict[str, OrderRow] = {}
            updates: dict[str, OrderRow] = {}
            for row in batch:
                current = inserts.get(row.order_id) or updates.get(row.order_id) or existing.get(row.order_id)
                outcome, new = decide(current, row)
                if outcome == "conflict":
                    assert current is not None
                    report.conflicts.append(
                        f"order {row.order_id}: stored {current.flow_point}, row says {row.flow_point}"
                    )
                    continue
                setattr(report, outcome, getattr(report, outcome) + 1)
                if new is None:
                    continue
                if row.order_id in existing:
                    updates[row.order_id] = new
                else:
                    inserts[row.order_id] = new
            now = utcnow()
            links = attribute_rows(conn, [*inserts.values(), *updates.values()])
            if inserts:
                conn.execute(
                    ORDERS.insert(),
                    [
                        {
                            **_values(r),
                            **links[r.order_id],
                            "source": source,
                            "created_at": now,
                            "updated_at": now,
                        }
                        for r in inserts.values()
                    ],
                )
            for r in updates.values():
                conn.execute(
                    update(ORDERS)
                    .where(ORDERS.c.order_id == r.order_id)
                    .values(**_values(r), **links[r.order_id], updated_at=now)
                )
        batch.clear()

    for row in rows:
        batch.append(row)
        if len(batch) >= _CHUNK:
            flush()
    flush()
    return report


def _values(row: OrderRow) -> dict[str, Any]:
    return {name: getattr(row, name) for name in _ROW_FIELDS}


def import_orders(path: Path, unit: MoneyUnit = "fen") -> ImportReport:
    """Read an alliance order export and store it (module docstring for the rules); bad rows are reported by line.

    Raises :class:`OrderFileError` (one line) when the file cannot be read at all; nothing is stored then.
    """
    good, bad = read_orders_file(path, unit)
    stored = upsert_orders((row for _, row in good), source=f"import:{path.name}")
    return ImportReport(path=path, rows=len(good) + len(bad), bad=tuple(bad), stored=stored)
