"""Google's Gemini through the `google-genai` client: video (with its own soundtrack), audio and images go
in natively as inline file data. (The AURELIA paper's reasoner and evaluator, and a baseline row.)

Card keys: `checkpoint` (the model, e.g. gemini-1.5-pro), `api_key_env` (default GEMINI_API_KEY; the key is
read from the environment and never written anywhere), `base_url` (another endpoint, e.g. a proxy),
`timeout` (seconds), `max_retries` (the client's retries on 408/429/5xx), `parallel_requests`. Files above
`inline_limit_mb` (default 18; Gemini's inline request limit is about 20 MB) are uploaded through the Files
API instead of sent inline; an uploaded file is used once its state is ACTIVE (the Files API processes
video before a model may read it), polled every `upload_poll_s` (default 2) for up to `upload_wait_s`
(default 600) seconds. MIME types are the canonical names of Gemini's supported-formats list (audio/wav,
video/mov, ...), not `mimetypes`' (audio/x-wav, video/quicktime).
"""

from __future__ import annotations

import time

from aurelia_harness import hookimpl
from aurelia_harness.media import mime_type
from aurelia_harness.models import Accepts, MediaReceipt, ModelAdapter
from aurelia_harness.types import AudioPart, ImagePart, Reply, Request, TextPart, VideoPart


class GeminiError(Exception):
    kind = "api_error"


class GeminiAdapter(ModelAdapter):
    accepts = Accepts(video=True, audio=True, image=True, max_audio_items=16,
                      max_video_items=8)
    parallel_requests = 8

    def load(self) -> None:
        from google import genai
        from google.genai import types

        key = self.api_key("GEMINI_API_KEY")
        options = {"timeout": int(float(self.card.get("timeout", 300)) * 1000),
                   "retry_options": types.HttpRetryOptions(attempts=int(self.card.get("max_retries", 4)) + 1,
                                                           initial_delay=float(self.card.get("backoff", 1.0)),
                                                           http_status_codes=[408, 429, 500, 502, 503, 504])}
        if self.card.get("base_url"):
            options["base_url"] = self.card.get("base_url")
        self.types = types
        self.client = genai.Client(api_key=key, http_options=types.HttpOptions(**options))
        self.inline_limit = float(self.card.get("inline_limit_mb", 18)) * 2 ** 20
        self.loaded = True

    def _file_part(self, path):
        size = path.stat().st_size
        mime = mime_type(path)
        if size > self.inline_limit:
            uploaded = self._active(self.client.files.upload(file=str(path), config={"mime_type": mime}), path)
            return self.types.Part.from_uri(file_uri=uploaded.uri, mime_type=uploaded.mime_type or mime)
        return self.types.Part.from_bytes(data=path.read_bytes(), mime_type=mime)

    def _active(self, uploaded, path):
        """The uploaded file once the Files API has processed it (state ACTIVE); FAILED or a wait past
        `upload_wait_s` is this request's error."""
        wait = float(self.card.get("upload_wait_s", 600))
        poll = float(self.card.get("upload_poll_s", 2))
        deadline = time.monotonic() + wait
        while _state(uploaded) == "PROCESSING":
            if time.monotonic() >= deadline:
                raise GeminiError(f"{self.card.name}: {path.name} was still being processed by the Files API "
                                  f"after {wait:g} s")
            time.sleep(poll)
            uploaded = self.client.files.get(name=uploaded.name)
        if _state(uploaded) == "FAILED":
            raise GeminiError(f"{self.card.name}: the Files API could not process {path.name} "
                              f"({getattr(uploaded, 'error', None) or 'state FAILED'})")
        return uploaded

    def contents(self, request: Request):
        """(system instruction, contents, notes, media receipt) for one request."""
        system, contents, notes, receipt = None, [], [], MediaReceipt()
        for message in request.messages:
            if message.role == "system":
                system = message.text
                continue
            parts = []
            for part in message.parts:
                if isinstance(part, TextPart):
                    parts.append(self.types.Part.from_text(text=part.text))
                elif isinstance(part, (VideoPart, AudioPart, ImagePart)):
                    if isinstance(part, VideoPart) and not part.with_audio:
                        raise ValueError(f"{self.card.name} hears every video's soundtrack; a video-only ablation "
                                         "cannot be honoured (send frames through an openai-compatible card instead)")
                    sent = self._file_part(part.path)
                    parts.append(sent)
                    self._write_receipt(receipt, part, sent)
            contents.append(self.types.Content(role="model" if message.role == "assistant" else "user", parts=parts))
        return system, contents, notes, receipt.to_json()

    def _write_receipt(self, receipt: MediaReceipt, part, sent) -> None:
        """The file as it went: inline (its bytes) or uploaded (the file's size and the upload's address).
        Gemini hears the soundtrack inside a video file."""
        kind = {VideoPart: "video", AudioPart: "audio", ImagePart: "image"}[type(part)]
        info = None if kind == "image" else self.media.probe(part.path)
        if sent.inline_data is not None:
            receipt.file(kind, part.path, len(sent.inline_data.data), sent.inline_data.mime_type, info)
        else:
            receipt.file(kind, part.path, part.path.stat().st_size, sent.file_data.mime_type, info,
                         uploaded=sent.file_data.file_uri)

    def generate_batch(self, requests: list[Request]) -> list[Reply]:
        return [self._one(r) for r in requests]

    def _one(self, request: Request) -> Reply:
        start = time.perf_counter()
        system, contents, notes, receipt = self.contents(request)
        config = self.types.GenerateContentConfig(max_output_tokens=request.max_new_tokens,
                                                  temperature=float(self.card.get("generation.temperature",
                                                                                  request.temperature)),
                                                  system_instruction=system)
        try:
            response = self.client.models.generate_content(model=self.card.checkpoint, contents=contents, config=config)
        except Exception as exc:  # the client's own error types; the message never holds the key
            raise GeminiError(f"{self.card.name}: {type(exc).__name__}: {str(exc)[:300]}") from None
        try:
            text = response.text
        except Exception as exc:
            raise GeminiError(f"{self.card.name}: unreadable answer ({exc})") from None
        if text is None:
            raise GeminiError(f"{self.card.name}: the answer has no text (blocked or empty)")
        usage = response.usage_metadata
        return Reply(text.strip(), input_tokens=int(getattr(usage, "prompt_token_count", 0) or 0),
                     output_tokens=int(getattr(usage, "candidates_token_count", 0) or 0),
                     seconds=time.perf_counter() - start, notes=notes, media=receipt)


def _state(uploaded) -> str:
    state = getattr(uploaded, "state", None)
    return str(getattr(state, "name", state) or "ACTIVE").upper()  # no state: a file that needs no processing


@hookimpl
def register_model_adapters(register):
    register("gemini", GeminiAdapter)
