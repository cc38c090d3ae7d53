"""Tests for :mod:`clipper.edits`: an edit of several ranges and K presentation variants from one ffmpeg run.

Real ffmpeg renders at 540x960 ``ultrafast`` of generated sources: a flat source whose colour changes every
4 s (the order of the joined ranges and caption pixels are easy to read back), and a camera pan across one of
scikit-learn's sample photos (photographic frames, which the vPDQ hash needs to compare anything).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest
import sklearn.datasets

from clipper.captions import CaptionStyle, caption_lines
from clipper.edits import Presentation, render_edit, render_variants
from clipper.errors import RenderError
from clipper.ffmpeg import locate_ffmpeg
from clipper.media import probe
from clipper.render import RenderOptions
from clipper.types import MediaInfo, Word
from clipper.vpdq import hash_video, match
from publisher.footage import Footage, overlap

SMALL = RenderOptions(width=540, height=960, preset="ultrafast")
# The flat source's colour per 4 s: far from the caption white, highlight yellow, hook red and label black.
COLOURS = ((30, 60, 120), (40, 120, 60), (100, 40, 110))
# Three ranges in another order than the stream's: the third colour, then the first, then the second.
RANGES = ((8.5, 10.5), (0.5, 2.0), (4.5, 6.5))
PHOTOS = Path(sklearn.datasets.__file__).parent / "images"


def _ffmpeg(*args: str) -> None:
    subprocess.run([locate_ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def _words(text: str, start: float, step: float = 0.4) -> list[Word]:
    return [Word(start + i * step, start + i * step + step * 0.75, f" {w}") for i, w in enumerate(text.split())]


def _frames(path: Path, times: Sequence[float]) -> dict[float, np.ndarray]:
    """RGB frames at the given times: the first frame at or after each."""
    found: dict[float, np.ndarray] = {}
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            t = float(frame.time or 0.0)
            due = [w for w in times if w not in found and t >= w - 1e-3]
            if due:
                found.update(dict.fromkeys(due, frame.to_ndarray(format="rgb24")))
            if len(found) == len(set(times)):
                break
    assert len(found) == len(set(times)), f"{path} ends before {max(times)} s"
    return found


def _count(region: np.ndarray, rgb: tuple[int, int, int], tolerance: int = 40) -> int:
    return int(np.all(np.abs(region.astype(np.int16) - np.array(rgb, dtype=np.int16)) <= tolerance, axis=2).sum())


def _aigc(path: str) -> dict[str, str]:
    record: dict[str, str] = json.loads(probe(path).tags["AIGC"])
    return record


@pytest.fixture(scope="module")
def flat(tmp_path_factory: pytest.TempPathFactory) -> MediaInfo:
    """12 s of 360x640: one flat colour per 4 s, and a tone."""
    path = tmp_path_factory.mktemp("edit-flat") / "flat.mp4"
    parts = ";".join(f"color=c=0x{r:02X}{g:02X}{b:02X}:s=360x640:r=30:d=4[c{i}]" for i, (r, g, b) in enumerate(COLOURS))
    _ffmpeg(
        "-f", "lavfi", "-i", f"{parts};[c0][c1][c2]concat=n=3:v=1:a=0",
        "-f", "lavfi", "-i", "sine=f=440:d=12",
        "-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
        str(path),
    )  # fmt: skip
    return probe(path)


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> MediaInfo:
    """12 s of 1280x720: a slow pan across a photo (a landscape stream, so the default layout pads it)."""
    path = tmp_path_factory.mktemp("edit-photo") / "photo.mp4"
    _ffmpeg(
        "-loop", "1", "-framerate", "30", "-t", "12", "-i", str(PHOTOS / "china.jpg"),
        "-f", "lavfi", "-i", "sine=f=440:d=12",
        "-vf", "scale=-2:900,crop=720:405:x='(iw-720)*t/12':y=200,scale=1280:720,format=yuv420p",
        "-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-c:a", "aac", "-shortest", str(path),
    )  # fmt: skip
    return probe(path)


# Words per range (source times) and where they play in the edit: range 1 plays 0-2 s, range 2 2-3.5 s,
# range 3 3.5-5.5 s. "never" is spoken between the ranges and must not be shown.
WORDS = [*_words("alpha beta", 9.0), *_words("gamma delta", 1.2), *_words("never shown", 3.0), *_words("eps zeta", 5.5)]


def test_caption_lines_never_cross_a_cut() -> None:
    style = CaptionStyle()
    words = [Word(1.6, 1.9, " one"), Word(2.0, 2.3, " two"), Word(2.35, 2.6, " three")]
    assert [line.text for line in caption_lines(words, 0.0, 4.0, style)] == ["one two three"]
    first, second = caption_lines(words, 0.0, 4.0, style, breaks=[1.95])
    assert (first.text, second.text) == ("one", "two three")
    assert first.end <= 1.95 + 1e-9  # not held over the join


def test_edit_of_three_ranges_joins_them_in_order_with_retimed_captions(flat: MediaInfo, tmp_path: Path) -> None:
    style = CaptionStyle(highlight_colour="#FFE600", hook_box_colour="#E5162D")
    options = replace(SMALL, caption_style=style, produce_id_prefix="mcn-")
    out = tmp_path / "out" / "edit.mp4"
    progress: list[float] = []

    result = render_edit(
        flat, RANGES, WORDS, out, options, edit_id="e1", hook="THREE REASONS", title="t", on_progress=progress.append
    )

    total = sum(end - start for start, end in RANGES)
    info = probe(out)
    assert abs(info.duration - total) <= 0.1 and abs(result.duration - total) <= 0.1
    assert (info.width, info.height, info.video_codec, info.audio_codec) == (540, 960, "h264", "aac")
    assert result.ranges == RANGES and result.path == str(out)
    assert sorted(p.name for p in out.parent.iterdir()) == ["edit.mp4"]  # no temporary files left
    assert progress and progress == sorted(progress) and progress[-1] <= total + 1e-9
    # The AI label in the metadata: the AIGC record and the plain-words tags.
    record = _aigc(str(out))
    assert (record["Label"], record["ContentProducer"], record["ProduceID"]) == ("1", "mcn", "mcn-e1")
    assert "AI-generated" in info.tags["comment"] and "THREE REASONS" in info.tags["description"]

    w, h = options.width, options.height
    times = [0.2, 0.9, 1.9, 2.3, 2.9, 3.6, 4.7, 5.45]
    frames = _frames(out, times)
    bottom = round(h * style.position_y)
    caption = (slice(bottom - 70, bottom + 10), slice(None))
    hook = (slice(round(h * 0.22) - 50, round(h * 0.22) + 50), slice(None))
    label = (slice(0, round(h * 0.06)), slice(round(w * 0.5), w))
    middle = (slice(round(h * 0.4), round(h * 0.6)), slice(None))
    # The ranges play in the edit's order: the third colour, then the first, then the second.
    for t, colour in ((0.9, COLOURS[2]), (2.3, COLOURS[0]), (2.9, COLOURS[0]), (4.7, COLOURS[1])):
        assert _count(frames[t][middle], colour, 12) > 0.99 * (h * 0.2 * w), f"wrong footage at {t} s"
    # Captions where each range's words play in the edit: range 1 at 0.5-1.6 s, range 2 at 2.7-3.5 s (cut at the
    # join, though its hold would run to 3.7 s), range 3 from 4.5 s; none between.
    for t in (0.9, 2.9, 4.7):
        assert _count(frames[t][caption], (255, 255, 255)) > 100, f"no caption at {t} s"
        assert _count(frames[t][caption], (255, 230, 0)) > 30, f"no highlighted word at {t} s"
    for t in (0.2, 1.9, 2.3, 3.6):
        assert _count(frames[t][caption], (255, 255, 255)) == 0, f"caption at {t} s"
    # The hook card over the first 3 s; the visible AI label on every frame.
    assert _count(frames[0.9][hook], (229, 22, 45)) > 2000
    assert _count(frames[3.6][hook], (229, 22, 45)) == 0
    for t, frame in frames.items():
        assert _count(frame[label], (255, 255, 255)) > 30, f"no label at {t} s"


def test_three_variants_from_one_call_differ_in_presentation_only(photo: MediaInfo, tmp_path: Path) -> None:
    words = [*_words("keeps the wind out", 8.7), *_words("soft and warm", 0.6), *_words("ships today free", 4.6)]
    presentations = [
        Presentation("a"),
        Presentation("b", caption_style=CaptionStyle(highlight_colour="#00E5FF", font_size=72), hook="Other hook"),
        Presentation("c", intro="Why this coat?", intro_seconds=1.0, intro_colour="#20603A", hook="Third hook"),
    ]
    out_dir = tmp_path / "variants"

    variants = render_variants(photo, RANGES, words, out_dir, SMALL, presentations, edit_id="e2", hook="Warm coat")

    total = sum(end - start for start, end in RANGES)
    assert [v.path for v in variants] == [str(out_dir / f"e2-{name}.mp4") for name in "abc"]
    assert sorted(p.name for p in out_dir.iterdir()) == ["e2-a.mp4", "e2-b.mp4", "e2-c.mp4"]
    for variant, intro in zip(variants, (0.0, 0.0, 1.0), strict=True):
        info = probe(variant.path)
        assert abs(info.duration - (total + intro)) <= 0.1, variant.path
        assert (info.width, info.height, info.has_audio) == (540, 960, True)
        assert _aigc(variant.path)["ProduceID"] == f"e2-{variant.presentation.name}"
    assert [v.hook for v in variants] == ["Warm coat", "Other hook", "Third hook"]

    # Presentation differs: b highlights the spoken word in cyan, a in yellow; c opens on its green intro card.
    bottom = round(SMALL.height * CaptionStyle().position_y)
    caption = slice(bottom - 80, bottom + 10)
    a, b = (_frames(Path(v.path), [1.0])[1.0] for v in variants[:2])
    assert _count(a[caption], (255, 230, 0)) > 30 and _count(a[caption], (0, 229, 255)) == 0
    assert _count(b[caption], (0, 229, 255)) > 30 and _count(b[caption], (255, 230, 0)) == 0
    card = _frames(Path(variants[2].path), [0.5])[0.5]
    assert _count(card, (32, 96, 58), 10) > 0.6 * SMALL.width * SMALL.height
    assert _count(a, (32, 96, 58), 10) < 0.01 * SMALL.width * SMALL.height

    # Same footage: the plan's footage guard sees a full overlap, and the perceptual hash a near-duplicate.
    footage = [Footage("stream-1", v.ranges) for v in variants]
    hashes = [hash_video(v.path) for v in variants]
    for i in range(3):
        for j in range(i + 1, 3):
            assert overlap(footage[i], footage[j]) == pytest.approx(1.0)
            assert match(hashes[i], hashes[j]).is_duplicate(), (i, j, match(hashes[i], hashes[j]))


@pytest.mark.parametrize(
    ("ranges", "problem"),
    [
        ([(1.0, 3.0), (2.5, 4.0)], "overlap"),
        ([(10.0, 13.0)], "ends after the source"),
        ([(2.0, 1.0)], "invalid range"),
        ([], "at least one range"),
    ],
)
def test_bad_ranges_raise_one_line_and_write_nothing(
    flat: MediaInfo, tmp_path: Path, ranges: list[tuple[float, float]], problem: str
) -> None:
    with pytest.raises(RenderError) as caught:
        render_variants(flat, ranges, WORDS, tmp_path / "x", SMALL, [Presentation("a")], edit_id="bad")
    assert problem in str(caught.value) and "\n" not in str(caught.value) and "edit bad" in str(caught.value)
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())


def test_repeated_variant_names_are_refused(flat: MediaInfo, tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="names repeat"):
        render_variants(flat, RANGES, WORDS, tmp_path, SMALL, [Presentation("a"), Presentation("a")], edit_id="e")
