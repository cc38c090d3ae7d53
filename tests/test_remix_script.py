"""Remix scripts (offline templates in English and Chinese, the openai writer over HTTP) and the product file."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from clipper.errors import InputFileError
from remix.products import RemixProduct, load_remix_products
from remix.script import MAX_LINES, MIN_LINES, short_name, write_script

MUG = RemixProduct(
    id="p1",
    title="Insulated Stainless Steel Travel Mug 500ml",
    images=("mug.png",),
    category="Home > Kitchen",
    attributes=(
        "keeps drinks hot for 12 hours",
        "leak-proof lid",
        "material: 304 stainless steel",
        "fits most car cup holders",
    ),
    price=89.0,
    coupon_price=59.9,
    sales=12_345,
    comment_score=4.8,
    comment_num=2310,
)
CUP_ZH = RemixProduct(
    id="p2",
    title="【爆款】保温杯 316不锈钢 大容量 男女士便携水杯",
    images=("cup.png",),
    category="家居日用",
    attributes=("12小时长效保温", "316不锈钢内胆", "容量: 500毫升"),
    sales=8_800,
)
FILLER = ("take a look", "check this out", "look at this", "看一看", "看一下")
STALE = ("tonight", "today", "only left", "hurry", "今晚", "今天", "限时", "秒杀")


def _check_lines(lines: tuple[str, ...], lang: str) -> None:
    assert MIN_LINES <= len(lines) <= MAX_LINES
    for line in lines:
        assert line[-1] in (".!?" if lang == "en" else "。！？"), line
        assert not any(f in line.lower() for f in FILLER), line
        assert not any(s in line.lower() for s in STALE), line


def test_english_template_turns_attributes_into_sentences() -> None:
    script = write_script(MUG)
    _check_lines(script.lines, "en")
    assert script.writer == "template" and script.language == "en"
    assert script.lines[0] == "This travel mug keeps drinks hot for 12 hours."
    assert "It has a leak-proof lid." in script.lines
    assert "It is made of 304 stainless steel." in script.lines
    # Sales rounded down stay true as they grow; no price in the voice (the card shows the current one).
    assert "More than 12,000 people have already bought it." in script.lines
    assert not any("59" in line or "89" in line for line in script.lines)
    assert script.hook == "Keeps drinks hot for 12 hours"


def test_variants_differ_in_phrasing_and_order() -> None:
    scripts = [write_script(MUG, variant=v) for v in range(3)]
    assert len({s.lines for s in scripts}) == 3
    assert len({s.lines[0] for s in scripts}) == 3
    for s in scripts:
        _check_lines(s.lines, "en")


def test_plural_products_get_plural_grammar() -> None:
    buds = RemixProduct(
        id="b", title="Wireless Earbuds with Charging Case", videos=("v.mp4",), attributes=("IPX5 waterproof",)
    )
    script = write_script(buds)
    assert script.lines[0] == "These wireless earbuds are IPX5 waterproof."
    assert short_name(buds) == "wireless earbuds"


def test_chinese_template() -> None:
    script = write_script(CUP_ZH)
    _check_lines(script.lines, "zh")
    assert script.language == "zh" and short_name(CUP_ZH) == "保温杯"
    assert script.lines[0] == "这款保温杯，主打12小时长效保温。"
    assert any("500毫升" in line for line in script.lines)
    assert "已经累计卖出8800多件。" in script.lines


def test_a_bare_product_still_gets_three_real_lines() -> None:
    board = RemixProduct(id="c", title="Bamboo Cutting Board", images=("b.png",), category="Kitchen")
    script = write_script(board)
    _check_lines(script.lines, "en")
    assert script.lines[0] == "This is the Bamboo Cutting Board."


# ------------------------------------------------------------------------------------------- openai writer
@pytest.fixture
def chat_server() -> Iterator[dict[str, Any]]:
    state: dict[str, Any] = {"answers": [], "requests": []}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state["requests"].append(body)
            content = state["answers"].pop(0) if state["answers"] else "{}"
            reply = json.dumps({"choices": [{"message": {"content": content}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["url"] = f"http://127.0.0.1:{server.server_port}/v1"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def test_openai_writer_uses_the_detector_client(chat_server: dict[str, Any]) -> None:
    lines = ["Hot coffee at 3 pm, from a mug you filled at 7.", "The lid locks shut.", "Tap the card for details."]
    chat_server["answers"] = [json.dumps({"hook": "Still hot at 3 pm", "lines": lines})]
    script = write_script(MUG, writer="openai", base_url=chat_server["url"], model="m", api_key="sk-x")
    assert script.writer == "openai" and script.lines == tuple(lines) and script.hook == "Still hot at 3 pm"
    request = chat_server["requests"][0]
    assert request["model"] == "m" and request["response_format"] == {"type": "json_object"}
    data = request["messages"][1]["content"]
    assert "keeps drinks hot for 12 hours" in data and "59.9" not in data


def test_openai_writer_rejects_stale_claims_then_falls_back(chat_server: dict[str, Any]) -> None:
    bad = json.dumps({"hook": "x", "lines": ["Only tonight at this price!", "Buy now.", "Tap the card."]})
    chat_server["answers"] = [bad, bad]
    script = write_script(MUG, writer="openai", base_url=chat_server["url"], model="m")
    assert len(chat_server["requests"]) == 2  # retried once, with the reason
    assert "time-limited claim" in chat_server["requests"][1]["messages"][-1]["content"]
    assert script.writer == "template" and "template script used" in script.note
    assert script.lines == write_script(MUG).lines


def test_openai_writer_unconfigured_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    from mcn.settings import get_settings

    monkeypatch.delenv("MCN_LLM_BASE_URL", raising=False)
    get_settings.cache_clear()
    script = write_script(MUG, writer="openai")
    get_settings.cache_clear()
    assert script.writer == "template" and "unavailable" in script.note


# ----------------------------------------------------------------------------------------------- the file
def test_product_file_converts_fen_resolves_media_and_reports_bad_rows(tmp_path: Path) -> None:
    rows = [
        {
            "product_id": "3587",
            "title": "Travel Mug",
            "price": 8900,
            "coupon_price": 5990,
            "imgs": ["img/a.png", {"url": "https://cdn.example/b.jpg"}],
            "videos": ["v.mp4"],
            "category": "Home",
            "attributes": "leak-proof lid|dishwasher safe",
        },
        {"product_id": "x", "title": "No material"},
        {"title": "No id", "imgs": ["a.png"]},
        {"product_id": "y", "title": "Bad price", "imgs": ["a.png"], "price": "cheap"},
        {"product_id": "3587", "title": "Duplicate", "imgs": ["a.png"]},
    ]
    path = tmp_path / "products.json"
    path.write_text(json.dumps({"products": rows}), encoding="utf-8")
    loaded = load_remix_products(path)
    assert [p.id for p in loaded.products] == ["3587"]
    mug = loaded.products[0]
    assert (mug.price, mug.coupon_price, mug.display_price) == (89.0, 59.9, 59.9)
    assert mug.images == (str(tmp_path / "img" / "a.png"), "https://cdn.example/b.jpg")
    assert mug.attributes == ("leak-proof lid", "dishwasher safe") and mug.lang == "en"
    assert [p.split(": ", 1)[1] for p in loaded.problems] == [
        "no imgs or videos: a remix needs product material",
        "product_id is missing",
        "price must be a number of fen, got 'cheap'",
        "duplicate product_id '3587'",
    ]
    assert loaded.problems[0].startswith(f"{path} products[1]")


def test_product_csv_and_unusable_files(tmp_path: Path) -> None:
    csv_path = tmp_path / "p.csv"
    csv_path.write_text("product_id,title,imgs,price\n1,保温杯,a.png|b.png,5990\n2,,a.png,1\n", encoding="utf-8")
    loaded = load_remix_products(csv_path)
    assert loaded.products[0].lang == "zh" and len(loaded.products[0].images) == 2
    assert loaded.problems == (f"{csv_path} line 3: title is missing",)
    for text, message in (("", "empty"), ("{oops", "not valid JSON"), ('[{"title": "x"}]', "no usable product")):
        bad = tmp_path / "bad.json"
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(InputFileError, match=message):
            load_remix_products(bad)


# ------------------------------------------------------------------------- listing titles with specs and brands
# Realistic listing titles: units glued on or spaced, counts, sizes, SPF, brands and names in their own case.
LISTINGS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Insulated steel bottle 500 ml", "", ("304 stainless steel inside", "keeps drinks hot for 12 hours")),
    ("Glass lunch box set of 3", "", ("borosilicate glass", "microwave and oven safe", "snap-lock lids")),
    ("Ceramic chef knife 6 inch", "", ("zirconia ceramic blade", "weighs only 90 grams")),
    ("Hydrating face cream 50 g", "", ("hyaluronic acid and ceramides", "fragrance free", "for dry and normal skin")),
    ("Mineral sunscreen SPF 50", "", ("zinc oxide filter", "no white cast", "water resistant for 80 minutes")),
    ("Green clay face mask 100 g", "", ("French green clay", "ten-minute treatment")),
    ("Power bank 10000 mAh", "", ("charges two phones at once", "20 watt fast charging")),
    ("USB-C charger 65 W", "", ("gallium nitride chips", "charges a laptop", "three ports")),
    ("Carbon trekking poles pair", "", ("carbon fibre shafts", "flick locks")),
    ("Instant oatmeal 30 packs", "", ("whole grain oats", "ready in three minutes", "five flavours")),
    ("Roasted mixed nuts 750 g", "", ("six kinds of nuts", "lightly salted")),
    ("Weighted blanket 5 kg", "", ("glass bead filling", "for single beds")),
    ("Wireless earbuds with charging case", "", ("active noise cancelling", "30 hours with the case")),
    ("Anker PowerCore 10000mAh Portable Charger, Ultra-Compact", "Anker", ("charges an iPhone twice",)),
    ("Apple AirPods Pro (2nd Generation) Wireless Earbuds", "Apple", ("up to 6 hours of listening", "waterproof")),
    ("Yeti Rambler 20 oz Tumbler with MagSlider Lid", "Yeti", ("double-wall vacuum insulation", "dishwasher safe")),
    ("CeraVe Moisturising Cream 340g", "CeraVe", ("with hyaluronic acid", "non-comedogenic")),
    ("Pampers Baby Dry Nappies Size 4, 2 x 90 Pack", "Pampers", ("soft and breathable", "3 absorbing channels")),
    ("Lavazza Ground Coffee 250g x 4", "Lavazza", ("100% arabica", "notes of fruit and flowers")),
    ("Dyson V8 Cordless Vacuum Cleaner", "Dyson", ("converts to a handheld", "HEPA filtration")),
    ("Bamboo Cutting Board Set of 3 with Juice Groove", "", ("made of organic bamboo", "storage box included")),
    ("Silk Pillowcase 22 Momme, Queen Size 20x30 inch", "", ("100% mulberry silk", "machine washable")),
    ("Vitamin D3 5000 IU Softgels, 360 Count", "", ("supports bone health", "gluten free")),
    ("Organic Green Tea 100 Tea Bags", "", ("grown in Japan", "rich in antioxidants")),
    ("2 Pack Magnetic Phone Mount for Car", "", ("strong N52 magnets", "one-hand operation")),
)
_UNIT_TOKENS = re.compile(
    r"(?<![\w-])(ml|g|kg|mg|cm|mm|inch|oz|W|mAh|IU|pcs|pack|packs|pair|count|momme|SPF)(?![\w-])", re.IGNORECASE
)
# Word salads the old builder produced: "It has weighs ...", "It has a for ...", "is made of made of ...".
_SMELLS = re.compile(
    r"\b(?:has|have) (?:a |an )?(?:for|with|is|are|weighs|ready|lightly|rich|grown|made|converts|inspires)\b"
    r"|\b(?:a|an) (?:for|with|in|lightly|quick|ready|weeks|non-\w+)\b|\bmade of made of\b|\b(\w+) \1\b"
    r"|\ban (?:one|USB)\b|\bis (?:up|for) to\b",
    re.IGNORECASE,
)


def _dangling_units(text: str) -> list[str]:
    """Unit tokens not preceded by a number ("bottle ml", "mask g")."""
    out = []
    for m in _UNIT_TOKENS.finditer(text):
        before = text[: m.start()].rstrip()
        if not re.search(r"\d\s*[x×]?\s*$", before) and not re.search(r"\d$", before):
            out.append(m.group(0))
    return out


@pytest.mark.parametrize(("title", "brand", "attributes"), LISTINGS, ids=[t for t, _, _ in LISTINGS])
def test_listing_titles_make_real_sentences(title: str, brand: str, attributes: tuple[str, ...]) -> None:
    product = RemixProduct(
        id="x", title=title, brand=brand, images=("a.png",), attributes=attributes, sales=900, category="Shop"
    )
    name = short_name(product)
    assert name and not re.search(r"\d", name) and not _UNIT_TOKENS.search(name), name
    assert name.split()[-1].lower() not in ("of", "with", "and", "for", "set"), name
    for variant in range(3):
        script = write_script(product, variant=variant)
        _check_lines(script.lines, "en")
        for line in (*script.lines, script.hook, script.title):
            assert line[0].isupper() or line[0].isdigit(), line
            assert not _dangling_units(line), (line, _dangling_units(line))
            assert not _SMELLS.search(line), (line, _SMELLS.search(line))
        assert name in script.lines[0] or name in script.title


def test_specs_and_brands_leave_the_name_the_voice_says() -> None:
    def name(title: str, brand: str = "") -> str:
        return short_name(RemixProduct(id="x", title=title, brand=brand, images=("a.png",)))

    assert name("Power bank 10000 mAh") == "power bank"
    assert name("Glass lunch box set of 3") == "glass lunch box"
    assert name("Mineral sunscreen SPF 50") == "mineral sunscreen"
    assert name("Carbon trekking poles pair") == "carbon trekking poles"
    assert name("Instant oatmeal 30 packs") == "instant oatmeal"
    assert name("USB-C charger 65 W") == "USB-C charger"
    assert name("Yeti Rambler 20 oz Tumbler with MagSlider Lid", "Yeti") == "Yeti rambler tumbler"
    assert name("Apple AirPods Pro (2nd Generation) Wireless Earbuds", "Apple") == "wireless earbuds"


def test_free_text_attributes_become_grammatical_sentences() -> None:
    def lines(*attributes: str, title: str = "Travel mug") -> tuple[str, ...]:
        product = RemixProduct(id="x", title=title, images=("a.png",), attributes=attributes)
        return write_script(product).lines

    assert "It weighs only 90 grams." in lines("leak-proof lid", "weighs only 90 grams")
    assert "It is for dry and normal skin." in lines("leak-proof lid", "for dry and normal skin")
    assert "It is made of borosilicate glass." in lines("leak-proof lid", "borosilicate glass")
    assert "It is microwave and oven safe." in lines("leak-proof lid", "microwave and oven safe")
    assert "It is water resistant for 80 minutes." in lines("leak-proof lid", "water resistant for 80 minutes")
    assert "It comes in five flavours." in lines("leak-proof lid", "five flavours")
    assert "It has USB-C charging." in lines("leak-proof lid", "USB-C charging")
    assert "They last 30 hours with the case." in lines("IPX5 waterproof", "30 hours with the case", title="Earbuds")
    assert lines("grown in Japan", "no additives", title="Tea bags")[0] == "These tea bags are grown in Japan."


def test_many_variants_open_differently_before_repeating() -> None:
    # Three facts: nine different openings (fact x phrasing) before the first repeats, so a product remixed
    # fifteen times for a day's plan does not carry the same title five times.
    product = RemixProduct(
        id="x", title="Insulated steel bottle 500 ml", images=("a.png",),
        attributes=("304 stainless steel inside", "keeps drinks hot for 12 hours", "leak-proof lid"),
    )  # fmt: skip
    openings = [write_script(product, variant=v).lines[0] for v in range(9)]
    assert len(set(openings)) == 9
