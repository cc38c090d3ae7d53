"""Recording what the clip factory does: sources, runs, failures, transcripts, products and clips.

Each function opens its own short transaction, so a failure in one step never rolls back what earlier steps
recorded, and a failed run always ends with its reason stored. URLs are stored redacted (no credentials, no token
values; :mod:`clipper.urls`), whatever the caller passes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel import select

from clipper.types import MediaInfo, Product, RenderedClip
from clipper.urls import redact_text, redact_url
from mcn.db import session
from mcn.runs import this_process
from mcn.tables import (
    ClipRecord,
    ProductRecord,
    RunFailure,
    RunRecord,
    SourceRecord,
    TranscriptRecord,
    utcnow,
)
from publisher.footage import Footage, MaterialFootage


@dataclass(frozen=True, slots=True)
class RemixRow:
    """A rendered remix as :func:`record_remixes` stores it (the flow builds these from ``remix.render`` results).

    ``materials`` are ids unique across products (``<product id>/<file name>``); ``score`` orders the plan's
    candidates like a clip's score.
    """

    product_id: str
    product_name: str
    variant: int
    path: str
    duration: float
    hook: str
    title: str
    lines: tuple[str, ...]
    materials: tuple[str, ...]
    category: str = ""
    price: float | None = None
    score: float = 0.5


def start_run(kind: str, source_uri: str, params: dict[str, Any], flow_run_id: str | None = None) -> tuple[str, str]:
    """Create a source row (or reuse the one for this URI) and a running run owned by this process; return
    ``(run_id, source_id)``."""
    source_uri = redact_url(source_uri)
    params = {k: redact_text(v) if isinstance(v, str) else v for k, v in params.items()}
    with session() as db:
        source = db.exec(select(SourceRecord).where(SourceRecord.uri == source_uri)).first()
        if source is None:
            source = SourceRecord(uri=source_uri)
        source.status = "processing"
        source.error = None
        source.updated_at = utcnow()
        db.add(source)
        db.flush()
        owner = this_process()  # so a run whose process is killed outright is swept later (mcn.runs)
        run = RunRecord(
            kind=kind,
            source_id=source.id,
            params=params,
            flow_run_id=flow_run_id,
            owner_host=owner.host,
            owner_pid=owner.pid,
            owner_start=owner.start,
        )
        db.add(run)
        db.commit()
        return run.id, source.id


def record_probe(source_id: str, local_path: str, info: MediaInfo) -> None:
    with session() as db:
        source = db.get(SourceRecord, source_id)
        if source is None:
            return
        source.local_path = local_path
        source.size_bytes = info.size_bytes
        source.duration = info.duration
        source.width = info.display_width
        source.height = info.display_height
        source.updated_at = utcnow()
        db.add(source)
        db.commit()


def record_transcript(source_id: str, language: str, origin: str, path: str, sentences: int, words: int) -> None:
    with session() as db:
        db.add(
            TranscriptRecord(
                source_id=source_id,
                language=language,
                origin=origin,
                path=path,
                sentence_count=sentences,
                word_count=words,
            )
        )
        db.commit()


def upsert_products(products: Sequence[Product]) -> None:
    with session() as db:
        for p in products:
            row = db.get(ProductRecord, p.id) or ProductRecord(id=p.id, name=p.name)
            row.name, row.aliases, row.price = p.name, list(p.aliases), p.price
            row.commission_rate, row.link, row.updated_at = p.commission_rate, p.link, utcnow()
            db.add(row)
        db.commit()


def record_clips(run_id: str, source_id: str, clips: Sequence[RenderedClip]) -> None:
    with session() as db:
        for rank, c in enumerate(clips, start=1):
            db.add(
                ClipRecord(
                    id=f"{run_id[:12]}-{c.plan.id}",
                    run_id=run_id,
                    source_id=source_id,
                    product_id=c.plan.product_id,
                    rank=rank,
                    source_start=c.plan.source_start,
                    source_end=c.plan.source_end,
                    duration=c.duration,
                    score=c.plan.score,
                    hook=c.plan.hook,
                    title=c.plan.title,
                    reason=c.plan.reason,
                    points=list(c.plan.points),
                    sentences=list(c.plan.sentences),
                    path=c.path,
                    # The footage the video shows, for the plan's near-duplicate guard (publisher.footage).
                    footage=Footage(source_id, ((c.plan.source_start, c.plan.source_end),)).to_json(),
                )
            )
        db.commit()


def record_remixes(run_id: str, source_id: str, remixes: Sequence[RemixRow]) -> None:
    """Record rendered product remixes as plannable clips rows (``kind = remix``).

    Each row carries the remix's product, hook, title and file, and its footage as
    :class:`~publisher.footage.MaterialFootage` of the product's material ids (``<product id>/<material>``), so
    the plan's same-day overlap guard compares remixes by what they show. A product missing from the products
    table is added (name, price, its category as niche) so the plan can match it to accounts; an existing one is
    left as it is (its link and niches are the operator's).
    """
    with session() as db:
        for rank, r in enumerate(remixes, start=1):
            if db.get(ProductRecord, r.product_id) is None:
                niches = [r.category] if r.category else []
                db.add(ProductRecord(id=r.product_id, name=r.product_name, price=r.price, niches=niches))
                db.flush()
            db.add(
                ClipRecord(
                    id=f"{run_id[:12]}-{r.product_id}-v{r.variant}"[:120],
                    run_id=run_id,
                    source_id=source_id,
                    product_id=r.product_id,
                    rank=rank,
                    source_start=0.0,
                    source_end=r.duration,
                    duration=r.duration,
                    score=r.score,
                    hook=r.hook,
                    title=r.title,
                    reason=f"product remix, variant {r.variant}",
                    points=list(r.lines),
                    sentences=[],
                    path=r.path,
                    footage=MaterialFootage(tuple(r.materials)).to_json(),
                    kind="remix",
                )
            )
        db.commit()


def finish_run(run_id: str, stats: dict[str, Any]) -> None:
    with session() as db:
        run = db.get(RunRecord, run_id)
        if run is None:
            return
        run.status, run.stats, run.finished_at = "succeeded", stats, utcnow()
        db.add(run)
        if run.source_id and (source := db.get(SourceRecord, run.source_id)) is not None:
            source.status, source.error, source.updated_at = "done", None, utcnow()
            db.add(source)
        db.commit()


def record_failure(run_id: str, step: str, subject: str, message: str) -> None:
    """Log a failure of one item of a batch run (one product of a remix run) without failing the run. URLs in
    ``subject`` and ``message`` are stored redacted (a product's material URL may carry a token)."""
    subject, message = redact_text(subject), redact_text(message)
    with session() as db:
        db.add(RunFailure(run_id=run_id, step=step, subject=subject, message=message))
        db.commit()


def fail_run(run_id: str, step: str, subject: str, message: str) -> None:
    """Mark the run and its source failed with a one-line reason, and log the failure row."""
    subject, message = redact_text(subject), redact_text(message)
    with session() as db:
        run = db.get(RunRecord, run_id)
        if run is None:
            return
        db.add(RunFailure(run_id=run_id, step=step, subject=subject, message=message))
        run.status, run.error, run.finished_at = "failed", message, utcnow()
        db.add(run)
        if run.source_id and (source := db.get(SourceRecord, run.source_id)) is not None:
            source.status, source.error, source.updated_at = "failed", message, utcnow()
            db.add(source)
        db.commit()


def run_summary(run_id: str) -> RunRecord | None:
    with session() as db:
        return db.get(RunRecord, run_id)


def failures(run_id: str) -> list[RunFailure]:
    with session() as db:
        return list(db.exec(select(RunFailure).where(RunFailure.run_id == run_id)))


@dataclass(frozen=True, slots=True)
class EditRow:
    """A rendered edit of a recording (several selling-point ranges joined) as :func:`record_edits` stores it.

    ``ranges`` are source seconds in playing order; ``variant`` names a presentation variant (``""`` for an edit
    rendered once). Variants of one edit share its footage, so the plan's overlap guard never puts two of them
    on one platform on one day.
    """

    edit_id: str
    product_id: str | None
    ranges: tuple[tuple[float, float], ...]
    path: str
    duration: float
    hook: str
    title: str
    points: tuple[str, ...]
    sentences: tuple[int, ...]
    variant: str = ""
    score: float = 0.5


def record_edits(run_id: str, source_id: str, edits: Sequence[EditRow]) -> None:
    """Record rendered edits as plannable clips rows (``kind = edit``) with their footage: the recording's
    ``source_id`` and every range they show (:class:`~publisher.footage.Footage`), so the plan's same-day guard
    compares them with each other and with the recording's clips."""
    with session() as db:
        for rank, e in enumerate(edits, start=1):
            suffix = f"-{e.variant}" if e.variant else ""
            reason = f"edit of {len(e.ranges)} selling segments" + (f", variant {e.variant}" if e.variant else "")
            db.add(
                ClipRecord(
                    id=f"{run_id[:12]}-{e.edit_id}{suffix}"[:120],
                    run_id=run_id,
                    source_id=source_id,
                    product_id=e.product_id,
                    rank=rank,
                    source_start=min(s for s, _ in e.ranges),
                    source_end=max(t for _, t in e.ranges),
                    duration=e.duration,
                    score=e.score,
                    hook=e.hook,
                    title=e.title,
                    reason=reason,
                    points=list(e.points),
                    sentences=list(e.sentences),
                    path=e.path,
                    footage=Footage(source_id, e.ranges).to_json(),
                    kind="edit",
                )
            )
        db.commit()
