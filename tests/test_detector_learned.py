"""The ``learned`` selling-point backend: training on labels, the model file, versions, fallback, the contract and
``mcn detector train|info`` (real scikit-learn, small data)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from clipper.cues import sentence_cues
from clipper.detectors import detect_selling_points, get_detector
from clipper.detectors.heuristic import HeuristicDetector
from clipper.detectors.learned import PACKAGED_MODEL_DIR
from clipper.detectors.sentence_model import (
    FEATURE_VERSION,
    SentenceModel,
    TrainingSource,
    cross_validate,
    installed_models,
    load_model,
    newest_model,
    normalise,
    save_model,
    train_model,
)
from clipper.errors import DetectorError
from clipper.labels import SENTENCE_KINDS, SentenceLabel, SourceLabels, dump_labels
from clipper.segments import find_product_segments
from clipper.types import Product, ProductSegment, Transcript
from mcn.cli import app
from mcn.detector_training import corpus_asr_sources, corpus_sources, script_source, script_sources
from mcn.samples.corpus import list_streams
from mcn.samples.scripts import (
    DEV_EN,
    DEV_ZH,
    HELDOUT2_EN,
    HELDOUT2_ZH,
    HELDOUT_EN,
    HELDOUT_ZH,
    StreamScript,
    synthetic_lines,
    synthetic_transcript,
)


@pytest.fixture(scope="module")
def en_model() -> SentenceModel:
    """An English model trained on the two trainable English sample scripts only."""
    return train_model(script_sources("en"), "en")


@pytest.fixture(scope="module")
def zh_model() -> SentenceModel:
    return train_model(script_sources("zh"), "zh")


def _inputs(script: StreamScript) -> tuple[Transcript, tuple[ProductSegment, ...], list[Product]]:
    transcript = synthetic_transcript(script)
    products = [seg.product for seg in script.segments]
    return transcript, find_product_segments(transcript.sentences, products, script.language), products


@pytest.mark.parametrize(("script", "fixture"), [(HELDOUT2_EN, "en_model"), (HELDOUT2_ZH, "zh_model")])
def test_a_model_from_two_labelled_scripts_classifies_an_unseen_one(
    script: StreamScript, fixture: str, request: pytest.FixtureRequest
) -> None:
    model: SentenceModel = request.getfixturevalue(fixture)
    transcript, segments, products = _inputs(script)
    kinds = model.predict(transcript.sentences, segments, products)
    truth = [line.kind for line in synthetic_lines(script)]
    hits = sum(1 for k, t in zip(kinds, truth, strict=True) if k == t == "selling")
    assert hits / truth.count("selling") >= 0.8, list(zip(kinds, truth, strict=True))
    assert hits / kinds.count("selling") >= 0.75, list(zip(kinds, truth, strict=True))
    assert sum(k == t for k, t in zip(kinds, truth, strict=True)) / len(truth) >= 0.75
    proba = model.predict_proba(transcript.sentences, segments, products)
    assert proba.shape == (len(truth), len(model.classes))
    assert np.allclose(proba.sum(axis=1), 1.0)


def test_numbers_and_punctuation_read_alike_in_script_and_asr_form() -> None:
    assert normalise("原价九十九块九，今晚只要五十九！", "zh") == normalise("原价99块9 今晚只要59", "zh")
    assert normalise("百分之九十五的白鸭绒", "zh") == normalise("95%的白鸭绒", "zh")
    assert normalise("Only seventy-nine dollars tonight!", "en") == normalise("only $79 tonight", "en")


def test_cross_validation_never_tests_on_a_trained_stream() -> None:
    sources = script_sources("en")
    cv = cross_validate(sources, "en")
    assert cv.folds == cv.groups == 2
    assert set(cv.predictions) == {s.labels.source for s in sources}
    assert cv.sentences == sum(len(s.labels.sentences) for s in sources)
    selling = next(k for k in cv.kinds if k.kind == "selling")
    assert selling.recall >= 0.8 and selling.precision >= 0.6
    with pytest.raises(DetectorError, match="at least two streams"):
        cross_validate(sources[:1], "en")


def test_model_file_round_trip_and_sidecar(en_model: SentenceModel, tmp_path: Path) -> None:
    path = save_model(en_model, tmp_path, {"note": "test"})
    assert path.name == "detector-en-v1.npz"
    assert path.stat().st_size < 1_000_000
    with np.load(path, allow_pickle=False) as data:  # no pickle anywhere in the file
        assert set(data.files) == {"header", "classes", "rows", "coef", "intercept"}
    loaded = load_model(path)
    assert loaded.classes == en_model.classes and loaded.spec == en_model.spec
    transcript, segments, products = _inputs(HELDOUT2_EN)
    a = en_model.predict_proba(transcript.sentences, segments, products)
    b = loaded.predict_proba(transcript.sentences, segments, products)
    assert np.allclose(a, b, atol=1e-5)
    sidecar = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    assert sidecar["format"] == "mcn-detector/1" and sidecar["version"] == 1 and sidecar["language"] == "en"
    assert sidecar["spec"]["feature_version"] == FEATURE_VERSION and "price_pattern" in str(sidecar["spec"])
    assert sidecar["label_counts"]["selling"] == sum(
        1 for s in script_sources("en") for x in s.labels.sentences if x.kind == "selling"
    )
    assert {s["source"] for s in sidecar["sources"]} == {"script:DEV_EN", "script:HELDOUT_EN"}
    assert sidecar["created"] and sidecar["note"] == "test"


def test_bad_model_files_are_refused_with_the_reason(en_model: SentenceModel, tmp_path: Path) -> None:
    junk = tmp_path / "detector-en-v1.npz"
    junk.write_bytes(b"not a model")
    with pytest.raises(DetectorError, match="not a detector model"):
        load_model(junk)
    with pytest.raises(DetectorError, match="file not found"):
        get_detector("learned", model_path=str(tmp_path / "missing.npz"))
    path = save_model(en_model, tmp_path / "old")
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    header = json.loads(str(arrays["header"]))
    header["spec"]["feature_version"] = FEATURE_VERSION + 1
    arrays["header"] = np.array(json.dumps(header))
    future = tmp_path / "future.npz"
    np.savez(future, **arrays)
    with pytest.raises(DetectorError, match="feature version"):
        load_model(future)
    with pytest.raises(DetectorError, match="bad options"):
        get_detector("learned", no_such_option=1)


def test_versions_count_up_and_the_newest_is_used(
    en_model: SentenceModel, zh_model: SentenceModel, tmp_path: Path
) -> None:
    first = save_model(en_model, tmp_path)
    second = save_model(en_model, tmp_path)
    zh = save_model(zh_model, tmp_path)
    assert [p.name for p in (first, second, zh)] == ["detector-en-v1.npz", "detector-en-v2.npz", "detector-zh-v1.npz"]
    assert [(m.language, m.version) for m in installed_models([tmp_path])] == [("en", 1), ("en", 2), ("zh", 1)]
    newest = newest_model("en", [tmp_path, PACKAGED_MODEL_DIR])
    assert newest is not None and newest.path == second
    transcript, segments, products = _inputs(HELDOUT2_EN)
    result = detect_selling_points(transcript, segments, products, "learned", model_dir=str(tmp_path))
    assert result.backend == "learned"
    assert result.notes == (f"learned model detector-en-v2.npz ({tmp_path})",)


def test_without_a_model_for_the_language_the_heuristic_runs_and_says_so(
    en_model: SentenceModel, tmp_path: Path
) -> None:
    transcript, segments, products = _inputs(HELDOUT2_ZH)
    result = detect_selling_points(transcript, segments, products, "learned", model_dir=str(tmp_path), packaged=False)
    heuristic = HeuristicDetector().detect(transcript, segments, products)
    assert result.backend == "heuristic" and result.points == heuristic.points and result.points
    assert result.fallbacks == len(segments)
    assert any("no learned zh model" in n and "heuristic used" in n for n in result.notes), result.notes
    # An explicit English model on a Chinese transcript: the heuristic too, with the reason.
    path = save_model(en_model, tmp_path / "en")
    mismatch = detect_selling_points(transcript, segments, products, "learned", model_path=str(path))
    assert mismatch.backend == "heuristic" and "reads en" in mismatch.notes[-1]


@pytest.mark.parametrize("script", [DEV_EN, DEV_ZH, HELDOUT_EN, HELDOUT_ZH, HELDOUT2_EN, HELDOUT2_ZH])
@pytest.mark.parametrize("union", [False, True])
def test_points_stay_in_one_segment_and_never_hold_excluded_sentences(script: StreamScript, union: bool) -> None:
    transcript, segments, products = _inputs(script)
    result = detect_selling_points(transcript, segments, products, "learned", union_heuristic=union)
    assert result.backend == "learned" and "packaged" in result.notes[0]
    assert len(result.kinds) == len(transcript.sentences) and set(result.kinds) <= set(SENTENCE_KINDS)
    assert result.points
    for point in result.points:
        assert any(s.first_sentence <= point.first_sentence <= point.last_sentence <= s.last_sentence for s in segments)
        for i in point.sentence_ids:
            assert not sentence_cues(transcript.sentences[i].text, script.language).excluded, i
            assert result.kinds[i] == "selling"
        assert point.product_id is not None and point.title and point.hook and 0 <= point.score <= 1
    selected = {i for p in result.points for i in p.sentence_ids}
    truth = [line.kind for line in synthetic_lines(script)]
    assert not any(truth[i] == "price" for i in selected)
    assert sum(truth[i] == "selling" for i in selected) >= 0.8 * truth.count("selling")


def test_a_price_call_the_model_misses_is_still_excluded(tmp_path: Path) -> None:
    """Labels that call every sentence selling teach the model nothing else; the cue lexicons still keep price
    talk and chatter out of the points."""
    script = HELDOUT2_EN
    lines = synthetic_lines(script)
    every = [SentenceLabel(n.index, n.start, n.end, n.text, "selling", n.product_id) for n in lines]
    every[-1] = SentenceLabel(lines[-1].index, lines[-1].start, lines[-1].end, lines[-1].text, "chatter", None)
    wrong = SourceLabels("wrong", "en", tuple(every))
    path = save_model(train_model([TrainingSource(wrong)], "en"), tmp_path)
    transcript, segments, products = _inputs(script)
    result = detect_selling_points(transcript, segments, products, "learned", model_path=str(path))
    for point in result.points:
        for i in point.sentence_ids:
            assert not sentence_cues(transcript.sentences[i].text, "en").excluded
    assert any(k != "selling" for k in result.kinds)


def test_holdout_streams_are_never_training_data() -> None:
    for gather in (corpus_sources, corpus_asr_sources):
        with pytest.raises(DetectorError, match="only the dev split"):
            gather("en", "holdout")
    dev = set(list_streams(split="dev"))
    assert {s.key for s in corpus_sources("en")} <= dev


def test_asr_versions_of_dev_streams_are_labelled_by_overlap_and_share_the_stream_group() -> None:
    asr = corpus_asr_sources("en")
    if not asr:
        pytest.skip("no cached English ASR transcripts in corpus/transcripts")
    assert {s.key for s in asr} <= {s.key for s in corpus_sources("en")}
    for source in asr:
        kinds = [x.kind for x in source.labels.sentences]
        assert source.labels.source == f"corpus-asr:{source.key}" and source.products
        assert kinds.count("selling") >= 5 and "price" in kinds


def test_packaged_models_exist_for_both_languages_and_are_small() -> None:
    found = {m.language: m for m in installed_models([PACKAGED_MODEL_DIR])}
    assert set(found) == {"en", "zh"}
    total = sum(p.stat().st_size for p in PACKAGED_MODEL_DIR.iterdir())
    assert total < 2_000_000
    for lang, info in found.items():
        meta = info.sidecar()
        assert meta["language"] == lang and meta["cross_validation"]["kinds"]["selling"]["recall"] > 0.7
        dev = set(list_streams(split="dev"))
        for source in meta["sources"]:
            kind, _, name = source["source"].partition(":")
            assert kind in ("corpus", "corpus-asr", "script"), source
            assert name in dev if kind != "script" else name in ("DEV_EN", "DEV_ZH", "HELDOUT_EN", "HELDOUT_ZH")
        assert load_model(info.path).language == lang


def _tiny_labels(path: Path) -> None:
    sources = []
    for name, script in (("a", DEV_EN), ("b", HELDOUT_EN)):
        labels = script_source(name, script).labels
        sources.append(SourceLabels(f"tiny-{name}", "en", labels.sentences, annotator="test"))
    dump_labels(sources, path)


def test_cli_trains_from_a_label_file_and_lists_the_model(tmp_path: Path) -> None:
    labels = tmp_path / "labels.json"
    _tiny_labels(labels)
    out = tmp_path / "models"
    runner = CliRunner()
    args = ["detector", "train", "--language", "en", "--labels", str(labels), "--corpus-split", "none"]
    result = runner.invoke(app, [*args, "--no-scripts", "--out", str(out)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "2-fold cross-validation grouped by stream" in result.output
    for kind in ("selling", "price", "precision", "recall"):
        assert kind in result.output
    assert (out / "detector-en-v1.npz").is_file()
    sidecar = json.loads((out / "detector-en-v1.json").read_text(encoding="utf-8"))
    assert [s["source"] for s in sidecar["sources"]] == ["tiny-a", "tiny-b"]
    assert sidecar["cross_validation"]["groups"] == 2
    again = runner.invoke(app, [*args, "--no-scripts", "--out", str(out)], env={"COLUMNS": "200"})
    assert again.exit_code == 0 and (out / "detector-en-v2.npz").is_file()
    listed = runner.invoke(app, ["detector", "info", "--dir", str(out)], env={"COLUMNS": "250"})
    assert listed.exit_code == 0, listed.output
    assert "v2" in listed.output and "v1" in listed.output and "packaged" not in listed.output
    packaged_zh = newest_model("zh", [PACKAGED_MODEL_DIR])
    assert packaged_zh is not None and str(packaged_zh.path) in listed.output


def test_cli_rejects_bad_input_in_one_line(tmp_path: Path) -> None:
    runner = CliRunner()
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "other"}', encoding="utf-8")
    result = runner.invoke(app, ["detector", "train", "--labels", str(bad), "--out", str(tmp_path)])
    assert result.exit_code == 2 and "bad.json" in result.output and "mcn-labels/1" in result.output
    missing = runner.invoke(app, ["detector", "train", "--labels", str(tmp_path / "nope.json")])
    assert missing.exit_code == 2 and "file not found" in missing.output
    holdout = runner.invoke(app, ["detector", "train", "--corpus-split", "holdout"])
    assert holdout.exit_code == 2 and "holdout" in holdout.output
