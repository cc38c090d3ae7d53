"""The plan's near-duplicate guard: two posts on one platform on one day share at most half of their footage.

A platform judges batch posting by what the videos show, and captions, hook cards, crops or music do not change
that. So the guard compares the source footage each rendered video records (:mod:`publisher.footage`), not its
file or its text: a clip is admitted to a platform's day only if, against every post already planned there that
day (rows in the table, failed and rejected ones excepted) and every clip admitted before it, :func:`overlap
<publisher.footage.overlap>` stays at or below :data:`~publisher.footage.MAX_SHARED_FOOTAGE`. Presentation-only
variants of one edit overlap fully, so they go to other platforms or other days (the plan's ``content_key`` rule
says the same for variants it is given).

Clips are offered best first, so of two overlapping edits the better-scored one is kept. The check is indexed:
footage is bucketed by source and minute (materials by id), so a candidate is compared only with the posts that
touch the same minutes, and a plan of 100,000 posts stays linear.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from mcn.tables import ClipRecord, PostRecord
from publisher.footage import (
    MAX_SHARED_FOOTAGE,
    Footage,
    FootageError,
    MaterialFootage,
    PostFootage,
    clip_footage,
    overlap,
)

_CLIPS: Table = SQLModel.metadata.tables[ClipRecord.__tablename__]
_POSTS: Table = SQLModel.metadata.tables[PostRecord.__tablename__]
_BUCKET_SECONDS = 60.0
#: Posts in these statuses never went out: their footage does not count.
_GONE = ("failed", "rejected")


def footage_of_clip(
    source_id: str, source_start: float, source_end: float, stored: Mapping[str, Any] | None
) -> PostFootage:
    """A clip row's footage; a malformed record falls back to the row's range (the plan never fails on one row)."""
    try:
        return clip_footage(source_id, source_start, source_end, stored)
    except FootageError:
        try:
            return Footage(source_id, ((source_start, source_end),))
        except FootageError:
            return Footage(source_id, ())  # no usable range: shows nothing, conflicts with nothing


class FootageGuard:
    """The footage already on one platform's day; admits a candidate only if it overlaps none of it too much."""

    def __init__(self, limit: float = MAX_SHARED_FOOTAGE) -> None:
        if not 0 <= limit <= 1:
            raise ValueError(f"footage overlap limit must be between 0 and 1, got {limit}")
        self.limit = limit
        self.held_back = 0
        self._items: list[PostFootage] = []
        self._by_minute: dict[str, dict[int, list[int]]] = defaultdict(dict)  # source -> minute -> items
        self._by_material: dict[str, list[int]] = {}

    def __len__(self) -> int:
        return len(self._items)

    def _buckets(self, footage: PostFootage) -> tuple[dict[Any, list[int]], list[Any]]:
        """The index ``footage`` lives in, and its keys there (minutes of its source, or material ids)."""
        if isinstance(footage, MaterialFootage):
            return self._by_material, list(footage.material_ids)
        minutes: list[int] = []
        for start, end in footage.ranges:
            minutes.extend(range(int(start // _BUCKET_SECONDS), int(end // _BUCKET_SECONDS) + 1))
        return self._by_minute[footage.source_id], minutes

    def worst(self, footage: PostFootage) -> float:
        """The largest overlap of ``footage`` with anything the guard holds (0 when nothing is near)."""
        table, keys = self._buckets(footage)
        near = {i for key in keys for i in table.get(key, ())}
        return max((overlap(footage, self._items[i]) for i in near), default=0.0)

    def add(self, footage: PostFootage) -> None:
        """Hold ``footage`` (a post already on the day), whatever it overlaps."""
        table, keys = self._buckets(footage)
        self._insert(footage, table, keys)

    def _insert(self, footage: PostFootage, table: dict[Any, list[int]], keys: list[Any]) -> None:
        index = len(self._items)
        self._items.append(footage)
        for key in keys:
            hits = table.get(key)
            if hits is None:
                table[key] = [index]
            else:
                hits.append(index)

    def admit(self, footage: PostFootage) -> bool:
        """Hold ``footage`` and return True if it overlaps nothing held by more than the limit; else count it as
        held back and return False."""
        table, keys = self._buckets(footage)
        near: set[int] = set()
        for key in keys:
            hits = table.get(key)
            if hits:
                near.update(hits)
        limit = self.limit + 1e-9
        for i in near:
            if overlap(footage, self._items[i]) > limit:
                self.held_back += 1
                return False
        self._insert(footage, table, keys)
        return True


def day_guards(
    conn: Connection, day: date, platforms: Sequence[str], limit: float = MAX_SHARED_FOOTAGE
) -> dict[str, FootageGuard]:
    """One guard per platform holding the footage of the posts already planned for ``day`` there."""
    guards = {platform: FootageGuard(limit) for platform in platforms}
    rows = conn.execute(
        select(_POSTS.c.platform, _CLIPS.c.source_id, _CLIPS.c.source_start, _CLIPS.c.source_end, _CLIPS.c.footage)
        .join(_CLIPS, _CLIPS.c.id == _POSTS.c.clip_id)
        .where(_POSTS.c.plan_date == day, _POSTS.c.platform.in_(platforms), _POSTS.c.status.not_in(_GONE))
    )
    for platform, source_id, start, end, stored in rows:
        guards[platform].add(footage_of_clip(source_id, start, end, stored))
    return guards


def held_back_note(guard: FootageGuard | None) -> str:
    """`` (N held back: ...)`` for an empty-slot reason when the guard held clips back, else ``""``."""
    if guard is None or not guard.held_back:
        return ""
    return f" ({guard.held_back} held back: over {guard.limit:.0%} of their footage in a same-day post)"
