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
