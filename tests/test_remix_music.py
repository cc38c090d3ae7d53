"""Shipped background loops: present, decodable, loudness-normalised, chosen per category, seamless."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from clipper.ffmpeg import locate_ffmpeg
from clipper.media import probe
from remix.music import MOODS, RATE, TARGET_LUFS, choose_music, measure_lufs, mood_for, shipped_tracks, synthesize


def test_every_mood_ships_a_small_normalised_opus_loop() -> None:
    tracks = shipped_tracks()
    assert set(tracks) == set(MOODS)
    for track in tracks.values():
        info = probe(track.path, require_video=False)
        assert info.has_audio and info.audio_codec == "opus"
        assert abs(info.duration - track.seconds) < 0.1
        assert 10.0 <= track.seconds <= 25.0
        # Measured again here, not read from tracks.json: two-pass loudnorm put it at the target.
        assert abs(measure_lufs(track.path) - TARGET_LUFS) <= 1.0


@pytest.mark.parametrize(
    ("category", "mood"),
    [
        ("Beauty > Skincare", "bright"),
        ("美妆护肤", "bright"),
        ("Home & Kitchen", "warm"),
        ("食品饮料", "warm"),
        ("数码3C", "upbeat"),
        ("Sports & Outdoors", "upbeat"),
        ("母婴用品", "calm"),
        ("something else", "bright"),
    ],
)
def test_category_picks_a_mood(category: str, mood: str) -> None:
    assert mood_for(category) == mood


def test_variants_rotate_through_every_mood() -> None:
    picks = [choose_music("Home & Kitchen", variant=v).mood for v in range(4)]
    assert picks[0] == "warm" and sorted(picks) == sorted(MOODS)
    assert choose_music("x", mood="calm").mood == "calm"
    with pytest.raises(ValueError, match="unknown music mood"):
        choose_music("x", mood="sad")


def test_synthesis_is_deterministic_and_loops_without_a_click() -> None:
    a, b = synthesize("upbeat"), synthesize("upbeat")
    assert np.array_equal(a, b) and a.shape[1] == 2
    bars = len(MOODS["upbeat"].chords) * MOODS["upbeat"].bars_per_chord
    assert abs(len(a) / RATE - bars * 4 * 60 / MOODS["upbeat"].bpm) < 1e-3
    # Across the seam the signal moves no more than it does between neighbouring samples inside the loop.
    twice = synthesize("calm", loops=2)
    seam = len(twice) // 2
    step = np.abs(np.diff(twice[:, 0]))
    assert abs(twice[seam, 0] - twice[seam - 1, 0]) <= np.percentile(step, 99.9)
    # And the loop's start is not silent: the wrapped tails of the last bar ring into it.
    assert float(np.sqrt(np.mean(twice[seam : seam + 2400, 0] ** 2))) > 0.005


def test_a_loop_decodes_to_sound() -> None:
    track = choose_music("home")
    pcm = subprocess.run(
        [locate_ffmpeg(), "-loglevel", "error", "-i", track.path, "-ac", "1", "-ar", "16000", "-f", "s16le", "-"],
        capture_output=True,
        check=True,
    ).stdout
    samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768
    assert float(np.sqrt(np.mean(samples**2))) > 0.03
