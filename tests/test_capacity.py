"""Distinct-edit capacity: greedy edits checked by brute force, a clips folder's products (segments from selling
sentences only, split on sentence boundaries), the same footage measure as the plan, and ``mcn clips capacity``."""

from __future__ import annotations

import json
import random
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from publisher.capacity import CapacityOptions, distinct_edits, source_capacity
from publisher.footage import MAX_SHARED_FOOTAGE, Footage, overlap


def _valid(edits: list[tuple[int, ...]], durations: list[float], opts: CapacityOptions) -> None:
    assert len(set(edits)) == len(edits)
    for edit in edits:
        assert opts.min_seconds <= sum(durations[i] for i in edit) <= opts.max_seconds
    for a, b in combinations(edits, 2):
        shared = sum(durations[i] for i in set(a) & set(b))
        smaller = min(sum(durations[i] for i in a), sum(durations[i] for i in b))
        assert shared <= opts.max_shared * smaller + 1e-9, (a, b)


@pytest.mark.parametrize("seed", range(4))
def test_greedy_edits_are_valid_and_nothing_more_fits(seed: int) -> None:
    rng = random.Random(seed)
    durations = [round(rng.uniform(2, 14), 1) for _ in range(rng.randint(5, 10))]
    opts = CapacityOptions()
    edits = distinct_edits(durations, opts)
    _valid(edits, durations, opts)
    # Maximal: no other subset could join (brute force over every subset).
    for size in range(1, len(durations) + 1):
        for extra in combinations(range(len(durations)), size):
            if extra in edits or not 10 <= sum(durations[i] for i in extra) <= 40:
                continue
            with pytest.raises(AssertionError):
                _valid([*edits, extra], durations, opts)


def test_many_segments_give_many_edits_and_few_give_none() -> None:
    durations = [6.0] * 30  # three minutes of selling talk in 6 s pieces
    opts = CapacityOptions()
    edits = distinct_edits(durations, opts)
    _valid(edits, durations, opts)
    assert len(edits) >= 60  # a lower bound found greedily; 30 disjoint 12 s pairs alone would be 15
    assert distinct_edits([4.0, 5.0], opts) == []  # 9 s of material: no 10 s edit
    assert distinct_edits([50.0], opts) == []  # one piece longer than an edit may be
    assert distinct_edits([12.0], opts) == [(0,)]
    assert distinct_edits(durations, opts) == edits  # seeded: same input, same answer
    with pytest.raises(ValueError, match="min_seconds"):
        CapacityOptions(min_seconds=50.0)


def _sentence(index: int, kind: str | None, length: float = 4.0) -> dict[str, Any]:
    return {
        "index": index,
        "start": index * 5.0,
        "end": index * 5.0 + length,
        "text": f"sentence {index}",
        **({"kind": kind} if kind else {}),
        "words": [],
    }


def _clip(clip_id: str, product: str | None, sentences: list[int]) -> dict[str, Any]:
    return {
        "id": clip_id,
        "source_start": sentences[0] * 5.0,
        "source_end": sentences[-1] * 5.0 + 4.0,
        "duration": len(sentences) * 5.0,
        "product": product,
        "points": [],
        "hook": "",
        "title": clip_id,
        "score": 1.0,
        "reason": "test",
        "sentences": sentences,
        "path": f"{clip_id}.mp4",
    }


@pytest.fixture
def run_folder(tmp_path: Path) -> Path:
    kinds: list[str | None] = ["chatter"] * 60
    for first, last in ((0, 7), (10, 12), (20, 25), (30, 35), (40, 41), (55, 59)):
        kinds[first : last + 1] = ["selling"] * (last - first + 1)
    kinds[3] = "price"  # a price call inside the jacket's first clip: never in an edit
    # 55-59: selling talk no clip covers
    transcript = {
        "language": "en",
        "duration": 300.0,
        "origin": "asr",
        "sentences": [_sentence(i, kinds[i]) for i in range(60)],
    }
    clips = {
        "source": "stream.mp4",
        "duration": 300.0,
        "language": "en",
        "clips": [
            _clip("c1", "jacket", list(range(0, 8))),
            _clip("c2", "jacket", list(range(20, 26))),
            _clip("c3", "jacket", list(range(30, 36))),
            _clip("c4", "boots", list(range(10, 13))),  # 3 sentences, 14 s: one edit
            _clip("c5", "hat", [40, 41]),  # 9 s: too little for an edit
        ],
    }
    (tmp_path / "transcript.json").write_text(json.dumps(transcript), encoding="utf-8")
    (tmp_path / "clips.json").write_text(json.dumps(clips), encoding="utf-8")
    return tmp_path


def test_a_clips_folder_counts_edits_per_product(run_folder: Path) -> None:
    capacity = source_capacity(run_folder)
    products = {p.product: p for p in capacity.products}
    assert set(products) == {"boots", "hat", "jacket"}
    jacket = products["jacket"]
    # Sentences last 4 s, 5 s apart: at most two fit in 12 s. The price call (3) splits the first clip.
    assert [(s.first, s.last) for s in jacket.segments] == [
        (0, 1),
        (2, 2),
        (4, 5),
        (6, 7),
        (20, 21),
        (22, 23),
        (24, 25),
        (30, 31),
        (32, 33),
        (34, 35),
    ]
    assert all(s.seconds <= 12.0 for s in jacket.segments) and jacket.clips == 3
    assert len(products["boots"].edits) == 1 and products["hat"].edits == ()
    assert len(jacket.edits) >= 5
    # The plan's own footage measure agrees: any two edits share at most half of the smaller one.
    footage = [Footage("stream", jacket.edit_ranges(e)) for e in jacket.edits]
    for a, b in combinations(footage, 2):
        assert overlap(a, b) <= MAX_SHARED_FOOTAGE
    assert all(10 <= f.seconds <= 40 for f in footage)
    assert capacity.unattributed_seconds == pytest.approx(5 * 4.0)
    assert capacity.edits == sum(len(p.edits) for p in capacity.products)


def test_cli_prints_capacity_and_rejects_a_bad_folder(run_folder: Path, tmp_path: Path) -> None:
    from mcn.cli import app

    runner = CliRunner()
    shown = runner.invoke(app, ["clips", "capacity", str(run_folder)])
    assert shown.exit_code == 0, shown.output
    assert "distinct edits: stream.mp4" in shown.output and "jacket" in shown.output
    assert "20 s of selling talk are in no clip" in shown.output
    missing = runner.invoke(app, ["clips", "capacity", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "not a folder" in missing.output and "Traceback" not in missing.output
