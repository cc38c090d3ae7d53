"""Cue lexicons for livestream speech: what is a selling point, what must never reach a clip.

A clip posted next week must not promise tonight's price, so every sentence is checked for **price or urgency**
talk (prices, currency, "link 3", 几号链接, 今晚, 秒杀, coupons, stock counts, countdowns, calls to order) and for
**chatter** (greetings, follow/like asks, thanks, replies to comments, @mentions). Either makes the sentence
:attr:`SentenceCues.excluded`: the planner refuses to put it in a clip whatever a detector said.

**Selling** cues (materials, properties, numbers with units, benefit clauses such as "so you" / 让你, comparisons,
demonstrations) give a strength in 0..1. A number is only price talk next to a currency word, symbol or a stock or
time-limit word: "weighs 300 grams", "24 hours" and "5000毫安" are selling cues.

Price and chatter cues of both languages are always checked (Chinese hosts say "link" and "¥", English text may
quote 秒杀), selling and transition cues are those of the transcript's language.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from clipper.sentences import is_cjk

#: Categories of selling cues, strongest first; ``reasons`` entries are ``category:term``.
SELLING_LABELS = (
    "material",
    "property",
    "number+unit",
    "benefit",
    "comparison",
    "demonstration",
    "feature",
    "description",
    "emphasis",
)

#: A sentence whose selling strength is at least this is not chatter just for addressing the audience
#: ("家人们，这个面料是纯棉的" is selling talk; "家人们！" alone is chatter).
VOCATIVE_SELLING_LIMIT = 0.45


@dataclass(frozen=True, slots=True)
class SentenceCues:
    """What the lexicons found in one sentence.

    ``reasons`` names the cues that fired as ``category:term`` (``price:tonight``, ``property:waterproof``), for
    the reason string of a selling point and for debugging a misclassified sentence. ``urgency`` marks urgency
    words without price evidence ("right now", 赶紧): a price call only next to a sentence with price evidence
    (:mod:`clipper.structure` decides). ``reply`` and ``greeting`` say which kind of chatter fired.
    """

    price_or_urgency: bool
    chatter: bool
    transition: bool
    selling: float
    reasons: tuple[str, ...] = ()
    urgency: bool = False
    reply: bool = False
    greeting: bool = False

    @property
    def excluded(self) -> bool:
        """Whether the sentence must never be part of a clip."""
        return self.price_or_urgency or self.chatter

    @property
    def selling_terms(self) -> tuple[str, ...]:
        """The selling terms that fired, in lexicon order (materials and properties first)."""
        return tuple(term for label, term in self.labelled_terms() if label in SELLING_LABELS)

    def labelled_terms(self) -> tuple[tuple[str, str], ...]:
        """``(category, term)`` for every cue that fired."""
        return tuple((r.split(":", 1)[0], r.split(":", 1)[1]) for r in self.reasons)


@dataclass(frozen=True, slots=True)
class _Weighted:
    label: str
    pattern: re.Pattern[str]
    weight: float


@dataclass(frozen=True, slots=True)
class Lexicon:
    """Compiled cue patterns of one language."""

    language: str
    price: tuple[re.Pattern[str], ...]
    chatter: tuple[re.Pattern[str], ...]
    vocative: tuple[re.Pattern[str], ...]
    transition: tuple[re.Pattern[str], ...]
    selling: tuple[_Weighted, ...]
    urgency: tuple[re.Pattern[str], ...] = ()
    reply: tuple[re.Pattern[str], ...] = ()
    greeting: tuple[re.Pattern[str], ...] = ()


def _c(*patterns: str) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p, re.IGNORECASE) for p in patterns)


def _w(label: str, pattern: str, weight: float) -> _Weighted:
    return _Weighted(label, re.compile(pattern, re.IGNORECASE), weight)


# ---------------------------------------------------------------------------------------------------- English
_EN_NUMWORD = (
    r"(?:zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|"
    r"seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|"
    r"couple|few|half)"
)
_EN_NUM = rf"(?:\d[\d,]*(?:\.\d+)?|{_EN_NUMWORD}(?:[\s-]+(?:and\s+)?{_EN_NUMWORD})*)"
_EN_SMALL = r"(?:\d+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|twenty)"

EN_PRICE = _c(
    r"[$¥￥€£]\s*\d",
    r"\d\s*(?:usd|rmb|yuan|eur)\b",
    r"\b(?:dollars?|bucks|cents?|yuan|rmb|euros?|pennies|penny)\b",
    # An amount with two decimals is money when ASR drops the currency ("9.99, it's in the snack link"); specs
    # say one decimal or carry a unit.
    r"(?<![\d.])\d{1,5}\.\d\d(?![\d.])(?!\s*(?:%|percent|mm|cm|m\b|kg|g\b|grams?|inch|inches|ounces?|oz|ml|l\b|"
    r"hz|ghz|mah|wh|w\b|v\b|amps?|volts?|x\b))",
    # "twice the price" / "half the price of" compares, it quotes no price.
    r"\b(?<!twice the )(?<!half the )(?<!double the )(?<!triple the )(?:price[sd]?|pricing|msrp|retails? (?:for|at)|"
    r"costs?|discount\w*|coupons?|vouchers?|promo\w*|"
    r"clearance|bargain|markdown|cheap\w*|affordable|giveaway|raffle|cashback|cash back)\b",
    r"(?<!big )(?<!no )\bdeals?\b(?!\s+(?:with|breaker))",
    r"\b(?:on|flash|big|huge|special) sale\b|\bsale (?:price|ends)\b|\bfor sale\b",
    rf"\b{_EN_NUM}\s*(?:%|percent)\s+off\b|\bhalf off\b|\bhalf price\b",
    rf"\bsave\s+(?:\$|up to|{_EN_NUM}\s*(?:%|percent|dollars|bucks))",
    r"\b(?:promo|discount|coupon) codes?\b|\buse (?:the )?code\b",
    r"\bfree (?:shipping|delivery|gifts?|samples?|returns?)\b|\bfor free\b|\bget (?:one|it|two|a \w+) free\b",
    r"\bshipping\b|\bbundle\b|\bbuy one,? get one\b|\bbogo\b",
    rf"\blink\s*(?:number\s*|no\.?\s*|#\s*)?{_EN_SMALL}\b|\b(?:number|#)\s*{_EN_SMALL}\s+link\b",
    r"\b(?:click|tap|the|that|in the|our|all|both|these|those|\w+) links?\b(?! (?:between|to the))|"
    r"\blinks? (?:below|above|in bio|in the|are|is)\b|\bpinned (?:up )?(?:top|above|at the top)\b",
    r"\b(?:shopping )?(?:cart|basket|checkout)\b|\bcheck out now\b",
    r"\btonight\b|\btoday only\b|\bonly today\b|\bjust (?:for )?today\b|\btoday'?s (?:price|deal|offer|special)\b",
    r"\bnow only\b|\bonly now\b|\bbefore midnight\b|\buntil midnight\b|\bmidnight\b",
    r"\b(?:during|after|in) (?:the|this) (?:stream|live|show|broadcast)\b|\bthis stream\b|"
    r"\b(?:stream|live)[- ](?:only|exclusive|price|deal)\b|\bexclusive (?:deal|offer|price|discount)\b",
    r"\bcount ?down\b|\bcounting down\b|\bthree,? two,? one\b|\b3,? 2,? 1\b",
    r"\bbefore (?:it'?s|they'?re) gone\b",
    rf"\b{_EN_NUMWORD}(?:-\w+)?\s+(?:nineteen|(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)-(?:five|nine))\b",
    rf"\b(?:usually|normally|regularly|originally|retail is|list price)\s+(?:\$\s*)?{_EN_NUM}\b|"
    rf"\b(?:today|now|tonight)(?: it'?s| they'?re| just| only)?\s+(?:\$\s*)?{_EN_NUM}\b(?!\s+(?:minutes?|hours?|"
    r"seconds?|grams?|ounces?|pounds?|percent|degrees?|days?|times|layers?|colou?rs?|sizes?|people|of you))|"
    rf"\b{_EN_NUM}\s+(?:for (?:both|two|three|the pair|the set|all (?:three|of them))|each|apiece)\b",
    r"\bcode\s+(?=[a-z]*\d)[a-z0-9]{4,}\b|\b(?:knocks?|takes?)\s+(?:\w+\s+){0,3}off\b|\b\d+\s*off\b",
    rf"\b(?:under|less than|just over)\s+(?:\$\s*\d+|{_EN_NUMWORD}(?:-\w+)?)\b(?!\s+(?:minutes?|seconds?|hours?|"
    r"days?|grams?|ounces?|pounds?|degrees?|percent))|\btwo for\b|\bbuy two\b|\bthird (?:one )?(?:is )?free\b",
    # A bare sum as the whole predicate ("It's 1999, and today...", "They're 79.", "it's 40, 99 for one"): hosts say
    # prices without the currency; a spec always carries its unit ("It's 15% ...", "it's 5 inches").
    r"\b(?:it'?s|it is|they'?re|they are|that'?s|that is|now|only|just)\s+\d[\d,.]*\d(?=\s*(?:[,.;!?]|$))|"
    r"\b(?:it'?s|it is|they'?re|they are|that'?s|that is)\s+\d[\d,.]*\s+(?:for (?:one|a|the|two|both|each))\b",
    r"\bwhile (?:supplies|stocks?) last\b|\b(?:selling|going) (?:out|fast)\b|\bsold out\b|\bsells? out\b",
    r"\b(?:in|out of) stock\b|\bstock\b|\brestock\w*\b|\binventory\b|\blimited\b|\bonly a few left\b",
    r"\blast (?:chance|call)\b|\bfinal (?:chance|call|hours?)\b|\bends? (?:in|at|soon|tonight|today)\b|\bending soon\b",
    rf"\blast\s+{_EN_NUM}\s+(?:units?|pieces?|orders?|sets?|ones?|items?|spots?|boxes|bottles|pairs|left)\b",
    # A stock count: "about twenty-five mediums left" (not "the left side").
    rf"\b{_EN_NUM}\s+(?:\w+\s+)?left\b(?!\s+(?:side|hand|ear|eye|foot|leg|arm|corner|pocket))|"
    rf"\b(?:only|just)\s+(?:have\s+|got\s+)?{_EN_NUM}\s+(?:\w+\s+){{0,2}}left\b|\b{_EN_NUM} of (?:these|them|"
    rf"those) left\b|\b{_EN_NUM}\s+(?:units?|pieces?|items?|sets?|spots?)\s+left\b",
    rf"\b(?:next|last|final)\s+{_EN_NUM}\s+(?:minutes?|seconds?)\b|\b(?:minutes?|seconds?) left\b",
    r"\b(?:goes|going|go) back up\b|\bprice goes up\b|\bwon'?t last\b",
    r"\b(?:grab|snag)\s+(?:it|one|yours|them|this|these|two|a pair|now)\b|\bget yours\b",
    r"\b(?:buy|order|purchase)\s+(?:it|one|yours|them|this|these|two|now|today|here)\b",
    r"\b(?:buy|order|shop) now\b|\bplace (?:your|an) order\b|\badd (?:it|one|this|them) to (?:your |the )?cart\b",
)

#: Urgency words that are a price call only next to price evidence ("I'm pouring it right now, look" is not).
EN_URGENCY = _c(
    r"\bright now\b|\bhurry\b|\b(?:don'?t|do not) (?:miss|wait|hesitate)\b|\bact fast\b|\bact now\b|"
    r"\bquick(?:ly)?,? (?:go|guys)\b|\bgo go go\b|\bmove fast\b|\bgo now\b",
)
#: Coupon codes as streams show them (SAVE20, GLOW15): case-sensitive, so ordinary words never match.
EN_CODE = re.compile(r"\b[A-Z]{3,}\d{1,3}\b")

EN_CHATTER = _c(
    r"\b(?:hello|hi|howdy|hiya)\b",
    r"\bwelcome\b",
    r"\bthank(?:s| you)\b(?!\s+to\b)",
    r"\b(?:give (?:us|me) a follow|hit (?:the )?follow|tap follow|follow (?:us|me|the (?:shop|store|channel|account))|"
    r"new followers?)\b",
    r"\bsubscribe\b|\b(?:hit|tap|smash|give (?:us|me|it)) (?:a |the )?(?:like|heart|thumbs up)\b",
    r"\bshare (?:the|this|our) (?:stream|live|room|video)\b|\blive room\b",
    r"\b(?:someone|somebody|anyone|a viewer|a few of you|many of you|\w+) (?:in (?:the )?(?:comments|chat) )?"
    r"(?:just |also )?asked\b|\basked (?:about|if|whether|me|us)\b|\bis asking\b|\bare asking\b",
    r"\b(?:in|from|to|on) the (?:comments?|chat)\b|\bcomments?\b|\bchat\b",
    r"\b(?:great|good) question\b|\bany questions\b|\bto answer\b",
    r"(?<!\w)@\w+",
    r"\bgood (?:morning|afternoon|evening|night)\b|\bgoodnight\b|\bsee you\b|\bbye\b|\bsay hi\b|\bshout ?outs?\b",
    r"\bnew here\b|\bif you(?: are|'re) new\b|\bjust joined\b|\bjoin(?:ing|ed)? us\b|\bwelcome back\b",
    r"\bhow (?:is|are) (?:everyone|everybody|you all|you guys)\b|\bgood to see\b|\bmissed you\b",
    r"\blet me know\b|\btype \w+ in\b|\bdrop (?:a|an|your) \w+ in\b|\bdrop (?:a|an|some|your) (?:hearts?|likes?|"
    r"comments?|emojis?)\b|"
    r"\bsend (?:a|some) (?:hearts?|likes?|gifts?|roses?)\b|\bwants? to know\b|\bwondering (?:if|whether|about)\b|"
    r"\bbe right back\b|\bbrb\b",
)

#: Answers to viewers' comments (a kind of chatter): "Kevin asks if...", "for the one who asked about size".
EN_REPLY = _c(
    r"\b\w+(?:'s| is| are)? (?:just |also )?(?:asks|asked|asking|wants to know|was wondering)\b|"
    r"\basked (?:about|if|whether)\b|"
    r"\b(?:in|from|to|on) the (?:comments?|chat)\b|\bcomments?\b|\bchat\b|(?<!\w)@\w+|\b(?:good|great) question\b|"
    r"\bfor (?:the|those|anyone|everyone) (?:one |people |person |folks )?(?:who|that) (?:asked|wanted|was)\b|"
    r"\bto answer\b|\bquestion\b",
)
#: A viewer answered by name: "Amanda, yes, machine wash cold" (case-sensitive: a capitalised name, then the answer).
EN_NAMED_REPLY = re.compile(
    # Not a name: the discourse markers and perception verbs a host opens any sentence with ("Okay, that's enough",
    # "See, no shine").
    r"^(?!(?:Okay|Ok|Alright|See|Look|Listen|Watch|Feel|Touch|Smell|Wait|So|Now|And|But|Well|Oh|Right|Yes|Yeah|"
    r"No|Honestly|Seriously|Sorry|Also|Plus|Then|Guys|Again|Anyway|Actually|Basically|Literally|Like|Here|There)"
    r",)(?:[A-Z][a-z]+|@\w+),\s+(?:yes|yeah|yep|no|nope|it'?s|they'?re|that'?s|totally|absolutely|good|great|"
    r"honestly|so|for you)\b"
)
#: Greetings and goodbyes (a kind of chatter).
EN_GREETING = _c(
    r"\b(?:hello|hi|howdy|hiya|welcome|goodbye|bye)\b|\bgood (?:morning|afternoon|evening|night)\b|\bsee you\b|"
    r"\bthanks? (?:you )?(?:for|so much for) (?:watching|coming|joining|hanging|being here|tuning)\b|\bwhat'?s up\b",
)

# Addressing the audience, not talking about people: "okay everybody," / "hey guys" / "you guys, look", but not
# "everybody wins" or "friends who run".
EN_VOCATIVE = _c(
    r"\b(?:everyone|everybody|guys|folks|friends|fam|you all|y'all|ladies)\b(?=\s*(?:[,.!?;:]|$))|"
    r"\b(?:hey|hi|hello|okay|ok|alright|so|oh|come on|you|my)\s+(?:everyone|everybody|guys|folks|friends|fam|"
    r"ladies|y'all)\b|\bhey\b"
)

EN_TRANSITION = _c(
    r"\bnext\b(?!\s+(?:to|day|morning|night|time|week|year|level|generation))",
    r"\bmoving on\b|\bmove on to\b|\blet'?s (?:move on|look at|take a look|check out|talk about|switch)\b",
    r"\bnow let'?s\b|\bfirst up\b|\bup next\b|\bcoming up\b|\blast but not least\b",
    r"\bhere(?: is|'s) (?:our|the next|my|another)\b|\bour (?:next|last|final|first) (?:product|item|one|pick)\b",
    r"\b(?:last|final) (?:one|item|product) (?:is|for)\b|\blast (?:thing|up)\b|\banother (?:product|item|"
    r"favou?rite|bestseller)\b",
    r"\bswitch(?:ing)? (?:to|gears)\b|\bon to (?:the|our)\b|\bnow (?:we have|i have|for)\b",
    r"\blet me (?:grab|get|pull up|bring out|find)\b|\bi almost forgot\b|\bback to (?:the|our)\b",
)

EN_SELLING = (
    _w(
        "material",
        r"\b(?:made (?:of|from|with|out of)|crafted (?:from|with)|cotton|wool|merino|cashmere|silk|linen|"
        r"leather|suede|nylon|polyester|spandex|fleece|goose down|duck down|denim|canvas|bamboo|stainless|steel|"
        r"alumini?um|titanium|silicone|rubber|ceramic|glass|wooden|walnut|oak|plastic|fabric|material|mesh|"
        r"memory foam|foam|gore-?tex|carbon fiber|copper|food[- ]grade|medical[- ]grade|organic|ingredients?|"
        r"formula|vitamin \w+|hyaluronic|collagen|niacinamide|ceramides?|spf)\b",
        1.0,
    ),
    _w(
        "property",
        r"\b(?:waterproof|water[- ]resistant|windproof|breathable|lightweight|durable|sturdy|leak[- ]?proof|"
        r"spill[- ]?proof|shockproof|scratch[- ]resistant|stain[- ]resistant|non[- ]?slip|anti[- ]\w+|"
        r"wrinkle[- ]free|quick[- ]dry\w*|insulated|insulation|double[- ]wall(?:ed)?|vacuum|sealed|taped|"
        r"reinforced|adjustable|foldable|folds?|collapsible|portable|compact|ergonomic|cushion\w*|padded|soft|"
        r"smooth|comfortable|comfy|stretchy|elastic|gentle|hypoallergenic|fragrance[- ]free|unscented|"
        r"moisturi[sz]\w*|hydrat\w*|nourish\w*|absorb\w*|rechargeable|wireless|bluetooth|noise[- ]cancell?ing|"
        r"quiet|silent|washable|dishwasher[- ]safe|machine[- ]wash\w*|bpa[- ]free|non[- ]toxic|eco[- ]friendly|"
        r"recycled|sustainable|odou?r\w*|warm|dry|cool|light|strong|thick|slim|sleek|versatile|stable|greasy|"
        r"sticky|oily|dewy|matte|shiny|streaks?|white cast|residue|crunchy|crispy|creamy|chewy|juicy|fresh|"
        r"sturdy|flimsy|snug|loose|tight|stretch\w*|roomy|spacious|bright|sharp|crisp|loud|heavy)\b",
        1.0,
    ),
    _w(
        "feature",
        r"\b(?:zipp?ers?|pockets?|seams?|stitch\w*|lining|hood|straps?|handles?|lid|sole|grip|blades?|motor|"
        r"sensor|screen|display|lens|battery|charg\w+|capacity|settings?|modes?|design(?:ed)?|technology|"
        r"feature|function|layers?|texture|finish|coating|nozzle|bristles?|brush head|filter|cup holder)\b",
        0.6,
    ),
    _w(
        "benefit",
        r"\bso (?:that )?your?\b|\bwhat i love\b|\bthe best part\b|\bwhich means\b|\bthat means\b|\byou (?:can|"
        r"will|won'?t|don'?t have to|never)\b|"
        r"\blets? you\b|\bhelps? (?:you|to|keep)\b|\bno more\b|\bwithout (?:any )?\w+|\beven (?:in|if|when|after|"
        r"on|with|at)\b|\ball day\b|\bno matter\b|\b(?:perfect|great|ideal|good|made|designed) for\b|"
        r"\bwhether you\b|\bkeeps?\b|\blasts?\b|\bprotects?\b|\bprevents?\b|\bresists?\b|\bblocks?\b|"
        r"\breduces?\b|\bremoves?\b|\bsupports?\b|\brelieves?\b|\bboosts?\b|\bholds?\b|\bfits?\b",
        0.8,
    ),
    _w(
        "comparison",
        r"\bcompared (?:to|with)\b|\bunlike\b|\b(?:better|lighter|stronger|warmer|softer|faster|longer|thinner|"
        r"bigger|smaller|quieter|thicker|easier|safer|tougher)\b|\bthan (?:most|other|regular|ordinary|normal|"
        r"traditional|typical)\b|\bother brands\b|\bregular \w+s\b",
        0.8,
    ),
    _w(
        "demonstration",
        r"\blet me show you\b|\blook at (?:this|how|the|that)\b|\bsee (?:how|this|the|that)\b|\bwatch (?:this|how|"
        r"what|me)\b|\bi'?(?:ll|m going to|m gonna) (?:pour|pull|stretch|drop|fold|test|put|spray|press|show)\b|"
        r"\bfeel (?:how|the|this)\b|\bas you can see\b|\bup close\b|\bclose[- ]up\b|\bcheck this\b|\blook how\b|"
        r"^(?:watch|look|see|listen|check it out)\b|\b(?:look|see|watch),|"
        r"\blisten (?:to )?(?:this|that|it)\b|\b(?:hear|smell|taste) (?:that|this|it|how)\b|"
        r"\bi'?m (?:opening|pouring|putting|spraying|rubbing|dropping|pulling|stretching|wiping|scrubbing|cutting|"
        r"folding|pressing|tapping|swatching|blending|plugging)\b",
        0.6,
    ),
    _w(
        "number+unit",
        rf"\b{_EN_NUM}[\s-]*(?:grams?|kilograms?|kilos?|pounds?|lbs?|ounces?|oz|milliliters?|millilitres?|ml|"
        r"liters?|litres?|hours?|hrs|minutes?|mins|seconds?|days?|weeks?|months?|years?|mah|watts?|volts?|inch(?:es)?|"
        r"centimeters?|centimetres?|millimeters?|millimetres?|cm|mm|meters?|metres?|feet|foot|ft|degrees?|layers?|"
        r"percent|times|colou?rs?|sizes?|settings?|modes?|levels?|speeds?|cups?|washes|charges?|steps?)\b|"
        r"\b\d+(?:\.\d+)?\s?(?:g|kg|l|w|v|x|k|mm|cm|ml|mah|hz|db|°[cf]?|%)(?!\w)",
        1.0,
    ),
    _w("description", r"\b(?:it|this|the \w+) (?:has|comes with|features|includes|is made)\b", 0.3),
    _w("emphasis", r"\b(?:really|super|very|incredibly|extremely|totally|fully|completely|even|only)\b", 0.2),
)

# ---------------------------------------------------------------------------------------------------- Chinese
_ZH_NUM = r"(?:\d+(?:\.\d+)?|[零〇一二两三四五六七八九十百千万几半点]+)"
_ZH_PRICE_NUM = r"(?:\d+(?:\.\d+)?|[零〇一二两三四五六七八九十百千万几]+)"
_ZH_SMALLNUM = r"(?:\d+|[一二两三四五六七八九十几]+)"
#: A whole sum of ten or more in Chinese numerals, with 十, 百 or 千 (七十九, 一百二十九); not a percentage, a rank
#: or the second half of a height, weight or size (百分之五十, 一米七十). Digits are left out: ASR writes shade and
#: model numbers that way (色号100).
_ZH_SUM = (
    r"(?<![米斤码号岁点之第零〇一二两三四五六七八九十百千])"
    r"[一二两三四五六七八九]?[十百千][零〇一二两三四五六七八九十百千]*"
)

ZH_PRICE = _c(
    r"[¥￥]\s*\d",
    r"(?:\d|[零〇一二两三四五六七八九十百千万几])\s*元(?![素气宵旦件器])|块钱|毛钱|\d\s*毛\s*\d",
    r"(?:件|条|个|套|盒|瓶|双|包|袋|组|支|片|罐)[零一二两三四五六七八九十百千]{2,}(?:[，。！？,.!?、]|$|块|元)|"
    r"[零〇一二两三四五六七八九十\d]+\s*号\s*(?:链|连|练|炼)|\d+\s+\d(?![\d.])(?!\s*(?:斤|公斤|千克|克|米|厘米|毫米|"
    r"码|毫升|升|毫安|岁|个月|分钟|小时|天|度|寸|片|袋|包))|送(?:小|一|两|二|三|\d)|半价|"
    r"[零〇一二两三四五六七八九十百千几\d]块[零一二两三四五六七八九\d]|[一二两三四五六七八九十\d]毛[一二三四五六七八九\d]",
    r"\d+(?:\.\d+)?\s*块(?![\u4e00-\u9fff])|\d+(?:\.\d+)?\s*块(?:就|到手|一|两|包邮|都不到|不到|的价格|的)",
    r"[一二两三四五六七八九十百千几]{2,}块(?![\u4e00-\u9fff])|[一二两三四五六七八九十百千几]{2,}块(?:就|到手|的价格)",
    r"价格|价钱|价位|原价|到手价|福利价|活动价|直播价|直播间价|专属价|特价|底价|售价|定价|标价|券后|秒杀价|"
    r"优惠价|零售价|市场价|门店价|专柜价|官方价|吊牌价|多少钱|便宜|划算|性价比|省钱|白菜价|亏本|赔钱|破价|"
    r"最低价|历史最低|到手",
    r"优惠|领券|券|满减|满\d+减|立减|直降|打折|折扣|\d\s*折(?!叠)|[一二三四五六七八九]折(?!叠)|"
    r"买[一二两三四五\d]+送|赠|(?:还|再|加|额外)送|送(?:您|你们?|大家)(?!的)|包邮|运费|七天无理由|退换",
    r"福利|抽奖|红包|秒杀|限时|限量|特惠|专享|直播间专属|专属福利|清仓|活动价|做活动|活动期间|今天的活动",
    r"今晚|今天晚上|今天下单|今天拍|仅限今天|只限今天|只有今天|就今天|今日|今天(?:的)?(?:价格|福利|特价|专属)|下播",
    rf"倒计时|[三3][，,、\s]*[二2][，,、\s]*[一1](?:[，,、\s!！]|上|$)|最后\s*{_ZH_SMALLNUM}\s*(?:单|件|份|组|套|分钟|秒|波|次|名|个名额)|"
    r"最后一波|最后的?机会|最后一次",
    rf"仅剩|只剩|就剩|还剩|剩下\s*{_ZH_SMALLNUM}|库存|补货|现货|断货|没货|卖完|卖光|抢光|售罄|手慢无|"
    r"马上(?:下单|拍|抢|去|上)|名额|限购|涨价|恢复原价|回到原价",
    r"下单|拍下|拍[一二两三\d](?:单|件|个|份|套|组|瓶|盒)|拍[1-9]|拍它|去拍|快拍|赶紧拍|直接拍|可以拍了|拍起来|"
    r"点击|点进|链接|小黄车|购物车|购物袋|橱窗|上车|上链接|付款|支付|购买|抢购|抢(?![眼手])|"
    r"冲(?:冲|鸭|啊|吧|！|!)|闭眼入|囤货|囤(?:起来|一|几|两)",
    rf"(?:只要|只需|仅需|仅要|才要|只卖|就卖|卖)\s*{_ZH_PRICE_NUM}\s*(?:元|块|刀|$|[，,。！!？?])",
    # Price evidence as ASR leaves it, the unit or the price word misheard (原价 -> 原架, 买一送一 -> 买衣送衣):
    # a sum of ten or more in numerals closing a clause with no unit after it (今天七十九，), a sum before 买
    # (一百六十九买),
    # the buy-X-get-Y shape whatever X and Y became, and the take-down call after the last order (拍完就下架).
    rf"{_ZH_SUM}\s*(?:[，,。！!？?]|$)|{_ZH_SUM}\s*买|"
    r"买\S送\S(?:[，,。！!？?]|$)|下架|拍完(?!照|视频|片子)",
)

#: Measure words and units after a number: it counts or measures something (十二支, 三十天, 二十四小时).
_ZH_MEASURE = (
    r"(?:[支片瓶个件套盒袋包条双罐组份只张对颗粒根把台款色种层倍遍次岁码斤克米度分秒天年周月号寸升毫厘公千万多来]"
    r"|小时)"
)

#: Urgency words that are a price call only next to price evidence (see ``EN_URGENCY``); also a sum with no measure
#: word after it, what ASR leaves of a price whose unit or pack it misheard (九十九一盒 -> 九十九衣盒, 一百二十九带
#: 刷包 -> 一百二十九代刷包): a price only beside a price call.
ZH_URGENCY = _c(
    r"赶紧|抓紧|赶快|错过|机不可失|拼手速|手速|马上|立刻|现在就",
    rf"{_ZH_SUM}(?![零〇一二两三四五六七八九十百千]|\s*{_ZH_MEASURE})",
)

ZH_CHATTER = _c(
    r"欢迎|点个?关注|关注一下|关注主播|点点关注|加个?关注|关注我们|点赞|点个赞|小红心|点亮|灯牌|粉丝团|加团",
    r"分享(?:一下)?直播间|进直播间|来到直播间|直播间的(?:宝宝|家人|姐妹|朋友|兄弟)|刚进来|新进来|新来的",
    r"晚上好|早上好|下午好|中午好|大家好|谢谢|感谢|明天见|拜拜|再见|晚安|好久不见|想死你们",
    r"有(?:宝宝|人|姐妹|家人|朋友|小伙伴|兄弟|粉丝)(?:在)?(?:问|说)|(?:宝宝|姐妹|家人|朋友|小伙伴)们?(?:在|刚刚|刚才)问",
    r"^[^，。！？,.!?\s]{1,8}问(?:一下|了)?[^，。！？,.!?]{0,12}(?:能不能|可不可以|会不会|有没有|是不是|吗|怎么|什么|多少|几|哪)",
    r"问一下|在问|问到|问了|回复|回答一下|弹幕|评论|留言|公屏|@|艾特|扣[一1]|扣个|打[一1]|刷起来|刷一波|双击|666",
)

ZH_REPLY = _c(
    r"有(?:宝宝|人|姐妹|家人|朋友|小伙伴|兄弟|粉丝|老铁|集美)(?:在)?(?:问|说)|问(?:一下|了|到|的)|在问|回复|回答|弹幕|评论|"
    r"留言|公屏|@|艾特|回(?:一下|个|复一下)",
    r"^[“\"「『][^”\"」』]{1,10}[”\"」』](?:说|问|讲)",
    r"^[^，。！？,.!?\s]{1,8}(?:问|说)[^，。！？,.!?]{0,12}(?:能不能|可不可以|会不会|有没有|是不是|吗|怎么|什么|多少|几|哪)",
    # A viewer's name opening a clause, then 问: "老王问苹果手机能用不" (the host asks no one by name).
    r"(?:^|[，,。！？!?])\s*[“\"]?[^，。！？,.!?\s我你先再]{2,6}[”\"]?问(?![题问])",
)
ZH_GREETING = _c(r"欢迎|晚上好|早上好|下午好|中午好|大家好|明天见|拜拜|再见|晚安|好久不见|想死你们|下次见|下播")

ZH_VOCATIVE = _c(r"家人们|宝宝们|姐妹们|兄弟们|朋友们|老铁|亲们|小伙伴们|集美们|宝子们|所有人")

ZH_TRANSITION = _c(
    r"接下来|下一款|下一个|下个(?:产品|宝贝)|再来看|再看(?:一下)?(?:这|我们)|来看(?:一下)?(?:这|我们|下一)",
    r"我们来看|我们看一下|看一下这款|给大家介绍|第[一二三四五六七八九十\d]+[款个](?:产品|宝贝)?",
    r"(?:给(?:你们|大家|姐妹们|家人们|宝宝们)|先)上(?:个|一个|这个|第)|先上|第[二三四五六七八九]个|"
    r"首先|然后我们|换一[个款]|最后一款|最后一个(?:产品|宝贝)|压轴|今天(?:给大家)?带来|先来看|开始(?:介绍|讲)",
)

ZH_SELLING = (
    _w(
        "material",
        r"材质|面料|材料|布料|纯棉|全棉|棉|羊毛|羊绒|真丝|桑蚕丝|蚕丝|亚麻|皮革|真皮|牛皮|羊皮|涤纶|锦纶|尼龙|"
        r"氨纶|莫代尔|冰丝|鸭绒|鹅绒|羽绒|不锈钢|304|316|食品级|医用级|母婴级|硅胶|陶瓷|玻璃|实木|竹|铝合金|钛|"
        r"碳纤维|塑料|成分|配方|精华|玻尿酸|烟酰胺|胶原|维生素|氨基酸|原料|纤维",
        1.0,
    ),
    _w(
        "property",
        r"防水|防风|防晒|防滑|防摔|防漏|防臭|防霉|防蚊|防静电|防污|透气|保暖|保温|保冷|保湿|补水|控油|持妆|持久|"
        r"遮瑕|美白|抗皱|抗氧化|舒缓|修护|温和|不刺激|敏感肌|无添加|不起球|不掉色|不褪色|不变形|不缩水|不粘|"
        r"不紧绷|不拔干|不油腻|清爽|水润|不掉毛|不跑绒|不钻绒|不闷|不勒|不卡|不刮|不伤|不漏|不烫|耐磨|耐用|耐脏|耐高温|结实|轻便|轻薄|轻盈|便携|可折叠|折叠|"
        r"收纳|柔软|亲肤|舒服|舒适|顺滑|细腻|弹力|弹性|显瘦|修身|宽松|百搭|垂感|挺括|速干|吸汗|吸水|排汗|降噪|"
        r"音质|续航|快充|充电|无线|蓝牙|静音|大容量|密封|锁水|清洁|去污|除菌|杀菌|抑菌|安全|环保|无毒|健康|营养|"
        r"低糖|低卡|零糖|好吃|口感|软糯|方便|省力|省时|好用|实用|轻|暖和|凉快|干爽|稳|牢固|清晰|亮|光泽|质感|高级感|"
        r"好看|显白|吸收|不油|扛得住|耐晒|SPF|PA\+*",
        1.0,
    ),
    _w(
        "feature",
        r"设计|工艺|织法|技术|功能|效果|细节|做工|质地|走线|拉链|口袋|内衬|里衬|袖口|领口|帽子|版型|剪裁|鞋底|鞋垫|按键|"
        r"屏幕|电机|马达|刀头|刷头|喷头|杯盖|盖子|杯身|内胆|涂层|接口|电池|档位|模式|颜色|色号|容量|刷毛|滤网",
        0.6,
    ),
    _w(
        "benefit",
        r"适合|采用|所以|这样|让你|让您|能够|就算|即使|哪怕|也不会|也不|都不|不用担心|不怕|再也不用|不用|自带|兼容|通用|直接|放心|不会|"
        r"一整天|一天下来|一[整个]*冬天|一[整个]*夏天|一年四季|跟新的一样|像新的一样|随时|随地|无论|不管|用来|用于|帮你|帮助|解决|告别|轻松|一下就|马上就|可以|能|还能",
        0.6,
    ),
    _w("comparison", r"相比|对比|比起|不像|普通的|一般的|其他(?:品牌|家)|市面上|同类|别人家|比(?!较)", 0.7),
    _w(
        "demonstration",
        r"给大家看|给你们看|展示一下|给你们展示|给大家展示|看一下|看这个|你看|大家看|演示|试一下|试给|我来试|我试|上身|试穿|上脚|实测|测试|"
        r"倒进去|倒水|倒一杯|拉一下|扯一下|揉|摸一下|摸一摸|摸着|手感|近看|特写|仔细看|你们看",
        0.6,
    ),
    _w(
        "number+unit",
        rf"{_ZH_NUM}\s*(?:克|千克|公斤|斤|毫升|升|个?小时|分钟|秒|天|个月|年|毫安|mAh|瓦|伏|厘米|公分|毫米|米|英寸|寸|"
        r"度|℃|层|倍|%|档|赫兹|分贝|万次)",
        1.0,
    ),
    _w("description", r"这款|这个(?:产品|宝贝)?(?:是|有|用)|它(?:是|有|用|的)", 0.3),
    _w("emphasis", r"非常|特别|超级|真的|完全|绝对|一点都不|一点也不|根本|很", 0.2),
)


@lru_cache(maxsize=4)
def lexicon(language: str) -> Lexicon:
    """The compiled lexicon for ``zh`` or ``en`` (anything else is English)."""
    if language.lower().startswith("zh"):
        return Lexicon(
            "zh", ZH_PRICE, ZH_CHATTER, ZH_VOCATIVE, ZH_TRANSITION, ZH_SELLING, ZH_URGENCY, ZH_REPLY, ZH_GREETING
        )
    return Lexicon(
        "en",
        (*EN_PRICE, EN_CODE),
        EN_CHATTER,
        EN_VOCATIVE,
        EN_TRANSITION,
        EN_SELLING,
        EN_URGENCY,
        (*EN_REPLY, EN_NAMED_REPLY),
        EN_GREETING,
    )


def resolve_language(text: str, language: str) -> str:
    """``zh`` or ``en``: the given language if it is one of them, else a guess from the text."""
    lang = (language or "").lower()
    if lang.startswith("zh"):
        return "zh"
    if lang.startswith("en"):
        return "en"
    return "zh" if is_cjk(text) else "en"


def _first(patterns: Sequence[re.Pattern[str]], text: str) -> str | None:
    for pattern in patterns:
        match = pattern.search(text)
        if match:
            return match.group(0).strip() or match.group(0)
    return None


def selling_strength(weight: float) -> float:
    """Map a summed cue weight to 0..1: one strong cue is 0.5, two 0.75, three 0.875."""
    return round(1.0 - math.pow(0.5, max(weight, 0.0)), 4)


#: Three or more short Chinese items separated by 、 (an enumeration).
_ITEM_LIST = re.compile(r"(?:[\u4e00-\u9fff]{1,4}、){2,}[\u4e00-\u9fff]{1,4}")


def sentence_cues(text: str, language: str) -> SentenceCues:
    """Classify one sentence with the cue lexicons.

    Args:
        text: the sentence as transcribed; punctuation optional.
        language: ``zh`` or ``en`` (a code such as ``zh-CN`` works); empty guesses from the text.

    Returns:
        Price/urgency, chatter and transition flags, a selling strength in 0..1 and the cues that fired.
        A sentence that only addresses the audience (家人们, "guys") counts as chatter unless its selling
        strength reaches :data:`VOCATIVE_SELLING_LIMIT`.
    """
    clean = " ".join(text.split())
    primary = lexicon(resolve_language(clean, language))
    secondary = lexicon("en" if primary.language == "zh" else "zh")
    reasons: list[str] = []

    price_term = _first(primary.price, clean) or _first(secondary.price, clean)
    if price_term:
        reasons.append(f"price:{price_term}")
    urgency_term = None if price_term else _first(primary.urgency, clean) or _first(secondary.urgency, clean)
    if urgency_term:
        reasons.append(f"urgency:{urgency_term}")
    # A list of short items (腰果、巴旦木、榛子) is the host naming things: an item ASR turned into a chat word
    # (巴旦木 -> 八弹幕) is no viewer's comment.
    talk = _ITEM_LIST.sub("、", clean)
    reply_term = _first(primary.reply, talk)
    greeting_term = _first(primary.greeting, talk)
    chatter_term = reply_term or _first(primary.chatter, talk) or _first(secondary.chatter, talk)
    transition_term = _first(primary.transition, clean)
    if transition_term:
        reasons.append(f"transition:{transition_term}")

    weight = 0.0
    for cue in primary.selling:
        terms = {m.group(0).strip().lower() for m in cue.pattern.finditer(clean)}
        terms.discard("")
        if not terms:
            continue
        cap = 1 if cue.label in ("emphasis", "description") else 2
        weight += cue.weight * min(len(terms), cap)
        reasons.extend(f"{cue.label}:{t}" for t in sorted(terms, key=lambda t: (-len(t), t))[:cap])
    selling = selling_strength(weight)

    if chatter_term is None and selling < VOCATIVE_SELLING_LIMIT and not transition_term:
        chatter_term = _first(primary.vocative, clean) or _first(secondary.vocative, clean)
    if chatter_term:
        reasons.insert(1 if price_term else 0, f"chatter:{chatter_term}")
    return SentenceCues(
        price_or_urgency=price_term is not None,
        chatter=chatter_term is not None,
        transition=transition_term is not None,
        selling=selling,
        reasons=tuple(reasons),
        urgency=urgency_term is not None,
        reply=reply_term is not None,
        greeting=greeting_term is not None and reply_term is None,
    )
