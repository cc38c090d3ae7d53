"""A perceptual video hash the way platforms match videos: PDQ per frame at 1 fps, compared vPDQ-style as bags.

**Hashing.** Frames are taken every ``seconds_per_hash`` (the first frame at or after 0 s, 1 s, 2 s, ...), each
frame's luma plane is area-averaged to 64x64 and hashed with PDQ (Meta's 256-bit perceptual image hash, through
the ``pdqhash`` bindings; MIT bindings, BSD PDQ code). PDQ's own 64x64 downsample is a tent filter over the full
frame; the area filter on the Y plane avoids an RGB conversion per frame and lands within 4-9 bits (mean, of 256)
of the full-frame hash on our test footage, far inside the match distance. As in ThreatExchange's vPDQ, frames of
quality below 50 (flat, featureless pictures) are dropped and identical hashes kept once.

**Matching.** Two frames match when their Hamming distance is at most 31. For videos ``a`` and ``b``,
``a_in_b`` is the share of ``a``'s frames that match some frame of ``b`` (order and timing do not matter: a bag
of frame hashes), and ``b_in_a`` the other way round; :attr:`Match.similarity` is the larger one, the same "share
of the smaller post" the footage guard (:mod:`publisher.footage`) limits, and two videos are near-duplicates when
it exceeds one half.

What it catches and what it does not, on our test footage (``tests/test_vpdq.py``): a re-encode, a caption, or a
hook card shown for the first seconds leave most frames within 31 bits; a card covering a fifth of the picture
for the whole video can push half the frames past it, and a crop or zoom moves every frame. That is why the plan
does not rely on it: the footage records decide, and this hash measures what a platform would see.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from clipper.errors import MediaError

#: Two frame hashes within this Hamming distance (of 256 bits) are the same picture (ThreatExchange's vPDQ).
MATCH_DISTANCE = 31
#: PDQ quality (0-100) below which a frame is too featureless to compare.
MIN_QUALITY = 50
#: One frame hash per this many seconds of video.
SECONDS_PER_HASH = 1.0
#: Two videos sharing more than this share of the smaller one's frames are near-duplicates.
DUPLICATE_SHARE = 0.5

_SIDE = 64  # PDQ hashes a 64x64 luma image
_WORDS = 4  # 256 bits as four 64-bit words
_CHUNK = 16_384  # frames of the other side compared at once: bounds the temporary (n x chunk x 4 words)
# 8-bit pixel formats whose first plane is the luma (Y) plane: gray values without a pixel-format conversion.
_LUMA_FIRST = frozenset({"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "nv21"})


class VideoHashError(MediaError):
    """The file is not a decodable video; ``str()`` is one line naming the file."""


@dataclass(frozen=True, slots=True)
class VideoHash:
    """The bag of PDQ frame hashes of one video.

    Attributes:
        hashes: ``(n, 4)`` uint64, one 256-bit PDQ hash per kept frame, in time order.
        times: seconds into the video of each kept frame.
        duration: the video's duration in seconds.
        width, height: the coded picture size.
        sampled: frames hashed before the quality filter and de-duplication.
    """

    hashes: np.ndarray
    times: tuple[float, ...]
    duration: float
    width: int
    height: int
    sampled: int

    def __len__(self) -> int:
        return len(self.hashes)

    @property
    def hex(self) -> str:
        """The kept frame hashes as one hex string, 64 digits per frame (:func:`hashes_from_hex` reads it)."""
        return hashes_to_hex(self.hashes)


@dataclass(frozen=True, slots=True)
class Match:
    """How much of two videos' frames match (0..1 each way)."""

    a_in_b: float
    b_in_a: float

    @property
    def similarity(self) -> float:
        """The larger share: how much of the smaller-matching video the other one shows too."""
        return max(self.a_in_b, self.b_in_a)

    def is_duplicate(self, share: float = DUPLICATE_SHARE) -> bool:
        """True when more than ``share`` of either video's frames are in the other."""
        return self.similarity > share


def hashes_to_hex(hashes: np.ndarray) -> str:
    """``(n, 4)`` uint64 frame hashes as ``64 * n`` hex digits."""
    return hashes.astype(">u8").tobytes().hex()


def hashes_from_hex(text: str) -> np.ndarray:
    """The inverse of :func:`hashes_to_hex`.

    Raises:
        ValueError: not hex, or not a whole number of 64-digit frame hashes.
    """
    if len(text) % (_WORDS * 16):
        raise ValueError(f"a vPDQ hex string has 64 digits per frame, got {len(text)} digits")
    raw = bytes.fromhex(text)
    return np.frombuffer(raw, dtype=">u8").astype(np.uint64).reshape(-1, _WORDS)


def pdq_hash(luma: np.ndarray) -> tuple[np.ndarray, int]:
    """PDQ hash (``(4,)`` uint64) and quality (0-100) of a 2-D uint8 luma image; any size is area-scaled to 64x64."""
    import cv2
    import pdqhash

    if luma.shape != (_SIDE, _SIDE):
        luma = cv2.resize(np.ascontiguousarray(luma), (_SIDE, _SIDE), interpolation=cv2.INTER_AREA)
    # pdqhash takes RGB; a gray image in all three channels gives back exactly its luma.
    bits, quality = pdqhash.compute(np.repeat(luma[:, :, None], 3, axis=2))
    return np.packbits(bits.astype(np.uint8)).view(">u8").astype(np.uint64), int(quality)


def _luma(frame: Any) -> np.ndarray:
    if frame.format.name in _LUMA_FIRST:
        plane = frame.planes[0]
        return np.frombuffer(plane, dtype=np.uint8).reshape(frame.height, plane.line_size)[:, : frame.width]
    return np.asarray(frame.reformat(format="gray").to_ndarray())


def _duration(container: Any, stream: Any) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return float(container.duration) / 1_000_000
    return 0.0


def _sampled_frames(container: Any, stream: Any, step: float) -> Iterator[tuple[float, np.ndarray]]:
    """``(time, luma)`` of the first frame at or after each multiple of ``step`` seconds, decoding in order."""
    start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
    due = 0.0
    for frame in container.decode(stream):
        t = (float(frame.time) if frame.time is not None else due + start) - start
        if t >= due - 1e-6:
            yield t, _luma(frame)
            due = (int(t / step + 1e-6) + 1) * step  # a gap in the video skips the samples inside it


def hash_video(path: str | Path, seconds_per_hash: float = SECONDS_PER_HASH) -> VideoHash:
    """Hash the video at ``path``: PDQ of one frame per ``seconds_per_hash``, quality-filtered and de-duplicated.

    Raises:
        VideoHashError: not a readable video, no video stream, or no decodable frame.
    """
    import av

    if seconds_per_hash <= 0:
        raise ValueError("seconds_per_hash must be positive")
    name = str(path)
    try:
        container = av.open(name, metadata_errors="ignore")
    except (av.error.FFmpegError, OSError):
        raise VideoHashError(name, "not a readable video file (wrong format or truncated)") from None
    hashes: list[np.ndarray] = []
    times: list[float] = []
    seen: set[bytes] = set()
    sampled = 0
    with container:
        if not container.streams.video:
            raise VideoHashError(name, "the file has no video stream")
        stream = container.streams.video[0]
        duration = _duration(container, stream)
        try:
            for t, luma in _sampled_frames(container, stream, seconds_per_hash):
                sampled += 1
                value, quality = pdq_hash(luma)
                key = value.tobytes()
                if quality >= MIN_QUALITY and key not in seen:
                    seen.add(key)
                    hashes.append(value)
                    times.append(round(t, 3))
        except av.error.FFmpegError:
            if not sampled:
                raise VideoHashError(name, "the video stream cannot be decoded (truncated or corrupt)") from None
        width, height = int(stream.codec_context.width or 0), int(stream.codec_context.height or 0)
    if not sampled:
        raise VideoHashError(name, "no decodable video frames")
    table = np.array(hashes, dtype=np.uint64).reshape(-1, _WORDS)
    return VideoHash(table, tuple(times), duration, width, height, sampled)


def frame_matches(a: np.ndarray, b: np.ndarray, distance: int = MATCH_DISTANCE) -> np.ndarray:
    """``(len(a), len(b))`` booleans: frame ``i`` of ``a`` is within ``distance`` bits of frame ``j`` of ``b``."""
    out = np.zeros((len(a), len(b)), dtype=bool)
    for lo in range(0, len(b), _CHUNK):
        part = b[lo : lo + _CHUNK]
        bits = np.bitwise_count(a[:, None, :] ^ part[None, :, :]).sum(axis=2, dtype=np.int32)
        out[:, lo : lo + len(part)] = bits <= distance
    return out


def match(a: VideoHash | np.ndarray, b: VideoHash | np.ndarray, distance: int = MATCH_DISTANCE) -> Match:
    """Compare two bags of frame hashes; a video without a comparable frame matches nothing."""
    ha = a.hashes if isinstance(a, VideoHash) else a
    hb = b.hashes if isinstance(b, VideoHash) else b
    if not len(ha) or not len(hb):
        return Match(0.0, 0.0)
    hits = frame_matches(ha, hb, distance)
    return Match(float(hits.any(axis=1).mean()), float(hits.any(axis=0).mean()))


def similarity_matrix(videos: Sequence[VideoHash], distance: int = MATCH_DISTANCE) -> np.ndarray:
    """``(k, k)`` :attr:`Match.similarity` of every two videos (1 on the diagonal for a video with frames)."""
    k = len(videos)
    matrix = np.zeros((k, k))
    for i in range(k):
        matrix[i, i] = 1.0 if len(videos[i]) else 0.0
        for j in range(i + 1, k):
            matrix[i, j] = matrix[j, i] = match(videos[i], videos[j], distance).similarity
    return matrix
