"""Sentence kinds from the structure of a selling stream (clipper.structure): lead-ins and explanations."""

from __future__ import annotations

from clipper.segments import find_product_segments
from clipper.sentences import split_sentences, words_from_text
from clipper.structure import classify_sentences
from clipper.types import Product, Sentence, Transcript
from tests.helpers import transcript_from_lines


def _as_given(lines: list[str]) -> Transcript:
    """One sentence per line exactly as given (as ASR split them), 0.07 s a character, 0.6 s apart."""
    sentences: list[Sentence] = []
    t = 0.5
    for i, line in enumerate(lines):
        span = len(line) * 0.07
        sentences.append(Sentence(i, t, t + span, line, words_from_text(line, t, t + span)))
        t += span + 0.6
    return Transcript("en", t, tuple(w for s in sentences for w in s.words), tuple(sentences), origin="srt")


COFFEE = Product("p-coffee", "Ridgeline Whole Bean Coffee", ("the coffee",), attributes=("medium roast", "12 oz bag"))
BOOKS = Product("p-books", "恐龙绘本", (), attributes=("一套十本", "硬壳精装"))


def test_the_explanation_runs_up_to_the_price_call() -> None:
    lines = [
        "Next up, the coffee.",
        "It's a medium roast coffee from one farm, roasted to order.",
        "I made a pour over before we went live.",  # no shared words, no evidence of chatter either
        "Let me sip, and mm, zero bitterness.",
        "It's 18.99 a bag, link one.",
        "My producer is waving at me, sorry.",
    ]
    t = transcript_from_lines(lines)
    kinds = classify_sentences(t, find_product_segments(t.sentences, [COFFEE], "en"), [COFFEE]).kinds
    assert kinds[2:5] == ("selling", "selling", "price"), kinds
    # Evidence of chatter is never bridged: the host's story stays chatter before a price call too.
    lines[3] = "My sister called me last night about her dog."
    t = transcript_from_lines(lines)
    kinds = classify_sentences(t, find_product_segments(t.sentences, [COFFEE], "en"), [COFFEE]).kinds
    assert kinds[3] == "chatter", kinds


def test_a_first_sentence_that_already_describes_the_product_is_no_lead_in() -> None:
    lines = ["这套恐龙绘本，一套石本，硬壳金装。", "每一页都是手绘的，牙齿一颗一颗都画出来了。"]  # ASR: 十本, 精装
    t = transcript_from_lines(lines, "zh")
    kinds = classify_sentences(t, find_product_segments(t.sentences, [BOOKS], "zh"), [BOOKS]).kinds
    assert kinds[0] == "selling", kinds
    t = transcript_from_lines(["接下来这套恐龙绘本。", "每一页都是手绘的，牙齿一颗一颗都画出来了。"], "zh")
    kinds = classify_sentences(t, find_product_segments(t.sentences, [BOOKS], "zh"), [BOOKS]).kinds
    assert kinds[0] == "transition", kinds


def test_a_sentence_that_builds_up_to_the_product_name_introduces_it() -> None:
    cream = Product("p-cream", "Barrier Cloud Cream", ("the cream",), attributes=("ceramides",))
    serum = Product("p-serum", "Glow Serum", (), attributes=("vitamin C",))
    lines = [
        "The Glow Serum is fifteen percent vitamin C.",
        "It brightens and layers under makeup.",
        "Okay, vitamin C needs a good partner on top, and that is the Barrier Cloud Cream.",
        "It has three ceramides and it never feels greasy.",
    ]
    t = transcript_from_lines(lines)
    kinds = classify_sentences(t, find_product_segments(t.sentences, [serum, cream], "en"), [serum, cream]).kinds
    assert kinds[2:] == ("transition", "selling"), kinds
    # After a comma the host goes on about it in the same breath: that sentence is not only a lead-in.
    lines[2] = "Okay, vitamin C needs a good partner on top, and that is the Barrier Cloud Cream,"
    t = _as_given(lines)
    kinds = classify_sentences(t, find_product_segments(t.sentences, [serum, cream], "en"), [serum, cream]).kinds
    assert kinds[2] == "selling", kinds


def test_the_hosts_story_is_chatter_though_it_shares_an_attribute_word() -> None:
    crisps = Product("p-crisps", "Crunch Theory Chickpea Crisps", ("the crisps",), attributes=("six 5 oz bags",))
    lines = [
        "These are Crunch Theory crisps, chickpeas and olive oil.",
        "Seven grams of protein a serving, and they're gluten-free.",
        "My producer Dana is waving at me because I've eaten half the bag.",
        "The smoky chipotle one has real heat that builds on you.",
    ]
    t = transcript_from_lines(lines)
    kinds = classify_sentences(t, find_product_segments(t.sentences, [crisps], "en"), [crisps]).kinds
    assert kinds[2] == "chatter", kinds
    # ...while the product's own name keeps a story about using it selling talk.
    lines[2] = "My sister takes the Crunch Theory crisps to work every day."
    t = transcript_from_lines(lines)
    kinds = classify_sentences(t, find_product_segments(t.sentences, [crisps], "en"), [crisps]).kinds
    assert kinds[2] == "selling", kinds


def test_a_question_the_next_sentence_answers_is_the_viewers() -> None:
    spray = Product("p-spray", "防晒喷雾", ("喷雾",), attributes=("SPF50",))
    text = "现在我拿喷雾直接往上喷，不油不闷，洗面奶就能洗掉，奔跑的西瓜温会不会搓泥？"  # ASR: 问 -> 温
    words = words_from_text(text, 0.5, 9.5)
    sentences = split_sentences(list(words), "zh")
    assert [s.text for s in sentences][-1] == "奔跑的西瓜温会不会搓泥？"
    reply = "有宝宝问男生能不能用，当然能。"
    more = words_from_text(reply, 10.0, 13.0)
    sentences = split_sentences([*words, *more], "zh")
    t = Transcript("zh", 14.0, (*words, *more), sentences, origin="asr")
    kinds = classify_sentences(t, find_product_segments(t.sentences, [spray], "zh"), [spray]).kinds
    assert kinds == ("selling", "reply", "reply"), kinds


def test_a_college_story_is_the_hosts_own() -> None:
    shirt = Product("p-shirt", "真丝衬衫", ("衬衫",), attributes=("桑蚕丝", "小落肩"))
    lines = [
        "这件真丝衬衫是百分之百桑蚕丝的。",
        "小落肩，微微宽松，上班周末都能穿。",
        "我大学攒了三个月生活费，结果第一次就洗坏了。",
        "所以一定要冷水手洗，别泡太久。",
    ]
    t = transcript_from_lines(lines, "zh")
    kinds = classify_sentences(t, find_product_segments(t.sentences, [shirt], "zh"), [shirt]).kinds
    assert kinds[2] == "chatter", kinds


NUTS = Product("p-nuts", "每日坚果", (), attributes=("一盒三十袋", "六种坚果"))


def test_a_sum_whose_pack_asr_misheard_is_a_price_beside_a_price_call() -> None:
    # ASR heard 九十九一盒 as 九十九衣盒: the sum has no measure word after it, and the next sentence is a price call.
    lines = [
        "这盒每日坚果，一盒三十袋，每袋六种坚果。",
        "吃着不腻口，平时九十九衣盒，",
        "今天七十九，一天合两块六。",
    ]
    t = transcript_from_lines(lines, "zh")
    kinds = classify_sentences(t, find_product_segments(t.sentences, [NUTS], "zh"), [NUTS]).kinds
    assert kinds[1:] == ("price", "price"), kinds
    # Away from a price call the bare sum is no price; a sum that counts something (三十袋) never is.
    lines = ["这盒每日坚果，一盒三十袋，每袋六种坚果。", "吃着不腻口，平时九十九衣盒。", "腰果和核桃都是大颗的。"]
    t = transcript_from_lines(lines, "zh")
    kinds = classify_sentences(t, find_product_segments(t.sentences, [NUTS], "zh"), [NUTS]).kinds
    assert "price" not in kinds, kinds


def test_an_a_not_a_question_with_its_answer_is_a_reply_a_rhetorical_one_is_not() -> None:
    hotpot = Product("p-base", "火锅底料", ("底料",), attributes=("牛油", "一袋四块"))
    lines = [
        "接下来是火锅底料，牛油炒的，一袋四块，一块煮一锅。",
        "不吃辣的能不能不放辣，辣油单独一包，不放就行。",  # ASR lost the viewer's name and 问
        "你闻闻是不是特别香，牛油是现炒的。",  # the host asks her audience
        "汤底煮开了，动不动就冒泡，特别香。",  # 动不动: an adverb, no question
        "煮出来的汤底颜色红亮，牛油味很足。",
    ]
    t = transcript_from_lines(lines, "zh")
    kinds = classify_sentences(t, find_product_segments(t.sentences, [hotpot], "zh"), [hotpot]).kinds
    assert kinds[1] == "reply", kinds
    assert kinds[2] == kinds[3] == kinds[4] == "selling", kinds
