"""Background music: short royalty-free loops that mcn generates itself, and the choice of one per product.

The loops in ``remix/music/*.opus`` are synthesized by this module (numpy: additive tones with envelopes, simple
drums from filtered noise) from chord progressions written here, so mcn owns them outright and ships them with
the same licence as its code; no sample, recording or third-party track is in them. Each is a whole number of
bars whose note tails wrap around to the start, so ``-stream_loop`` repeats it without a click, and each is
loudness-normalised with ffmpeg's two-pass ``loudnorm`` (linear) to :data:`TARGET_LUFS`.

Rebuild them (deterministic numpy; the Opus bytes depend on the ffmpeg build)::

    .venv/bin/python -m remix.music

:func:`choose_music` picks a loop by product category (a mood per category family) and variant number.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clipper.ffmpeg import locate_ffmpeg

__all__ = ["MOODS", "TARGET_LUFS", "Track", "choose_music", "mood_for", "shipped_tracks", "synthesize", "write_tracks"]

RATE = 48000
TARGET_LUFS = -20.0
MUSIC_DIR = Path(__file__).resolve().parent / "music"

_NOTE = {"C": 0, "C#": 1, "D": 2, "D#": 3, "E": 4, "F": 5, "F#": 6, "G": 7, "G#": 8, "A": 9, "A#": 10, "B": 11}


@dataclass(frozen=True, slots=True)
class Style:
    """How one mood's loop is made: tempo, chords (note names, octave 3-5), bars per chord, instruments."""

    mood: str
    bpm: float
    chords: tuple[tuple[str, ...], ...]
    bars_per_chord: int
    kick: str  # "four" (every beat), "half" (1 and 3), "none"
    hats: bool
    claps: bool
    lead: str  # "pluck" (arpeggio), "pad" (held chords), "keys" (chord stabs)
    seed: int


MOODS: dict[str, Style] = {
    s.mood: s
    for s in (
        Style("upbeat", 120, (("C4", "E4", "G4"), ("G3", "B3", "D4"), ("A3", "C4", "E4"), ("F3", "A3", "C4")),
              2, "four", True, True, "keys", 1),
        Style("bright", 104, (("G3", "B3", "D4"), ("B3", "D4", "F#4"), ("C4", "E4", "G4"), ("D4", "F#4", "A4")),
              2, "half", True, True, "pluck", 2),
        Style("calm", 76, (("F3", "A3", "C4", "E4"), ("D3", "F3", "A3", "C4"), ("A#3", "D4", "F4", "A4"),
                           ("C4", "E4", "G4", "B3")), 1, "none", False, False, "pad", 3),
        Style("warm", 90, (("D3", "F#3", "A3"), ("B3", "D4", "F#4"), ("E3", "G3", "B3"), ("A3", "C#4", "E4")),
              2, "half", True, False, "keys", 4),
    )
}  # fmt: skip

# Category words (English and Chinese) -> mood. The first family whose word appears in the category wins.
_CATEGORY_MOODS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("bright", ("beauty", "makeup", "skincare", "cosmetic", "美妆", "护肤", "彩妆", "个护", "香水")),
    ("upbeat", ("fashion", "clothing", "apparel", "shoe", "sport", "fitness", "outdoor", "electronic", "digital",
                "phone", "gadget", "toy", "服饰", "服装", "女装", "男装", "鞋", "运动", "户外", "数码", "3c", "手机",
                "电器", "玩具")),
    ("warm", ("kitchen", "home", "household", "food", "snack", "drink", "tea", "coffee", "家居", "厨房", "家用",
              "食品", "零食", "饮料", "茶", "生鲜")),
    ("calm", ("baby", "maternity", "health", "sleep", "bedding", "pet", "book", "母婴", "婴", "健康", "睡眠",
              "床", "宠物", "图书")),
)  # fmt: skip
_DEFAULT_ORDER = ("bright", "upbeat", "warm", "calm")


@dataclass(frozen=True, slots=True)
class Track:
    """A shipped loop: its file, mood, tempo, length and measured integrated loudness (LUFS)."""

    mood: str
    path: str
    bpm: float
    seconds: float
    lufs: float


def _freq(note: str) -> float:
    match = re.fullmatch(r"([A-G]#?)(\d)", note)
    if match is None:
        raise ValueError(f"bad note {note!r}")
    midi = 12 * (int(match.group(2)) + 1) + _NOTE[match.group(1)]
    return 440.0 * 2 ** ((midi - 69) / 12)


def _tone(freq: float, seconds: float, *, attack: float, decay: float, harmonics: Sequence[float]) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    wave_ = sum(a * np.sin(2 * np.pi * freq * (k + 1) * t) for k, a in enumerate(harmonics))
    env = np.minimum(1.0, t / max(attack, 1e-3)) * np.exp(-t / decay)
    # A short release at the end: no click where the note stops.
    env[-int(0.01 * RATE) :] *= np.linspace(1, 0, int(0.01 * RATE))
    return (wave_ * env).astype(np.float32)


def _noise_hit(rng: np.random.Generator, seconds: float, decay: float, smooth: int) -> np.ndarray:
    noise = rng.standard_normal(int(seconds * RATE)).astype(np.float32)
    if smooth > 1:
        noise = np.convolve(noise, np.ones(smooth) / smooth, mode="same").astype(np.float32)
    else:
        noise = np.diff(noise, prepend=0.0).astype(np.float32)  # high-passed: a hat, not a hiss
    return noise * np.exp(-np.arange(noise.size) / RATE / decay).astype(np.float32)


def _kick() -> np.ndarray:
    t = np.arange(int(0.35 * RATE)) / RATE
    sweep = 50 + 90 * np.exp(-t / 0.04)  # pitch drops from ~140 Hz: the thump of a kick drum
    phase = 2 * np.pi * np.cumsum(sweep) / RATE
    return (np.sin(phase) * np.exp(-t / 0.12)).astype(np.float32)


def synthesize(mood: str, loops: int = 1) -> np.ndarray:
    """The loop of ``mood`` as float32 stereo samples at 48 kHz, shape ``(n, 2)``, peak-normalised to 0.5.

    Deterministic (seeded per mood). Note tails that run past the loop's end are wrapped to its start, so the
    loop repeats seamlessly; ``loops`` > 1 returns it repeated.
    """
    style = MOODS[mood]
    rng = np.random.default_rng(style.seed)
    beat = 60.0 / style.bpm
    bar = 4 * beat
    total_bars = len(style.chords) * style.bars_per_chord
    n = round(total_bars * bar * RATE)
    pad = int(4 * RATE)
    left = np.zeros(n + pad, dtype=np.float32)
    right = np.zeros(n + pad, dtype=np.float32)

    def put(signal: np.ndarray, at: float, gain: float, pan: float = 0.0) -> None:
        start = round(at * RATE)
        end = min(start + signal.size, left.size)
        left[start:end] += signal[: end - start] * gain * (1 - pan) / 2 * 2
        right[start:end] += signal[: end - start] * gain * (1 + pan) / 2 * 2

    for c, chord in enumerate(style.chords):
        freqs = [_freq(x) for x in chord]
        for b in range(style.bars_per_chord):
            t0 = (c * style.bars_per_chord + b) * bar
            # Bass: the chord's root an octave down, on beats 1 and 3.
            for k in (0, 2):
                put(_tone(freqs[0] / 2, beat * 1.8, attack=0.01, decay=0.5, harmonics=(1, 0.3)), t0 + k * beat, 0.5)
            if style.lead == "pad":
                for i, f in enumerate(freqs):
                    put(_tone(f, bar * 1.3, attack=0.6, decay=3.0, harmonics=(1, 0.15, 0.05)), t0, 0.22, (i - 1) * 0.4)
                for k in range(8):  # a soft arpeggio over the pad
                    f = freqs[(k * 2 + b) % len(freqs)] * 2
                    put(_tone(f, beat, attack=0.005, decay=0.35, harmonics=(1, 0.1)), t0 + k * beat / 2, 0.08, 0.5)
            elif style.lead == "pluck":
                for k in range(8):
                    f = freqs[[0, 1, 2, 1][k % 4] % len(freqs)] * 2
                    put(_tone(f, beat, attack=0.003, decay=0.18, harmonics=(1, 0.5, 0.25, 0.1)), t0 + k * beat / 2,
                        0.2, -0.3 if k % 2 else 0.3)  # fmt: skip
                for i, f in enumerate(freqs):
                    put(_tone(f, bar, attack=0.2, decay=1.5, harmonics=(1, 0.2)), t0, 0.07, (i - 1) * 0.5)
            else:  # keys: chord stabs on the off-beats
                for off in (0.5, 1.5, 2.5, 3.5):
                    for i, f in enumerate(freqs):
                        stab = _tone(f, beat * 0.9, attack=0.004, decay=0.25, harmonics=(1, 0.45, 0.12))
                        put(stab, t0 + off * beat, 0.12, (i - 1) * 0.5)
            for k in range(4):
                at = t0 + k * beat
                if style.kick == "four" or (style.kick == "half" and k in (0, 2)):
                    put(_kick(), at, 0.7)
                if style.claps and k in (1, 3):
                    put(_noise_hit(rng, 0.2, 0.05, 6), at, 0.18, 0.1)
                if style.hats:
                    for h in (0.0, 0.5):
                        put(_noise_hit(rng, 0.06, 0.015, 1), at + h * beat, 0.05 if h else 0.08, -0.4)
    # Wrap the tails past the loop's end onto its start: the loop joins itself without a gap or a click.
    left[:pad] += left[n : n + pad]
    right[:pad] += right[n : n + pad]
    stereo = np.stack([left[:n], right[:n]], axis=1)
    stereo *= 0.5 / max(float(np.max(np.abs(stereo))), 1e-9)
    return np.tile(stereo, (loops, 1)) if loops > 1 else stereo


def mood_for(category: str, variant: int = 0) -> str:
    """The mood for a product ``category`` (any words, English or Chinese); ``variant`` rotates to the other
    moods, so A/B variants of one product can differ in music."""
    text = category.lower()
    first = next((mood for mood, words in _CATEGORY_MOODS if any(w in text for w in words)), _DEFAULT_ORDER[0])
    order = [first, *[m for m in _DEFAULT_ORDER if m != first]]
    return order[variant % len(order)]


def shipped_tracks(directory: Path = MUSIC_DIR) -> dict[str, Track]:
    """The loops that ship (``tracks.json`` next to them), by mood."""
    index = json.loads((directory / "tracks.json").read_text(encoding="utf-8"))
    return {
        t["mood"]: Track(t["mood"], str(directory / t["file"]), t["bpm"], t["seconds"], t["lufs"])
        for t in index["tracks"]
    }


def choose_music(category: str, variant: int = 0, mood: str | None = None) -> Track:
    """The shipped loop for ``category`` (or the given ``mood``); see :func:`mood_for`."""
    tracks = shipped_tracks()
    chosen = mood or mood_for(category, variant)
    if chosen not in tracks:
        raise ValueError(f"unknown music mood {chosen!r}; shipped: {', '.join(sorted(tracks))}")
    return tracks[chosen]


def _loudnorm(ffmpeg: str, wav: Path, target: float) -> str:
    """The second-pass ``loudnorm`` filter (linear) for ``wav``, from a first measuring pass."""
    first = f"loudnorm=I={target}:TP=-2:LRA=11:print_format=json"
    proc = subprocess.run(
        [ffmpeg, "-hide_banner", "-nostdin", "-i", str(wav), "-af", first, "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    stats = json.loads(proc.stderr[proc.stderr.rindex("{") : proc.stderr.rindex("}") + 1])
    return (
        f"loudnorm=I={target}:TP=-2:LRA=11:linear=true:measured_I={stats['input_i']}:"
        f"measured_TP={stats['input_tp']}:measured_LRA={stats['input_lra']}:"
        f"measured_thresh={stats['input_thresh']}:offset={stats['target_offset']}"
    )


def measure_lufs(path: str | Path, ffmpeg: str | None = None) -> float:
    """Integrated loudness of a media file's audio (ffmpeg ``ebur128``), in LUFS."""
    proc = subprocess.run(
        [locate_ffmpeg(ffmpeg), "-hide_banner", "-nostdin", "-i", str(path), "-af", "ebur128", "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.findall(r"I:\s+(-?[\d.]+) LUFS", proc.stderr)
    if not found:
        raise ValueError(f"{path}: no loudness summary from ffmpeg")
    return float(found[-1])


def write_tracks(directory: Path = MUSIC_DIR, ffmpeg: str | None = None) -> list[Track]:
    """Synthesize every mood's loop, loudness-normalise it and write ``<mood>.opus`` + ``tracks.json``."""
    binary = locate_ffmpeg(ffmpeg)
    directory.mkdir(parents=True, exist_ok=True)
    tracks: list[Track] = []
    with tempfile.TemporaryDirectory() as tmp:
        for mood, style in MOODS.items():
            samples = synthesize(mood)
            wav = Path(tmp) / f"{mood}.wav"
            with wave.open(str(wav), "wb") as out:
                out.setnchannels(2)
                out.setsampwidth(2)
                out.setframerate(RATE)
                out.writeframes((samples * 32767).astype("<i2").tobytes())
            target = directory / f"{mood}.opus"
            subprocess.run(
                [binary, "-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-i", str(wav),
                 "-af", _loudnorm(binary, wav, TARGET_LUFS), "-ar", str(RATE),
                 "-c:a", "libopus", "-b:a", "48k", "-map_metadata", "-1",
                 "-metadata", "title=mcn generated loop: " + mood,
                 "-metadata", "comment=synthesized by remix.music; ships under mcn's licence", str(target)],
                check=True,
            )  # fmt: skip
            seconds = round(len(samples) / RATE, 3)
            tracks.append(Track(mood, target.name, style.bpm, seconds, round(measure_lufs(target, binary), 1)))
    index = {
        "generator": "remix.music.synthesize (numpy), loudnorm two-pass linear, libopus 48 kb/s",
        "target_lufs": TARGET_LUFS,
        "licence": "generated by mcn; no third-party material; same licence as mcn",
        "tracks": [
            {"mood": t.mood, "file": t.path, "bpm": t.bpm, "seconds": t.seconds, "lufs": t.lufs} for t in tracks
        ],
    }
    (directory / "tracks.json").write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
    return tracks


if __name__ == "__main__":
    for track in write_tracks():
        print(f"{track.mood:<7} {track.bpm:>5.0f} bpm {track.seconds:6.2f} s {track.lufs:6.1f} LUFS {track.path}")
