"""Probe media files with PyAV and turn every kind of unusable input into a one-line :class:`MediaError`."""

from __future__ import annotations

import itertools
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from clipper.errors import MediaError
from clipper.types import MediaInfo

SUPPORTED_SUFFIXES = (".mp4", ".mov", ".mkv", ".flv", ".ts", ".m4v", ".webm")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
MAX_SOURCE_SECONDS = 6 * 3600 + 60


def probe(path: str | Path, *, require_video: bool = True, require_audio: bool = True) -> MediaInfo:
    """Read container and stream facts of ``path``, decoding only its first frames.

    Raises :class:`MediaError` for a missing or zero-byte file, something that is not media, a file whose
    streams cannot be decoded (truncated), a missing video or audio stream (when required) or a source longer
    than six hours. Rotation is the display rotation phones write as side data; ``variable_frame_rate`` is set
    when the stream's average rate differs from its base rate.
    """
    import av

    p = Path(path)
    name = str(p)
    if not p.exists():
        raise MediaError(name, "file not found")
    if not p.is_file():
        raise MediaError(name, "not a regular file")
    size = p.stat().st_size
    if size == 0:
        raise MediaError(name, "file is empty (0 bytes)")
    try:
        container = av.open(name, metadata_errors="ignore")
    except av.error.InvalidDataError:
        raise MediaError(name, "not a readable media file (wrong format, or truncated before its index)") from None
    except av.error.FFmpegError as exc:
        raise MediaError(name, f"cannot open media ({exc.strerror or exc})") from None
    with container:
        video = next(iter(container.streams.video), None)
        audio = next(iter(container.streams.audio), None)
        if video is None and audio is None:
            raise MediaError(name, "no audio or video streams")
        if require_video and video is None:
            raise MediaError(name, "no video stream")
        if require_audio and audio is None:
            raise MediaError(name, "no audio track (speech is needed to find selling points)")
        duration = _duration(container, (video, audio))
        if duration <= 0:
            raise MediaError(name, "duration unknown or zero (file truncated?)")
        if duration > MAX_SOURCE_SECONDS:
            raise MediaError(name, f"too long ({duration / 3600:.1f} h); the limit is 6 h")
        info = MediaInfo(
            path=name,
            size_bytes=size,
            duration=duration,
            container=container.format.name,
            has_video=video is not None,
            has_audio=audio is not None,
            tags={str(k): str(v) for k, v in container.metadata.items()},
        )
        if audio is not None:
            info = replace(info, audio_codec=audio.codec_context.name or "")
            _decode_first_frames(container, name, audio)
        if video is not None:
            ctx = video.codec_context
            rate = video.average_rate or video.guessed_rate or Fraction(0)
            info = replace(
                info,
                width=int(ctx.width or 0),
                height=int(ctx.height or 0),
                fps=float(rate),
                video_codec=ctx.name or "",
                variable_frame_rate=_is_vfr(container, video),
                rotation=_decode_first_frames(container, name, video),
            )
            if info.width <= 0 or info.height <= 0:
                raise MediaError(name, "video stream has no frame size (file truncated?)")
        _check_tail(container, name, video or audio, duration)
    return info


def probe_image(path: str | Path) -> tuple[int, int]:
    """``(width, height)`` of a still image that decodes (JPEG, PNG, WebP, BMP: what OpenCV reads, as the remix
    renderer does). Raises :class:`MediaError` for a missing, empty or undecodable file."""
    import cv2
    import numpy as np

    p = Path(path)
    name = str(p)
    if not p.is_file():
        raise MediaError(name, "file not found")
    data = np.fromfile(name, dtype=np.uint8)  # not cv2.imread: it cannot open non-ASCII paths everywhere
    if not data.size:
        raise MediaError(name, "file is empty (0 bytes)")
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None or not image.size:
        raise MediaError(name, "not a readable image (JPEG, PNG, WebP or BMP)")
    return int(image.shape[1]), int(image.shape[0])


def _duration(container: Any, streams: tuple[Any, ...]) -> float:
    if container.duration:
        return float(container.duration) / 1_000_000
    best = 0.0
    for stream in streams:
        if stream is not None and stream.duration and stream.time_base:
            best = max(best, float(stream.duration * stream.time_base))
    return best


def _decode_first_frames(container: Any, name: str, stream: Any, frames: int = 3) -> int:
    """Decode up to ``frames`` frames of ``stream``; return the first frame's display rotation.

    A header that parses can still carry no decodable payload (a truncated download): this is the check.
    """
    import av

    container.seek(0)
    rotation = 0
    decoded = 0
    try:
        for frame in container.decode(stream):
            if decoded == 0 and isinstance(frame, av.VideoFrame):
                rotation = int(frame.rotation or 0) % 360
            decoded += 1
            if decoded >= frames:
                break
    except av.error.FFmpegError as exc:
        raise MediaError(name, f"stream data cannot be decoded ({exc.strerror or exc}); truncated or corrupt") from None
    if decoded == 0:
        kind = "video" if stream.type == "video" else "audio"
        raise MediaError(name, f"no decodable {kind} frames (truncated or corrupt)")
    return rotation


def _check_tail(container: Any, name: str, stream: Any, duration: float) -> None:
    """Decode up to the declared end: a download cut short keeps its header (and, with faststart, its whole
    index), so only the missing tail gives it away. Decoding starts at the keyframe before the target."""
    import av

    target = max(duration - 1.0, 0.0)
    try:
        container.seek(int(target / float(stream.time_base)), stream=stream, backward=True)
        for frame in container.decode(stream):
            if frame.time is None:
                continue
            if frame.time < target - 60.0:
                return  # the demuxer could not seek (some raw streams): do not decode hours to find out
            if frame.time >= target - 0.5:
                return
    except av.error.FFmpegError:
        pass
    raise MediaError(name, f"truncated or corrupt: no decodable data near the end of its declared {duration:.1f} s")


def _is_vfr(container: Any, stream: Any, packets: int = 240) -> bool:
    """Whether frame durations vary, from the first packets' timestamps (demuxed, not decoded).

    Phones write variable-frame-rate video; the renderer always outputs a constant rate, and the flag is kept so
    an operator can see why a source's frame count does not match its nominal rate.
    """
    container.seek(0)
    stamps: list[int] = []
    for packet in container.demux(stream):
        if packet.pts is not None:
            stamps.append(int(packet.pts))
        if len(stamps) >= packets:
            break
    stamps.sort()  # B-frames arrive out of presentation order
    deltas = [b - a for a, b in itertools.pairwise(stamps) if b > a]
    if len(deltas) < 10:
        return False
    deltas.sort()
    median = deltas[len(deltas) // 2]
    spread = deltas[int(len(deltas) * 0.95)] - deltas[int(len(deltas) * 0.05)]
    return spread > 0.2 * median
