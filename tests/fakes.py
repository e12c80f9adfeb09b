"""Test doubles registered as plugins: adapters that decode media for real but answer by script."""

from __future__ import annotations

import threading

from aurelia_harness import hookimpl
from aurelia_harness.cards import ModelCard
from aurelia_harness.media import VideoSpec
from aurelia_harness.models import ModelAdapter
from aurelia_harness.types import AudioPart, Reply, VideoPart


class ScriptedAdapter(ModelAdapter):
    """Decodes every media part through the harness's media layer (so media errors are real), then answers
    with card option `answer` (default "A"). A question containing "RAISE" makes it raise."""

    calls = 0
    lock = threading.Lock()
    parts_seen: list = []  # per request: the part types it carried, e.g. ["video", "text"]

    def generate_batch(self, requests):
        replies = []
        for request in requests:
            notes = []
            for part in request.media_parts():
                if isinstance(part, VideoPart):
                    self.media.video(part.path, VideoSpec(n_frames=4, max_side=64))
                    if self.media.audio_or_none(part.path) is None:
                        notes.append(f"{part.path.name} has no audio track: fed video only")
                elif isinstance(part, AudioPart):
                    self.media.audio(part.path)
            ScriptedAdapter.parts_seen.append([p.type + ("" if getattr(p, "with_audio", True) else "-silent")
                                               for m in request.messages for p in m.parts])
            text = request.messages[-1].text
            if "RAISE" in text:
                raise RuntimeError("scripted failure")
            with ScriptedAdapter.lock:
                ScriptedAdapter.calls += 1
            replies.append(Reply(self.card.get("answer", "A"), input_tokens=len(text), output_tokens=1,
                                 notes=notes))
        return replies


class BrokenLoadAdapter(ModelAdapter):
    def load(self):
        raise OSError("weights not found at /nowhere")


@hookimpl
def register_model_adapters(register):
    register("scripted", ScriptedAdapter)
    register("broken-load", BrokenLoadAdapter)
    register("frame-hungry", FrameHungry)


@hookimpl
def register_model_cards(register):
    register(ModelCard(name="scripted-a", adapter="scripted", options={"answer": "A"}))
    register(ModelCard(name="scripted-b", adapter="scripted", options={"answer": "B"}))
    register(ModelCard(name="broken", adapter="broken-load"))
    register(ModelCard(name="orphan", adapter="no-such-adapter"))
    register(ModelCard(name="hungry", adapter="frame-hungry", options={"media": {"frames": 16}}))
    register(ModelCard(name="remote-code", adapter="scripted", checkpoint="org/remote-model",
                       options={"trust_remote_code": True}))


class FrameHungry(ModelAdapter):
    """Runs out of accelerator memory above 4 frames per video."""

    tried: list = []

    def generate_batch(self, requests):
        import torch

        out = []
        for request in requests:
            frames = min([p.max_frames or 16 for p in request.media_parts() if isinstance(p, VideoPart)] or [16])
            FrameHungry.tried.append(frames)
            if frames > 4:
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            out.append(Reply("A", notes=[]))
        return out


