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
from aurelia_harness.models import Accepts, MediaReceipt, ModelAdapter, conversation
from aurelia_harness.types import Reply, Request


class RekaError(Exception):
    kind = "api_error"


def data_url(path) -> tuple[str, str, int]:
    """(the file as a data URL, its MIME type, its size in bytes)."""
    mime = mimetypes.guess_type(str(path))[0] or "application/octet-stream"
    data = path.read_bytes()
    return f"data:{mime};base64," + base64.b64encode(data).decode(), mime, len(data)


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

    def messages(self, request: Request) -> tuple[list[dict], dict]:
        """The chat for Reka and the media receipt of what it carries (Reka hears a video file's soundtrack)."""
        receipt = MediaReceipt()

        def file(kind):
            def item(part):
                if kind == "video" and not part.with_audio:
                    raise ValueError(f"{self.card.name} hears every video's soundtrack; a video-only ablation "
                                     "cannot be honoured")
                url, mime, size = data_url(part.path)
                receipt.file(kind, part.path, size, mime, None if kind == "image" else self.media.probe(part.path))
                return [{"type": f"{kind}_url", f"{kind}_url": url}]
            return item

        chat = conversation(request, video=file("video"), audio=file("audio"), image=file("image"))
        for message in chat:  # Reka takes no system role
            message["role"] = "assistant" if message["role"] == "assistant" else "user"
        return chat, receipt.to_json()

    def generate_batch(self, requests: list[Request]) -> list[Reply]:
        return [self._one(r) for r in requests]

    def _one(self, request: Request) -> Reply:
        start = time.perf_counter()
        messages, receipt = self.messages(request)
        try:
            response = self.client.chat.create(
                messages=messages, model=self.card.checkpoint, max_tokens=request.max_new_tokens,
                temperature=float(self.card.get("generation.temperature", request.temperature)),
                request_options={"max_retries": int(self.card.get("max_retries", 4)),
                                 "timeout_in_seconds": int(float(self.card.get("timeout", 300)))})
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
                     output_tokens=int(getattr(usage, "output_tokens", 0) or 0), seconds=time.perf_counter() - start,
                     media=receipt)


@hookimpl
def register_model_adapters(register):
    register("reka", RekaAdapter)
