"""The vPDQ measure on real photographic footage (scikit-learn's two sample photos, panned like a camera into
9:16 edits): an overlay-only variant of an edit (another hook card burned on with ffmpeg drawtext/drawbox) is a
near-duplicate of it, in clipper.vpdq and in the sandbox's duplicate check; edits of other footage are not.

Measured limits (not asserted): a caption restyled into a filled box moves these frames by 26-34 bits, so only ~40% of
them match; the plan's footage guard, not this hash, keeps such variants apart."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import sklearn.datasets
from fastapi.testclient import TestClient
from sqlalchemy import insert
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from clipper.ffmpeg import Command, Input, Output, escape_filter_value, run
from clipper.vpdq import (
    DUPLICATE_SHARE,
    MATCH_DISTANCE,
    VideoHashError,
    hash_video,
    hashes_from_hex,
    match,
    pdq_hash,
    similarity_matrix,
)
from publisher.footage import Footage
from publisher.plan import CLIPS
from sandbox.app import create_app
from tests.sandbox_support import advance, new_account, publish, sandbox_config
from tests.test_plan import add_account, engine

__all__ = ["engine"]  # the database fixture of test_plan

PHOTOS = Path(sklearn.datasets.__file__).parent / "images"
SECONDS = 8.0
X264 = ("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-crf", "23")


def _font() -> str:
    found = shutil.which("fc-match") and subprocess.run(
        ["fc-match", "-f", "%{file}", "sans"], capture_output=True, text=True, check=False
    )
    path = found.stdout.strip() if found else ""
    assert path and Path(path).is_file(), "no font for drawtext (fc-match sans)"
    return path


def _caption(font: str, text: str, style: str) -> str:
    return f"drawtext=fontfile={escape_filter_value(font)}:text='{text}':{style}"


def _edit(out: Path, photo: str, overlays: list[str], height: int = 700, y: int = 30) -> Path:
    """An 8 s 360x640 edit: a camera pan across ``photo`` (scaled to ``height``, rows from ``y``) with ``overlays``
    (ffmpeg filters) burned on."""
    chain = ",".join([f"scale=-2:{height},crop=360:640:x='(iw-360)*t/{SECONDS}':y={y}", *overlays])
    command = Command(
        inputs=(Input(str(PHOTOS / photo), options=("-loop", "1", "-framerate", "10"), duration=SECONDS),),
        outputs=(Output(str(out), options=("-vf", chain, *X264)),),
    )
    run(command, subject=str(out))
    return out


@pytest.fixture(scope="module")
def edits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("vpdq")
    font = _font()
    caption = _caption(font, "Keeps the wind out", "fontsize=26:fontcolor=white:borderw=2:x=(w-tw)/2:y=h-150")

    def hook_card(line: str, color: str) -> list[str]:  # the first 2 s: a card with the hook line across the top
        return [
            f"drawbox=x=0:y=40:w=iw:h=120:color={color}:t=fill:enable='lt(t,2)'",
            _caption(font, line, "fontsize=30:fontcolor=white:x=(w-tw)/2:y=85:enable='lt(t,2)'"),
        ]

    videos = {
        "edit": _edit(folder / "edit.mp4", "china.jpg", [caption, *hook_card("Why is it so warm?", "black@0.8")]),
        # The A/B hook variant: the same cut and captions, another hook card.
        "overlay variant": _edit(
            folder / "variant.mp4", "china.jpg", [caption, *hook_card("3 reasons to buy it", "red@0.7")]
        ),
        "other footage": _edit(
            folder / "other.mp4", "flower.jpg", [caption, *hook_card("Why is it so warm?", "black@0.8")]
        ),
        # The same recording, another stretch of it: a close-up of the lower half of the photo.
        "same photo, other cut": _edit(folder / "closeup.mp4", "china.jpg", [caption], height=1600, y=900),
    }
    reencoded = folder / "reencoded.mp4"
    run(
        Command(
            inputs=(Input(str(videos["edit"])),),
            outputs=(Output(str(reencoded), options=("-vf", "scale=270:480", *X264[:-1], "35")),),
        ),
        subject="reencode",
    )
    videos["re-encode"] = reencoded
    # The same cut with its two halves swapped: the same footage in another order.
    reordered = folder / "reordered.mp4"
    half = SECONDS / 2
    swap = (
        f"[0:v]trim={half}:{SECONDS},setpts=PTS-STARTPTS[a];[0:v]trim=0:{half},setpts=PTS-STARTPTS[b];"
        "[a][b]concat=n=2:v=1:a=0[v]"
    )
    run(
        Command(
            inputs=(Input(str(videos["edit"])),),
            outputs=(Output(str(reordered), maps=("[v]",), options=(*X264,)),),
            filter_complex=swap,
        ),
        subject="reorder",
    )
    videos["reordered"] = reordered
    return videos


def test_an_overlay_variant_is_a_duplicate_and_other_footage_is_not(edits: dict[str, Path]) -> None:
    hashes = {name: hash_video(path) for name, path in edits.items()}
    edit = hashes["edit"]
    assert edit.sampled == 8 and len(edit) == 8 and edit.times == tuple(float(t) for t in range(8))
    assert (edit.width, edit.height) == (360, 640) and edit.duration == pytest.approx(SECONDS, abs=0.2)

    variant = match(edit, hashes["overlay variant"])
    assert variant.is_duplicate() and variant.similarity >= 0.7, variant
    assert match(edit, hashes["re-encode"]).similarity >= 0.9
    assert match(edit, hashes["reordered"]).similarity >= 0.9  # a bag of frames: order does not hide footage
    for name in ("other footage", "same photo, other cut"):
        other = match(edit, hashes[name])
        assert not other.is_duplicate() and other.similarity <= 0.25, (name, other)

    names = list(hashes)
    matrix = similarity_matrix([hashes[n] for n in names])
    assert matrix.shape == (6, 6) and np.allclose(matrix, matrix.T) and np.all(np.diag(matrix) == 1.0)
    assert matrix[names.index("edit"), names.index("overlay variant")] == variant.similarity
    assert np.array_equal(hashes_from_hex(edit.hex), edit.hashes)


def test_frame_hashes_are_pdq() -> None:
    rng = np.random.default_rng(1)
    picture = (rng.random((64, 64)) * 255).astype(np.uint8)
    value, quality = pdq_hash(picture)
    assert value.shape == (4,) and value.dtype == np.uint64 and quality >= 50
    brighter, _ = pdq_hash(np.clip(picture.astype(int) + 20, 0, 255).astype(np.uint8))
    assert int(np.bitwise_count(value ^ brighter).sum()) <= MATCH_DISTANCE  # brightness barely moves PDQ
    _, flat_quality = pdq_hash(np.full((64, 64), 128, np.uint8))
    assert flat_quality < 50  # featureless frames are left out of the bag


def test_a_file_that_is_not_video_is_one_line(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video" * 100)
    with pytest.raises(VideoHashError) as err:
        hash_video(junk)
    assert str(err.value) == f"{junk}: not a readable video file (wrong format or truncated)"


def test_the_sandbox_refuses_an_overlay_variant_on_the_same_account(edits: dict[str, Path], tmp_path: Path) -> None:
    with TestClient(create_app(sandbox_config(tmp_path / "sandbox"))) as client:
        alice, bob = new_account(client, "alice"), new_account(client, "bob")
        assert publish(client, alice["api_token"], edits["edit"]).status_code == 200
        advance(client, 3600)  # past the pacing rule: only the duplicate rule can refuse
        refused = publish(client, alice["api_token"], edits["overlay variant"], title="另一个开头")
        assert refused.status_code == 409 and refused.json()["error"] == "duplicate_video", refused.text
        assert "of frames match" in refused.json()["message"]
        # The same footage with its halves swapped is refused too (a per-position hash would see another video).
        advance(client, 3600)
        swapped = publish(client, alice["api_token"], edits["reordered"], title="换个顺序")
        assert swapped.status_code == 409 and swapped.json()["error"] == "duplicate_video", swapped.text
        throttled = publish(client, bob["api_token"], edits["overlay variant"], title="搬运")
        assert throttled.status_code == 200 and throttled.json()["limited_reason"] == "near_duplicate"
        # Other footage on the same account is a new video.
        advance(client, 3600)
        assert publish(client, alice["api_token"], edits["other footage"], title="新视频").status_code == 200
    assert DUPLICATE_SHARE == 0.5


def test_plan_pdq_matrix_shows_what_the_footage_records_miss(edits: dict[str, Path], engine: Engine) -> None:
    """The variant was imported as footage of another recording (a copy under a new id): the footage guard lets it
    onto the same day, the vPDQ matrix shows it is the same video."""
    from mcn.cli import app

    now = datetime.now(UTC)
    clips = {
        "edit": ("edit", Footage("src", ((0, 8),))),
        "copy": ("overlay variant", Footage("src-copy", ((0, 8),))),
        "other": ("other footage", Footage("src", ((100, 108),))),
    }
    with engine.begin() as conn:
        conn.execute(
            insert(CLIPS),
            [
                {
                    "id": clip_id,
                    "run_id": "run",
                    "source_id": "src",
                    "rank": 1,
                    "source_start": 0.0,
                    "source_end": 8.0,
                    "duration": 8.0,
                    "score": score,
                    "hook": "为什么冬天穿它不冷？",
                    "title": f"这款羽绒服{clip_id}",
                    "reason": "test",
                    "points": [],
                    "sentences": [],
                    "path": str(edits[video]),
                    "footage": footage.to_json(),
                    "created_at": now,
                }
                for score, (clip_id, (video, footage)) in zip((0.9, 0.8, 0.7), clips.items(), strict=True)
            ],
        )
    add_account(engine, "alice", daily_cap=3)
    day = (date.today() + timedelta(days=2)).isoformat()
    result = CliRunner().invoke(app, ["plan", "--date", day, "--pdq-matrix"])
    assert result.exit_code == 0, result.output
    assert "planned 3 posts" in result.output and "vPDQ similarity" in result.output
    assert "sandbox: 3 posts, 1 pairs over 50% (max vPDQ 100%, max footage 0%)" in result.output
    assert "alice edit" in result.output and "alice copy" in result.output
    dry = CliRunner().invoke(app, ["plan", "--date", day, "--dry-run", "--pdq-matrix"])
    assert dry.exit_code == 0 and "sandbox: 3 posts, 1 pairs over 50%" in dry.output  # the stored day
