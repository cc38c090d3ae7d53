"""Which product is on air when: split a transcript's sentences into contiguous segments.

With a product list, :func:`find_product_segments` follows the product names and aliases the host says (case
insensitive, plural-tolerant for English, substring for Chinese, plus each Chinese name's distinctive tail such as
羽绒服 for 轻薄羽绒服) and the host's transition phrases ("next", "now let's look at", 接下来, 下一款). A single
passing mention of another product ("lighter than our rain jacket") does not switch the segment; a transition,
a repeated mention or a stale current product does. Intro and outro chatter gets ``product_id=None``.

Without a product list, :func:`find_topic_segments` finds topics by lexical cohesion, TextTiling-style (as
ClipsAI does with embeddings): bag of words (English) or character bigrams (Chinese) in a window on each side of
every gap, cosine similarity, depth scores, boundaries where the depth is above mean + one standard deviation,
plus the host's transition phrases. Segments are labelled with their top keywords.

Both return segments that are contiguous, in order, and cover every sentence exactly once.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from clipper.cues import resolve_language, sentence_cues
from clipper.sentences import is_cjk
from clipper.types import Product, ProductSegment, Sentence

_CJK_CHAR = r"\u3400-\u9fff\uf900-\ufaff"
_CJK_RUN = re.compile(f"[{_CJK_CHAR}]+")
_PUNCT = re.compile(rf"[^\w{_CJK_CHAR}]+")
_COMPARISON = re.compile(
    r"\b(?:than|unlike|compared|like (?:our|the|my)|similar to|versus|vs)\b|"
    r"比(?!较)|相比|不像|跟.{1,8}一样|和.{1,8}一样",
    re.IGNORECASE,
)
_LATIN_WORD = re.compile(r"[a-z][a-z'’-]*[a-z]|[a-z]|\d+")

_EN_STOP_WORDS = (
    "a about above after again all also am an and any are as at "
    "be because been before being below between both but by can could did do "
    "does doing don't down during each even ever every few for from further get "
    "gets got had has have having he her here hers him his how i "
    "i'm if in into is it it's its itself just let let's like look "
    "make me more most my no nor not now of off on once one "
    "only or other our out over own really right same see she should show "
    "so some such than that that's the their them then there these they thing "
    "things this those through to too under until up us very want was way "
    "we we're well were what when where which while who why will with would "
    "you you'll you're your yours okay oh yeah guys everyone everybody hello hi thanks "
    "thank go going got first next last today tonight new also two three four "
    "five six seven eight nine ten "
)
_EN_STOP = frozenset(_EN_STOP_WORDS.split())
_ZH_STOP_CHARS = frozenset("的了是们个这那就也都很吗呢吧啊哦呀嘛啦你我他她它在有和与还把被给让一不么哈嗯")
#: Characters that never start, end or sit inside a topic keyword: numerals, measure words, common verbs.
_ZH_LABEL_STOP = _ZH_STOP_CHARS | frozenset(
    "二三四五六七八九十百千万两几半款只点下上来去看说给大家再更最用能可以会要想到得着过自己今天晚各每"
)


@dataclass(frozen=True, slots=True)
class SegmentOptions:
    """Knobs for :func:`find_product_segments`.

    ``window`` is how many sentences ahead a second mention of a new product is looked for; ``stale_after`` is
    how many sentences without its name make the current product switchable by a single mention;
    ``transition_reach`` is how far back a segment start may move onto the host's transition sentence.
    """

    window: int = 4
    stale_after: int = 10
    transition_reach: int = 2


@dataclass(frozen=True, slots=True)
class TopicOptions:
    """Knobs for :func:`find_topic_segments` (TextTiling).

    ``block`` sentences on each side of a gap are compared; ``min_sentences`` is the shortest topic;
    ``keywords`` is how many top keywords label a topic.
    """

    block: int = 4
    smoothing: int = 1
    min_sentences: int = 3
    keywords: int = 3


@dataclass(frozen=True, slots=True)
class _Key:
    text: str
    product_ids: tuple[str, ...]
    weight: float
    pattern: re.Pattern[str] | None  # None: CJK substring match on the compacted text


# ------------------------------------------------------------------------------------------- product matching
def _compact(text: str) -> str:
    """Casefolded text without spaces or punctuation, for CJK substring matching."""
    return _PUNCT.sub("", text.casefold())


# Words a host puts before a product name or leaves out of it: "the plugs", "our VoltPack".
_EN_DETERMINERS = frozenset(["the", "a", "an", "our", "my", "this", "these", "that", "those", "your"])


def _latin(text: str) -> str:
    words = re.sub(r"[-_/,;:()]+", " ", text.casefold()).split()
    while len(words) > 1 and words[0] in _EN_DETERMINERS:
        words = words[1:]
    return " ".join(words)


def _key(text: str, product_ids: tuple[str, ...], weight: float) -> _Key | None:
    if is_cjk(text):
        compact = _compact(text)
        return _Key(compact, product_ids, weight, None) if len(compact) >= 2 else None
    norm = _latin(text)
    if len(norm) < 2:
        return None
    words = [re.escape(w) for w in norm.split()]
    last = norm.split()[-1]
    if len(last) > 3 and last.endswith("s") and not last.endswith("ss"):
        words[-1] = re.escape(last[:-1])  # "the plugs" names the product when a host says "plug" too
    body = r"[\s\-_/]*".join(words)
    return _Key(norm, product_ids, weight, re.compile(rf"(?<![\w]){body}(?:s|es|'s)?(?![\w])", re.IGNORECASE))


def _latin_parts(name: str) -> list[str]:
    """A shorter name a host uses for an English product name: the part before a comma ("HomeLink Mini Smart
    Plug, 4-pack")."""
    head = _latin(name.split(",", maxsplit=1)[0])
    return [head] if head and head != _latin(name) else []


def product_keys(products: Sequence[Product]) -> tuple[_Key, ...]:
    """Every name and alias as a match key, plus derived keys, longest first.

    Derived keys (weight 0.6) are the tails of Chinese names (the head noun comes last: 轻薄羽绒服 -> 羽绒服,
    绒服) and the last word of a multi-word English name (rain jacket -> jacket). A key shared by products with
    different names identifies none of them and is dropped; products listed more than once under the same name
    (the same item on air twice) share their keys, and :func:`find_product_segments` picks by list order.
    """
    name_of = {p.id: p.name.casefold() for p in products}
    explicit: dict[str, set[str]] = {}
    derived: dict[str, set[str]] = {}
    for product in products:
        for name in product.names:
            explicit.setdefault(_normal(name), set()).add(product.id)
            if is_cjk(name):
                compact = _compact(name)
                tails = [compact[i:] for i in range(1, len(compact) - 1)]
            else:
                words = _latin(name).split()
                tails = [words[-1]] if len(words) > 1 and len(words[-1]) >= 3 else []
                tails += _latin_parts(name)
            for tail in tails:
                derived.setdefault(tail, set()).add(product.id)
    keys: list[_Key] = []
    for table, weight in ((explicit, 1.0), (derived, 0.6)):
        for text, owners in table.items():
            if weight < 1.0 and text in explicit:
                continue
            if len({name_of[pid] for pid in owners}) > 1:
                continue  # ambiguous between different products
            ordered = tuple(p.id for p in products if p.id in owners)
            key = _key(text, ordered, weight)
            if key is not None:
                keys.append(key)
    return tuple(sorted(keys, key=lambda k: (-len(k.text), k.text)))


def _normal(text: str) -> str:
    return _compact(text) if is_cjk(text) else _latin(text)


def product_mentions(text: str, keys: Sequence[_Key]) -> dict[str, float]:
    """Weight of each product mentioned in ``text``; overlapping matches count once (the longest wins)."""
    compact = _compact(text)
    latin = text.casefold()
    taken_compact: list[tuple[int, int]] = []
    taken_latin: list[tuple[int, int]] = []
    found: dict[str, float] = {}
    for key in keys:  # longest first
        if key.pattern is None:
            spans = [(m.start(), m.end()) for m in re.finditer(re.escape(key.text), compact)]
            taken = taken_compact
        else:
            spans = [(m.start(), m.end()) for m in key.pattern.finditer(latin)]
            taken = taken_latin
        for start, end in spans:
            if any(start < b and a < end for a, b in taken):
                continue
            taken.append((start, end))
            for pid in key.product_ids:
                found[pid] = found.get(pid, 0.0) + key.weight
    return found


# ------------------------------------------------------------------------------------------- product segments
def find_product_segments(
    sentences: Sequence[Sentence],
    products: Sequence[Product],
    language: str = "",
    options: SegmentOptions | None = None,
) -> tuple[ProductSegment, ...]:
    """Split ``sentences`` into the spans during which each product is on air.

    Args:
        sentences: the transcript's sentences, in order, indexed from 0.
        products: the brand's product list. Empty (or never mentioned) falls back to
            :func:`find_topic_segments`.
        language: ``zh`` or ``en``; empty guesses from the text.
        options: thresholds, see :class:`SegmentOptions`.

    Returns:
        Contiguous segments covering every sentence, labelled with the product name; sentences before the first
        product and trailing outro chatter get ``product_id=None``.
    """
    opts = options or SegmentOptions()
    n = len(sentences)
    if n == 0:
        return ()
    keys = product_keys(products)
    mentions = [product_mentions(s.text, keys) for s in sentences]
    if not keys or not any(mentions):
        return find_topic_segments(sentences, language)
    lang = resolve_language(" ".join(s.text for s in sentences[:50]), language)
    cues = [sentence_cues(s.text, lang) for s in sentences]
    names = {p.id: p.name for p in products}

    starts: list[tuple[int, str]] = []
    current: str | None = None
    last_current = -1
    position = {p.id: k for k, p in enumerate(products)}

    def after(pid: str) -> int:
        """How far ``pid`` comes after the current product in list order (ties between products sharing a name)."""
        if current is None:
            return position[pid]
        if pid == current:
            return len(products)
        return (position[pid] - position[current]) % len(products)

    for i, found in enumerate(mentions):
        if not found:
            continue
        best = max(found, key=lambda pid: (found[pid], -after(pid), -_first_position(sentences[i].text, pid, keys)))
        if best == current:
            last_current = i
            continue
        if current is not None and current in found and not cues[i].transition:
            last_current = i
            continue
        ahead = range(i, min(n, i + opts.window + 1))
        transition_near = any(cues[j].transition for j in range(max(last_current + 1, i - 2), i + 1))
        new_count = sum(1 for j in ahead if best in mentions[j])
        repeated = new_count >= 2
        # The current product named once ahead ("it's in the snack link with the crisps") does not hold the air
        # against a new one the host keeps naming.
        current_count = sum(1 for j in ahead if j > i and current is not None and current in mentions[j])
        current_ahead = current_count > 0 and not (repeated and new_count > current_count)
        stale = i - last_current > opts.stale_after
        # A transition just ahead will open the new segment properly; this mention is a passing one.
        transition_ahead = any(cues[j].transition for j in ahead if j > i)
        # A single mention switches too when nothing points back to the current product and the sentence is not
        # a comparison ("lighter than our rain jacket", 比保温杯还轻).
        single = not _COMPARISON.search(sentences[i].text)
        switch = (repeated or single) and not current_ahead and not transition_ahead
        if not (current is None or transition_near or switch or stale):
            continue
        start = i
        floor = max(last_current + 1, starts[-1][0] + 1 if starts else 0, i - opts.transition_reach)
        for j in range(i, floor - 1, -1):
            if cues[j].transition and not mentions[j]:
                start = j
                break
        starts.append((start, best))
        current, last_current = best, i

    segments: list[ProductSegment] = []
    if starts[0][0] > 0:
        segments.append(ProductSegment(None, 0, starts[0][0] - 1, ""))
    for k, (start, pid) in enumerate(starts):
        end = starts[k + 1][0] - 1 if k + 1 < len(starts) else n - 1
        segments.append(ProductSegment(pid, start, end, names.get(pid, pid)))
    # Trailing outro chatter (thanks, see you) after the last product belongs to no product.
    last = segments[-1]
    tail = last.last_sentence
    while tail > last.first_sentence and cues[tail].chatter and not cues[tail].price_or_urgency and not mentions[tail]:
        tail -= 1
    if tail < last.last_sentence:
        segments[-1] = ProductSegment(last.product_id, last.first_sentence, tail, last.label)
        segments.append(ProductSegment(None, tail + 1, n - 1, ""))
    return _merge(segments)


def _first_position(text: str, product_id: str, keys: Sequence[_Key]) -> int:
    compact, latin = _compact(text), text.casefold()
    positions = []
    for key in keys:
        if product_id not in key.product_ids:
            continue
        if key.pattern is None:
            pos = compact.find(key.text)
        else:
            m = key.pattern.search(latin)
            pos = m.start() if m else -1
        if pos >= 0:
            positions.append(pos)
    return min(positions, default=1 << 30)


def _merge(segments: Sequence[ProductSegment]) -> tuple[ProductSegment, ...]:
    out: list[ProductSegment] = []
    for seg in segments:
        if out and out[-1].product_id == seg.product_id and out[-1].product_id is not None:
            prev = out[-1]
            out[-1] = ProductSegment(prev.product_id, prev.first_sentence, seg.last_sentence, prev.label)
        else:
            out.append(seg)
    return tuple(out)


# --------------------------------------------------------------------------------------------- topic segments
def topic_tokens(text: str, language: str) -> list[str]:
    """Content tokens: lowercased, stop-worded, crudely singularised words (en) or character bigrams (zh)."""
    lowered = text.casefold()
    tokens: list[str] = []
    if language == "zh":
        for run in _CJK_RUN.findall(lowered):
            tokens.extend(
                run[i : i + 2]
                for i in range(len(run) - 1)
                if run[i] not in _ZH_STOP_CHARS and run[i + 1] not in _ZH_STOP_CHARS
            )
    for word in _LATIN_WORD.findall(re.sub(f"[{_CJK_CHAR}]", " ", lowered)):
        word = word.strip("'’-")
        if len(word) < 2 or word in _EN_STOP or word.isdigit():
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        tokens.append(word)
    return tokens


def _cosine(a: Counter[str], b: Counter[str]) -> float:
    if not a or not b:
        return 0.0
    dot = sum(v * b[k] for k, v in a.items() if k in b)
    norm = math.sqrt(sum(v * v for v in a.values())) * math.sqrt(sum(v * v for v in b.values()))
    return dot / norm if norm else 0.0


def gap_scores(bags: Sequence[Counter[str]], block: int) -> list[float]:
    """Cosine similarity between the ``block`` sentences before and after each gap (gap i is before sentence i)."""
    n = len(bags)
    scores = [0.0] * n
    for i in range(1, n):
        left: Counter[str] = Counter()
        right: Counter[str] = Counter()
        for bag in bags[max(0, i - block) : i]:
            left.update(bag)
        for bag in bags[i : min(n, i + block)]:
            right.update(bag)
        scores[i] = _cosine(left, right)
    return scores


def depth_scores(scores: Sequence[float]) -> list[float]:
    """TextTiling depth of each gap: how far the similarity drops below the nearest peak on each side."""
    n = len(scores)
    depths = [0.0] * n
    for i in range(1, n):
        j = i
        while j - 1 >= 1 and scores[j - 1] >= scores[j]:
            j -= 1
        k = i
        while k + 1 < n and scores[k + 1] >= scores[k]:
            k += 1
        depths[i] = (scores[j] - scores[i]) + (scores[k] - scores[i])
    return depths


def find_topic_segments(
    sentences: Sequence[Sentence], language: str = "", options: TopicOptions | None = None
) -> tuple[ProductSegment, ...]:
    """Split ``sentences`` into topics by lexical cohesion and the host's transition phrases.

    Args:
        sentences: the transcript's sentences, in order, indexed from 0.
        language: ``zh`` (character bigrams) or ``en`` (words); empty guesses from the text.
        options: see :class:`TopicOptions`.

    Returns:
        Contiguous segments with ``product_id=None``, each labelled with its top keywords.
    """
    opts = options or TopicOptions()
    n = len(sentences)
    if n == 0:
        return ()
    lang = resolve_language(" ".join(s.text for s in sentences[:50]), language)
    cues = [sentence_cues(s.text, lang) for s in sentences]
    bags = [Counter(topic_tokens(s.text, lang)) for s in sentences]
    content = [Counter() if c.excluded else bag for c, bag in zip(cues, bags, strict=True)]
    raw = gap_scores(bags, opts.block)
    smooth = list(raw)
    if opts.smoothing > 0:
        for i in range(1, n):
            lo, hi = max(1, i - opts.smoothing), min(n - 1, i + opts.smoothing)
            smooth[i] = sum(raw[lo : hi + 1]) / (hi - lo + 1)
    depths = depth_scores(smooth)
    gaps = depths[1:]
    candidates: list[tuple[float, int]] = []
    if len(gaps) >= 2:
        mean = sum(gaps) / len(gaps)
        sd = math.sqrt(sum((d - mean) ** 2 for d in gaps) / len(gaps))
        for i in range(1, n):
            left = depths[i - 1] if i > 1 else -1.0
            right = depths[i + 1] if i + 1 < n else -1.0
            if depths[i] > mean + sd and depths[i] >= left and depths[i] >= right:
                candidates.append((depths[i], i))

    # Move each dip onto the nearest seam (a transition, or the edge of a chatter/price block) within two
    # sentences: topics change where the host changes mode, and a boundary there never cuts a selling run.
    def seam(j: int) -> bool:
        return 0 < j < n and (cues[j].transition or cues[j - 1].excluded != cues[j].excluded)

    snapped: list[tuple[float, int]] = []
    for depth, i in candidates:
        near = [j for j in sorted(range(i - 2, i + 3), key=lambda j: (abs(j - i), j)) if seam(j)]
        snapped.append((depth, near[0] if near else i))
    candidates = snapped
    transitions = [i for i in range(1, n) if cues[i].transition]
    ordered = [(float("inf"), i) for i in transitions] + sorted(candidates, reverse=True)
    accepted: list[int] = []
    for strength, i in ordered:
        # A transition phrase may open a topic after a short intro; a cohesion dip needs a full topic each side.
        least = min(2, opts.min_sentences) if math.isinf(strength) else opts.min_sentences
        if i < least or n - i < least:
            continue
        if all(abs(i - b) >= least for b in accepted):
            accepted.append(i)
    bounds = [0, *sorted(accepted), n]
    spans = [(bounds[k], bounds[k + 1] - 1) for k in range(len(bounds) - 1)]
    labels = _topic_labels(
        [content[a : b + 1] for a, b in spans],
        content,
        [[s for s, c in zip(sentences[a : b + 1], cues[a : b + 1], strict=True) if not c.excluded] for a, b in spans],
        lang,
        opts,
    )
    return tuple(ProductSegment(None, a, b, label) for (a, b), label in zip(spans, labels, strict=True))


def _topic_labels(
    groups: Sequence[Sequence[Counter[str]]],
    all_bags: Sequence[Counter[str]],
    texts: Sequence[Sequence[Sentence]],
    lang: str,
    opts: TopicOptions,
) -> list[str]:
    n = len(all_bags)
    if lang == "zh":
        return [_zh_label(group, all_bags if n else [], opts.keywords) for group in texts]
    df: Counter[str] = Counter()
    for bag in all_bags:
        df.update(set(bag))
    labels = []
    for group in groups:
        tf: Counter[str] = Counter()
        for bag in group:
            tf.update(bag)
        scored = sorted(tf, key=lambda w: (-tf[w] * math.log(1 + n / df[w]), w))
        labels.append(", ".join(scored[: opts.keywords]))
    return labels


def _zh_label(group: Sequence[Sentence], all_bags: Sequence[Counter[str]], count: int) -> str:
    """Top Chinese keywords: character 2- to 4-grams, preferring the longer gram when it is as frequent."""
    n = max(len(all_bags), 1)
    df: Counter[str] = Counter()
    for bag in all_bags:
        df.update(set(bag))
    grams: Counter[str] = Counter()
    for sentence in group:
        for run in _CJK_RUN.findall(sentence.text):
            for size in (2, 3, 4):
                for i in range(len(run) - size + 1):
                    gram = run[i : i + size]
                    if any(ch in _ZH_LABEL_STOP for ch in gram):
                        continue
                    grams[gram] += 1
    keep = {
        g: c
        for g, c in grams.items()
        if not any(len(o) > len(g) and g in o and grams[o] >= 0.8 * c for o in grams if grams[o] >= 2)
    }

    def score(gram: str) -> float:
        rarity = min(math.log(1 + n / max(df[gram[i : i + 2]], 1)) for i in range(len(gram) - 1))
        return keep[gram] * rarity * (1 + 0.25 * (len(gram) - 2))

    chosen: list[str] = []
    for gram in sorted(keep, key=lambda g: (-score(g), g)):
        if any(gram[i : i + 2] in c for c in chosen for i in range(len(gram) - 1)):
            continue
        chosen.append(gram)
        if len(chosen) == count:
            break
    return "、".join(chosen)
