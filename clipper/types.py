"""Typed results shared by every clip-factory step.

All times are seconds in the source recording unless a docstring says otherwise. Dataclasses are frozen so a
step's result can be cached, hashed and passed between Prefect tasks without being mutated on the way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Language = Literal["zh", "en"]


@dataclass(frozen=True, slots=True)
class Word:
    """One recognised word (a single character for Chinese) with its time span."""

    start: float
    end: float
    text: str
    probability: float = 1.0


@dataclass(frozen=True, slots=True)
class Sentence:
    """A contiguous run of words that reads as one sentence.

    ``index`` is the sentence's position in :attr:`Transcript.sentences`; LLM backends and ``clips.json`` refer
    to sentences by this index.
    """

    index: int
    start: float
    end: float
    text: str
    words: tuple[Word, ...]

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Transcript:
    """Words and sentences of one recording.

    ``origin`` says where the text came from: ``asr`` (faster-whisper) or ``srt``/``vtt`` (a supplied file,
    whose word times are interpolated inside each cue).
    """

    language: str
    duration: float
    words: tuple[Word, ...]
    sentences: tuple[Sentence, ...]
    origin: str = "asr"


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """What :func:`clipper.media.probe` learned about a media file."""

    path: str
    size_bytes: int
    duration: float
    container: str
    has_video: bool
    has_audio: bool
    width: int = 0
    height: int = 0
    rotation: int = 0
    fps: float = 0.0
    video_codec: str = ""
    audio_codec: str = ""
    variable_frame_rate: bool = False
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def display_width(self) -> int:
        """Width as shown to a viewer, after applying the rotation side data."""
        return self.height if self.rotation % 180 else self.width

    @property
    def display_height(self) -> int:
        return self.width if self.rotation % 180 else self.height


@dataclass(frozen=True, slots=True)
class Product:
    """A product from the brand's list (or the affiliate alliance).

    ``attributes`` are key facts from the product page (材质, 成分, "12 oz", "IPX5"): the detector treats talk that
    mentions them as talk about the product.
    """

    id: str
    name: str
    aliases: tuple[str, ...] = ()
    price: float | None = None
    commission_rate: float | None = None
    link: str | None = None
    attributes: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """The name followed by every alias, for matching spoken text."""
        return (self.name, *self.aliases)


@dataclass(frozen=True, slots=True)
class ProductSegment:
    """A span of sentences (inclusive) during which one product is on air.

    ``product_id`` is ``None`` when no product list was given and the segment is a topic found in the text.
    """

    product_id: str | None
    first_sentence: int
    last_sentence: int
    label: str = ""

    def contains(self, sentence_index: int) -> bool:
        return self.first_sentence <= sentence_index <= self.last_sentence


@dataclass(frozen=True, slots=True)
class SellingPoint:
    """A contiguous sentence range a detector judged worth a clip."""

    first_sentence: int
    last_sentence: int
    point: str
    hook: str
    title: str
    score: float
    reason: str
    product_id: str | None = None

    @property
    def sentence_ids(self) -> tuple[int, ...]:
        return tuple(range(self.first_sentence, self.last_sentence + 1))


@dataclass(frozen=True, slots=True)
class PlannedClip:
    """A clip to render: a sentence range with padded cut points and its copy."""

    id: str
    source_start: float
    source_end: float
    sentences: tuple[int, ...]
    product_id: str | None
    points: tuple[str, ...]
    hook: str
    title: str
    score: float
    reason: str

    @property
    def duration(self) -> float:
        return self.source_end - self.source_start


@dataclass(frozen=True, slots=True)
class RenderedClip:
    """A planned clip after rendering, with what probing the output found."""

    plan: PlannedClip
    path: str
    width: int
    height: int
    duration: float
    size_bytes: int
