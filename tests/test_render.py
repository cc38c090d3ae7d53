"""Tests for :mod:`clipper.captions` and :mod:`clipper.render`, with real ffmpeg renders of lavfi fixtures.

Fixtures are generated once per module (a few seconds each, ``ultrafast``). Checks that only concern caption
pixels render at 540x960 with ``ultrafast`` to keep the file fast; the layout, metadata and stream checks use
the production defaults (1080x1920, ``veryfast``).
"""

from __future__ import annotations

import itertools
import json
import re
import struct
import subprocess
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest

from clipper import render as render_module
from clipper.captions import CaptionStyle, build_ass, caption_lines, escape_ass_text
from clipper.errors import RenderError
from clipper.ffmpeg import locate_ffmpeg
from clipper.media import probe
from clipper.render import RenderOptions, choose_layout, render_clip, render_clips
from clipper.types import MediaInfo, PlannedClip, Word

SMALL = RenderOptions(width=540, height=960, preset="ultrafast")
FLAT_RGB = (30, 60, 120)  # the flat fixture's colour: far from white, yellow, red and black


# --------------------------------------------------------------------------------------------------- helpers


def _ffmpeg(*args: str) -> None:
    subprocess.run([locate_ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def _make_source(path: Path, video: str, seconds: float, *extra: str) -> Path:
    """Encode a lavfi picture plus a tone as H.264/AAC; ``extra`` goes before the output name."""
    _ffmpeg(
        "-f", "lavfi", "-i", video,
        "-f", "lavfi", "-i", f"sine=f=440:d={seconds}",
        "-c:v", "libx264", "-preset", "ultrafast", "-crf", "28", "-g", "30", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "64k", "-shortest", *extra, str(path),
    )  # fmt: skip
    return path


def _plan(clip_id: str, start: float, end: float, hook: str = "") -> PlannedClip:
    return PlannedClip(
        id=clip_id,
        source_start=start,
        source_end=end,
        sentences=(0,),
        product_id=None,
        points=(),
        hook=hook,
        title=f"title of {clip_id}",
        score=1.0,
        reason="test",
    )


def _words(text: str, start: float, step: float = 0.4) -> list[Word]:
    """Latin words with faster-whisper's leading spaces, one every ``step`` seconds from ``start``."""
    return [Word(start + i * step, start + i * step + step * 0.8, f" {w}") for i, w in enumerate(text.split())]


def _frames(path: Path, times: Sequence[float]) -> list[np.ndarray]:
    """RGB frames at the given clip times: the first frame at or after each time, else the last frame."""
    found: dict[float, np.ndarray] = {}
    last: av.VideoFrame | None = None
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            last = frame
            t = float(frame.time or 0.0)
            due = [w for w in times if w not in found and t >= w - 1e-3]
            if due:
                image = frame.to_ndarray(format="rgb24")
                found.update(dict.fromkeys(due, image))
            if len(found) == len(set(times)):
                break
        assert last is not None, f"{path} has no video frames"
        tail = last.to_ndarray(format="rgb24")
    return [found.get(t, tail) for t in times]


def _sharpness(region: np.ndarray) -> float:
    grey = region.astype(np.float32).mean(axis=2)
    return float(np.abs(np.diff(grey, axis=1)).mean() + np.abs(np.diff(grey, axis=0)).mean())


def _mask(region: np.ndarray, rgb: tuple[int, int, int], tolerance: int = 40) -> np.ndarray:
    return np.all(np.abs(region.astype(np.int16) - np.array(rgb, dtype=np.int16)) <= tolerance, axis=2)


def _top_level_boxes(path: Path) -> list[str]:
    """The MP4's top-level box types in file order."""
    boxes: list[str] = []
    size_total = path.stat().st_size
    with path.open("rb") as fh:
        offset = 0
        while offset < size_total:
            fh.seek(offset)
            header = fh.read(16)
            size, kind = struct.unpack(">I4s", header[:8])
            if size == 1:
                size = struct.unpack(">Q", header[8:16])[0]
            elif size == 0:
                size = size_total - offset
            boxes.append(kind.decode("latin-1"))
            offset += size
    return boxes


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    import cv2

    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


# -------------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, MediaInfo]:
    root = tmp_path_factory.mktemp("render-sources")
    paths = {
        "landscape": _make_source(root / "landscape.mp4", "testsrc2=s=1920x1080:r=30:d=5", 5),
        "portrait": _make_source(root / "portrait.mp4", "testsrc2=s=720x1280:r=30:d=4", 4),
        # Random frame drops, timestamps kept: a variable-frame-rate recording averaging ~20 fps.
        "vfr": _make_source(
            root / "vfr.mp4", "testsrc2=s=640x360:r=30:d=5,select='gt(random(0),0.35)'", 5, "-fps_mode", "passthrough"
        ),
        "uhd": _make_source(root / "uhd.mp4", "testsrc2=s=3840x2160:r=30:d=2.5", 2.5),
        "flat": _make_source(root / "flat.mp4", "color=c=0x1E3C78:s=720x1280:r=30:d=5", 5),
    }
    # A phone recording: stored landscape with a red marker top-left, shown rotated by its display matrix.
    coded = _make_source(
        root / "coded.mp4", "color=c=gray:s=1280x720:r=30:d=3,drawbox=x=0:y=0:w=320:h=180:color=red:t=fill", 3
    )
    paths["rotated"] = root / "rotated.mp4"
    _ffmpeg("-display_rotation", "90", "-i", str(coded), "-c", "copy", str(paths["rotated"]))
    paths["coded"] = coded
    return {name: probe(path) for name, path in paths.items()}


# ------------------------------------------------------------------------------------------ captions (units)


def test_escape_ass_text_neutralises_override_blocks_and_escapes() -> None:
    assert escape_ass_text("a{b}c") == r"a\{b\}c"
    assert escape_ass_text("x\\Ny") == "x\\\u2060Ny"
    assert escape_ass_text("one\ntwo\r\nthree") == "one two three"
    assert escape_ass_text("one\ntwo", newline=r"\N") == r"one\Ntwo"


def test_build_ass_escapes_user_text_everywhere() -> None:
    words = [Word(1.0, 1.4, " {\\b1}bold"), Word(1.4, 1.8, " back\\slash"), Word(1.8, 2.2, " line\nbreak")]
    doc = build_ass(words, 0.5, 4.0, hook="Hook {with} braces\nsecond line", style=CaptionStyle())
    events = [line.split(",,0,0,0,,", 1)[1] for line in doc.splitlines() if line.startswith("Dialogue:")]
    assert events
    for text in events:
        # Remove our own override blocks; what is left must hold no live brace, backslash escape or newline.
        plain = re.sub(r"(?<!\\)\{\\[^{}]*\}", "", text)
        assert not re.search(r"(?<!\\)[{}]", plain), text
        assert "\n" not in plain
        assert not re.search(r"\\(?![{}N\u2060])", plain), text
    assert any("\\{\\\u2060b1\\}bold" in e for e in events)
    hook = next(e for e in events if "Hook" in e)
    assert r"\{with\}" in hook and r"\N" in hook  # the hook keeps its line break


def test_caption_lines_join_latin_with_spaces_and_cjk_without() -> None:
    style = CaptionStyle()
    latin = caption_lines(_words("Hello big world.", 10.0), 9.5, 14.0, style)
    assert [line.text for line in latin] == ["Hello big world."]
    assert latin[0].start == pytest.approx(0.5)  # relative to the clip start
    chinese = [Word(20.0 + i * 0.25, 20.2 + i * 0.25, c) for i, c in enumerate("你好世界")]
    assert [line.text for line in caption_lines(chinese, 19.0, 23.0, style)] == ["你好世界"]
    mixed = [Word(0.0, 0.2, "买"), Word(0.2, 0.4, " iPhone"), Word(0.4, 0.6, " Pro"), Word(0.6, 0.8, "吧")]
    assert caption_lines(mixed, 0.0, 2.0, style)[0].text == "买iPhone Pro吧"


def test_caption_lines_break_at_sentence_end_pause_and_length() -> None:
    style = CaptionStyle(max_chars_latin=22)
    words = _words("First sentence ends. Second one", 0.0) + _words("after pause", 3.0)
    words += _words("and then a very long run of words that cannot fit", 5.0, step=0.25)
    lines = caption_lines(words, 0.0, 20.0, style)
    texts = [line.text for line in lines]
    assert texts[:3] == ["First sentence ends.", "Second one", "after pause"]
    assert all(len(t) <= 22 for t in texts)
    assert " ".join(texts[3:]) == "and then a very long run of words that cannot fit"
    for a, b in itertools.pairwise(lines):
        assert a.end <= b.start + 1e-9  # never two captions at once
    # Words outside the clip are dropped; those inside are clamped to it.
    assert caption_lines(words, 100.0, 110.0, style) == ()


def test_build_ass_highlights_one_word_per_event() -> None:
    style = CaptionStyle(highlight_colour="#FFE600")
    doc = build_ass(_words("one two three", 1.0), 0.0, 3.0, hook="", style=style)
    captions = [line for line in doc.splitlines() if ",Caption," in line]
    assert len(captions) == 3
    for line, word in zip(captions, ["one", "two", "three"], strict=True):
        assert line.count(r"\1c&H00E6FF&") == 1  # ASS colours are BGR
        assert r"\1c&H00E6FF&}" + word in line
    assert "Label" in doc and "AI生成 / AI-generated" in doc
    assert not any(",Hook," in line for line in doc.splitlines())  # empty hook: no card


def test_choose_layout_uses_display_size() -> None:
    def info(w: int, h: int, rotation: int = 0) -> MediaInfo:
        return MediaInfo("x.mp4", 1, 10.0, "mp4", True, True, width=w, height=h, rotation=rotation)

    auto = RenderOptions()
    assert choose_layout(info(1920, 1080), auto) == "pad"
    assert choose_layout(info(1080, 1080), auto) == "pad"
    assert choose_layout(info(720, 1280), auto) == "crop"
    assert choose_layout(info(1080, 1350), auto) == "pad"  # 4:5: display aspect 0.8 is wider than 0.75
    assert choose_layout(info(1080, 1440), auto) == "crop"  # 3:4
    assert choose_layout(info(1280, 720, rotation=90), auto) == "crop"
    assert choose_layout(info(720, 1280, rotation=270), auto) == "pad"
    assert choose_layout(info(1920, 1080), RenderOptions(layout="crop")) == "crop"


# ------------------------------------------------------------------------------------------------ renders


def test_landscape_render_pads_over_blur_and_labels_the_file(sources: dict[str, MediaInfo], tmp_path: Path) -> None:
    source = sources["landscape"]
    plan = _plan("clip-land", 0.5, 4.5, hook="Best cream ever!")
    words = _words("This cream keeps skin soft all day. Try it", 0.7)
    out = tmp_path / "out" / "clip-land.mp4"
    progress: list[float] = []
    options = RenderOptions()
    assert choose_layout(source, options) == "pad"

    result = render_clip(source, plan, words, out, options, on_progress=progress.append)

    assert result.path == str(out) and result.plan == plan
    assert (result.width, result.height) == (1080, 1920)
    assert result.duration == pytest.approx(plan.duration, abs=0.15)
    assert result.size_bytes == out.stat().st_size
    assert sorted(p.name for p in out.parent.iterdir()) == ["clip-land.mp4"]  # no temporary files left
    assert progress and progress == sorted(progress) and progress[-1] <= plan.duration

    info = probe(out)
    assert (info.width, info.height, info.rotation) == (1080, 1920, 0)
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert info.fps == pytest.approx(30.0) and not info.variable_frame_rate
    with av.open(str(out)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert video.codec_context.profile == "High"
        assert video.codec_context.pix_fmt == "yuv420p"
        assert audio.codec_context.sample_rate in (44100, 48000)
        assert audio.codec_context.channels == 2

    # Metadata: the plain-words label and the AIGC implicit label, readable with PyAV.
    assert "AI-generated" in info.tags["comment"]
    assert "AI-generated" in info.tags["description"]
    aigc = json.loads(info.tags["AIGC"])
    assert aigc["Label"] == "1" and aigc["ContentProducer"] == "mcn" and aigc["ProduceID"] == "clip-land"
    assert info.tags["title"] == plan.title
    # faststart: the index (moov) precedes the media data.
    boxes = _top_level_boxes(out)
    assert boxes.index("moov") < boxes.index("mdat")

    # Pad layout: the 16:9 picture (1080x608) in the middle, blurred picture (not black) above and below.
    (frame,) = _frames(out, [3.6])  # after the hook card
    middle = frame[700:1220]
    top, bottom = frame[100:330, 0:700], frame[1600:1900]  # clear of the label, hook and captions
    for band in (top, bottom):
        assert band.mean() > 30, "band is black: not a blurred background"
        assert _sharpness(band) < 0.4 * _sharpness(middle), "band is not blurred"


def test_portrait_source_is_cropped_to_fill_the_frame(sources: dict[str, MediaInfo], tmp_path: Path) -> None:
    source = sources["portrait"]
    options = replace(RenderOptions(), captions=False)
    assert choose_layout(source, options) == "crop"
    out = tmp_path / "portrait.mp4"
    render_clip(source, _plan("p", 1.0, 3.5), [], out, options)

    # A 9:16 source is the whole frame: the output matches the source frame scaled up, edges included.
    (got,) = _frames(out, [1.0])
    (want,) = _frames(Path(source.path), [2.0])
    want = _resize(want, 1080, 1920)
    assert np.abs(got.astype(np.int16) - want.astype(np.int16)).mean() < 12
    assert got[:40].mean() > 30 and got[-40:].mean() > 30  # no black bands


def test_rotated_phone_video_comes_out_upright(sources: dict[str, MediaInfo], tmp_path: Path) -> None:
    source = sources["rotated"]
    assert source.rotation in (90, 270) and (source.display_width, source.display_height) == (720, 1280)
    out = tmp_path / "rotated.mp4"
    render_clip(source, _plan("r", 0.5, 2.5), [], out, replace(RenderOptions(), captions=False))

    info = probe(out)
    assert (info.width, info.height, info.rotation) == (1080, 1920, 0)
    # What a player shows: the stored frame turned by the display matrix (PyAV's rotation is counterclockwise).
    (coded,) = _frames(Path(sources["coded"].path), [1.0])
    upright = _resize(np.ascontiguousarray(np.rot90(coded, k=source.rotation // 90)), 1080, 1920)
    (got,) = _frames(out, [0.5])
    assert np.abs(got.astype(np.int16) - upright.astype(np.int16)).mean() < 8
    red = _mask(got, (255, 0, 0), 60)
    assert red.sum() > 0.5 * 270 * 480  # the 180x320 marker, scaled by 1.5


def test_variable_frame_rate_source_becomes_constant(sources: dict[str, MediaInfo], tmp_path: Path) -> None:
    source = sources["vfr"]
    assert source.variable_frame_rate
    out = tmp_path / "vfr.mp4"
    result = render_clip(source, _plan("v", 0.5, 4.5), _words("steady frames please", 0.6), out, SMALL)

    info = probe(out)
    assert info.fps == pytest.approx(30.0) and not info.variable_frame_rate
    assert result.duration == pytest.approx(4.0, abs=0.15)
    with av.open(str(out)) as container:
        pts = [frame.pts for frame in container.decode(video=0)]
    steps = np.diff(sorted(p for p in pts if p is not None))
    assert len(set(steps.tolist())) == 1  # every frame 1/30 s after the previous one
    assert abs(len(pts) - 120) <= 1


def test_4k_source_is_downscaled(sources: dict[str, MediaInfo], tmp_path: Path) -> None:
    source = sources["uhd"]
    assert (source.width, source.height) == (3840, 2160)
    out = tmp_path / "uhd.mp4"
    result = render_clip(source, _plan("u", 0.2, 2.2, hook="4K"), _words("big source", 0.3), out, RenderOptions())
    assert (result.width, result.height) == (1080, 1920)
    assert result.duration == pytest.approx(2.0, abs=0.15)


def test_captions_highlight_hook_and_label_are_burned(sources: dict[str, MediaInfo], tmp_path: Path) -> None:
    style = CaptionStyle(highlight_colour="#FFE600", hook_box_colour="#E5162D")
    options = replace(SMALL, caption_style=style)
    words = _words("Buy this cream now", 0.5, step=0.5)  # "this" is spoken from 1.0 to 1.4 s
    out = tmp_path / "flat.mp4"
    render_clip(sources["flat"], _plan("f", 0.0, 4.0, hook="HOOK TEXT"), words, out, options)

    w, h = options.width, options.height
    times = [0.2, 1.2, 2.0, 3.5, 3.97]
    frames = dict(zip(times, _frames(out, times), strict=True))
    bottom = round(h * style.position_y)
    caption = slice(bottom - 70, bottom + 10)
    label = (slice(0, round(h * 0.06)), slice(round(w * 0.5), w))
    hook = slice(round(h * 0.22) - 60, round(h * 0.22) + 60)

    def count(frame: np.ndarray, region: tuple[slice, ...], rgb: tuple[int, int, int], tolerance: int = 40) -> int:
        return int(_mask(frame[region], rgb, tolerance).sum())

    # Before the first word: no caption; while "this" is spoken: white words and a yellow one.
    assert count(frames[0.2], (caption,), (255, 255, 255)) == 0
    assert count(frames[1.2], (caption,), (255, 255, 255)) > 100
    assert count(frames[1.2], (caption,), (255, 230, 0)) > 50
    assert count(frames[1.2], (slice(0, bottom - 80),), (255, 230, 0)) == 0  # the highlight is in the caption
    # The hook card (red box) over the first 3 s only.
    assert count(frames[1.2], (hook,), (229, 22, 45)) > 2000
    assert count(frames[3.5], (hook,), (229, 22, 45)) == 0
    # The AI label, white text on a dark box in the top-right corner, on every sampled frame to the last.
    for t, frame in frames.items():
        assert count(frame, label, (255, 255, 255)) > 30, f"no label at {t} s"
        assert count(frame, label, (0, 0, 0), tolerance=70) > 200, f"no label box at {t} s"
    # Nothing drawn outside the overlays: the rest of the frame is still the flat source colour.
    assert _mask(frames[3.5][round(h * 0.35) : round(h * 0.6)], FLAT_RGB, 12).mean() > 0.99


def test_ass_injection_in_user_text_renders_literally(sources: dict[str, MediaInfo], tmp_path: Path) -> None:
    # Unescaped, "{\1c&H0000FF&}" would paint the word red and "\N" would break the line in two.
    words = [Word(0.1, 0.9, " {\\1c&H0000FF&}red\\Nline")]
    options = replace(SMALL, caption_style=CaptionStyle(highlight_colour="#FFFFFF", label_text=""))
    out = tmp_path / "inject.mp4"
    render_clip(sources["flat"], _plan("i", 0.0, 1.0, hook=""), words, out, options)
    (frame,) = _frames(out, [0.5])
    assert _mask(frame, (255, 0, 0), 60).sum() == 0
    text_rows = np.flatnonzero(_mask(frame, (255, 255, 255), 40).any(axis=1))
    assert text_rows.size > 0
    assert text_rows.max() - text_rows.min() < 1.5 * CaptionStyle().font_size * options.height / 1920  # one row


def _caption_mask(path: Path, height: int, style: CaptionStyle) -> np.ndarray:
    (frame,) = _frames(path, [0.6])
    bottom = round(height * style.position_y)
    region = frame[bottom - 60 : bottom + 10]
    return ~_mask(region, FLAT_RGB, 50)  # anything not background: glyphs, outline


def test_chinese_captions_render_glyphs_not_tofu(
    sources: dict[str, MediaInfo], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    style = CaptionStyle(label_text="")
    options = replace(SMALL, caption_style=style)
    source = sources["flat"]

    def render(text: str, name: str, opts: RenderOptions = options) -> np.ndarray:
        out = tmp_path / f"{name}.mp4"
        render_clip(source, _plan(name, 0.0, 1.0), [Word(0.1, 0.9, text)], out, opts)
        return _caption_mask(out, opts.height, style)

    def differ(a: np.ndarray, b: np.ndarray) -> float:
        return float((a ^ b).mean())

    hello, thanks = render("你好世界", "hello"), render("谢谢大家", "thanks")
    assert hello.mean() > 0.05  # something is drawn

    # A host without CJK fonts: fontconfig that only knows DejaVu (or nothing), so CJK glyphs come out as boxes.
    latin_only = tmp_path / "latin-fonts"
    latin_only.mkdir()
    for font in Path("/usr/share/fonts/truetype/dejavu").glob("DejaVuSans*.ttf"):
        (latin_only / font.name).symlink_to(font)
    conf = tmp_path / "fonts.conf"
    conf.write_text(
        f'<?xml version="1.0"?><fontconfig><dir>{latin_only}</dir><cachedir>{tmp_path / "fc-cache"}</cachedir>'
        "</fontconfig>",
        encoding="utf-8",
    )
    monkeypatch.setenv("FONTCONFIG_FILE", str(conf))
    tofu_hello, tofu_thanks = render("你好世界", "tofu-hello"), render("谢谢大家", "tofu-thanks")

    # Real glyphs differ between two strings; missing-glyph boxes look the same whatever the text.
    assert differ(hello, thanks) > max(0.005, 3 * differ(tofu_hello, tofu_thanks))
    assert differ(hello, tofu_hello) > 3 * differ(tofu_hello, tofu_thanks)

    # fonts_dir fixes such a host: libass loads the font files itself.
    noto = sorted(Path("/usr/share/fonts").rglob("NotoSansCJK-Bold.ttc"))
    if not noto:
        pytest.skip("Noto Sans CJK Bold font file not found")
    fonts_dir = tmp_path / "fonts"
    fonts_dir.mkdir()
    (fonts_dir / noto[0].name).symlink_to(noto[0])
    with_dir = replace(options, caption_style=replace(style, fonts_dir=str(fonts_dir)))
    fixed = render("你好世界", "fonts-dir-hello", with_dir)
    assert differ(fixed, hello) < 0.25 * differ(tofu_hello, hello)


def test_render_clips_names_files_by_plan_id(sources: dict[str, MediaInfo], tmp_path: Path) -> None:
    plans = [_plan("a-1", 0.0, 1.0), _plan("b-2", 1.5, 2.5)]
    progress: list[float] = []
    results = render_clips(sources["flat"], plans, [], tmp_path, SMALL, on_progress=progress.append)
    assert [Path(r.path).name for r in results] == ["a-1.mp4", "b-2.mp4"]
    assert [r.plan for r in results] == plans
    assert progress and max(progress) <= 2.0 + 1e-6 and max(progress) > 1.0  # summed over both clips


# ------------------------------------------------------------------------------------------------- failures


def test_missing_source_raises_one_line_and_writes_nothing(tmp_path: Path) -> None:
    info = MediaInfo(str(tmp_path / "gone.mp4"), 1, 10.0, "mp4", True, True, width=1920, height=1080)
    out_dir = tmp_path / "out"
    with pytest.raises(RenderError) as caught:
        render_clip(info, _plan("m", 0.0, 2.0), [], out_dir / "m.mp4", SMALL)
    assert "\n" not in str(caught.value) and "gone.mp4" in str(caught.value)
    assert not out_dir.exists() or not any(out_dir.iterdir())


def test_ffmpeg_failure_raises_one_line_and_leaves_no_files(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypisom" + b"garbage" * 200)
    info = MediaInfo(str(broken), broken.stat().st_size, 10.0, "mp4", True, True, width=1920, height=1080)
    out_dir = tmp_path / "out"
    with pytest.raises(RenderError) as caught:
        render_clip(info, _plan("b", 0.0, 2.0, hook="hook"), _words("some words", 0.2), out_dir / "b.mp4", SMALL)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("clip b:") and "ffmpeg failed" in message
    assert list(out_dir.iterdir()) == []  # neither the clip, nor its .part file, nor the .ass file


def test_output_check_failure_keeps_the_previous_file(
    sources: dict[str, MediaInfo], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "c.mp4"
    out.write_bytes(b"previous render")

    def wrong_size(path: str | Path, **_: object) -> MediaInfo:
        return replace(probe(path), width=720, height=1280)

    monkeypatch.setattr(render_module, "probe", wrong_size)
    with pytest.raises(RenderError, match=r"output check failed: size 720x1280, expected 540x960"):
        render_clip(sources["flat"], _plan("c", 0.0, 1.0), [], out, SMALL)
    assert out.read_bytes() == b"previous render"
    assert [p.name for p in tmp_path.iterdir()] == ["c.mp4"]


def test_range_outside_the_source_is_rejected(sources: dict[str, MediaInfo], tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="after the source's end"):
        render_clip(sources["flat"], _plan("late", 3.0, 9.0), [], tmp_path / "late.mp4", SMALL)
    with pytest.raises(RenderError, match="invalid range"):
        render_clip(sources["flat"], _plan("empty", 2.0, 2.0), [], tmp_path / "empty.mp4", SMALL)


def test_progress_runs_do_not_stall_when_ffmpeg_writes_a_lot_to_stderr() -> None:
    """A source that makes ffmpeg print more than a pipe's worth of warnings must not freeze the render: stderr is
    drained while stdout carries the progress (the old loop read only stdout and ffmpeg blocked on a full stderr)."""
    import subprocess
    import threading

    from clipper.errors import RenderError
    from clipper.ffmpeg import run

    seen: list[float] = []
    argv = [locate_ffmpeg(), "-hide_banner", "-nostdin", "-debug_ts", "-loglevel", "debug"]
    argv += ["-f", "lavfi", "-i", "testsrc2=size=64x64:rate=50:duration=20", "-f", "null", "-"]
    probe = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert len(probe.stderr) > 256 * 1024  # well past a pipe buffer (64 KiB)
    outcome: list[BaseException | None] = []

    def render() -> None:
        try:
            run(argv, subject="noisy", timeout=60, on_progress=lambda p: seen.append(p.out_seconds))
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            outcome.append(exc)

    worker = threading.Thread(target=render, daemon=True)
    worker.start()
    worker.join(90)
    assert not worker.is_alive(), "ffmpeg stalled on a full stderr pipe"
    assert outcome == [None]
    assert seen and seen[-1] >= 19.0
    # ...and a run that outlives its timeout is stopped with one line, progress or not
    slow = [
        locate_ffmpeg(),
        "-hide_banner",
        "-nostdin",
        "-re",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=duration=30",
        "-f",
        "null",
        "-",
    ]
    with pytest.raises(RenderError, match="timed out after 1s"):
        run(slow, subject="slow", timeout=1, on_progress=lambda p: None)
