"""Render one product remix: a 9:16 video from a product's images and short videos, voiced and captioned.

The parts, in one ffmpeg process after a little preparation in Python:

* the voice track (:mod:`remix.voiceover`): script lines synthesized sentence by sentence, so every sentence's
  start is known; its length (15-40 s) sets the video's;
* shots: the picture cuts at each sentence start (a shot longer than ``max_shot_seconds`` is split), and each shot
  takes the next unused piece of material (every image and video is used before any is reused; a video continues
  where its last shot stopped). Images move (slow zoom in/out or a pan, from a supersampled still that OpenCV
  composes once: cover-cropped when portrait, fitted over a blurred copy of itself when wider than 3:4); videos
  are cropped or fitted the same way;
* one ASS document (:func:`clipper.captions.build_ass`): word-highlighted captions on the voice's word times, the
  hook card for the first seconds, the AI label the whole time, plus the product card (name, current price) under
  the last sentence;
* audio: the voice over a shipped music loop (:mod:`remix.music`), the music ducked under the voice by
  ``sidechaincompress`` and faded out at the end; with no voice the music plays alone at a fuller level.

The file is labelled as AI-generated the same way :mod:`clipper.render` labels clips (burned label + ``AIGC``
metadata record). Like clips, a remix is written to a hidden temporary name, probed and only then renamed.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import shutil
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from clipper.captions import CaptionLine, CaptionStyle, build_ass, caption_lines, escape_ass_text
from clipper.errors import MediaError, RenderError
from clipper.ffmpeg import Command, Input, Output, Progress, escape_filter_value, locate_ffmpeg, run
from clipper.media import probe
from clipper.render import aigc_record
from clipper.types import MediaInfo
from remix.errors import MaterialError
from remix.music import Track, choose_music
from remix.products import RemixProduct
from remix.script import RemixScript, short_name
from remix.tts.base import TTSBackend
from remix.voiceover import VoiceOver, VoiceOverOptions, make_voiceover

__all__ = [
    "Material",
    "RemixOptions",
    "RemixResult",
    "Shot",
    "plan_shots",
    "prepare_material",
    "product_card_events",
    "render_remix",
]

Motion = Literal["zoom_in", "zoom_out", "pan_left", "pan_right", "pan_up", "none"]
_MOTIONS: tuple[Motion, ...] = ("zoom_in", "pan_right", "zoom_out", "pan_left", "pan_up")
_IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp"})
_REFERENCE_HEIGHT = 1920

ProgressCallback = Callable[[float], None]


@dataclass(frozen=True, slots=True)
class RemixOptions:
    """Settings of :func:`render_remix`.

    Size, encoding and labels work as in :class:`clipper.render.RenderOptions`. ``max_shot_seconds`` splits long
    sentences into several shots; ``zoom`` is how far an image zooms or how much room a pan has (1.12: 12 %);
    ``supersample`` is the still's size relative to the frame (zoompan moves in whole pixels of the still, so a
    larger still zooms more smoothly; pans slide a crop in whole output pixels). ``music`` off gives voice only;
    ``music_mood`` forces a mood; ``music_db`` is the music's gain under a voice (the loops are at -20 LUFS, the
    voice near -16), and ``music_alone_db`` its gain with no voice. ``currency`` prefixes the card's price.
    """

    width: int = 1080
    height: int = 1920
    fps: int = 30
    preset: str = "veryfast"
    crf: int = 21
    audio_bitrate: str = "128k"
    audio_rate: int = 48000
    ffmpeg: str | None = None
    caption_style: CaptionStyle = field(default_factory=CaptionStyle)
    font_family: str | None = None
    captions: bool = True
    provider: str = "mcn"
    produce_id_prefix: str = ""
    label_comment: str = "AI-generated content (AI生成内容), made by mcn from product material"
    threads: int = 0
    timeout: float | None = 900.0
    max_shot_seconds: float = 4.0
    zoom: float = 1.12
    supersample: float = 1.5
    music: bool = True
    music_mood: str | None = None
    music_db: float = -12.0
    music_alone_db: float = 0.0
    product_card: bool = True
    currency: str = "¥"
    voiceover: VoiceOverOptions = field(default_factory=VoiceOverOptions)
    duration_tolerance: float = 0.15

    def __post_init__(self) -> None:
        if self.width < 16 or self.height < 16 or self.width % 2 or self.height % 2:
            raise ValueError(f"output size must be even and at least 16x16, got {self.width}x{self.height}")
        if not 1 <= self.fps <= 60:
            raise ValueError(f"fps must be between 1 and 60, got {self.fps}")
        if self.max_shot_seconds < 1.0:
            raise ValueError("max_shot_seconds must be at least 1")
        if not 1.0 <= self.zoom <= 2.0 or not 1.0 <= self.supersample <= 3.0:
            raise ValueError("zoom must be in [1, 2] and supersample in [1, 3]")
        if self.audio_rate not in (44100, 48000):
            raise ValueError(f"audio_rate must be 44100 or 48000, got {self.audio_rate}")

    @property
    def style(self) -> CaptionStyle:
        if self.font_family and self.font_family != self.caption_style.font_family:
            return replace(self.caption_style, font_family=self.font_family)
        return self.caption_style


@dataclass(frozen=True, slots=True)
class Material:
    """One usable piece of product material: ``id`` is stable per product (``img0``, ``vid1``)."""

    id: str
    kind: Literal["image", "video"]
    path: str
    width: int
    height: int
    duration: float = 0.0


@dataclass(frozen=True, slots=True)
class Shot:
    """One cut of the remix: output ``start``/``end`` (seconds), the material shown and, for a video, the piece
    of it (``source_start``..``source_start + duration``), for an image the motion."""

    start: float
    end: float
    material: Material
    source_start: float = 0.0
    motion: Motion = "none"

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class RemixResult:
    """A rendered remix: the file, its probed size and length, and what is in it.

    ``shots`` record which material (ids and, for videos, time ranges) each cut shows: what a near-duplicate
    guard compares. ``captions`` are the burned caption lines (video seconds); ``voice`` the timed voice-over.
    """

    product_id: str
    variant: int
    path: str
    width: int
    height: int
    duration: float
    size_bytes: int
    script: RemixScript
    voice: VoiceOver
    music: str
    shots: tuple[Shot, ...]
    captions: tuple[CaptionLine, ...]
    notes: tuple[str, ...] = ()


def prepare_material(product: RemixProduct, ffmpeg: str | None = None) -> tuple[list[Material], list[str]]:
    """Check every image (decoded) and video (probed) of ``product``; return the usable ones and a note per bad one.

    Raises:
        MaterialError: nothing usable remains (the message names the product and the first problem).
    """
    usable: list[Material] = []
    notes: list[str] = []
    for n, path in enumerate(product.images):
        if not Path(path).is_file():
            notes.append(f"{path}: file not found, skipped")
            continue
        image = _read_image(path)
        if image is None:
            notes.append(f"{path}: not a readable image, skipped")
            continue
        usable.append(Material(f"img{n}", "image", path, int(image.shape[1]), int(image.shape[0])))
    for n, path in enumerate(product.videos):
        if Path(path).suffix.lower() in _IMAGE_SUFFIXES:
            notes.append(f"{path}: an image listed as a video, skipped")
            continue
        try:
            info = _probe_material(path)
        except MediaError as exc:
            notes.append(f"{path}: {exc.problem}, skipped")
            continue
        if info.duration < 0.5:
            notes.append(f"{path}: shorter than 0.5 s, skipped")
            continue
        usable.append(Material(f"vid{n}", "video", path, info.display_width, info.display_height, info.duration))
    if not usable:
        first = notes[0] if notes else "no images or videos"
        raise MaterialError(f"product {product.id}", f"no usable material ({first})")
    return usable, notes


@functools.lru_cache(maxsize=256)
def _probe_cached(path: str, size: int, mtime_ns: int) -> MediaInfo:
    return probe(path, require_audio=False)


def _probe_material(path: str) -> MediaInfo:
    """:func:`clipper.media.probe` of a material video, once per file version: a product's video is in many of its
    remixes, and the probe decodes the file's first and last frames (about 0.08 CPU s each time)."""
    try:
        stat = Path(path).stat()
    except OSError:
        return probe(path, require_audio=False)  # raises the one-line MediaError (file not found, ...)
    return _probe_cached(path, stat.st_size, stat.st_mtime_ns)


def plan_shots(
    voice: VoiceOver, material: Sequence[Material], options: RemixOptions, variant: int = 0
) -> tuple[Shot, ...]:
    """Cut the remix's timeline into shots at sentence starts and give each shot the next piece of material.

    The first sentence's shot starts at 0; each later one starts where its sentence's speech starts. A span longer
    than ``options.max_shot_seconds`` is split evenly. Material is taken in turn (rotated by ``variant``), videos
    preferred for the hook's shot; a video resumes where its previous shot ended and wraps at its end.
    """
    starts = [0.0] + [line.start for line in voice.lines[1:]]
    bounds = [*starts, voice.duration]
    spans: list[tuple[float, float]] = []
    for a, b in itertools.pairwise(bounds):
        if b - a <= 0:
            continue
        pieces = max(1, int(-(-(b - a) // options.max_shot_seconds)))
        step = (b - a) / pieces
        spans += [(a + k * step, a + (k + 1) * step) for k in range(pieces)]
    videos = [m for m in material if m.kind == "video"]
    order = list(material)
    if videos:
        # A moving picture under the hook holds the eye in the first second; images follow.
        order = [videos[0], *[m for m in material if m is not videos[0]]]
    shift = variant % len(order)
    order = order[shift:] + order[:shift] if shift else order
    position: dict[str, float] = {}
    shots: list[Shot] = []
    image_count = 0
    for k, (a, b) in enumerate(spans):
        item = order[k % len(order)]
        if item.kind == "video":
            offset = position.get(item.id, 0.0)
            if offset + (b - a) > item.duration + 1e-6:
                offset = 0.0  # wrap to the start; a shot longer than the whole video loops it
            position[item.id] = offset + (b - a)
            shots.append(Shot(round(a, 3), round(b, 3), item, round(offset, 3), "none"))
        else:
            motion = _MOTIONS[(image_count + variant) % len(_MOTIONS)]
            image_count += 1
            shots.append(Shot(round(a, 3), round(b, 3), item, 0.0, motion))
    return tuple(shots)


def product_card_events(
    product: RemixProduct, start: float, end: float, options: RemixOptions, style: CaptionStyle
) -> list[str]:
    """ASS ``Dialogue`` lines of the product card: the product's name and its current price (coupon price when
    there is one), on a white card just above the captions, from ``start`` to ``end``. No deadline or "tonight" text:
    the price shown is the one in the data at render time."""
    if end <= start:
        return []
    k = options.height / _REFERENCE_HEIGHT
    name = short_name(product)
    if product.lang == "en":
        name = name[0].upper() + name[1:]
    price = product.display_price
    rows = escape_ass_text(name)
    if price is not None:
        amount = f"{price:,.2f}" if price != int(price) else f"{int(price):,}"
        red = "&H2D16E5&"
        rows += f"\\N{{\\fs{round(96 * k)}\\1c{red}}}{escape_ass_text(options.currency + amount)}"
    x, y = options.width // 2, round(options.height * 0.63)
    # The Hook style's opaque box (BorderStyle 3), recoloured white with dark text: a card, not a second hook.
    tags = f"\\an5\\pos({x},{y})\\fs{round(64 * k)}\\1c&H202020&\\3c&HFFFFFF&\\4c&HFFFFFF&\\fad(200,0)"
    return [_dialogue(2, start, end, "Hook", f"{{{tags}}}{rows}")]


def _dialogue(layer: int, start: float, end: float, style: str, text: str) -> str:
    def stamp(seconds: float) -> str:
        cs = max(0, round(seconds * 100))
        h, rem = divmod(cs, 360_000)
        m, rem = divmod(rem, 6000)
        s, cs = divmod(rem, 100)
        return f"{h}:{m:02d}:{s:02d}.{cs:02d}"

    return f"Dialogue: {layer},{stamp(start)},{stamp(end)},{style},,0,0,0,,{text}"


def _even(value: float) -> int:
    return max(2, 2 * round(value / 2))


def _read_image(path: str) -> np.ndarray | None:
    """BGR pixels of an image file (EXIF rotation applied), or None when it does not decode."""
    try:
        data = np.fromfile(path, dtype=np.uint8)  # not cv2.imread: it cannot open non-ASCII paths everywhere
    except OSError:
        return None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    return image if image is not None and image.size else None


def _cover(image: np.ndarray, width: int, height: int) -> np.ndarray:
    scale = max(width / image.shape[1], height / image.shape[0])
    w, h = max(width, round(image.shape[1] * scale)), max(height, round(image.shape[0] * scale))
    resized = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    x, y = (w - width) // 2, (h - height) // 2
    return resized[y : y + height, x : x + width]


def _still(material: Material, path: Path, width: int, height: int) -> None:
    """Compose ``material`` (an image) into a ``width`` x ``height`` still: cover-cropped when it is portrait
    enough, else fitted over a blurred, darkened, zoomed copy of itself (nothing of the product is cut off)."""
    image = _read_image(material.path)
    if image is None:
        raise MaterialError(material.path, "not a readable image")
    if image.shape[1] / image.shape[0] <= 0.75:
        still = _cover(image, width, height)
    else:
        small = _cover(image, max(2, width // 8), max(2, height // 8))
        blurred = cv2.GaussianBlur(small, (0, 0), 4)
        still = (cv2.resize(blurred, (width, height), interpolation=cv2.INTER_LINEAR) * 0.7).astype(np.uint8)
        scale = min(width / image.shape[1], height / image.shape[0])
        fw, fh = min(width, round(image.shape[1] * scale)), min(height, round(image.shape[0] * scale))
        fitted = cv2.resize(image, (fw, fh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
        # A little above the centre: the lower part of the frame carries the captions.
        top, left = max(0, round((height - fh) * 0.42)), (width - fw) // 2
        still[top : top + fh, left : left + fw] = fitted
    if not cv2.imwrite(str(path), still):
        raise RenderError(str(path), "cannot write the prepared still")


def _image_chain(motion: Motion, frames: int, zoom: float, width: int, height: int, fps: int) -> str:
    """The filters moving a still over ``frames`` frames: ``zoompan`` for the zooms, a moving ``crop`` for pans.

    ``zoompan`` builds a new scaler and rescales the still for every frame; a pan's zoom is constant, so scaling
    the still once to ``zoom`` x the frame and sliding a frame-sized crop over it shows the same motion (the crop
    moves in whole output pixels, about 2 a frame at 12 fps) for a third of the filter CPU at 540x960.
    """
    z = zoom - 1.0
    last = max(1, frames - 1)
    if motion in ("zoom_in", "zoom_out"):
        progress = f"on/{last}"
        zx = f"1+{z:.4f}*{progress}" if motion == "zoom_in" else f"{zoom:.4f}-{z:.4f}*{progress}"
        x, y = "iw/2-(iw/zoom/2)", "ih/2-(ih/zoom/2)"
        return f"zoompan=z='{zx}':x='{x}':y='{y}':d={frames}:s={width}x{height}:fps={fps}"
    scale = zoom if motion != "none" else 1.0
    sw, sh = _even(width * scale), _even(height * scale)
    progress = f"n/{last}"
    x, y = "(iw-ow)/2", "(ih-oh)/2"
    if motion == "pan_right":
        x = f"(iw-ow)*{progress}"
    elif motion == "pan_left":
        x = f"(iw-ow)*(1-{progress})"
    elif motion == "pan_up":
        y = f"(ih-oh)*(1-{progress})"
    # The still is one frame: scaled and converted once, repeated, then cropped where the pan has got to.
    return (
        f"scale={sw}:{sh}:flags=bicubic,format=yuv420p,loop=loop={frames - 1}:size=1,setpts=N/{fps}/TB,"
        f"crop={width}:{height}:x='{x}':y='{y}'"
    )


def _video_chain(material: Material, options: RemixOptions, frames: int) -> str:
    w, h = options.width, options.height
    head = f"fps={options.fps},"
    if material.height and material.width / material.height <= 0.75:
        body = f"scale={w}:{h}:force_original_aspect_ratio=increase:flags=bicubic,crop={w}:{h},setsar=1"
    else:
        bw, bh = _even(w / 6), _even(h / 6)
        body = (
            f"scale={w}:{h}:force_original_aspect_ratio=decrease:force_divisible_by=2:flags=bicubic,setsar=1,"
            f"split=2[fg{{n}}][bg{{n}}];[bg{{n}}]scale={bw}:{bh}:force_original_aspect_ratio=increase,crop={bw}:{bh},"
            f"boxblur=luma_radius=8:luma_power=2:chroma_radius=4:chroma_power=2,eq=brightness=-0.08,"
            f"scale={w}:{h},setsar=1[blur{{n}}];[blur{{n}}][fg{{n}}]overlay=x=(W-w)/2:y=(H-h)*0.42,setsar=1"
        )
    return head + body + f",trim=end_frame={frames},setpts=PTS-STARTPTS"


def _frame_bounds(shots: Sequence[Shot], fps: int) -> list[int]:
    """Frames per shot from rounded cut frames, so the shots add up to exactly the video's frame count."""
    cuts = [round(s.start * fps) for s in shots] + [round(shots[-1].end * fps)]
    return [max(1, b - a) for a, b in itertools.pairwise(cuts)]


def _command(
    shots: Sequence[Shot],
    stills: dict[str, Path],
    voice: VoiceOver,
    music: Track | None,
    ass_path: Path | None,
    options: RemixOptions,
    metadata: tuple[tuple[str, str], ...],
    out: Path,
) -> Command:
    w, h = options.width, options.height
    inputs: list[Input] = []
    chains: list[str] = []
    frame_counts = _frame_bounds(shots, options.fps)
    for n, (shot, frames) in enumerate(zip(shots, frame_counts, strict=True)):
        seconds = frames / options.fps
        if shot.material.kind == "image":
            inputs.append(Input(str(stills[shot.material.id])))
            pan = _image_chain(shot.motion, frames, options.zoom, w, h, options.fps)
            chains.append(f"[{n}:v]{pan},setsar=1,format=yuv420p,setpts=PTS-STARTPTS[s{n}]")
        else:
            loop = ("-stream_loop", "-1") if shot.source_start + seconds > shot.material.duration - 0.05 else ()
            inputs.append(Input(shot.material.path, seek=shot.source_start, duration=seconds + 0.5, options=loop))
            chain = _video_chain(shot.material, options, frames).replace("{n}", str(n))
            chains.append(f"[{n}:v]{chain},format=yuv420p[s{n}]")
    joined = "".join(f"[s{n}]" for n in range(len(shots)))
    video = f"{joined}concat=n={len(shots)}:v=1:a=0"
    if ass_path is not None:
        video += f",ass=filename={escape_filter_value(str(ass_path))}"
        if options.style.fonts_dir:
            video += f":fontsdir={escape_filter_value(options.style.fonts_dir)}"
    graph = [*chains, f"{video}[v]"]

    duration = voice.duration
    rate = options.audio_rate
    fmt = f"aresample={rate},aformat=sample_fmts=fltp:channel_layouts=stereo"
    fade = f"afade=t=in:d=0.3,afade=t=out:st={max(0.0, duration - 1.2):.3f}:d=1.2"
    voice_index = music_index = -1
    if voice.path is not None:
        voice_index = len(inputs)
        inputs.append(Input(voice.path))
    if music is not None:
        music_index = len(inputs)
        inputs.append(Input(music.path, options=("-stream_loop", "-1")))
    if voice_index >= 0 and music_index >= 0:
        graph += [
            f"[{voice_index}:a]{fmt},apad,atrim=0:{duration:.3f},asplit=2[voice][key]",
            f"[{music_index}:a]{fmt},atrim=0:{duration:.3f},volume={options.music_db}dB[bed]",
            # The bed dips ~10 dB within 20 ms of a sentence starting and comes back over 400 ms after it ends.
            "[bed][key]sidechaincompress=threshold=0.03:ratio=8:attack=20:release=400[ducked]",
            f"[voice][ducked]amix=inputs=2:duration=first:normalize=0,{fade},alimiter=limit=0.95[a]",
        ]
    elif voice_index >= 0:
        graph.append(f"[{voice_index}:a]{fmt},apad,atrim=0:{duration:.3f}[a]")
    elif music_index >= 0:
        graph.append(f"[{music_index}:a]{fmt},atrim=0:{duration:.3f},volume={options.music_alone_db}dB,{fade}[a]")
    else:
        inputs.append(Input(f"anullsrc=r={rate}:cl=stereo", duration=duration, options=("-f", "lavfi")))
        graph.append(f"[{len(inputs) - 1}:a]{fmt}[a]")

    threads = ("-threads", str(options.threads)) if options.threads else ()
    video_opts = (
        "-c:v", "libx264", "-preset", options.preset, "-crf", str(options.crf),
        "-profile:v", "high", "-pix_fmt", "yuv420p", "-r", str(options.fps), "-g", str(options.fps * 2), *threads,
    )  # fmt: skip
    # The native AAC encoder's default two-loop search was about a third of the whole pass's CPU at the demo's
    # 540x960 / 12 fps / ultrafast (0.64 of 1.9 s a remix); its fast coder costs half that at the same bitrate.
    audio_opts = ("-c:a", "aac", "-aac_coder", "fast", "-b:a", options.audio_bitrate, "-ar", str(rate), "-ac", "2")
    container = (
        "-map_metadata", "-1", "-map_chapters", "-1", "-t", f"{duration:.3f}",
        "-movflags", "+faststart+use_metadata_tags", "-f", "mp4",
    )  # fmt: skip
    return Command(
        inputs=tuple(inputs),
        filter_complex=";".join(graph),
        outputs=(Output(str(out), ("[v]", "[a]"), (*video_opts, *audio_opts, *container), metadata),),
        binary=locate_ffmpeg(options.ffmpeg),
    )


def render_remix(
    product: RemixProduct,
    script: RemixScript,
    out_path: Path,
    options: RemixOptions | None = None,
    *,
    tts: TTSBackend | None = None,
    variant: int = 0,
    on_progress: ProgressCallback | None = None,
) -> RemixResult:
    """Render one remix of ``product`` speaking ``script`` into ``out_path`` (an ``.mp4``) and verify it.

    Args:
        product: its images/videos are the material; name and current price go on the product card; its
            category picks the music mood.
        script: the lines to voice and caption (:func:`remix.script.write_script`); ``script.hook`` is the card.
        out_path: where the video goes (its folder is created); an existing file is replaced.
        options: size, encoding, timing, music and labels.
        tts: the voice (:func:`remix.tts.get_tts`); None, or a backend without a voice for the script's language,
            renders captions + music only (the result's ``notes`` say so).
        variant: rotates material order, image motions and music mood (with ``options.music_mood`` unset).
        on_progress: called with the seconds of video written so far.

    Returns:
        The :class:`RemixResult`, with the probed size and duration of the written file.

    Raises:
        MaterialError: none of the product's images or videos is usable.
        RenderError: ffmpeg failed or the output does not probe as planned; nothing is left at ``out_path``.
    """
    options = options or RemixOptions()
    out_path = Path(out_path)
    subject = f"remix {product.id}"
    material, notes = prepare_material(product, options.ffmpeg)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:8]
    work = out_path.parent / f".{out_path.stem}.{token}.work"
    tmp_path = out_path.with_name(f".{out_path.stem}.{token}.part.mp4")
    work.mkdir()
    try:
        voice = make_voiceover(script.lines, script.language, work / "voice.wav", tts, options.voiceover)
        if voice.note:
            notes.append(voice.note)
        shots = plan_shots(voice, material, options, variant)
        sw, sh = _even(options.width * options.supersample), _even(options.height * options.supersample)
        stills: dict[str, Path] = {}
        for item in material:
            if item.kind == "image" and any(s.material.id == item.id for s in shots):
                # BMP, not PNG: no deflate to write here or to inflate in ffmpeg, which opens a still once per shot.
                stills[item.id] = work / f"{item.id}.bmp"
                _still(item, stills[item.id], sw, sh)
        track = choose_music(product.category, variant, options.music_mood) if options.music else None
        style = options.style
        words = voice.words
        ass_path: Path | None = None
        if options.captions:
            document = build_ass(
                words, 0.0, voice.duration, hook=script.hook, style=style, width=options.width, height=options.height
            )
            if options.product_card and voice.lines:
                card_start = voice.lines[-1].start if len(voice.lines) > 1 else max(0.0, voice.duration - 3.0)
                document += "\n".join(product_card_events(product, card_start, voice.duration, options, style)) + "\n"
            ass_path = work / "captions.ass"
            ass_path.write_text(document, encoding="utf-8")
        record = aigc_record(f"{options.produce_id_prefix}{product.id}-v{variant}", options.provider)
        metadata = (
            ("title", script.title),
            ("comment", options.label_comment),
            ("description", f"{options.label_comment}. {script.hook}".strip()),
            ("AIGC", json.dumps(record, ensure_ascii=False, separators=(",", ":"))),
        )
        command = _command(shots, stills, voice, track, ass_path, options, metadata, tmp_path)

        def report(progress: Progress) -> None:
            if on_progress is not None:
                on_progress(min(max(progress.out_seconds, 0.0), voice.duration))

        run(command, subject=subject, timeout=options.timeout, on_progress=report if on_progress else None)
        info = _verify(tmp_path, voice.duration, options, subject)
        os.replace(tmp_path, out_path)
    finally:
        tmp_path.unlink(missing_ok=True)
        shutil.rmtree(work, ignore_errors=True)
    captions = caption_lines(words, 0.0, voice.duration, style) if options.captions else ()
    return RemixResult(
        product_id=product.id,
        variant=variant,
        path=str(out_path),
        width=info.display_width,
        height=info.display_height,
        duration=info.duration,
        size_bytes=out_path.stat().st_size,
        script=script,
        voice=replace(voice, path=None),  # the track was a temporary file
        music=track.mood if track else "none",
        shots=shots,
        captions=captions,
        notes=tuple(notes),
    )


def _verify(path: Path, duration: float, options: RemixOptions, subject: str) -> MediaInfo:
    try:
        info = probe(path)
    except MediaError as exc:
        raise RenderError(subject, f"output does not probe: {exc.problem}") from None
    problems: list[str] = []
    if (info.display_width, info.display_height) != (options.width, options.height):
        problems.append(f"size {info.display_width}x{info.display_height}, expected {options.width}x{options.height}")
    if abs(info.duration - duration) > options.duration_tolerance:
        problems.append(f"duration {info.duration:.3f} s, expected {duration:.3f} s")
    if info.video_codec != "h264":
        problems.append(f"video codec {info.video_codec or 'none'}, expected h264")
    if problems:
        raise RenderError(subject, "output check failed: " + "; ".join(problems))
    return info
