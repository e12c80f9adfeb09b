"""OneLLM (a row of the AURELIA paper: OneLLM 7B), through the authors' repository in its own pinned
environment (onellm_worker.py). It takes one modality per call, so a video reaches it as frames only (its
video loader does not read the soundtrack) and an audio clip on its own; never both in one request.
"""

from __future__ import annotations

from pathlib import Path

from aurelia_harness import hookimpl
from aurelia_harness.models import Accepts, RequestRefused
from aurelia_harness.types import Request

from .authors_code import AuthorsCodeAdapter


class OneLLMAdapter(AuthorsCodeAdapter):
    family_file = Path(__file__).with_name("onellm_worker.py")
    soundtrack = "none"
    accepts = Accepts(video=True, audio=True, image=False, max_audio_items=1, max_video_items=1)

    def check(self, request: Request) -> None:
        super().check(request)
        if len(request.media_parts()) != 1:
            raise RequestRefused(f"{self.card.name} takes exactly one video or one audio clip per request (one "
                                 f"modality per call), got {len(request.media_parts())}")


@hookimpl
def register_model_adapters(register):
    register("onellm", OneLLMAdapter)
