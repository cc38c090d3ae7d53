"""Product segments from names, aliases and transitions; topic segments by lexical cohesion without products."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pytest

from clipper.segments import find_product_segments, find_topic_segments, product_keys, product_mentions
from clipper.sentences import words_from_text
from clipper.types import Product, ProductSegment, Sentence
from mcn.samples.scripts import DEV_EN, DEV_ZH, StreamScript, synthetic_lines, synthetic_transcript

JACKET = Product("p-jacket", "rain jacket", ("shell",))
BOTTLE = Product("p-bottle", "steel bottle", ("flask",))
DOWN = Product("p-down", "轻薄羽绒服", ("外套",))
CUP = Product("p-cup", "保温杯", ())


def _sentences(texts: Sequence[str]) -> tuple[Sentence, ...]:
    out = []
    t = 0.0
    for i, text in enumerate(texts):
        words = words_from_text(text, t, t + 3.0)
        out.append(Sentence(i, t, t + 3.0, text, words))
        t += 3.5
    return tuple(out)


def _assert_cover(segments: Sequence[ProductSegment], n: int) -> None:
    assert segments[0].first_sentence == 0
    assert segments[-1].last_sentence == n - 1
    for a, b in itertools.pairwise(segments):
        assert b.first_sentence == a.last_sentence + 1
    assert all(s.first_sentence <= s.last_sentence for s in segments)


def _owner(segments: Sequence[ProductSegment], i: int) -> str | None:
    return next(s.product_id for s in segments if s.contains(i))


@pytest.mark.parametrize("script", [DEV_EN, DEV_ZH], ids=["dev-en", "dev-zh"])
def test_dev_scripts_segment_exactly(script: StreamScript) -> None:
    transcript = synthetic_transcript(script)
    products = [seg.product for seg in script.segments]
    segments = find_product_segments(transcript.sentences, products, script.language)
    _assert_cover(segments, len(transcript.sentences))
    truth = [line.product_id for line in synthetic_lines(script)]
    assert [_owner(segments, i) for i in range(len(truth))] == truth
    names = {p.id: p.name for p in products}
    assert all(s.label == names[s.product_id] for s in segments if s.product_id)


def test_keys_include_distinctive_tails_and_are_case_and_plural_tolerant() -> None:
    keys = product_keys([JACKET, BOTTLE, DOWN, CUP])
    assert product_mentions("Look at these RAIN JACKETS", keys) == {"p-jacket": 1.0}
    assert product_mentions("the jacket and the flask", keys) == {"p-jacket": 0.6, "p-bottle": 1.0}
    assert product_mentions("这件羽绒服很轻", keys) == {"p-down": 0.6}
    assert product_mentions("这件轻薄羽绒服很轻", keys) == {"p-down": 1.0}  # longest match counts once
    assert product_mentions("保 温 杯", keys) == {"p-cup": 1.0}
    # Hosts shorten names: the part before a comma, without "the", singular for a plural alias.
    plug = Product("p-plug", "HomeLink Mini Smart Plug, 4-pack", aliases=("the HomeLink plugs", "the smart plugs"))
    plug_keys = product_keys([plug, JACKET])
    assert product_mentions("honestly maybe my favorite, the HomeLink Smart Plug.", plug_keys) == {"p-plug": 1.0}
    assert product_mentions("so I plugged a HomeLink mini smart plug in", plug_keys) == {"p-plug": 0.6}
    assert product_mentions("two HomeLink plugs on one outlet", plug_keys) == {"p-plug": 1.0}
    # A tail shared by two products identifies neither.
    shared = product_keys([Product("a", "蓝牙耳机"), Product("b", "头戴耳机")])
    assert product_mentions("这个耳机", shared) == {}


def test_passing_mention_does_not_switch_but_transition_does() -> None:
    texts = [
        "Hello everyone, welcome!",
        "First up is our rain jacket.",
        "This jacket is fully waterproof.",
        "It is lighter than our steel bottle, believe it or not.",
        "The seams are taped.",
        "Now let's look at the steel bottle.",
        "It keeps drinks cold for a day.",
        "Thanks for watching, bye!",
    ]
    segments = find_product_segments(_sentences(texts), [JACKET, BOTTLE], "en")
    assert [(s.product_id, s.first_sentence, s.last_sentence) for s in segments] == [
        (None, 0, 0),
        ("p-jacket", 1, 4),
        ("p-bottle", 5, 6),
        (None, 7, 7),
    ]


def test_repeated_mentions_switch_without_transition_phrase() -> None:
    texts = [
        "The rain jacket is waterproof.",
        "The jacket folds small.",
        "The steel bottle keeps water cold.",
        "This bottle is leak proof.",
        "The bottle fits cup holders.",
    ]
    segments = find_product_segments(_sentences(texts), [JACKET, BOTTLE], "en")
    assert [(s.product_id, s.first_sentence) for s in segments] == [("p-jacket", 0), ("p-bottle", 2)]


def test_segment_starts_on_the_transition_sentence_before_the_name() -> None:
    texts = [
        "首先来看这款轻薄羽绒服。",
        "面料是防风的。",
        "好，接下来看下一款。",
        "这个保温杯是不锈钢的。",
        "十二个小时还是烫的。",
    ]
    segments = find_product_segments(_sentences(texts), [DOWN, CUP], "zh")
    assert [(s.product_id, s.first_sentence, s.last_sentence) for s in segments] == [
        ("p-down", 0, 1),
        ("p-cup", 2, 4),
    ]


def test_no_products_or_no_mentions_fall_back_to_topics() -> None:
    sentences = _sentences(["The jacket is waterproof.", "The jacket is light."])
    assert find_product_segments(sentences, [], "en") == find_topic_segments(sentences, "en")
    assert find_product_segments(sentences, [CUP], "en") == find_topic_segments(sentences, "en")
    assert find_product_segments((), [JACKET], "en") == ()
    assert find_topic_segments((), "en") == ()


def test_topic_segments_find_a_change_of_subject() -> None:
    jacket = [
        "The jacket fabric is waterproof and the jacket seams are taped.",
        "Rain runs off the jacket fabric and the hood keeps rain away.",
        "The jacket hood has a waterproof zipper for rain.",
        "In heavy rain the jacket fabric stays dry and the seams hold.",
        "The taped seams and waterproof zipper make the jacket rain proof.",
    ]
    bottle = [
        "The bottle keeps coffee hot and the steel bottle lid seals tight.",
        "Steel walls keep the coffee hot for hours in the bottle.",
        "The bottle lid is steel and the coffee never leaks.",
        "Fill the steel bottle with coffee in the morning and it stays hot.",
        "The bottle fits a cup holder and the steel lid twists shut.",
    ]
    segments = find_topic_segments(_sentences(jacket + bottle), "en")
    _assert_cover(segments, 10)
    assert [s.first_sentence for s in segments] == [0, 5]
    assert all(s.product_id is None for s in segments)
    assert "jacket" in segments[0].label
    assert "bottle" in segments[1].label


def test_topic_segments_use_transitions_and_label_chinese_keywords() -> None:
    transcript = synthetic_transcript(DEV_ZH)
    segments = find_topic_segments(transcript.sentences, "zh")
    _assert_cover(segments, len(transcript.sentences))
    starts = {s.first_sentence for s in segments}
    # Every host transition into a product opens a topic.
    for line in synthetic_lines(DEV_ZH):
        if line.kind == "transition" and line.product_id is not None:
            assert line.index in starts, line
    down = next(s for s in segments if s.contains(5))
    assert "羽绒服" in down.label


@pytest.mark.parametrize("bank", [DEV_EN, DEV_ZH], ids=["en", "zh"])
def test_products_listed_twice_under_one_name_follow_list_order(bank: StreamScript) -> None:
    """A long stream that brings the same item on air again (the benchmark's build_script) keeps the ids apart."""
    from mcn.samples import build_script

    script = build_script(bank, len(bank.segments) * 2 + 1)
    transcript = synthetic_transcript(script)
    products = [seg.product for seg in script.segments]
    assert len({p.name for p in products}) < len(products)
    segments = find_product_segments(transcript.sentences, products, script.language)
    # A comment reply closing the last product may count as outro chatter; what is said about products may not.
    lines = [line for line in synthetic_lines(script) if line.kind in ("selling", "transition", "price")]
    assert [_owner(segments, line.index) for line in lines] == [line.product_id for line in lines]


def test_a_product_the_host_keeps_naming_takes_the_air_from_a_passing_mention_ahead() -> None:
    mango = Product("p-mango", "Chili Lime Dried Mango", aliases=("the mango",))
    crisps = Product("p-crisps", "Roasted Chickpea Crisps", aliases=("the crisps",))
    texts = [
        "These chickpea crisps are gluten free.",
        "The crisps have seven grams of protein.",
        "Real quick, this chili lime mango has no added sugar.",
        "It's chewy, then the chili hits, a mango in a bag.",
        "Nine ninety-nine, it's in the snack link with the crisps.",
    ]
    segments = find_product_segments(_sentences(texts), [crisps, mango], "en")
    assert ("p-mango", 2) in [(s.product_id, s.first_sentence) for s in segments]
