"""What each sentence of a selling livestream does, from the structure of the stream and not only from word lists.

A host sells one product at a time: a lead-in (transition), then an explanation that can run for minutes
(materials, fit, a demonstration, who it suits), viewers' questions and the answers, a price call (price, coupon,
link number, stock, deadline), and chatter in between. Inside a product's segment the default is therefore
*explanation*: a sentence that stays on the product's topic is selling talk even when it uses words no lexicon
lists ("mmm, zero bitterness, it's almost sweet"). What takes a sentence out of the selling talk must be
positive evidence:

* ``price``: price evidence in the sentence (an amount with a currency or a spoken price, a coupon or code, a
  discount, a link or cart number, a stock count, a deadline, a call to order), or urgency words ("right now",
  赶紧) *with* price evidence in a neighbouring sentence. "I am pouring water on it right now, look" is a
  demonstration, not urgency.
* ``reply`` / ``greeting`` / ``chatter``: the chatter cues of :mod:`clipper.cues` (greetings, follow asks,
  answers to comments), or off-topic talk: a sentence that shares no content word with the product (name,
  aliases, attributes) nor with the rest of its segment, or that tells the host's own story (my sister, last
  week) without a selling cue.
* ``transition``: a lead-in cue, or a short first sentence of a segment that names the product and says nothing
  about it yet.

Outside product segments (intro, outro, no product list) only strong selling cues make a sentence selling.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

from clipper.cues import SentenceCues, resolve_language, sentence_cues
from clipper.labels import SentenceKind
from clipper.segments import product_keys
from clipper.sentences import continues_previous, is_cjk
from clipper.types import Product, ProductSegment, Sentence, Transcript

__all__ = ["SentenceKinds", "StructureOptions", "classify_sentences", "host_story", "mask_names"]

_EN_STOP = frozenset(
    """a an the and or but so if then than that this these those it its it's is are was were be been being am
    i i'm i've i'll me my we we're our you you're your yours they them their he she his her him to of in on at
    for from with by as up down out off over under about into onto just really very super too also even only
    not no yes yeah okay ok oh um uh like right now here there what which who how when where why all any some
    one ones get got gets go going gonna can could will would should do does did don't doesn't have has had
    thing things stuff lot lots little bit more most much many well look see say said guys everyone folks
    let let's make makes made put take want need know think way""".split()  # noqa: SIM905
)
_EN_WORD = re.compile(r"[a-z][a-z'-]+")
_CJK_RUN = re.compile(r"[\u3400-\u9fff]+")
_LATIN_IN_ZH = re.compile(r"[A-Za-z][A-Za-z0-9+-]*")

# The host's own story: family, team, pets, their day. Said without a selling cue it is chatter even when it
# mentions the product's category ("I had tacos three nights in a row").
_EN_NARRATIVE = re.compile(
    r"\bmy (?:mom|mum|mother|dad|father|husband|wife|boyfriend|girlfriend|partner|kids?|son|daughter|sister|"
    r"brother|family|dog|cat|puppy|producer|team|crew|camera ?(?:guy|person)|assistant|friends?|bestie|"
    r"neighbou?r|roommate|boss|grandma|grandmother|aunt|uncle|cousin)\b|\byesterday\b|\blast (?:night|week|"
    r"weekend|month|year)\b|\bthis morning\b|\bon my way\b|\bweather\b|\braining\b|\btraffic\b|\blunch\b|"
    r"\bdinner\b|\bcoffee break\b|\bi'?m so tired\b|\bmy hair\b|\bmy nails\b|\bvacation\b|\bholiday\b|"
    r"\b(?:on |last |this |next )?(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|weekend)\b|"
    r"\bwhen i was\b|\bin college\b|\bback in\b",
    re.IGNORECASE,
)
_ZH_NARRATIVE = re.compile(
    r"我妈|我爸|我老公|我老婆|我男朋友|我女朋友|我闺蜜|我姐|我妹|我哥|我弟|我儿子|我女儿|我家(?:狗|猫|孩子|娃|宝)|"
    r"我们(?:团队|助理|运营|导演)|助理|场控|导演|运营小哥|昨天|前天|前两天|上周|上个月|去年|今天早上|今早|"
    r"天气|下雨|堵车|吃饭|午饭|晚饭|火锅|奶茶|累死|困死|头发|剪头|理发|上大学|我大学|大学的时候|小时候|以前我|那时候|"
    r"周末|星期[一二三四五六天日]|礼拜[一二三四五六天日]"
)
# In Chinese the host points back at the product with a pronoun ("今早涂了它"): a story about using it is selling.
_ZH_PRODUCT_REFERENCE = re.compile(r"它|这款|这个(?:产品|宝贝|东西)|这[条件双瓶支盒]")
#: Reasons for ``chatter`` that are only the absence of evidence (no shared words), not evidence of chatter.
_WEAK_REASONS = ("off the product's topic", "a question to the audience")
# A question put to the audience ("Who's ready?", 你们想不想要?) without anything about the product.
_QUESTION = re.compile(r"[?？]\s*$")


@dataclass(frozen=True, slots=True)
class StructureOptions:
    """Thresholds of :func:`classify_sentences`.

    ``lead_in_selling`` is the cue strength up to which a sentence with a lead-in cue near the start of a segment
    still counts as the transition. ``cue_selling`` is the cue strength that makes a sentence selling on its own
    (inside a segment) or
    ``outside_selling`` outside any product segment; ``narrative_override`` the strength above which a selling
    cue beats a personal-story marker; ``lead_in_words`` / ``lead_in_chars`` the length of a product-naming first
    sentence that still counts as a lead-in, ``lead_in_rest_chars`` / ``lead_in_rest_words`` how much it may say
    besides the product's name (Chinese characters / English content words); ``bridge`` the most off-topic-looking
    sentences between two selling sentences of a product, or between one and the price call that ends its
    explanation, that still count as its explanation; ``common_share`` the share of a transcript's
    sentences a content word may appear in before it stops counting for topic cohesion (it is then a habit of the
    host, not a topic).
    """

    cue_selling: float = 0.25
    outside_selling: float = 0.6
    narrative_override: float = 0.7
    lead_in_words: int = 12
    lead_in_chars: int = 14
    lead_in_selling: float = 0.75
    lead_in_rest_chars: int = 6
    lead_in_rest_words: int = 4
    common_share: float = 0.25
    bridge: int = 3


@dataclass(frozen=True, slots=True)
class SentenceKinds:
    """Each sentence's kind and the cues behind it (``cues[i]`` for ``transcript.sentences[i]``)."""

    kinds: tuple[SentenceKind, ...]
    cues: tuple[SentenceCues, ...]
    reasons: tuple[str, ...]

    def selling(self, index: int) -> bool:
        return self.kinds[index] == "selling"


def classify_sentences(
    transcript: Transcript,
    segments: Sequence[ProductSegment],
    products: Sequence[Product],
    options: StructureOptions | None = None,
) -> SentenceKinds:
    """Label every sentence of ``transcript`` with its kind (see the module docstring for the rules).

    Args:
        transcript: the sentences, in order.
        segments: product segments (from :func:`clipper.segments.find_product_segments`); sentences outside all
            segments are treated as intro/outro.
        products: the product list; names, aliases and attributes tie sentences to their product.
        options: thresholds, see :class:`StructureOptions`.
    """
    opts = options or StructureOptions()
    sentences = transcript.sentences
    lang = resolve_language(" ".join(s.text for s in sentences[:30]), transcript.language)
    cues = tuple(sentence_cues(s.text, lang) for s in sentences)
    tokens = [_content_tokens(s.text, lang) for s in sentences]
    df = Counter(t for toks in tokens for t in set(toks))
    common = {t for t, n in df.items() if n > max(3, opts.common_share * len(sentences))}
    tokens = [toks - common for toks in tokens]
    segment_of: dict[int, ProductSegment] = {}
    for segment in segments:
        for i in range(segment.first_sentence, segment.last_sentence + 1):
            segment_of[i] = segment
    by_id = {p.id: p for p in products}
    product_tokens = {
        p.id: set().union(*(_content_tokens(n, lang) for n in (*p.names, *p.attributes))) for p in products
    }
    kinds: list[SentenceKind] = []
    reasons: list[str] = []
    for i, sentence in enumerate(sentences):
        c = cues[i]
        seg = segment_of.get(i)
        kind, why = _kind(i, sentence.text, c, cues, tokens, seg, by_id, product_tokens, lang, opts)
        kinds.append(kind)
        reasons.append(why)
    for i in range(len(kinds) - 1):
        # A question answered by a reply is the viewer's question the host read out ("奔跑的西瓜问会不会搓泥？" /
        # "刚才说了呀，叠粉底都没事"), whatever ASR made of the name and of 问.
        if (
            kinds[i] == "selling"
            and kinds[i + 1] == "reply"
            and _QUESTION.search(sentences[i].text)
            and not reasons[i].endswith("(names it)")
        ):
            kinds[i], reasons[i] = "reply", "the question the next sentence answers"
    if lang == "zh":
        _mark_viewer_questions(sentences, kinds, reasons)
    _bridge_explanations(kinds, reasons, segment_of, opts.bridge)
    for i in range(1, len(kinds)):
        # "The whole thing folds flat. So it slides into a drawer": one spoken sentence that ASR split in two.
        if kinds[i - 1] == "selling" and reasons[i] in _WEAK_REASONS and continues_previous(sentences, i):
            kinds[i], reasons[i] = "selling", "finishes the sentence before it"
    return SentenceKinds(tuple(kinds), cues, tuple(reasons))


#: A Chinese A-not-A question (能不能, 会不会, 有没有, 辣不辣); 动不动 is an adverb ("动不动就刺痛"), no question.
_ZH_A_NOT_A = re.compile(r"(?!动不动)([\u4e00-\u9fff])[不没]\1")
#: A-not-A forms a host asks her audience to agree with (是不是很软？); they open no viewer's question.
_ZH_RHETORICAL = re.compile(r"是不是|对不对|好不好|要不要")
_CLAUSE_MARK = re.compile(r"[，,。！？!?；;]")


def host_story(text: str) -> bool:
    """Whether ``text`` has a marker of the host's own story (family, her day, the weather, last week)."""
    return bool((_ZH_NARRATIVE if is_cjk(text) else _EN_NARRATIVE).search(text))


def _mark_viewer_questions(sentences: Sequence[Sentence], kinds: list[SentenceKind], reasons: list[str]) -> None:
    """A viewer's question read out and answered is a reply, whatever ASR made of the viewer's name and of 问.

    A host asks her audience rhetorical questions ("是不是很软？"), but an A-not-A question *followed by another
    clause* in the same breath ("不吃辣的能不能不放辣，辣油单独一包") is a question put to the host and her answer.
    The same question closing a piece, with the next piece continuing it, is answered by that piece.
    """
    for i, sentence in enumerate(sentences):
        if kinds[i] in ("price", "reply", "greeting"):
            continue
        text = sentence.text.strip()
        for m in _ZH_A_NOT_A.finditer(text):
            rest = text[m.end() :]
            clause_end = _CLAUSE_MARK.search(rest)
            answered_here = clause_end is not None and len(_CJK_RUN.findall(rest[clause_end.end() :])) > 0
            answered_next = (
                (clause_end is None or not _CJK_RUN.search(rest[clause_end.end() :]))
                and i + 1 < len(sentences)
                and continues_previous(sentences, i + 1)
            )
            if _ZH_RHETORICAL.match(m.group(0)):
                continue
            if answered_here or answered_next:
                kinds[i], reasons[i] = "reply", f"a viewer's question and its answer ({m.group(0)})"
                if answered_next and not answered_here and kinds[i + 1] not in ("price", "greeting"):
                    kinds[i + 1], reasons[i + 1] = "reply", "answers the viewer's question before it"
                break


def _bridge_explanations(
    kinds: list[SentenceKind], reasons: list[str], segment_of: dict[int, ProductSegment], longest: int
) -> None:
    """An explanation goes on between selling sentences: up to ``longest`` sentences judged off-topic only for want
    of shared words ("It's almost sweet.") between two selling sentences of one segment, or between a selling
    sentence and the price call that follows the explanation, are selling too. Sentences with positive evidence (a
    price, a reply, the host's story, a greeting) are never bridged."""
    weak = _WEAK_REASONS
    i = 0
    while i < len(kinds):
        if kinds[i] != "selling":
            i += 1
            continue
        j = i + 1
        while j < len(kinds) and kinds[j] == "chatter" and reasons[j] in weak:
            j += 1
        seg = segment_of.get(i)
        if (
            1 <= j - i - 1 <= longest
            and j < len(kinds)
            and kinds[j] == "selling"
            and seg is not None
            and seg.contains(j)
        ):
            for k in range(i + 1, j):
                kinds[k], reasons[k] = "selling", "between selling sentences of its product"
        elif 1 <= j - i - 1 <= longest and j < len(kinds) and kinds[j] == "price" and seg and seg.contains(j):
            # The explanation runs up to the price call (transition -> explanation -> price): "let me sip, mmm, zero
            # bitterness. It's almost sweet. It's 18.99 a bag, link one."
            for k in range(i + 1, j):
                kinds[k], reasons[k] = "selling", "the end of the explanation before the price call"
        i = j


def _kind(
    i: int,
    text: str,
    c: SentenceCues,
    cues: Sequence[SentenceCues],
    tokens: Sequence[set[str]],
    seg: ProductSegment | None,
    by_id: dict[str, Product],
    product_tokens: dict[str, set[str]],
    lang: str,
    opts: StructureOptions,
) -> tuple[SentenceKind, str]:
    if c.price_or_urgency:
        return "price", _reason(c, "price")
    if c.urgency and any(0 <= j < len(cues) and cues[j].price_or_urgency for j in (i - 1, i + 1)):
        return "price", "urgency next to a price call"
    if c.chatter:
        term = _reason(c, "chatter")
        if c.reply:
            return "reply", term
        return ("greeting" if c.greeting else "chatter"), term
    if seg is None or seg.product_id is None:
        if c.selling >= opts.outside_selling and not c.transition:
            return "selling", "strong selling cues outside a product segment"
        return ("transition" if c.transition else "chatter"), "outside any product segment"
    product = by_id.get(seg.product_id)
    if product is not None:
        # The product's own name ("轻薄羽绒服", "rain jacket") is not a selling cue: score the text without it.
        c = replace(c, selling=sentence_cues(mask_names(text, product), lang).selling)
    own_tokens = tokens[i]
    mine = product_tokens.get(seg.product_id, set())
    names_product = bool(own_tokens & mine)
    # A lead-in cue: a transition unless the sentence already sells (a lead-in in the segment's first two
    # sentences may carry a little praise and still be a lead-in).
    lead_in_limit = opts.lead_in_selling if i - seg.first_sentence <= 1 else opts.cue_selling
    if c.transition and c.selling < lead_in_limit:
        return "transition", _reason(c, "transition")
    if (
        i - seg.first_sentence <= 1
        and product is not None
        and c.selling < lead_in_limit
        and _ends_on_name(text, product)
    ):
        # New information comes last: a sentence that builds up to the product's name introduces it ("Vitamin C
        # needs a good moisturizer on top, so let me grab the Barrier Cloud Cream.").
        return "transition", "ends on the product's name, introducing it"
    if (
        i == seg.first_sentence
        and names_product
        and c.selling < opts.cue_selling
        and _short(text, lang, opts)
        and (product is None or _little_besides(mask_names(text, product), lang, opts))
    ):
        return "transition", "names the product before saying anything about it"
    narrative = (_ZH_NARRATIVE if lang == "zh" else _EN_NARRATIVE).search(text)
    points_back = lang == "zh" and _ZH_PRODUCT_REFERENCE.search(text)
    # In English the host's story beats a shared attribute word ("I've eaten half the bag"): only the product's
    # name saves it. Chinese story markers (头发, 吃饭, 天气) are everyday words a product's attributes share, so there
    # any attribute counts.
    says_name = names_product
    if lang != "zh" and product is not None:
        says_name = bool(_content_tokens(" ".join(product.names), lang) & own_tokens)
    if narrative and c.selling < opts.narrative_override and not says_name and not points_back:
        return "chatter", f"host's own story ({narrative.group(0)})"
    if c.selling >= opts.cue_selling:
        return "selling", "selling cues"
    others = Counter(t for j in range(seg.first_sentence, seg.last_sentence + 1) if j != i for t in tokens[j])
    shared = {t for t in own_tokens if others[t] >= 1}
    if names_product or len(shared) >= 1:
        if _QUESTION.search(text) and not names_product and len(shared) < 2:
            return "chatter", "a question to the audience"
        return "selling", "on the product's topic" + (" (names it)" if names_product else "")
    return "chatter", "off the product's topic"


def mask_names(text: str, product: Product) -> str:
    """``text`` with the product's name and aliases blanked out (case-insensitive)."""
    for name in sorted(product.names, key=len, reverse=True):
        if name.strip():
            text = re.sub(re.escape(name.strip()), " ", text, flags=re.IGNORECASE)
    return text


def _reason(c: SentenceCues, label: str) -> str:
    return next((r for r in c.reasons if r.startswith(f"{label}:")), label)


def _short(text: str, lang: str, opts: StructureOptions) -> bool:
    if lang == "zh":
        return len(re.findall(r"[\u3400-\u9fff]", text)) <= opts.lead_in_chars
    return len(text.split()) <= opts.lead_in_words


_TRAILING = re.compile(r"[\s.,!?;:。，！？；：、…\"'”’）)]+$")


def _ends_on_name(text: str, product: Product) -> bool:
    """Whether ``text`` ends on one of ``product``'s names (case-insensitive, trailing punctuation aside), and ends
    there: after a comma the host goes on about it in the same breath ("...the Street Taco Spice Set, six jars")."""
    if re.search(r"[,;:，；：、]\W*$", text):
        return False
    body = _TRAILING.sub("", text)
    for key in product_keys([product]):
        if key.weight < 1.0:
            continue  # a derived tail ("cream") is too common a word to mark an introduction
        if key.pattern is None:
            if re.sub(r"[^\w]+", "", body.casefold()).endswith(key.text):
                return True
        elif (m := list(key.pattern.finditer(body.casefold()))) and m[-1].end() == len(body):
            return True
    return False


def _little_besides(rest: str, lang: str, opts: StructureOptions) -> bool:
    """Whether ``rest`` (a sentence without the product's name) says next to nothing: a lead-in names the product
    and little else ("接下来这款羽绒服"), while "这套恐龙绘本，一套十本，硬壳精装" already describes it."""
    if lang == "zh":
        return len(re.findall(r"[\u3400-\u9fff]", rest)) <= opts.lead_in_rest_chars
    return len(_content_tokens(rest, lang)) <= opts.lead_in_rest_words


def _stem(word: str) -> str:
    for suffix in ("ing", "ies", "es", "ed", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def _content_tokens(text: str, lang: str) -> set[str]:
    """Content words (English, crudely stemmed) or character bigrams (Chinese, plus embedded Latin words)."""
    if lang == "zh":
        out = {run[k : k + 2] for run in _CJK_RUN.findall(text) for k in range(len(run) - 1)}
        out |= {w.lower() for w in _LATIN_IN_ZH.findall(text) if len(w) >= 2}
        return out
    return {_stem(w.strip("'-")) for w in _EN_WORD.findall(text.lower()) if w not in _EN_STOP and len(w) >= 3}
