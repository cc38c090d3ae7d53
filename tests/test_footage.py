"""Footage records: normalisation, JSON round trips, shares and overlap of edits and remixes."""

from __future__ import annotations

import pytest

from publisher.footage import (
    MAX_SHARED_FOOTAGE,
    Footage,
    FootageError,
    MaterialFootage,
    clip_footage,
    footage_from_json,
    overlap,
    share,
    shared_footage,
)


def test_ranges_are_sorted_and_merged() -> None:
    f = Footage("s1", ((30.0, 40.0), (0.0, 10.0), (5.0, 12.0), (12.0, 14.0), (50.0, 50.0)))
    assert f.ranges == ((0.0, 14.0), (30.0, 40.0)) and f.seconds == pytest.approx(24.0)
    for bad in (((5.0, 1.0),), ((-1.0, 3.0),), ((0.0, float("nan")),)):
        with pytest.raises(FootageError, match="expected 0 <= start <= end"):
            Footage("s1", bad)
    with pytest.raises(FootageError, match="source_id is empty"):
        Footage("", ((0.0, 1.0),))
    assert MaterialFootage(("p1/b.jpg", "p1/a.jpg", "p1/a.jpg")).material_ids == ("p1/a.jpg", "p1/b.jpg")
    with pytest.raises(FootageError, match="at least one"):
        MaterialFootage(())


def test_recombined_edits_share_by_seconds_of_one_recording() -> None:
    # Edit A: segments 0-10, 60-70, 120-130 (30 s). Edit B reuses 60-70 and adds 200-215 (25 s).
    a = Footage("stream", ((0, 10), (60, 70), (120, 130)))
    b = Footage("stream", ((60, 70), (200, 215)))
    assert shared_footage(a, b) == pytest.approx(10.0)
    assert share(a, b) == pytest.approx(10 / 30) and share(b, a) == pytest.approx(10 / 25)
    assert overlap(a, b) == overlap(b, a) == pytest.approx(0.4) and overlap(a, b) <= MAX_SHARED_FOOTAGE
    # C cuts 62-68 and 120-135 out of the same talk: 6 + 10 of its 21 s are in A
    c = Footage("stream", ((62, 68), (120, 135)))
    assert overlap(a, c) == pytest.approx(16 / 21) and overlap(a, c) > MAX_SHARED_FOOTAGE
    # the same times of another recording, and a remix, share nothing
    assert overlap(a, Footage("other", a.ranges)) == 0.0
    assert overlap(a, MaterialFootage(("stream",))) == 0.0
    # an edit inside another overlaps fully: a presentation variant of the same cut
    assert overlap(a, Footage("stream", ((0, 10),))) == 1.0


def test_remixes_share_by_materials() -> None:
    a = MaterialFootage(("p1/1.jpg", "p1/2.jpg", "p1/shot.mp4", "p1/3.jpg"))
    b = MaterialFootage(("p1/1.jpg", "p1/4.jpg", "p1/5.jpg", "p1/6.jpg"))
    c = MaterialFootage(("p1/1.jpg", "p1/2.jpg", "p1/shot.mp4", "p1/7.jpg"))
    assert overlap(a, b) == pytest.approx(0.25) and overlap(a, c) == pytest.approx(0.75)


def test_json_round_trip_and_clip_rows() -> None:
    f = Footage("src", ((1.23456, 9.87654), (20.0, 25.0)))
    assert f.to_json() == {"source": "src", "ranges": [[1.235, 9.877], [20.0, 25.0]]}
    assert footage_from_json(f.to_json()) == Footage("src", ((1.235, 9.877), (20.0, 25.0)))
    m = MaterialFootage(("x", "y"))
    assert footage_from_json(m.to_json()) == m and footage_from_json(None) is None
    for bad, message in (({"source": "s"}, "expected"), ({"ranges": "x", "source": "s"}, "malformed"), ([1], "object")):
        with pytest.raises(FootageError, match=message):
            footage_from_json(bad)  # type: ignore[arg-type]
    assert clip_footage("src", 3.0, 18.0) == Footage("src", ((3.0, 18.0),))
    assert clip_footage("src", 3.0, 18.0, m.to_json()) == m
