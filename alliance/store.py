"""The pool in mcn's database (``pool_products``): idempotent upserts by product id, reads back as :class:`PoolProduct`.

An upsert compares every alliance field: a row whose fields are all the same is left alone (``unchanged``, its
``updated_at`` kept), so importing one file twice changes nothing the second time. Downloaded media stay attached
to their URL (``local_media``) for as long as the product still lists that URL.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from sqlmodel import select

from alliance.product import PoolProduct, ShopScores
from mcn.db import session
from mcn.tables import PoolProductRecord, utcnow

__all__ = ["UpsertResult", "load_pool", "pool_media", "set_local_media", "upsert_pool"]

_FIELDS = tuple(f.name for f in fields(PoolProduct))


@dataclass(frozen=True, slots=True)
class UpsertResult:
    """Product ids added, changed and found identical by one upsert."""

    added: tuple[str, ...]
    updated: tuple[str, ...]
    unchanged: tuple[str, ...]

    @property
    def stored(self) -> int:
        return len(self.added) + len(self.updated) + len(self.unchanged)


def _columns(product: PoolProduct) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in _FIELDS:
        value = getattr(product, name)
        if isinstance(value, ShopScores):
            value = value.as_dict()
        elif isinstance(value, tuple):
            value = list(value)
        values[name] = value
    return values


def _product(record: PoolProductRecord) -> PoolProduct:
    values: dict[str, Any] = {name: getattr(record, name) for name in _FIELDS}
    values["shop_total_score"] = ShopScores.from_dict(record.shop_total_score)
    for name in ("imgs", "videos", "attributes"):
        values[name] = tuple(values[name] or ())
    return PoolProduct(**values)


def upsert_pool(products: Iterable[PoolProduct], source: str) -> UpsertResult:
    """Add or update ``products`` in one transaction; ``source`` says where they came from."""
    added: list[str] = []
    updated: list[str] = []
    unchanged: list[str] = []
    items = list(products)
    with session() as s:
        ids = [p.product_id for p in items]
        existing: dict[str, PoolProductRecord] = {}
        for start in range(0, len(ids), 500):  # bounded IN lists (SQLite allows ~32k parameters)
            chunk = ids[start : start + 500]
            query = select(PoolProductRecord).where(PoolProductRecord.product_id.in_(chunk))  # type: ignore[attr-defined]
            existing.update({r.product_id: r for r in s.exec(query)})
        now = utcnow()
        for product in items:
            values = _columns(product)
            record = existing.get(product.product_id)
            if record is None:
                s.add(PoolProductRecord(**values, source=source, created_at=now, updated_at=now))
                added.append(product.product_id)
                continue
            if all(getattr(record, k) == v for k, v in values.items()):
                unchanged.append(product.product_id)
                continue
            for key, value in values.items():
                setattr(record, key, value)
            urls = {*product.imgs, *product.videos, *([product.cover] if product.cover else [])}
            record.local_media = {u: p for u, p in (record.local_media or {}).items() if u in urls}
            record.source = source
            record.updated_at = now
            s.add(record)
            updated.append(product.product_id)
        s.commit()
    return UpsertResult(tuple(added), tuple(updated), tuple(unchanged))


def load_pool() -> list[PoolProduct]:
    """Every pool product, by product id."""
    with session() as s:
        records = s.exec(select(PoolProductRecord).order_by(PoolProductRecord.product_id)).all()
        return [_product(r) for r in records]


def pool_media() -> dict[str, dict[str, str]]:
    """Per product id, its downloaded media: URL -> local path."""
    with session() as s:
        rows = s.exec(select(PoolProductRecord.product_id, PoolProductRecord.local_media)).all()
        return {pid: dict(media or {}) for pid, media in rows}


def set_local_media(media: Mapping[str, Mapping[str, str]]) -> None:
    """Record downloaded copies: per product id, URL -> local path (merged into what is there)."""
    with session() as s:
        for product_id, paths in media.items():
            record = s.get(PoolProductRecord, product_id)
            if record is None:
                continue
            record.local_media = {**(record.local_media or {}), **paths}
            s.add(record)
        s.commit()
