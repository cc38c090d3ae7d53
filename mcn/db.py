"""Engine creation and schema migrations.

SQLite (the default, in the data dir) runs in WAL mode with a busy timeout so the CLI, the Prefect flow's
threads and a dashboard can share it; Postgres (``MCN_DATABASE_URL``) is for many workers. The schema is owned
by Alembic: :func:`upgrade` runs on start, so a user never has to remember ``mcn db upgrade``.
"""

from __future__ import annotations

import contextlib
import os
import stat
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

from mcn.settings import get_settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_PG_MIGRATION_LOCK = 0x6D636E  # "mcn": one migrator at a time across processes
_live_engines: list[Engine] = []


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs (SQLAlchemy would otherwise look for psycopg2)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str) -> Engine:
    """Create an engine for ``url`` with the per-connection settings mcn relies on."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:":
            private_sqlite_file(Path(database))
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def private_dir(path: Path) -> None:
    """Make ``path`` owner-only: created 0700 when missing; an existing one of ours that group or others can
    enter is tightened to 0700 (the data dir holds the database, the vault's key and downloaded sources)."""
    if not path.exists():
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    _tighten(path, 0o700)


def private_sqlite_file(database: Path) -> None:
    """Create an SQLite database file 0600 in a 0700 folder before SQLite does (it would use 0644), and tighten
    the file and its WAL/shared-memory companions when they already exist (SQLite gives those the file's mode)."""
    if not database.parent.exists():
        database.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(FileExistsError):  # an empty file is an empty database to SQLite
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for path in (database, database.with_name(database.name + "-wal"), database.with_name(database.name + "-shm")):
        _tighten(path, 0o600)


def _tighten(path: Path, mode: int) -> None:
    """Drop group/other permissions from ``path`` if it exists and belongs to this user (someone else's folder,
    say a shared parent, is left alone)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, mode)


@lru_cache(maxsize=4)
def _engine_for(url: str) -> Engine:
    # On start, whatever the database: an existing data dir made before this rule (0755) is tightened.
    data_dir = get_settings().resolved_data_dir
    if data_dir.exists():
        private_dir(data_dir)
    engine = make_engine(url)
    upgrade(engine)
    _live_engines.append(engine)
    return engine


def get_engine() -> Engine:
    """The process-wide engine for the configured database, migrated to the latest schema."""
    return _engine_for(get_settings().sqlalchemy_url)


def session() -> Session:
    """A new session on :func:`get_engine`; use as a context manager."""
    return Session(get_engine(), expire_on_commit=False)


def alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``. On Postgres an advisory lock keeps concurrent starters in line."""
    from alembic import command

    cfg = alembic_config(engine)
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def dispose_engines() -> None:
    """Close every cached engine's connections (tests dropping a database, forked workers)."""
    for engine in list(_live_engines):
        engine.dispose()
    _live_engines.clear()
    _engine_for.cache_clear()
