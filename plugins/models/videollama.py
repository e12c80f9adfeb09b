"""Video-LLaMA (a row of the AURELIA paper: VideoLLaMA 7B), through the authors' repository and its audio-visual
demo's Chat in its own pinned environment (videollama_worker.py). The authors' code reads a video's frames
and its soundtrack from the file itself; the harness checks the file and says whether to use the sound.
"""

from __future__ import annotations

from pathlib import Path

from aurelia_harness import hookimpl
from aurelia_harness.models import Accepts, RequestRefused
from aurelia_harness.types import Request

from .authors_code import AuthorsCodeAdapter


class VideoLLaMAAdapter(AuthorsCodeAdapter):
    family_file = Path(__file__).with_name("videollama_worker.py")
    soundtrack = "in_file"
    accepts = Accepts(video=True, audio=False, image=True, max_audio_items=0, max_video_items=1)

    def check(self, request: Request) -> None:
        super().check(request)
        if len(request.media_parts()) != 1:
            raise RequestRefused(f"{self.card.name} takes exactly one video or image per request (its Chat holds "
                                 f"one upload per conversation), got {len(request.media_parts())}")


@hookimpl
def register_model_adapters(register):
    register("videollama", VideoLLaMAAdapter)
