"""VideoLLaMA 2 (one of the AURELIA paper's models): the authors' `videollama2` package pins transformers
4.42, so it runs in its own environment as a worker (videollama2_worker.py). The upstream processor reads
the media files itself; here the harness checks each file with its own media layer first (a missing, corrupt
or silent file becomes a clear per-sample error or note), then hands over the path.
"""

from __future__ import annotations

from pathlib import Path

from aurelia_harness import hookimpl
from aurelia_harness.models import Accepts, RequestRefused
from aurelia_harness.types import AudioPart, Request

from .isolated import IsolatedEnvAdapter


class VideoLLaMA2Adapter(IsolatedEnvAdapter):
    family_file = Path(__file__).with_name("videollama2_worker.py")
    media_as = "files"
    accepts = Accepts(video=True, audio=True, image=True, max_audio_items=1,
                      max_video_items=1)

    def check(self, request: Request) -> None:
        super().check(request)
        media = request.media_parts()
        if not self.policy.audio_in_video and any(isinstance(p, AudioPart) for p in media):
            raise RequestRefused(f"{self.card.name} takes no audio (a vision-only checkpoint)")
        if len(media) != 1:
            raise RequestRefused(f"{self.card.name} takes exactly one image, video or audio per request "
                                 f"(its mm_infer has one media input), got {len(media)}")


@hookimpl
def register_model_adapters(register):
    register("videollama2", VideoLLaMA2Adapter)
