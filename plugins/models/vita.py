"""VITA (a row of the AURELIA paper: VITA 7B; the published VITA 1.0 is Mixtral 8x7B based), through the
authors' repository and its video_audio_demo.py in its own pinned environment (vita_worker.py).

VITA's audio input is the user's spoken question: the demo asserts that exactly one of an audio question and
a text question is given, and the model was taught to tell an effective spoken query from background speech
(state tokens). A video's soundtrack is therefore not fed: the question goes in as text, the frames as the
demo reads them, and the audio slot holds the demo's own no-audio placeholder. A sound clip beside a text
question is a call the demo never makes, so audio parts are refused.
"""

from __future__ import annotations

from pathlib import Path

from aurelia_harness import hookimpl
from aurelia_harness.models import Accepts, RequestRefused
from aurelia_harness.types import Request

from .authors_code import AuthorsCodeAdapter


class VITAAdapter(AuthorsCodeAdapter):
    family_file = Path(__file__).with_name("vita_worker.py")
    soundtrack = "none"
    accepts = Accepts(video=True, audio=False, image=True, max_audio_items=0, max_video_items=1)

    def check(self, request: Request) -> None:
        super().check(request)
        if len(request.media_parts()) > 1:
            raise RequestRefused(f"{self.card.name} takes one video or one image per request (its demo reads "
                                 f"video_path or image_path), got {len(request.media_parts())}")


@hookimpl
def register_model_adapters(register):
    register("vita", VITAAdapter)
