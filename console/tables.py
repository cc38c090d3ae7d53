"""The console's rows (migrations ``0010``, ``0012``): users, brand projects, uploaded recordings and clip reviews."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column
from sqlmodel import Field, SQLModel

from mcn.tables import new_id, utcnow

ROLES = ("brand", "operator")
VERDICTS = ("approved", "rejected")
# receiving: chunks still arriving; stored: probed and kept; rejected: not media (or too big), the file removed;
# submitted: handed to the clip factory (the run row says how it went).
UPLOAD_STATES = ("receiving", "stored", "rejected", "submitted")


class ConsoleUser(SQLModel, table=True):
    """Someone who logs in: a brand (sees its own projects) or the operator (sees everything)."""

    __tablename__ = "console_users"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    role: str = Field(description="brand or operator.")
    brand: str | None = Field(default=None, description="The brand a brand user acts for.")
    password_hash: str = Field(description="scrypt$n$r$p$salt$hash; never the password.")
    created_at: datetime = Field(default_factory=utcnow)


class ConsoleProject(SQLModel, table=True):
    """A brand's project: recordings handed in together (a launch, a week of streams)."""

    __tablename__ = "console_projects"

    id: str = Field(default_factory=new_id, primary_key=True)
    brand: str = Field(index=True)
    name: str
    created_by: str
    created_at: datetime = Field(default_factory=utcnow)
    require_approval: bool = Field(
        default=True,
        sa_column_kwargs={"server_default": "1"},
        description="Its clips (and edits of its recordings) are planned only once approved (migration 0012).",
    )


class ConsoleUpload(SQLModel, table=True):
    """One recording of a project, received in chunks; ``path`` is also the run's source (``sources.uri``)."""

    __tablename__ = "console_uploads"

    id: str = Field(default_factory=new_id, primary_key=True)
    project_id: str = Field(foreign_key="console_projects.id", index=True)
    filename: str
    size: int = Field(sa_column=Column(BigInteger, nullable=False), description="Bytes the browser announced.")
    received: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    status: str = "receiving"
    error: str | None = None
    path: str
    products_path: str | None = None
    duration: float | None = None
    run_ref: str | None = Field(default=None, description="What the run submitter returned (a flow run id).")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ConsoleClipReview(SQLModel, table=True):
    """A brand's or the operator's verdict on a clip (the latest one counts)."""

    __tablename__ = "console_clip_reviews"

    clip_id: str = Field(foreign_key="clips.id", primary_key=True)
    verdict: str
    reviewer: str
    note: str = ""
    at: datetime = Field(default_factory=utcnow)
