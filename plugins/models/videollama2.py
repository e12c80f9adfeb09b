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

from .hf_base import HFMultimodalAdapter
from .isolated import IsolatedEnvAdapter


class VideoLLaMA2Adapter(IsolatedEnvAdapter):
    family_file = Path(__file__).with_name("videollama2_worker.py")
    accepts = Accepts(video=True, audio=True, image=True, audio_in_video=True, max_audio_items=1,
                      max_video_items=1, max_frames=16)

    def check(self, request: Request) -> None:
        super().check(request)
        media = request.media_parts()
        if not self.card.get("media.audio_in_video", True) and any(isinstance(p, AudioPart) for p in media):
            raise RequestRefused(f"{self.card.name} takes no audio (a vision-only checkpoint)")
        if len(media) != 1:
            raise RequestRefused(f"{self.card.name} takes exactly one image, video or audio per request "
                                 f"(its mm_infer has one media input), got {len(media)}")

    def encode(self, request: Request, folder: Path) -> tuple[list[dict], list[str]]:
        notes: list[str] = []
        hears_video = self.card.get("media.audio_in_video", True)

        def video(part):
            info = self.media.probe(part.path)  # a missing or undecodable file fails here, for this sample
            with_audio = part.with_audio and hears_video
            if with_audio and not info.has_audio:
                notes.append(f"{part.path.name} has no audio track: fed video only")
                with_audio = False
            elif part.with_audio and not hears_video:
                notes.append(f"{self.card.name} takes no audio: soundtrack not fed")
            return [{"type": "video", "path": str(part.path), "with_audio": with_audio}]

        def checked(kind):
            def handle(part):
                self.media.probe(part.path)
                return [{"type": kind, "path": str(part.path)}]
            return handle

        messages = HFMultimodalAdapter.walk(request, video=video, audio=checked("audio"), image=checked("image"))
        return messages, notes


@hookimpl
def register_model_adapters(register):
    register("videollama2", VideoLLaMA2Adapter)
