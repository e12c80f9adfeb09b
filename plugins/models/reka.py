"""Reka (Reka Core: a baseline row of the AURELIA paper) through its own client, `reka-api`.

Video (with its soundtrack), audio and images go as `video_url` / `audio_url` / `image_url` content items
holding data URLs of the files. Card keys: `checkpoint` (e.g. reka-core), `api_key_env` (default
REKA_API_KEY; never written anywhere), `base_url`, `timeout`, `max_retries` (the client retries 408, 409,
429 and 5xx with backoff), `parallel_requests`.
"""

from __future__ import annotations

import base64
import mimetypes
import time

from aurelia_harness import hookimpl
from aurelia_harness.models import Accepts, ModelAdapter, conversation
from aurelia_harness.types import Reply, Request


class RekaError(Exception):
    kind = "api_error"


def data_url(path) -> str:
    mime = mimetypes.guess_type(str(path))[0] or "application/octet-stream"
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode()


class RekaAdapter(ModelAdapter):
    accepts = Accepts(video=True, audio=True, image=True, max_audio_items=4,
                      max_video_items=1)
    parallel_requests = 8

    def load(self) -> None:
        from reka.client import Reka

        options = {"api_key": self.api_key("REKA_API_KEY"), "timeout": float(self.card.get("timeout", 300))}
        if self.card.get("base_url"):
            options["base_url"] = self.card.get("base_url")
        self.client = Reka(**options)
        self.loaded = True

    def messages(self, request: Request) -> list[dict]:
        def video(part):
            if not part.with_audio:
                raise ValueError(f"{self.card.name} hears every video's soundtrack; a video-only ablation "
                                 "cannot be honoured")
            return [{"type": "video_url", "video_url": data_url(part.path)}]

        chat = conversation(request, video=video,
                            audio=lambda part: [{"type": "audio_url", "audio_url": data_url(part.path)}],
                            image=lambda part: [{"type": "image_url", "image_url": data_url(part.path)}])
        for message in chat:  # Reka takes no system role
            message["role"] = "assistant" if message["role"] == "assistant" else "user"
        return chat

    def generate_batch(self, requests: list[Request]) -> list[Reply]:
        return [self._one(r) for r in requests]

    def _one(self, request: Request) -> Reply:
        start = time.perf_counter()
        try:
            response = self.client.chat.create(
                messages=self.messages(request), model=self.card.checkpoint, max_tokens=request.max_new_tokens,
                temperature=float(self.card.get("generation.temperature", request.temperature)),
                request_options={"max_retries": int(self.card.get("max_retries", 4)),
                                 "timeout_in_seconds": int(float(self.card.get("timeout", 300)))})
        except ValueError:
            raise
        except Exception as exc:  # the client's errors carry the status and body, never the key
            status = getattr(exc, "status_code", None)
            raise RekaError(f"{self.card.name}: {type(exc).__name__}" + (f" HTTP {status}" if status else "")
                            + f": {str(getattr(exc, 'body', exc))[:300]}") from None
        try:
            content = response.responses[0].message.content
        except (AttributeError, IndexError) as exc:
            raise RekaError(f"{self.card.name}: the answer has no message ({exc})") from None
        if isinstance(content, list):
            content = "".join(getattr(item, "text", "") or "" for item in content)
        usage = response.usage
        return Reply(str(content or "").strip(), input_tokens=int(getattr(usage, "input_tokens", 0) or 0),
                     output_tokens=int(getattr(usage, "output_tokens", 0) or 0), seconds=time.perf_counter() - start)


@hookimpl
def register_model_adapters(register):
    register("reka", RekaAdapter)
