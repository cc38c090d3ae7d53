from __future__ import annotations

import pytest

from clipper.planner import PlanOptions, excluded_sentences, plan_clips, spoken_sentences
from clipper.scenes import SceneCuts
from clipper.sentences import continues_previous, split_sentences, words_from_text
from clipper.types import ProductSegment, SellingPoint, Sentence, Transcript, Word
from tests.helpers import transcript_from_lines

LINES = [
    "Hello everyone, welcome to the live room!",  # 0 greeting
    "This jacket is fully waterproof, so you stay dry even in heavy rain.",  # 1
    "The fabric is breathable, which means you will not sweat on a long hike.",  # 2
    "It folds into its own pocket and weighs only three hundred grams.",  # 3
    "The seams are taped and the zippers are sealed against water.",  # 4
    "Link three, only seventy nine dollars, tonight only!",  # 5 price
    "The hood adjusts with one hand and stays put in strong wind.",  # 6
    "The cuffs close with soft velcro so rain never runs up your sleeves.",  # 7
    "There are two deep hand pockets lined with warm fleece.",  # 8
    "Reflective trim keeps you visible to cars on dark evenings.",  # 9
]


def point(first: int, last: int, score: float = 0.8, hook: str = "Stay dry in any storm") -> SellingPoint:
    return SellingPoint(first, last, "waterproof", hook, "Rain jacket", score, "cues", "p-jacket")


def test_clip_never_contains_price_call_even_if_detector_says_so() -> None:
    t = transcript_from_lines(LINES)
    clips = plan_clips(t, [point(1, 9)], options=PlanOptions(min_seconds=5, max_seconds=60))
    assert clips
    for clip in clips:
        assert 5 not in clip.sentences
        price = t.sentences[5]
        assert clip.source_end <= price.start or clip.source_start >= price.end


def test_boundaries_are_in_pauses_never_inside_words() -> None:
    t = transcript_from_lines(LINES)
    clips = plan_clips(t, [point(1, 4), point(6, 9, 0.7)], options=PlanOptions(min_seconds=5, max_seconds=60))
    for clip in clips:
        for word in t.words:
            assert not (word.start < clip.source_start < word.end), "start cuts a word"
            assert not (word.start < clip.source_end < word.end), "end cuts a word"
        first, last = t.sentences[clip.sentences[0]], t.sentences[clip.sentences[-1]]
        assert clip.source_start <= first.start and clip.source_end >= last.end
        # the padding never reaches the neighbouring sentences
        if clip.sentences[0] > 0:
            assert clip.source_start > t.sentences[clip.sentences[0] - 1].end
        if clip.sentences[-1] + 1 < len(t.sentences):
            assert clip.source_end < t.sentences[clip.sentences[-1] + 1].start


def test_ranked_by_score_without_overlap_and_capped() -> None:
    t = transcript_from_lines(LINES)
    clips = plan_clips(
        t,
        [point(1, 4, 0.5), point(2, 3, 0.9), point(6, 9, 0.7)],
        options=PlanOptions(min_seconds=5, max_seconds=60, max_clips=5),
    )
    scores = [c.score for c in clips]
    assert scores == sorted(scores, reverse=True)
    for a in clips:
        for b in clips:
            if a is not b:
                assert a.source_end <= b.source_start or b.source_end <= a.source_start
    assert [c.id for c in clips] == [f"clip-{i:02d}" for i in range(1, len(clips) + 1)]
    capped = plan_clips(t, [point(1, 4), point(6, 9)], options=PlanOptions(min_seconds=5, max_clips=1))
    assert len(capped) == 1


def test_short_point_grows_within_its_segment_and_long_one_is_split() -> None:
    t = transcript_from_lines(LINES)
    segs = [ProductSegment("p-jacket", 0, 4), ProductSegment("p-other", 5, 9)]
    min_len = t.sentences[4].end - t.sentences[2].start + 1.0
    clips = plan_clips(t, [point(3, 3)], segs, options=PlanOptions(min_seconds=min_len, max_seconds=60))
    assert len(clips) == 1 and clips[0].sentences[0] >= 1 and clips[0].sentences[-1] <= 4
    assert clips[0].duration >= min_len
    # cannot grow across the segment boundary (sentence 5) nor into the greeting: dropped, not stretched
    too_long_min = t.sentences[4].end - t.sentences[1].start + 5
    strict = PlanOptions(
        min_seconds=too_long_min, max_seconds=90, short_floor_seconds=too_long_min, short_clip_seconds=0
    )
    assert plan_clips(t, [point(3, 3)], segs, options=strict) == ()
    # By default the product still gets one shorter clip (its talk is what the material allows), inside its segment.
    short = plan_clips(t, [point(3, 3)], segs, options=PlanOptions(min_seconds=too_long_min, max_seconds=90))
    assert len(short) == 1 and short[0].sentences[0] >= 1 and short[0].sentences[-1] <= 4
    assert short[0].duration >= PlanOptions().short_floor_seconds
    split = plan_clips(t, [point(6, 9)], options=PlanOptions(min_seconds=3, max_seconds=9))
    assert len(split) >= 2
    assert all(3 <= c.duration <= 9 for c in split)


def test_scene_cut_in_the_pause_becomes_the_cut_point() -> None:
    t = transcript_from_lines(LINES)
    pause_mid = (t.sentences[0].end + t.sentences[1].start) / 2
    cut = (pause_mid + t.sentences[1].start) / 2
    clips = plan_clips(t, [point(1, 4)], scenes=SceneCuts((cut,), 4.0), options=PlanOptions(min_seconds=5))
    assert clips[0].source_start == pytest.approx(cut, abs=1e-3)


def test_price_hook_is_replaced_by_the_point() -> None:
    t = transcript_from_lines(LINES)
    clips = plan_clips(t, [point(1, 4, hook="Only $79 tonight!")], options=PlanOptions(min_seconds=5))
    assert clips[0].hook == "waterproof"


def test_invalid_options_rejected() -> None:
    with pytest.raises(ValueError, match="min_seconds"):
        PlanOptions(min_seconds=60, max_seconds=15)


def test_a_continuation_sentence_stays_with_its_first_half() -> None:
    lines = [*LINES[:4], "The whole thing folds flat.", "So it slides into a drawer when you need the space."]
    t = transcript_from_lines(lines, pause=0.3)
    clips = plan_clips(t, [point(1, 4)], options=PlanOptions(min_seconds=5))
    assert clips[0].sentences[-1] == 5
    # ...but not across a real pause
    t = transcript_from_lines(lines, pause=0.8)
    assert plan_clips(t, [point(1, 4)], options=PlanOptions(min_seconds=5))[0].sentences[-1] == 4


def _pieces(spec: list[tuple[str, float]], language: str = "en") -> Transcript:
    """Sentences exactly as given (as ASR split them): ``(text, pause before it)``, 0.07 s a character."""
    sentences: list[Sentence] = []
    words: list[Word] = []
    t = 0.5
    for i, (text, pause) in enumerate(spec):
        t += pause
        span = max(len(text) * 0.07, 0.5)
        piece = words_from_text(text, t, t + span)
        sentences.append(Sentence(i, t, t + span, text, piece))
        words.extend(piece)
        t += span
    return Transcript(language, t + 1.0, tuple(words), tuple(sentences), origin="srt")


def test_asr_pieces_of_one_spoken_sentence_are_recognised() -> None:
    t = _pieces(
        [
            ("The serum is vitamin C at fifteen percent, so it brightens.", 0.0),
            ("and it layers under makeup without pilling.", 0.4),  # lower case: Whisper continues a sentence
            ("A little in wet hands, and look, it barely foams.", 0.7),
            ("No bubble bath.", 0.2),  # a scrap right after: the same sentence's tail
            ("Each jar is two and a half ounces,", 0.6),  # comma: run-on split for length
            ("and it's nine ninety-nine today.", 0.5),
            ("Next up, the cleanser.", 1.5),  # after a long pause nothing continues
        ]
    )
    assert [continues_previous(t.sentences, i) for i in range(len(t.sentences))] == [
        False,
        True,
        False,
        True,
        False,
        True,
        False,
    ]
    assert spoken_sentences(t.sentences) == [(0, 1), (2, 3), (4, 5), (6, 6)]
    # Whisper's Chinese commas end sentences as often as not: in Chinese a comma alone links nothing.
    zh = _pieces([("这款面霜特别好推开，", 0.0), ("质地像乳液一样。", 0.6)], "zh")
    assert not continues_previous(zh.sentences, 1)


def test_a_clip_never_ends_half_way_through_a_spoken_sentence_it_may_not_hold() -> None:
    t = _pieces(
        [
            ("The jars are glass with bamboo lids, so they look great on a shelf.", 0.0),
            ("Every blend is mixed by hand in small batches in our kitchen.", 0.6),
            ("The chili lime one is my favourite on grilled corn and fish.", 0.6),
            ("Each jar is two and a half ounces,", 0.6),
            ("and the set is only $24.99 tonight, link four.", 0.4),  # a price call finishes that sentence
        ]
    )
    clips = plan_clips(t, [point(0, 4)], options=PlanOptions(min_seconds=5))
    assert clips and clips[0].sentences == (0, 1, 2)  # the price call's first half stays out with it
    assert clips[0].source_end <= t.sentences[3].start
    # ...and never starts in the second half of a sentence whose first half is banned
    t = _pieces(
        [
            ("Only nineteen dollars tonight, and", 0.0),
            ("the lid locks so it never leaks in a bag.", 0.3),
            ("The steel keeps drinks cold for a whole day at the beach.", 0.6),
            ("It fits every cup holder I have tried, even in small cars.", 0.6),
        ]
    )
    clips = plan_clips(t, [point(1, 3)], options=PlanOptions(min_seconds=5))
    assert clips and clips[0].sentences == (2, 3)


def _asr_words(texts: list[str], gap: float = 0.05) -> list[Word]:
    """Words as faster-whisper writes them (leading space on Latin words), 0.3 s each, ``gap`` apart."""
    words, t = [], 0.5
    for text in texts:
        for token in text.split(" ") if " " in text else [text]:
            words.append(Word(t, t + 0.3, token if not token.isascii() else f" {token}"))
            t += 0.3 + gap
    return words


def test_a_capitalised_opener_after_a_bare_word_is_a_dropped_full_stop() -> None:
    words = _asr_words(["and there's a recipe card in the box The set's $34 in a gift box."])
    sentences = split_sentences(words, "en")
    assert [s.text for s in sentences] == ["and there's a recipe card in the box", "The set's $34 in a gift box."]
    assert not continues_previous(sentences, 1)
    # A gerund taking an object opens a clause too; a name, even one ending in -ing, does not.
    words = _asr_words(["I made a jar last night Pouring it over ice right now."])
    assert [s.text for s in split_sentences(words, "en")] == [
        "I made a jar last night",
        "Pouring it over ice right now.",
    ]
    for one in ("I told Lisa about the recipe card in the box.", "They're seventy-nine and code Denning 20 works."):
        assert len(split_sentences(_asr_words([one]), "en")) == 1


def test_a_price_call_opening_with_so_is_its_own_sentence() -> None:
    t = _pieces(
        [
            ("Cold brew brings out the chocolate side, rich and super low acid.", 0.0),
            ("So here's the deal, buy two bags and the third is free.", 0.4),
        ]
    )
    assert not continues_previous(t.sentences, 1)
    clips = plan_clips(t, [point(0, 1)], options=PlanOptions(min_seconds=3))
    assert clips and clips[0].sentences == (0,)


def test_a_chinese_sentence_is_cut_where_a_price_call_follows_selling_talk() -> None:
    text = "领口袖口都是螺纹收口，洗多少次都不会松垮，一号链接又补了一百件，两件一百二十九。"
    words = list(words_from_text(text, 0.0, 9.0))
    sentences = split_sentences(words, "zh")
    assert [s.text for s in sentences] == [
        "领口袖口都是螺纹收口，洗多少次都不会松垮，",
        "一号链接又补了一百件，两件一百二十九。",
    ]
    # A short clause right before the call opens it, and a short head is no selling talk of its own.
    for kept in (
        "精华面膜和面霜一起买的，一盒十片，原价九十九，今天拍一发二。",
        "一盒十片，原价九十九，今天拍一发二。",
    ):
        pieces = split_sentences(list(words_from_text(kept, 0.0, 9.0)), "zh")
        assert "原价" not in pieces[0].text or len(pieces) == 1, [p.text for p in pieces]
        assert all("一盒十片" not in p.text or "原价" in p.text for p in pieces), [p.text for p in pieces]


def test_a_chinese_sentence_that_opens_with_a_call_is_cut_where_selling_talk_follows() -> None:
    # ASR ran the end of a take-down call into the next product's talk.
    text = "拍完旧下架，顺手带一个硅藻泥地垫，洗完澡踩上去，脚上的水几秒就没了。"
    sentences = split_sentences(list(words_from_text(text, 0.0, 9.0)), "zh")
    assert [s.text for s in sentences] == ["拍完旧下架，", "顺手带一个硅藻泥地垫，洗完澡踩上去，脚上的水几秒就没了。"]


def test_a_clause_before_a_price_call_stays_with_the_talk_unless_it_counts_what_the_price_buys() -> None:
    text = "阳台的木地板能不能用，能用，拧干一点就行，拖把原价一百二十九，今天七十九。"
    sentences = split_sentences(list(words_from_text(text, 0.0, 9.0)), "zh")
    assert sentences[0].text == "阳台的木地板能不能用，能用，拧干一点就行，", [s.text for s in sentences]
    # Before a viewer's question, a short clause ends the host's own sentence.
    text = "我这件已经穿了一个夏天，你看，没起球没松，健身的老张问跑步能不能穿？"
    sentences = split_sentences(list(words_from_text(text, 0.0, 9.0)), "zh")
    assert sentences[0].text == "我这件已经穿了一个夏天，你看，没起球没松，", [s.text for s in sentences]


def test_a_short_answer_finishes_the_question_before_it() -> None:
    question = Sentence(0, 0.0, 3.0, "三号链接，小灰问刷子能洗吗？", ())
    answer = Sentence(1, 3.6, 7.0, "能，洗完平放晾干就行。", ())
    statement = Sentence(1, 3.6, 7.0, "能洗的刷子才好用。", ())
    assert continues_previous([question, answer], 1)
    assert not continues_previous([question, statement], 1)


def test_a_misheard_price_beside_a_price_call_stays_out_of_a_clip_whatever_the_kinds() -> None:
    # ASR heard 九十九一盒 as 九十九衣盒; a detector that calls it selling must not get it into a clip.
    t = transcript_from_lines(
        ["每袋二十五克，充氮包装，打开还是脆的。", "吃着不腻口，平时九十九衣盒。", "今天七十九，一号链接。"], "zh"
    )
    assert excluded_sentences(t, ("selling", "selling", "price")) == {1, 2}
    # Away from a price call the same sentence may be clipped.
    t = transcript_from_lines(["每袋二十五克，充氮包装，打开还是脆的。", "吃着不腻口，平时九十九衣盒。"], "zh")
    assert excluded_sentences(t, ("selling", "selling")) == set()


def test_a_viewers_question_read_out_alone_is_answered_by_the_next_sentence() -> None:
    # ASR closed the question with a full stop where the host only paused; no clip may start at the answer.
    asked = Sentence(0, 0.0, 1.4, "Someone asked about shipping.", ())
    answer = Sentence(1, 1.7, 4.3, "Everything goes out in two days from our Ohio warehouse.", ())
    told = Sentence(0, 0.0, 1.4, "The straps are racerback.", ())
    assert continues_previous([asked, answer], 1)
    assert not continues_previous([told, answer], 1)
    # Chinese: the question closes the previous piece on a comma, the answer opens the next.
    tail = Sentence(0, 0.0, 3.0, "投影很清楚，“小陈”问能不能投到天花板，", ())
    reply = Sentence(1, 3.4, 7.0, "底座能往上转九十度，躺床上看剧。", ())
    assert continues_previous([tail, reply], 1)
    # A long clause with the cue word is the host's own talk, not a question read out.
    talk = Sentence(0, 0.0, 4.0, "A lot of you asked me for jeans that aren't skinny jeans and these are them.", ())
    assert not continues_previous([talk, answer], 1)


BOXED = [
    "Next up, the leggings.",  # 0 transition
    "These leggings are seventy-eight percent nylon, thick and squat-proof for every workout.",  # 1
    "They have two side pockets that hold a big phone without any bounce when you jog.",  # 2
    "The waistband is five inches wide and never rolls down when you bend over.",  # 3
    "Amy asks if they run small, yes, size up one.",  # 4 reply
    "The inseam is 25 inches, and at five four it hits right at the ankle.",  # 5 one short selling sentence
    "It's 39, link two.",  # 6 price
    "Thanks for the follow, Dana!",  # 7 chatter
    "Okay so my cat is asleep on the sofa behind me again today.",  # 8 chatter a detector took for selling
    "It's 39, link two.",  # 9 price
]


def test_a_short_run_of_selling_talk_boxed_in_by_replies_and_prices_becomes_a_short_clip() -> None:
    t = transcript_from_lines(BOXED, pause=0.5)
    segment = ProductSegment(0, len(BOXED) - 1, "p-leggings", "Leggings")
    points = [
        SellingPoint(1, 3, "nylon", "Squat-proof nylon", "Leggings", 0.8, "cues", "p-leggings"),
        SellingPoint(5, 5, "inseam", "A 25-inch inseam", "Leggings", 0.5, "cues", "p-leggings"),
        SellingPoint(8, 8, "cat", "My cat", "Leggings", 0.5, "cues", "p-leggings"),
    ]
    assert 4.0 <= t.sentences[5].duration + 0.5 < 10.0 and t.sentences[8].duration + 0.5 >= 4.0
    clips = plan_clips(t, points, [segment], options=PlanOptions(min_seconds=10, short_clip_seconds=4.0))
    assert [c.sentences for c in clips] == [(1, 2, 3), (5,)]
    assert clips[1].duration < 10.0
    # Off, the short run is dropped as before (the product already has its full-length clip).
    off = plan_clips(t, points, [segment], options=PlanOptions(min_seconds=10, short_clip_seconds=0))
    assert [c.sentences for c in off] == [(1, 2, 3)]
    # A short clip never crowds out a full-length one.
    one = plan_clips(t, points, [segment], options=PlanOptions(min_seconds=10, short_clip_seconds=4.0, max_clips=1))
    assert [c.sentences for c in one] == [(1, 2, 3)]


def test_a_short_chinese_run_must_be_whole_sentences_without_a_question() -> None:
    lines = [
        "纯棉面料，洗了不变形，贴身穿特别舒服，一点都不扎。",  # 0
        "领口是螺纹收口，洗多少次都不会松垮，版型很正。",  # 1
        "今天六十九，一号链接。",  # 2 price
        "不吃辣能不能不放辣，辣油单独一包。",  # 3 a viewer's question and its answer
        "今天六十九，一号链接。",  # 4 price
        "面料加厚三百克，冬天穿也暖和。",  # 5 short, whole
        "今天六十九，一号链接。",  # 6 price
        "我妈刚发微信，说今天降温十度。",  # 7 the host's own story, with a number and its unit
        "今天六十九，一号链接。",  # 8 price
    ]
    t = transcript_from_lines(lines, "zh", seconds_per_char=0.25)
    segment = ProductSegment(0, len(lines) - 1, "p-tee", "T恤")
    points = [SellingPoint(i, i, "x", "纯棉", "T恤", 0.6, "cues", "p-tee") for i in (0, 1, 3, 5, 7)]
    kinds = ["selling", "selling", "price", "selling", "price", "selling", "price", "selling", "price"]
    clips = plan_clips(t, points, [segment], options=PlanOptions(min_seconds=10, short_clip_seconds=4.0), kinds=kinds)
    assert [c.sentences for c in clips] == [(0, 1), (5,)], [c.sentences for c in clips]


def test_a_sentence_without_evidence_is_left_out_of_a_short_clip_not_the_one_beside_it() -> None:
    lines = [*BOXED[:5], "Kendra again, no, it won't pill at all, honestly.", *BOXED[5:7]]
    t = transcript_from_lines(lines, pause=0.5)
    segment = ProductSegment(0, len(lines) - 1, "p-leggings", "Leggings")
    points = [
        SellingPoint(1, 3, "nylon", "Squat-proof nylon", "Leggings", 0.8, "cues", "p-leggings"),
        SellingPoint(5, 6, "inseam", "A 25-inch inseam", "Leggings", 0.5, "cues", "p-leggings"),
    ]
    clips = plan_clips(t, points, [segment], options=PlanOptions(min_seconds=10, short_clip_seconds=4.0))
    assert [c.sentences for c in clips] == [(1, 2, 3), (6,)], [c.sentences for c in clips]
