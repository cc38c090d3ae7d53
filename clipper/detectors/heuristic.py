"""The default selling-point backend: offline, deterministic, cue lexicons plus structure.

Each sentence gets a score from :func:`clipper.cues.sentence_cues` (selling strength; zero when it is price,
urgency or chatter), adjusted for structure: transition sentences are lead-ins, very short sentences carry
little, naming the product on air helps, and a sentence's neighbours inside the same segment pull its score
towards theirs. Runs of selling sentences inside one product segment become selling points; a run may bridge a
single weak sentence between two selling ones if it is not excluded, and never crosses a segment boundary or
includes an excluded sentence. Runs longer than ``max_seconds`` are split.

The copy is derived from the run itself: ``point`` is the strongest sentence without fillers, ``hook`` the
strongest benefit clause ("You stay dry even in heavy rain. Here's how." / "下小雨也不用担心被淋湿！"), ``title``
the product name with its top feature terms. Hook and title never contain price or urgency talk.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from clipper.cues import SentenceCues, resolve_language, sentence_cues
from clipper.detectors.base import DetectionResult, SellingPointDetector, merged_options
from clipper.segments import product_keys, product_mentions
from clipper.structure import SentenceKinds, StructureOptions, classify_sentences, mask_names
from clipper.types import Product, ProductSegment, SellingPoint, Sentence, Transcript

TITLE_MAX_ZH = 30
TITLE_MAX_EN = 60
HOOK_MAX_ZH = 24
HOOK_MAX_EN = 90
POINT_MAX_ZH = 40
POINT_MAX_EN = 110

_EN_FILLER = re.compile(
    r"^(?:(?:so|and|okay|ok|alright|all right|now|well|also|plus|oh|look|guys|everyone|folks|you know|basically|"
    r"honestly|and then|but|right|see|hey|first of all|on top of that|what's more)\b[\s,.!:-]*)+",
    re.IGNORECASE,
)
_ZH_FILLER = re.compile(
    r"^(?:(?:然后|那么|而且|还有|就是|所以|另外|并且|好|来|哎|那|嗯|呃|啊|对|家人们|宝宝们|姐妹们|朋友们|兄弟们|"
    r"我跟你们说|你们看|大家看|你看|我们看)[，,、！!。\s]*)+"
)
_EN_BENEFIT = re.compile(
    r"\b(?:so (?:that )?(?=you\b)|which means(?: that)? |that means |(?=lets you\b)|(?=keeps? your?\b))(.+)$",
    re.IGNORECASE,
)
_ZH_BENEFIT = re.compile(r"也不|都不|不会|不用|不怕|就能|让你|一整天|再也|也能|都能|一点都|轻松|直接")
_CLAUSE_SPLIT = re.compile(r"[，,；;。！!？?：:]")


@dataclass(frozen=True, slots=True)
class HeuristicOptions:
    """Thresholds of the heuristic backend.

    ``selling_threshold`` is the sentence score (0..1, after structure) that counts as selling, ``own_floor`` the
    cue strength a sentence needs on its own so neighbours alone cannot make it selling. ``min_score`` drops
    weaker points; ``max_seconds`` splits longer runs; ``ideal_seconds`` is the shortest run that gets a full
    score (shorter ones are discounted, not dropped: the planner decides on durations). With ``use_structure``
    (the default) which sentences are selling is decided by :func:`clipper.structure.classify_sentences` (the
    stream's structure: on-topic talk inside a product segment is selling unless there is evidence otherwise)
    and the cue scores only rank them; without it, by the cue-score thresholds alone (the earlier behaviour).
    """

    selling_threshold: float = 0.4
    own_floor: float = 0.25
    neighbour_weight: float = 0.15
    transition_penalty: float = 0.35
    product_bonus: float = 0.1
    short_words: int = 4
    short_chars_zh: int = 6
    bridge: bool = True
    min_score: float = 0.0
    max_seconds: float = 60.0
    ideal_seconds: float = 15.0
    structure: StructureOptions | None = None
    use_structure: bool = True


@dataclass(frozen=True, slots=True)
class ScoredSentence:
    index: int
    own: float
    score: float
    cues: SentenceCues


class HeuristicDetector(SellingPointDetector):
    """Cue-lexicon and structure scoring; see the module docstring."""

    name = "heuristic"

    def __init__(self, options: HeuristicOptions | None = None, **fields: object) -> None:
        base = merged_options(options or HeuristicOptions(), fields, "heuristic")
        self.options = base

    def detect(
        self, transcript: Transcript, segments: Sequence[ProductSegment], products: Sequence[Product]
    ) -> DetectionResult:
        structure = (
            classify_sentences(transcript, segments, products, self.options.structure)
            if self.options.use_structure
            else None
        )
        points: list[SellingPoint] = []
        for segment in segments:
            points.extend(self.detect_segment(transcript, segment, products, structure))
        points.sort(key=lambda p: (p.first_sentence, p.last_sentence))
        return DetectionResult(tuple(points), self.name, kinds=structure.kinds if structure else ())

    # ----------------------------------------------------------------------------------------------------- scoring
    def score_segment(
        self,
        transcript: Transcript,
        segment: ProductSegment,
        products: Sequence[Product],
        structure: SentenceKinds | None = None,
    ) -> list[ScoredSentence]:
        """Score every sentence of ``segment`` (in order); with ``structure``, only its selling sentences score."""
        opts = self.options
        lang = _language(transcript)
        sentences = transcript.sentences[segment.first_sentence : segment.last_sentence + 1]
        product = _product(products, segment.product_id)
        keys = product_keys([product]) if product else ()
        own: list[float] = []
        cues: list[SentenceCues] = []
        for pos, sentence in enumerate(sentences):
            full = sentence_cues(sentence.text, lang)
            if structure is not None and not structure.selling(sentence.index):
                cues.append(full)
                own.append(0.0)
                continue
            if structure is None and full.excluded:
                cues.append(full)
                own.append(0.0)
                continue
            # The product's own name ("rain jacket", 轻薄羽绒服) is not a selling cue: score the text without it.
            c = sentence_cues(mask_names(sentence.text, product), lang) if product else full
            cues.append(c)
            value = c.selling
            if c.transition:
                value = max(0.0, value - opts.transition_penalty)
            if _is_short(sentence.text, lang, opts):
                value *= 0.6
            if keys and product_mentions(sentence.text, keys) and value > 0:
                value = min(1.0, value + opts.product_bonus)
            if pos == 0 and len(sentences) > 2:
                value *= 0.8  # the first sentence of a segment usually introduces the product
            if structure is not None:
                # Selling by structure: the cues rank it, a floor keeps plain on-topic talk in.
                value = max(value, self.options.selling_threshold)
            own.append(value)
        scored: list[ScoredSentence] = []
        w = opts.neighbour_weight
        for k, sentence in enumerate(sentences):
            if (structure is not None and own[k] == 0.0) or (structure is None and cues[k].excluded):
                scored.append(ScoredSentence(sentence.index, 0.0, 0.0, cues[k]))
                continue
            prev = own[k - 1] if k > 0 else 0.0
            nxt = own[k + 1] if k + 1 < len(own) else 0.0
            value = (1 - 2 * w) * own[k] + w * (prev + nxt)
            if structure is not None:
                value = max(value, self.options.selling_threshold)
            scored.append(ScoredSentence(sentence.index, own[k], round(min(1.0, value), 4), cues[k]))
        return scored

    def runs(self, scored: Sequence[ScoredSentence], *, bridge: bool = True) -> list[list[ScoredSentence]]:
        """Maximal runs of selling sentences, bridging one weak non-excluded sentence between two selling ones."""
        opts = self.options
        selling = [s.score >= opts.selling_threshold and s.own >= opts.own_floor for s in scored]
        bridge = bridge and opts.bridge
        runs: list[list[ScoredSentence]] = []
        k = 0
        while k < len(scored):
            if not selling[k]:
                k += 1
                continue
            run = [scored[k]]
            k += 1
            while k < len(scored):
                if selling[k]:
                    run.append(scored[k])
                    k += 1
                elif (
                    bridge
                    and k + 1 < len(scored)
                    and selling[k + 1]
                    and not scored[k].cues.excluded
                    and not scored[k].cues.transition
                ):
                    run.extend((scored[k], scored[k + 1]))
                    k += 2
                else:
                    break
            runs.append(run)
        return runs

    def detect_segment(
        self,
        transcript: Transcript,
        segment: ProductSegment,
        products: Sequence[Product],
        structure: SentenceKinds | None = None,
    ) -> list[SellingPoint]:
        """Selling points of one segment."""
        scored = self.score_segment(transcript, segment, products, structure)
        out: list[SellingPoint] = []
        for run in self.runs(scored, bridge=structure is None):
            for piece in self._split(transcript.sentences, run):
                point = self._point(transcript, segment, products, piece)
                if point.score >= self.options.min_score:
                    out.append(point)
        return out

    def _split(self, sentences: Sequence[Sentence], run: list[ScoredSentence]) -> list[list[ScoredSentence]]:
        first, last = sentences[run[0].index], sentences[run[-1].index]
        if len(run) < 2 or last.end - first.start <= self.options.max_seconds:
            return [run]
        total = last.end - first.start
        best, best_cost = 1, float("inf")
        for j in range(1, len(run)):
            left = sentences[run[j - 1].index].end - first.start
            # Balanced halves, preferring to cut before a weaker sentence.
            cost = abs(left - (total - left)) / total + 0.3 * run[j].score
            if cost < best_cost:
                best, best_cost = j, cost
        return self._split(sentences, run[:best]) + self._split(sentences, run[best:])

    # -------------------------------------------------------------------------------------------------------- copy
    def _point(
        self,
        transcript: Transcript,
        segment: ProductSegment,
        products: Sequence[Product],
        run: Sequence[ScoredSentence],
    ) -> SellingPoint:
        lang = _language(transcript)
        product = _product(products, segment.product_id)
        name = product.name if product else ""
        sentences = transcript.sentences
        strongest = max(run, key=lambda s: (s.own, -s.index))
        duration = sentences[run[-1].index].end - sentences[run[0].index].start
        selling_scores = [s.score for s in run if s.own >= self.options.own_floor] or [s.score for s in run]
        base = 0.5 * max(selling_scores) + 0.5 * sum(selling_scores) / len(selling_scores)
        ideal = self.options.ideal_seconds
        factor = 1.0 if duration >= ideal else 0.5 + 0.5 * max(duration, 0.0) / ideal
        score = round(max(0.0, min(1.0, base * factor)), 3)
        texts = [sentences[s.index].text for s in run]
        terms = _top_terms([s.cues for s in run])
        point = compress(sentences[strongest.index].text, lang)
        hook = make_hook(
            texts,
            [s.cues for s in run],
            name,
            lang,
            product.aliases if product else (),
            product.attributes if product else (),
        )
        title = make_title(name, terms, lang, fallback=point)
        cue_list = ", ".join(terms[:5]) or "structure only"
        reason = (
            f"selling cues: {cue_list}; {len(run)} sentence{'s' if len(run) > 1 else ''} "
            f"({duration:.0f} s), strongest #{strongest.index} ({strongest.own:.2f})"
        )
        return SellingPoint(
            first_sentence=run[0].index,
            last_sentence=run[-1].index,
            point=point,
            hook=hook,
            title=title,
            score=score,
            reason=reason,
            product_id=segment.product_id,
        )


# ------------------------------------------------------------------------------------------------------- helpers
def _language(transcript: Transcript) -> str:
    sample = " ".join(s.text for s in transcript.sentences[:30])
    return resolve_language(sample, transcript.language)


def _product(products: Sequence[Product], product_id: str | None) -> Product | None:
    if product_id is None:
        return None
    return next((p for p in products if p.id == product_id), None)


def _is_short(text: str, lang: str, opts: HeuristicOptions) -> bool:
    if lang == "zh":
        return len(re.findall(r"[\u3400-\u9fff]", text)) < opts.short_chars_zh
    return len(text.split()) < opts.short_words


_TITLE_LABELS = ("property", "material", "number+unit", "feature")
#: Plain adjectives that say little on their own ("dry", 轻): used after more specific terms.
_WEAK_TERMS = frozenset(
    {"dry", "light", "cool", "warm", "strong", "thick", "slim", "soft", "smooth", "stable", "quiet", "轻", "亮", "稳"}
)
#: Words that say a material is talked about without naming it: last choice for a title.
_GENERIC_TERMS = frozenset(
    {"fabric", "material", "materials", "ingredients", "formula", "面料", "材质", "材料", "成分", "配方", "布料"}
)


def _top_terms(cues: Sequence[SentenceCues]) -> list[str]:
    """Distinct feature terms of a run, materials and properties first, then by first appearance."""
    seen: dict[str, tuple[int, int, int]] = {}
    order = 0
    for c in cues:
        for label, term in c.labelled_terms():
            if label not in _TITLE_LABELS:
                continue
            key = term.casefold()
            if key not in seen:
                seen[key] = (int(key in _GENERIC_TERMS) + int(key in _WEAK_TERMS), _TITLE_LABELS.index(label), order)
                order += 1
    terms = sorted(seen, key=lambda t: seen[t])
    # Drop a term contained in a longer chosen one (鸭绒 in 白鸭绒, "steel" in "stainless steel").
    return [t for t in terms if not any(t != o and t in o for o in terms)]


def _truncate(text: str, limit: int, lang: str) -> str:
    text = text.strip()
    if len(text) <= limit:
        return text
    if lang == "zh":
        clauses = _CLAUSE_SPLIT.split(text)
        out = ""
        for clause in clauses:
            if len(out) + len(clause) + 1 > limit:
                break
            out = f"{out}，{clause}" if out else clause
        return out or text[:limit]
    cut = text[:limit]
    for sep in (", ", "; ", " - "):
        pos = cut.rfind(sep)
        if pos > limit // 2:
            return cut[:pos]
    return cut[: cut.rfind(" ")] if " " in cut else cut


def compress(text: str, lang: str) -> str:
    """A sentence without leading fillers and vocatives, trimmed to a short point."""
    text = " ".join(text.split())
    filler = _ZH_FILLER if lang == "zh" else _EN_FILLER
    stripped = filler.sub("", text).strip() or text
    stripped = stripped.rstrip("。！!？?.，,；; ")
    if lang == "zh":
        return _truncate(stripped, POINT_MAX_ZH, lang)
    stripped = stripped[:1].upper() + stripped[1:]
    return _truncate(stripped, POINT_MAX_EN, lang)


def _safe(text: str, lang: str) -> bool:
    return bool(text) and not sentence_cues(text, lang).excluded


#: Openers that mark a clause as an answer to a viewer or a fragment of a longer sentence: never a hook.
_EN_NOT_A_HOOK = re.compile(
    r"^(?:no|yes|yeah|yep|nope|as i said|like i said|so|and|but|or|which|because|then|plus|while|it|they|this|that)"
    r"\b",
    re.IGNORECASE,
)
_ZH_NOT_A_HOOK = re.compile(r"^(?:对|是的|没有|不是|可以的|有的|放心|回|像我说的|刚才说了|所以|而且|但是|然后|因为)")
_ZH_LEAD_PRONOUN = re.compile(r"^(?:它|这款|这个|我们|而且|所以|让你|还|就是|真的)")
_EN_LEAD_PRONOUN = re.compile(r"^(?:it|this|these|they|that)(?:'s| is| are| has| have)?\s+", re.IGNORECASE)
_WORD = re.compile(r"[\w'-]+")


def _repeats_a_word(text: str) -> bool:
    """Whether a content word occurs twice ("Vitamin c vitamin C serum"): a sign of stitched-together copy."""
    words = [w.casefold() for w in _WORD.findall(text) if len(w) > 2]
    return len(words) != len(set(words))


def _hook_candidates(text: str, lang: str) -> list[str]:
    """Clauses of ``text`` that could stand alone as a hook, fillers removed."""
    out: list[str] = []
    for raw in _CLAUSE_SPLIT.split(text):
        clause = raw.strip()
        if not clause:
            continue
        if lang == "zh":
            clause = _ZH_FILLER.sub("", clause).strip()
            if _ZH_NOT_A_HOOK.match(clause):
                continue
            clause = _ZH_LEAD_PRONOUN.sub("", clause).strip()
        else:
            clause = _EN_FILLER.sub("", clause).strip()
            clause = _EN_LEAD_PRONOUN.sub("", clause).strip()
            if not clause or _EN_NOT_A_HOOK.match(clause):
                continue
        out.append(clause)
    return out


def make_hook(
    texts: Sequence[str],
    cues: Sequence[SentenceCues],
    name: str,
    lang: str,
    aliases: Sequence[str] = (),
    attributes: Sequence[str] = (),
) -> str:
    """A short attention line in the stream's own words: the run's clause with the most concrete selling content.

    The hook is a clause the host said (fillers, vocatives and a leading "it's"/它 removed), ranked by the selling
    cues it carries, whether it names the product (name, ``aliases``, ``attributes``) and whether it speaks of
    the product rather than the host ("I ..."). A clause that
    does not name the product is prefixed with its shortest name (``Crisps: seven grams of protein a serving``),
    so every hook says what it is about. Never a question, an answer to a viewer ("no, ..."), a fragment that
    continues another sentence, a price or urgency call, or text that repeats a word; no template filler. When no
    clause qualifies the hook is the product name with its strongest feature term.
    """
    zh = lang == "zh"
    limit = HOOK_MAX_ZH if zh else HOOK_MAX_EN
    product_terms = [t for t in (name, *aliases, *attributes) if t.strip()]
    # The prefix that says what the hook is about: the shortest name the host uses for the product.
    label = min((t for t in (name, *aliases) if len(t.strip()) >= 2), key=len, default=name)
    ranked = sorted(range(len(texts)), key=lambda k: (-cues[k].selling, k))
    best: tuple[float, str] | None = None
    for order, k in enumerate(ranked):
        stripped = texts[k].strip()
        # A question, or a fragment ASR split off a longer sentence (it starts in lower case), is no hook.
        if stripped.endswith(("?", "？")) or stripped[:1].islower():
            continue
        for clause in _hook_candidates(texts[k], lang):
            size = len(clause) if zh else len(clause.split())
            if size < (5 if zh else 4):
                continue
            clause_cues = sentence_cues(clause, lang)
            if clause_cues.excluded or clause_cues.urgency or clause_cues.selling <= 0:
                continue
            names_it = any(t.casefold() in clause.casefold() for t in product_terms)
            benefit = bool((_ZH_BENEFIT if zh else _EN_BENEFIT).search(clause))
            text = clause if names_it or not label else f"{label}：{clause}" if zh else f"{_cap(label)}: {clause}"
            text = text if len(text) <= limit else _truncate(text, limit, lang)
            if len(text) < (6 if zh else 12) or _repeats_a_word(text) or not _safe(text, lang):
                continue
            about_host = bool(re.match(r"(?:i|i'm|i've|my|we)\b|我|我们", clause, re.IGNORECASE))
            wordy = max(0, size - (14 if zh else 10)) * (0.02 if zh else 0.04)
            score = clause_cues.selling + 0.3 * benefit + 0.2 * names_it - 0.3 * about_host - wordy - 0.05 * order
            if best is None or score > best[0]:
                best = (score, text)
    if best is not None:
        hook = best[1].rstrip("。.，,；;：: ")
        return hook[:1].upper() + hook[1:] if not zh else hook
    return _cap(name)


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def make_title(name: str, terms: Sequence[str], lang: str, fallback: str = "") -> str:
    """``Name: term & term`` (en) or ``名称｜词、词`` (zh), within the title length limit."""
    zh = lang == "zh"
    sep, joiner, limit, most = ("｜", "、", TITLE_MAX_ZH, 3) if zh else (": ", " & ", TITLE_MAX_EN, 2)
    display = name if zh or not name else name[:1].upper() + name[1:]
    picked: list[str] = []
    for term in terms:
        if name and (term.casefold() in name.casefold() or name.casefold() in term.casefold()):
            continue  # "Vitamin C serum: vitamin c" says nothing twice
        candidate = joiner.join([*picked, term])
        if len(f"{display}{sep}{candidate}" if display else candidate) > limit:
            break
        picked.append(term)
        if len(picked) == most:
            break
    phrase = joiner.join(picked) or _truncate(fallback, limit - len(display) - len(sep), lang)
    title = f"{display}{sep}{phrase}" if display and phrase else (display or phrase)
    title = title[:limit] if zh else title[:1].upper() + title[1:limit]
    return title if _safe(title, lang) else (name or title)[: TITLE_MAX_ZH if lang == "zh" else TITLE_MAX_EN]
