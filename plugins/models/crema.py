"""CREMA (a row of the AURELIA paper: CREMA 4B), through the authors' repository (their LAVIS fork) in its own
pinned environment (crema_worker.py), in the configuration of their MUSIC-AVQA video+audio inference script:
the model is built for frames and audio together and reads both from raw files through the authors' dataset
processors (no pre-extracted features on this path). Its video processor reads frames only, so the soundtrack
goes in as a WAV the harness writes; one video per request.
"""

from __future__ import annotations

from pathlib import Path

from aurelia_harness import hookimpl
from aurelia_harness.models import Accepts, RequestRefused
from aurelia_harness.types import Request

from .authors_code import AuthorsCodeAdapter


class CREMAAdapter(AuthorsCodeAdapter):
    family_file = Path(__file__).with_name("crema_worker.py")
    soundtrack = "separate"
    accepts = Accepts(video=True, audio=False, image=False, max_audio_items=0, max_video_items=1)

    def check(self, request: Request) -> None:
        super().check(request)
        if len(request.media_parts()) != 1:
            raise RequestRefused(f"{self.card.name} takes exactly one video per request (its model is built for "
                                 f"frames and audio together)")


@hookimpl
def register_model_adapters(register):
    register("crema", CREMAAdapter)
