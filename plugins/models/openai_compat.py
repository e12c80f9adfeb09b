"""Models behind an OpenAI-compatible chat-completions endpoint: vLLM, SGLang, OpenAI itself, and any server
that speaks the protocol.

Media go inside the user message as the servers document it: video as sampled frames (`image_url` parts
with JPEG data URLs; default, understood by every vision server) or as the whole file (`video_url` with a
data URL; vLLM's video input), audio as `input_audio` (base64 WAV, 16 kHz mono), images as `image_url`.
A clip's encoding is made once and reused by every strategy and agent that sends it.

Card keys: `base_url` (e.g. http://localhost:8000/v1), `checkpoint` (the served model name), `api_key_env`
(the environment variable holding the key; the key is never written anywhere), `timeout` (seconds per
request), `max_retries` and `backoff` (seconds, doubled each retry; 429 and 5xx answers, connection errors
and timeouts are retried, a `Retry-After` header is honoured), `parallel_requests` (requests in flight),
`[media]` frames / max_side / video_mode ("frames" | "video_url") / audio_in_video / use_audio_in_video,
`[generation]` temperature.

`video_mode = "video_url"` sends the file itself (its MIME type from its extension), so the server samples
the frames with the model's own video loader and keeps their timing. `use_audio_in_video = true` adds vLLM's
`mm_processor_kwargs = {"use_audio_in_video": true}` to requests whose video's soundtrack is sent: the
Qwen-Omni processor then interleaves that soundtrack with the video's frames, as the model was trained,
instead of taking it as an unrelated clip.
"""

from __future__ import annotations

import base64
import io
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections import OrderedDict

import numpy as np

from aurelia_harness import hookimpl
from aurelia_harness.media import content_hash, mime_type
from aurelia_harness.models import Accepts, MediaReceipt, ModelAdapter, conversation
from aurelia_harness.types import Reply, Request, VideoPart

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
AUDIO_RATE = 16000  # Hz, mono: what the servers' audio inputs expect
RECEIPT = "_receipt"  # a body item's marker: how it is written into the media receipt (removed before sending)


class ServerError(Exception):
    kind = "server_error"


class ServerTimeout(Exception):
    kind = "server_timeout"


class BadResponse(Exception):
    kind = "bad_response"


def jpeg_data_url(frame: np.ndarray, quality: int = 85) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def wav_base64(samples: np.ndarray, rate: int) -> str:
    """16-bit PCM mono WAV, base64."""
    import wave

    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return base64.b64encode(buf.getvalue()).decode()


def audio_item(track: tuple[str, int], soundtrack: bool) -> dict:
    """An `input_audio` item for an encoded clip (base64 WAV, its sample count)."""
    data, samples = track
    return {"type": "input_audio", "input_audio": {"data": data, "format": "wav"},
            RECEIPT: lambda r: r.sound(samples, AUDIO_RATE, soundtrack)}


class EncodedMedia:
    """Data URLs per clip, made once (LRU, bounded) and shared by every request that sends the clip."""

    def __init__(self, capacity: int = 256):
        self.capacity = capacity
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key, make):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
        value = make()
        with self._lock:
            self.misses += 1
            self._items[key] = value
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return value


class OpenAICompatibleAdapter(ModelAdapter):
    media_defaults = {"frames": 16, "max_side": 448}  # frames sent as JPEG images: bounded in size
    accepts = Accepts(video=True, audio=True, image=True, max_audio_items=8,
                      max_video_items=4)

    parallel_requests = 16

    def __init__(self, card, media, device=None):
        super().__init__(card, media, device)
        # what this endpoint takes, from the card (e.g. GPT-4o's chat endpoint takes images but no audio)
        takes_audio = bool(card.get("media.audio", True))
        self.accepts = Accepts(video=bool(card.get("media.video", True)), audio=takes_audio,
                               image=bool(card.get("media.image", True)),
                               max_audio_items=int(card.get("media.max_audio_items", 8)) if takes_audio else 0,
                               max_video_items=int(card.get("media.max_video_items", 4)))
        self.encoded = EncodedMedia()

    def load(self) -> None:
        base = self.card.get("base_url")
        if not base:
            raise ValueError(f"card {self.card.name}: set base_url, e.g. http://localhost:8000/v1")
        self.url = base.rstrip("/") + "/chat/completions"
        self._key = self.api_key()
        self.timeout = float(self.card.get("timeout", 120))
        self.max_retries = int(self.card.get("max_retries", 4))
        self.backoff = float(self.card.get("backoff", 0.5))
        self.video_mode = self.policy.extra.get("video_mode", "frames")
        self.audio_in_video = self.policy.audio_in_video and self.accepts.audio
        self.loaded = True

    # -- request body --------------------------------------------------------------------------------------
    # Each media item of the body carries, until it is sent, a RECEIPT marker: how to write it into the
    # request's media receipt. The receipt is read off the finished body, so it lists what was sent.
    def _video_parts(self, part: VideoPart, notes: list) -> list[dict]:
        spec = self.policy.video_spec(part)
        key = ("video", content_hash(part.path), self.video_mode, json.dumps(spec.to_json(), sort_keys=True))
        if self.video_mode == "video_url":
            url = self.encoded.get(key, lambda: f"data:{mime_type(part.path)};base64,"
                                   + base64.b64encode(part.path.read_bytes()).decode())
            info, size = self.media.probe(part.path), part.path.stat().st_size
            # the server samples the file's frames; a soundtrack reaches the model only as its own item below
            parts = [{"type": "video_url", "video_url": {"url": url},
                      RECEIPT: lambda r: r.file("video", part.path, size, mime_type(part.path), info, sound_heard=False)}]
        else:
            urls, shape, times = self.encoded.get(key, lambda: self._jpeg_frames(part.path, spec))
            parts = [{"type": "image_url", "image_url": {"url": u}} for u in urls]
            parts[0][RECEIPT] = lambda r: r.frames(shape, times)
        if part.with_audio and not self.accepts.audio:
            notes.append(f"{part.path.name}: soundtrack not sent ({self.card.name} takes no audio)")
        elif self.audio_in_video and part.with_audio:
            track = self.encoded.get(("audio", content_hash(part.path)), lambda: self._audio_or_none(part.path))
            if track is None:
                notes.append(f"{part.path.name} has no audio track: sent video only")
            else:
                parts.append(audio_item(track, soundtrack=True))
        return parts

    def _jpeg_frames(self, path, spec):
        """The video's sampled frames as JPEG data URLs, with the frames' shape and times (for the receipt)."""
        clip = self.media.video(path, spec)
        return [jpeg_data_url(f) for f in clip.frames], clip.frames.shape, clip.timestamps

    def _audio_or_none(self, path):
        clip = self.media.audio_or_none(path, AUDIO_RATE)
        return None if clip is None or not len(clip.samples) else (wav_base64(clip.samples, AUDIO_RATE), len(clip.samples))

    def body(self, request: Request) -> tuple[dict, list[str]]:
        """The request body and the notes for the record."""
        body, notes, _ = self.body_and_receipt(request)
        return body, notes

    def body_and_receipt(self, request: Request) -> tuple[dict, list[str], dict]:
        """The request body, the notes for the record, and the media receipt of what the body carries."""
        notes: list[str] = []

        def audio(part):
            def encode():
                samples = self.media.audio(part.path, AUDIO_RATE).samples
                return wav_base64(samples, AUDIO_RATE), len(samples)
            return [audio_item(self.encoded.get(("audio", content_hash(part.path)), encode), soundtrack=False)]

        def image(part):
            url = self.encoded.get(("image", content_hash(part.path)),
                                   lambda: jpeg_data_url(self.media.image(part.path)))
            return [{"type": "image_url", "image_url": {"url": url}, RECEIPT: MediaReceipt.image}]

        messages = conversation(request, video=lambda part: self._video_parts(part, notes), audio=audio, image=image)
        receipt = MediaReceipt()
        for message in messages:
            for item in message["content"]:  # the markers are ours, not the protocol's: written down, then dropped
                item.pop(RECEIPT, lambda r: None)(receipt)
            if message["role"] == "system" or all(c["type"] == "text" for c in message["content"]):
                # text-only (and system) messages as plain strings, as every server accepts
                message["content"] = "".join(c.get("text", "") for c in message["content"])
        body = {"model": self.card.checkpoint, "messages": messages, "max_tokens": request.max_new_tokens,
                "temperature": float(self.card.get("generation.temperature", request.temperature))}
        if any(a["soundtrack"] for a in receipt.audio) and self.policy.extra.get("use_audio_in_video"):
            body["mm_processor_kwargs"] = {"use_audio_in_video": True}
        return body, notes, receipt.to_json()

    # -- transport -----------------------------------------------------------------------------------------
    def _post(self, payload: bytes) -> dict:
        headers = {"Content-Type": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        last = "no attempt"
        for attempt in range(self.max_retries + 1):
            wait = self.backoff * (2 ** attempt)
            try:
                req = urllib.request.Request(self.url, data=payload, headers=headers, method="POST")
                with urllib.request.urlopen(req, timeout=self.timeout) as response:
                    raw = response.read()
                try:
                    return json.loads(raw)
                except ValueError:
                    raise BadResponse(f"{self.card.name}: the server's answer is not JSON ({raw[:80]!r})") from None
            except urllib.error.HTTPError as exc:
                detail = exc.read()[:200].decode("utf-8", "replace")
                last = f"HTTP {exc.code}: {detail}"
                if exc.code not in RETRY_STATUS:
                    raise ServerError(f"{self.card.name}: {last}") from None
                retry_after = exc.headers.get("Retry-After") if exc.headers else None
                if retry_after and retry_after.replace(".", "", 1).isdigit():
                    wait = max(wait, float(retry_after))
            except (socket.timeout, TimeoutError):
                last = f"no answer within {self.timeout:g}s"
            except urllib.error.URLError as exc:
                if isinstance(exc.reason, (socket.timeout, TimeoutError)):
                    last = f"no answer within {self.timeout:g}s"
                else:
                    last = f"cannot reach {self.url}: {exc.reason}"
            if attempt < self.max_retries:
                time.sleep(wait)
        error = ServerTimeout if last.startswith("no answer") else ServerError
        raise error(f"{self.card.name}: {last} (after {self.max_retries + 1} attempts)")

    def generate_batch(self, requests: list[Request]) -> list[Reply]:
        return [self._one(r) for r in requests]

    def _one(self, request: Request) -> Reply:
        start = time.perf_counter()
        body, notes, receipt = self.body_and_receipt(request)
        data = self._post(json.dumps(body).encode())
        try:
            message = data["choices"][0]["message"]
            content = message.get("content")
            if isinstance(content, list):
                content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
            if content is None:
                raise TypeError("no content")
        except (KeyError, IndexError, TypeError, AttributeError):
            raise BadResponse(f"{self.card.name}: the server's answer has no choices[0].message.content") from None
        usage = data.get("usage") or {}
        return Reply(str(content).strip(), input_tokens=int(usage.get("prompt_tokens") or 0),
                     output_tokens=int(usage.get("completion_tokens") or 0), seconds=time.perf_counter() - start,
                     notes=notes, media=receipt)


@hookimpl
def register_model_adapters(register):
    register("openai-compatible", OpenAICompatibleAdapter)
