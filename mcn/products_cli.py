"""``mcn products``: the affiliate product pool (精选联盟-style): import a file, sync a platform, list the ranking."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mcn.terminal import console, fail, out

products_app = typer.Typer(help="The affiliate product pool (精选联盟): import, sync, ranking.", no_args_is_help=True)


@products_app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="CSV or JSON in the alliance's fields (see alliance.product).")],
) -> None:
    """Add or update pool products from FILE: prices in fen, commission ratios x100 of the percentage (20% is
    2000), as the alliance gives them. Bad rows are reported by line (CSV) or index (JSON) and skipped, the good
    rows are kept; the exit code is then 1. Importing the same file again changes nothing."""
    from alliance.importer import read_pool_file
    from alliance.store import upsert_pool
    from clipper.errors import InputFileError

    try:
        loaded = read_pool_file(file)
    except InputFileError as exc:  # missing, unreadable, wrong header: nothing imported, a usage error
        raise fail(str(exc), 2) from None
    for problem in loaded.problems:
        console.print(f"[red]error:[/red] {problem}", highlight=False, soft_wrap=True)
    result = upsert_pool(loaded.products, source=f"import:{file.name}") if loaded.products else None
    added, updated, same = (len(result.added), len(result.updated), len(result.unchanged)) if result else (0, 0, 0)
    out.print(
        f"imported {added + updated + same} of {loaded.rows} products from {file} "
        f"({added} new, {updated} updated, {same} unchanged, {len(loaded.problems)} bad rows skipped)",
        highlight=False,
        soft_wrap=True,
    )
    if loaded.problems:
        raise typer.Exit(1)


@products_app.command("sync")
def sync_command(
    platform: Annotated[str, typer.Option(help="Whose alliance pool to pull (sandbox).")] = "sandbox",
    url: Annotated[str | None, typer.Option(help="The platform's base URL (default MCN_SANDBOX_URL).")] = None,
    media: Annotated[bool, typer.Option("--media/--no-media", help="Download images and videos.")] = True,
) -> None:
    """Pull the platform's whole pool (every search page, then details) into the database and download each
    product's images and videos into <data dir>/pool/media. Products the platform sends with bad fields are
    reported and skipped (exit 1); the rest are stored."""
    from rich.progress import BarColumn, Progress, TaskID, TextColumn

    from alliance.sync import SOURCES, SyncError, sync_pool
    from clipper.urls import redact_url
    from mcn.settings import get_settings
    from remix.products import material_fetch_options

    factory = SOURCES.get(platform)
    if factory is None:
        raise fail(f"--platform {platform!r} has no pool source (known: {', '.join(sorted(SOURCES))})", 2)
    settings = get_settings()
    base = url or settings.sandbox_url
    media_dir = settings.resolved_data_dir / "pool" / "media" if media else None
    source = factory(base)
    try:
        with Progress(
            TextColumn("{task.description:<8}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            console=console,
            transient=True,
        ) as bar:
            tasks: dict[str, TaskID] = {}

            def show(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(stage, total=total)
                bar.update(tasks[stage], completed=done, total=total)

            fetch = material_fetch_options(
                max_bytes=settings.max_download_bytes,
                deadline_seconds=settings.download_deadline_seconds,
                allow_private=settings.fetch_allow_private,
            )
            result = sync_pool(source, media_dir, fetch=fetch, on_progress=show)
    except SyncError as exc:
        raise fail(redact_url(str(exc))) from None
    finally:
        source.close()
    for problem in result.problems:
        console.print(f"[red]error:[/red] {problem}", highlight=False, soft_wrap=True)
    stored = result.stored
    out.print(
        f"synced {stored.stored} products from {platform} ({result.pages} pages): {len(stored.added)} new, "
        f"{len(stored.updated)} updated, {len(stored.unchanged)} unchanged"
        + (
            f"; media: {result.media_downloaded} downloaded, {result.media_cached} already here, in {media_dir}"
            if media_dir
            else ""
        )
        + (f"; {len(result.stale)} pool products no longer listed" if result.stale else ""),
        highlight=False,
        soft_wrap=True,
    )
    if result.problems:
        raise typer.Exit(1)


@products_app.command("list")
def list_command(
    top: Annotated[int, typer.Option(min=1, max=10_000, help="How many ranked products to show.")] = 20,
    ban: Annotated[list[str] | None, typer.Option(help="Also exclude this category id or name (repeatable).")] = None,
    min_shop_score: Annotated[
        float | None,
        typer.Option(min=0, max=5, help="Exclude shops under this score (default MCN_POOL_MIN_SHOP_SCORE)."),
    ] = None,
    prior: Annotated[str, typer.Option(help="Conversion prior (category-eb).")] = "category-eb",
    excluded: Annotated[bool, typer.Option("--excluded/--no-excluded", help="List the excluded products too.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """The pool ranked by expected commission per post (kol_cos_fee x conversion shrunk toward the category,
    weighed by shop and comment scores), each with its reasons; then the excluded products and why."""
    import json

    from rich.table import Table

    from alliance.ranking import RankOptions, make_prior, rank
    from alliance.store import load_pool
    from mcn.settings import get_settings

    settings = get_settings()
    try:
        chosen = make_prior(prior)
    except KeyError as exc:
        raise fail(str(exc.args[0]), 2) from None
    banned = {b.strip() for b in settings.pool_banned_categories.split(",") if b.strip()} | {
        b.strip() for b in ban or () if b.strip()
    }
    options = RankOptions(
        views_per_post=settings.pool_views_per_post,
        min_shop_score=settings.pool_min_shop_score if min_shop_score is None else min_shop_score,
        banned_categories=frozenset(banned),
    )
    pool = load_pool()
    if not pool:
        raise fail("the product pool is empty: run `mcn products import FILE` or `mcn products sync` first")
    ranking = rank(pool, options, chosen)
    shown = ranking.top(top)
    if as_json:
        rows = [
            {
                "rank": r.rank,
                "product_id": r.product.product_id,
                "title": r.product.title,
                "score_yuan": round(r.score / 100, 4),
                "per_post_yuan": round(r.per_post / 100, 4),
                "conversion": r.conversion.rate,
                "conversion_raw": r.conversion.raw,
                "conversion_prior": r.conversion.prior_mean,
                "prior_group": r.conversion.group,
                "prior_strength": r.conversion.strength,
                "shop_weight": r.shop_weight,
                "comment_weight": r.comment_weight,
                "reasons": list(r.reasons),
                "excluded": list(r.excluded),
            }
            for r in (*shown, *(ranking.excluded if excluded else ()))
        ]
        out.print_json(json.dumps({"prior": ranking.prior, "products": rows}, ensure_ascii=False))
        return
    table = Table(title=f"product pool: top {len(shown)} of {len(ranking.ranked)} by expected commission per post")
    for column in ("#", "product", "title", "price", "commission", "conversion", "¥/post", "why"):
        table.add_column(column, overflow="fold")
    for r in shown:
        p = r.product
        table.add_row(
            str(r.rank),
            p.product_id,
            p.title[:40],
            f"¥{p.pay_price / 100:,.2f}",
            f"¥{p.kol_cos_fee / 100:,.2f} ({p.kol_cos_percent:.1f}%)",
            f"{r.conversion.rate:.2%}",
            f"¥{r.score / 100:,.2f}",
            "; ".join(r.reasons[1:]),
        )
    out.print(table)
    if excluded and ranking.excluded:
        out.print(f"excluded ({len(ranking.excluded)}):", highlight=False)
        for r in ranking.excluded:
            out.print(f"  {r.product.product_id} {r.product.title[:40]}: {'; '.join(r.excluded)}", highlight=False)


_NICHE_SPLIT = "|;"
_MAX_NICHES = 20
_MAX_NICHE_CHARS = 50


def parse_niches(text: str) -> tuple[str, ...]:
    """Niche tags from ``beauty|skincare`` (``|`` or ``;``), trimmed, duplicates dropped (case-insensitively, as
    the plan compares them); ValueError names a tag that is too long or holds control characters."""
    for separator in _NICHE_SPLIT[1:]:
        text = text.replace(separator, _NICHE_SPLIT[0])
    niches: dict[str, str] = {}
    for tag in (part.strip() for part in text.split(_NICHE_SPLIT[0])):
        if not tag:
            continue
        if len(tag) > _MAX_NICHE_CHARS or any(ord(ch) < 32 for ch in tag):
            raise ValueError(f"niche {tag[:20]!r}: at most {_MAX_NICHE_CHARS} printable characters")
        niches.setdefault(tag.lower(), tag)
    if len(niches) > _MAX_NICHES:
        raise ValueError(f"at most {_MAX_NICHES} niches per product (got {len(niches)})")
    return tuple(niches.values())


def read_niche_csv(path: Path) -> dict[str, tuple[str, ...]]:
    """``product id -> niches`` from a CSV whose header is ``id,niches``; ValueError names the first bad line."""
    import csv
    import io

    try:
        text = path.read_text(encoding="utf-8-sig")
    except (FileNotFoundError, IsADirectoryError):
        raise ValueError(f"{path}: file not found") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text; save it as 'CSV UTF-8'") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = tuple(cell.strip().lower() for cell in next(reader, []))
    if header != ("id", "niches"):
        raise ValueError(f"{path}: the header must be exactly id,niches")
    wanted: dict[str, tuple[str, ...]] = {}
    for record in reader:
        if not any(cell.strip() for cell in record):
            continue
        line = reader.line_num
        if len(record) != 2 or not record[0].strip():
            raise ValueError(f"{path}: line {line}: expected a product id and its niches")
        try:
            wanted[record[0].strip()] = parse_niches(record[1])
        except ValueError as exc:
            raise ValueError(f"{path}: line {line}: {exc}") from None
    if not wanted:
        raise ValueError(f"{path}: no rows below the header")
    return wanted


def set_product_niches(wanted: dict[str, tuple[str, ...]]) -> list[str]:
    """Replace the niches of the products in ``wanted`` (all or none); returns the ids that do not exist (then
    nothing was changed). The posting plan matches these niches against the accounts' niches."""
    from sqlalchemy import select, update

    from mcn.db import get_engine
    from mcn.tables import ProductRecord, utcnow

    table = ProductRecord.__table__  # type: ignore[attr-defined]
    with get_engine().begin() as conn:
        known = set(conn.execute(select(table.c.id).where(table.c.id.in_(list(wanted)))).scalars())
        unknown = [product_id for product_id in wanted if product_id not in known]
        if unknown:
            return unknown
        for product_id, niches in wanted.items():
            conn.execute(update(table).where(table.c.id == product_id).values(niches=list(niches), updated_at=utcnow()))
    return []


@products_app.command("niche")
def niche_command(
    product_ids: Annotated[
        list[str] | None, typer.Argument(help="Product ids (from clips make --products, remixes or the pool).")
    ] = None,
    niche: Annotated[
        list[str] | None, typer.Option("--set", help="Niche tag (repeatable, or beauty|skincare): replaces them.")
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the products' niches (they match every account).")] = (
        False
    ),
    file: Annotated[Path | None, typer.Option("--file", help="CSV with the header id,niches (niches a|b).")] = None,
) -> None:
    """Give products niches so the posting plan pairs them with accounts of the same niche (beauty products on
    beauty accounts); without arguments, list the products and their niches. Unknown ids change nothing (exit 2)."""
    if file is not None:
        if product_ids or niche or clear:
            raise fail("give --file alone, or product ids with --set/--clear", 2)
        try:
            wanted = read_niche_csv(file)
        except ValueError as exc:
            raise fail(str(exc), 2) from None
    elif product_ids:
        if bool(niche) == clear:
            raise fail("give --set NICHE (repeatable) or --clear", 2)
        try:
            tags = () if clear else parse_niches("|".join(niche or ()))
        except ValueError as exc:
            raise fail(str(exc), 2) from None
        wanted = dict.fromkeys(product_ids, tags)
    else:
        _print_niches()
        return
    unknown = set_product_niches(wanted)
    if unknown:
        shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise fail(f"no product with id {shown}; nothing changed (mcn products niche lists them)", 2)
    for product_id, tags in wanted.items():
        out.print(f"{product_id}: {', '.join(tags) or '(no niche: matches every account)'}", highlight=False)


def _print_niches() -> None:
    from rich.table import Table
    from sqlalchemy import select

    from mcn.db import get_engine
    from mcn.tables import ProductRecord

    products = ProductRecord.__table__  # type: ignore[attr-defined]
    with get_engine().connect() as conn:
        rows = conn.execute(select(products.c.id, products.c.name, products.c.niches).order_by(products.c.id)).all()
    if not rows:
        out.print("no products yet: mcn clips make --products FILE, mcn remix make or mcn products sync add them")
        return
    table = Table(title=f"{len(rows)} products")
    for column in ("id", "name", "niches"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row.id, row.name, ", ".join(row.niches or ()) or "-")
    out.print(table)
