"""video-SALMONN (a row of the AURELIA paper), through the authors' code (SALMONN repository, videosalmonn
branch) in its own pinned environment (video_salmonn_worker.py). Its audio-visual input is a video file
plus a 16 kHz WAV for the Whisper and BEATs encoders: the harness writes the video's soundtrack as that WAV,
or a silent one of the video's length when the video has none or the request leaves it out.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aurelia_harness import hookimpl
from aurelia_harness.models import Accepts, RequestRefused
from aurelia_harness.types import Request

from .authors_code import AuthorsCodeAdapter, write_wav

WHISPER_RATE = 16000  # their dataset reads the WAV without resampling and hands it to Whisper at 16 kHz


class VideoSALMONNAdapter(AuthorsCodeAdapter):
    family_file = Path(__file__).with_name("video_salmonn_worker.py")
    soundtrack = "separate"
    accepts = Accepts(video=True, audio=True, image=False, max_audio_items=1, max_video_items=1)
    media_defaults = {"audio_rate": WHISPER_RATE}

    def __init__(self, card, media, device=None):
        super().__init__(card, media, device)
        if self.policy.audio_rate != WHISPER_RATE:
            raise ValueError(f"card {card.name}: media.audio_rate must be {WHISPER_RATE} (video-SALMONN's dataset "
                             f"does not resample)")

    def check(self, request: Request) -> None:
        super().check(request)
        if len(request.media_parts()) != 1:
            raise RequestRefused(f"{self.card.name} takes one video (with its soundtrack) or one audio clip per "
                                 f"request, got {len(request.media_parts())}")

    def encode(self, request: Request, folder: Path):
        messages, notes = super().encode(request, folder)
        for message in messages:
            for item in message["content"]:
                if item["type"] == "video" and item["soundtrack"] is None:
                    seconds = float(self.media.probe(Path(item["path"])).duration or 0.0)
                    path = write_wav(folder / "silent.wav", np.zeros(int(seconds * WHISPER_RATE), np.float32),
                                     WHISPER_RATE)
                    item["soundtrack"] = {"path": str(path), "seconds": round(seconds, 3), "rate": WHISPER_RATE,
                                          "silent": True}
                    notes.append(f"{self.card.name}: its audio-visual input always has an audio part: a silent "
                                 f"one of the video's length went in")
        return messages, notes


@hookimpl
def register_model_adapters(register):
    register("video-salmonn", VideoSALMONNAdapter)
