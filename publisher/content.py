"""The words of a post: title, caption, topics and the hook style, built from a clip, its product and the account.

Rules the posting plan relies on:

* **No price or urgency claims, no chatter.** A clip posted next week must not promise tonight's price, so every
  text taken from a clip, product or persona is cut into clauses and each clause is checked with the price/urgency
  and chatter lexicons of :mod:`clipper.cues` (both languages, as the clip planner does); a clause that trips one
  is dropped, never rewritten.
* **Titles fit** the platforms' 30-character limit (Douyin, the sandbox), cut at a word boundary for English.
* **Captions differ per account**: a lead and a closing line picked by a stable hash of (account, clip) from
  templates that use the account's persona and niche around the post title, so the same product never goes out
  with identical text on two accounts (research notes, lesson 4: no identical fan-out; each account also gets a
  different clip).
* **At most 5 topics**, niches shared by account and product first.

The visible AI label, the 广告 disclosure and the topics are added to the description by the adapter
(:meth:`publisher.adapters.base.PostPackage.description`); the caption here is only the free text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from clipper.cues import lexicon
from clipper.sentences import is_cjk

TITLE_MAX_CHARS = 30
CAPTION_MAX_CHARS = 200
MAX_TOPICS = 5
HOOK_STYLES = ("question", "pain_point", "benefit", "plain")

# Price/urgency and chatter patterns of both languages, as clipper.cues checks them for a clip's sentences.
BANNED_PATTERNS: tuple[re.Pattern[str], ...] = (
    lexicon("zh").price + lexicon("en").price + lexicon("zh").chatter + lexicon("en").chatter
)
_ESCAPES = re.compile(r"\\(?:u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|[A-Za-z])")


def _without_case(pattern: re.Pattern[str]) -> re.Pattern[str] | None:
    """The pattern compiled case-sensitively, for use on lowercased text, if that matches exactly the same."""
    literal = _ESCAPES.sub("", pattern.pattern)
    if re.search(r"[A-Z]", literal) or "(?i" in literal:
        return None
    return re.compile(pattern.pattern, pattern.flags & ~re.IGNORECASE)


# The screen runs for every planned post (100,000 a day), so the lexicons are recompiled without changing what they
# match: a pattern with no upper-case letters runs case-sensitively on the lowercased text, which is what
# IGNORECASE does (up to exotic Unicode case folds) but lets sre use its fast literal-prefix search; 25-40 % less
# time per title. Any other pattern keeps IGNORECASE on the original text.
_ON_LOWER = tuple(p for p in map(_without_case, BANNED_PATTERNS) if p is not None)
_AS_IS = tuple(p for p in BANNED_PATTERNS if _without_case(p) is None)
# Clause ends: CJK and ASCII sentence and clause punctuation; "." only before a space so "4.5" stays whole.
_CLAUSE_END = re.compile(r"(?<=[，,。！？!?；;…、])|(?<=\.)(?=\s)")
_TRAILING_JOINERS = re.compile(r"[\s，,；;、:：\-–—]+$")
_CJK_CHAR = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_TOPIC_JUNK = re.compile(r"[\s#＃@,，。.!！?？;；:：/\\|]+")

# Hook cues, checked in this order; the first style with a cue wins (a question about a pain is a question).
_HOOK_CUES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "question",
        re.compile(
            r"[?？]|吗|为什么|为啥|怎么|如何|是不是|有没有|哪[个款种里]|多久|"
            r"^\s*(?:why|how|what|which|who|when|where|do|does|did|is|are|can|could|should|would|will|have|has)\b",
            re.IGNORECASE,
        ),
    ),
    (
        "pain_point",
        re.compile(
            r"还在|别再|烦|痛|难受|踩坑|困扰|总是|老是|受不了|尴尬|担心|头疼|崩溃|麻烦|"
            r"\b(?:tired of|sick of|struggl\w*|problems?|annoy\w*|hate|ruin\w*|stop|worst|frustrat\w*|pain)\b",
            re.IGNORECASE,
        ),
    ),
    (
        "benefit",
        re.compile(
            r"让你|帮你|轻松|省[时力心事]|不用|告别|再也不|神器|提升|一整天|舒服|好用|方便|"
            r"\b(?:so you|helps?|keeps?|easy|easier|saves?|no more|never have to|without|all day|better|lasts?)\b",
            re.IGNORECASE,
        ),
    ),
)


def _templates(*templates: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    # Each template with the placeholders it needs, so a lead is only used when the account can fill it.
    return tuple((t, tuple(re.findall(r"{(\w+)}", t))) for t in templates)


_ZH_LEADS = _templates(
    "{persona}分享：", "{persona}的真实体验：", "最近在用{name}，", "{niche}好物：", "说说{name}：", ""
)
_ZH_CLOSERS = ("你们觉得呢？", "实用派可以看看。", "收藏起来慢慢看。", "用过的来交流。", "")
_EN_LEADS = _templates("{persona} here: ", "From a {persona}: ", "Been using {name} lately. ", "{niche} pick: ", "")
_EN_CLOSERS = ("What do you think?", "Save this for later.", "Worth a look.", "")
_DEFAULT_TITLE = {"zh": "好物分享", "en": "Worth a look"}


#: What :func:`build_post_text` needs, as a plain tuple (cheap to pickle for the plan's text helper process):
#: title, hook, product name, product niches, account niches, persona, variant seed.
TextJob = tuple[str, str, str, tuple[str, ...], tuple[str, ...], str, int]


@dataclass(frozen=True, slots=True)
class PostText:
    """The text fields of one post."""

    title: str
    caption: str
    topics: tuple[str, ...]
    hook_style: str


def trips_screen(text: str) -> bool:
    """Whether ``text`` carries a price/urgency call or chatter by :mod:`clipper.cues`' lexicons
    (:data:`BANNED_PATTERNS`)."""
    clean = " ".join(text.split())
    lower = clean.lower()
    return any(p.search(lower) for p in _ON_LOWER) or any(p.search(clean) for p in _AS_IS)


def _clauses(text: str) -> list[str]:
    return [c.strip() for c in _CLAUSE_END.split(" ".join(text.split())) if c.strip()]


def _wide(char: str) -> bool:
    # CJK ideographs and full-width punctuation: text around them runs on without spaces.
    return ord(char) >= 0x2E80


def _join(clauses: list[str]) -> str:
    out = ""
    for clause in clauses:
        out += clause if not out or _wide(out[-1]) or _wide(clause[0]) else " " + clause
    return _TRAILING_JOINERS.sub("", out)


def screened(text: str, max_chars: int | None = None) -> str:
    """``text`` without the clauses that trip the price/urgency or chatter screen.

    With ``max_chars`` it stops screening once that many characters are kept (the rest would be cut anyway), so a
    long text costs no more than a title.
    """
    kept: list[str] = []
    length = 0
    for clause in _clauses(text):
        if max_chars is not None and length >= max_chars:
            break
        if not trips_screen(clause):
            kept.append(clause)
            length += len(clause) + 1
    return _join(kept)


@lru_cache(maxsize=65536)
def screened_cached(text: str) -> str:
    """:func:`screened` for the few texts that repeat across posts (product names, personas, niches)."""
    return screened(text)


def fit(text: str, max_chars: int) -> str:
    """Cut ``text`` to ``max_chars`` characters: at a word boundary in Latin text, without a dangling comma."""
    text = text.strip()
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    if not is_cjk(cut) and text[max_chars] != " " and " " in cut:
        cut = cut[: cut.rfind(" ")]
    return _TRAILING_JOINERS.sub("", cut)


def language_of(text: str) -> str:
    """``zh`` when the text has CJK characters, else ``en``."""
    return "zh" if _CJK_CHAR.search(text) else "en"


def classify_hook(text: str) -> str:
    """The hook style of a clip's opening line: ``question``, ``pain_point``, ``benefit`` or ``plain``.

    Simple cue rules in Chinese and English, first match wins in that order: "为什么冬天穿它不冷？" is a question,
    "还在为起球烦恼" a pain point, "让你一整天都干爽" a benefit.
    """
    for style, pattern in _HOOK_CUES:
        if pattern.search(text):
            return style
    return "plain"


def post_title(title: str, hook: str = "", fallback: str = "", max_chars: int = TITLE_MAX_CHARS) -> str:
    """The post title: the clip's title with offending clauses dropped, cut to ``max_chars``.

    Falls back to the hook, then ``fallback`` (the product name), then a neutral "好物分享" / "Worth a look" when
    every candidate is empty after screening; never an empty title.
    """
    for candidate in (title, hook, fallback):
        if candidate and candidate.strip():
            kept = fit(screened(candidate, max_chars), max_chars)
            if kept:
                return kept
    return _DEFAULT_TITLE[language_of(title or hook or fallback)]


# A clip goes to every platform once, and clips of one selling point often share a title: screen each text once.
_cached_title = lru_cache(maxsize=1 << 17)(post_title)


def post_caption(
    *,
    title: str,
    product_name: str,
    persona: str,
    niche: str,
    variant_seed: int,
    max_chars: int = CAPTION_MAX_CHARS,
) -> str:
    """A caption for one account: a lead, the (screened) post title and a closing line.

    ``variant_seed`` (a stable hash of account and clip) picks the lead and closing line among the templates that
    the account's ``persona``, ``niche`` and ``product_name`` can fill, so captions vary per account but a re-plan
    writes the same text. Every filled-in value is screened; ``title`` is expected screened already.
    """
    language = language_of(title)
    values = {
        "persona": fit(screened_cached(persona), 16) if persona else "",
        "niche": fit(screened_cached(niche), 12) if niche else "",
        "name": fit(screened_cached(product_name), 20) if product_name else "",
    }
    leads = [t for t, keys in (_ZH_LEADS if language == "zh" else _EN_LEADS) if all(values[k] for k in keys)]
    closers = _ZH_CLOSERS if language == "zh" else _EN_CLOSERS
    lead = leads[variant_seed % len(leads)].format(**values)
    closer = closers[(variant_seed // 7) % len(closers)]
    body = title
    if body and body[-1] not in "。！？.!?":
        body += "。" if language == "zh" else "."
    if language == "zh":
        return fit(lead + body + closer, max_chars)
    return fit(" ".join(x for x in (lead.strip(), body, closer) if x), max_chars)


def post_topics(product_niches: tuple[str, ...], account_niches: tuple[str, ...], product_name: str) -> tuple[str, ...]:
    """Up to 5 topics: niches the account and product share, the product's, the account's, the product name."""
    shared = [n for n in product_niches if n in account_niches]
    ordered = [*shared, *product_niches, *account_niches, product_name]
    topics: list[str] = []
    for raw in ordered:
        topic = _TOPIC_JUNK.sub("", screened_cached(raw)) if raw else ""
        if topic and len(topic) <= 20 and topic not in topics:
            topics.append(topic)
        if len(topics) == MAX_TOPICS:
            break
    return tuple(topics)


def build_post_text(
    *,
    title: str,
    hook: str,
    product_name: str,
    product_niches: tuple[str, ...],
    account_niches: tuple[str, ...],
    persona: str,
    variant_seed: int,
) -> PostText:
    """Title, caption, topics and hook style of one post (see the module docstring for the rules)."""
    clean_title = _cached_title(title, hook, product_name)
    shared = [n for n in account_niches if n in product_niches]
    niche = (shared or list(account_niches) or list(product_niches) or [""])[0]
    caption = post_caption(
        title=clean_title,
        product_name=product_name,
        persona=persona,
        niche=niche,
        variant_seed=variant_seed,
    )
    return PostText(
        title=clean_title,
        caption=caption,
        topics=post_topics(product_niches, account_niches, product_name),
        hook_style=classify_hook(hook or clean_title),
    )
