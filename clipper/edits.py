"""Render edits: several ranges of one recording joined into one video, and presentation variants of an edit.

An *edit* recombines a product's selling-point segments from across a stream (see :mod:`publisher.capacity`):
:func:`render_edit` seeks to each range (one ffmpeg input per range, so footage between them is never decoded),
trims every segment to whole frames, joins them with the ``concat`` filter, frames the result for 9:16 and burns
the captions (the words spoken in each range, re-timed to where it plays; no caption line crosses a join), the
hook card and the AI label, and writes the AIGC metadata record, all in one ffmpeg process, like
:func:`clipper.render.render_clip`.

*Presentation variants* of one edit (:class:`Presentation`: caption style, crop / pad / zoomed crop, an intro
card, the hook text) are for A/B tests of hooks and looks. :func:`render_variants` renders K of them from ONE
decode: the joined picture and sound are ``split`` K ways inside the same filter graph, each branch framed,
captioned and encoded to its own file. They never differ by hash-evasion tricks (mirroring, noise,
imperceptible speed or colour shifts, invisible borders): they show the same footage, a perceptual hash
(:mod:`clipper.vpdq`) sees near-duplicates, and the plan's footage guard sends them to other platforms or days.
"""

from __future__ import annotations

import itertools
import math
import os
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from clipper.captions import CaptionStyle, build_ass
from clipper.errors import RenderError
from clipper.ffmpeg import Command, Input, Output, Progress, locate_ffmpeg, run
from clipper.render import (
    FrameLayout,
    ProgressCallback,
    RenderOptions,
    _ass_filter,
    _encode_options,
    _frame_chain,
    _metadata,
    _verify,
    aigc_record,
    choose_layout,
)
from clipper.types import MediaInfo, Word

__all__ = ["Presentation", "RenderedEdit", "render_edit", "render_variants"]

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")
_HEX_COLOUR = re.compile(r"^#[0-9A-Fa-f]{6}$")


@dataclass(frozen=True, slots=True)
class Presentation:
    """How one variant of an edit looks. The footage (the ranges and their order) is the edit's and never changes.

    Variants differ in what a viewer sees and reads: captions, framing, an intro card, the hook. Nothing here
    disguises a copy (no mirroring, noise, speed or colour shifts, invisible borders): two presentations of one
    edit show the same footage, so the posting plan's footage guard treats them as one post's material.

    Attributes:
        name: the variant's name (letters, digits, ``_``, ``-``): its AIGC ``ProduceID`` is the edit id, ``-``,
            this name.
        layout: ``auto`` (:func:`choose_layout` on the source), ``crop`` (a centred 9:16 window), ``pad`` (the
            whole picture over a blurred copy) or ``zoom`` (a centred window ``zoom`` times closer than ``crop``).
        zoom: how much closer ``zoom`` is than ``crop``, 1.05 to 2.
        caption_style: the captions', hook's and label's look; ``None``: the render options' style.
        hook: the hook card's text; ``None``: the edit's hook, ``""``: no hook card.
        intro: text of an intro card put before the footage: ``intro_seconds`` of a plain ``intro_colour`` screen
            with the text, silent; the edit's picture and sound follow. ``""``: no intro.
        intro_seconds: how long the intro card lasts.
        intro_colour: the card's ``#RRGGBB`` background.
    """

    name: str = "a"
    layout: Literal["auto", "crop", "pad", "zoom"] = "auto"
    zoom: float = 1.3
    caption_style: CaptionStyle | None = None
    hook: str | None = None
    intro: str = ""
    intro_seconds: float = 1.5
    intro_colour: str = "#1F1F2E"

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"presentation name must be 1-40 letters, digits, _ or -, got {self.name!r}")
        if self.layout not in ("auto", "crop", "pad", "zoom"):
            raise ValueError(f"layout must be auto, crop, pad or zoom, got {self.layout!r}")
        if not 1.05 <= self.zoom <= 2.0:
            raise ValueError(f"zoom must be between 1.05 and 2, got {self.zoom}")
        if not 0.5 <= self.intro_seconds <= 5.0:
            raise ValueError(f"intro_seconds must be between 0.5 and 5, got {self.intro_seconds}")
        if not _HEX_COLOUR.match(self.intro_colour):
            raise ValueError(f"intro_colour must be a #RRGGBB colour, got {self.intro_colour!r}")


@dataclass(frozen=True, slots=True)
class RenderedEdit:
    """One rendered presentation of an edit, with what probing the written file found.

    ``ranges`` are the source seconds it shows, in playing order (a :class:`publisher.footage.Footage`'s ranges
    with the recording's id); ``intro_seconds`` of intro card come before them.
    """

    edit_id: str
    presentation: Presentation
    path: str
    ranges: tuple[tuple[float, float], ...]
    hook: str
    intro_seconds: float
    width: int
    height: int
    duration: float
    size_bytes: int


def render_edit(
    source: MediaInfo,
    ranges: Sequence[tuple[float, float]],
    transcript_words: Sequence[Word],
    out_path: Path,
    options: RenderOptions,
    *,
    edit_id: str,
    hook: str = "",
    title: str = "",
    presentation: Presentation | None = None,
    on_progress: ProgressCallback | None = None,
) -> RenderedEdit:
    """Render an edit, several ranges of one recording played one after another, into ``out_path`` and verify it.

    One ffmpeg process seeks to each range (one input per range, so footage between ranges is never decoded),
    trims every segment to whole frames, joins them with the ``concat`` filter, frames the result for 9:16 and
    burns the captions, hook card and AI label; the file carries the AIGC metadata record like a clip.
    Captions are the words spoken inside each range, re-timed to where that range plays in the edit; no caption
    line crosses a join.

    Args:
        source: the probed recording (:func:`clipper.media.probe`).
        ranges: ``(start, end)`` source seconds in playing order (any order; they may not overlap).
        transcript_words: the recording's words (source times).
        out_path: where the edit goes (an ``.mp4``); its folder is created, an existing file replaced.
        options: size, encoding, default layout and caption style, labels.
        edit_id: the edit's id: the AIGC ``ProduceID`` (after ``options.produce_id_prefix``).
        hook: the hook card's text (a presentation's ``hook`` overrides it); empty for none.
        title: the file's ``title`` tag.
        presentation: caption style, layout, intro card; ``None``: the options' defaults, no intro.
        on_progress: called with the seconds written so far (0 to the output's duration).

    Returns:
        The rendered edit; its duration is the ranges' total (plus the intro), whole frames.

    Raises:
        RenderError: a bad range (empty, negative, past the source's end, overlapping another), ffmpeg failed
            or timed out, or the output does not probe as asked. No file is left at ``out_path`` then.
    """
    (rendered,) = _render_edit_outputs(
        source,
        ranges,
        transcript_words,
        [(Path(out_path), presentation or Presentation(), f"{options.produce_id_prefix}{edit_id}")],
        options,
        edit_id=edit_id,
        hook=hook,
        title=title,
        on_progress=on_progress,
    )
    return rendered


def render_variants(
    source: MediaInfo,
    ranges: Sequence[tuple[float, float]],
    transcript_words: Sequence[Word],
    out_dir: Path,
    options: RenderOptions,
    presentations: Sequence[Presentation],
    *,
    edit_id: str,
    hook: str = "",
    title: str = "",
    on_progress: ProgressCallback | None = None,
) -> list[RenderedEdit]:
    """Render K presentation variants of one edit from ONE decode of its footage: ``out_dir/<edit_id>-<name>.mp4``.

    One ffmpeg process decodes and joins the edit's ranges once (as :func:`render_edit`), then ``split``s the
    joined picture and sound K ways; each branch gets its own framing, intro card and captions and its own
    encoder, and all K files are written in the same pass. Decoding, seeking and joining are paid once instead
    of K times (``bench/bench_variants.py`` measures it against K :func:`render_edit` calls).

    The variants are presentation-only: they show the same footage, so a perceptual hash sees near-duplicates
    and the plan's footage guard sends them to other platforms or days; they are for A/B tests of hooks and
    looks, not extra posts of one day.

    Args:
        source, ranges, transcript_words, options, edit_id, hook, title, on_progress: as :func:`render_edit`.
        out_dir: the folder the variants go to (created).
        presentations: one per variant, distinct names.

    Returns:
        The variants in the order of ``presentations``.

    Raises:
        RenderError: as :func:`render_edit`; also no presentations or a repeated name. Either every variant
            is written and verified, or none is left in ``out_dir``.
    """
    if not presentations:
        raise RenderError(f"edit {edit_id}", "no presentations to render")
    names = [p.name for p in presentations]
    if len(set(names)) != len(names):
        raise RenderError(f"edit {edit_id}", f"presentation names repeat: {', '.join(names)}")
    outputs = [
        (Path(out_dir) / f"{edit_id}-{p.name}.mp4", p, f"{options.produce_id_prefix}{edit_id}-{p.name}")
        for p in presentations
    ]
    return _render_edit_outputs(
        source, ranges, transcript_words, outputs, options, edit_id=edit_id, hook=hook, title=title,
        on_progress=on_progress,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Cut:
    """One range of an edit: its source span and the whole frames (and audio samples) it fills in the output."""

    start: float
    end: float
    offset: float  # where it starts in the edit, seconds (on a frame boundary)
    frames: int
    samples: int


def _cuts(source: MediaInfo, ranges: Sequence[tuple[float, float]], options: RenderOptions, subject: str) -> list[_Cut]:
    """Check the ranges and give each its share of whole output frames.

    Frame counts come from rounding the running total, so the edit lasts ``round(total * fps)`` frames whatever
    the ranges' fractions, and the sound gets exactly the matching samples per cut: no drift builds up at joins.
    """
    if not Path(source.path).is_file():
        raise RenderError(subject, f"source {source.path} not found")
    if not source.has_video:
        raise RenderError(subject, f"source {source.path} has no video stream")
    if not ranges:
        raise RenderError(subject, "an edit needs at least one range")
    checked: list[tuple[float, float]] = []
    for start, end in ranges:
        start, end = float(start), float(end)
        if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end - start < 1.0 / options.fps:
            raise RenderError(subject, f"invalid range {start:.3f}-{end:.3f} s")
        if end > source.duration + 0.05:
            raise RenderError(subject, f"range {start:.3f}-{end:.3f} s ends after the source ({source.duration:.3f} s)")
        checked.append((start, end))
    for (a_start, a_end), (b_start, b_end) in itertools.pairwise(sorted(checked)):
        if b_start < a_end - 1e-6:
            raise RenderError(subject, f"ranges {a_start:.3f}-{a_end:.3f} and {b_start:.3f}-{b_end:.3f} s overlap")
    cuts: list[_Cut] = []
    elapsed = 0.0
    for start, end in checked:
        first, last = round(elapsed * options.fps), round((elapsed + end - start) * options.fps)
        elapsed += end - start
        samples = round(last * options.audio_rate / options.fps) - round(first * options.audio_rate / options.fps)
        cuts.append(_Cut(start, end, first / options.fps, last - first, samples))
    return cuts


def _edit_words(words: Sequence[Word], cuts: Sequence[_Cut], fps: int, shift: float) -> list[Word]:
    """The words spoken inside each cut (midpoint inside), moved to where the cut plays and kept inside it."""
    moved: list[Word] = []
    for cut in cuts:
        begin = shift + cut.offset
        stop = begin + cut.frames / fps
        for word in words:
            if not cut.start <= (word.start + word.end) / 2 < cut.end:
                continue
            start = min(max(begin + word.start - cut.start, begin), stop)
            end = min(max(begin + word.end - cut.start, start), stop)
            moved.append(replace(word, start=round(start, 3), end=round(end, 3)))
    return moved


def _edit_ass(
    words: Sequence[Word],
    cuts: Sequence[_Cut],
    presentation: Presentation,
    hook: str,
    options: RenderOptions,
) -> str:
    """The ASS document of one variant: captions re-timed across the joins, its intro and hook cards, the label."""
    style = presentation.caption_style or options.style
    if options.font_family and presentation.caption_style is not None:
        style = replace(style, font_family=options.font_family)
    intro = _intro_frames(presentation, options.fps) / options.fps
    total = intro + sum(c.frames for c in cuts) / options.fps
    return build_ass(
        _edit_words(words, cuts, options.fps, intro),
        0.0,
        total,
        hook=hook,
        style=style,
        width=options.width,
        height=options.height,
        breaks=[intro + c.offset for c in cuts[1:]],
        intro=presentation.intro,
        intro_seconds=intro,
    )


def _intro_frames(presentation: Presentation, fps: int) -> int:
    return round(presentation.intro_seconds * fps) if presentation.intro.strip() else 0


@dataclass(frozen=True, slots=True)
class _Variant:
    """One output of an edit's ffmpeg run: where it goes (and is written first), how it looks, its label id."""

    out: Path
    tmp: Path
    presentation: Presentation
    produce_id: str
    hook: str
    ass: Path | None
    intro_frames: int


def _edit_command(
    source: MediaInfo, cuts: Sequence[_Cut], variants: Sequence[_Variant], options: RenderOptions, title: str
) -> Command:
    """One ffmpeg run: every cut decoded once and joined, then split into one framed, captioned output per variant."""
    fps, rate = options.fps, options.audio_rate
    audio_format = f"aformat=sample_fmts=fltp:sample_rates={rate}:channel_layouts=stereo"
    # An input per cut, seeking straight to it: footage between the cuts is never read. The input runs a little
    # past the cut so trimming to whole frames always has the last frame; tpad covers a recording that ends.
    inputs = [
        Input(source.path, seek=cut.start, duration=min(cut.end - cut.start + 0.25, source.duration - cut.start + 0.25))
        for cut in cuts
    ]
    chains: list[str] = []
    joined: list[str] = []
    for i, cut in enumerate(cuts):
        chains.append(
            f"[{i}:v:0]setpts=PTS-STARTPTS,fps={fps},tpad=stop_mode=clone:stop_duration=0.5,"
            f"trim=end_frame={cut.frames},setpts=PTS-STARTPTS,format=yuv420p,setsar=1[cv{i}]"
        )
        # aresample async fills gaps in a stream recording's audio timestamps; apad + atrim make every cut's
        # sound exactly as long as its picture, so the joins stay in sync. No sound track: silence.
        sound = (
            f"[{i}:a:0]aresample={rate}:async=1:first_pts=0,{audio_format},apad"
            if source.has_audio
            else f"anullsrc=r={rate}:cl=stereo,{audio_format}"
        )
        chains.append(f"{sound},atrim=end_sample={cut.samples},asetpts=PTS-STARTPTS[ca{i}]")
        joined.append(f"[cv{i}][ca{i}]")
    k = len(variants)
    chains.append(f"{''.join(joined)}concat=n={len(cuts)}:v=1:a=1[vcat][acat]")
    # The split: from here each variant has its own branch and encoder; everything above runs once.
    chains.append(f"[vcat]split={k}" + "".join(f"[vs{j}]" for j in range(k)))
    chains.append(f"[acat]asplit={k}" + "".join(f"[as{j}]" for j in range(k)))
    outputs: list[Output] = []
    for j, variant in enumerate(variants):
        presentation = variant.presentation
        layout: FrameLayout = choose_layout(source, options) if presentation.layout == "auto" else presentation.layout
        chains.append(f"[vs{j}]{_frame_chain(layout, options, tag=str(j), zoom=presentation.zoom)}[vf{j}]")
        video, audio = f"vf{j}", f"as{j}"
        intro = variant.intro_frames
        if intro:
            samples = round(intro * rate / fps)
            colour = presentation.intro_colour.lstrip("#")
            chains.append(
                f"color=c=0x{colour}:s={options.width}x{options.height}:r={fps},trim=end_frame={intro},"
                f"format=yuv420p,setsar=1[iv{j}]"
            )
            chains.append(f"anullsrc=r={rate}:cl=stereo,{audio_format},atrim=end_sample={samples}[ia{j}]")
            chains.append(f"[iv{j}][ia{j}][{video}][{audio}]concat=n=2:v=1:a=1[vj{j}][aj{j}]")
            video, audio = f"vj{j}", f"aj{j}"
        if variant.ass is not None:
            chains.append(f"[{video}]{_ass_filter(variant.ass, presentation.caption_style or options.style)}[vo{j}]")
            video = f"vo{j}"
        duration = (intro + sum(c.frames for c in cuts)) / fps
        outputs.append(
            Output(
                str(variant.tmp),
                maps=(f"[{video}]", f"[{audio}]"),
                options=_encode_options(options, duration),
                metadata=_metadata(title, variant.hook, options, aigc_record(variant.produce_id, options.provider)),
            )
        )
    return Command(
        inputs=tuple(inputs),
        filter_complex=";".join(chains),
        outputs=tuple(outputs),
        binary=locate_ffmpeg(options.ffmpeg),
    )


def _render_edit_outputs(
    source: MediaInfo,
    ranges: Sequence[tuple[float, float]],
    words: Sequence[Word],
    outputs: Sequence[tuple[Path, Presentation, str]],
    options: RenderOptions,
    *,
    edit_id: str,
    hook: str,
    title: str,
    on_progress: ProgressCallback | None,
) -> list[RenderedEdit]:
    subject = f"edit {edit_id}"
    if not _ID.match(edit_id):
        raise RenderError(subject, "edit id must be 1-100 letters, digits, '.', '_' or '-'")
    cuts = _cuts(source, ranges, options, subject)
    footage = sum(c.frames for c in cuts) / options.fps
    variants: list[_Variant] = []
    temporary: list[Path] = []
    try:
        for out, presentation, produce_id in outputs:
            out.parent.mkdir(parents=True, exist_ok=True)
            token = uuid.uuid4().hex[:8]
            # Hidden names next to each output: renames are atomic and a crash leaves nothing a listing picks up.
            variant = _Variant(
                out=out,
                tmp=out.with_name(f".{out.stem}.{token}.part.mp4"),
                presentation=presentation,
                produce_id=produce_id,
                hook=hook if presentation.hook is None else presentation.hook,
                ass=out.with_name(f".{out.stem}.{token}.ass") if options.captions else None,
                intro_frames=_intro_frames(presentation, options.fps),
            )
            temporary.append(variant.tmp)
            if variant.ass is not None:
                temporary.append(variant.ass)
                variant.ass.write_text(_edit_ass(words, cuts, presentation, variant.hook, options), encoding="utf-8")
            variants.append(variant)
        longest = footage + max(v.intro_frames for v in variants) / options.fps

        def report(progress: Progress) -> None:
            if on_progress is not None:
                on_progress(min(max(progress.out_seconds, 0.0), longest))

        timeout = options.timeout * len(variants) if options.timeout is not None else None
        run(
            _edit_command(source, cuts, variants, options, title),
            subject=subject,
            timeout=timeout,
            on_progress=report if on_progress is not None else None,
        )
        infos = [
            _verify(v.tmp, footage + v.intro_frames / options.fps, options, f"{subject} ({v.presentation.name})")
            for v in variants
        ]
        rendered: list[RenderedEdit] = []
        for variant, info in zip(variants, infos, strict=True):
            os.replace(variant.tmp, variant.out)
            rendered.append(
                RenderedEdit(
                    edit_id=edit_id,
                    presentation=variant.presentation,
                    path=str(variant.out),
                    ranges=tuple((c.start, c.end) for c in cuts),
                    hook=variant.hook,
                    intro_seconds=variant.intro_frames / options.fps,
                    width=info.width,
                    height=info.height,
                    duration=info.duration,
                    size_bytes=variant.out.stat().st_size,
                )
            )
    finally:
        for leftover in temporary:
            leftover.unlink(missing_ok=True)
    return rendered
