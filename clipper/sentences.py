"""Group recognised words into sentences, for Chinese and English.

ASR output for Chinese often has no punctuation at all, so punctuation is only one signal: a sentence also ends
at a long enough pause, and a run-on sentence is split at its longest internal pause once it grows past a length
limit. Sentence boundaries are the only places clips may start or end, so they must never fall inside a word:
every boundary here is between two words.

Whisper also drops full stops: in English a capitalised function word after a bare word ("...eight recipes The
set's $34") starts a new sentence, and in Chinese, where it runs a host's lines together with commas, a sentence is
cut at the comma where a price call or a comment reply starts after selling talk (so the selling half can still be
clipped).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from clipper.types import Sentence, Word

_END_PUNCT = re.compile(r"[.!?。！？…]+[\"'”’）)]*$")
_SOFT_PUNCT = re.compile(r"[,;:，；：、]+[\"'”’）)]*$")
_ANY_PUNCT = re.compile(r"[.!?。！？…,;:，；：、]")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
# Whisper capitalises the first word of a sentence; a capitalised function word or discourse marker after a word
# without punctuation ("...eight recipes The set's $34", "...last night Pouring it over ice") is a sentence start
# whose full stop it dropped. Names are capitalised too, so only words that are no name count ("I" is always upper).
_OPENER = re.compile(
    r"^(?:The|This|That|These|Those|It|It's|Its|They|They're|We|We're|You|You're|He|She|There|There's|Here|"
    r"Here's|So|And|But|Okay|OK|Ok|Alright|Now|Then|Let|Let's|What|What's|How|Why|When|Who|Where|My|Our|Your|If|"
    r"Plus|Also|Oh|Look|See|Each|Every|Just|No|Yes|Yeah|Thanks|Thank|Sorry|Well|Wait|Listen|Watch|At|In|On|For|"
    r"With)\b|"
    # A gerund opening a clause ("...last night Pouring it over ice"); names ending in -ing ("Denning 20") take no
    # object pronoun or article after them.
    r"[A-Z][a-z]{2,}ing\s+(?:it|this|that|these|those|the|a|an|my|your|them|on|in|at|up|out|over|down)\b"
)
_ABBREVIATION = re.compile(r"(?:\b[A-Za-z]\.){2,}$|\b(?:mr|mrs|ms|dr|vs|etc|approx|no|st)\.$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class SentenceOptions:
    """Thresholds for :func:`split_sentences`. Defaults suit livestream speech.

    Punctuated text (English, or Chinese that Whisper punctuated) ends a sentence at end punctuation; a pause ends
    one only when it reaches ``long_pause``, and a word that ends with a comma, or a next word in lower case,
    continues the sentence: hosts pause at commas as long as between sentences, and a clip must never start in
    the middle of a spoken sentence. Run-ons are split past ``max_seconds_punctuated``.

    ``pause`` ends a sentence on silence alone (it is what unpunctuated Chinese relies on); ``min_chars`` keeps
    a short hesitation from becoming a sentence of its own; ``max_seconds``/``max_chars`` split run-ons at
    their longest pause (preferring soft punctuation).
    """

    pause: float = 0.45
    long_pause: float = 1.2
    min_chars: int = 4
    max_seconds: float = 12.0
    max_seconds_punctuated: float = 25.0
    max_chars_cjk: int = 40
    max_chars_latin: int = 160


def is_cjk(text: str) -> bool:
    """Whether ``text`` is mostly CJK (decides joining without spaces and length units)."""
    letters = [c for c in text if not c.isspace()]
    if not letters:
        return False
    return sum(1 for c in letters if _CJK.match(c)) / len(letters) > 0.3


def join_words(words: Sequence[Word]) -> str:
    """Join word texts as they were spoken: faster-whisper keeps the leading space on Latin words."""
    return "".join(w.text for w in words).strip()


def split_sentences(
    words: Sequence[Word], language: str = "", options: SentenceOptions | None = None
) -> tuple[Sentence, ...]:
    """Split ``words`` (in time order) into sentences indexed from 0.

    Args:
        words: recognised words; for Chinese each word may be one or a few characters.
        language: ``zh`` or ``en``; empty guesses from the text.
        options: thresholds, see :class:`SentenceOptions`.

    Returns:
        Sentences covering every word exactly once, in order.
    """
    opts = options or SentenceOptions()
    if not words:
        return ()
    cjk = language.startswith("zh") if language else is_cjk("".join(w.text for w in words[:200]))
    max_chars = opts.max_chars_cjk if cjk else opts.max_chars_latin
    punctuated = _punctuated(words, cjk)
    max_seconds = opts.max_seconds_punctuated if punctuated else opts.max_seconds
    if punctuated and cjk:
        max_chars *= 2
    groups: list[list[Word]] = []
    current: list[Word] = []
    for i, word in enumerate(words):
        current.append(word)
        nxt = words[i + 1] if i + 1 < len(words) else None
        if nxt is None:
            break
        text = word.text.strip()
        gap = nxt.start - word.end
        length = len(join_words(current))
        if punctuated:
            following = nxt.text.strip()
            after = words[i + 2].text if i + 2 < len(words) else ""
            continues = bool(_SOFT_PUNCT.search(text)) or (following[:1].isalpha() and following[:1].islower())
            # "9 a.m. and I'm..." - an abbreviation's full stop before a lower-case word ends nothing.
            ends = bool(_END_PUNCT.search(text)) and not (
                _ABBREVIATION.search(text) and following[:1].isalpha() and following[:1].islower()
            )
            ends = ends or (gap >= opts.long_pause and not continues and length >= opts.min_chars)
            # A dropped full stop: a bare word, then a capitalised sentence opener.
            ends = ends or (
                not cjk
                and not _ANY_PUNCT.search(text)
                and bool(_OPENER.match(following + after))
                and length >= opts.min_chars
            )
        else:
            ends = bool(_END_PUNCT.search(text)) or (gap >= opts.pause and length >= opts.min_chars)
        if ends:
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    pieces: list[list[Word]] = []
    for group in groups:
        for piece in _split_long(group, max_seconds, max_chars):
            pieces.extend(_split_before_call(piece) if cjk else [piece])
    return tuple(
        Sentence(index=i, start=g[0].start, end=g[-1].end, text=join_words(g), words=tuple(g))
        for i, g in enumerate(pieces)
    )


# A sentence opening with one of these after a short pause usually finishes the previous one (ASR often puts a
# period at a comma pause): a clip boundary between the two would cut a spoken sentence in half.
_CONTINUATION = re.compile(
    r"^\s*(?:(?:so|and|but|or|which|because|that|then|plus|while)\b|所以|而且|但是|因为|然后|并且|还有)",
    re.IGNORECASE,
)
_CONTINUATION_PAUSE = 0.5
#: A short yes/no answer opening a piece ("能，", "不会，", "可以的，").
_ANSWER = re.compile(r"^\s*(?:能|不能|可以|会|不会|有|没有|行|不行|当然|是|不是|对|没问题)(?:的|啊|呀|哦)?[，,。！!]")
# A scrap this short right after the previous words ("..., it barely foams. It's not a bubble bath.") is the tail
# of the same spoken sentence that ASR closed with a period at a comma pause.
_TAIL_PAUSE = 0.3
_TAIL_SECONDS = 1.2
_TAIL_WORDS = 6


def continues_previous(sentences: Sequence[Sentence], index: int, long_pause: float = 1.2) -> bool:
    """Whether sentence ``index`` finishes sentence ``index - 1``: the same spoken sentence, split in two.

    Evidence, any of: the previous (English) piece ends on a comma or no end punctuation at all (a run-on split
    for length, or a pause taken mid-sentence), the piece starts with a lower-case word (Whisper writes a sentence it
    continues in lower case), a conjunction after a short pause, or a scrap of a few words right after the
    previous one. A pause of ``long_pause`` or more ends a sentence whatever the text says.
    """
    if index <= 0 or index >= len(sentences):
        return False
    prev, cur = sentences[index - 1], sentences[index]
    pause = cur.start - prev.end
    if pause >= long_pause:
        return False
    text, before = cur.text.strip(), prev.text.strip()
    if not before or not text:
        return False
    # Whisper's Chinese commas mark sentence ends as often as pauses inside one (measured on the corpus), so the
    # comma is evidence in English only; a piece without any punctuation is unpunctuated ASR: silence decides.
    # A capitalised opener after a bare word is Whisper starting a new sentence without the full stop before it.
    dropped_stop = not is_cjk(before) and not _ANY_PUNCT.search(before[-1:]) and bool(_OPENER.match(text))
    if dropped_stop:
        return False
    if not is_cjk(before) and (
        _SOFT_PUNCT.search(before) or (not _END_PUNCT.search(before) and _ANY_PUNCT.search(before))
    ):
        return True
    if text[:1].isalpha() and text[:1].islower() and not _CJK.match(text[:1]):
        return True
    # "...小灰问刷子能洗吗？" then "能，洗完平放晾干就行": the answer finishes the question it follows.
    if _QUESTION_END.search(before) and _ANSWER.match(text):
        return True
    # "Someone asked about shipping." then "Everything goes out in two days": a viewer's question read out on its
    # own is answered by what follows it; question and answer are one reply, and no clip starts in between.
    if _reads_out_question(before):
        return True
    weak = pause < _CONTINUATION_PAUSE and bool(_CONTINUATION.match(text))
    short = len(text.split()) <= _TAIL_WORDS if not is_cjk(text) else len(_CJK.findall(text)) <= _TAIL_WORDS
    weak = weak or (pause < _TAIL_PAUSE and cur.duration < _TAIL_SECONDS and short)
    # "...which my stomach appreciates. So here's the deal, buy two...": after a full stop, an opening "so"/"and"
    # that starts a price call is the host turning to the price, not the end of the selling sentence.
    return weak and not (_END_PUNCT.search(before) and _starts_a_call(text, before))


#: A read-out question this short (English words / Chinese characters) holds no answer yet.
_QUESTION_WORDS = 7
_QUESTION_CJK = 14


_CLAUSE_END = re.compile(r"[.!?。！？…,;:，；：]+")


def _reads_out_question(text: str) -> bool:
    """Whether ``text`` ends on a viewer's question reported and not yet answered: its last clause has a reply cue
    and no question mark ("Someone asked about shipping.", "“小陈”问能不能投到天花板，") and is too short to hold the
    answer too."""
    from clipper.cues import sentence_cues  # clipper.cues imports this module

    clauses = [c for c in _CLAUSE_END.split(text) if c.strip()]
    if not clauses:
        return False
    last = clauses[-1].strip()
    # One asked with a question mark is answered only by an answer ("能，..."; see _ANSWER), as before.
    if _QUESTION_END.search(text) or not sentence_cues(last, "").reply:
        return False
    if is_cjk(last):
        return len(_CJK.findall(last)) <= _QUESTION_CJK
    return len(last.split()) <= _QUESTION_WORDS


def _starts_a_call(text: str, before: str) -> bool:
    """Whether ``text`` is a price/urgency call or chatter and ``before`` is neither."""
    from clipper.cues import sentence_cues  # clipper.cues imports this module

    now, then = sentence_cues(text, ""), sentence_cues(before, "")
    return (now.price_or_urgency or now.chatter) and not (then.price_or_urgency or then.chatter)


#: The least Chinese characters of selling talk before a price call for :func:`_split_before_call` to cut there.
_MIN_HEAD_CJK = 10
#: A clause this short right before a call opens the call ("一盒十片，原价九十九").
_OPENING_CLAUSE_CJK = 6
#: A closing question of at least this many characters is cut off a long sentence too.
_MIN_QUESTION_CJK = 5
_QUESTION_END = re.compile(r"[？?][\"'”’）)]*\s*$")
#: A count with its measure word (一盒, 十片, 两瓶): what a price call's opening clause states.
_COUNT = re.compile(r"(?:\d+|[一二两三四五六七八九十百几])\s*[盒片瓶支件套袋包个条双罐组份只张对]")


def _split_before_call(group: list[Word]) -> list[list[Word]]:
    """Cut a Chinese sentence at the comma where a price call or a comment reply starts after selling talk.

    Whisper runs a host's lines together with commas ("领口袖口都是螺纹收口，洗多少次都不会松垮，一号链接又补了一百
    件"); the call must stay out of a clip, and without the cut the whole sentence, selling half included, goes with
    it. Only a head of at least :data:`_MIN_HEAD_CJK` characters without any call is cut off, less a short clause
    right before the call (一盒十片 opens the price line), and only at a comma, so the cut is where the host paused.
    """
    from clipper.cues import sentence_cues  # clipper.cues imports this module

    ends = [i for i, w in enumerate(group[:-1]) if _SOFT_PUNCT.search(w.text.strip())]
    head = 0
    call_is_price = True  # the closing clause's call, see below
    for i in ends:
        clause = join_words(group[head : i + 1])
        cues = sentence_cues(clause, "zh")
        if cues.price_or_urgency or cues.reply:
            if head == 0:
                return _split_after_call(group, ends) if cues.price_or_urgency else [group]
            call_is_price = cues.price_or_urgency
            break
        head = i + 1
    else:
        if head == 0:
            return [group]
        last = join_words(group[head:])
        cues = sentence_cues(last, "zh")
        call_is_price = cues.price_or_urgency
        if not (cues.price_or_urgency or cues.reply):
            # A closing question after selling talk ("...洗面奶就能洗掉，奔跑的西瓜问会不会搓泥？") is a sentence of
            # its own, for the structure to judge (a viewer's question read out, or one put to the audience).
            question = _QUESTION_END.search(last) and len(_CJK.findall(last)) >= _MIN_QUESTION_CJK
            if question and len(_CJK.findall(join_words(group[:head]))) >= _MIN_HEAD_CJK:
                return [group[:head], group[head:]]
            return [group]
    # A short clause counting what the price buys right before the call opens it (一盒十片，原价九十九): it stays
    # with the call; one without a count (拧干一点就行，原价...) ends the talk before it. Not before
    # a viewer's question (没起球没松，健身的老张问...): that clause ends the host's own sentence.
    starts = [0] + [i + 1 for i in ends if i + 1 < head]
    if (
        call_is_price
        and len(starts) > 1
        and len(_CJK.findall(join_words(group[starts[-1] : head]))) <= _OPENING_CLAUSE_CJK
        and _COUNT.search(join_words(group[starts[-1] : head]))
    ):
        head = starts[-1]
    if len(_CJK.findall(join_words(group[:head]))) < _MIN_HEAD_CJK:
        return [group]
    return [group[:head], group[head:]]


def _split_after_call(group: list[Word], ends: Sequence[int]) -> list[list[Word]]:
    """Cut a Chinese sentence that opens with a price call at the comma where selling talk follows.

    Whisper runs the tail of a call into the next line ("拍完就下架，新房装修中...，顺手带一个地垫，洗完澡踩上去..."):
    the call must stay out of a clip and the talk after it must not go with it. The call's clauses are cut off when
    at least :data:`_MIN_HEAD_CJK` characters follow them; what follows is split again like any sentence.
    """
    from clipper.cues import sentence_cues  # clipper.cues imports this module

    cut = 0
    for i in ends:
        if not sentence_cues(join_words(group[cut : i + 1]), "zh").price_or_urgency:
            break
        cut = i + 1
    if cut == 0 or cut >= len(group) or len(_CJK.findall(join_words(group[cut:]))) < _MIN_HEAD_CJK:
        return [group]
    return [group[:cut], *_split_before_call(group[cut:])]


def _punctuated(words: Sequence[Word], cjk: bool) -> bool:
    """Whether the recogniser punctuated this text (then punctuation, not pauses, marks sentences)."""
    sample = words[:400]
    marks = sum(1 for w in sample if _END_PUNCT.search(w.text.strip()) or _SOFT_PUNCT.search(w.text.strip()))
    units = sum(len(_CJK.findall(w.text)) for w in sample) if cjk else len(sample)
    # About one mark per sentence-length stretch: 30 Chinese characters or 25 English words.
    return units > 0 and marks * (30 if cjk else 25) >= units


def _split_long(group: list[Word], max_seconds: float, max_chars: int) -> list[list[Word]]:
    """Split a run-on sentence at its best internal boundary until every piece fits."""
    if len(group) < 2:
        return [group]
    too_long = group[-1].end - group[0].start > max_seconds or len(join_words(group)) > max_chars
    if not too_long:
        return [group]
    best_index, best_score = 0, float("-inf")
    n = len(group)
    for i in range(n - 1):
        gap = group[i + 1].start - group[i].end
        # Prefer soft punctuation and long pauses; stay away from the ends so no piece is a scrap.
        balance = min(i + 1, n - i - 1) / n
        score = gap + (0.5 if _SOFT_PUNCT.search(group[i].text.strip()) else 0.0) + 0.2 * balance
        if score > best_score:
            best_index, best_score = i, score
    left, right = group[: best_index + 1], group[best_index + 1 :]
    return _split_long(left, max_seconds, max_chars) + _split_long(right, max_seconds, max_chars)


def words_from_text(text: str, start: float, end: float) -> tuple[Word, ...]:
    """Interpolate word times inside a subtitle cue: characters for CJK, whitespace words otherwise.

    Times are spread in proportion to character counts, which is how subtitle-based cutters place words when no
    forced aligner is available.
    """
    text = " ".join(text.split())
    if not text:
        return ()
    if is_cjk(text):
        tokens = re.findall(r"[\u3400-\u9fff\uf900-\ufaff]|[^\u3400-\u9fff\uf900-\ufaff\s]+", text)
        # Attach punctuation to the preceding character so it never becomes a word of its own.
        merged: list[str] = []
        for tok in tokens:
            if merged and not _CJK.match(tok) and not tok[0].isalnum():
                merged[-1] += tok
            else:
                merged.append(tok)
        pieces = merged
        texts = pieces
    else:
        pieces = text.split(" ")
        # Leading space like faster-whisper's words, so joining words across cues keeps the spaces.
        texts = [" " + p for p in pieces]
    weights = [max(len(p), 1) for p in pieces]
    total = float(sum(weights))
    span = max(end - start, 0.0)
    out: list[Word] = []
    t = start
    for piece_text, weight in zip(texts, weights, strict=True):
        step = span * weight / total
        out.append(Word(start=round(t, 3), end=round(t + step, 3), text=piece_text))
        t += step
    return tuple(out)
