"""SQLModel tables for what the clip factory stores: sources, transcripts, products, clips, runs and failures.

Times are timezone-aware UTC (SQLModel 0.0.50 rejects naive datetimes). JSON columns hold small lists only;
the full transcript lives in ``transcript.json`` beside the renders and the table points at it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


class SourceRecord(SQLModel, table=True):
    """A recording submitted for clipping: a local file or a URL (downloaded into the data dir)."""

    __tablename__ = "sources"

    id: str = Field(default_factory=new_id, primary_key=True)
    uri: str = Field(index=True, description="What the user passed: a path or an http(s) URL.")
    local_path: str | None = None
    size_bytes: int | None = None
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    status: str = Field(default="pending", index=True, description="pending, processing, done or failed.")
    error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class TranscriptRecord(SQLModel, table=True):
    """Where a source's transcript is stored and what it holds."""

    __tablename__ = "transcripts"

    id: str = Field(default_factory=new_id, primary_key=True)
    source_id: str = Field(foreign_key="sources.id", index=True)
    language: str
    origin: str = Field(description="asr, srt or vtt.")
    path: str
    sentence_count: int
    word_count: int
    created_at: datetime = Field(default_factory=utcnow)


class ProductRecord(SQLModel, table=True):
    """A product from a brand's list or the affiliate alliance, keyed by its external id."""

    __tablename__ = "products"

    id: str = Field(primary_key=True)
    name: str
    aliases: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    price: float | None = None
    commission_rate: float | None = None
    link: str | None = None
    updated_at: datetime = Field(default_factory=utcnow)


class RunRecord(SQLModel, table=True):
    """One execution of a job (e.g. making clips from one source), with its outcome."""

    __tablename__ = "runs"

    id: str = Field(default_factory=new_id, primary_key=True)
    kind: str = Field(index=True)
    source_id: str | None = Field(default=None, foreign_key="sources.id", index=True)
    status: str = Field(default="running", index=True, description="running, succeeded or failed.")
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    stats: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    error: str | None = None
    flow_run_id: str | None = None
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


class RunFailure(SQLModel, table=True):
    """A failure inside a run: which step, on what, and the one-line reason."""

    __tablename__ = "run_failures"

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(foreign_key="runs.id", index=True)
    step: str
    subject: str
    message: str
    created_at: datetime = Field(default_factory=utcnow)


class ClipRecord(SQLModel, table=True):
    """A rendered clip, as listed in ``clips.json``."""

    __tablename__ = "clips"
    __table_args__ = (Index("ix_clips_source_score", "source_id", "score"),)

    id: str = Field(primary_key=True)
    run_id: str = Field(foreign_key="runs.id", index=True)
    source_id: str = Field(foreign_key="sources.id")
    product_id: str | None = Field(default=None, index=True)
    rank: int
    source_start: float
    source_end: float
    duration: float
    score: float
    hook: str
    title: str
    reason: str
    points: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    sentences: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    path: str
    created_at: datetime = Field(default_factory=utcnow)
