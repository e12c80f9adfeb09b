"""The harness side shared by the AURELIA paper's research models that run through their authors' own code
(PandaGPT, NExT-GPT, Video-LLaMA, OneLLM, video-SALMONN, X-InstructBLIP, CREMA, Macaw-LLM, ImageBind-LLM,
VITA), each in its own pinned environment.

Their inference entry points take file paths and read the files with their own loaders (ImageBind's clip
samplers, decord, torchaudio), so the frames and clip lengths are the authors'. What the harness still owns:

- every file is checked with the media layer first (a missing or undecodable file is that sample's error);
- audio is decoded by the media layer and handed over as a 16-bit PCM WAV at the card's `audio_rate`, so
  every container the harness reads reaches torchaudio in a format it always reads;
- a video's soundtrack goes where the family's code takes it (`soundtrack`):
  "separate"  the harness decodes it (`policy.soundtrack`) and hands it over as a WAV for the model's audio
              encoder, beside the video (PandaGPT, NExT-GPT, video-SALMONN, X-InstructBLIP, CREMA, Macaw-LLM,
              ImageBind-LLM);
  "in_file"   the authors' code reads it from the video file itself; the worker is told whether to (Video-LLaMA);
  "none"      a video is its frames only: the model takes one modality per request (OneLLM), or its audio
              input is the user's spoken question (VITA).
- the worker reports what reached the model (the Reply's `media` receipt), read from the authors' loaders.

A family is a subclass naming its worker file, what it accepts and its soundtrack mode; the worker file
defines `call_arguments(messages, settings, max_new_tokens)`, the exact call it makes into the authors' code,
which `prompt_text` renders for the golden snapshots in tests/golden/.
"""

from __future__ import annotations

import importlib.util
import json
import tempfile
import threading
import wave
from pathlib import Path

import numpy as np

from aurelia_harness.models import Accepts, RequestRefused, conversation
from aurelia_harness.types import AudioPart, Reply, Request, VideoPart

from .isolated import IsolatedEnvAdapter

SOUNDTRACK_MODES = ("separate", "in_file", "none")


def write_wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    """Mono float samples in [-1, 1] as 16-bit PCM, the format every torchaudio backend reads."""
    pcm = (np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0) * 32767.0).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(int(rate))
        out.writeframes(pcm.tobytes())
    return path


def load_family(path: Path):
    """The worker-side family module, imported here only for its pure functions (the golden snapshots)."""
    spec = importlib.util.spec_from_file_location(f"avharness_family_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class AuthorsCodeAdapter(IsolatedEnvAdapter):
    media_as = "files"  # the authors' loaders pick the frames: the card's frame budget does not apply
    soundtrack = "separate"
    accepts = Accepts(video=True, audio=True, image=True, max_audio_items=1, max_video_items=1)
    media_defaults = {"audio_rate": 16000}

    def __init__(self, card, media, device=None):
        super().__init__(card, media, device)
        if self.soundtrack not in SOUNDTRACK_MODES:
            raise ValueError(f"{type(self).__name__}.soundtrack must be one of {SOUNDTRACK_MODES}")
        self._last_receipt = threading.local()

    def encode(self, request: Request, folder: Path) -> tuple[list[dict], list[str]]:
        rate = self.policy.audio_rate
        notes: list[str] = []
        counter = iter(range(1 << 30))

        def wav(samples) -> dict:
            path = write_wav(folder / f"{next(counter)}.wav", samples, rate)
            return {"path": str(path), "seconds": round(len(samples) / rate, 3), "rate": rate}

        def video(part):
            info = self.media.probe(part.path)  # a missing or undecodable file fails here, for this sample
            item = {"type": "video", "path": str(part.path), "name": part.path.name, "with_audio": False,
                    "soundtrack": None}
            wanted = part.with_audio and self.policy.audio_in_video
            if self.soundtrack == "none" or not wanted:
                if part.with_audio and (self.soundtrack == "none" or not self.policy.audio_in_video):
                    notes.append(f"{self.card.name} takes a video's frames only: soundtrack not fed")
                return [item]
            if self.soundtrack == "in_file":
                if info.has_audio:
                    item["with_audio"] = True
                else:
                    notes.append(f"{part.path.name} has no audio track: fed video only")
                return [item]
            track = self.policy.soundtrack(self.media, part, notes, fed="video only")
            if track is not None:
                item.update(with_audio=True, soundtrack=wav(track.samples))
            return [item]

        def audio(part):
            return [{"type": "audio", "name": part.path.name, **wav(self.media.audio(part.path, rate).samples)}]

        def image(part):
            self.media.image(part.path)  # decodable, or this sample's error
            return [{"type": "image", "path": str(part.path), "name": part.path.name}]

        return conversation(request, video=video, audio=audio, image=image), notes

    def refuse_two_audio_inputs(self, request: Request) -> None:
        """For a model with ONE audio input: a fed soundtrack and an audio clip cannot both go in."""
        parts = request.media_parts()
        fed = self.policy.audio_in_video and any(isinstance(p, VideoPart) and p.with_audio for p in parts)
        if fed and any(isinstance(p, AudioPart) for p in parts):
            raise RequestRefused(f"{self.card.name} has one audio input: a video's soundtrack and an audio clip "
                                 f"cannot both go in (mute the video or leave the clip out)")

    # ---- the media receipt: the worker says what reached the model; isolated.py passes text and notes on ----

    def _exchange(self, message: dict, timeout: float) -> dict:
        reply = super()._exchange(message, timeout)
        if message.get("op") == "generate":
            self._last_receipt.value = reply.get("media")
        return reply

    def handed_over(self, messages: list[dict]) -> None:
        return None  # not what the harness hands over: the worker's receipt (below) says what reached the model

    def _one(self, request: Request) -> Reply:
        self._last_receipt.value = None
        reply = super()._one(request)
        reply.media = self._last_receipt.value
        return reply

    # ---- review snapshot ----

    def prompt_text(self, request: Request) -> str:
        """The call the worker makes into the authors' code for this request, file paths shown by name
        (the golden snapshots in tests/golden/)."""
        with tempfile.TemporaryDirectory() as folder:
            messages, notes = self.encode(request, Path(folder))
            for message in messages:
                for item in message["content"]:
                    if item["type"] == "video":
                        item["path"] = f"<video {item['name']}>"
                        if item.get("soundtrack"):
                            track = item["soundtrack"]
                            what = "silence as long as" if track.get("silent") else "soundtrack of"
                            track["path"] = f"<{what} {item['name']}: {track['seconds']:.1f} s WAV at {track['rate']} Hz>"
                    elif item["type"] == "audio":
                        item["path"] = f"<audio {item['name']}: {item['seconds']:.1f} s WAV at {item['rate']} Hz>"
                    elif item["type"] == "image":
                        item["path"] = f"<image {item['name']}>"
            family = load_family(self.family_file)
            call = family.call_arguments(messages, dict(self.card.get("worker", {}) or {}), request.max_new_tokens)
        return json.dumps({"call": call, "notes": notes}, indent=1, sort_keys=True) + "\n"
