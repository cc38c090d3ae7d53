"""Render planned clips as 1080x1920 H.264/AAC files with burned captions, in one ffmpeg process per clip.

One process does everything: fast input seek, reframing to 9:16 (a centre crop, or the whole picture over a
blurred, zoomed copy of itself), constant frame rate, captions through libass, x264 + AAC encoding and the
AI-content labels. MoviePy-style pipelines that decode to Python, composite there and pipe frames back to
ffmpeg are an order of magnitude slower (see ``bench/bench_render.py``).

Every clip is labelled as AI-generated twice, as China's *Measures for Labeling AI-Generated Synthetic
Content* (2025) and GB 45438-2025 ask: an explicit label burned into the picture for the whole clip (see
:mod:`clipper.captions`), and an implicit one in the file metadata: an ``AIGC`` tag holding the JSON record
the standard describes, next to plain ``comment``/``description`` tags that say the same in words.

A render either produces a complete, verified file or raises :class:`~clipper.errors.RenderError`: ffmpeg
writes to a hidden temporary name next to the output, the result is probed (size, duration, streams) and only
then renamed into place.

Edits that join several ranges of a recording, and presentation variants of an edit rendered from one decode,
are in :mod:`clipper.edits`; they share this module's framing, labels and encoder settings.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from clipper.captions import CaptionStyle, build_ass
from clipper.errors import MediaError, RenderError
from clipper.ffmpeg import Command, Input, Output, Progress, escape_filter_value, locate_ffmpeg, run
from clipper.media import probe
from clipper.types import MediaInfo, PlannedClip, RenderedClip, Word

__all__ = [
    "ProgressCallback",
    "RenderOptions",
    "aigc_label",
    "aigc_record",
    "choose_layout",
    "render_clip",
    "render_clips",
]

Layout = Literal["auto", "crop", "pad"]
#: How a picture becomes the output frame: ``zoom`` is a centred crop closer than ``crop`` (edit variants).
FrameLayout = Literal["crop", "pad", "zoom"]

#: Receives the seconds of the clip written so far (0 to the clip's duration), about twice a second.
ProgressCallback = Callable[[float], None]

# Background of the blurred-pad layout: scaled down to this fraction of the output before blurring, so the blur
# and the colour work run on ~1/36 of the pixels; scaling back up smooths it further for free.
_BACKGROUND_DIVISOR = 6


@dataclass(frozen=True, slots=True)
class RenderOptions:
    """Settings for :func:`render_clip`.

    ``layout`` ``auto`` lets :func:`choose_layout` decide per source: ``crop`` cuts a centred 9:16 window,
    ``pad`` fits the whole picture into the width over a blurred background. ``crop_max_aspect`` is the widest
    display aspect (width / height) that ``auto`` still crops: at 0.75 a crop keeps at least 75 % of the width.

    ``font_family``, when set, replaces ``caption_style.font_family`` (a shortcut for the one style setting
    that depends on the host). ``provider`` is the ``ContentProducer`` of the AIGC metadata record;
    ``produce_id_prefix`` is put before the clip id to form its ``ProduceID``. ``threads`` caps ffmpeg's
    threads (0: ffmpeg decides, one per core). ``timeout`` is per clip, in seconds.
    """

    width: int = 1080
    height: int = 1920
    fps: int = 30
    preset: str = "veryfast"
    crf: int = 21
    audio_bitrate: str = "128k"
    audio_rate: int = 44100
    layout: Layout = "auto"
    crop_max_aspect: float = 0.75
    ffmpeg: str | None = None
    caption_style: CaptionStyle = field(default_factory=CaptionStyle)
    font_family: str | None = None
    captions: bool = True
    provider: str = "mcn"
    produce_id_prefix: str = ""
    label_comment: str = "AI-generated content (AI生成内容), made by mcn from a livestream recording"
    threads: int = 0
    duration_tolerance: float = 0.15
    timeout: float | None = 900.0

    def __post_init__(self) -> None:
        if self.width < 16 or self.height < 16 or self.width % 2 or self.height % 2:
            raise ValueError(f"output size must be even and at least 16x16, got {self.width}x{self.height}")
        if not 1 <= self.fps <= 120:
            raise ValueError(f"fps must be between 1 and 120, got {self.fps}")
        if not 0 <= self.crf <= 51:
            raise ValueError(f"crf must be between 0 and 51, got {self.crf}")
        if self.layout not in ("auto", "crop", "pad"):
            raise ValueError(f"layout must be auto, crop or pad, got {self.layout!r}")
        if self.audio_rate not in (44100, 48000):
            raise ValueError(f"audio_rate must be 44100 or 48000, got {self.audio_rate}")
        if self.threads < 0:
            raise ValueError("threads must be 0 (automatic) or more")
        if self.duration_tolerance < 0:
            raise ValueError("duration_tolerance must not be negative")

    @property
    def style(self) -> CaptionStyle:
        """The caption style with ``font_family`` applied."""
        if self.font_family and self.font_family != self.caption_style.font_family:
            return replace(self.caption_style, font_family=self.font_family)
        return self.caption_style


def choose_layout(info: MediaInfo, options: RenderOptions) -> Literal["crop", "pad"]:
    """Pick how ``info``'s picture becomes a 9:16 frame: ``crop`` or blurred-background ``pad``.

    ``options.layout`` wins unless it is ``auto``. Otherwise a source whose display aspect (after its rotation:
    a phone video stored landscape with a 90 degree rotation is portrait) is at most
    ``options.crop_max_aspect`` is cropped, since a centred 9:16 window still holds the subject; anything wider
    (a 16:9 or square stream) is padded so nothing is cut off.
    """
    if options.layout != "auto":
        return options.layout
    if info.display_width <= 0 or info.display_height <= 0:
        raise RenderError(info.path, "source has no video frame size")
    return "crop" if info.display_width / info.display_height <= options.crop_max_aspect else "pad"


def aigc_label(plan: PlannedClip, options: RenderOptions) -> dict[str, str]:
    """The implicit AI-content label of one clip, as GB 45438-2025's metadata record (all values strings).

    ``Label`` ``"1"`` means the content is AI-generated; ``ContentProducer``/``ProduceID`` name who made it
    and which item this is; the propagator fields are left for the platform that distributes it.
    """
    return aigc_record(f"{options.produce_id_prefix}{plan.id}", options.provider)


def aigc_record(produce_id: str, provider: str) -> dict[str, str]:
    """GB 45438-2025's implicit-label record for any AI-generated item (a clip, a product remix)."""
    return {
        "Label": "1",
        "ContentProducer": provider,
        "ProduceID": produce_id,
        "ReservedCode1": "",
        "ContentPropagator": "",
        "PropagateID": "",
        "ReservedCode2": "",
    }


def render_clip(
    source: MediaInfo,
    plan: PlannedClip,
    transcript_words: Sequence[Word],
    out_path: Path,
    options: RenderOptions,
    *,
    on_progress: ProgressCallback | None = None,
) -> RenderedClip:
    """Render ``plan`` from ``source`` into ``out_path`` (an ``.mp4``) and verify the result.

    Args:
        source: the probed recording (:func:`clipper.media.probe`); its display size picks the layout.
        plan: the clip range (source seconds), its hook text and id.
        transcript_words: the recording's words (source times); those inside the clip become the captions.
        out_path: where the clip goes; its folder is created. An existing file is replaced.
        options: size, encoding, layout, captions and labels.
        on_progress: called with the seconds of the clip written so far, about twice a second.

    Returns:
        The rendered clip with the size and duration probed from the written file.

    Raises:
        RenderError: ffmpeg failed or timed out, or the output does not probe as ``options`` asked (size, a
            duration within ``options.duration_tolerance`` of the plan's, an H.264 video and an audio stream).
            No file is left at ``out_path`` then, nor any temporary file.
    """
    out_path = Path(out_path)
    subject = f"clip {plan.id}"
    _check_plan(source, plan, subject)
    layout = choose_layout(source, options)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:8]
    # Hidden names in the output folder: the rename is atomic (same file system) and a crash leaves nothing a
    # listing of finished clips would pick up.
    ass_path = out_path.with_name(f".{out_path.stem}.{token}.ass")
    tmp_path = out_path.with_name(f".{out_path.stem}.{token}.part.mp4")
    try:
        if options.captions:
            document = build_ass(
                transcript_words,
                plan.source_start,
                plan.source_end,
                hook=plan.hook,
                style=options.style,
                width=options.width,
                height=options.height,
            )
            ass_path.write_text(document, encoding="utf-8")
        command = _command(source, plan, layout, options, ass_path if options.captions else None, tmp_path)

        def report(progress: Progress) -> None:
            if on_progress is not None:
                on_progress(min(max(progress.out_seconds, 0.0), plan.duration))

        run(
            command,
            subject=subject,
            timeout=options.timeout,
            on_progress=report if on_progress is not None else None,
        )
        info = _verify(tmp_path, plan.duration, options, subject)
        os.replace(tmp_path, out_path)
    finally:
        for leftover in (ass_path, tmp_path):
            leftover.unlink(missing_ok=True)
    return RenderedClip(
        plan=plan,
        path=str(out_path),
        width=info.width,
        height=info.height,
        duration=info.duration,
        size_bytes=out_path.stat().st_size,
    )


def render_clips(
    source: MediaInfo,
    plans: Sequence[PlannedClip],
    words: Sequence[Word],
    out_dir: Path,
    options: RenderOptions,
    on_progress: ProgressCallback | None = None,
) -> list[RenderedClip]:
    """Render every plan into ``out_dir / f"{plan.id}.mp4"``, one after another.

    ``on_progress`` receives the seconds rendered so far summed over all clips (the total is the sum of the
    plans' durations). The first failure raises; clips already rendered stay on disk.
    """
    done = 0.0
    rendered: list[RenderedClip] = []
    for plan in plans:

        def report(seconds: float, base: float = done) -> None:
            if on_progress is not None:
                on_progress(base + seconds)

        rendered.append(
            render_clip(
                source,
                plan,
                words,
                Path(out_dir) / f"{plan.id}.mp4",
                options,
                on_progress=report if on_progress is not None else None,
            )
        )
        done += plan.duration
    return rendered


def _check_plan(source: MediaInfo, plan: PlannedClip, subject: str) -> None:
    if not Path(source.path).is_file():
        raise RenderError(subject, f"source {source.path} not found")
    if not source.has_video:
        raise RenderError(subject, f"source {source.path} has no video stream")
    if plan.source_start < 0 or plan.duration <= 0:
        raise RenderError(subject, f"invalid range {plan.source_start:.3f}-{plan.source_end:.3f} s")
    if plan.source_end > source.duration + 0.05:
        raise RenderError(
            subject, f"range ends at {plan.source_end:.3f} s, after the source's end ({source.duration:.3f} s)"
        )


def _video_graph(layout: Literal["crop", "pad"], options: RenderOptions, ass_path: Path | None) -> str:
    """The video part of the filter graph, ``[0:v]`` to ``[v]``.

    ffmpeg has already applied the source's display rotation when frames enter the graph, so ``iw``/``ih``
    are display sizes. ``fps`` comes first: it turns variable-rate phone and stream recordings into constant
    frames (what platforms and x264's rate control expect) and drops surplus frames of 50/60 fps sources
    before any scaling work. A 4K source is scaled exactly once, straight to its final size.
    """
    head = f"[0:v]fps={options.fps}," + _frame_chain(layout, options, tag="")
    if ass_path is None:
        return head + "[v]"
    return f"{head},{_ass_filter(ass_path, options.style)}[v]"


def _frame_chain(layout: FrameLayout, options: RenderOptions, *, tag: str, zoom: float = 1.0) -> str:
    """Filters that turn the current picture into the output frame (no input label, no output label).

    ``crop`` cuts a centred window of the output's aspect, ``zoom`` a window ``zoom`` times smaller (a closer
    shot of the same centre); either is then scaled once (crop only moves pointers, so it costs nothing).
    ``pad`` fits the whole picture and puts it over a blurred copy; ``tag`` keeps its internal labels unique
    when one graph frames several variants.
    """
    w, h = options.width, options.height
    if layout in ("crop", "zoom"):
        z = zoom if layout == "zoom" else 1.0
        return (
            f"crop=w='min(iw,ih*{w}/{h})/{z:g}':h='min(ih,iw*{h}/{w})/{z:g}',"
            f"scale={w}:{h}:flags=bicubic,format=yuv420p,setsar=1"
        )
    bw, bh = _even(w / _BACKGROUND_DIVISOR), _even(h / _BACKGROUND_DIVISOR)
    # The picture is scaled once to fit the frame; the background is made from that small copy (zoomed to
    # fill, blurred and darkened at 1/36 of the output's pixels, then scaled up), not from the full source.
    return (
        f"scale={w}:{h}:force_original_aspect_ratio=decrease:force_divisible_by=2:flags=bicubic,"
        f"format=yuv420p,setsar=1,split=2[fg{tag}][bg{tag}];"
        f"[bg{tag}]scale={bw}:{bh}:force_original_aspect_ratio=increase:flags=bilinear,crop={bw}:{bh},"
        f"boxblur=luma_radius=8:luma_power=2:chroma_radius=4:chroma_power=2,eq=brightness=-0.08,"
        f"scale={w}:{h}:flags=bilinear,setsar=1[blur{tag}];"
        f"[blur{tag}][fg{tag}]overlay=x=(W-w)/2:y=(H-h)/2:format=yuv420,setsar=1"
    )


def _ass_filter(ass_path: Path, style: CaptionStyle) -> str:
    ass = f"ass=filename={escape_filter_value(str(ass_path))}"
    if style.fonts_dir:
        ass += f":fontsdir={escape_filter_value(style.fonts_dir)}"
    return ass


def _command(
    source: MediaInfo,
    plan: PlannedClip,
    layout: Literal["crop", "pad"],
    options: RenderOptions,
    ass_path: Path | None,
    out: Path,
) -> Command:
    inputs = [Input(source.path, seek=plan.source_start, duration=plan.duration)]
    graph = _video_graph(layout, options, ass_path)
    # aresample async fills gaps in the audio timestamps of stream recordings with silence, and first_pts=0
    # pads a late audio start, so sound stays in sync with the picture over the whole clip.
    audio_chain = f"aresample={options.audio_rate}:async=1:first_pts=0,aformat=channel_layouts=stereo[a]"
    if source.has_audio:
        graph += f";[0:a:0]{audio_chain}"
    else:
        # Platforms reject a video without a sound track: give it silence.
        inputs.append(
            Input(f"anullsrc=r={options.audio_rate}:cl=stereo", duration=plan.duration, options=("-f", "lavfi"))
        )
        graph += f";[1:a]{audio_chain}"
    return Command(
        inputs=tuple(inputs),
        filter_complex=graph,
        outputs=(
            Output(
                str(out),
                maps=("[v]", "[a]"),
                options=_encode_options(options, plan.duration),
                metadata=_metadata(plan.title, plan.hook, options, aigc_label(plan, options)),
            ),
        ),
        binary=locate_ffmpeg(options.ffmpeg),
    )


def _metadata(title: str, hook: str, options: RenderOptions, label: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """The output's tags: the title, the AI label in words, and the AIGC record (the implicit label)."""
    return (
        ("title", title),
        ("comment", options.label_comment),
        ("description", f"{options.label_comment}. {hook}".strip()),
        # Separators without spaces: the compact form the standard's examples use.
        ("AIGC", json.dumps(label, ensure_ascii=False, separators=(",", ":"))),
    )


def _encode_options(options: RenderOptions, duration: float) -> tuple[str, ...]:
    """x264 + AAC settings and the container options of one output ``duration`` seconds long."""
    threads = ("-threads", str(options.threads)) if options.threads else ()
    video_opts = (
        "-c:v", "libx264", "-preset", options.preset, "-crf", str(options.crf),
        "-profile:v", "high", "-pix_fmt", "yuv420p", "-r", str(options.fps),
        # One keyframe every two seconds: platforms' players seek and start faster, at a small size cost.
        "-g", str(options.fps * 2),
        *threads,
    )  # fmt: skip
    audio_opts = ("-c:a", "aac", "-b:a", options.audio_bitrate, "-ar", str(options.audio_rate), "-ac", "2")
    container_opts = (
        # Drop the source's tags (phone GPS, a platform's own labels) and chapters: only ours describe the clip.
        "-map_metadata", "-1", "-map_chapters", "-1",
        "-t", f"{duration:.3f}",
        # faststart: moov before mdat, so a clip plays while it downloads; use_metadata_tags: write any key
        # (AIGC) instead of only iTunes' fixed set.
        "-movflags", "+faststart+use_metadata_tags",
        "-f", "mp4",
    )  # fmt: skip
    return (*video_opts, *audio_opts, *container_opts)


def _verify(path: Path, duration: float, options: RenderOptions, subject: str) -> MediaInfo:
    """Probe the written file; raise :class:`RenderError` unless it is what ``options`` promise, ``duration`` long."""
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
    if not info.has_audio:
        problems.append("no audio stream")
    if problems:
        raise RenderError(subject, "output check failed: " + "; ".join(problems))
    return info


def _even(value: float) -> int:
    return max(2, 2 * round(value / 2))
