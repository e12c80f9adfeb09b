"""Decoded clips, cached on disk so that a clip decodes once for every model, strategy and rerun.

Cache key: the file's content hash + every decode parameter + the decoder's and FFmpeg's versions (RGB
output differs between FFmpeg versions). Entries are written to a temporary file and renamed into place,
so concurrent writers race harmlessly and a crash mid-write leaves no half entry behind; an unreadable
entry counts as a miss and is rewritten.

Everything that touches a file (opening it, hashing it, decoding it) runs under the decode timeout in a
daemon thread: a file that never answers (a FIFO without a writer, a stalled network mount) is that
sample's `decode_timeout`, and the abandoned thread cannot keep the process from exiting.

A video's frames and its soundtrack are read side by side (`video_and_audio`), the soundtrack in a helper
process (`soundtrack_process`): in a thread it would share the GIL with the frames, and its thousands of
short codec frames keep the two from overlapping. Where a core is free the sound then costs little on top of
the frames (where every core is busy it saves nothing; docs/performance.md).
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import io
import json
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import decode
from .errors import DecodeTimeout, MediaError, NoAudioStream, NotMedia
from .ffmpeg_bin import pyav_versions

# Bumped whenever decoding changes what comes out (the mean-of-channels downmix and display rotation: 2),
# so that no cache entry made by an older decoder is served.
DECODER_VERSION = 2


@dataclass(frozen=True)
class VideoSpec:
    """How to sample a video: N uniform frames, or a rate with a cap; frames bounded in size."""

    n_frames: int | None = 8
    fps: float | None = None
    max_frames: int = 0
    min_frames: int = 0  # with fps: at least this many (Qwen's loader asks for 4)
    fps_mode: str = "spread"  # with fps: "spread" over the clip, or "interval_end" (one per 1/fps interval)
    max_side: int | None = 448
    max_pixels: int | None = None
    stream: int | None = None
    sampler: str = "uniform"  # "uniform" | "ssim" (keyframes where the picture changes; n_frames is the cap)
    ssim_threshold: float = 0.6

    def to_json(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class VideoClip:
    frames: np.ndarray  # (N, H, W, 3) uint8 RGB
    timestamps: np.ndarray  # (N,) seconds, the frames' true presentation times
    info: dict = field(default_factory=dict)

    @property
    def sampled_fps(self) -> float:
        """Frames per second of the sampled sequence (what a model's temporal encoding should assume)."""
        if len(self.timestamps) < 2:
            return 1.0
        span = float(self.timestamps[-1] - self.timestamps[0])
        return (len(self.timestamps) - 1) / span if span > 0 else 1.0


@dataclass
class AudioClip:
    samples: np.ndarray  # (S,) float32 mono
    rate: int

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.rate


_hash_memo: dict[tuple, str] = {}
_hash_lock = threading.Lock()


def content_hash(path: Path) -> str:
    """blake2b of the file's bytes, memoised per (path, size, mtime) for this process."""
    path = Path(path)
    st = path.stat()
    memo_key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _hash_lock:
        if memo_key in _hash_memo:
            return _hash_memo[memo_key]
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    value = digest.hexdigest()
    with _hash_lock:
        _hash_memo[memo_key] = value
    return value


class MediaStore:
    """Decodes media with a timeout, through an on-disk cache (None = no cache)."""

    def __init__(self, cache_dir: Path | None, timeout: float = 120.0, soundtrack_process: bool | None = None):
        """`soundtrack_process`: decode a soundtrack read beside frames in a helper process (None: yes, unless
        the environment sets AVHARNESS_SOUNDTRACK_PROCESS=0)."""
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.timeout = timeout
        if soundtrack_process is None:
            soundtrack_process = os.environ.get("AVHARNESS_SOUNDTRACK_PROCESS", "1") != "0"
        self.soundtrack_process = soundtrack_process
        self._versions = json.dumps({**pyav_versions(), "decoder": DECODER_VERSION}, sort_keys=True)
        self.hits = 0
        self.misses = 0
        self._clock = threading.local()  # seconds spent in this store's public calls, per thread

    def decode_seconds(self) -> float:
        """Seconds this thread has spent getting media from this store (decoding or reading the cache):
        adapters' callers read it before and after preparing a request to say where its time went."""
        return getattr(self._clock, "seconds", 0.0)

    def _timed(self, start: float) -> None:
        self._clock.seconds = self.decode_seconds() + time.perf_counter() - start

    # -- public ------------------------------------------------------------------------------------
    def video(self, path: Path, spec: VideoSpec = VideoSpec()) -> VideoClip:
        start = time.perf_counter()
        try:
            return self._video(path, spec)
        finally:
            self._timed(start)

    def _video(self, path: Path, spec: VideoSpec) -> VideoClip:
        key = self._key(path, "video", spec.to_json())
        cached = self._load(key)
        if cached is not None:
            return VideoClip(cached["frames"], cached["timestamps"], cached["info"])
        if spec.sampler == "ssim":
            frames, stamps, info = self._run(path, decode.decode_keyframes_ssim, path, max_frames=spec.n_frames or 5,
                                             threshold=spec.ssim_threshold, max_side=spec.max_side,
                                             max_pixels=spec.max_pixels, stream_index=spec.stream)
        else:
            frames, stamps, info = self._run(path, decode.decode_frames, path, n_frames=spec.n_frames,
                                             fps=spec.fps, max_frames=spec.max_frames, max_side=spec.max_side,
                                             max_pixels=spec.max_pixels, stream_index=spec.stream,
                                             min_frames=spec.min_frames, fps_mode=spec.fps_mode)
        self._save(key, {"frames": frames, "timestamps": stamps}, info)
        return VideoClip(frames, stamps, info)

    def audio(self, path: Path, rate: int = 16000, stream: int | None = None) -> AudioClip:
        """The file's audio track; raises NoAudioStream when it has none (callers decide if that is fine)."""
        start = time.perf_counter()
        try:
            return self._audio(path, rate, stream)
        finally:
            self._timed(start)

    def _audio(self, path: Path, rate: int, stream: int | None, beside_frames: bool = False) -> AudioClip:
        key = self._key(path, "audio", {"rate": rate, "stream": stream})
        cached = self._load(key)
        if cached is not None:
            if cached["info"].get("no_audio"):
                raise NoAudioStream(path, "has no audio stream")
            return AudioClip(cached["samples"], rate)
        decoder, extra = decode.decode_audio, {}
        if beside_frames and self.soundtrack_process:
            from .soundtrack_process import pool  # (imported here: the helper runs that module as __main__)

            decoder, extra = pool().decode_audio, {"time_limit": self.timeout}
        try:
            samples = self._run(path, decoder, path, rate=rate, stream_index=stream, **extra)
        except NoAudioStream:
            self._save(key, {"samples": np.zeros(0, np.float32)}, {"no_audio": True})
            raise
        self._save(key, {"samples": samples}, {})
        return AudioClip(samples, rate)

    def audio_or_none(self, path: Path, rate: int = 16000, stream: int | None = None) -> AudioClip | None:
        start = time.perf_counter()
        try:
            return self._audio_or_none(path, rate, stream)
        finally:
            self._timed(start)

    def _audio_or_none(self, path: Path, rate: int, stream: int | None, beside_frames: bool = False) -> AudioClip | None:
        try:
            return self._audio(path, rate, stream, beside_frames)
        except NoAudioStream:
            return None

    def video_and_audio(self, path: Path, spec: VideoSpec = VideoSpec(), rate: int = 16000,
                        stream: int | None = None) -> tuple[VideoClip, AudioClip | None]:
        """`video` and `audio_or_none` at once, the soundtrack decoded beside the frames (in a helper process
        unless `soundtrack_process` is off). A failure of the frames is raised first, as if they had been read
        alone; then one of the sound."""
        start = time.perf_counter()
        try:
            if self.cache_dir is not None:
                self._run(path, _checked_hash, path)  # hash the file here once, not in both threads
            sound = _in_thread(self._audio_or_none, path, rate, stream, True, name=f"soundtrack-{Path(path).name}")
            clip = self._video(path, spec)
            return clip, sound.result()
        finally:
            self._timed(start)

    def image(self, path: Path) -> np.ndarray:
        """An image file as RGB uint8 (H, W, 3); unreadable files raise NotMedia."""
        return self._run(path, _read_image, path)

    def probe(self, path: Path) -> decode.MediaInfo:
        return self._run(path, decode.probe, path)

    def close(self) -> None:
        """Nothing to release: each decode runs in its own thread, which ends with it (or is abandoned)."""

    # -- internals ---------------------------------------------------------------------------------
    def _run(self, path, fn, *args, **kwargs):
        return run_with_timeout(path, self.timeout, fn, *args, **kwargs)

    def _key(self, path: Path, what: str, params: dict) -> str | None:
        if self.cache_dir is None:
            return None
        # missing / empty / not-media files fail here with a typed error; a file that never answers times out
        digest = self._run(path, _checked_hash, path)
        material = json.dumps([digest, what, params, self._versions], sort_keys=True)
        return hashlib.sha256(material.encode()).hexdigest()

    def _entry(self, key: str) -> Path:
        return self.cache_dir / key[:2] / f"{key}.npyz"

    def _load(self, key: str | None):
        if key is None:
            return None
        entry = self._entry(key)
        try:
            with open(entry, "rb") as fh:
                header = json.loads(fh.readline())
                arrays = {name: np.load(fh, allow_pickle=False) for name in header["arrays"]}
        except FileNotFoundError:
            self.misses += 1
            return None
        except Exception:  # damaged entry: treat as a miss; the next save replaces it
            self.misses += 1
            return None
        self.hits += 1
        return {**arrays, "info": header["info"]}

    def _save(self, key: str | None, arrays: dict, info: dict) -> None:
        if key is None:
            return
        entry = self._entry(key)
        entry.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        buf.write((json.dumps({"arrays": list(arrays), "info": info}) + "\n").encode())
        for value in arrays.values():
            np.save(buf, value, allow_pickle=False)
        fd, tmp = tempfile.mkstemp(dir=entry.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(buf.getbuffer())
            os.replace(tmp, entry)
        except OSError:
            Path(tmp).unlink(missing_ok=True)  # a full disk costs a cache entry, not the run


def run_with_timeout(path, timeout: float, fn, *args, **kwargs):
    """fn(*args, **kwargs) in a daemon thread, bounded by `timeout` seconds: DecodeTimeout when it takes
    longer (the thread cannot be killed; it is abandoned, and being a daemon it never holds up exit). Media
    errors pass through; any other failure is this file's DecodeFailed."""
    future = _in_thread(lambda: fn(*args, **kwargs), name=f"decode-{Path(path).name}")
    done, _ = concurrent.futures.wait([future], timeout=timeout)
    if not done:
        raise DecodeTimeout(path, f"opening or decoding took longer than {timeout:g}s")
    error = future.exception()
    if error is None:
        return future.result()
    if isinstance(error, MediaError):
        raise error
    raise decode.DecodeFailed(path, f"{type(error).__name__}: {error}") from None


def _in_thread(fn, *args, name: str = "decode") -> concurrent.futures.Future:
    """fn(*args) started in a daemon thread; its future (which holds what it returned or raised)."""
    future: concurrent.futures.Future = concurrent.futures.Future()

    def work():
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # handed to whoever asks for the result
            future.set_exception(exc)

    threading.Thread(target=work, name=name, daemon=True).start()
    return future


def _checked_hash(path: Path) -> str:
    decode._open(path).close()
    return content_hash(path)


def _read_image(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    decode._open(path).close()  # missing / empty files: the same typed errors as video and audio
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except (UnidentifiedImageError, OSError) as exc:
        raise NotMedia(path, f"not an image ({exc})") from None
