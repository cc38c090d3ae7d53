"""Product remix renders, probed and read back: size, length, streams, captions, cards, label, voice alignment.

Material is generated here: OpenCV-drawn product stills (no yellow, white or red in them, so caption, card and
hook pixels are unambiguous) and lavfi videos (a wide and a portrait one). Renders are 540x960 to stay quick.
"""

from __future__ import annotations

import itertools
import json
import subprocess
from collections.abc import Sequence
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from clipper.ffmpeg import locate_ffmpeg
from clipper.media import probe
from remix.errors import MaterialError
from remix.products import RemixProduct
from remix.render import RemixOptions, RemixResult, render_remix
from remix.script import write_script
from remix.tts import get_tts
from remix.voiceover import speech_onsets

W, H = 540, 960
YELLOW = (255, 230, 0)  # caption highlight
HOOK_RED = (229, 22, 45)


def _ffmpeg(*args: str) -> None:
    subprocess.run([locate_ffmpeg(), "-y", "-loglevel", "error", *args], check=True)


def _still(path: Path, size: tuple[int, int], bgr: tuple[int, int, int]) -> str:
    image = np.zeros((size[1], size[0], 3), np.uint8)
    image[:] = bgr
    cv2.circle(image, (size[0] // 2, size[1] // 2), min(size) // 4, (200, 200, 80), -1)  # teal "product"
    cv2.rectangle(image, (20, 20), (size[0] - 20, 60), (30, 30, 30), -1)
    cv2.imwrite(str(path), image)
    return str(path)


@pytest.fixture(scope="module")
def material(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    root = tmp_path_factory.mktemp("material")
    images = [
        _still(root / "square.png", (800, 800), (150, 80, 40)),
        _still(root / "portrait.jpg", (600, 900), (60, 110, 30)),
        _still(root / "wide.png", (1200, 800), (120, 40, 110)),
    ]
    life = "life=s={}:mold=10:r=25:ratio=0.1:death_color=#102050:life_color=#30a050"
    wide, tall = str(root / "wide.mp4"), str(root / "tall.mp4")
    _ffmpeg("-f", "lavfi", "-i", life.format("640x360"), "-t", "5", "-c:v", "libx264", "-pix_fmt", "yuv420p", wide)
    _ffmpeg("-f", "lavfi", "-i", life.format("360x640"), "-t", "3", "-c:v", "libx264", "-pix_fmt", "yuv420p", tall)
    broken = root / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    return {"images": images, "videos": [wide, tall], "broken": [str(broken)]}


@pytest.fixture(scope="module")
def mug(material: dict[str, list[str]]) -> RemixProduct:
    return RemixProduct(
        id="mug-1",
        title="Insulated Stainless Steel Travel Mug 500ml",
        images=tuple(material["images"]),
        videos=tuple(material["videos"]),
        category="Home > Kitchen",
        attributes=("keeps drinks hot for 12 hours", "leak-proof lid", "material: 304 stainless steel"),
        price=89.0,
        coupon_price=59.9,
        sales=12_345,
    )


@pytest.fixture(scope="module")
def rendered(mug: RemixProduct, tmp_path_factory: pytest.TempPathFactory) -> RemixResult:
    out = tmp_path_factory.mktemp("remix") / "mug.mp4"
    return render_remix(mug, write_script(mug), out, RemixOptions(width=W, height=H), tts=get_tts("piper"))


def _frames(path: str, times: Sequence[float]) -> list[np.ndarray]:
    found: dict[float, np.ndarray] = {}
    with av.open(path) as container:
        for frame in container.decode(video=0):
            t = float(frame.time or 0.0)
            for want in times:
                if want not in found and t >= want - 1e-3:
                    found[want] = frame.to_ndarray(format="rgb24")
            if len(found) == len(set(times)):
                break
    return [found[t] for t in times]


def _count(region: np.ndarray, rgb: tuple[int, int, int], tolerance: int = 40) -> int:
    return int(np.all(np.abs(region.astype(np.int16) - np.array(rgb, np.int16)) <= tolerance, axis=2).sum())


def _band_passed_audio(path: str) -> np.ndarray:
    """Mono 16 kHz samples, 300-3400 Hz: speech stays, the kick and hats of the music mostly go."""
    pcm = subprocess.run(
        [
            locate_ffmpeg(),
            "-loglevel",
            "error",
            "-i",
            path,
            "-af",
            "highpass=f=300,lowpass=f=3400,aresample=16000",
            "-ac",
            "1",
            "-f",
            "s16le",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(pcm, np.int16).astype(np.float32) / 32768


def _rms_db(samples: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(samples.astype(np.float64) ** 2) + 1e-12))


def test_remix_probes_as_a_labelled_9x16_video_with_sound(rendered: RemixResult) -> None:
    info = probe(rendered.path)
    assert (info.display_width, info.display_height) == (W, H)
    assert info.video_codec == "h264" and info.has_audio and info.audio_codec == "aac"
    assert 15.0 <= info.duration <= 40.0
    assert abs(info.duration - rendered.voice.duration) < 0.15
    record = json.loads(info.tags["AIGC"])
    assert record["Label"] == "1" and record["ContentProducer"] == "mcn" and record["ProduceID"] == "mug-1-v0"
    assert "AI-generated" in info.tags["comment"]
    assert rendered.voice.voiced and rendered.music == "warm" and rendered.notes == ()


def test_cuts_follow_sentences_and_use_every_piece_of_material(rendered: RemixResult, mug: RemixProduct) -> None:
    shot_starts = {s.start for s in rendered.shots}
    assert all(line.start in shot_starts for line in rendered.voice.lines[1:])
    assert rendered.shots[0].start == 0 and rendered.shots[-1].end == pytest.approx(rendered.voice.duration)
    assert {s.material.path for s in rendered.shots} == set(mug.media)
    assert rendered.shots[0].material.kind == "video"  # moving picture under the hook
    # The picture really changes at a cut between two pieces of material, and not inside a still's shot.
    cut = next(s for s in rendered.shots[1:] if s.material.kind == "image")
    before, after, later = _frames(rendered.path, [cut.start - 0.15, cut.start + 0.1, cut.start + 0.5])
    band = slice(int(H * 0.3), int(H * 0.65))  # under the hook card and above the captions
    jump = np.abs(before[band].astype(int) - after[band].astype(int)).mean()
    drift = np.abs(after[band].astype(int) - later[band].astype(int)).mean()
    assert jump > 20 and drift < jump / 4, (jump, drift)


def test_a_pan_slides_the_picture_across_its_shot(rendered: RemixResult) -> None:
    """Pans are a crop sliding over the still scaled once (not zoompan): the product moves sideways through the
    shot, the way the pan says, by about the zoom's spare width (12 % of the frame), and does not change size."""
    pan = next(s for s in rendered.shots if s.motion in ("pan_right", "pan_left"))
    first, last = _frames(rendered.path, [pan.start + 0.1, pan.end - 0.15])
    band = slice(int(H * 0.3), int(H * 0.62))  # the product, between the hook card and the captions

    def teal(frame: np.ndarray) -> tuple[float, int]:
        mask = np.all(np.abs(frame[band].astype(np.int16) - np.array((80, 200, 200), np.int16)) <= 40, axis=2)
        xs = np.nonzero(mask)[1]
        return float(xs.mean()), int(mask.sum())

    (x0, area0), (x1, area1) = teal(first), teal(last)
    shift = x1 - x0
    expected = -1 if pan.motion == "pan_right" else 1  # the window moves right: the picture moves left
    assert shift * expected > 0.04 * W, (pan.motion, shift)
    assert abs(area1 - area0) < 0.1 * area0  # a pan, not a zoom


def test_captions_hook_card_label_and_product_card_are_burned(rendered: RemixResult) -> None:
    caption_band = slice(int(H * 0.62), int(H * 0.80))
    mids = [(c.start + c.end) / 2 for c in rendered.captions]
    last = rendered.voice.lines[-1]
    early = rendered.voice.lines[1].start + 0.3
    times = [*mids, 1.0, early, last.start + 0.8]
    frames = _frames(rendered.path, times)
    for t, frame in zip(mids, frames, strict=False):
        # The spoken word is highlighted yellow; the material has no yellow anywhere.
        assert _count(frame[caption_band], YELLOW) > 80, t
        assert _count(frame[: int(H * 0.55)], YELLOW) == 0, t
    hook, middle, card = frames[-3:]
    assert _count(hook[int(H * 0.1) : int(H * 0.35)], HOOK_RED) > 2000
    assert _count(middle[int(H * 0.1) : int(H * 0.35)], HOOK_RED) == 0
    # The AI label (white text on a dark box, top right) is on every frame read.
    for frame in frames:
        assert _count(frame[: int(H * 0.06), int(W * 0.55) :], (255, 255, 255), 30) > 40
    # The product card (a white box with the red price) shows under the last sentence only.
    card_band = slice(int(H * 0.56), int(H * 0.70))
    assert _count(card[card_band], (255, 255, 255), 12) > 3000
    assert _count(card[card_band], HOOK_RED, 50) > 100
    assert _count(middle[card_band], (255, 255, 255), 12) < 200


def test_voice_over_is_audible_and_aligned_to_the_caption_times(rendered: RemixResult) -> None:
    audio = _band_passed_audio(rendered.path)
    rate = 16000
    lines = rendered.voice.lines
    frames_db = np.array([_rms_db(audio[i : i + 480]) for i in range(0, len(audio) - 480, 480)])
    low, high = np.percentile(frames_db, [20, 90])
    onsets = speech_onsets(audio, rate, threshold_db=(low + high) / 2, min_silence=0.3)
    # Every caption line that opens a sentence starts within 0.3 s of a measured speech onset...
    openers = [c for c in rendered.captions if any(abs(c.start - line.start) < 1e-6 for line in lines)]
    assert len(openers) == len(lines)
    for caption in openers:
        nearest = min(onsets, key=lambda t: abs(t - caption.start))
        assert abs(nearest - caption.start) <= 0.3, (caption.start, nearest, caption.text)
    # ...and nothing sounds like a sentence starting where no line is.
    for onset in onsets:
        assert any(line.start - 0.3 <= onset <= line.end for line in lines), onset
    # Speech stands well above the ducked music; the music still plays in the gaps and the tail.
    speech = np.concatenate([audio[int(ln.start * rate) : int(ln.end * rate)] for ln in lines])
    spans = [(a.end + 0.05, b.start - 0.05) for a, b in itertools.pairwise(lines)]
    spans.append((lines[-1].end + 0.2, rendered.voice.duration - 0.2))
    between = np.concatenate([audio[int(a * rate) : int(b * rate)] for a, b in spans])
    assert len(between) > rate  # a second or more of music without speech
    assert _rms_db(speech) - _rms_db(between) >= 8.0
    assert _rms_db(between) > -50.0


def test_chinese_without_a_voice_gets_captions_and_music(
    material: dict[str, list[str]], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cup = RemixProduct(
        id="cup-zh",
        title="【爆款】保温杯 316不锈钢 大容量",
        images=tuple(material["images"][:2]),
        videos=tuple(material["broken"]),
        category="家居",
        attributes=("12小时长效保温", "316不锈钢内胆"),
        price=59.0,
    )
    result = render_remix(cup, write_script(cup), tmp_path / "cup.mp4", RemixOptions(width=W, height=H), tts=get_tts())
    assert not result.voice.voiced and result.music == "warm"
    assert any("has no zh voice" in n for n in result.notes)
    assert any("broken.mp4" in n and "skipped" in n for n in result.notes)
    info = probe(result.path)
    assert info.has_audio and 15.0 <= info.duration <= 40.0
    audio = _band_passed_audio(result.path)
    assert _rms_db(audio[16000 * 2 : 16000 * 12]) > -45.0  # music, not silence
    mid = (result.captions[0].start + result.captions[0].end) / 2
    (frame,) = _frames(result.path, [mid])
    assert _count(frame[int(H * 0.62) : int(H * 0.80)], YELLOW) > 80
    assert [p for p in tmp_path.iterdir()] == [tmp_path / "cup.mp4"]  # no temporary files left


def test_no_usable_material_is_one_line_and_writes_nothing(material: dict[str, list[str]], tmp_path: Path) -> None:
    bad = RemixProduct(
        id="bad", title="Nothing", images=(str(tmp_path / "gone.png"),), videos=tuple(material["broken"])
    )
    with pytest.raises(MaterialError) as err:
        render_remix(bad, write_script(bad), tmp_path / "bad.mp4", RemixOptions(width=W, height=H))
    assert str(err.value).startswith("product bad: no usable material") and "\n" not in str(err.value)
    assert list(tmp_path.iterdir()) == []
