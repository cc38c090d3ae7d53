"""Perceptual video fingerprints for the sandbox's near-duplicate check: the vPDQ measure of :mod:`clipper.vpdq`.

A fingerprint is the bag of PDQ frame hashes of a video at one frame per second (256 bits each, quality-filtered,
de-duplicated). A new upload is compared with every accepted post: the share of its frames within 31 bits of
some frame of the post, and the other way round; the larger share is the similarity (0 = nothing in common,
1 = every frame of one is in the other). Re-encoding, resizing or a burned-on caption keep it near 1; different
footage keeps it near 0. The mcn posting plan limits the same "share of the smaller video" with its footage
records, so what it plans is what this check accepts.

Frames are decoded with PyAV (ffmpeg's libraries, in process): spawning an ffmpeg process per upload would cost
more than the whole per-upload budget (the sandbox must take >= 50 uploads/s on 2 cores).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clipper.vpdq import (
    MATCH_DISTANCE,
    SECONDS_PER_HASH,
    VideoHashError,
    frame_matches,
    hash_video,
    hashes_from_hex,
    hashes_to_hex,
)
from clipper.vpdq import match as vpdq_match

#: Stored fingerprints start with this tag; anything else (an older sandbox's dHash) is not comparable.
PREFIX = "vpdq:"
_WORDS = 4


class FingerprintError(Exception):
    """The file is not a decodable video. ``str()`` is one line (without the server's file path)."""


@dataclass(frozen=True, slots=True)
class VideoFingerprint:
    """The PDQ hashes of a video's kept frames (``(n, 4)`` uint64), and the duration it was sampled over."""

    hashes: np.ndarray
    duration: float
    width: int
    height: int

    @property
    def hex(self) -> str:
        """The form stored and listed by the admin API: ``vpdq:`` and 64 hex digits per frame."""
        return PREFIX + hashes_to_hex(self.hashes)

    def array(self) -> np.ndarray:
        return self.hashes


def parse_hex(text: str) -> np.ndarray:
    """The inverse of :attr:`VideoFingerprint.hex`; an untagged or malformed string gives no frames."""
    if not text.startswith(PREFIX):
        return np.zeros((0, _WORDS), dtype=np.uint64)
    try:
        return hashes_from_hex(text[len(PREFIX) :])
    except ValueError:
        return np.zeros((0, _WORDS), dtype=np.uint64)


def fingerprint(path: str | Path, seconds_per_hash: float = SECONDS_PER_HASH) -> VideoFingerprint:
    """Fingerprint the video at ``path``; raise :class:`FingerprintError` if it is not a decodable video."""
    try:
        hashed = hash_video(path, seconds_per_hash)
    except VideoHashError as exc:
        raise FingerprintError(exc.problem) from None
    if hashed.duration <= 0:
        raise FingerprintError("the video's duration is unknown or zero (truncated?)")
    return VideoFingerprint(hashed.hashes, hashed.duration, hashed.width, hashed.height)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """The vPDQ similarity (0..1) of two fingerprints' frame hashes."""
    return vpdq_match(a, b).similarity


class HashIndex:
    """Every accepted post's frame hashes in one array, scanned on every publish.

    A linear scan costs the new video's frames x all stored frames XOR+popcounts (a few milliseconds per 100,000
    stored frames), far below a request's cost at the sizes a sandbox reaches, and it needs no index structure to
    keep consistent with the database. Posts without a comparable frame are not stored: they match nothing.
    """

    def __init__(self) -> None:
        self._frames = np.zeros((0, _WORDS), dtype=np.uint64)
        self._starts = np.zeros(0, dtype=np.int64)  # first frame of each stored post
        self._counts = np.zeros(0, dtype=np.int64)
        self._posts = np.zeros(0, dtype=np.int64)
        self._accounts = np.zeros(0, dtype=np.int64)
        self._size = 0  # posts
        self._used = 0  # frames
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self._size

    def add(self, post_id: int, account_id: int, hashes: np.ndarray) -> None:
        """Remember an accepted post's fingerprint."""
        n = len(hashes)
        if n == 0 or hashes.ndim != 2 or hashes.shape[1] != _WORDS:
            return
        with self._lock:
            if self._used + n > len(self._frames):
                self._frames = np.resize(self._frames, (max(256, 2 * (self._used + n)), _WORDS))
            if self._size == len(self._posts):
                capacity = max(64, 2 * self._size)
                self._starts = np.resize(self._starts, capacity)
                self._counts = np.resize(self._counts, capacity)
                self._posts = np.resize(self._posts, capacity)
                self._accounts = np.resize(self._accounts, capacity)
            self._frames[self._used : self._used + n] = hashes
            self._starts[self._size], self._counts[self._size] = self._used, n
            self._posts[self._size], self._accounts[self._size] = post_id, account_id
            self._size += 1
            self._used += n

    def nearest(self, hashes: np.ndarray, threshold: float) -> list[tuple[int, int, float]]:
        """``(post_id, account_id, similarity)`` of every post whose similarity exceeds ``threshold``, most
        similar first."""
        with self._lock:
            size, used = self._size, self._used
            frames, starts, counts = self._frames[:used], self._starts[:size], self._counts[:size]
            posts, accounts = self._posts[:size], self._accounts[:size]
        if size == 0 or len(hashes) == 0 or hashes.ndim != 2 or hashes.shape[1] != _WORDS:
            return []
        hits = frame_matches(hashes, frames, MATCH_DISTANCE)  # (new frames, stored frames)
        # Per stored post: how many new frames hit any of its frames, and how many of its frames are hit.
        new_in_post = np.logical_or.reduceat(hits, starts, axis=1).sum(axis=0) / len(hashes)
        post_in_new = np.add.reduceat(hits.any(axis=0), starts) / counts
        scores = np.maximum(new_in_post, post_in_new)
        found = np.nonzero(scores > threshold)[0]
        order = found[np.argsort(-scores[found], kind="stable")]
        return [(int(posts[i]), int(accounts[i]), float(scores[i])) for i in order]
