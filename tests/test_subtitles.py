"""Subtitle parsing (SRT, WebVTT, the mess real exports contain), SRT writing and the transcript.json schema."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from clipper.errors import InputFileError
from clipper.subtitles import read_subtitles, transcript_from_json, transcript_to_json, write_srt
from clipper.types import Transcript


def _write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def _assert_ordered(t: Transcript) -> None:
    """Words never go back in time and sentences cover every word exactly once, in order."""
    for a, b in itertools.pairwise(t.words):
        assert a.start <= a.end <= b.start + 1e-9
    assert [w for s in t.sentences for w in s.words] == list(t.words)
    assert [s.index for s in t.sentences] == list(range(len(t.sentences)))


def test_srt_with_bom_crlf_and_dot_milliseconds(tmp_path: Path) -> None:
    srt = (
        "\ufeff1\r\n00:00:01,000 --> 00:00:03,000\r\nHello everyone, welcome!\r\n\r\n"
        "2\r\n00:00:03.500 --> 00:00:06.000\r\nThis jacket is <i>fully</i> waterproof.\r\n\r\n"
    )
    t = read_subtitles(_write(tmp_path, "a.srt", srt))
    assert (t.language, t.origin, t.duration) == ("en", "srt", 6.0)
    assert [s.text for s in t.sentences] == ["Hello everyone, welcome!", "This jacket is fully waterproof."]
    assert t.words[0].start == 1.0 and t.words[-1].end == 6.0
    assert t.sentences[1].start == 3.5
    _assert_ordered(t)


def test_srt_multiline_markup_entities_and_blank_line_in_text(tmp_path: Path) -> None:
    srt = (
        "1\n00:00:00,500 --> 00:00:02,000\n{\\an8}<font color='red'>Salt &amp; pepper</font>\nbottle.\n\n"
        "2\n00:00:02,000 --> 00:00:04,000\nFirst paragraph\n\nsecond paragraph.\n\n"
        "3\n\n"
    )
    t = read_subtitles(_write(tmp_path, "b.srt", srt))
    assert [s.text for s in t.sentences] == ["Salt & pepper bottle.", "First paragraph second paragraph."]
    _assert_ordered(t)


def test_vtt_header_notes_styles_settings_tags_and_short_timestamps(tmp_path: Path) -> None:
    vtt = (
        "WEBVTT - product stream\nKind: captions\nLanguage: en\n\n"
        "NOTE this is a comment\nspanning two lines\n\n"
        "STYLE\n::cue { color: yellow }\n\n"
        "REGION\nid:fred width:40%\n\n"
        "intro-1\n00:01.000 --> 00:02.500 align:start position:10%\n<v Host>Hello <c.yellow>there</c>.</v>\n\n"
        "00:00:02.500 --> 00:00:04.000 line:0\nIt<00:00:03.000><c> costs</c><00:00:03.500><c> ten dollars.</c>\n"
    )
    t = read_subtitles(_write(tmp_path, "c.vtt", vtt))
    assert t.origin == "vtt"
    assert [s.text for s in t.sentences] == ["Hello there.", "It costs ten dollars."]
    assert (t.sentences[0].start, t.sentences[1].end) == (1.0, 4.0)
    _assert_ordered(t)


def test_vtt_rolling_captions_are_not_duplicated(tmp_path: Path) -> None:
    # YouTube's auto captions: each cue repeats the previous line, plus 10 ms "flash" cues.
    vtt = (
        "WEBVTT\n\n"
        "00:00:00.000 --> 00:00:02.000\nthis bottle keeps drinks cold\n\n"
        "00:00:02.000 --> 00:00:02.010\nthis bottle keeps drinks cold\n\n"
        "00:00:02.010 --> 00:00:04.000\nthis bottle keeps drinks cold\nfor twenty four hours\n\n"
    )
    t = read_subtitles(_write(tmp_path, "roll.vtt", vtt))
    assert " ".join(s.text for s in t.sentences) == "this bottle keeps drinks cold for twenty four hours"
    _assert_ordered(t)


def test_overlapping_and_unsorted_cues_give_increasing_word_times(tmp_path: Path) -> None:
    srt = (
        "2\n00:00:03,000 --> 00:00:06,000\nsecond line here.\n\n1\n00:00:01,000 --> 00:00:04,000\nfirst line here.\n\n"
    )
    t = read_subtitles(_write(tmp_path, "overlap.srt", srt))
    assert [s.text for s in t.sentences] == ["first line here.", "second line here."]
    _assert_ordered(t)


def test_chinese_without_punctuation_splits_at_cues(tmp_path: Path) -> None:
    srt = (
        "1\n00:00:00,000 --> 00:00:02,000\n大家好 欢迎来到直播间\n\n"
        "2\n00:00:02,000 --> 00:00:04,500\n今天给大家带来一款防晒霜\n\n"
        "3\n00:00:04,500 --> 00:00:07,000\n质地非常轻薄 上脸一点都不油腻\n\n"
    )
    t = read_subtitles(_write(tmp_path, "zh.srt", srt))
    assert t.language == "zh"
    assert [s.text for s in t.sentences] == [
        "大家好欢迎来到直播间",
        "今天给大家带来一款防晒霜",
        "质地非常轻薄上脸一点都不油腻",
    ]
    assert all(len(w.text) == 1 for w in t.words)  # one word per character
    assert [(s.start, s.end) for s in t.sentences] == [(0.0, 2.0), (2.0, 4.5), (4.5, 7.0)]
    _assert_ordered(t)


def test_gbk_encoded_chinese_and_language_override(tmp_path: Path) -> None:
    srt = "1\n00:00:00,000 --> 00:00:02,000\n三二一上链接！\n\n"
    path = _write(tmp_path, "gbk.srt", srt, encoding="gbk")
    t = read_subtitles(path)
    assert (t.language, t.sentences[0].text) == ("zh", "三二一上链接！")
    assert read_subtitles(path, language="en").language == "en"


def test_long_chinese_cue_is_split(tmp_path: Path) -> None:
    text = "这款防晒霜质地非常轻薄上脸一点都不油腻而且防水防汗户外运动一整天都不用补涂真的是夏天必备的好物"
    t = read_subtitles(_write(tmp_path, "long.srt", f"1\n00:00:00,000 --> 00:00:12,000\n{text}\n"))
    assert len(t.sentences) >= 2
    assert "".join(s.text for s in t.sentences) == text


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "no subtitle cues"),
        ("WEBVTT\n\nNOTE only a note\n", "no subtitle cues"),
        ("just some notes\nabout the stream\n", "line 1: expected a cue timing line"),
        ("1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\n00:00:0x,000 --> 00:00:03,000\nbad\n", "line 6: cannot parse"),
        ("1\n00:00:01,000 -> 00:00:02,000\ntypo arrow\n", "line 2: cannot parse"),
        ("1\n00:00:05,000 --> 00:00:02,000\nbackwards\n", "line 2: cue ends before it starts"),
        ("1\n00:00:75,000 --> 00:00:80,000\nno such second\n", "line 2: minutes and seconds must be below 60"),
    ],
)
def test_bad_subtitles_name_file_and_line(tmp_path: Path, content: str, expected: str) -> None:
    path = _write(tmp_path, "bad.srt", content)
    with pytest.raises(InputFileError) as info:
        read_subtitles(path)
    message = str(info.value)
    assert expected in message
    assert message.startswith(str(path))
    assert "\n" not in message


def test_binary_and_missing_files(tmp_path: Path) -> None:
    binary = tmp_path / "clip.srt"
    binary.write_bytes(b"\x00\x01\x02ftypmp42\x00\x00")
    with pytest.raises(InputFileError, match="not a text file"):
        read_subtitles(binary)
    with pytest.raises(InputFileError, match="cannot read"):
        read_subtitles(tmp_path / "missing.srt")


def test_write_srt_reads_back(tmp_path: Path) -> None:
    src = read_subtitles(
        _write(
            tmp_path,
            "in.srt",
            "1\n00:00:01,000 --> 00:00:03,250\nFirst up is our rain jacket. It is waterproof.\n\n"
            "2\n01:00:03,500 --> 01:00:06,000\nLink three, tonight only!\n",
        )
    )
    out = tmp_path / "out.srt"
    write_srt(src, out)
    text = out.read_text(encoding="utf-8")
    assert text.startswith("1\n00:00:01,000 --> ")
    assert "01:00:06,000" in text
    back = read_subtitles(out)
    assert [(s.text, s.start, s.end) for s in back.sentences] == [(s.text, s.start, s.end) for s in src.sentences]


def test_json_round_trip(tmp_path: Path) -> None:
    src = read_subtitles(
        _write(
            tmp_path, "zh.srt", "1\n00:00:00,000 --> 00:00:02,000\n大家好\n\n2\n00:00:02,500 --> 00:00:04,000\n买它\n"
        )
    )
    doc = transcript_to_json(src)
    assert set(doc) == {"language", "duration", "origin", "sentences"}
    assert set(doc["sentences"][0]) == {"index", "start", "end", "text", "words"}
    assert set(doc["sentences"][0]["words"][0]) == {"start", "end", "text", "probability"}
    assert transcript_from_json(json.loads(json.dumps(doc, ensure_ascii=False))) == src


def test_json_errors_are_one_line() -> None:
    with pytest.raises(InputFileError, match="missing key 'duration'"):
        transcript_from_json({"language": "en", "sentences": []}, source="t.json")
    bad_index = {
        "language": "en",
        "duration": 1.0,
        "sentences": [{"index": 3, "start": 0, "end": 1, "text": "hi", "words": []}],
    }
    with pytest.raises(InputFileError, match="indexes must count from 0"):
        transcript_from_json(bad_index)
    with pytest.raises(InputFileError, match="malformed"):
        transcript_from_json({"language": "en", "duration": "long", "sentences": []})


def _cues(*spans: tuple[float, float]) -> str:
    clock = lambda t: f"{int(t // 3600):02d}:{int(t % 3600 // 60):02d}:{int(t % 60):02d},{round(t % 1 * 1000):03d}"  # noqa: E731
    return "".join(
        f"{n}\n{clock(a)} --> {clock(b)}\nLine number {n} of the show.\n\n" for n, (a, b) in enumerate(spans, 1)
    )


def test_cues_far_beyond_the_media_are_an_error_naming_file_times_and_duration(tmp_path: Path) -> None:
    hours = 9_999_999 * 3600.0
    path = _write(tmp_path, "far.srt", _cues(*((hours + 4 * i, hours + 4 * i + 3) for i in range(5))))
    with pytest.raises(InputFileError) as err:
        read_subtitles(path, media_duration=68.0)
    message = str(err.value)
    assert message.startswith(f"{path}: cues out of range: 5 of 5 start after the media ends"), message
    assert "9999999:00:00.0" in message and "0:01:08.0 long" in message and "\n" not in message
    # a clear majority outside is the same mistake
    mostly = _write(tmp_path, "mostly.srt", _cues((1, 3), (100, 103), (104, 107), (108, 110)))
    with pytest.raises(InputFileError, match="3 of 4 start after"):
        read_subtitles(mostly, media_duration=68.0)
    # without a media duration the file alone is fine
    assert read_subtitles(path).duration > hours


def test_a_few_cues_just_past_the_end_are_clipped(tmp_path: Path) -> None:
    path = _write(tmp_path, "long.srt", _cues(*((4 * i, 4 * i + 3) for i in range(17)), (66.5, 69.0), (69.5, 70.5)))
    t = read_subtitles(path, media_duration=68.0)
    assert t.duration == 68.0
    assert t.sentences[-1].text == "Line number 18 of the show." and t.sentences[-1].end == 68.0
    assert all(w.end <= 68.0 for w in t.words)
    _assert_ordered(t)
