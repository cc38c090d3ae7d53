"""Cue lexicons: price/urgency and chatter are excluded, numbers with units are selling cues, not prices."""

from __future__ import annotations

import pytest

from clipper.cues import SentenceCues, sentence_cues
from mcn.samples.scripts import DEV_EN, DEV_ZH
from mcn.samples.scripts import L as ScriptLine

PRICE_EN = [
    "Link three, only seventy nine dollars, tonight only!",
    "Grab it now, the price goes back up after the stream.",
    "It's $79 right now.",
    "Only 79 bucks for the next ten minutes.",
    "Link 3 is live, go go go.",
    "We only have five left in stock.",
    "Last 20 units, don't miss it!",
    "Use the coupon before midnight.",
    "Thirty percent off today only.",
    "This is a limited deal for our live viewers.",
    "Countdown, three, two, one!",
    "Add it to your cart before it's gone.",
    "Free shipping on every order during the stream.",
    "9.99, it's in the snack link with the crisps.",  # ASR dropped the dollar sign
]
PRICE_ZH = [
    "三号链接，原价三百九十九，今晚只要一百九十九！",
    "秒杀价只要三十九块九，两瓶到手更划算。",
    "最后五十单，倒计时三二一，上链接！",
    "这款保温杯今天福利价，拍一发二，库存只有两百个！",
    "只要99，赶紧下单。",
    "领券再减二十元。",
    "五号链接已经上了，直接拍。",
    "限时特惠，买一送一。",
    "¥59，手慢无。",
    "最后三分钟，抓紧抢。",
    "优惠券在小黄车里。",
]
CHATTER_EN = [
    "Hello everyone, welcome to the live room!",
    "Thanks for coming, give us a follow if you are new.",
    "Someone in the comments asked about sizes, we have small to extra large.",
    "Thanks for watching, see you tomorrow night!",
    "@lily yes it ships to Canada.",
    "Good question from Sam in the chat.",
]
CHATTER_ZH = [
    "家人们晚上好，欢迎来到我们的直播间！",
    "刚进来的宝宝们点个关注，不迷路哦。",
    "有宝宝问一米六穿什么码，建议拿M码。",
    "感谢宝宝们的小红心，谢谢大家的支持！",
    "有人问男生能不能用，男生女生都能用的。",
    "喜欢的宝宝们扣个一，我看看有多少人想要。",
    "家人们！",
]
SELLING_EN = [
    "It weighs 300 grams.",
    "It folds into its own pocket and weighs only three hundred grams.",
    "The double wall keeps your drinks cold for twenty four hours.",
    "The battery lasts 24 hours and charges in 2 hours.",
    "The fabric is breathable, which means you will not sweat on a long hike.",
    "It is made of food grade stainless steel.",
    "Thanks to the taped seams, water stays out.",
]
SELLING_ZH = [
    "它的容量是一万毫安，手机能充满两到三次。",
    "这款充电宝有5000毫安，支持22.5瓦快充。",
    "这款羽绒服采用百分之九十的白鸭绒，蓬松度特别高。",
    "面料是防风防泼水的，下小雨也不用担心被淋湿。",
    "家人们，这个面料是纯棉的，洗了也不起球。",
    "只要一点点，就能打出很多泡沫。",
    "拍照特别清晰，晚上也能拍。",
    "它整件只有二百五十克，叠起来可以直接塞进包里。",
]


@pytest.mark.parametrize("text", PRICE_EN)
def test_english_price_and_urgency(text: str) -> None:
    cues = sentence_cues(text, "en")
    assert cues.price_or_urgency and cues.excluded, cues


@pytest.mark.parametrize("text", PRICE_ZH)
def test_chinese_price_and_urgency(text: str) -> None:
    cues = sentence_cues(text, "zh")
    assert cues.price_or_urgency and cues.excluded, cues


@pytest.mark.parametrize(("text", "language"), [(t, "en") for t in CHATTER_EN] + [(t, "zh") for t in CHATTER_ZH])
def test_chatter(text: str, language: str) -> None:
    cues = sentence_cues(text, language)
    assert cues.chatter and cues.excluded, cues


@pytest.mark.parametrize(("text", "language"), [(t, "en") for t in SELLING_EN] + [(t, "zh") for t in SELLING_ZH])
def test_selling_with_numbers_and_units_is_not_price(text: str, language: str) -> None:
    cues = sentence_cues(text, language)
    assert not cues.excluded, cues
    assert 0.3 <= cues.selling <= 1.0, cues


def test_numbers_with_units_fire_a_selling_cue() -> None:
    assert "number+unit:300 grams" in sentence_cues("It weighs 300 grams.", "en").reasons
    assert "number+unit:5000毫安" in sentence_cues("电池有5000毫安", "zh").reasons
    assert "number+unit:twenty four hours" in sentence_cues("cold for twenty four hours", "en").reasons


def test_decimals_with_a_unit_or_one_place_are_specs_not_prices() -> None:
    for text in ("The gel is pH 5.5 so it cleans gently.", "Bluetooth 5.3 with multipoint.", "It weighs 4.85 grams."):
        assert not sentence_cues(text, "en").price_or_urgency, text


def test_transitions() -> None:
    assert sentence_cues("Next, let me show you the steel bottle.", "en").transition
    assert sentence_cues("First up is our rain jacket.", "en").transition
    assert sentence_cues("好，接下来给大家看这款保温杯。", "zh").transition
    assert sentence_cues("下一款是我们的氨基酸洗面奶。", "zh").transition
    assert not sentence_cues("This takes the comfort to the next level.", "en").transition


def test_price_cues_of_both_languages_always_apply() -> None:
    assert sentence_cues("这个在 link 3 里面", "zh").price_or_urgency
    assert sentence_cues("Today we have the 秒杀 deal", "en").price_or_urgency


def test_language_is_guessed_when_empty() -> None:
    assert sentence_cues("今晚秒杀", "").price_or_urgency
    assert sentence_cues("it is fully waterproof", "").selling > 0


def test_cues_are_frozen_and_excluded_is_derived() -> None:
    cues = SentenceCues(price_or_urgency=False, chatter=True, transition=False, selling=0.2)
    assert cues.excluded
    with pytest.raises(AttributeError):
        cues.chatter = False  # type: ignore[misc]


@pytest.mark.parametrize("script", [DEV_EN, DEV_ZH], ids=["dev-en", "dev-zh"])
def test_dev_scripts_lines_classified_by_kind(script: object) -> None:
    lines: list[ScriptLine] = [*script.intro, *(ln for s in script.segments for ln in s.lines), *script.outro]  # type: ignore[attr-defined]
    language: str = script.language  # type: ignore[attr-defined]
    for line in lines:
        cues = sentence_cues(line.text, language)
        if line.kind in ("price", "reply", "greeting", "chatter"):
            assert cues.excluded, (line, cues)
        if line.kind == "price":
            assert cues.price_or_urgency, (line, cues)
        if line.kind == "selling":
            assert not cues.excluded, (line, cues)
            assert cues.selling >= 0.4, (line, cues)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Noise cancelling is rated up to 35 decibels, which is what you see on buds twice the price.", "en"),
        ("我1米65, 10 5斤穿的M码，长度刚好盖住脚面。", "zh"),  # ASR's 一百零五斤: a weight, not a price
    ],
)
def test_comparisons_and_numbers_with_a_unit_are_no_price_call(text: str, language: str) -> None:
    assert not sentence_cues(text, language).price_or_urgency, sentence_cues(text, language)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("It's sixty-four, and there are about twenty-five mediums left, so mediums, go now.", "en"),
        ("原味的牙口不好都能慢慢嚼，还是两袋10 9送小包装。", "zh"),  # ASR's 十九: a spoken price
    ],
)
def test_stock_counts_and_spoken_prices_are_price_calls(text: str, language: str) -> None:
    assert sentence_cues(text, language).price_or_urgency


@pytest.mark.parametrize(
    "text",
    [
        "Okay, that's enough, you get it.",
        "See, no shine on my forehead.",
        "Nobody gets fully undressed, nobody fully wakes up, everybody wins.",
    ],
)
def test_discourse_markers_and_pronouns_are_not_a_viewer_or_the_audience(text: str) -> None:
    cues = sentence_cues(text, "en")
    assert not cues.chatter and not cues.reply, cues


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Amanda, yes, machine wash cold.", "en"),
        ("Okay everybody, hit follow.", "en"),
        ("Hey guys!", "en"),
        ("老王问苹果手机能用不，能用，开盖就连。", "zh"),  # a viewer's name, then 问
    ],
)
def test_viewers_by_name_and_the_audience_still_are(text: str, language: str) -> None:
    assert sentence_cues(text, language).chatter


@pytest.mark.parametrize(
    "text",
    [
        "脱把原架一百二十九，",  # 原价 misheard, the sum closes the clause
        "今天七十九，",
        "一百六十九买衣送衣，",  # 买一送一 misheard
        "拍完旧下架，",  # 拍完就下架
    ],
)
def test_chinese_price_evidence_as_asr_mangles_it(text: str) -> None:
    assert sentence_cues(text, "zh").price_or_urgency, sentence_cues(text, "zh")


@pytest.mark.parametrize(
    "text",
    [
        "我1米65，一百三十斤穿的L码。",
        "十二支一套，",
        "一点二米的床有没有，",
        "我拍完照给你看。",
        "色号有100。",
        "穿了三十次都没起球。",
    ],
)
def test_heights_counts_and_shade_numbers_are_not_prices(text: str) -> None:
    assert not sentence_cues(text, "zh").price_or_urgency, sentence_cues(text, "zh")


def test_a_chat_word_asr_made_of_a_list_item_is_no_chatter() -> None:
    # 巴旦木 heard as 八弹幕 in a list of nuts: the host is naming things, not reading the chat.
    cues = sentence_cues("一盒三十袋，一袋里六样，腰果、八弹幕、榛子、核桃。", "zh")
    assert not cues.chatter and not cues.reply, cues
    assert sentence_cues("弹幕里有人问能不能邮到新疆。", "zh").chatter


def test_a_bare_sum_as_the_whole_predicate_is_a_price() -> None:
    # Hosts say prices without the currency; a spec always carries its unit.
    for text in ("It's 1999, and today it comes with the matching spoon.", "They're 79.", "it's 40, 99 for one"):
        assert sentence_cues(text, "en").price_or_urgency, text
    for text in ("It's 15% vitamin C.", "It's 100% cotton.", "It's 2.5 ounces, and it lasts.", "The pH is 5.5."):
        assert not sentence_cues(text, "en").price_or_urgency, text
