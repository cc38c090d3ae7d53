"""The schema migrates and the store records runs on SQLite (WAL) and on the real Postgres server."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from accounts.vault import Vault
from clipper.types import MediaInfo, PlannedClip, Product, RenderedClip
from mcn import store
from mcn.db import current_revision, dispose_engines, get_engine, make_engine, upgrade
from mcn.settings import get_settings
from mcn.tables import ClipRecord, RunFailure, RunRecord, SourceRecord
from tests.helpers import throwaway_postgres


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, data_dir: object, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh database per test: a file in the data dir, or a throwaway Postgres database."""
    if request.param == "sqlite":
        yield get_settings().sqlalchemy_url
        return
    with throwaway_postgres(monkeypatch) as url:
        yield url


def test_upgrade_is_idempotent_and_sqlite_uses_wal(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    upgrade(engine)
    assert current_revision(engine) == "0012"
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def _rendered(path: str) -> RenderedClip:
    plan = PlannedClip("clip-01", 1.0, 20.0, (1, 2, 3), "p1", ("waterproof",), "Stay dry", "Jacket", 0.9, "cues")
    return RenderedClip(plan, path, 1080, 1920, 19.0, 1234)


def test_store_records_success_and_failure(database_url: str) -> None:
    del database_url
    run_id, source_id = store.start_run("make_clips", "/videos/a.mp4", {"max_clips": 3})
    store.upsert_products([Product("p1", "Jacket", ("shell",), 79.0, 0.2, "https://x")])
    store.upsert_products([Product("p1", "Rain jacket", (), 69.0, 0.2, None)])
    info = MediaInfo("/videos/a.mp4", 100, 60.0, "mp4", True, True, 1920, 1080)
    store.record_probe(source_id, "/videos/a.mp4", info)
    store.record_clips(run_id, source_id, [_rendered("/out/clip-01.mp4")])
    store.finish_run(run_id, {"clips": 1})
    run2, source2 = store.start_run("make_clips", "/videos/b.mp4", {})
    store.fail_run(run2, "probe", "/videos/b.mp4", "/videos/b.mp4: file is empty (0 bytes)")
    with Session(get_engine()) as db:
        ok = db.get(RunRecord, run_id)
        assert ok is not None and ok.status == "succeeded" and ok.stats == {"clips": 1}
        clip = db.exec(select(ClipRecord)).one()
        assert clip.points == ["waterproof"] and clip.sentences == [1, 2, 3]
        assert clip.footage == {"source": source_id, "ranges": [[1.0, 20.0]]}
        bad = db.get(RunRecord, run2)
        assert bad is not None and bad.status == "failed" and "0 bytes" in (bad.error or "")
        src = db.get(SourceRecord, source2)
        assert src is not None and src.status == "failed"
        failure = db.exec(select(RunFailure)).one()
        assert failure.step == "probe"
        assert db.get(SourceRecord, source_id).duration == 60.0  # type: ignore[union-attr]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_sqlite_data_dir_is_owner_only_and_an_older_loose_one_is_tightened_on_start(data_dir: Path) -> None:
    old_umask = os.umask(0o022)  # the usual umask, which made 0755 folders and 0644 files
    try:
        engine = get_engine()
        store.upsert_products([Product("p1", "Jacket", (), 79.0, 0.2, None)])  # a write: the WAL file exists
        database = data_dir / "mcn.db"
        assert _mode(data_dir) == 0o700
        companions = [database, database.with_name("mcn.db-wal"), database.with_name("mcn.db-shm")]
        assert all(p.exists() for p in companions)
        assert {p.name: _mode(p) for p in companions} == {p.name: 0o600 for p in companions}
        Vault.from_settings()  # the vault's key file lives in the data dir too
        assert _mode(get_settings().resolved_secret_key_file) == 0o600
        engine.dispose()
        # a data dir made before this rule (or by a step that created sources/ first) is fixed on the next start
        dispose_engines()
        data_dir.chmod(0o755)
        database.chmod(0o644)
        get_engine()
        assert _mode(data_dir) == 0o700 and _mode(database) == 0o600
    finally:
        os.umask(old_umask)
