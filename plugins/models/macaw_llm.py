"""Macaw-LLM (a row of the AURELIA paper: Macaw-LLM 7B), through the authors' repository in its own pinned
environment (macaw_llm_worker.py). CLIP encodes video frames and the image, Whisper the audio; the authors'
preprocessing extracts a video's soundtrack to a WAV of its own, so the harness hands the soundtrack over as
a separate WAV beside the video. The model has one slot per modality: one video, one audio, one image.
"""

from __future__ import annotations

from pathlib import Path

from aurelia_harness import hookimpl
from aurelia_harness.models import Accepts, RequestRefused
from aurelia_harness.types import ImagePart, Request

from .authors_code import AuthorsCodeAdapter


class MacawLLMAdapter(AuthorsCodeAdapter):
    family_file = Path(__file__).with_name("macaw_llm_worker.py")
    soundtrack = "separate"
    accepts = Accepts(video=True, audio=True, image=True, max_audio_items=1, max_video_items=1)

    def check(self, request: Request) -> None:
        super().check(request)
        parts = request.media_parts()
        if sum(isinstance(p, ImagePart) for p in parts) > 1:
            raise RequestRefused(f"{self.card.name} has one image slot, got more than one image")
        self.refuse_two_audio_inputs(request)


@hookimpl
def register_model_adapters(register):
    register("macaw-llm", MacawLLMAdapter)
