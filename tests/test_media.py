"""Probing real files made with ffmpeg lavfi, and every kind of unusable input as a one-line MediaError."""

from __future__ import annotations

from pathlib import Path

import pytest

from clipper.errors import MediaError
from clipper.ffmpeg import Command, Input, Output, run
from clipper.media import probe
from tests.helpers import lavfi_video


def _make(
    path: Path, video: str = "testsrc2=s=640x360:r=25:d=3", *, audio: bool = True, extra: tuple[str, ...] = ()
) -> Path:
    return lavfi_video(path, video, "sine=f=440:d=3" if audio else None, extra)


def test_probe_reads_streams_and_rotation(tmp_path: Path) -> None:
    plain = _make(tmp_path / "plain.mp4")
    info = probe(plain)
    assert (info.width, info.height, info.rotation) == (640, 360, 0)
    assert info.has_audio and info.has_video and abs(info.duration - 3.0) < 0.1
    rotated = tmp_path / "rotated.mp4"
    run(
        Command(
            inputs=(Input(str(plain), options=("-display_rotation", "90")),),
            outputs=(Output(str(rotated), options=("-c", "copy")),),
        ),
        subject="rotate",
    )
    info = probe(rotated)
    assert info.rotation in (90, 270) and (info.display_width, info.display_height) == (360, 640)


def test_variable_frame_rate_is_flagged(tmp_path: Path) -> None:
    vfr = _make(
        tmp_path / "vfr.mp4", "testsrc2=s=320x240:r=30:d=3,select='gt(random(0),0.3)'", extra=("-fps_mode", "vfr")
    )
    assert probe(vfr).variable_frame_rate


@pytest.mark.parametrize(
    ("content", "needle"),
    [(b"", r"file is empty \(0 bytes\)"), (b"hello, this is text\n" * 50, "not a readable media file")],
)
def test_unusable_bytes(tmp_path: Path, content: bytes, needle: str) -> None:
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(MediaError, match=needle) as err:
        probe(path)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)


@pytest.mark.parametrize("faststart", [True, False], ids=["index-first", "index-last"])
def test_truncated_download_is_detected(tmp_path: Path, faststart: bool) -> None:
    src = _make(
        tmp_path / "src.mp4", "testsrc2=s=640x360:r=25:d=12", extra=("-movflags", "+faststart") if faststart else ()
    )
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(src.read_bytes()[: src.stat().st_size // 3])
    with pytest.raises(MediaError, match=r"truncated|not a readable"):
        probe(cut)


def test_missing_audio_and_missing_file(tmp_path: Path) -> None:
    silent = _make(tmp_path / "noaudio.mp4", audio=False)
    with pytest.raises(MediaError, match="no audio track"):
        probe(silent)
    assert probe(silent, require_audio=False).has_audio is False
    with pytest.raises(MediaError, match="file not found"):
        probe(tmp_path / "nope.mp4")
