"""A small clips output folder for the labelling tests: real mp4 files (lavfi, a few seconds), a hand-written
clips.json and transcript.json, without running the clip pipeline."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from tests.helpers import lavfi_video

SOURCE = "brand-a/2026-11-30-live.mp4"
# (text, kind or None): None = the transcript was not classified for that sentence yet
SENTENCES: tuple[tuple[str, str | None], ...] = (
    ("家人们晚上好。", "greeting"),
    ("今天给大家带来一款保温杯。", "transition"),
    ("这个杯子是三百一十六不锈钢的。", None),
    ("保温十二个小时,早上倒的热水晚上还是烫的。", None),
    ("今天直播间只要五十九块九。", "price"),
    ("有人问能不能装牛奶,可以的。", "reply"),
    ("再看这款雨衣,防水面料。", None),
    ("下大雨骑车也不会湿。", None),
    ("我们休息一下喝口水。", "chatter"),
)
# listed worst first on purpose: the review must show them best first (by score)
CLIPS: tuple[dict[str, Any], ...] = (
    {"id": "c02", "sentences": [6, 7], "score": 0.41, "product": "coat", "hook": "下雨也不湿", "title": "雨衣"},
    {"id": "c01", "sentences": [2, 3, 4], "score": 0.93, "product": "cup", "hook": "保温十二小时", "title": "保温杯"},
)


def make_clips_folder(folder: Path, media: Path | None = None) -> Path:
    """Write ``folder`` as ``mcn clips make`` would: clips.json, transcript.json and one mp4 per clip.

    ``media`` is a video to copy for each clip (made once per test module); without it one is encoded here.
    """
    folder.mkdir(parents=True, exist_ok=True)
    video = media or make_video(folder / "source-video.mp4")
    sentences = []
    t = 0.5
    for index, (text, kind) in enumerate(SENTENCES):
        span = round(0.2 * len(text), 3)
        item: dict[str, Any] = {"index": index, "start": t, "end": round(t + span, 3), "text": text, "words": []}
        if kind is not None:
            item["kind"] = kind
        sentences.append(item)
        t = round(t + span + 0.5, 3)
    transcript = {"language": "zh", "duration": t, "origin": "srt", "sentences": sentences}
    clips = []
    for clip in CLIPS:
        path = f"{clip['id']}.mp4"
        shutil.copyfile(video, folder / path)
        first, last = sentences[clip["sentences"][0]], sentences[clip["sentences"][-1]]
        clips.append(
            {
                **clip,
                "source_start": first["start"],
                "source_end": last["end"],
                "duration": round(last["end"] - first["start"], 3),
                "points": [],
                "reason": "test",
                "path": path,
            }
        )
    manifest = {"source": SOURCE, "duration": t, "language": "zh", "clips": clips}
    (folder / "clips.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    (folder / "transcript.json").write_text(json.dumps(transcript, ensure_ascii=False), encoding="utf-8")
    return folder


def make_video(path: Path, seconds: float = 3.0) -> Path:
    """A real, small H.264 + AAC mp4 (180x320, faststart) that browsers can play."""
    return lavfi_video(
        path,
        f"testsrc2=size=180x320:rate=15:duration={seconds}",
        f"sine=frequency=440:duration={seconds}",
        ("-pix_fmt", "yuv420p", "-movflags", "+faststart"),
    )
