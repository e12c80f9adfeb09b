"""The data model every part of the harness speaks.

One direction of flow: a task yields Samples; a strategy turns a Sample into Requests for models and gets
Replies back; the task's scorer turns the final text into a Score; the runner writes one Record per
model x task x strategy x sample. Every type here is a plain dataclass that round-trips through JSON.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

SCHEMA_VERSION = 1  # bump when a Record or results.json field changes meaning

MediaKind = Literal["video", "audio", "image"]


@dataclass(frozen=True)
class MediaItem:
    """One media file a sample refers to. `role` says what it is for (e.g. "candidate" in DM-Match)."""

    kind: MediaKind
    path: Path
    role: str = ""

    def to_json(self) -> dict:
        return {"kind": self.kind, "path": str(self.path), "role": self.role}


@dataclass(frozen=True)
class Sample:
    """One question of a task, with any number of media items."""

    id: str
    task: str
    question: str
    media: tuple[MediaItem, ...] = ()
    options: tuple[str, ...] = ()  # empty for open answers and captions
    answer: Any = None  # option letter, short answer, or list of reference captions/keywords
    reasoning: str | None = None  # reference reasoning, where the dataset has it
    category: str = ""
    metadata: dict = field(default_factory=dict)
    answer_form: str = ""  # mcq | open | caption: stamped by the task when it loads (Task.load_samples)


# ---- the one uniform model request -------------------------------------------------------------


@dataclass(frozen=True)
class TextPart:
    text: str
    type: Literal["text"] = "text"


@dataclass(frozen=True)
class VideoPart:
    """A video file. The adapter decides frames, size and whether its soundtrack is fed; a strategy may hint
    a frame sampler ("uniform" or "ssim" keyframes) and a frame cap, which adapters apply within their card's
    budget."""

    path: Path
    type: Literal["video"] = "video"
    sampler: str = "uniform"
    max_frames: int | None = None
    with_audio: bool = True  # False: the soundtrack is not fed (modality ablation "video")


@dataclass(frozen=True)
class AudioPart:
    path: Path
    type: Literal["audio"] = "audio"


@dataclass(frozen=True)
class ImagePart:
    path: Path
    type: Literal["image"] = "image"


Part = Union[TextPart, VideoPart, AudioPart, ImagePart]


@dataclass(frozen=True)
class Message:
    role: Literal["system", "user", "assistant"]
    parts: tuple[Part, ...]

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))


@dataclass(frozen=True)
class Request:
    messages: tuple[Message, ...]
    max_new_tokens: int = 128
    temperature: float = 0.0

    def media_parts(self) -> list[Part]:
        return [p for m in self.messages for p in m.parts if not isinstance(p, TextPart)]


MODALITIES = ("av", "video", "audio", "text")


def restrict_modality(request: "Request", modality: str, has_audio=None) -> "Request":
    """The request with only the inputs of one modality ablation: video (frames, no soundtrack, no audio
    clips), audio (soundtracks and audio clips, no frames), text (the question alone). `has_audio(path)`,
    when given, lets the audio ablation leave out a silent video (it has nothing to hear) instead of sending
    a soundtrack that does not exist; a video it cannot tell about is kept, so its error stays the sample's."""
    if modality == "av":
        return request
    messages = []
    for message in request.messages:
        parts = []
        for part in message.parts:
            if isinstance(part, TextPart):
                parts.append(part)
            elif modality == "video" and isinstance(part, VideoPart):
                parts.append(dataclasses.replace(part, with_audio=False))
            elif modality == "video" and isinstance(part, ImagePart):
                parts.append(part)
            elif modality == "audio" and isinstance(part, VideoPart):
                if has_audio is None or _maybe_audible(part.path, has_audio):
                    parts.append(AudioPart(part.path))  # the video's soundtrack alone
            elif modality == "audio" and isinstance(part, AudioPart):
                parts.append(part)
        messages.append(Message(message.role, tuple(parts)))
    return dataclasses.replace(request, messages=tuple(messages))


def _maybe_audible(path: Path, has_audio) -> bool:
    try:
        return bool(has_audio(path))
    except Exception:  # unreadable: the adapter meets the file and reports it as this sample's error
        return True


@dataclass
class Reply:
    text: str
    input_tokens: int = 0
    output_tokens: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # e.g. "video has no audio track: fed video only"
    error: str | None = None  # a per-request failure the adapter caught (the strategy decides what to do)
    error_kind: str | None = None  # its type, e.g. "not_media", kept so records say what went wrong
    # the media receipt: what the model actually received, e.g. {"video": [{"frames", "timestamps", "size"}
    # or {"file", "bytes", "mime", "audio_stream"}], "audio": [{"seconds", "rate", "soundtrack"}], "images": N,
    # "tokens": {"video", "audio"}} (models.MediaReceipt; docs/models.md says what each adapter kind reports)
    media: dict | None = None
    timing: dict = field(default_factory=dict)  # seconds: decode, prepare (inputs), generate (set by the base)


# ---- scores and records --------------------------------------------------------------------------


@dataclass
class Score:
    value: float  # 1.0/0.0 for right/wrong metrics; 0..1 for graded ones
    parsed: Any = None  # the extracted answer (a letter, a normalised string, ...)
    unparseable: bool = False
    detail: dict = field(default_factory=dict)


@dataclass
class Outcome:
    """What a strategy hands back: the text to score plus how it was reached."""

    text: str
    trace: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    usage: dict = field(default_factory=dict)  # role -> {calls, input_tokens, output_tokens, seconds}
    media: list = field(default_factory=list)  # media receipts of the calls ({"role", ...Reply.media})


@dataclass
class Record:
    """One model x task x strategy x sample result; one line of samples.jsonl."""

    model: str
    task: str
    strategy: str
    sample_id: str
    key: str  # identity used by resume: card hash, task, strategy settings hash, sample id
    model_hash: str
    strategy_hash: str
    prediction: str | None = None
    parsed: Any = None
    score: float | None = None
    unparseable: bool = False
    error: dict | None = None  # {"type": ..., "message": ...}
    category: str = ""
    notes: list[str] = field(default_factory=list)
    trace: list[dict] = field(default_factory=list)
    usage: dict = field(default_factory=dict)
    seconds: float = 0.0
    modality: str = "av"  # av | video | audio | text: which inputs the models were given
    metric: str = ""  # the task's metric name (accuracy, keyword_recall, a plugin's own ...)
    graded: bool | None = None  # True: score is a 0..1 grade; False: right/wrong; None: older record
    plugins: dict = field(default_factory=dict)  # part -> "distribution version" that provided it (resume check)
    media: list = field(default_factory=list)  # what each model call received (receipts, with their role)
    audio_missing: bool = False  # an audio-visual sample reached an audio-capable target with no audio
    score_seconds: float = 0.0  # the scoring stage (a judge's generation is also in usage)
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "Record":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
