"""Pieces of the sandbox without a server: the perceptual hash on generated videos, pure rule checks, the clock,
option parsing, password hashing."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from clipper.ffmpeg import Command, Input, Output, run
from sandbox.clock import ClockState, SimClock, format_local, local_day, parse_time
from sandbox.config import DAY, Faults, Rules, merge
from sandbox.errors import SandboxError
from sandbox.rules import PostFields, check_fields, check_pacing, classify_hook, parse_topics
from sandbox.security import hash_password, verify_password
from sandbox.vhash import FingerprintError, HashIndex, fingerprint, parse_hex, similarity
from tests.sandbox_support import make_video, reencode

NOW = parse_time("2025-03-03 16:00")


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hash")
    videos = {
        name: make_video(folder / f"{name}.mp4", name, bitrate="300k", seconds=2.0)
        for name in ("testsrc", "testsrc2", "mandelbrot", "smptehdbars")
    }
    for seed in (1, 2, 3):
        videos[f"life{seed}"] = make_video(folder / f"life{seed}.mp4", seed)
    return videos


def test_different_patterns_are_far_apart_and_reencodes_are_close(clips: dict[str, Path], tmp_path: Path) -> None:
    share = Rules().near_dup_share
    prints = {name: fingerprint(path) for name, path in clips.items()}
    for a, b in itertools.combinations(prints, 2):
        assert similarity(prints[a].array(), prints[b].array()) <= share / 2, (a, b)
    for name in ("testsrc2", "mandelbrot"):
        for bitrate in ("120k", "40k"):
            again = fingerprint(reencode(clips[name], tmp_path / f"{name}-{bitrate}.mp4", bitrate))
            assert similarity(again.array(), prints[name].array()) > share, (name, bitrate)
    bigger = tmp_path / "bigger.mp4"
    run(
        Command(
            inputs=(Input(str(clips["testsrc2"])),),
            outputs=(Output(str(bigger), options=("-vf", "scale=192:320", "-c:v", "libx264", "-preset", "ultrafast")),),
        ),
        subject="scale",
    )
    assert similarity(fingerprint(bigger).array(), prints["testsrc2"].array()) > share
    fp = prints["testsrc"]  # 2 s at 1 fps: two frame hashes (a still picture: one after de-duplication)
    assert (
        1 <= len(fp.hashes) <= 2 and fp.duration == pytest.approx(2.0, abs=0.1) and (fp.width, fp.height) == (96, 160)
    )
    assert fp.hex.startswith("vpdq:") and len(fp.hex) == len("vpdq:") + 64 * len(fp.hashes)
    assert np.array_equal(parse_hex(fp.hex), fp.array())
    assert parse_hex("00ff" * 32).shape == (0, 4)  # an older sandbox's dHash string: not comparable


def test_fingerprint_refuses_what_is_not_a_video(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x01not a video at all" * 100)
    with pytest.raises(FingerprintError, match="not a readable video") as err:
        fingerprint(junk)
    assert str(tmp_path) not in str(err.value)  # the server's paths stay out of API answers
    audio = tmp_path / "tone.m4a"
    run(
        Command(
            inputs=(Input("sine=frequency=440", options=("-f", "lavfi"), duration=1.0),),
            outputs=(Output(str(audio), options=("-c:a", "aac")),),
        ),
        subject="tone",
    )
    with pytest.raises(FingerprintError, match="no video stream"):
        fingerprint(audio)


def test_hash_index_finds_neighbours() -> None:
    index = HashIndex()
    rng = np.random.default_rng(0)
    base = rng.integers(0, 2**63, size=(4, 4), dtype=np.uint64)  # a 4-frame video
    for post in range(100):
        index.add(post, post % 3, rng.integers(0, 2**63, size=(int(rng.integers(1, 6)), 4), dtype=np.uint64))
    near = base.copy()
    near[:3] ^= np.uint64(0b111)  # 3 frames 3 bits away, one frame replaced: 3 of 4 frames match
    near[3] = rng.integers(0, 2**63, size=4, dtype=np.uint64)
    index.add(500, 9, near)
    index.add(501, 9, base[:1])  # a 1-frame video whose only frame is in base: all of it matches
    index.add(502, 9, np.zeros((0, 4), dtype=np.uint64))  # no comparable frame: not stored
    hits = index.nearest(base, threshold=0.5)
    assert hits == [(501, 9, 1.0), (500, 9, 0.75)] and len(index) == 102
    assert index.nearest(base, threshold=0.8) == [(501, 9, 1.0)]
    assert index.nearest(np.zeros((0, 4), dtype=np.uint64), threshold=0.0) == []


def test_field_rules() -> None:
    rules = Rules()
    ok = PostFields(title="为什么这款杯子卖爆了", description="#保温杯 #好物 #保温杯", ai_declared=True)
    assert check_fields(ok, rules, NOW) == (["保温杯", "好物"], "question")
    assert check_fields(PostFields(title="x", ai_declared=True, hook_style=" Story "), rules, NOW)[1] == "story"
    cases = {
        "title_too_long": PostFields(title="长" * 31, ai_declared=True),
        "too_many_topics": PostFields(title="t", description="#1 #2 #3 #4 #5 #6", ai_declared=True),
        "ai_declaration_required": PostFields(title="t"),
        "invalid_schedule_time": PostFields(title="t", ai_declared=True, schedule_at=NOW + 3600),
        "invalid_hook_style": PostFields(title="t", ai_declared=True, hook_style="a b"),
    }
    for code, fields in cases.items():
        with pytest.raises(SandboxError) as err:
            check_fields(fields, rules, NOW)
        assert err.value.code == code
    assert check_fields(PostFields(title="长" * 30, ai_declared=True, schedule_at=NOW + 3 * 3600), rules, NOW)


def test_hook_classifier_and_topics() -> None:
    assert classify_hook("How do I keep coffee hot?") == "question"
    assert classify_hook("限时秒杀最后一天") == "urgency"
    assert classify_hook("还在为冬天手冷发愁") == "pain_point"
    assert classify_hook("3招教你挑杯子") == "number"
    assert classify_hook("出门必备神器") == "benefit"
    assert classify_hook("我的通勤好物") == "story"
    assert classify_hook("保温杯") == "plain"
    assert parse_topics("a #x b#y #x #z") == ["x", "y", "z"]


def test_pacing_rules() -> None:
    rules = Rules()
    assert check_pacing([], [], NOW, NOW, rules) is None
    too_soon = check_pacing([NOW - 100], [], NOW, NOW, rules)
    assert too_soon is not None and too_soon.code == "posting_too_often" and too_soon.extra["retry_after"] == 500
    assert check_pacing([NOW - 600], [], NOW, NOW, rules) is None
    # the default cap: 15 posts on one UTC+8 day, 30 minutes apart, then the 16th is refused
    day_start = parse_time("2025-03-03 00:10")
    posts = [day_start + i * 1800 for i in range(15)]
    capped = check_pacing(posts, [], NOW + 3600, NOW, rules)
    assert capped is not None and capped.code == "spam_risk_too_many_posts" and capped.status == 429
    assert check_pacing(posts, [], parse_time("2025-03-04 00:00"), NOW, rules) is None  # next day is fresh
    assert check_pacing(posts[:14], [], NOW + 3600, NOW, rules) is None
    strikes = [NOW - 10, NOW - 20, NOW - 30]
    spam = check_pacing([], strikes, NOW, NOW, rules)
    assert spam is not None and spam.code == "spam_risk_too_many_posts"
    assert check_pacing([], strikes, NOW, NOW + DAY, rules) is None  # the cooldown ends


def test_clock_and_times() -> None:
    wall = [1000.0]
    saved: list[ClockState] = []
    clock = SimClock(ClockState("running", NOW, 1000.0), on_change=saved.append, wall=lambda: wall[0])
    wall[0] += 5
    assert clock.now() == NOW + 5
    clock.advance(DAY)
    assert clock.now() == NOW + 5 + DAY and saved[-1].anchor_sim == NOW + 5 + DAY
    clock.set_mode("manual")
    wall[0] += 100
    assert clock.now() == NOW + 5 + DAY
    with pytest.raises(ValueError):
        clock.set_time(NOW)
    assert format_local(NOW) == "2025-03-03 16:00:00" and format_local(None) == ""
    assert parse_time("2025-03-03T08:00:00+00:00") == NOW == parse_time(str(NOW)) == parse_time(NOW)
    assert local_day(parse_time("2025-03-03 23:59")) + 1 == local_day(parse_time("2025-03-04 00:00"))
    for bad in ("tomorrow", "2025-13-01 00:00", "-5", True):
        with pytest.raises(ValueError):
            parse_time(bad)


def test_option_merging_and_passwords() -> None:
    assert merge(Rules(), {"daily_cap": 3, "require_ad_disclosure": True}) == Rules(
        daily_cap=3, require_ad_disclosure=True
    )
    for bad in ({"daily_cap": 1.5}, {"daily_cap": True}, {"nope": 1}, {"near_dup_reach": 2.0}):
        with pytest.raises(ValueError):
            merge(Rules(), bad)
    assert merge(Faults(), {"error_rate": 0.5}).active
    with pytest.raises(ValueError):
        merge(Faults(), {"timeout_seconds": 10_000})
    stored = hash_password("correct horse battery")
    assert stored.startswith("scrypt$") and "correct" not in stored
    assert verify_password("correct horse battery", stored) and not verify_password("wrong", stored)
    assert not verify_password("x", "garbage") and hash_password("same") != hash_password("same")  # salted
