"""ImageBind-LLM (a row of the AURELIA paper), through the authors' code (OpenGVLab/LLaMA-Adapter,
imagebind_LLM/) in its own pinned environment (imagebind_llm_worker.py). As in PandaGPT, ImageBind encodes
each input to one vector and the normalised vectors are averaged with their weights into ONE visual query;
its video loader reads no audio, so a video's soundtrack goes in as a separate Audio input (a WAV).
"""

from __future__ import annotations

from pathlib import Path

from aurelia_harness import hookimpl
from aurelia_harness.models import Accepts, RequestRefused
from aurelia_harness.types import ImagePart, Request

from .authors_code import AuthorsCodeAdapter


class ImageBindLLMAdapter(AuthorsCodeAdapter):
    family_file = Path(__file__).with_name("imagebind_llm_worker.py")
    soundtrack = "separate"
    accepts = Accepts(video=True, audio=True, image=True, max_audio_items=1, max_video_items=1)

    def check(self, request: Request) -> None:
        super().check(request)
        parts = request.media_parts()
        if not parts:  # its forward_visual sums the inputs' embeddings: with none there is nothing to sum
            raise RequestRefused(f"{self.card.name} needs at least one image, video or audio input (its demo "
                                 f"asks for one modality at least)")
        if sum(isinstance(p, ImagePart) for p in parts) > 1:
            raise RequestRefused(f"{self.card.name} takes one input per modality, got more than one image")
        self.refuse_two_audio_inputs(request)


@hookimpl
def register_model_adapters(register):
    register("imagebind-llm", ImageBindLLMAdapter)
