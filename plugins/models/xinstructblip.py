"""X-InstructBLIP (a row of the AURELIA paper: X-InstructBLIP 13B), through Salesforce LAVIS at the authors'
commit in its own pinned environment (xinstructblip_worker.py). Each modality has its own encoder and
Q-Former; its video processor reads frames only, so a video's soundtrack goes in as the audio input, a WAV the
harness writes. One input per modality, as the demo's one box each.
"""

from __future__ import annotations

from pathlib import Path

from aurelia_harness import hookimpl
from aurelia_harness.models import Accepts, RequestRefused
from aurelia_harness.types import AudioPart, ImagePart, Request, VideoPart

from .authors_code import AuthorsCodeAdapter


class XInstructBLIPAdapter(AuthorsCodeAdapter):
    family_file = Path(__file__).with_name("xinstructblip_worker.py")
    soundtrack = "separate"
    accepts = Accepts(video=True, audio=True, image=True, max_audio_items=1, max_video_items=1)

    def check(self, request: Request) -> None:
        super().check(request)
        parts = request.media_parts()
        if not parts:
            raise RequestRefused(f"{self.card.name} needs a video, an audio clip or an image (its generate returns "
                                 f"nothing for text alone)")
        if sum(isinstance(p, ImagePart) for p in parts) > 1:
            raise RequestRefused(f"{self.card.name} takes at most one image per request (one input per modality)")
        video_sound = any(isinstance(p, VideoPart) and p.with_audio for p in parts) and self.policy.audio_in_video
        if video_sound and any(isinstance(p, AudioPart) for p in parts):
            raise RequestRefused(f"{self.card.name} takes one audio input per request: a video's soundtrack and an "
                                 f"audio clip cannot both go in")


@hookimpl
def register_model_adapters(register):
    register("x-instructblip", XInstructBLIPAdapter)
