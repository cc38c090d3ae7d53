"""``clips.json``: the manifest a user (or the posting plan) reads after a run.

Schema: ``{source, duration, language, clips: [...]}``; each clip has ``id, source_start, source_end, duration,
product, points, hook, title, score, reason, sentences, path``, best first. ``path`` is relative to the
manifest's folder so the folder can be moved or uploaded as a whole.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from clipper.types import RenderedClip


def build_manifest(
    source: str, duration: float, language: str, clips: Sequence[RenderedClip], out_dir: Path
) -> dict[str, Any]:
    """The manifest as a dict, clips in the given (ranked) order."""
    return {
        "source": source,
        "duration": round(duration, 3),
        "language": language,
        "clips": [
            {
                "id": c.plan.id,
                "source_start": c.plan.source_start,
                "source_end": c.plan.source_end,
                "duration": round(c.duration, 3),
                "product": c.plan.product_id,
                "points": list(c.plan.points),
                "hook": c.plan.hook,
                "title": c.plan.title,
                "score": c.plan.score,
                "reason": c.plan.reason,
                "sentences": list(c.plan.sentences),
                "path": os.path.relpath(c.path, out_dir),
            }
            for c in clips
        ],
    }


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (temp file + rename): a crash never leaves half a manifest."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    tmp.replace(path)
