"""Builders shared by tests: transcripts from plain lines without audio, lavfi media, throwaway Postgres databases."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from clipper.ffmpeg import Command, Input, Output, run
from clipper.sentences import split_sentences, words_from_text
from clipper.types import Transcript, Word


def transcript_from_lines(
    lines: Sequence[str], language: str = "en", seconds_per_char: float = 0.07, pause: float = 0.6
) -> Transcript:
    """One sentence per line, spoken back to back with ``pause`` between lines; word times interpolated."""
    words: list[Word] = []
    t = 0.5
    for line in lines:
        span = max(len(line) * seconds_per_char, 0.5)
        words.extend(words_from_text(line, t, t + span))
        t += span + pause
    sentences = split_sentences(words, language)
    assert len(sentences) == len(lines), [s.text for s in sentences]
    return Transcript(language=language, duration=t + 1.0, words=tuple(words), sentences=sentences, origin="srt")


def lavfi_video(path: Path, video: str, audio: str | None, extra: tuple[str, ...] = ()) -> Path:
    """Encode a lavfi picture (and optional lavfi sound) to an H.264/AAC file: the suite's media fixtures."""
    inputs = [Input(video, options=("-f", "lavfi"))]
    maps = ["0:v"]
    if audio is not None:
        inputs.append(Input(audio, options=("-f", "lavfi")))
        maps.append("1:a")
    options = ("-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", *extra)
    run(
        Command(inputs=tuple(inputs), outputs=(Output(str(path), maps=tuple(maps), options=options),)),
        subject=str(path),
    )
    return path


POSTGRES_ADMIN_URL = os.environ.get("MCN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@contextmanager
def throwaway_postgres(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A new Postgres database, made mcn's configured one (``MCN_DATABASE_URL``) for the block, then dropped."""
    from sqlalchemy import create_engine, text

    from mcn.db import dispose_engines
    from mcn.settings import get_settings

    name = f"mcn_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    monkeypatch.setenv("MCN_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        yield url
    finally:
        dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
