"""Remix scripts (offline templates in English and Chinese, the openai writer over HTTP) and the product file."""

from __future__ import annotations

import json
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
STALE = ("tonight", "today", "only", "hurry", "今晚", "今天", "限时", "秒杀")


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
