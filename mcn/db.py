"""Engine creation and schema migrations.

SQLite (the default, in the data dir) runs in WAL mode with a busy timeout so the CLI, the Prefect flow's
threads and a dashboard can share it; Postgres (``MCN_DATABASE_URL``) is for many workers. The schema is owned
by Alembic: :func:`upgrade` runs on start, so a user never has to remember ``mcn db upgrade``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, NoSuchModuleError, OperationalError, SQLAlchemyError
from sqlmodel import Session, create_engine

from clipper.urls import redact_text, redact_url
from mcn.settings import get_settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_PG_MIGRATION_LOCK = 0x6D636E  # "mcn": one migrator at a time across processes
_live_engines: list[Engine] = []


_PG_CONNECT_TIMEOUT = 10  # seconds; an address that drops packets would otherwise hang for the OS's TCP timeout


class DatabaseUnavailable(Exception):
    """The configured database could not be opened when the engine started. ``str`` is one line for the operator:
    the database (password redacted), the driver's reason and what to check. The CLI prints it without a
    traceback."""


def shown_url(url: str) -> str:
    """``url`` safe to show: the password and secret-looking query parameters replaced by ``***``, by the one
    redaction every shown or stored URL gets (:func:`clipper.urls.redact_url`; the user name is kept)."""
    try:
        make_url(url)
    except ArgumentError:
        return "MCN_DATABASE_URL (not a valid URL)"
    return redact_url(url, keep_user=True)


def unavailable(url: str, exc: BaseException) -> DatabaseUnavailable:
    """The one-line :class:`DatabaseUnavailable` for a failure to open ``url``."""
    shown = shown_url(url)
    if isinstance(exc, (ArgumentError, NoSuchModuleError)):
        return DatabaseUnavailable(
            f"database {shown}: not a usable database URL (check MCN_DATABASE_URL: sqlite:///PATH or "
            "postgresql://USER:PASSWORD@HOST:PORT/DB)"
        )
    driver_error = getattr(exc, "orig", None) or exc
    reason = next((line.strip() for line in str(driver_error).splitlines() if line.strip()), type(exc).__name__)
    try:
        password = make_url(url).password
    except ArgumentError:
        password = None
    if password:
        reason = reason.replace(str(password), "***")  # drivers do not echo it, but never rely on that
    reason = redact_text(reason)
    if url.startswith("sqlite"):
        hint = "check MCN_DATA_DIR / MCN_DATABASE_URL and that the folder is writable"
    else:
        hint = "check MCN_DATABASE_URL, that the server is running and reachable, and the user and password"
    return DatabaseUnavailable(f"database {shown} cannot be opened: {reason} ({hint})")


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
    connect_args = {} if "connect_timeout" in make_url(url).query else {"connect_timeout": _PG_CONNECT_TIMEOUT}
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args)


def open_engine(url: str, revision: str = "head") -> Engine:
    """:func:`make_engine` migrated to ``revision``; a database that cannot be reached or opened raises
    :class:`DatabaseUnavailable` (one line, password redacted) instead of the driver's error."""
    try:
        engine = make_engine(url)
    except (ArgumentError, NoSuchModuleError, OSError) as exc:
        raise unavailable(url, exc) from None
    try:
        upgrade(engine, revision)
    except (OperationalError, InterfaceError) as exc:
        engine.dispose()
        raise unavailable(url, exc) from None
    return engine


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
    engine = open_engine(url)
    _live_engines.append(engine)
    _sweep(engine)
    return engine


def _sweep(engine: Engine) -> None:
    """Runs left ``running`` by a process of this host that was killed outright become failed (:mod:`mcn.runs`):
    one query when the process first opens the store. A sweep that fails is a warning, never the command's end."""
    from mcn.runs import sweep_dead_runs

    try:
        sweep_dead_runs(engine)
    except SQLAlchemyError as exc:
        logging.getLogger(__name__).warning("sweeping dead runs failed: %s", " ".join(str(exc).split())[:300])


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
