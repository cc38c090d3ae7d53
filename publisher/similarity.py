"""What a platform sees in one day's plan: the vPDQ similarity (:mod:`clipper.vpdq`) and the footage overlap
(:mod:`publisher.footage`) of every two posts of that day on one platform.

The footage overlap is what the plan limits; the vPDQ similarity is what a platform's perceptual matching would
measure on the rendered files. Both are shares of the smaller post (0..1), near-duplicates above one half.
``mcn plan --pdq-matrix`` prints them (:mod:`publisher.plan_cli`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import Table, select
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from clipper.vpdq import DUPLICATE_SHARE, VideoHash, VideoHashError, hash_video, match
from mcn.db import get_engine
from mcn.tables import AccountRecord, ClipRecord, PostRecord
from publisher.footage import PostFootage, overlap
from publisher.overlap import footage_of_clip

if TYPE_CHECKING:
    from publisher.plan import PlannedPost

_ACCOUNTS: Table = SQLModel.metadata.tables[AccountRecord.__tablename__]
_CLIPS: Table = SQLModel.metadata.tables[ClipRecord.__tablename__]
_POSTS: Table = SQLModel.metadata.tables[PostRecord.__tablename__]
_GONE = ("failed", "rejected")


@dataclass(frozen=True, slots=True)
class PostVideo:
    """One post of the day: which account, which clip (or variant) and its file, and the footage it shows."""

    post_id: str
    account: str
    clip_id: str
    variant_id: str | None
    video_path: str
    footage: PostFootage

    @property
    def label(self) -> str:
        return f"{self.account} {self.clip_id}{'/' + self.variant_id if self.variant_id else ''}"


@dataclass(frozen=True, slots=True)
class DayMatrix:
    """Pairwise measures of one platform's posts on one day.

    Attributes:
        posts: the posts, by slot.
        pdq: ``(k, k)`` vPDQ similarity; NaN where a video could not be hashed.
        footage: ``(k, k)`` footage overlap.
        errors: post id -> why its video could not be hashed (one line).
    """

    platform: str
    day: date
    posts: tuple[PostVideo, ...]
    pdq: np.ndarray
    footage: np.ndarray
    errors: dict[str, str] = field(default_factory=dict)

    def pairs(self, minimum: float = 0.0) -> list[tuple[int, int, float, float]]:
        """``(i, j, pdq, footage)`` of every two posts with either measure at least ``minimum``, highest first."""
        k = len(self.posts)
        found = []
        for i in range(k):
            for j in range(i + 1, k):
                p, f = float(self.pdq[i, j]), float(self.footage[i, j])
                if max(0.0 if np.isnan(p) else p, f) >= minimum:
                    found.append((i, j, p, f))
        return sorted(found, key=lambda t: (-max(0.0 if np.isnan(t[2]) else t[2], t[3]), t[0], t[1]))

    def duplicates(self, share: float = DUPLICATE_SHARE) -> list[tuple[int, int, float, float]]:
        """The pairs either measure calls near-duplicates (over ``share``)."""
        return [p for p in self.pairs() if (not np.isnan(p[2]) and p[2] > share) or p[3] > share]


def day_posts(day: date, platform: str, engine: Engine | None = None) -> list[PostVideo]:
    """The posts planned on ``platform`` for ``day`` (failed and rejected ones excepted), by slot."""
    query = (
        select(
            _POSTS.c.id,
            _ACCOUNTS.c.handle,
            _POSTS.c.clip_id,
            _POSTS.c.variant_id,
            _POSTS.c.video_path,
            _CLIPS.c.source_id,
            _CLIPS.c.source_start,
            _CLIPS.c.source_end,
            _CLIPS.c.footage,
        )
        .join(_CLIPS, _CLIPS.c.id == _POSTS.c.clip_id)
        .join(_ACCOUNTS, _ACCOUNTS.c.id == _POSTS.c.account_id)
        .where(_POSTS.c.plan_date == day, _POSTS.c.platform == platform, _POSTS.c.status.not_in(_GONE))
        .order_by(_POSTS.c.slot_at, _POSTS.c.id)
    )
    with (engine or get_engine()).connect() as conn:
        return [
            PostVideo(
                r.id, r.handle, r.clip_id, r.variant_id, r.video_path, footage_of_clip(r[5], r[6], r[7], r.footage)
            )
            for r in conn.execute(query)
        ]


def planned_videos(posts: Sequence[PlannedPost], engine: Engine | None = None) -> list[PostVideo]:
    """:class:`PostVideo` of a plan's posts (a dry run's, which are not in the table), by slot."""
    clip_ids = sorted({p.clip_id for p in posts})
    account_ids = sorted({p.account_id for p in posts})
    with (engine or get_engine()).connect() as conn:
        clips = {
            r.id: footage_of_clip(r.source_id, r.source_start, r.source_end, r.footage)
            for r in conn.execute(
                select(
                    _CLIPS.c.id, _CLIPS.c.source_id, _CLIPS.c.source_start, _CLIPS.c.source_end, _CLIPS.c.footage
                ).where(_CLIPS.c.id.in_(clip_ids))
            )
        }
        handles = dict(
            conn.execute(select(_ACCOUNTS.c.id, _ACCOUNTS.c.handle).where(_ACCOUNTS.c.id.in_(account_ids))).all()
        )
    ordered = sorted(posts, key=lambda p: (p.slot_at, p.post_id))
    return [
        PostVideo(
            p.post_id,
            handles.get(p.account_id, str(p.account_id)),
            p.clip_id,
            p.variant_id,
            p.video_path,
            clips[p.clip_id],
        )
        for p in ordered
    ]


def day_matrix(
    day: date,
    platform: str,
    posts: Sequence[PostVideo] | None = None,
    *,
    engine: Engine | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> DayMatrix:
    """Hash every post's video (each file once) and measure every two posts.

    Args:
        day, platform: which posts (:func:`day_posts`) unless ``posts`` is given.
        posts: the posts to compare instead (e.g. a dry run's plan).
        engine: the database (default :func:`mcn.db.get_engine`).
        progress: called with ``(hashed, total)`` after each video.
    """
    chosen = tuple(posts if posts is not None else day_posts(day, platform, engine))
    paths = sorted({p.video_path for p in chosen})
    hashes: dict[str, VideoHash | str] = {}
    for n, path in enumerate(paths, start=1):
        try:
            hashes[path] = hash_video(path)
        except VideoHashError as exc:
            hashes[path] = str(exc)
        if progress is not None:
            progress(n, len(paths))
    k = len(chosen)
    pdq = np.full((k, k), np.nan)
    foot = np.zeros((k, k))
    errors = {p.post_id: h for p in chosen if isinstance(h := hashes[p.video_path], str)}
    for i in range(k):
        hi = hashes[chosen[i].video_path]
        foot[i, i] = 1.0
        if isinstance(hi, VideoHash):
            pdq[i, i] = 1.0 if len(hi) else 0.0
        for j in range(i + 1, k):
            foot[i, j] = foot[j, i] = overlap(chosen[i].footage, chosen[j].footage)
            hj = hashes[chosen[j].video_path]
            if isinstance(hi, VideoHash) and isinstance(hj, VideoHash):
                pdq[i, j] = pdq[j, i] = match(hi, hj).similarity
    return DayMatrix(platform, day, chosen, pdq, foot, errors)
