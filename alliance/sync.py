"""``mcn products sync``: pull a platform's alliance pool (every search page, then details) into ``pool_products``
and download each product's images and videos into the data dir.

A :class:`PoolSource` knows one platform's API; :data:`SOURCES` holds them by platform name (``sandbox`` today; a
real Douyin source would sign doudian requests the same way and register under ``douyin``). Items go through the
same checks as an imported file (:func:`alliance.product.pool_product_from_row`): a bad item from the platform is
reported and skipped, never stored half-checked. Media URLs come from the platform's data, so they are fetched like
any other untrusted URL (:func:`remix.products.fetch_material`, :mod:`clipper.fetch`: public addresses only, each
redirect checked, an overall deadline, kept only when it decodes as the image or video it is listed as); the one
exception is the platform's own origin (:meth:`PoolSource.media_origins`), which the operator configured and
which may be loopback (the sandbox). Media downloads are cached by URL, so a second sync downloads nothing new; a
file that fails is reported and the product keeps its other media.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import httpx

from alliance.product import PoolProduct, RowProblems, pool_product_from_row
from alliance.store import UpsertResult, pool_media, set_local_media, upsert_pool
from clipper.errors import DownloadError
from clipper.fetch import FetchOptions, MediaKind
from remix.products import MATERIAL_FETCH, fetch_material

__all__ = ["SOURCES", "PoolSource", "SandboxPoolSource", "SyncError", "SyncResult", "sync_pool"]

PAGE_SIZE = 20  # the alliance's most per page (search) and per call (details)
MAX_PAGES = 500  # 10,000 products: a bound on a platform that never says it is done


class SyncError(Exception):
    """The platform could not be read (unreachable, refused, or answered nonsense). ``str()`` is one line."""


class PoolSource(ABC):
    """One platform's alliance: pages of search results and details by id, in the alliance's fields."""

    platform: ClassVar[str]

    @abstractmethod
    def search_pages(self) -> Iterator[list[Mapping[str, Any]]]:
        """Every page of the unfiltered search, in order."""

    @abstractmethod
    def details(self, product_ids: list[str]) -> list[Mapping[str, Any]]:
        """Details of up to :data:`PAGE_SIZE` products."""

    def media_origins(self) -> tuple[str, ...]:
        """Origins (``scheme://host[:port]``) whose media is fetched even from a non-public address: the
        platform's own, as the operator configured it. Media anywhere else must be on a public address unless
        ``MCN_FETCH_ALLOW_PRIVATE`` is set."""
        return ()

    def close(self) -> None:  # noqa: B027 (optional hook: a source without connections has nothing to close)
        """Release connections."""


class SandboxPoolSource(PoolSource):
    """The sandbox platform's ``/api/v1/buyin`` routes (:mod:`sandbox.alliance`)."""

    platform = "sandbox"

    def __init__(self, base_url: str, timeout: float = 30.0, attempts: int = 3) -> None:
        self.base_url = base_url.rstrip("/")
        self.attempts = attempts
        self.client = httpx.Client(base_url=self.base_url, timeout=timeout)

    def _post(self, path: str, body: dict[str, Any], what: str) -> dict[str, Any]:
        for attempt in range(1, self.attempts + 1):
            try:
                response = self.client.post(path, json=body)
            except httpx.HTTPError as exc:
                if attempt == self.attempts:
                    raise SyncError(
                        f"{self.base_url}: {what}: cannot reach the platform ({type(exc).__name__})"
                    ) from None
                time.sleep(0.5 * attempt)
                continue
            if response.status_code in (429, 502, 503, 504) and attempt < self.attempts:
                time.sleep(0.5 * attempt)  # a busy or faulty gateway: try again
                continue
            try:
                data = response.json()
            except ValueError:
                data = None
            if response.status_code != 200 or not isinstance(data, dict):
                detail = f"{data.get('error')}: {data.get('message')}" if isinstance(data, dict) else "not JSON"
                raise SyncError(f"{self.base_url}: {what}: HTTP {response.status_code} ({detail})")
            return data
        raise AssertionError("unreachable")

    def search_pages(self) -> Iterator[list[Mapping[str, Any]]]:
        seen = 0
        for page in range(1, MAX_PAGES + 1):
            data = self._post(
                "/api/v1/buyin/kolMaterialsProductsSearch",
                {"page": page, "page_size": PAGE_SIZE},
                f"search page {page}",
            )
            items = data.get("products")
            if not isinstance(items, list):
                raise SyncError(f"{self.base_url}: search page {page}: no products list in the answer")
            seen += len(items)
            if items:
                yield items
            if not items or seen >= int(data.get("total", 0)):
                return
        raise SyncError(f"{self.base_url}: more than {MAX_PAGES} search pages; stopped")

    def details(self, product_ids: list[str]) -> list[Mapping[str, Any]]:
        data = self._post(
            "/api/v1/buyin/kolMaterialsProductsDetails",
            {"product_ids": product_ids, "with_share_status": True},
            f"details of {len(product_ids)} products",
        )
        items = data.get("products")
        if not isinstance(items, list):
            raise SyncError(f"{self.base_url}: details: no products list in the answer")
        return items

    def media_origins(self) -> tuple[str, ...]:
        return (self.base_url,)  # the sandbox serves its product media itself (/cdn/alliance/...)

    def close(self) -> None:
        self.client.close()


#: Pool sources by platform name: ``factory(base_url)``.
SOURCES: dict[str, Callable[[str], PoolSource]] = {"sandbox": SandboxPoolSource}


@dataclass(frozen=True, slots=True)
class SyncResult:
    """What a sync did: the upsert, pages read, media fetched, and one line per problem."""

    platform: str
    pages: int
    stored: UpsertResult
    media_downloaded: int
    media_cached: int
    problems: tuple[str, ...]
    stale: tuple[str, ...]  # products from this platform in the pool that it no longer lists


def sync_pool(
    source: PoolSource,
    media_dir: Path | None,
    *,
    workers: int = 4,
    fetch: FetchOptions | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> SyncResult:
    """Pull ``source``'s whole pool into the database; download media into ``media_dir/<product id>/`` unless
    ``media_dir`` is ``None``. ``on_progress(stage, done, total)`` is told how far each stage has got.

    Media is fetched with ``fetch`` (default :data:`remix.products.MATERIAL_FETCH`: public addresses only) plus
    the source's own :meth:`~PoolSource.media_origins`; a URL refused or failed is one problem line.

    Raises:
        SyncError: the platform could not be read; nothing is stored then.
    """
    problems: list[str] = []
    listed: list[Mapping[str, Any]] = []
    pages = 0
    for page in source.search_pages():
        pages += 1
        listed.extend(page)
        if on_progress:
            on_progress("search", len(listed), len(listed))
    ids = list(dict.fromkeys(str(item.get("product_id", "")).strip() for item in listed))
    by_id = {str(item.get("product_id", "")).strip(): item for item in listed}
    merged: list[Mapping[str, Any]] = []
    for start in range(0, len(ids), PAGE_SIZE):
        batch = [i for i in ids[start : start + PAGE_SIZE] if i]
        for item in source.details(batch) if batch else []:
            pid = str(item.get("product_id", "")).strip()
            merged.append({**by_id.get(pid, {}), **item})
        if on_progress:
            on_progress("details", min(start + PAGE_SIZE, len(ids)), len(ids))
    found = {str(m.get("product_id", "")).strip() for m in merged}
    merged += [item for pid, item in by_id.items() if pid not in found]  # listed but without details: keep search

    products: list[PoolProduct] = []
    for item in merged:
        try:
            products.append(pool_product_from_row(item, base=None))
        except RowProblems as exc:
            problems.append(f"{source.platform} product {str(item.get('product_id', '?'))[:64]}: {exc}")
    stored = upsert_pool(products, source=source.platform)
    stale = tuple(sorted(_stale(source.platform, {p.product_id for p in products})))

    downloaded = cached = 0
    if media_dir is not None:
        options = fetch or MATERIAL_FETCH
        options = replace(options, allow_origins=(*options.allow_origins, *source.media_origins()))
        downloaded, cached, failed = _download_media(products, media_dir, workers, options, on_progress)
        problems.extend(failed)
    return SyncResult(source.platform, pages, stored, downloaded, cached, tuple(problems), stale)


def _stale(platform: str, seen: set[str]) -> set[str]:
    from sqlmodel import select

    from mcn.db import session
    from mcn.tables import PoolProductRecord

    with session() as s:
        rows = s.exec(select(PoolProductRecord.product_id).where(PoolProductRecord.source == platform)).all()
    return {pid for pid in rows if pid not in seen}


def _download_media(
    products: list[PoolProduct],
    media_dir: Path,
    workers: int,
    options: FetchOptions,
    on_progress: Callable[[str, int, int], None] | None,
) -> tuple[int, int, list[str]]:
    known = pool_media()
    jobs: list[tuple[str, str, MediaKind]] = []
    cached = 0
    for product in products:
        kinds: dict[str, MediaKind] = {
            url: "image" for url in (*product.imgs, *([product.cover] if product.cover else []))
        }
        kinds.update({url: "video" for url in product.videos if url not in kinds})
        for url, kind in kinds.items():
            path = known.get(product.product_id, {}).get(url)
            if path and Path(path).is_file() and Path(path).stat().st_size:
                cached += 1
            else:
                jobs.append((product.product_id, url, kind))
    results: dict[str, dict[str, str]] = {}
    failed: list[str] = []

    def fetch(job: tuple[str, str, MediaKind]) -> tuple[str, str, str | None, str | None]:
        product_id, url, kind = job
        try:
            return product_id, url, fetch_material(url, media_dir / product_id, kind, options), None
        except DownloadError as exc:
            return product_id, url, None, str(exc)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for done, (product_id, url, path, error) in enumerate(pool.map(fetch, jobs), start=1):
            if path is not None:
                results.setdefault(product_id, {})[url] = path
            else:
                failed.append(f"product {product_id}: {error}")
            if on_progress:
                on_progress("media", done, len(jobs))
    set_local_media(results)
    return sum(len(v) for v in results.values()), cached, failed
