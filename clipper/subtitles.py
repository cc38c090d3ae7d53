"""Subtitle files in and out: read SRT/WebVTT as a :class:`Transcript`, write SRT, and the transcript.json schema.

A platform's subtitle export is a free, exact transcript, so a supplied file replaces ASR. Cues only carry a time
span, so word times are interpolated inside each cue (:func:`clipper.sentences.words_from_text`). Real files are
messy: BOMs, CRLF, GBK-encoded Chinese, VTT headers and NOTE/STYLE/REGION blocks, cue settings, ``<i>``/``<c>``
tags, ``{\\an8}`` overrides, hours left out, ``,`` or ``.`` before the milliseconds. All of that is accepted;
what cannot be understood is an :class:`InputFileError` naming the file and the line.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clipper.errors import InputFileError
from clipper.sentences import is_cjk, split_sentences, words_from_text
from clipper.types import Sentence, Transcript, Word

__all__ = ["read_subtitles", "transcript_from_json", "transcript_to_json", "write_srt"]

_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{1,2})(?:[,.](\d{1,3}))?"
_TIMING = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}(?:\s+.*)?$")
# A line that looks like someone meant it as a timing line ("00:00:01,000 -> ..."), so a typo is an error
# instead of being read as cue text.
_TIMING_LIKE = re.compile(r"^\s*\d{1,2}:\d{2}.*(-+>|\s-\s)")
_TAG = re.compile(r"<[^>]*>")
_ASS_OVERRIDE = re.compile(r"\{\\[^}]*\}")
_END_PUNCT = re.compile(r"[.!?。！？…]")
_VTT_SKIP = ("NOTE", "STYLE", "REGION")


@dataclass(slots=True)
class _Cue:
    start: float
    end: float
    text: str
    line: int  # 1-based line of the timing line, for error messages


def read_subtitles(
    path: str | os.PathLike[str], language: str | None = None, *, media_duration: float | None = None
) -> Transcript:
    """Read an SRT or WebVTT file as a transcript with interpolated word times.

    Args:
        path: the subtitle file; ``.vtt`` files and files starting with ``WEBVTT`` are read as WebVTT.
        language: ``zh`` or ``en``; ``None`` guesses ``zh`` when the text is mostly CJK, else ``en``.
        media_duration: the length of the video the subtitles belong to. Cues that start after it are
            dropped and a cue running past it is cut at it; when half the cues or more start after it, the
            file is for another video (or its times are wrong) and reading fails.

    Returns:
        A transcript with ``origin`` ``srt`` or ``vtt`` whose duration is the end of the last cue.

    Raises:
        InputFileError: the file cannot be read, is not text, has no cues, has a bad timing line (the
            message gives the line number), or its cues lie beyond ``media_duration``.
    """
    subject = str(path)
    text = _read_text(Path(path), subject)
    is_vtt = text.lstrip().startswith("WEBVTT") or Path(path).suffix.lower() == ".vtt"
    cues = _parse(text, subject, is_vtt)
    if not cues:
        raise InputFileError(subject, "no subtitle cues found (expected SRT or WebVTT)")
    cues = _tidy(cues)
    if media_duration is not None:
        cues = _fit_to_media(cues, media_duration, subject)
    all_text = " ".join(c.text for c in cues)
    lang = language or ("zh" if is_cjk(all_text) else "en")
    # Unpunctuated subtitles (typical for Chinese) mark phrases only by cue boundaries, so each cue is split on
    # its own and a sentence never spans two cues; punctuated ones are split across cues, since a sentence
    # often continues in the next cue.
    punctuated = len(_END_PUNCT.findall(all_text)) >= 0.3 * len(cues)
    words: list[Word] = []
    groups: list[list[Word]] = []
    for cue in cues:
        cue_words = list(words_from_text(cue.text, cue.start, cue.end))
        words.extend(cue_words)
        groups.append(cue_words)
    if punctuated:
        sentences = split_sentences(words, lang)
    else:
        pieces = [s for group in groups for s in split_sentences(group, lang)]
        sentences = tuple(
            Sentence(index=i, start=s.start, end=s.end, text=s.text, words=s.words) for i, s in enumerate(pieces)
        )
    return Transcript(
        language=lang,
        duration=max(c.end for c in cues),
        words=tuple(words),
        sentences=sentences,
        origin="vtt" if is_vtt else "srt",
    )


def _read_text(path: Path, subject: str) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputFileError(subject, f"cannot read subtitle file: {exc.strerror or exc}") from exc
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise InputFileError(subject, f"bad UTF-16 text at byte {exc.start}") from exc
    if b"\x00" in data:
        raise InputFileError(subject, "not a text file (contains NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    # Chinese subtitle files are often GBK; GB18030 is its superset.
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise InputFileError(subject, f"not UTF-8 or GB18030 text (bad byte at offset {exc.start})") from exc


def _parse(text: str, subject: str, is_vtt: bool) -> list[_Cue]:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    cues: list[_Cue] = []
    i = 0
    if is_vtt:
        first = next((n for n, ln in enumerate(lines) if ln.strip()), None)
        if first is not None and lines[first].lstrip().startswith("WEBVTT"):
            i = _block_end(lines, first)  # the header block may carry metadata lines
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        start, end = i, _block_end(lines, i)
        block = lines[start:end]
        i = end
        if is_vtt and block[0].split()[0] in _VTT_SKIP:
            continue
        timing = next((k for k, ln in enumerate(block[:3]) if "-->" in ln or _TIMING_LIKE.match(ln)), None)
        if timing is None:
            if len(block) == 1 and block[0].strip().isdigit():
                continue  # a stray cue number
            if cues:
                # A blank line inside a cue's text splits the block; the rest still belongs to that cue.
                cues[-1].text = f"{cues[-1].text} {_clean(' '.join(block))}".strip()
                continue
            raise InputFileError(
                subject, f"line {start + 1}: expected a cue timing line like '00:00:01,000 --> 00:00:02,500'"
            )
        line_no = start + timing + 1
        cue_start, cue_end = _parse_timing(block[timing], subject, line_no)
        body = _clean(" ".join(block[timing + 1 :]))
        if body:
            cues.append(_Cue(cue_start, cue_end, body, line_no))
    return cues


def _block_end(lines: list[str], start: int) -> int:
    end = start
    while end < len(lines) and lines[end].strip():
        end += 1
    return end


def _parse_timing(line: str, subject: str, line_no: int) -> tuple[float, float]:
    m = _TIMING.match(line)
    if m is None:
        raise InputFileError(subject, f"line {line_no}: cannot parse cue timing {line.strip()!r}")
    groups = m.groups()
    if any(int(v) >= 60 for v in (groups[1], groups[2], groups[5], groups[6]) if v is not None):
        raise InputFileError(subject, f"line {line_no}: minutes and seconds must be below 60 ({line.strip()!r})")
    start = _seconds(groups[:4])
    end = _seconds(groups[4:])
    if end < start:
        raise InputFileError(subject, f"line {line_no}: cue ends before it starts ({line.strip()!r})")
    return start, end


def _seconds(parts: tuple[str | None, ...]) -> float:
    hours, minutes, secs, frac = parts
    ms = int((frac or "0").ljust(3, "0"))
    return round(int(hours or 0) * 3600 + int(minutes or 0) * 60 + int(secs or 0) + ms / 1000, 3)


def _clean(text: str) -> str:
    """Cue text without markup: VTT/HTML tags, ASS overrides, entities, extra whitespace."""
    text = _ASS_OVERRIDE.sub("", _TAG.sub("", text))
    return " ".join(html.unescape(text).replace("\u200b", "").split())


def _tidy(cues: list[_Cue]) -> list[_Cue]:
    """Sort cues, merge repeats and stop overlaps, so interpolated word times always increase.

    Rolling captions (YouTube's VTT) repeat the previous line at the start of every cue and add short
    "flash" cues that repeat it whole; both would otherwise duplicate words.
    """
    cues = sorted(cues, key=lambda c: (c.start, c.end))
    out: list[_Cue] = []
    for cue in cues:
        if out:
            prev = out[-1]
            if cue.text == prev.text:
                prev.end = max(prev.end, cue.end)
                continue
            if cue.text.startswith(prev.text + " ") and cue.start < prev.end + 0.05:
                cue.text = cue.text[len(prev.text) :].strip()
            if cue.start < prev.end:
                prev.end = max(prev.start, cue.start)
        out.append(cue)
    return out


def _fit_to_media(cues: list[_Cue], duration: float, subject: str) -> list[_Cue]:
    """Cues inside ``[0, duration]``: a few trailing cues past the end are dropped or cut (exports often run a
    little long); mostly-outside cues mean subtitles for another video, which would silently give no clips."""
    beyond = [c for c in cues if c.start >= duration]
    if beyond and 2 * len(beyond) >= len(cues):
        first, last = beyond[0], max(c.end for c in cues)
        raise InputFileError(
            subject,
            f"cues out of range: {len(beyond)} of {len(cues)} start after the media ends (from {_clock(first.start)}"
            f" at line {first.line} to {_clock(last)}; the media is {_clock(duration)} long)",
        )
    kept = [c for c in cues if c.start < duration]
    for cue in kept:
        cue.end = min(cue.end, duration)
    return kept


def _clock(seconds: float) -> str:
    """``h:mm:ss.s`` for messages (hours unbounded: a bad file can say 9,999,999 h)."""
    minutes, secs = divmod(round(max(seconds, 0.0), 1), 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{secs:04.1f}"


def write_srt(transcript: Transcript, path: str | os.PathLike[str]) -> None:
    """Write ``transcript`` as SRT, one cue per sentence, UTF-8 without BOM.

    Raises:
        InputFileError: the file cannot be written.
    """
    blocks = [
        f"{n}\n{_srt_time(s.start)} --> {_srt_time(max(s.end, s.start))}\n{' '.join(s.text.split())}\n"
        for n, s in enumerate(transcript.sentences, start=1)
    ]
    try:
        Path(path).write_text("\n".join(blocks), encoding="utf-8")
    except OSError as exc:
        raise InputFileError(str(path), f"cannot write subtitles: {exc.strerror or exc}") from exc


def _srt_time(seconds: float) -> str:
    ms = max(round(seconds * 1000), 0)
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


def transcript_to_json(transcript: Transcript, kinds: Sequence[str] = ()) -> dict[str, Any]:
    """The ``transcript.json`` document: language, duration, origin and sentences with their words.

    Words are stored inside their sentences only; :func:`transcript_from_json` rebuilds the flat word list.
    ``kinds`` (one per sentence, from the detector) adds each sentence's ``kind`` for reviewers and labelling.
    """
    with_kinds = len(kinds) == len(transcript.sentences)
    return {
        "language": transcript.language,
        "duration": transcript.duration,
        "origin": transcript.origin,
        "sentences": [
            {
                "index": s.index,
                "start": s.start,
                "end": s.end,
                "text": s.text,
                **({"kind": kinds[s.index]} if with_kinds else {}),
                "words": [
                    {"start": w.start, "end": w.end, "text": w.text, "probability": w.probability} for w in s.words
                ],
            }
            for s in transcript.sentences
        ],
    }


def transcript_from_json(data: Mapping[str, Any], *, source: str = "transcript.json") -> Transcript:
    """Rebuild a :class:`Transcript` from :func:`transcript_to_json` output.

    Args:
        data: the parsed JSON document.
        source: what to name in error messages (the file it came from).

    Raises:
        InputFileError: a key is missing, a value has the wrong type, or sentence indexes are out of order.
    """
    try:
        sentences: list[Sentence] = []
        for position, item in enumerate(data["sentences"]):
            words = tuple(
                Word(
                    start=float(w["start"]),
                    end=float(w["end"]),
                    text=str(w["text"]),
                    probability=float(w.get("probability", 1.0)),
                )
                for w in item["words"]
            )
            index = int(item["index"])
            if index != position:
                raise InputFileError(source, f"sentence {position} has index {index}; indexes must count from 0")
            sentences.append(
                Sentence(
                    index=index, start=float(item["start"]), end=float(item["end"]), text=str(item["text"]), words=words
                )
            )
        return Transcript(
            language=str(data["language"]),
            duration=float(data["duration"]),
            words=tuple(w for s in sentences for w in s.words),
            sentences=tuple(sentences),
            origin=str(data.get("origin", "asr")),
        )
    except KeyError as exc:
        raise InputFileError(source, f"missing key {exc.args[0]!r} in transcript JSON") from exc
    except (TypeError, ValueError, AttributeError) as exc:
        raise InputFileError(source, f"malformed transcript JSON: {exc}") from exc
