"""Unified-IO 2 (two rows of the AURELIA paper: L and XL), through AllenAI's PyTorch port in its own
environment (uio2_worker.py). Its pre-processor reads the media files itself; the harness checks them first.
It takes at most one video, one audio clip and one image, and refuses the combinations its pre-processor
rejects: a video's soundtrack together with a separate audio clip, and a video together with an image.
"""

from __future__ import annotations

from pathlib import Path

from aurelia_harness import hookimpl
from aurelia_harness.models import Accepts, RequestRefused
from aurelia_harness.types import AudioPart, ImagePart, Request, VideoPart

from .isolated import IsolatedEnvAdapter


class UnifiedIO2Adapter(IsolatedEnvAdapter):
    family_file = Path(__file__).with_name("uio2_worker.py")
    media_as = "files"
    accepts = Accepts(video=True, audio=True, image=True, max_audio_items=1,
                      max_video_items=1)

    def check(self, request: Request) -> None:
        super().check(request)
        media = request.media_parts()
        videos = [p for p in media if isinstance(p, VideoPart)]
        if videos and any(isinstance(p, ImagePart) for p in media):
            raise RequestRefused(f"{self.card.name} takes a video or an image, not both")
        if any(v.with_audio for v in videos) and any(isinstance(p, AudioPart) for p in media):
            raise RequestRefused(f"{self.card.name} takes one audio input: a video's soundtrack or a separate "
                                 f"clip, not both")


@hookimpl
def register_model_adapters(register):
    register("unified-io-2", UnifiedIO2Adapter)
