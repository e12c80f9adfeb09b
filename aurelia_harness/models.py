"""The model-adapter contract and the async front the runner puts before each loaded adapter.

An adapter is built from a card, loads lazily, takes a LIST of requests (so it may batch) and returns one
Reply per request, and releases its memory on close. It alone knows its model family's processor, chat
template, frame budget and whether a video's soundtrack is fed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import os
import time
from dataclasses import dataclass

from .cards import ModelCard
from .errors import describe_exception
from .media import MediaStore
from .media.policy import MediaPolicy
from .types import AudioPart, ImagePart, Reply, Request, TextPart, VideoPart, restrict_modality


@dataclass(frozen=True)
class Accepts:
    """What a model can take in one request (checked before the adapter sees it; a request beyond it is
    refused as that sample's error). Frames and soundtracks are the media policy's (the card's [media])."""

    video: bool = True
    audio: bool = True
    image: bool = True
    max_audio_items: int = 8
    max_video_items: int = 1


class MediaReceipt:
    """What one request actually put before the model (`Reply.media`), written down as each medium goes into
    the model's input or the request body: per video its frames (count, presentation times in seconds, size
    [width, height]) or the file itself (name, bytes, MIME type); per audio input its seconds, rate and whether
    it is a video's own soundtrack; the number of images. An adapter adds its own keys (e.g. token counts)."""

    def __init__(self):
        self.video: list[dict] = []
        self.audio: list[dict] = []
        self.images = 0

    def frames(self, shape, timestamps, **extra) -> None:
        """A video given as decoded frames, of `shape` (N, H, W, 3) as handed over, with their times."""
        times = [round(float(t), 3) for t in timestamps]
        times += times[-1:] * (int(shape[0]) - len(times))  # a frame repeated to fill a temporal pair keeps its time
        self.video.append({"frames": int(shape[0]), "timestamps": times, "size": [int(shape[2]), int(shape[1])],
                           **extra})

    def sound(self, samples: int, rate: int, soundtrack: bool, **extra) -> None:
        """An audio input of `samples` samples at `rate`; `soundtrack`: a video's own sound, not a separate clip."""
        self.audio.append({"seconds": round(samples / rate, 3), "rate": int(rate), "soundtrack": bool(soundtrack),
                           **extra})

    def file(self, kind: str, path, size: int, mime: str, info=None, sound_heard: bool = True, **extra) -> None:
        """A file sent whole (its bytes, a data URL or an upload) for the model to decode; `info` is its probe
        (videos and audio). A video file's `audio_stream` says whether it carries sound; with `sound_heard` (the
        model takes the sound inside a video file) that sound is also an audio input, the video's soundtrack."""
        entry = {"file": path.name, "bytes": int(size), "mime": mime, **extra}
        if kind == "image":
            self.images += 1
            return
        stream = info.first("audio")
        sound = {"seconds": round(float(info.duration or 0.0), 3), "rate": int(stream.rate) if stream else 0}
        if kind == "video":
            self.video.append({**entry, "audio_stream": stream is not None})
            if stream is not None and sound_heard:
                self.audio.append({**sound, "soundtrack": True, "in_file": path.name})
        else:
            self.audio.append({**sound, "soundtrack": False, **entry})

    def image(self) -> None:
        self.images += 1

    def to_json(self) -> dict:
        return {"video": list(self.video), "audio": list(self.audio), "images": self.images}


def conversation(request: Request, video=None, audio=None, image=None) -> list[dict]:
    """The request as a chat list, [{"role", "content": [items]}]: text parts as {"type": "text"} items; each
    media part becomes the items its handler returns (handlers may also collect decoded media on the side).
    A part without a handler is left out: an adapter's `accepts` refuses such requests before they get here."""
    handlers = {VideoPart: video, AudioPart: audio, ImagePart: image}
    out = []
    for message in request.messages:
        content = []
        for part in message.parts:
            if isinstance(part, TextPart):
                content.append({"type": "text", "text": part.text})
            elif handlers.get(type(part)):
                content.extend(handlers[type(part)](part))
        out.append({"role": message.role, "content": content})
    return out


@dataclass
class Prepared:
    """A request made ready for the model: its inputs, or the reply that ended it early, and the seconds its
    media decoding and input preparation took."""

    request: Request
    inputs: object = None
    reply: Reply | None = None
    decode: float = 0.0
    prepare: float = 0.0


class RequestRefused(Exception):
    """The model cannot take this request (e.g. two videos for a one-video model)."""

    kind = "request_refused"


class ModelAdapter:
    """Base class. Subclasses set `accepts`, implement `load`, `generate_batch`, and may override `close`.

    `parallel_requests`: 0 (local models) hands requests that arrive together to `generate_batch` as one
    batch, one batch at a time; N > 0 (server- or API-backed models) keeps up to N single requests in
    flight at once, each in its own worker thread.
    """

    accepts = Accepts()
    parallel_requests = 0
    frames_adjustable = True  # False when the model's own code picks its frames: no retry with fewer
    # When generate_batch raises for a batch, which requests finished is unknown. True: run them again one at
    # a time so the bad one fails alone (right for local models). False (calls that cost money or have side
    # effects): every request of that batch gets the error and nothing is sent twice.
    isolate_batch_failures = True
    media_defaults: dict = {"frames": 16}  # the family's [media] defaults, under the card's own table

    def __init__(self, card: ModelCard, media: MediaStore, device: str | None = None):
        self.card = card
        self.media = media
        self.device = device
        self.policy = MediaPolicy.from_card(card, self.media_defaults)  # frames, pixels, audio: parsed once
        self.loaded = False
        if self.parallel_requests:  # server- and API-backed: a card may allow more or fewer in flight
            self.parallel_requests = int(card.get("parallel_requests", self.parallel_requests))

    def load(self) -> None:
        self.loaded = True

    def api_key(self, default_env: str | None = None) -> str | None:
        """The key named by the card's `api_key_env` (or `default_env`), read from the environment only; a
        named variable that is unset is a load error. Keys are never stored in cards, records or logs."""
        env = self.card.get("api_key_env", default_env)
        if not env:
            return None
        key = os.environ.get(env)
        if not key:
            raise ValueError(f"card {self.card.name}: the environment variable {env} (the API key) is not set")
        return key

    def check(self, request: Request) -> None:
        """Refuse, with a reason, a request carrying what this model cannot take."""
        parts = request.media_parts()
        videos = [p for p in parts if isinstance(p, VideoPart)]
        audios = [p for p in parts if isinstance(p, AudioPart)]
        images = [p for p in parts if isinstance(p, ImagePart)]
        a = self.accepts
        if videos and not a.video:
            raise RequestRefused(f"{self.card.name} takes no video")
        if audios and not a.audio:
            raise RequestRefused(f"{self.card.name} takes no audio")
        if images and not a.image:
            raise RequestRefused(f"{self.card.name} takes no images")
        if len(videos) > a.max_video_items:
            raise RequestRefused(f"{self.card.name} takes at most {a.max_video_items} video(s), got {len(videos)}")
        if len(audios) > a.max_audio_items:
            raise RequestRefused(f"{self.card.name} takes at most {a.max_audio_items} audio clip(s), got {len(audios)}")

    def prepare(self, request: Request):
        """The CPU side of a request — decoding its media and building the model's inputs — done ahead of the
        model (in prefetch threads) while it generates for earlier requests. Returns what `generate_batch`
        receives; by default the request itself, so an adapter that does everything in generate_batch works."""
        return request

    def prepare_one(self, request: Request) -> "Prepared":
        """Check and prepare one request, timing decode and preparation; a refusal or a media error becomes
        the item's reply (that sample's error) instead of an exception."""
        item = Prepared(request)
        start = time.perf_counter()
        decoded = self.media.decode_seconds() if self.media is not None else 0.0
        try:
            self.check(request)
            item.inputs = self.prepare(request)
        except Exception as exc:
            item.reply = _failed(exc)
        item.decode = (self.media.decode_seconds() - decoded) if self.media is not None else 0.0
        item.prepare = max(0.0, time.perf_counter() - start - item.decode)
        return item

    def generate(self, requests: list[Request]) -> list[Reply]:
        """Prepare and run a batch (what a handle without prefetch, or a server-backed one, calls)."""
        return self.run_prepared([self.prepare_one(r) for r in requests])

    def run_prepared(self, items: list["Prepared"]) -> list[Reply]:
        """Run prepared requests. A request that fails on its own becomes a Reply with `error`; the rest still
        run (see `isolate_batch_failures` for a generate_batch that raises). Each reply says where its time
        went: `timing` = {"decode", "prepare", "generate"} seconds, `seconds` = its share of generation."""
        ok = [i for i, item in enumerate(items) if item.reply is None]
        replies = [item.reply for item in items]
        start = time.perf_counter()
        if ok:
            try:
                batch = self.generate_batch([items[i].inputs for i in ok])
            except Exception as exc:
                if len(ok) > 1:
                    batch = None if self.isolate_batch_failures else [_failed(exc) for _ in ok]
                elif _out_of_memory(exc) and items[ok[0]].request.media_parts():
                    batch = [self._with_fewer_frames(items[ok[0]].request, exc)]
                else:
                    batch = [_failed(exc)]
            if batch is None or len(batch) != len(ok):
                # one bad request must not fail its neighbours: run them one by one
                batch = [self._alone(items[i]) for i in ok]
            for i, reply in zip(ok, batch):
                replies[i] = reply
        generated = (time.perf_counter() - start) / max(1, len(ok))
        for item, reply in zip(items, replies):
            if item.reply is None and not reply.seconds:
                reply.seconds = generated
            reply.timing = {"decode": item.decode, "prepare": item.prepare,
                            "generate": 0.0 if item.reply is not None else reply.seconds}
        return replies

    def _alone(self, item: "Prepared") -> Reply:
        try:
            return self.generate_batch([item.inputs])[0]
        except Exception as exc:
            if _out_of_memory(exc) and item.request.media_parts():
                return self._with_fewer_frames(item.request, exc)
            return _failed(exc)

    def _with_fewer_frames(self, request: Request, error: BaseException) -> Reply:
        """A sample that ran out of accelerator memory is retried with half the frames, down to 2."""
        if not self.frames_adjustable:
            return _failed(error)
        frames = self.policy.frame_cap
        for part in request.media_parts():
            if isinstance(part, VideoPart) and part.max_frames:
                frames = min(frames, part.max_frames)
        while frames > 2:
            frames //= 2
            _free_accelerator_memory()
            smaller = self.prepare_one(restrict_frames(request, frames))
            if smaller.reply is not None:
                return smaller.reply
            try:
                reply = self.generate_batch([smaller.inputs])[0]
            except Exception as exc:
                if _out_of_memory(exc):
                    continue
                return _failed(exc)
            reply.notes.append(f"out of accelerator memory: retried with {frames} frames per video")
            return reply
        return _failed(error)

    def generate_batch(self, requests: list) -> list[Reply]:  # pragma: no cover - interface
        """One Reply per item, in order; the items are what `prepare` returned (the requests by default)."""
        raise NotImplementedError

    def close(self) -> None:
        self.loaded = False
        _free_accelerator_memory()


def _out_of_memory(exc: BaseException) -> bool:
    try:
        import torch

        return isinstance(exc, torch.OutOfMemoryError)
    except (ImportError, AttributeError):  # pragma: no cover
        return "out of memory" in str(exc).lower()


def _free_accelerator_memory() -> None:
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:  # pragma: no cover
        pass


def restrict_frames(request: Request, frames: int) -> Request:
    import dataclasses

    messages = tuple(dataclasses.replace(m, parts=tuple(dataclasses.replace(p, max_frames=frames)
                                                        if isinstance(p, VideoPart) else p for p in m.parts))
                     for m in request.messages)
    return dataclasses.replace(request, messages=messages)


def _failed(exc: BaseException) -> Reply:
    info = describe_exception(exc)
    return Reply("", error=info["message"], error_kind=info["type"])


def _parts(request: Request, kind) -> int:
    return sum(isinstance(part, kind) for message in request.messages for part in message.parts)


class ModelHandle:
    """Async front of one loaded adapter. Local models (`parallel_requests = 0`): each request is prepared
    (media decoded, inputs built) in prefetch threads as soon as it arrives — at most `prefetch` prepared
    requests waiting for the model, which bounds their memory — and requests ready together are handed to the
    model as one batch in its own thread, so the model never waits for decoding. Server- and API-backed
    adapters: up to N single requests in flight, each in its own thread."""

    def __init__(self, adapter: ModelAdapter, batch_size: int = 4, role: str = "target", modality: str = "av",
                 prefetch: int | None = None):
        self.adapter = adapter
        self.modality = modality  # every request is restricted to this modality ablation
        self.batch_size = max(1, batch_size)
        self.prefetch = 2 * self.batch_size if prefetch is None else max(0, prefetch)  # 0: prepare inline
        self.role = role
        self.name = adapter.card.name
        self._queue: list[tuple[Prepared, asyncio.Future]] = []
        self._worker: asyncio.Task | None = None
        self._slots: asyncio.Semaphore | None = None  # created in the run's (one) event loop
        self._ahead: asyncio.Semaphore | None = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._prep_pool: concurrent.futures.ThreadPoolExecutor | None = None

    async def generate(self, request: Request) -> Reply:
        if self.modality == "audio" and self.adapter.media is not None:
            restricted = restrict_modality(request, "audio", lambda path: self.adapter.media.probe(path).has_audio)
            silent = _parts(request, VideoPart) - _parts(restricted, AudioPart) + _parts(request, AudioPart)
            reply = await self._generate(restricted)
            if silent:
                reply.notes.append(f"audio-only ablation: {silent} silent video(s) left out (nothing to hear)")
            return reply
        return await self._generate(restrict_modality(request, self.modality))

    async def _generate(self, request: Request) -> Reply:
        if self.adapter.parallel_requests:
            return await self._generate_parallel(request)
        if not self.prefetch:
            return await self._enqueue(request)
        if self._ahead is None:
            self._ahead = asyncio.Semaphore(self.prefetch)
            self._prep_pool = concurrent.futures.ThreadPoolExecutor(max_workers=min(self.prefetch, 4),
                                                                    thread_name_prefix=f"{self.name}-prefetch")
        async with self._ahead:  # held from preparation until the model has answered: bounds what waits
            item = await asyncio.get_running_loop().run_in_executor(self._prep_pool, self.adapter.prepare_one,
                                                                     request)
            return await self._enqueue(item)

    async def _enqueue(self, item) -> Reply:
        future = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        return await future

    def close(self) -> None:
        """Release the model (and this handle's threads)."""
        for pool in (self._pool, self._prep_pool):
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._prep_pool = None
        self.adapter.close()

    async def _generate_parallel(self, request: Request) -> Reply:
        loop = asyncio.get_running_loop()
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.adapter.parallel_requests)
        if self._pool is None:  # its own threads: as many as requests may be in flight, whatever the loop has
            self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=self.adapter.parallel_requests,
                                                               thread_name_prefix=f"{self.name}-request")
        async with self._slots:
            start = time.perf_counter()
            reply = (await loop.run_in_executor(self._pool, self.adapter.generate, [request]))[0]
            if not reply.seconds:
                reply.seconds = time.perf_counter() - start
            return reply

    async def _drain(self) -> None:
        await asyncio.sleep(0)  # let every sample that is ready queue its request first
        while self._queue:
            batch, self._queue = self._queue[:self.batch_size], self._queue[self.batch_size:]
            items = [item if isinstance(item, Prepared) else None for item, _ in batch]
            try:
                if all(items):
                    replies = await asyncio.to_thread(self.adapter.run_prepared, items)
                else:  # no prefetch: prepare and generate in the model's thread
                    replies = await asyncio.to_thread(self.adapter.generate, [r for r, _ in batch])
            except BaseException as exc:  # the adapter itself broke: every waiting sample gets the error
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc if isinstance(exc, Exception) else RuntimeError(str(exc)))
                continue
            for (_, future), reply in zip(batch, replies):
                if not future.done():
                    future.set_result(reply)
