"""Perceptual video fingerprints for near-duplicate detection.

A video's fingerprint is N difference hashes (dHash): at fixed fractions (i + 0.5) / N of the duration, take the
frame, shrink it to 9x8 grayscale (area average) and set one bit per horizontally adjacent pair that gets
brighter, 64 bits per frame. Two videos are compared frame by frame; their distance is the mean Hamming distance
(0 = same picture, ~32 = unrelated). Re-encoding at another bitrate, resizing or re-muxing moves the distance by a
few bits; a different picture moves it by twenty or more.

Frames are decoded with PyAV (ffmpeg's libraries, in process): spawning an ffmpeg process per upload would cost
more than the whole per-upload budget (the sandbox must take >= 50 uploads/s on 2 cores).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


class FingerprintError(Exception):
    """The file is not a decodable video. ``str()`` is one line."""


@dataclass(frozen=True, slots=True)
class VideoFingerprint:
    """The dHash of each sampled frame, in sampling order, and the duration it was sampled over."""

    hashes: tuple[int, ...]
    duration: float
    width: int
    height: int

    @property
    def hex(self) -> str:
        """The hashes as one hex string (16 digits per frame), the form stored and listed by the admin API."""
        return "".join(f"{h:016x}" for h in self.hashes)

    def array(self) -> np.ndarray:
        return np.array(self.hashes, dtype=np.uint64)


def parse_hex(text: str) -> np.ndarray:
    """The inverse of :attr:`VideoFingerprint.hex`."""
    return np.array([int(text[i : i + 16], 16) for i in range(0, len(text), 16)], dtype=np.uint64)


def dhash(gray: np.ndarray) -> int:
    """64-bit difference hash of a 8x9 (rows x columns) grayscale array: bit set where the right pixel is brighter."""
    g = gray.astype(np.int16)
    bits = (g[:, 1:] > g[:, :-1]).reshape(-1)
    return int(np.packbits(bits).view(">u8")[0])


def fingerprint(path: str | Path, frames: int = 8) -> VideoFingerprint:
    """Fingerprint the video at ``path`` by sampling ``frames`` frames; raise :class:`FingerprintError` if it is
    not a decodable video."""
    import av

    name = str(path)
    try:
        container = av.open(name, metadata_errors="ignore")
    except av.error.FFmpegError:
        raise FingerprintError("not a readable video file (wrong format or truncated)") from None
    with container:
        if not container.streams.video:
            raise FingerprintError("the file has no video stream")
        stream = container.streams.video[0]
        duration = _duration(container, stream)
        if duration <= 0:
            raise FingerprintError("the video's duration is unknown or zero (truncated?)")
        targets = [(i + 0.5) / frames * duration for i in range(frames)]
        try:
            # Short clips: one sequential pass is cheaper than N seeks that each restart at the only keyframe.
            grays = _sequential(container, stream, targets) if duration <= 60 else _seeking(container, stream, targets)
        except av.error.FFmpegError:
            raise FingerprintError("the video stream cannot be decoded (truncated or corrupt)") from None
        if not grays:
            raise FingerprintError("no decodable video frames")
        width, height = int(stream.codec_context.width or 0), int(stream.codec_context.height or 0)
    while len(grays) < frames:  # a stream shorter than its container's duration: repeat its last frame
        grays.append(grays[-1])
    return VideoFingerprint(tuple(dhash(g) for g in grays), duration, width, height)


def _duration(container: Any, stream: Any) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return float(container.duration) / 1_000_000
    return 0.0


# 8-bit pixel formats whose first plane is the luma (Y) plane: gray values without a pixel-format conversion.
_LUMA_FIRST = frozenset({"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "nv21"})


def _small_gray(frame: Any) -> np.ndarray:
    """The frame as 8x9 grayscale, each cell the mean of its area of the picture."""
    if frame.format.name in _LUMA_FIRST:
        # Area-average the Y plane with OpenCV: ~40x cheaper than a swscale conversion per frame, and the upload
        # rate needs it. Luma is what a grayscale conversion would produce (up to range), and dHash only compares.
        import cv2

        plane = frame.planes[0]
        luma = np.frombuffer(plane, dtype=np.uint8).reshape(frame.height, plane.line_size)[:, : frame.width]
        return np.asarray(cv2.resize(luma, (9, 8), interpolation=cv2.INTER_AREA))
    return np.asarray(frame.reformat(width=9, height=8, format="gray", interpolation="AREA").to_ndarray())[:, :9]


def _frame_time(frame: Any, start: float) -> float:
    return (float(frame.time) if frame.time is not None else 0.0) - start


def _sequential(container: Any, stream: Any, targets: list[float]) -> list[np.ndarray]:
    start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
    grays: list[np.ndarray] = []
    for frame in container.decode(stream):
        t = _frame_time(frame, start)
        while len(grays) < len(targets) and t >= targets[len(grays)] - 1e-6:
            grays.append(_small_gray(frame))
        if len(grays) == len(targets):
            break
    return grays


def _seeking(container: Any, stream: Any, targets: list[float]) -> list[np.ndarray]:
    start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
    grays: list[np.ndarray] = []
    for target in targets:
        container.seek(int((target + start) / stream.time_base), stream=stream, backward=True)
        for frame in container.decode(stream):
            if _frame_time(frame, start) >= target - 1e-6:
                grays.append(_small_gray(frame))
                break
    return grays


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean per-frame Hamming distance between two fingerprints of the same length (0..64)."""
    return float(np.mean(np.bitwise_count(a ^ b)))


class HashIndex:
    """All accepted posts' fingerprints in one array, for a vectorised nearest-neighbour scan on every publish.

    A linear scan is ~N x 8 XOR+popcounts: a few microseconds per thousand posts, far below a request's cost at
    the sizes a sandbox reaches, and it needs no index structure to keep consistent with the database.
    """

    def __init__(self, frames: int) -> None:
        self._frames = frames
        self._hashes = np.zeros((0, frames), dtype=np.uint64)
        self._posts = np.zeros(0, dtype=np.int64)
        self._accounts = np.zeros(0, dtype=np.int64)
        self._size = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self._size

    def add(self, post_id: int, account_id: int, hashes: np.ndarray) -> None:
        """Remember an accepted post's fingerprint."""
        if hashes.shape != (self._frames,):
            return  # fingerprints of another frame count (an older config) are not comparable; skip them
        with self._lock:
            if self._size == len(self._posts):
                capacity = max(64, 2 * self._size)
                self._hashes = np.resize(self._hashes, (capacity, self._frames))
                self._posts = np.resize(self._posts, capacity)
                self._accounts = np.resize(self._accounts, capacity)
            self._hashes[self._size] = hashes
            self._posts[self._size] = post_id
            self._accounts[self._size] = account_id
            self._size += 1

    def nearest(self, hashes: np.ndarray, threshold: float) -> list[tuple[int, int, float]]:
        """``(post_id, account_id, distance)`` of every post within ``threshold``, closest first."""
        with self._lock:
            size = self._size
            table, posts, accounts = self._hashes[:size], self._posts[:size], self._accounts[:size]
        if size == 0 or hashes.shape != (self._frames,):
            return []
        dists = np.bitwise_count(table ^ hashes[None, :]).mean(axis=1)
        hits = np.nonzero(dists <= threshold)[0]
        order = hits[np.argsort(dists[hits], kind="stable")]
        return [(int(posts[i]), int(accounts[i]), float(dists[i])) for i in order]
