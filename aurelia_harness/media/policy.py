"""A card's `[media]` table, parsed once into a typed policy, and the one place where a request's video part,
that policy and a strategy's hints become a decode spec — for every adapter: local, isolated, served, API.

Precedence: the adapter family's defaults (`ModelAdapter.media_defaults`, e.g. the authors' frame count)
< the card's `[media]` table (< harness.toml's `[model.NAME] media = {...}`, merged into the card) <
a strategy's hints on the part (a frame sampler, a lower frame cap) < an out-of-memory retry (fewer frames).
Hints only ever lower the frame count; they never raise it past the policy.

The policy also says what the record must know about the media a model got: a picture turned upright from
its display rotation, a soundtrack cut to the model's audio limit (`audio_max_seconds`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..errors import ConfigError
from .store import VideoSpec

_TYPED = {"frames": int, "fps": float, "max_frames": int, "min_frames": int, "fps_mode": str, "min_pixels": int,
          "max_pixels": int, "max_side": int, "audio_rate": int, "audio_in_video": bool, "audio_max_seconds": float}


@dataclass(frozen=True)
class MediaPolicy:
    frames: int = 16  # uniform frames per video; with `fps`, the cap unless max_frames is set
    fps: float | None = None  # sample at this rate over the whole clip instead (capped)
    max_frames: int = 0  # cap on frames with `fps` (0: `frames`)
    min_frames: int = 0  # with `fps`: at least this many frames (a short clip)
    fps_mode: str = "spread"  # with `fps`: "spread" evenly over the clip, or "interval_end" (see decode.fps_targets)
    min_pixels: int | None = None  # lower pixel bound per frame, for processors that take one
    max_pixels: int | None = None  # frames are shrunk (never enlarged) to at most this many pixels
    max_side: int | None = None  # ... or to at most this long a side
    audio_rate: int = 16000  # Hz, mono
    audio_in_video: bool = True  # feed a video's own soundtrack beside its frames
    audio_max_seconds: float | None = None  # the model hears at most this much of a clip: cut here, with a note
    extra: dict = field(default_factory=dict)  # the family's own keys (e.g. Phi-4's dynamic_hd), read by its adapter

    @classmethod
    def from_card(cls, card, defaults: dict | None = None) -> "MediaPolicy":
        table = {**(defaults or {}), **(card.get("media", {}) or {})}
        typed, extra = {}, {}
        for key, value in table.items():
            if key not in _TYPED:
                extra[key] = value
                continue
            try:
                typed[key] = None if value is None else _TYPED[key](value)
            except (TypeError, ValueError):
                raise ConfigError(f"card {card.name}: media.{key} = {value!r} is not a {_TYPED[key].__name__}") from None
        policy = cls(**typed, extra=extra)
        if policy.frames < 1 or (policy.fps is not None and policy.fps <= 0):
            raise ConfigError(f"card {card.name}: media.frames must be at least 1 and media.fps above 0")
        if policy.fps_mode not in ("spread", "interval_end"):
            raise ConfigError(f"card {card.name}: media.fps_mode = {policy.fps_mode!r}: spread or interval_end")
        return policy

    @property
    def frame_cap(self) -> int:
        """Most frames one video may yield under this policy."""
        return (self.max_frames or self.frames) if self.fps else self.frames

    def video_spec(self, part=None, frames: int | None = None) -> VideoSpec:
        """The decode spec for a video part: this policy, narrowed by the part's hints (sampler, max_frames)
        and by `frames` (an out-of-memory retry)."""
        cap = self.frame_cap
        hint = getattr(part, "max_frames", None)
        for limit in (hint, frames):
            if limit:
                cap = min(cap, int(limit))
        sampler = getattr(part, "sampler", "uniform") or "uniform"
        if self.fps and sampler == "uniform":
            return VideoSpec(n_frames=None, fps=self.fps, max_frames=cap, min_frames=min(self.min_frames, cap),
                             fps_mode=self.fps_mode, max_side=self.max_side, max_pixels=self.max_pixels)
        return VideoSpec(n_frames=cap, max_side=self.max_side, max_pixels=self.max_pixels, sampler=sampler)

    def video(self, store, part, notes: list, frames: int | None = None):
        """The video part decoded under this policy (see video_spec), with a note on the record when its
        picture was turned upright from the container's display rotation."""
        clip = store.video(part.path, self.video_spec(part, frames))
        _note_rotation(clip, part, notes)
        return clip

    def soundtrack(self, store, part, notes: list, fed: str = "video only"):
        """The video's own soundtrack at this policy's rate, or None — with a note on the record when the
        file has none (a silent clip is normal). None, without a note, when the policy or the request
        (modality ablation "video") leaves it out. Cut to `audio_max_seconds`, with a note, when longer."""
        if not self.hears(part):
            return None
        return self._soundtrack_or_note(store.audio_or_none(part.path, self.audio_rate), part, notes, fed)

    def video_and_soundtrack(self, store, part, notes: list, fed: str = "video only", frames: int | None = None):
        """(video(...), soundtrack(...)) with the same notes, the soundtrack decoded beside the frames."""
        if not self.hears(part):
            return self.video(store, part, notes, frames), None
        clip, track = store.video_and_audio(part.path, self.video_spec(part, frames), self.audio_rate)
        _note_rotation(clip, part, notes)
        return clip, self._soundtrack_or_note(track, part, notes, fed)

    def hears(self, part) -> bool:
        """Whether a video part's own soundtrack is fed beside its frames."""
        return self.audio_in_video and getattr(part, "with_audio", True)

    def _soundtrack_or_note(self, track, part, notes: list, fed: str):
        if track is None or not len(track.samples):
            _note(notes, f"{part.path.name} has no audio track: fed {fed}")
            return None
        return self.within_limit(track, part.path, notes, "its soundtrack; the frames cover the whole clip")

    def clip(self, store, path, notes: list):
        """A separate audio clip at this policy's rate, cut to `audio_max_seconds` (with a note) when longer."""
        return self.within_limit(store.audio(path, self.audio_rate), path, notes, "the clip")

    def within_limit(self, track, path, notes: list, what: str):
        limit = self.audio_max_seconds
        if not limit or track.seconds <= limit:
            return track
        _note(notes, f"{path.name}: the model hears the first {limit:g} s of {what} "
                     f"({track.seconds:.1f} s long; its audio input stops at {limit:g} s)")
        return dataclasses.replace(track, samples=track.samples[: int(round(limit * track.rate))])


def _note_rotation(clip, part, notes: list) -> None:
    turned = clip.info.get("rotation")
    if turned:
        _note(notes, f"{part.path.name} is flagged to be shown rotated by {turned} degrees: frames turned upright")


def _note(notes: list, note: str) -> None:
    if note not in notes:
        notes.append(note)
