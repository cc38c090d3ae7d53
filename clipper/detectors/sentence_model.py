"""A small trained sentence classifier for livestream speech: what each sentence does (selling, price, chatter...).

The ``learned`` detector (:mod:`clipper.detectors.learned`) runs it; ``mcn detector train`` makes it from labelled
streams (:mod:`clipper.labels`). One model per language.

**Features** (one hashed space, :class:`sklearn.feature_extraction.FeatureHasher`, so there is no vocabulary to
store and a model is just weights):

* the sentence's own text: character 1-4-grams (Chinese) or word 1-2-grams plus character 2-5-grams inside words
  (English), on a normalised text: lower case, punctuation dropped (ASR punctuates differently from a script), every
  number collapsed to ``0`` (九十九块九 and 99块9 read alike, as do "seventy nine dollars" and "$79");
* structure: position in its product segment (first, second, last, relative), position in the stream, a number,
  a number with a unit, a price pattern (currency, 元/块/$, 折, 券, "% off"), a mention of the segment's product or
  of another one, a question mark, the length, the pause before and after;
* context: the previous and next sentence's structure and a few of their words or character pairs, so a sentence
  is judged with its neighbours rather than by where a script happened to end a line.

Every text group is L2-normalised so a long sentence does not drown its structural features.

**Model**: multinomial logistic regression with balanced class weights. The file is ``detector-<lang>-v<N>.npz``
(no pickle: the non-zero weight rows, their hashed column indices, the intercepts, the classes and a JSON header
with the hashing parameters and the feature list) plus ``detector-<lang>-v<N>.json``, a sidecar with the training
sources, label counts, cross-validated metrics and the creation time. Inference needs numpy, scipy and scikit-learn's
hasher only.

**Training** adds one re-segmented copy of each labelled stream (clauses split at commas, same-kind neighbours
merged, question marks dropped) so the model does not learn a script's line boundaries; ASR splits speech
differently. Cross-validation is grouped by stream: a stream and its copies are never on both sides.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from clipper.errors import DetectorError
from clipper.labels import SENTENCE_KINDS, SentenceLabel, SourceLabels
from clipper.segments import find_product_segments, product_keys, product_mentions
from clipper.types import Product, ProductSegment, Sentence

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

__all__ = [
    "FEATURE_VERSION",
    "FORMAT",
    "CrossValidation",
    "FeatureSpec",
    "KindMetrics",
    "ModelInfo",
    "SentenceModel",
    "TrainOptions",
    "TrainingSource",
    "cross_validate",
    "installed_models",
    "label_segments",
    "load_model",
    "model_filename",
    "newest_model",
    "resegment",
    "save_model",
    "sentence_features",
    "train_model",
]

#: File format of the ``.npz`` + ``.json`` pair.
FORMAT = "mcn-detector/1"
#: Version of :func:`sentence_features`. A model made with another version is refused: its weights would be
#: read against different features.
FEATURE_VERSION = 1
MODEL_FILE = re.compile(r"^detector-(?P<lang>[a-z]{2})-v(?P<version>\d+)\.npz$")

#: Structural feature names (without the ``p:``/``n:`` context prefixes); stored in every model's header.
STRUCTURAL_FEATURES = (
    "seg_first",
    "seg_second",
    "seg_last",
    "seg_relpos=0..4",
    "seg_short",
    "no_product",
    "stream_start",
    "stream_end",
    "number",
    "number_unit",
    "number_count",
    "price_pattern",
    "product",
    "other_product",
    "attribute",
    "question",
    "exclaim",
    "len=0..4",
    "gap_before=0..3",
    "gap_after=0..3",
)


class _Timed(Protocol):
    """What a sentence needs for features: its text and times (a :class:`Sentence` or a :class:`SentenceLabel`)."""

    @property
    def text(self) -> str: ...
    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...


# --------------------------------------------------------------------------------------------- normalisation
_ZH_NUMERAL = "零〇一二两三四五六七八九十百千万亿"
_ZH_NUMBER = re.compile(rf"[{_ZH_NUMERAL}]+(?:点[{_ZH_NUMERAL}]+)?")
_DIGITS = re.compile(r"\d+(?:[.,:]\d+)*")
_EN_NUMWORDS = re.compile(
    r"\b(?:zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
    r"sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|"
    r"thousand|million)\b"
)
_CURRENCY_FIRST = re.compile(r"([$＄¥￥€])\s*(\d[\d,]*(?:\.\d+)?)")
_CURRENCY_WORD = {"$": "dollars", "＄": "dollars", "¥": "yuan", "￥": "yuan", "€": "euros"}
_ZEROS = re.compile(r"0(?:[\s-]*(?:and\s+)?0)*")
_PUNCT = re.compile(r"[^\w\s%]+")
_SPACES = re.compile(r"\s+")


def normalise(text: str, language: str) -> str:
    """Lower case, no punctuation, numbers collapsed to ``0`` (``%`` and currency kept as words)."""
    t = text.casefold()
    if language == "zh":
        t = t.replace("百分之", "%")
        t = _CURRENCY_FIRST.sub(r"\2元", t)  # ¥99 is said 九十九元
        t = re.sub(r"[$＄¥￥]", "元", t)
        t = _DIGITS.sub("0", t)
        t = _ZH_NUMBER.sub("0", t)
        t = re.sub(r"%\s*0", "0%", t)
        t = _PUNCT.sub("", t.replace("％", "%"))
        t = _SPACES.sub("", t)
        return re.sub(r"0+", "0", t)
    t = t.replace("’", "'")
    # "$79" is said "seventy nine dollars": the amount first, then the currency word.
    t = _CURRENCY_FIRST.sub(lambda m: f" {m.group(2)} {_CURRENCY_WORD[m.group(1)]} ", t)
    t = re.sub(r"[$＄¥￥€]", lambda m: f" {_CURRENCY_WORD[m.group(0)]} ", t)
    t = t.replace("%", " percent ")
    t = _DIGITS.sub(" 0 ", t)
    t = _EN_NUMWORDS.sub("0", t)
    t = _PUNCT.sub(lambda m: "" if m.group(0) == "'" else " ", t)
    t = _ZEROS.sub("0", _SPACES.sub(" ", t).strip())
    return t


# --------------------------------------------------------------------------------------------------- patterns
_ZH_NUM_ANY = rf"(?:\d+(?:\.\d+)?|[{_ZH_NUMERAL}]{{1,6}}(?:点[{_ZH_NUMERAL}]+)?)"
_ZH_UNIT = re.compile(
    rf"{_ZH_NUM_ANY}\s*(?:克|千克|公斤|斤|毫升|升|个?小时|分钟|秒|天|个?月|年|毫安|mah|瓦|伏|厘米|公分|毫米|米|"
    r"英寸|寸|度|℃|层|倍|%|档|分贝|赫兹|万次|次|码|岁|支|片|颗|粒|种|色)",
    re.IGNORECASE,
)
_ZH_COUNT = re.compile(rf"{_ZH_NUM_ANY}\s*(?:件|个|瓶|盒|包|袋|单|份|套|组|号|罐|箱)")
_ZH_NUMBER_ANY = re.compile(rf"\d|[{_ZH_NUMERAL}]{{2,}}|百分之")
_ZH_PRICE = re.compile(r"[¥￥$]|元|块钱|\d\s*块|[零一二两三四五六七八九十百千几]块|毛钱|折|券|价")
_EN_NUM = r"(?:\d[\d,]*(?:\.\d+)?|(?:a |an )?(?:one|two|three|four|five|six|seven|eight|nine|ten|twelve|fifteen|"
_EN_NUM += r"twenty|thirty|forty|fifty|sixty|hundred|thousand|couple of|few))"
_EN_UNIT = re.compile(
    rf"\b{_EN_NUM}[\s-]*(?:grams?|g|kg|kilos?|pounds?|lbs?|ounces?|oz|ml|milliliters?|liters?|litres?|l|hours?|"
    r"hrs?|minutes?|mins?|seconds?|days?|weeks?|months?|years?|mah|watts?|w|volts?|v|inch(?:es)?|in|cm|mm|meters?|"
    r"feet|foot|ft|degrees?|layers?|percent|%|times|colou?rs?|sizes?|settings?|modes?|levels?|speeds?|shades?|"
    r"spf|uses|washes|charges?)\b",
    re.IGNORECASE,
)
_EN_COUNT = re.compile(rf"\b{_EN_NUM}\s+(?:pieces?|packs?|bottles?|boxes|sets?|units?|items?|orders?|left)\b", re.I)
_EN_NUMBER_ANY = re.compile(r"\d|" + _EN_NUMWORDS.pattern, re.IGNORECASE)
_EN_PRICE = re.compile(
    r"[$¥€£]|\b(?:dollars?|bucks|cents?|price[sd]?|coupons?|codes?|off|discount\w*|deals?|sale)\b|%\s*off",
    re.IGNORECASE,
)


def _units(text: str, language: str) -> int:
    if language == "zh":
        return len(re.findall(r"[\u3400-\u9fff]", text)) + len(re.findall(r"[A-Za-z0-9]+", text))
    return len(text.split())


_EN_STOP = frozenset(
    "with from that this your have for and the are was per each of in on to a an it its is".split()  # noqa: SIM905
)


def _tokens(text: str, language: str) -> frozenset[str]:
    """Content tokens for attribute matching: CJK character pairs (zh) or words of 4+ letters (en), no numbers."""
    if language == "zh":
        runs = re.findall(r"[\u3400-\u9fff]+", re.sub(f"[{_ZH_NUMERAL}]", " ", text))
        return frozenset(r[i : i + 2] for r in runs for i in range(len(r) - 1))
    words = re.findall(r"[a-z][a-z'-]{3,}", text.casefold())
    return frozenset(w.rstrip("s") for w in words if w not in _EN_STOP)


def _bucket(value: float, edges: Sequence[float]) -> int:
    return sum(value >= e for e in edges)


# ---------------------------------------------------------------------------------------------------- features
@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """How sentences become hashed features; stored in every model so inference rebuilds the same columns.

    ``context_weight`` scales the neighbours' features; ``structure_weight`` the sentence's own structural ones.
    """

    language: str
    n_features: int = 1 << 18
    char_ngrams: tuple[int, int] = (1, 4)
    word_ngrams: tuple[int, int] = (0, 0)
    context_char_ngrams: tuple[int, int] = (1, 2)
    context_word_ngrams: tuple[int, int] = (0, 0)
    context_weight: float = 0.5
    structure_weight: float = 1.0
    groups: tuple[str, ...] = ("text", "structure", "pause", "context")
    feature_version: int = FEATURE_VERSION

    @classmethod
    def for_language(cls, language: str, n_features: int = 1 << 18, groups: Sequence[str] | None = None) -> FeatureSpec:
        """The defaults: character 1-4-grams for Chinese, word 1-2 + character 2-5-grams for English; ``groups``
        picks feature groups (``text``, ``structure``, ``pause``, ``context``; ``cues`` is optional)."""
        if language == "zh":
            spec = cls("zh", n_features, (1, 4), (0, 0), (1, 2), (0, 0))
        else:
            spec = cls(language, n_features, (2, 5), (1, 2), (0, 0), (1, 1))
        return replace(spec, groups=tuple(groups)) if groups is not None else spec

    def to_json(self) -> dict[str, Any]:
        """The spec as a JSON object (for the model header)."""
        return {
            "language": self.language,
            "n_features": self.n_features,
            "char_ngrams": list(self.char_ngrams),
            "word_ngrams": list(self.word_ngrams),
            "context_char_ngrams": list(self.context_char_ngrams),
            "context_word_ngrams": list(self.context_word_ngrams),
            "context_weight": self.context_weight,
            "structure_weight": self.structure_weight,
            "groups": list(self.groups),
            "feature_version": self.feature_version,
            "hasher": "sklearn.FeatureHasher(input_type='pair', alternate_sign=False), murmurhash3_32 seed 0",
            "structural_features": list(STRUCTURAL_FEATURES),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FeatureSpec:
        """Read a spec written by :meth:`to_json`."""

        def pair(key: str) -> tuple[int, int]:
            a, b = data[key]
            return int(a), int(b)

        return cls(
            language=str(data["language"]),
            n_features=int(data["n_features"]),
            char_ngrams=pair("char_ngrams"),
            word_ngrams=pair("word_ngrams"),
            context_char_ngrams=pair("context_char_ngrams"),
            context_word_ngrams=pair("context_word_ngrams"),
            context_weight=float(data["context_weight"]),
            structure_weight=float(data["structure_weight"]),
            groups=tuple(str(g) for g in data["groups"]),
            feature_version=int(data["feature_version"]),
        )


def _char_grams(text: str, lo: int, hi: int, out: Counter[str], prefix: str, language: str) -> None:
    if lo <= 0:
        return
    # English: grams inside words, padded (like scikit-learn's char_wb); Chinese: the whole sentence, marked at
    # both ends.
    pieces = [f"<{text}>"] if language == "zh" else [f" {w} " for w in text.split()]
    for piece in pieces:
        for n in range(lo, hi + 1):
            for i in range(len(piece) - n + 1):
                out[prefix + piece[i : i + n]] += 1


def _word_grams(text: str, lo: int, hi: int, out: Counter[str], prefix: str) -> None:
    if lo <= 0:
        return
    words = text.split()
    for n in range(lo, hi + 1):
        for i in range(len(words) - n + 1):
            out[prefix + " ".join(words[i : i + n])] += 1


def _normalised_pairs(grams: Counter[str], weight: float) -> list[tuple[str, float]]:
    norm = math.sqrt(sum(v * v for v in grams.values()))
    if not norm:
        return []
    return [(g, weight * v / norm) for g, v in grams.items()]


def _structure(
    k: int,
    sentences: Sequence[_Timed],
    segment_of: Sequence[ProductSegment | None],
    all_keys: Any,
    attribute_tokens: Mapping[str, frozenset[str]],
    language: str,
) -> list[str]:
    """Structural feature names of sentence ``k`` (see :data:`STRUCTURAL_FEATURES`)."""
    s = sentences[k]
    text = s.text
    names: list[str] = []
    seg = segment_of[k]
    if seg is not None:
        pos, size = k - seg.first_sentence, seg.last_sentence - seg.first_sentence + 1
        if pos == 0:
            names.append("seg_first")
        if pos == 1:
            names.append("seg_second")
        if pos == size - 1:
            names.append("seg_last")
        names.append(f"seg_relpos={min(4, int(5 * pos / size))}")
        if size <= 3:
            names.append("seg_short")
        if seg.product_id is None:
            names.append("no_product")
    n = len(sentences)
    if k < 2:
        names.append("stream_start")
    if k >= n - 2:
        names.append("stream_end")
    zh = language == "zh"
    if (_ZH_NUMBER_ANY if zh else _EN_NUMBER_ANY).search(text):
        names.append("number")
    if (_ZH_UNIT if zh else _EN_UNIT).search(text):
        names.append("number_unit")
    if (_ZH_COUNT if zh else _EN_COUNT).search(text):
        names.append("number_count")
    if (_ZH_PRICE if zh else _EN_PRICE).search(text):
        names.append("price_pattern")
    if all_keys:
        found = product_mentions(text, all_keys)
        own = seg.product_id if seg is not None else None
        if own is not None and own in found:
            names.append("product")
        if any(pid != own for pid in found):
            names.append("other_product")
    pid = seg.product_id if seg is not None else None
    if pid is not None and pid in attribute_tokens and attribute_tokens[pid] & _tokens(text, language):
        names.append("attribute")
    if "?" in text or "？" in text:
        names.append("question")
    if "!" in text or "！" in text:
        names.append("exclaim")
    names.append(f"len={_bucket(_units(text, language), (4, 8, 16, 32))}")
    if k > 0:
        names.append(f"gap_before={_bucket(s.start - sentences[k - 1].end, (0.3, 0.8, 1.5))}")
    if k + 1 < n:
        names.append(f"gap_after={_bucket(sentences[k + 1].start - s.end, (0.3, 0.8, 1.5))}")
    return names


def sentence_features(
    sentences: Sequence[_Timed],
    segments: Sequence[ProductSegment],
    products: Sequence[Product],
    spec: FeatureSpec,
) -> list[list[tuple[str, float]]]:
    """The ``(feature, value)`` pairs of every sentence, ready for the hasher.

    Args:
        sentences: a whole recording's sentences in order (position ``k`` is sentence ``k``).
        segments: its product segments (contiguous, covering the sentences); sentences outside any get no
            segment features.
        products: the product list, for name mentions (may be empty).
        spec: n-gram ranges and weights.
    """
    language = spec.language
    segment_of: list[ProductSegment | None] = [None] * len(sentences)
    for seg in segments:
        for k in range(max(0, seg.first_sentence), min(len(sentences), seg.last_sentence + 1)):
            segment_of[k] = seg
    all_keys = product_keys(products) if products else ()
    texts = [normalise(s.text, language) for s in sentences]
    attributes = {p.id: frozenset().union(*(_tokens(a, language) for a in p.attributes)) for p in products}
    groups = set(spec.groups)
    structure: list[list[str]] = [[] for _ in sentences]
    if "structure" in groups:
        structure = [_structure(k, sentences, segment_of, all_keys, attributes, language) for k in range(len(texts))]
        if "pause" not in groups:
            structure = [[n for n in names if not n.startswith("gap_")] for names in structure]
    if "cues" in groups:
        for k, s in enumerate(sentences):
            structure[k] += _cue_names(s.text, language)
    context: list[list[tuple[str, float]]] = []
    for k, text in enumerate(texts):
        grams: Counter[str] = Counter()
        _char_grams(text, *spec.context_char_ngrams, grams, "", language)
        _word_grams(text, *spec.context_word_ngrams, grams, "")
        pairs = _normalised_pairs(grams, 1.0)
        pairs += [(f"s:{name}", spec.structure_weight) for name in structure[k]]
        context.append(pairs)
    out: list[list[tuple[str, float]]] = []
    for k, text in enumerate(texts):
        pairs = []
        if "text" in groups:
            own: Counter[str] = Counter()
            _char_grams(text, *spec.char_ngrams, own, "c:", language)
            words: Counter[str] = Counter()
            _word_grams(text, *spec.word_ngrams, words, "w:")
            pairs += _normalised_pairs(own, 1.0) + _normalised_pairs(words, 1.0)
        pairs += [(f"s:{name}", spec.structure_weight) for name in structure[k]]
        if "context" in groups:
            for prefix, j in (("p:", k - 1), ("n:", k + 1)):
                if 0 <= j < len(texts):
                    pairs += [(prefix + name, spec.context_weight * value) for name, value in context[j]]
                else:
                    pairs.append((prefix + "none", spec.context_weight))
        pairs.append(("bias", 1.0))
        out.append(pairs)
    return out


def _cue_names(text: str, language: str) -> list[str]:
    """The cue lexicons' verdict as features (optional group ``cues``; ties a model to :mod:`clipper.cues`)."""
    from clipper.cues import sentence_cues

    c = sentence_cues(text, language)
    names = [f"cue_selling={_bucket(c.selling, (0.25, 0.5, 0.75))}"]
    for flag in ("price_or_urgency", "chatter", "transition", "urgency", "reply", "greeting"):
        if getattr(c, flag):
            names.append(f"cue_{flag}")
    return names


def _hash(rows: list[list[tuple[str, float]]], n_features: int) -> csr_matrix:
    from sklearn.feature_extraction import FeatureHasher

    hasher = FeatureHasher(n_features=n_features, input_type="pair", alternate_sign=False)
    return hasher.transform(rows).tocsr()


def label_segments(labels: Sequence[SentenceLabel]) -> tuple[ProductSegment, ...]:
    """Segments from labelled sentences' ``product_id`` runs (when no product list is at hand)."""
    segments: list[ProductSegment] = []
    for k, s in enumerate(labels):
        if segments and segments[-1].product_id == s.product_id:
            last = segments[-1]
            segments[-1] = ProductSegment(last.product_id, last.first_sentence, k, last.label)
        else:
            segments.append(ProductSegment(s.product_id, k, k, s.product_id or ""))
    return tuple(segments)


# ------------------------------------------------------------------------------------------------------ model
@dataclass(frozen=True, slots=True, eq=False)
class SentenceModel:
    """A trained per-language sentence classifier (weights of the hashed features that carry any).

    ``rows`` are the hashed column indices with non-zero weights, ``coef`` their weights (``len(rows)`` x
    ``len(classes)``), ``intercept`` one per class. ``info`` is the sidecar's content (sources, label counts,
    metrics) once saved or loaded.
    """

    spec: FeatureSpec
    classes: tuple[str, ...]
    rows: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    info: Mapping[str, Any] = field(default_factory=dict)

    @property
    def language(self) -> str:
        """The language the model reads."""
        return self.spec.language

    def _dense(self) -> np.ndarray:
        cached = _DENSE_CACHE.get(id(self))
        if cached is None or cached[0] is not self:
            weights = np.zeros((self.spec.n_features, len(self.classes)), dtype=np.float32)
            weights[self.rows] = self.coef
            cached = (self, weights)
            _DENSE_CACHE.clear()  # one model at a time is in use; keep memory flat
            _DENSE_CACHE[id(self)] = cached
        return cached[1]

    def predict_proba(
        self, sentences: Sequence[_Timed], segments: Sequence[ProductSegment], products: Sequence[Product]
    ) -> np.ndarray:
        """Class probabilities of every sentence (rows in sentence order, columns in :attr:`classes` order)."""
        if not sentences:
            return np.zeros((0, len(self.classes)), dtype=np.float64)
        x = _hash(sentence_features(sentences, segments, products, self.spec), self.spec.n_features)
        logits = np.asarray(x @ self._dense(), dtype=np.float64) + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return np.asarray(p / p.sum(axis=1, keepdims=True))

    def predict(
        self, sentences: Sequence[_Timed], segments: Sequence[ProductSegment], products: Sequence[Product]
    ) -> tuple[str, ...]:
        """The most likely kind of every sentence."""
        proba = self.predict_proba(sentences, segments, products)
        return tuple(self.classes[int(i)] for i in proba.argmax(axis=1))


_DENSE_CACHE: dict[int, tuple[SentenceModel, np.ndarray]] = {}


def model_filename(language: str, version: int) -> str:
    """``detector-<lang>-v<N>.npz``."""
    return f"detector-{language}-v{version}.npz"


def save_model(model: SentenceModel, directory: str | Path, info: Mapping[str, Any] | None = None) -> Path:
    """Write ``model`` as the next version for its language in ``directory``; return the ``.npz`` path.

    The sidecar ``.json`` gets the model's own ``info`` (training sources, label counts) and ``info`` (e.g. the
    cross-validation), plus the format, version, language, feature spec, creation time and the ``.npz``'s SHA-256.
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    versions = [m.version for m in installed_models([folder]) if m.language == model.language]
    version = max(versions, default=0) + 1
    path = folder / model_filename(model.language, version)
    header = {"format": FORMAT, "language": model.language, "version": version, "spec": model.spec.to_json()}
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(
        tmp,
        header=np.array(json.dumps(header)),
        classes=np.array(model.classes),
        rows=model.rows.astype(np.int32),
        coef=model.coef.astype(np.float16),
        intercept=model.intercept.astype(np.float32),
    )
    tmp.replace(path)
    sidecar = {
        **dict(model.info),
        **dict(info or {}),
        **header,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "file": path.name,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "classes": list(model.classes),
        "weights": len(model.rows),
    }
    path.with_suffix(".json").write_text(json.dumps(sidecar, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return path


def load_model(path: str | Path) -> SentenceModel:
    """Read a model written by :func:`save_model` (its sidecar is optional).

    Raises:
        DetectorError: missing or unreadable file, another format, or another feature version.
    """
    p = Path(path)
    subject = f"detector model {p}"
    try:
        stat = p.stat()
    except OSError:
        raise DetectorError(subject, "file not found") from None
    return _load_cached(str(p.resolve()), stat.st_mtime_ns, stat.st_size, subject)


_LOADED: dict[tuple[str, int, int], SentenceModel] = {}


def _load_cached(path: str, mtime: int, size: int, subject: str) -> SentenceModel:
    key = (path, mtime, size)
    if key in _LOADED:
        return _LOADED[key]
    try:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(str(data["header"]))
            classes = tuple(str(c) for c in data["classes"])
            rows = np.asarray(data["rows"], dtype=np.int64)
            coef = np.asarray(data["coef"], dtype=np.float32)
            intercept = np.asarray(data["intercept"], dtype=np.float64)
    except (OSError, ValueError, KeyError) as exc:
        raise DetectorError(subject, f"not a detector model ({exc})") from None
    if header.get("format") != FORMAT:
        raise DetectorError(subject, f"format {header.get('format')!r}, expected {FORMAT!r}")
    spec = FeatureSpec.from_json(header["spec"])
    if spec.feature_version != FEATURE_VERSION:
        raise DetectorError(
            subject, f"made with feature version {spec.feature_version}; this mcn reads {FEATURE_VERSION} (retrain)"
        )
    if coef.shape != (len(rows), len(classes)) or intercept.shape != (len(classes),):
        raise DetectorError(subject, "weight shapes do not match the classes")
    unknown = set(classes) - set(SENTENCE_KINDS)
    if unknown:
        raise DetectorError(subject, f"unknown classes {sorted(unknown)}")
    sidecar = Path(path).with_suffix(".json")
    info: dict[str, Any] = {}
    if sidecar.is_file():
        try:
            info = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            info = {}
    model = SentenceModel(spec, classes, rows, coef, intercept, info)
    if len(_LOADED) > 8:
        _LOADED.clear()
    _LOADED[key] = model
    return model


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """An installed model file: where it is, its language and version."""

    path: Path
    language: str
    version: int

    def sidecar(self) -> dict[str, Any]:
        """The ``.json`` sidecar's content (empty when missing or unreadable)."""
        try:
            data = json.loads(self.path.with_suffix(".json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return {}
        return data if isinstance(data, dict) else {}


def installed_models(directories: Iterable[str | Path]) -> list[ModelInfo]:
    """Every ``detector-<lang>-v<N>.npz`` in ``directories``, by directory, language, then version."""
    found: list[ModelInfo] = []
    for directory in directories:
        folder = Path(directory)
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            m = MODEL_FILE.match(path.name)
            if m:
                found.append(ModelInfo(path, m.group("lang"), int(m.group("version"))))
    return sorted(found, key=lambda i: (str(i.path.parent), i.language, i.version))


def newest_model(language: str, directories: Sequence[str | Path]) -> ModelInfo | None:
    """The highest version for ``language`` in the first directory that has one."""
    for directory in directories:
        candidates = [m for m in installed_models([directory]) if m.language == language]
        if candidates:
            return max(candidates, key=lambda m: m.version)
    return None


# --------------------------------------------------------------------------------------------------- training
@dataclass(frozen=True, slots=True)
class TrainingSource:
    """One labelled recording to learn from.

    ``group`` keeps a stream on one side of a cross-validation split (default: ``labels.source``); ``products``
    give name mentions (label files carry only product ids, so mentions are absent for them); ``origin`` says
    where it came from (``corpus``, ``script``, a label file's path) for the model's sidecar.
    """

    labels: SourceLabels
    products: tuple[Product, ...] = ()
    group: str = ""
    category: str = ""
    origin: str = ""

    @property
    def key(self) -> str:
        """The cross-validation group."""
        return self.group or self.labels.source


@dataclass(frozen=True, slots=True)
class TrainOptions:
    """Training settings: ``c`` is the inverse L2 strength, ``augment`` the re-segmented copies per stream (see
    :func:`resegment`: ``split`` is the chance of a cut at each comma, ``split_price`` whether price lines are cut
    too), ``prune`` drops weight rows whose largest absolute weight is below it (keeps the file small), ``groups``
    the feature groups (default: all but ``cues``)."""

    c: float = 16.0
    augment: int = 2
    split: float = 0.6
    split_price: bool = True
    seed: int = 0
    prune: float = 0.02
    n_features: int = 1 << 18
    max_iter: int = 3000
    groups: tuple[str, ...] | None = None

    def spec(self, language: str) -> FeatureSpec:
        """The feature spec these options train with."""
        return FeatureSpec.for_language(language, self.n_features, self.groups)


_CLAUSE = re.compile(r"[，,；;：:]")


def resegment(
    labels: Sequence[SentenceLabel],
    language: str,
    rng: random.Random,
    split: float = 0.6,
    split_price: bool = True,
) -> tuple[SentenceLabel, ...]:
    """A copy of ``labels`` cut the way ASR might cut it: lines split at commas (each clause boundary with
    probability ``split``), some same-kind neighbours merged, some question marks dropped.

    Every piece keeps its line's kind. For a price line (``split_price``) that is what the labelling rules say: a
    line that mixes selling and a price call is ``price`` as a whole, and ASR cuts such lines into fragments
    ("It's 18.99 a bag,") that must not look like selling talk.
    """
    pieces: list[SentenceLabel] = []
    joiner = "，" if language == "zh" else ", "
    for s in labels:
        parts = [p.strip() for p in _CLAUSE.split(s.text) if p.strip()]
        if len(parts) < 2 or (s.kind == "price" and not split_price):
            pieces.append(s)
            continue
        groups: list[list[str]] = [[parts[0]]]
        for k, part in enumerate(parts[1:], start=1):
            done = _units(joiner.join(groups[-1]), language) >= 3
            rest = _units(joiner.join(parts[k:]), language) >= 3
            if done and rest and rng.random() < split:
                groups.append([part])
            else:
                groups[-1].append(part)
        texts = [joiner.join(g) for g in groups]
        total = sum(len(t) for t in texts) or 1
        cursor = s.start
        for text in texts:
            end = cursor + (s.end - s.start) * len(text) / total
            pieces.append(SentenceLabel(0, cursor, end, text, s.kind, s.product_id))
            cursor = end
    merged: list[SentenceLabel] = []
    for s in pieces:
        prev = merged[-1] if merged else None
        if (
            prev is not None
            and prev.kind == s.kind
            and prev.product_id == s.product_id
            and rng.random() < 0.25
            and _units(prev.text, language) + _units(s.text, language) <= (40 if language == "zh" else 60)
        ):
            sep = "" if language == "zh" else " "
            merged[-1] = SentenceLabel(0, prev.start, s.end, f"{prev.text}{sep}{s.text}", s.kind, s.product_id)
            continue
        merged.append(s)
    out = []
    for n, s in enumerate(merged):
        text = s.text
        if rng.random() < 0.5:
            text = text.replace("?", "").replace("？", "")
        out.append(SentenceLabel(n, s.start, s.end, text, s.kind, s.product_id))
    return tuple(out)


def _as_sentences(labels: Sequence[SentenceLabel]) -> list[Sentence]:
    return [Sentence(k, s.start, s.end, s.text, ()) for k, s in enumerate(labels)]


def source_segments(
    labels: Sequence[SentenceLabel], products: Sequence[Product], language: str
) -> tuple[ProductSegment, ...]:
    """Segments as inference would see them: found from the product list when there is one (so position features
    match what :func:`clipper.segments.find_product_segments` gives at run time), else the labels' product runs."""
    if products:
        return find_product_segments(_as_sentences(labels), products, language)
    return label_segments(labels)


def _rows(source: TrainingSource, labels: Sequence[SentenceLabel], spec: FeatureSpec) -> list[list[tuple[str, float]]]:
    segments = source_segments(labels, source.products, spec.language)
    return sentence_features(labels, segments, source.products, spec)


def _dataset(
    sources: Sequence[TrainingSource], spec: FeatureSpec, options: TrainOptions
) -> tuple[list[list[tuple[str, float]]], list[str], list[str]]:
    rows: list[list[tuple[str, float]]] = []
    kinds: list[str] = []
    groups: list[str] = []
    rng = random.Random(options.seed)
    for source in sources:
        versions = [source.labels.sentences]
        versions += [
            resegment(source.labels.sentences, spec.language, rng, options.split, options.split_price)
            for _ in range(options.augment)
        ]
        for labels in versions:
            rows.extend(_rows(source, labels, spec))
            kinds.extend(s.kind for s in labels)
            groups.extend(source.key for _ in labels)
    return rows, kinds, groups


def _check_sources(sources: Sequence[TrainingSource], language: str) -> None:
    if not sources:
        raise DetectorError(f"detector training ({language})", "no labelled sources")
    wrong = [s.labels.source for s in sources if s.labels.language != language]
    if wrong:
        raise DetectorError(f"detector training ({language})", f"sources in another language: {', '.join(wrong)}")


def _fit(
    rows: list[list[tuple[str, float]]], kinds: Sequence[str], spec: FeatureSpec, options: TrainOptions
) -> SentenceModel:
    from sklearn.linear_model import LogisticRegression

    classes = sorted(set(kinds), key=SENTENCE_KINDS.index)
    if len(classes) < 2:
        raise DetectorError(f"detector training ({spec.language})", f"only one kind in the labels ({classes})")
    from threadpoolctl import threadpool_limits

    x = _hash(rows, spec.n_features)
    # Fit on the columns that occur only (a few thousand of the 2^18), then put the weights back in place.
    used = np.unique(x.indices)
    clf = LogisticRegression(C=options.c, class_weight="balanced", max_iter=options.max_iter)
    # One thread: the data is tiny and OpenMP threads on a busy machine make lbfgs 100x slower.
    with threadpool_limits(limits=1):
        clf.fit(x[:, used], kinds)
    coef = np.zeros((len(clf.classes_) if len(clf.classes_) > 2 else 1, spec.n_features))
    coef[:, used] = clf.coef_
    intercept = np.asarray(clf.intercept_, dtype=np.float64)
    if len(clf.classes_) == 2:
        # Binary logistic regression has one weight vector; half of it each way gives the same softmax.
        coef = np.vstack([-coef[0] / 2, coef[0] / 2])
        intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
    weights = coef.T  # n_features x n_classes
    largest = np.abs(weights).max(axis=1)
    keep = np.flatnonzero((largest >= options.prune) & (largest > 0))
    return SentenceModel(
        spec,
        tuple(str(c) for c in clf.classes_),
        keep.astype(np.int64),
        weights[keep].astype(np.float16).astype(np.float32),  # what the file stores, so metrics match it
        intercept,
    )


def train_model(sources: Sequence[TrainingSource], language: str, options: TrainOptions | None = None) -> SentenceModel:
    """Train the ``language`` model on ``sources`` (all of them; see :func:`cross_validate` for metrics).

    Raises:
        DetectorError: no sources, a source in another language, or fewer than two kinds in the labels.
    """
    opts = options or TrainOptions()
    _check_sources(sources, language)
    spec = opts.spec(language)
    rows, kinds, _ = _dataset(sources, spec, opts)
    model = _fit(rows, kinds, spec, opts)
    counts = Counter(s.kind for src in sources for s in src.labels.sentences)
    info = {
        "sources": [
            {
                "source": s.labels.source,
                "origin": s.origin,
                "category": s.category,
                "sentences": len(s.labels.sentences),
            }
            for s in sources
        ],
        "label_counts": {k: counts.get(k, 0) for k in SENTENCE_KINDS},
        "train_options": {
            "c": opts.c,
            "augment": opts.augment,
            "split": opts.split,
            "split_price": opts.split_price,
            "seed": opts.seed,
            "prune": opts.prune,
        },
    }
    return SentenceModel(model.spec, model.classes, model.rows, model.coef, model.intercept, info)


@dataclass(frozen=True, slots=True)
class KindMetrics:
    """Precision, recall and F1 of one kind, with its number of true sentences."""

    kind: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True, slots=True)
class CrossValidation:
    """Grouped cross-validation result: per-kind metrics on the original (not re-segmented) sentences.

    ``predictions`` maps each source to its held-out predicted kinds (in sentence order).
    """

    language: str
    folds: int
    groups: int
    sentences: int
    accuracy: float
    kinds: tuple[KindMetrics, ...]
    predictions: Mapping[str, tuple[str, ...]]

    def to_json(self) -> dict[str, Any]:
        """The metrics as a JSON object (for the sidecar)."""
        return {
            "method": "grouped (by stream) cross-validation, original sentences",
            "folds": self.folds,
            "groups": self.groups,
            "sentences": self.sentences,
            "accuracy": round(self.accuracy, 4),
            "kinds": {
                k.kind: {
                    "precision": round(k.precision, 4),
                    "recall": round(k.recall, 4),
                    "f1": round(k.f1, 4),
                    "support": k.support,
                }
                for k in self.kinds
            },
        }


def cross_validate(
    sources: Sequence[TrainingSource], language: str, options: TrainOptions | None = None, folds: int = 0
) -> CrossValidation:
    """Grouped cross-validation: each fold's test streams are never trained on (nor their re-segmented copies).

    ``folds`` 0 means leave one group out when there are at most 12 groups, else 5 folds.

    Raises:
        DetectorError: as :func:`train_model`, or fewer than two groups.
    """
    opts = options or TrainOptions()
    _check_sources(sources, language)
    spec = opts.spec(language)
    groups = sorted({s.key for s in sources})
    if len(groups) < 2:
        raise DetectorError(f"detector training ({language})", "cross-validation needs at least two streams")
    k = folds or (len(groups) if len(groups) <= 12 else 5)
    k = min(k, len(groups))
    fold_of = {g: n % k for n, g in enumerate(groups)}
    truth: list[str] = []
    predicted: list[str] = []
    by_source: dict[str, tuple[str, ...]] = {}
    for fold in range(k):
        train = [s for s in sources if fold_of[s.key] != fold]
        test = [s for s in sources if fold_of[s.key] == fold]
        rows, kinds, _ = _dataset(train, spec, opts)
        if len(set(kinds)) < 2:
            continue
        model = _fit(rows, kinds, spec, opts)
        for source in test:
            labels = source.labels.sentences
            segments = source_segments(labels, source.products, language)
            guess = model.predict(labels, segments, source.products)
            by_source[source.labels.source] = guess
            truth.extend(s.kind for s in labels)
            predicted.extend(guess)
    metrics = []
    for kind in SENTENCE_KINDS:
        tp = sum(1 for t, p in zip(truth, predicted, strict=True) if t == kind and p == kind)
        n_pred = sum(1 for p in predicted if p == kind)
        n_true = sum(1 for t in truth if t == kind)
        precision = tp / n_pred if n_pred else 0.0
        recall = tp / n_true if n_true else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        metrics.append(KindMetrics(kind, precision, recall, f1, n_true))
    accuracy = sum(t == p for t, p in zip(truth, predicted, strict=True)) / len(truth) if truth else 0.0
    return CrossValidation(language, k, len(groups), len(truth), accuracy, tuple(metrics), by_source)
