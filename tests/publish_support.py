"""Helpers for publishing tests: many distinct tiny videos, sandbox accounts mirrored into mcn, an outbox full
of due posts, and the sandbox's own record of what was published (to count every post exactly once)."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
from sqlalchemy import insert

from accounts.vault import store_secret
from mcn.db import get_engine
from mcn.tables import AccountRecord, ClipRecord, PostRecord, RunRecord, SourceRecord
from publisher.adapters.base import AD_DISCLOSURE, AI_LABEL
from tests.sandbox_support import ADMIN

_TABLE = {t: t.__table__ for t in (AccountRecord, ClipRecord, PostRecord, RunRecord, SourceRecord)}  # type: ignore[attr-defined]


def distinct_videos(folder: Path, count: int, start: int = 0) -> list[Path]:
    """``count`` tiny H.264 videos of random noise (1 s, 64x112, 4 fps): distinct bytes and perceptual hashes.

    Encoded in-process with PyAV because thousands of ffmpeg processes would dominate the test's time.
    """
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(start, start + count):
        path = folder / f"noise-{n}.mp4"
        if not path.exists():
            rng = np.random.default_rng(n)
            with av.open(str(path), "w") as container:
                stream = container.add_stream("libx264", rate=4, options={"preset": "ultrafast"})
                stream.width, stream.height, stream.pix_fmt = 64, 112, "yuv420p"
                for _ in range(4):
                    # blocky noise survives the sandbox's 9x8 downscale, so every video hashes differently
                    blocks = rng.integers(0, 256, (14, 8, 3), dtype=np.uint8)
                    frame = av.VideoFrame.from_ndarray(
                        np.kron(blocks, np.ones((8, 8, 1), dtype=np.uint8)), format="rgb24"
                    )
                    for packet in stream.encode(frame):
                        container.mux(packet)
                for packet in stream.encode():
                    container.mux(packet)
        paths.append(path)
    return paths


def sandbox_accounts(url: str, count: int, prefix: str) -> list[dict[str, Any]]:
    """Create ``count`` accounts on the sandbox through its admin API (handle, api_token, author id...)."""
    with httpx.Client(base_url=url, headers=ADMIN, timeout=30) as client:
        made = []
        for i in range(count):
            answer = client.post("/api/admin/accounts", json={"handle": f"{prefix}{i:04d}"})
            answer.raise_for_status()
            made.append(answer.json())
        return made


def mirror_accounts(remote: Sequence[dict[str, Any]], daily_cap: int = 10, tz: str = "UTC") -> list[int]:
    """Register sandbox accounts in mcn (active, all-day windows) with their API tokens in the vault."""
    now = datetime.now(UTC)
    rows = [
        {
            "platform": "sandbox",
            "handle": r["handle"],
            "display_name": r["handle"],
            "persona": "",
            "niches": [],
            "status": "active",
            "daily_cap": daily_cap,
            "windows": ["00:00-23:59"],
            "timezone": tz,
            "author_id": r["author_buyin_id"],
            "approval_required": False,
            "remote_id": str(r["account_id"]),
            "created_at": now,
            "updated_at": now,
        }
        for r in remote
    ]
    with get_engine().begin() as conn:
        ids = [conn.execute(insert(_TABLE[AccountRecord]).values(**row)).inserted_primary_key[0] for row in rows]
    for account_id, r in zip(ids, remote, strict=True):
        store_secret(int(account_id), "api_token", r["api_token"])
    return [int(i) for i in ids]


def fill_outbox(
    account_ids: Sequence[int], videos: Sequence[Path], per_account: int, slot_at: datetime, **overrides: Any
) -> list[str]:
    """Clip rows for ``videos`` and ``per_account`` due posts per account (round robin over the videos, each
    video used once). Returns the post ids."""
    engine = get_engine()
    now = datetime.now(UTC)
    needed = len(account_ids) * per_account
    assert len(videos) >= needed, f"{needed} posts need {needed} videos, got {len(videos)}"
    with engine.begin() as conn:
        source_id = hashlib.sha1(str(videos[0]).encode()).hexdigest()[:32]
        conn.execute(
            insert(_TABLE[SourceRecord]).values(
                id=source_id, uri=str(videos[0].parent), status="done", created_at=now, updated_at=now
            )
        )
        conn.execute(
            insert(_TABLE[RunRecord]).values(
                id=source_id, kind="test", source_id=source_id, status="succeeded", params={}, stats={}, started_at=now
            )
        )
        clips = []
        for n, video in enumerate(videos[:needed]):
            clips.append(
                {
                    "id": f"{source_id[:8]}-{n}",
                    "run_id": source_id,
                    "source_id": source_id,
                    "product_id": None,
                    "rank": n,
                    "source_start": 0.0,
                    "source_end": 1.0,
                    "duration": 1.0,
                    "score": 1.0,
                    "hook": "好物分享",
                    "title": "好物分享",
                    "reason": "test",
                    "points": [],
                    "sentences": [],
                    "path": str(video),
                    "created_at": now,
                }
            )
        conn.execute(insert(_TABLE[ClipRecord]), clips)
        posts = []
        for n, clip in enumerate(clips):
            account_id = account_ids[n % len(account_ids)]
            key = f"{account_id}:{clip['id']}"
            row = {
                "id": hashlib.sha1(key.encode()).hexdigest()[:32],
                "idempotency_key": key,
                "tracking_code": f"mcn-{hashlib.sha1(key.encode()).hexdigest()[:12]}",
                "plan_date": slot_at.date(),
                "account_id": account_id,
                "platform": "sandbox",
                "clip_id": clip["id"],
                "content_key": clip["id"],
                "video_path": clip["path"],
                "title": f"好物分享 {n}",
                "caption": "今天分享一个好用的小东西",
                "topics": ["好物推荐"],
                "product_link": None,
                "ai_label": AI_LABEL,
                "ad_disclosure": AD_DISCLOSURE,
                "slot_at": slot_at,
                "status": "planned",
                "approval": "not_required",
                "attempts": 0,
                "created_at": now,
                "updated_at": now,
            }
            row.update(overrides)
            posts.append(row)
        conn.execute(insert(_TABLE[PostRecord]), posts)
    return [p["id"] for p in posts]


def sandbox_posts(url: str) -> list[dict[str, Any]]:
    """Every post the sandbox holds (admin view)."""
    answer = httpx.get(f"{url}/api/admin/posts", headers=ADMIN, timeout=60)
    answer.raise_for_status()
    return list(answer.json()["posts"])


def assert_exactly_once(url: str, expected_codes: set[str]) -> list[dict[str, Any]]:
    """Every tracking code in ``expected_codes`` is on the sandbox exactly once (and nothing else is)."""
    remote = sandbox_posts(url)
    counts = Counter(p["external_info"] for p in remote)
    twice = {code: n for code, n in counts.items() if n > 1}
    assert not twice, f"published more than once: {twice}"
    missing = expected_codes - set(counts)
    assert not missing, f"{len(missing)} posts never reached the platform"
    assert set(counts) <= expected_codes, "the platform has posts nobody planned"
    return remote


def today() -> date:
    return datetime.now(UTC).date()
