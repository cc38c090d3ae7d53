"""Build the ASS subtitle document burned into one clip: word-highlighted captions, a hook card, an AI label.

libass (through ffmpeg's ``ass`` filter) renders the document, so every caption, the title card and the
"AI-generated" label are drawn in the same single ffmpeg pass that scales and encodes the clip.

Times in the document are relative to the clip start: the renderer seeks the input with ``-ss`` before ``-i``,
which restarts timestamps at zero. Coordinates use a script resolution equal to the output size, so positions
are plain pixels; sizes in :class:`CaptionStyle` are for a 1080x1920 frame and scale with the output height.

The spoken word is highlighted with one ``Dialogue`` per word state (the whole caption line, the current word
in another colour) rather than with ``\\k`` karaoke tags: ``\\k`` fills words progressively and leaves spoken
words coloured, while one event per state shows exactly one highlighted word, and every renderer draws it the
same way.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from clipper.types import Word

__all__ = ["CaptionLine", "CaptionStyle", "build_ass", "caption_lines", "escape_ass_text"]

# CJK ideographs, kana, hangul and full-width forms/punctuation: written without spaces between words.
_CJK_CHAR = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")
_END_PUNCT = re.compile(r"[.!?。！？…]+[\"'”’）)」』]*$")
_SOFT_PUNCT = re.compile(r"[,;:，；：、]+[\"'”’）)」』]*$")
# Latin punctuation that attaches to the previous word without a space.
_NO_SPACE_BEFORE = frozenset(",.!?;:%)]}'\"…")
_NO_BREAK_BEFORE = frozenset("，。！？、；：）」』》〉】…,.!?;:)")
_ASS_SPECIAL = re.compile(r"[\\{}\r\n]")
_HEX_COLOUR = re.compile(r"^#?([0-9A-Fa-f]{6})$")
_REFERENCE_HEIGHT = 1920


@dataclass(frozen=True, slots=True)
class CaptionStyle:
    """How captions, the hook card and the AI label look. Sizes are pixels on a 1080x1920 frame.

    Colours are ``#RRGGBB``. Line lengths are in characters: a caption line is full when its CJK characters
    reach ``max_chars_cjk`` or its Latin characters reach ``max_chars_latin`` (mixed lines count each kind
    against its own limit), which keeps one caption on one row at the default font size.

    ``fonts_dir`` is a folder of font files libass loads in addition to fontconfig's fonts; leave it ``None``
    where the font is installed system-wide (Debian's ``fonts-noto-cjk``), set it on hosts where it is not, or
    Chinese text renders as empty boxes.
    """

    font_family: str = "Noto Sans CJK SC"
    fonts_dir: str | None = None
    bold: bool = True
    font_size: int = 88
    text_colour: str = "#FFFFFF"
    highlight_colour: str = "#FFE600"
    outline_colour: str = "#000000"
    outline: float = 5.0
    shadow: float = 2.0
    max_chars_cjk: int = 12
    max_chars_latin: int = 22
    #: A silence at least this long between two words starts a new caption line.
    pause: float = 0.5
    #: A caption line never stays on screen for longer than this while words are added to it.
    max_line_seconds: float = 3.5
    #: How long a finished line stays up after its last word when the next line is not right behind it.
    hold: float = 0.4
    #: Where the bottom of the caption sits, as a fraction of the frame height: inside the lower third but
    #: above the bottom ~20 % that Douyin/TikTok cover with their own buttons and captions.
    position_y: float = 0.76
    side_margin: int = 60
    hook_seconds: float = 3.0
    hook_font_size: int = 104
    hook_text_colour: str = "#FFFFFF"
    hook_box_colour: str = "#E5162D"
    #: Centre of the hook card as a fraction of the frame height: in the top band, clear of the subject.
    hook_position_y: float = 0.22
    hook_max_chars_cjk: int = 10
    hook_max_chars_latin: int = 18
    label_text: str = "AI生成 / AI-generated"
    label_font_size: int = 40
    label_text_colour: str = "#FFFFFF"
    label_box_colour: str = "#000000"
    #: Opacity of the label's box, 0 (invisible) to 1 (solid): the text stays legible on any picture.
    label_box_opacity: float = 0.55
    label_margin: int = 36

    def __post_init__(self) -> None:
        if not self.font_family or "," in self.font_family:
            raise ValueError(f"font_family must be a non-empty name without commas, got {self.font_family!r}")
        for name in (
            "text_colour",
            "highlight_colour",
            "outline_colour",
            "hook_text_colour",
            "hook_box_colour",
            "label_text_colour",
            "label_box_colour",
        ):
            value = getattr(self, name)
            if not _HEX_COLOUR.match(value):
                raise ValueError(f"{name} must be a #RRGGBB colour, got {value!r}")
        for name in ("font_size", "hook_font_size", "label_font_size", "max_chars_cjk", "max_chars_latin"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if not 0.0 <= self.label_box_opacity <= 1.0:
            raise ValueError("label_box_opacity must be between 0 and 1")
        if not 0.0 < self.position_y <= 1.0 or not 0.0 < self.hook_position_y < 1.0:
            raise ValueError("position_y and hook_position_y are fractions of the frame height")
        if self.hook_seconds < 0 or self.pause <= 0 or self.max_line_seconds <= 0 or self.hold < 0:
            raise ValueError("hook_seconds, pause, max_line_seconds and hold must be positive")


@dataclass(frozen=True, slots=True)
class CaptionLine:
    """One caption line: its words (text stripped, times relative to the clip) and how long it is shown."""

    start: float
    end: float
    words: tuple[Word, ...]

    @property
    def text(self) -> str:
        return _join([w.text for w in self.words])


def escape_ass_text(text: str, *, newline: str = " ") -> str:
    r"""Make ``text`` literal inside an ASS ``Dialogue`` text field.

    ``{`` and ``}`` would open and close override blocks; libass reads ``\{`` and ``\}`` as literal braces. A
    backslash would start an escape such as ``\N``: a word joiner (U+2060, invisible, zero width) after it stops
    libass from reading the next character as part of an escape. Line breaks become ``newline`` (a space for
    captions, ``\N`` where the caller wants the break kept).
    """
    text = text.replace("\r\n", "\n")

    def replace(match: re.Match[str]) -> str:
        char = match.group(0)
        if char == "\\":
            return "\\\u2060"
        if char in "{}":
            return "\\" + char
        return newline

    return _ASS_SPECIAL.sub(replace, text)


def caption_lines(
    words: Sequence[Word],
    clip_start: float,
    clip_end: float,
    style: CaptionStyle,
    *,
    breaks: Sequence[float] = (),
) -> tuple[CaptionLine, ...]:
    """Group the words spoken inside ``[clip_start, clip_end]`` into caption lines, with clip-relative times.

    A word belongs to the clip when its midpoint does (the planner cuts in pauses, so this only matters for
    padding). A new line starts after sentence-ending punctuation, after a pause of ``style.pause``, when the
    next word would overflow the line or keep it up longer than ``style.max_line_seconds``, and after a comma
    once the line is half full. Each line is shown from its first word until the next line starts (when that
    is within ``style.pause``) or ``style.hold`` after its last word.

    ``breaks`` are clip-relative times of cuts (the joins of an edit that recombines segments): no line holds
    words from both sides of a cut nor stays up past it, since the talk on the far side is another moment.
    """
    cuts = sorted(breaks)
    duration = clip_end - clip_start
    tokens: list[Word] = []
    for word in sorted(words, key=lambda w: w.start):
        text = " ".join(word.text.split())
        middle = (word.start + word.end) / 2
        if not text or not clip_start <= middle <= clip_end:
            continue
        start = min(max(word.start - clip_start, 0.0), duration)
        end = min(max(word.end - clip_start, start), duration)
        tokens.append(Word(start=round(start, 3), end=round(end, 3), text=text, probability=word.probability))

    groups: list[list[Word]] = []
    current: list[Word] = []
    for word in tokens:
        if current:
            prev = current[-1]
            if (
                bisect_right(cuts, prev.start) != bisect_right(cuts, word.start)
                or _END_PUNCT.search(prev.text)
                or word.start - prev.end >= style.pause
                or (_SOFT_PUNCT.search(prev.text) and _line_width(current, style) >= 0.5)
            ):
                groups.append(current)
                current = []
            elif _line_width([*current, word], style) > 1.0 or word.end - current[0].start > style.max_line_seconds:
                # Full: cut where the speaker paused longest in the second half of the line. Chinese ASR words
                # are single characters, and a micro-pause is the best hint of a word boundary we have.
                cut = _best_cut([*current, word], style)
                groups.append(current[:cut])
                current = current[cut:]
        current.append(word)
    if current:
        groups.append(current)

    lines: list[CaptionLine] = []
    for i, group in enumerate(groups):
        start, last_end = group[0].start, group[-1].end
        end = last_end + style.hold
        if i + 1 < len(groups):
            next_start = groups[i + 1][0].start
            # A short gap would make the caption blink off and on: keep the line up until the next one.
            end = next_start if next_start - last_end < style.pause else min(end, next_start)
        after = bisect_right(cuts, start)
        if after < len(cuts):
            end = min(end, max(cuts[after], last_end))
        end = min(end, duration)
        if end > start:
            lines.append(CaptionLine(start=start, end=end, words=tuple(group)))
    return tuple(lines)


def build_ass(
    words: Sequence[Word],
    clip_start: float,
    clip_end: float,
    *,
    hook: str,
    style: CaptionStyle,
    width: int = 1080,
    height: int = 1920,
    breaks: Sequence[float] = (),
    intro: str = "",
    intro_seconds: float = 0.0,
) -> str:
    """Return the ASS document for the clip ``[clip_start, clip_end]`` of a recording (source seconds).

    Args:
        words: the recording's words (source times); only those spoken inside the clip are used.
        clip_start: clip start in the source, in seconds; document times are relative to it.
        clip_end: clip end in the source, in seconds.
        hook: the title-card text shown for the first ``style.hook_seconds``; empty for no card. A line break in
            it is kept, long lines are wrapped.
        style: fonts, colours, sizes and positions.
        width: output frame width in pixels (the script resolution).
        height: output frame height in pixels; sizes in ``style`` scale by ``height / 1920``.
        breaks: clip-relative cut times no caption line crosses (see :func:`caption_lines`).
        intro: text of an intro card shown centred for the first ``intro_seconds`` (the renderer draws the
            card's background); the hook card then starts when the intro ends. Empty for none.
        intro_seconds: how long the intro lasts; words are expected after it (the caller shifts them).

    Returns:
        A complete ASS v4.00+ document: an always-visible AI label (top right), the intro and hook cards, and one
        event per spoken-word state of every caption line, the spoken word drawn in ``style.highlight_colour``.
    """
    if clip_end <= clip_start:
        raise ValueError(f"clip_end ({clip_end}) must be after clip_start ({clip_start})")
    if intro_seconds < 0 or intro_seconds >= clip_end - clip_start:
        raise ValueError(f"intro_seconds ({intro_seconds}) must be at least 0 and shorter than the clip")
    if width < 16 or height < 16:
        raise ValueError(f"frame size {width}x{height} is too small")
    duration = clip_end - clip_start
    k = height / _REFERENCE_HEIGHT

    def px(value: float) -> int:
        return max(1, round(value * k))

    bold = -1 if style.bold else 0
    text, highlight = _ass_colour(style.text_colour), _ass_colour(style.highlight_colour)
    outline = _ass_colour(style.outline_colour)
    shadow = _ass_colour(style.outline_colour, opacity=0.5)
    hook_box = _ass_colour(style.hook_box_colour)
    label_box = _ass_colour(style.label_box_colour, opacity=style.label_box_opacity)
    fields = "Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline"
    fields += ", StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL"
    fields += ", MarginR, MarginV, Encoding"
    margin = px(style.side_margin)
    font = style.font_family
    # BorderStyle 3 draws an opaque box in OutlineColour behind the text (the Outline value is its padding);
    # Encoding 1 is "default", so libass picks glyphs by Unicode and falls back per glyph.
    styles = [
        f"Style: Caption,{font},{px(style.font_size)},{text},{highlight},{outline},{shadow},{bold},0,0,0,"
        f"100,100,0,0,1,{style.outline * k:.1f},{style.shadow * k:.1f},2,{margin},{margin},0,1",
        f"Style: Hook,{font},{px(style.hook_font_size)},{_ass_colour(style.hook_text_colour)},{text},"
        f"{hook_box},{hook_box},-1,0,0,0,100,100,0,0,3,{px(20)},0,5,{margin},{margin},0,1",
        f"Style: Label,{font},{px(style.label_font_size)},{_ass_colour(style.label_text_colour)},{text},"
        f"{label_box},{label_box},0,0,0,0,100,100,0,0,3,{px(8)},0,9,0,0,0,1",
    ]
    events: list[str] = []
    if style.label_text.strip():
        x, y = width - px(style.label_margin + 8), px(style.label_margin + 8)
        # Ends a second after the clip so the last frame is labelled too, whatever the rounding.
        label = escape_ass_text(style.label_text.strip())
        events.append(_dialogue(3, 0.0, duration + 1.0, "Label", f"{{\\an9\\pos({x},{y})}}{label}"))
    if intro.strip() and intro_seconds > 0:
        # The card text in the hook's box style, centred and larger: the screen is the card's own background.
        pos = f"\\an5\\pos({width // 2},{height // 2})\\fs{px(style.hook_font_size * 1.15)}"
        events.append(_dialogue(2, 0.0, intro_seconds, "Hook", f"{{{pos}}}{_wrapped(intro, style)}"))
    hook_end = min(intro_seconds + style.hook_seconds, duration)
    if hook.strip() and hook_end > intro_seconds:
        fade_out = min(250, round((hook_end - intro_seconds) * 1000 / 4))
        pos = f"\\an5\\pos({width // 2},{round(height * style.hook_position_y)})"
        events.append(
            _dialogue(2, intro_seconds, hook_end, "Hook", f"{{{pos}\\fad(120,{fade_out})}}{_wrapped(hook, style)}")
        )
    on, off = _override_colour(style.highlight_colour), _override_colour(style.text_colour)
    caption_pos = f"{{\\an2\\pos({width // 2},{round(height * style.position_y)})}}"
    for line in caption_lines(words, clip_start, clip_end, style, breaks=breaks):
        texts = [w.text for w in line.words]
        escaped = [escape_ass_text(t) for t in texts]
        # Word states share boundaries in centiseconds, so consecutive events neither overlap (libass would
        # stack two lines) nor leave a one-frame gap.
        bounds = [_centis(line.start)]
        bounds += [max(_centis(w.start), bounds[0]) for w in line.words[1:]]
        bounds.append(_centis(line.end))
        for i in range(len(line.words)):
            start_cs, end_cs = bounds[i], max(bounds[i + 1], bounds[i])
            if end_cs <= start_cs:
                continue
            parts = list(escaped)
            parts[i] = f"{{\\1c{on}}}{parts[i]}{{\\1c{off}}}"
            body = _join(texts, parts)
            events.append(_dialogue(1, start_cs / 100, end_cs / 100, "Caption", caption_pos + body))

    header = [
        "[Script Info]",
        "; Generated by clipper.captions",
        "ScriptType: v4.00+",
        f"PlayResX: {width}",
        f"PlayResY: {height}",
        # 0 = smart wrapping: a caption wider than the frame still wraps instead of running off the edge.
        "WrapStyle: 0",
        "ScaledBorderAndShadow: yes",
        "YCbCr Matrix: None",
        "",
        "[V4+ Styles]",
        f"Format: Name, {fields}",
        *styles,
        "",
        "[Events]",
        "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
        *events,
    ]
    return "\n".join(header) + "\n"


def _wrapped(text: str, style: CaptionStyle) -> str:
    """Card text escaped and wrapped to the hook's row width; line breaks in ``text`` are kept."""
    return "\\N".join(
        escape_ass_text(row)
        for paragraph in text.strip().splitlines()
        for row in _wrap(" ".join(paragraph.split()), style.hook_max_chars_cjk, style.hook_max_chars_latin)
    )


def _is_cjk(char: str) -> bool:
    return bool(_CJK_CHAR.match(char))


def _join(texts: Sequence[str], parts: Sequence[str] | None = None) -> str:
    """Join word texts: a space between two Latin words, none where either side is CJK or before punctuation.

    ``parts`` are what to emit for each word (escaped, maybe highlighted); the spacing is decided on ``texts``.
    """
    out: list[str] = []
    pieces = parts if parts is not None else texts
    for i, (raw, piece) in enumerate(zip(texts, pieces, strict=True)):
        if i > 0:
            prev = texts[i - 1]
            if not (_is_cjk(prev[-1]) or _is_cjk(raw[0]) or raw[0] in _NO_SPACE_BEFORE):
                out.append(" ")
        out.append(piece)
    return "".join(out)


def _line_width(words: Sequence[Word], style: CaptionStyle) -> float:
    """How full a line of ``words`` is: 1.0 is exactly full (CJK and Latin characters counted separately)."""
    joined = _join([w.text for w in words])
    cjk = sum(1 for c in joined if _is_cjk(c))
    return cjk / style.max_chars_cjk + (len(joined) - cjk) / style.max_chars_latin


def _best_cut(words: Sequence[Word], style: CaptionStyle) -> int:
    """Index at which to end a full line: the longest gap after at least half a line, the latest on ties."""
    best, best_gap = len(words) - 1, float("-inf")
    for k in range(1, len(words)):
        if _line_width(words[:k], style) < 0.5:
            continue
        gap = words[k].start - words[k - 1].end
        if gap >= best_gap - 1e-3:
            best, best_gap = k, gap
    return min(best, len(words) - 1)


def _wrap(text: str, max_cjk: int, max_latin: int) -> list[str]:
    """Break ``text`` into rows of at most the given width: at spaces for Latin, anywhere between CJK glyphs."""
    rows: list[str] = []
    row = ""
    for token in _tokens(text):
        candidate = row + token
        cjk = sum(1 for c in candidate.strip() if _is_cjk(c))
        latin = len(candidate.strip()) - cjk
        if row.strip() and cjk / max_cjk + latin / max_latin > 1.0:
            rows.append(row.strip())
            row = token.lstrip()
        else:
            row = candidate
    if row.strip():
        rows.append(row.strip())
    return rows


def _tokens(text: str) -> list[str]:
    """Unbreakable pieces of ``text``: each CJK character alone, Latin runs with the space that follows them."""
    tokens: list[str] = []
    run = ""
    for char in text:
        if char in _NO_BREAK_BEFORE and (run or tokens):
            # Closing punctuation never starts a row: it sticks to what it closes.
            if run:
                run += char
            else:
                tokens[-1] = tokens[-1].rstrip() + char
        elif _is_cjk(char):
            if run:
                tokens.append(run)
                run = ""
            tokens.append(char)
        elif char.isspace():
            tokens.append(run + " ")
            run = ""
        else:
            run += char
    if run:
        tokens.append(run)
    return tokens


def _ass_colour(hex_colour: str, opacity: float = 1.0) -> str:
    """``#RRGGBB`` to ASS ``&HAABBGGRR`` (alpha 00 is opaque)."""
    match = _HEX_COLOUR.match(hex_colour)
    if match is None:
        raise ValueError(f"not a #RRGGBB colour: {hex_colour!r}")
    rgb = match.group(1).upper()
    alpha = round((1.0 - opacity) * 255)
    return f"&H{alpha:02X}{rgb[4:6]}{rgb[2:4]}{rgb[0:2]}"


def _override_colour(hex_colour: str) -> str:
    """``#RRGGBB`` as an override-tag colour, ``&HBBGGRR&`` (``\\1c`` keeps the style's alpha)."""
    return "&H" + _ass_colour(hex_colour)[4:] + "&"


def _centis(seconds: float) -> int:
    return max(0, round(seconds * 100))


def _timestamp(seconds: float) -> str:
    cs = _centis(seconds)
    h, rem = divmod(cs, 360_000)
    m, rem = divmod(rem, 6000)
    s, cs = divmod(rem, 100)
    return f"{h}:{m:02d}:{s:02d}.{cs:02d}"


def _dialogue(layer: int, start: float, end: float, style: str, text: str) -> str:
    return f"Dialogue: {layer},{_timestamp(start)},{_timestamp(end)},{style},,0,0,0,,{text}"
