"""The ``openai`` backend end to end against a real model: Gemma 3 270M (GGUF from PyPI) served by ``mcn llm serve``.

The server is the real CLI in a child process on a free loopback port (``--port 0``; it prints its base URL),
llama.cpp through the ``llm-server`` extra that ``scripts/bootstrap.sh`` installs. A 270M base model does not
follow the prompt: it echoes the product, invents ids, overlaps ranges and runs out of tokens. So the assertions
are the backend's contract, not the model's quality: the server answered, every range it kept is valid (inside
its segment, no price or chatter sentence), and each segment that needed the model was handled by it or by a
counted heuristic fallback, with calls, retries, tokens and notes adding up; every sentence has a valid kind (the
model's where it gave a usable one, else the heuristic's) and no price call becomes anything else. Answers are
capped at 160 tokens so the module stays well under two minutes on an idle 2-core box (it took 9.5 min while the box
ran ~7 other jobs).

The second half checks the lenient reading of messy answers on shapes this model actually wrote, and that
leniency never lets an invalid range through.
"""

from __future__ import annotations

import itertools
import json
import queue
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from clipper.cues import sentence_cues
from clipper.detectors import DetectionResult, detect_selling_points
from clipper.detectors.heuristic import HeuristicDetector
from clipper.detectors.prompting import AnswerError, extract_json, parse_answer
from clipper.labels import SENTENCE_KINDS
from clipper.segments import find_product_segments
from clipper.sentences import words_from_text
from clipper.types import ProductSegment, Sentence, Transcript
from mcn.samples.scripts import DEV_EN, synthetic_transcript

MAX_TOKENS = 160
STARTUP_SECONDS = 120.0
READY = re.compile(r"llm server ready: base_url=(\S+) model=(\S+)")


@dataclass(frozen=True)
class Served:
    base_url: str
    model: str


def _mcn() -> list[str]:
    script = Path(sys.executable).with_name("mcn")
    return [str(script)] if script.exists() else [sys.executable, "-m", "mcn.cli"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    log = tmp_path_factory.mktemp("llm") / "serve.err"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [*_mcn(), "llm", "serve", "--port", "0", "--max-tokens", "512"],
            stdout=subprocess.PIPE,
            stderr=err,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        lines: queue.Queue[str] = queue.Queue()

        def pump() -> None:
            for line in proc.stdout or ():
                lines.put(line)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        try:
            deadline = time.monotonic() + STARTUP_SECONDS
            match = None
            while match is None:
                if proc.poll() is not None:
                    pytest.fail(f"mcn llm serve exited with {proc.returncode}: {log.read_text()[-2000:]}")
                if time.monotonic() > deadline:
                    pytest.fail(f"mcn llm serve not ready after {STARTUP_SECONDS:.0f} s: {log.read_text()[-2000:]}")
                try:
                    match = READY.search(lines.get(timeout=0.5))
                except queue.Empty:
                    continue
            yield Served(match.group(1), match.group(2))
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def test_server_speaks_openai_chat_completions_on_loopback(served: Served) -> None:
    assert served.base_url.startswith("http://127.0.0.1:") and served.base_url.endswith("/v1")
    assert served.model == "gemma3-270m"
    with httpx.Client(timeout=60) as client:
        health = client.get(served.base_url.removesuffix("/v1") + "/health")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        models = client.get(f"{served.base_url}/models").json()
        assert served.model in [m["id"] for m in models["data"]]

        body: dict[str, Any] = {
            "model": served.model,
            "messages": [
                {"role": "system", "content": "Answer with one JSON object."},
                {"role": "user", "content": 'Give the object {"colour": "red", "size": 3}.'},
            ],
            "temperature": 0,
            "max_tokens": 40,
            "response_format": {"type": "json_object"},
        }
        answer = client.post(f"{served.base_url}/chat/completions", json=body)
        assert answer.status_code == 200, answer.text
        data = answer.json()
        assert data["object"] == "chat.completion"
        message = data["choices"][0]["message"]
        assert message["role"] == "assistant"
        usage = data["usage"]
        assert usage["prompt_tokens"] > 10 and 1 <= usage["completion_tokens"] <= 40
        if data["choices"][0]["finish_reason"] == "stop":  # JSON mode: a finished answer is one JSON object
            assert isinstance(json.loads(message["content"]), dict)

        bad = client.post(f"{served.base_url}/chat/completions", json={"model": served.model, "messages": "hi"})
        assert bad.status_code == 400 and bad.json()["error"]["message"]


def _asked(transcript: Transcript, segments: Sequence[ProductSegment]) -> list[ProductSegment]:
    """The segments the backend sends to the model: those with at least one sentence that is not price/chatter."""
    lang = transcript.language
    return [
        s
        for s in segments
        if any(
            not sentence_cues(transcript.sentences[i].text, lang).excluded
            for i in range(s.first_sentence, s.last_sentence + 1)
        )
    ]


def _assert_contract(transcript: Transcript, segments: Sequence[ProductSegment], result: DetectionResult) -> None:
    """The DetectionResult contract, and the totals: every asked segment came from the model or a counted fallback."""
    lang = transcript.language
    asked = _asked(transcript, segments)
    assert asked, "the transcript must need the model"
    assert result.backend == "openai"
    for p in result.points:
        owner = [s for s in segments if s.first_sentence <= p.first_sentence and p.last_sentence <= s.last_sentence]
        assert len(owner) == 1, f"{p.first_sentence}-{p.last_sentence} crosses a segment boundary"
        assert p.product_id == owner[0].product_id
        for i in range(p.first_sentence, p.last_sentence + 1):
            assert not sentence_cues(transcript.sentences[i].text, lang).excluded, f"sentence {i} is price/chatter"
        assert 0.0 <= p.score <= 1.0 and p.point and p.hook and p.title
    ordered = [(p.first_sentence, p.last_sentence) for p in result.points]
    assert ordered == sorted(ordered)
    assert all(a[1] < b[0] for a, b in itertools.pairwise(ordered)), "overlapping points"

    # Calls: one per asked segment plus one per retry; fallbacks: one note each, at most one per segment.
    retries = [n for n in result.notes if n.endswith("; retrying")]
    fallback_notes = [n for n in result.notes if "heuristic fallback" in n]
    assert result.calls >= 1, "the server never answered"
    assert result.calls == len(asked) + len(retries), result.notes
    assert len(fallback_notes) == result.fallbacks <= len(asked)
    assert result.prompt_tokens > 200 * result.calls  # the system prompt alone is longer
    assert 0 < result.completion_tokens <= MAX_TOKENS * result.calls
    assert not any("estimated" in n for n in result.notes), "the server reports usage: counts must be exact"
    assert result.cost == 0.0

    # A segment that fell back holds exactly the heuristic's points; one the model handled holds only model points.
    heuristic = HeuristicDetector()
    for segment in asked:
        label = f"(sentences {segment.first_sentence}-{segment.last_sentence})"
        inside = [
            p
            for p in result.points
            if segment.first_sentence <= p.first_sentence and p.last_sentence <= segment.last_sentence
        ]
        if any(label in n for n in fallback_notes):
            expected = heuristic.detect_segment(transcript, segment, [s.product for s in DEV_EN.segments])
            assert [(p.first_sentence, p.last_sentence) for p in inside] == [
                (p.first_sentence, p.last_sentence) for p in expected
            ]
        else:
            assert all(not p.reason.startswith("selling cues:") for p in inside), "model segment with heuristic points"

    # Sentence kinds: one valid kind per sentence, the model's where it gave a usable one, the heuristic's elsewhere;
    # a price call stays price whatever the model said.
    heuristic_kinds = heuristic.detect(transcript, segments, [s.product for s in DEV_EN.segments]).kinds
    assert len(result.kinds) == len(transcript.sentences) == len(heuristic_kinds)
    assert set(result.kinds) <= set(SENTENCE_KINDS)
    for i, kind in enumerate(heuristic_kinds):
        if kind == "price":
            assert result.kinds[i] == "price", f"price sentence {i} became {result.kinds[i]}"
    summary = [n for n in result.notes if n.startswith("sentence kinds: ")]
    assert len(summary) == 1, result.notes
    from_model = int(summary[0].split()[2])
    assert f"of {len(transcript.sentences)} from the model" in summary[0]
    changed = sum(1 for a, b in zip(result.kinds, heuristic_kinds, strict=True) if a != b)
    assert changed <= from_model <= sum(s.last_sentence - s.first_sentence + 1 for s in asked)


@pytest.mark.parametrize("json_schema", [False, True], ids=["json_object", "json_schema"])
def test_openai_backend_on_a_real_transcript(served: Served, json_schema: bool) -> None:
    transcript = synthetic_transcript(DEV_EN)
    products = [s.product for s in DEV_EN.segments]
    segments = find_product_segments(transcript.sentences, products, transcript.language)
    started = time.monotonic()
    result = detect_selling_points(
        transcript,
        segments,
        products,
        backend="openai",
        base_url=served.base_url,
        model=served.model,
        max_tokens=MAX_TOKENS,
        json_schema=json_schema,
        timeout=120.0,
    )
    elapsed = time.monotonic() - started
    print(
        f"json_schema={json_schema}: {elapsed:.1f} s, calls {result.calls}, fallbacks {result.fallbacks}, "
        f"tokens {result.prompt_tokens}/{result.completion_tokens}, points "
        f"{[(p.first_sentence, p.last_sentence) for p in result.points]}; "
        f"{next((n for n in result.notes if n.startswith('sentence kinds')), 'no kinds note')}; kinds {result.kinds}"
    )
    _assert_contract(transcript, segments, result)


def test_cli_rejects_bad_input_with_one_line(tmp_path: Path) -> None:
    not_gguf = tmp_path / "model.gguf"
    not_gguf.write_bytes(b"PK\x03\x04 not a model")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        for args, message in (
            (["--model", str(tmp_path / "missing.gguf"), "--port", "0"], "not a known model"),
            (["--model", str(not_gguf), "--port", "0"], "not a GGUF file"),
            (["--port", port], "cannot listen there"),
        ):
            run = subprocess.run([*_mcn(), "llm", "serve", *args], capture_output=True, text=True, timeout=60)
            assert run.returncode != 0
            lines = run.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], run.stderr


# ------------------------------------------------------------------------------------------ messy answers
# Shapes Gemma 3 270M wrote for the DEV_EN prompts, and the usual small-model slips.
def _transcript(texts: list[str]) -> Transcript:
    sentences = tuple(
        Sentence(i, i * 4.0, i * 4.0 + 3.5, t, words_from_text(t, i * 4.0, i * 4.0 + 3.5)) for i, t in enumerate(texts)
    )
    return Transcript("en", len(texts) * 4.0, tuple(w for s in sentences for w in s.words), sentences, "srt")


TEXTS = [
    "First up is our rain jacket.",
    "This jacket is fully waterproof, so you stay dry even in heavy rain.",
    "The fabric is breathable, which means you will not sweat on a long hike.",
    "Link three, only seventy nine dollars, tonight only!",
    "It folds into its own pocket and weighs only three hundred grams.",
    "The seams are taped and the zippers are sealed against water.",
]
SEGMENT = ProductSegment("p-jacket", 0, 5, "rain jacket")


def _ranges(answer: str) -> list[tuple[int, int]]:
    transcript = _transcript(TEXTS)
    return [(p.first_sentence, p.last_sentence) for p in parse_answer(answer, transcript.sentences, SEGMENT, "en")]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        # Single quotes and a trailing comma (Python literal style), prose around it.
        (
            "Sure! {'points': [{'start_id': 1, 'end_id': 2, 'point': 'Waterproof', 'score': 0.8,}]} Hope it helps.",
            [(1, 2)],
        ),
        # Ids as strings, a range as "4-5", ids as one string.
        ('{"points": [{"start_id": "1", "end_id": "2", "point": "a", "score": 0.5}]}', [(1, 2)]),
        ('{"points": [{"ids": "4-5", "point": "a", "score": 0.5}]}', [(4, 5)]),
        ('{"points": [{"ids": ["1", "2"], "point": "a", "score": 0.5}]}', [(1, 2)]),
        ('{"points": [{"range": [4, 5], "point": "a", "score": 0.5}]}', [(4, 5)]),
        ('{"points": [{"start_id": "#4 to #5", "point": "a", "score": 0.5}]}', [(4, 5)]),
        # A range over the price call is split around it; "1-5" in a list expands.
        ('{"points": [{"ids": ["1-5"], "point": "a", "score": 0.5}]}', [(1, 2), (4, 5)]),
        # An echoed product object first, the answer after it; a fenced answer followed by braces in prose.
        (
            '{"id": "p-jacket"} {"points": [{"start_id": 4, "end_id": 5, "point": "a", "score": 0.4}]}',
            [(4, 5)],
        ),
        (
            '```json\n{"points": [{"start_id": 1, "end_id": 1, "point": "a", "score": 0.4}]}\n``` Range {1} is best.',
            [(1, 1)],
        ),
        # Cut off by max_tokens inside the third item: the two complete items are kept.
        (
            '{\n "points": [{"start_id": 1, "end_id": 1, "point": "a", "score": 0.2}, '
            '{"start_id": 4, "end_id": 5, "point": "b", "score": 0.3}, {"start_id": 5, "end_id": 5, "p',
            [(1, 1), (4, 5)],
        ),
    ],
)
def test_messy_answers_are_read(answer: str, expected: list[tuple[int, int]]) -> None:
    assert _ranges(answer) == expected


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        # What the model wrote in JSON mode: the product object echoed back.
        ('{\n    "id": "p-jacket", "name": "rain jacket", "aliases": ["jacket", "shell"]}', 'no "points" list'),
        # Without JSON mode: the prompt echoed back, transcript rows included; rows are not points.
        (
            'You find SELLING POINTS ... <transcript_data>\n[{"id": 1, "sec": 4.3, "text": "This jacket is fully '
            'waterproof."}, {"id": 2, "sec": 4.7, "text": "The fabric is breathable."}]\n</transcript_data>',
            "neither ids nor start_id/end_id",
        ),
        ("You find SELLING POINTS in an excerpt of an e-commerce livestream transcript.", "not JSON"),
        # With the schema: an id the block never had.
        ('{"points": [{"start_id": 1, "end_id": 9, "point": "a", "score": 0.0}]}', "outside this segment"),
        # Leniency never turns a bad range into a good one.
        ('{"points": [{"ids": "5-4", "point": "a", "score": 0.5}]}', "runs backwards"),
        ('{"points": [{"start_id": "5-4", "point": "a", "score": 0.5}]}', "after it ends"),
        ('{"points": [{"range": [5, 4], "point": "a", "score": 0.5}]}', "after it ends"),
        ('{"points": [{"ids": ["1-2", "4-5"], "point": "a", "score": 0.5}]}', "not contiguous"),
        ('{"points": [{"ids": "1, 2, 4", "point": "a", "score": 0.5}]}', "not contiguous"),
        ('{"points": [{"ids": "0-7", "point": "a", "score": 0.5}]}', "outside this segment"),
        ('{"points": [{"start_id": "one", "end_id": 2, "point": "a", "score": 0.5}]}', "not an integer"),
        ("{'points': [{'start_id': __import__('os'), 'end_id': 2}]}", "not JSON"),
    ],
)
def test_bad_answers_stay_rejected(answer: str, message: str) -> None:
    with pytest.raises(AnswerError, match=re.escape(message)):
        _ranges(answer)


def test_a_finished_list_is_not_mistaken_for_a_cut_one() -> None:
    # A complete but invalid answer must not be "salvaged" into a shorter valid one.
    assert extract_json('{"points": [{"start_id": 1, "end_id": 1}]} trailing') == {
        "points": [{"start_id": 1, "end_id": 1}]
    }
    with pytest.raises(AnswerError):
        _ranges('{"points": [{"start_id": 1, "end_id": 1, "point": "a", "score": 0.5}, {"start_id": 9}]}')
