"""Turn selling points into clip ranges: sentence boundaries, padded into pauses, 15-60 s, no price calls.

Rules, in the order they apply:

1. Sentences flagged by :func:`clipper.cues.sentence_cues` as price/urgency calls or chatter (greetings,
   comment replies) never go into a clip, whatever a detector said: a clip posted next week must not promise
   tonight's price. A selling point is trimmed at its ends and split around such sentences.
2. Adjacent selling points of the same product merge; a range shorter than ``min_seconds`` grows into
   neighbouring clean sentences of the same product segment (the longer-spoken neighbour first), a range longer
   than ``max_seconds`` is split on sentence boundaries. A product left without any clip keeps its best range
   down to ``short_floor_seconds``; any other run of clean selling talk boxed in by replies and price calls
   becomes a short clip down to ``short_clip_seconds`` when it carries selling evidence of its own (see
   :func:`_evidenced`), ranked after the full-length clips; what still does not fit is dropped.
3. Cut points sit in the pause around the range: ``padding`` seconds outside the first and last word, never
   past the middle of the pause (so no part of a neighbouring word is heard), moved onto a scene cut when one
   falls in that pause.
4. Overlapping clips are removed; at most ``max_clips`` are kept: first the best clip of every product, then
   the rest by score; the result is ranked by score.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from clipper.cues import SentenceCues, sentence_cues
from clipper.scenes import SceneCuts
from clipper.sentences import continues_previous as _continues
from clipper.sentences import is_cjk
from clipper.structure import host_story
from clipper.types import PlannedClip, ProductSegment, SellingPoint, Sentence, Transcript


@dataclass(frozen=True, slots=True)
class PlanOptions:
    """Settings for :func:`plan_clips`. Durations include the padding.

    ``short_floor_seconds``: a product whose selling talk cannot reach ``min_seconds`` even after growing into
    clean neighbours still gets one shorter clip if it lasts at least this long, rather than none.
    ``short_clip_seconds``: any other run of clean selling talk boxed in by replies or price calls becomes a short
    clip when it lasts at least this long (ranked after every full-length clip); ``0`` (the default) turns this off.
    Hosts often say one or two selling sentences between comment replies and price calls; dropping them loses real
    talk. Off by default because its evidence check is not yet safe on unseen hosts: at 4 s it let three price
    calls into clips on the held-out English streams (``bench/results/corpus-holdout3-first-sight.txt``).
    """

    min_seconds: float = 10.0
    max_seconds: float = 60.0
    max_clips: int = 10
    padding: float = 0.25
    id_prefix: str = "clip"
    short_floor_seconds: float = 6.0
    short_clip_seconds: float = 0.0

    def __post_init__(self) -> None:
        if not 0 < self.min_seconds < self.max_seconds:
            raise ValueError(f"need 0 < min_seconds < max_seconds, got {self.min_seconds} and {self.max_seconds}")
        if self.max_clips < 1:
            raise ValueError("max_clips must be at least 1")


@dataclass(frozen=True, slots=True)
class _Range:
    first: int
    last: int
    product_id: str | None
    points: tuple[str, ...]
    hook: str
    title: str
    score: float
    reasons: tuple[str, ...]


#: Sentence kinds a clip may hold: the selling talk only (a lead-in such as "next up, the serum" says nothing).
CLIP_KINDS = frozenset({"selling"})


def excluded_sentences(transcript: Transcript, kinds: Sequence[str] = ()) -> frozenset[int]:
    """Indices of sentences that may never appear in a clip.

    Price/urgency calls found by the cue lexicons always, and urgency evidence beside one; with ``kinds`` (a
    detector's per-sentence kinds, see :attr:`clipper.detectors.DetectionResult.kinds`) also every sentence whose
    kind is not in :data:`CLIP_KINDS` (price calls found from context, replies, chatter); without them, cue-lexicon
    chatter too.
    """
    banned = set()
    cues = [sentence_cues(s.text, transcript.language) for s in transcript.sentences]
    for i, c in enumerate(cues):
        # Urgency words, or a sum whose unit ASR misheard, beside a price call are part of the call whatever the
        # detector's kinds say (a learned model may not have seen that mishearing).
        beside_call = c.urgency and any(0 <= j < len(cues) and cues[j].price_or_urgency for j in (i - 1, i + 1))
        if c.price_or_urgency or beside_call or (not kinds and c.excluded):
            banned.add(transcript.sentences[i].index)
    if kinds:
        banned.update(i for i, kind in enumerate(kinds) if kind not in CLIP_KINDS)
    return frozenset(banned)


def plan_clips(
    transcript: Transcript,
    points: Sequence[SellingPoint],
    segments: Sequence[ProductSegment] = (),
    scenes: SceneCuts | None = None,
    options: PlanOptions | None = None,
    kinds: Sequence[str] = (),
) -> tuple[PlannedClip, ...]:
    """Plan clips from ``points``, best first.

    Args:
        transcript: the source's sentences (clip boundaries are only ever sentence boundaries).
        points: selling points from any detector; ranges may be messy, they are cleaned here.
        segments: product segments; a clip never grows across a segment boundary.
        scenes: scene cuts, preferred as cut points when they fall in the pause at a boundary.
        options: see :class:`PlanOptions`.
        kinds: the detector's kind for each sentence, when it classifies them (see :func:`excluded_sentences`).

    Returns:
        Non-overlapping clips sorted by score (best first), ids ``{id_prefix}-01`` upward in rank order.
    """
    opts = options or PlanOptions()
    sentences = transcript.sentences
    if not sentences:
        return ()
    banned = excluded_sentences(transcript, kinds if len(kinds) == len(sentences) else ())
    cues = [sentence_cues(s.text, transcript.language) for s in sentences]
    ranges: list[_Range] = []
    for point in points:
        ranges.extend(_clean(point, banned, len(sentences), transcript.language))
    ranges = _merge_adjacent(sorted(ranges, key=lambda r: (r.first, r.last)))
    fitted: list[_Range] = []
    short: list[_Range] = []
    spoken = spoken_sentences(sentences)
    product_floor = min(opts.short_floor_seconds, opts.min_seconds)
    tiny: list[_Range] = []
    for rng in ranges:
        pieces = _fit_duration(rng, sentences, banned, segments, opts, spoken)
        fitted.extend(pieces)
        if pieces:
            continue
        grown = _fit_duration(rng, sentences, banned, segments, replace(opts, min_seconds=product_floor), spoken)
        short.extend(grown)
        if not grown and 0 < opts.short_clip_seconds < product_floor:
            floor = replace(opts, min_seconds=opts.short_clip_seconds)
            tiny.extend(_fit_duration(rng, sentences, banned, segments, floor, spoken))
    # A product with selling talk too short for a full clip still gets its best short one; other short runs of
    # clean selling talk with evidence of their own become short clips too, after every full-length one.
    covered = {r.product_id for r in fitted}
    extra: list[_Range] = []
    for rng in sorted(short, key=lambda r: -_span(sentences, r.first, r.last, 0.0)):
        if rng.product_id not in covered:
            fitted.append(rng)
            covered.add(rng.product_id)
        elif opts.short_clip_seconds > 0:
            extra.extend(_evidenced(rng, sentences, spoken, cues, opts.short_clip_seconds, opts.padding))
    for rng in tiny:
        extra.extend(_evidenced(rng, sentences, spoken, cues, opts.short_clip_seconds, opts.padding))
    candidates = [_to_clip(r, sentences, transcript.duration, scenes, opts) for r in fitted]
    shorts = [_to_clip(r, sentences, transcript.duration, scenes, opts) for r in extra]
    chosen: list[PlannedClip] = []

    def fits(clip: PlannedClip) -> bool:
        return all(clip.source_end <= c.source_start or clip.source_start >= c.source_end for c in chosen)

    ranked = sorted(candidates, key=lambda c: (-c.score, c.source_start))
    # Every product first (its best clip), then the rest by score: a strong product must not crowd out the others.
    for clip in ranked:
        if len(chosen) < opts.max_clips and all(c.product_id != clip.product_id for c in chosen) and fits(clip):
            chosen.append(clip)
    for clip in ranked + sorted(shorts, key=lambda c: (-c.score, c.source_start)):
        if len(chosen) >= opts.max_clips:
            break
        if clip not in chosen and fits(clip):
            chosen.append(clip)
    chosen.sort(key=lambda c: (-c.score, c.source_start))
    return tuple(replace(c, id=f"{opts.id_prefix}-{rank:02d}") for rank, c in enumerate(chosen, start=1))


def _clean(point: SellingPoint, banned: frozenset[int], count: int, language: str) -> list[_Range]:
    """Clamp a point to real sentences and split it around banned ones."""
    first, last = max(point.first_sentence, 0), min(point.last_sentence, count - 1)
    hook = point.hook
    if not hook.strip() or sentence_cues(hook, language).excluded:
        hook = point.point  # the hook is burned into the video: it must not carry a price call either
    title = point.title if not sentence_cues(point.title, language).excluded else point.point
    out: list[_Range] = []
    run_start: int | None = None
    for i in range(first, last + 2):
        clean = i <= last and i not in banned
        if clean and run_start is None:
            run_start = i
        elif not clean and run_start is not None:
            out.append(
                _Range(run_start, i - 1, point.product_id, (point.point,), hook, title, point.score, (point.reason,))
            )
            run_start = None
    return out


def _evidenced(
    rng: _Range,
    sentences: Sequence[Sentence],
    spoken: Sequence[tuple[int, int]],
    cues: Sequence[SentenceCues],
    min_seconds: float,
    padding: float,
) -> list[_Range]:
    """The parts of a short range whose every spoken sentence says something about the product on its own, that
    last at least ``min_seconds``: a selling cue (a material, a property, a number with its unit, a benefit, a
    demonstration), no chatter or urgency cue, no marker of the host's own story, no question, and (where ASR
    punctuates Chinese) whole sentences by its marks.

    A full-length clip is mostly the detector's word; a short one boxed in by replies and price calls is one or two
    sentences, so one misread reply or aside would be most of it: each sentence needs evidence of its own, and one
    without it ("Kendra again, no, it won't pill") is left out rather than sinking the sentence beside it.
    """
    groups = [(a, b) for a, b in spoken if rng.first <= a and b <= rng.last]
    out: list[_Range] = []
    run: list[tuple[int, int]] = []
    for g in [*groups, None]:
        if g is not None and _group_says_selling(g, sentences, cues):
            run.append(g)
            continue
        if run:
            first, last = run[0][0], run[-1][1]
            long_enough = _span(sentences, first, last, padding) >= min_seconds
            if long_enough and _whole_by_marks(first, last, sentences):
                out.append(replace(rng, first=first, last=last))
        run = []
    return out


def _group_says_selling(group: tuple[int, int], sentences: Sequence[Sentence], cues: Sequence[SentenceCues]) -> bool:
    a, b = group
    found = cues[a : b + 1]
    if not any(c.selling > 0 for c in found) or any(c.chatter or c.urgency for c in found):
        return False
    texts = [sentences[i].text.strip() for i in range(a, b + 1)]
    # The host's own story ("我妈刚给我发微信", "I took this to a festival last summer") carries numbers with units
    # as often as selling talk does. A question ("不吃辣的能不能不放辣，辣油单独一包", "Does it fit a queen?") is most
    # likely a viewer's, answered: a reply whose reply cue ASR misheard.
    return not any(host_story(t) or _QUESTION_FORM.search(t) for t in texts)


def _whole_by_marks(first: int, last: int, sentences: Sequence[Sentence]) -> bool:
    """Where ASR punctuates Chinese, whether ``first..last`` are whole sentences by its own marks: one ending on a
    comma, or starting after one, is a clause of a longer spoken sentence whose other half was left out."""
    if not is_cjk(" ".join(sentences[i].text for i in range(first, last + 1))):
        return True
    before = sentences[first - 1].text.strip() if first > 0 else "。"
    return bool(_END_MARK.search(sentences[last].text.strip()) and _END_MARK.search(before))


#: A question: a question mark, or a Chinese A-not-A question (能不能, 会不会, 有没有, 是不是).
_QUESTION_FORM = re.compile(r"[?？]|(?!动不动)([\u4e00-\u9fff])[不没]\1")
_END_MARK = re.compile(r"[.!?。！？…][\"'”’）)]*$")


def _merge_adjacent(ranges: list[_Range]) -> list[_Range]:
    merged: list[_Range] = []
    for rng in ranges:
        prev = merged[-1] if merged else None
        if prev is not None and prev.product_id == rng.product_id and rng.first <= prev.last + 1:
            best = prev if prev.score >= rng.score else rng
            points = prev.points + tuple(p for p in rng.points if p not in prev.points)
            reasons = prev.reasons + tuple(r for r in rng.reasons if r not in prev.reasons)
            merged[-1] = _Range(
                prev.first,
                max(prev.last, rng.last),
                prev.product_id,
                points,
                best.hook,
                best.title,
                max(prev.score, rng.score),
                reasons,
            )
        else:
            merged.append(rng)
    return merged


def _span(sentences: Sequence[Sentence], first: int, last: int, padding: float) -> float:
    return sentences[last].end - sentences[first].start + 2 * padding


def _segment_of(index: int, segments: Sequence[ProductSegment]) -> tuple[int, int] | None:
    for seg in segments:
        if seg.contains(index):
            return seg.first_sentence, seg.last_sentence
    return None


def spoken_sentences(sentences: Sequence[Sentence]) -> list[tuple[int, int]]:
    """Runs of transcript sentences that are one spoken sentence (see :func:`clipper.sentences.continues_previous`),
    as ``(first, last)`` index pairs covering every sentence once, in order. Clips start and end only between them.
    """
    groups: list[tuple[int, int]] = []
    for i in range(len(sentences)):
        if groups and _continues(sentences, i):
            groups[-1] = (groups[-1][0], i)
        else:
            groups.append((i, i))
    return groups


def _fit_duration(
    rng: _Range,
    sentences: Sequence[Sentence],
    banned: frozenset[int],
    segments: Sequence[ProductSegment],
    opts: PlanOptions,
    spoken: Sequence[tuple[int, int]] | None = None,
) -> list[_Range]:
    lo_bound, hi_bound = _segment_of(rng.first, segments) or (0, len(sentences) - 1)
    groups = list(spoken if spoken is not None else spoken_sentences(sentences))
    group_of = {i: g for g, (a, b) in enumerate(groups) for i in range(a, b + 1)}

    def usable(g: int) -> bool:
        a, b = groups[g]
        return lo_bound <= a and b <= hi_bound and not any(i in banned for i in range(a, b + 1))

    # Whole spoken sentences only: one the range touches is taken in whole when it is clean and inside the
    # segment; otherwise the range gives up that part (a clip must not end half-way through a price call).
    g_first, g_last = group_of[rng.first], group_of[rng.last]
    while g_first <= g_last and not usable(g_first):
        g_first += 1
    while g_last >= g_first and not usable(g_last):
        g_last -= 1
    if g_first > g_last or any(not usable(g) for g in range(g_first, g_last + 1)):
        return []  # (never happens for a range from _clean: its inside is clean)

    def span(ga: int, gb: int) -> float:
        return _span(sentences, groups[ga][0], groups[gb][1], opts.padding)

    # Grow a short range into clean neighbours of the same segment, the longer-spoken neighbour first
    # (detectors leave out weak-but-relevant context sentences; growing into them keeps the clip on topic).
    while span(g_first, g_last) < opts.min_seconds:
        options = []
        if g_first - 1 >= 0 and usable(g_first - 1):
            a, b = groups[g_first - 1]
            options.append((sentences[b].end - sentences[a].start, "left"))
        if g_last + 1 < len(groups) and usable(g_last + 1):
            a, b = groups[g_last + 1]
            options.append((sentences[b].end - sentences[a].start, "right"))
        if not options:
            return []
        _, side = max(options)
        if side == "left":
            g_first -= 1
        else:
            g_last += 1
    if span(g_first, g_last) <= opts.max_seconds:
        return [replace(rng, first=groups[g_first][0], last=groups[g_last][1])]
    # Too long: cut into consecutive pieces that each fit, keeping every piece at least min_seconds.
    pieces: list[_Range] = []
    start = g_first
    for g in range(g_first, g_last + 1):
        if span(start, g) > opts.max_seconds:
            if g - 1 >= start and span(start, g - 1) >= opts.min_seconds:
                pieces.append(replace(rng, first=groups[start][0], last=groups[g - 1][1]))
            start = g
    if span(start, g_last) >= opts.min_seconds:
        pieces.append(replace(rng, first=groups[start][0], last=groups[g_last][1]))
    return pieces


def _to_clip(
    rng: _Range, sentences: Sequence[Sentence], duration: float, scenes: SceneCuts | None, opts: PlanOptions
) -> PlannedClip:
    first, last = sentences[rng.first], sentences[rng.last]
    prev_end = sentences[rng.first - 1].end if rng.first > 0 else 0.0
    next_start = sentences[rng.last + 1].start if rng.last + 1 < len(sentences) else duration
    # Never past the middle of the pause: the neighbouring sentence's words stay out of the clip.
    earliest = (prev_end + first.start) / 2 if rng.first > 0 else 0.0
    latest = (last.end + next_start) / 2 if rng.last + 1 < len(sentences) else duration
    start = max(first.start - opts.padding, earliest, 0.0)
    end = min(last.end + opts.padding, latest, duration)
    if scenes is not None:
        cut = scenes.nearest(start, window=first.start - earliest)
        if cut is not None and earliest <= cut <= first.start:
            start = cut
        cut = scenes.nearest(end, window=latest - last.end)
        if cut is not None and last.end <= cut <= latest:
            end = cut
    return PlannedClip(
        id="",
        source_start=round(start, 3),
        source_end=round(end, 3),
        sentences=tuple(range(rng.first, rng.last + 1)),
        product_id=rng.product_id,
        points=rng.points,
        hook=rng.hook,
        title=rng.title,
        score=round(min(max(rng.score, 0.0), 1.0), 4),
        reason="; ".join(r for r in rng.reasons if r),
    )
