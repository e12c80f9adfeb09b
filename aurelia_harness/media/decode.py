"""Probing and decoding with PyAV (in process: no ffmpeg/ffprobe spawn per clip).

Frame sampling decodes the least that yields the exact frames. A demux pass (no decoding) lists every
packet's presentation time and keyframe flag; targets are chosen on that exact frame list. Then, per clip,
one of two reads: seeking (each target reached from its preceding keyframe, unless the decoder is already
between that keyframe and the target) or straight through (one pass from the first target's keyframe to the
last target). A seek flushes the decoder, so when the targets are dense relative to the keyframe spacing
the straight read costs less; `choose_reading` counts the frames each would decode. Both give the same
frames. Frames are converted to RGB and resized in one swscale call on uint8.

Stream choice for files with several video or audio streams: the first stream of that kind in file order
(index order), unless an explicit stream index is given. ffmpeg's CLI picks the highest resolution and
torchcodec asks libavformat for its "best" stream, so tools disagree; file order is what the file's author
put first and is stable across FFmpeg versions. A cover picture embedded in an audio file (an "attached
picture") is not a video stream: such a file has no video.

Frames come out as they are meant to be seen: a display rotation in the container (a phone clip flagged 90
or 180 degrees) is applied, as ffmpeg's own CLI does. Mono audio is the mean of the channels, as librosa's
`to_mono` (what the Qwen, MiniCPM-o and lmms-eval loaders use) computes it.
"""

from __future__ import annotations

import bisect
import math
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import DecodeFailed, MediaEmpty, MediaMissing, NoAudioStream, NoVideoStream, NotMedia


@dataclass(frozen=True)
class StreamInfo:
    index: int
    kind: str  # "video" | "audio" | other
    codec: str
    width: int = 0
    height: int = 0
    rate: float = 0.0  # fps for video, sample rate for audio
    channels: int = 0


@dataclass
class MediaInfo:
    path: str
    container: str
    duration: float | None  # seconds; None when the container does not say
    streams: list[StreamInfo] = field(default_factory=list)

    def first(self, kind: str, index: int | None = None) -> StreamInfo | None:
        matches = [s for s in self.streams if s.kind == kind]
        if index is not None:
            matches = [s for s in matches if s.index == index]
        return matches[0] if matches else None

    @property
    def has_audio(self) -> bool:
        return self.first("audio") is not None

    @property
    def has_video(self) -> bool:
        return self.first("video") is not None

    @property
    def no_video_reason(self) -> str:
        return NO_VIDEO_COVER_ART if self.first("cover_art") else NO_VIDEO


NO_VIDEO = "has no video stream"
NO_VIDEO_COVER_ART = "has no video stream: its only picture is embedded cover art (an attached picture), not video"


def _is_cover_art(stream) -> bool:
    import av

    return bool(stream.disposition & av.stream.Disposition.attached_pic)


def _open(path: Path):
    """Open a file for reading. A FIFO or device is opened as it is (it may block: callers bound it with
    the decode timeout); only a regular file can be "empty"."""
    import av

    path = Path(path)
    if not path.exists():
        raise MediaMissing(path, "file does not exist")
    if path.is_dir():
        raise NotMedia(path, "is a directory, not a media file")
    info = path.stat()
    if stat.S_ISREG(info.st_mode) and info.st_size == 0:
        raise MediaEmpty(path, "file is empty (0 bytes)")
    try:
        return av.open(str(path), metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise NotMedia(path, f"not a media file FFmpeg can read ({exc.strerror or exc})") from None


def probe(path: Path) -> MediaInfo:
    with _open(path) as container:
        return _describe(path, container)


def _describe(path, container) -> MediaInfo:
    streams = []
    for s in container.streams:
        ctx = s.codec_context
        if s.type == "video":
            rate = float(s.average_rate or s.guessed_rate or 0)
            kind = "cover_art" if _is_cover_art(s) else "video"
            streams.append(StreamInfo(s.index, kind, ctx.name, ctx.width, ctx.height, rate))
        elif s.type == "audio":
            streams.append(StreamInfo(s.index, "audio", ctx.name, rate=float(ctx.sample_rate or 0),
                                      channels=ctx.channels))
        else:
            streams.append(StreamInfo(s.index, s.type, ctx.name if ctx else "?"))
    duration = container.duration / 1_000_000 if container.duration else None
    return MediaInfo(str(path), container.format.name, duration, streams)


@dataclass
class FramePlan:
    """Exact presentation times of every frame of a stream and where its keyframes are."""

    times: list[float]  # sorted seconds
    pts: list[int]  # same order as times
    keyframe_pts: list[int]  # sorted

    def keyframe_index(self, index: int) -> int:
        """Index of the last keyframe at or before frame `index` (the first frame when none is)."""
        k = bisect.bisect_right(self.keyframe_pts, self.pts[index]) - 1
        return bisect.bisect_left(self.pts, self.keyframe_pts[k]) if k >= 0 else 0


def _frame_plan(container, stream) -> FramePlan:
    """Demux (without decoding) to list every frame's pts and the keyframes; works with no duration."""
    pts, keys = [], []
    for packet in container.demux(stream):
        if packet.pts is None or packet.size == 0:
            continue
        pts.append(packet.pts)
        if packet.is_keyframe:
            keys.append(packet.pts)
    pts.sort()
    keys.sort()
    tb = float(stream.time_base)
    return FramePlan([p * tb for p in pts], pts, keys)


# A seek flushes the decoder and starts again at a keyframe (dearer than other frames): measured with PyAV 18
# on H.264 and VP8, 640x360 to 1280x720, as 2-3 frames of a straight run with one thread and 5-8 with frame
# threads. The high end is taken: where a seeking read competes with a straight one its runs are long, and
# long runs decode with frame threads (`use_frame_threads`).
SEEK_COST_FRAMES = 8


def seeking_counts(plan: FramePlan, wanted: list[int]) -> tuple[int, int]:
    """(frames decoded, seeks) of a seeking read of these sorted frame indices: a target past the decoder's
    position but before its own keyframe is reached by a jump to that keyframe, any other by decoding on."""
    frames = seeks = 0
    position = None
    for idx in wanted:
        key = plan.keyframe_index(idx)
        if position is None or position < key:  # (sorted: the position is never past the target)
            seeks += 1
            frames += idx - key + 1
        else:
            frames += idx - position
        position = idx
    return frames, seeks


def choose_reading(plan: FramePlan, wanted: list[int]) -> str:
    """"seek" or "straight" for these sorted frame indices, whichever decodes fewer frames, counting a seek
    as SEEK_COST_FRAMES frames. Both reads start with a seek to the first target's keyframe."""
    frames, seeks = seeking_counts(plan, wanted)
    straight = SEEK_COST_FRAMES + wanted[-1] - plan.keyframe_index(wanted[0]) + 1
    return "straight" if straight <= frames + seeks * SEEK_COST_FRAMES else "seek"


# Frame threads refill their pipeline after every seek: on short runs between seeks that costs about what
# they save, on long ones they win. Measured with PyAV 18 on 2 cores, one thread / frame threads, median of 6
# interleaved seeking reads (2026-12-03, the benchmarks/bench_media.py clips): runs of 2.5 frames (VP8 720p,
# N = 8) 0.96x; runs of 25-30 frames (H.264 640x360) 0.99-1.08x; runs of 74+ frames 1.05-1.13x on H.264 and
# 1.59x on VP8 720p.
LONG_RUN_FRAMES = 24


def use_frame_threads(plan: FramePlan, wanted: list[int], reading: str) -> bool:
    """Whether decoding these targets this way runs long enough between seeks for frame threads to pay."""
    if reading == "straight":
        return True
    frames, seeks = seeking_counts(plan, wanted)
    return frames >= LONG_RUN_FRAMES * seeks


def _quarter_turns(degrees: float) -> int:
    """0-3 counter-clockwise quarter turns for a rotation in degrees (negative: clockwise)."""
    return int(round(degrees / 90.0)) % 4


def uniform_targets(times: list[float], n: int) -> list[int]:
    """Indices of n frames spread uniformly in time from the first to the last frame (inclusive)."""
    count = len(times)
    if count == 0 or n <= 0:
        return []
    if n == 1:
        return [count // 2]
    start, end = times[0], times[-1]
    picked = []
    for i in range(n):
        t = start + (end - start) * i / (n - 1)
        j = bisect.bisect_left(times, t)
        if j > 0 and (j == count or abs(times[j - 1] - t) <= abs(times[j] - t)):
            j -= 1
        picked.append(j)
    return picked  # may repeat an index when n exceeds the frame count: exactly n frames still come back


def fps_targets(times: list[float], fps: float, max_frames: int, min_frames: int = 0,
                mode: str = "spread") -> list[int]:
    """Indices at a fixed rate over the whole clip.

    "spread": as many frames as the clip's length times `fps` (at least `min_frames`), spread evenly from
    the first frame to the last, as the Qwen loaders sample. "interval_end": one frame at the end of each
    1/fps interval (the last one clamped to the clip's last frame), as MiniCPM-o's omni units pair a frame
    with the second of sound before it. Either way, more than `max_frames` are spread uniformly instead."""
    if not times:
        return []
    if mode == "interval_end":
        count = interval_count(times, fps)
        if not max_frames or count <= max_frames:
            last = times[-1]
            return [_nearest(times, min(times[0] + (i + 1) / fps, last)) for i in range(count)]
        return uniform_targets(times, max_frames)
    if mode != "spread":
        raise ValueError(f"unknown fps mode {mode!r}: spread or interval_end")
    span = times[-1] - times[0]
    n = max(1, int(math.floor(span * fps)) + 1, min_frames)
    return uniform_targets(times, min(n, max_frames) if max_frames else n)


def clip_length(times: list[float]) -> float:
    """Seconds the frames cover: first to last frame plus one frame interval (what a container's duration says)."""
    if len(times) < 2:
        return 0.0
    step = (times[-1] - times[0]) / (len(times) - 1)
    return times[-1] - times[0] + step


def interval_count(times: list[float], fps: float) -> int:
    """How many whole or partial 1/fps intervals the clip spans (a 4.0 s clip at 1 fps: 4; 4.2 s: 5)."""
    return max(1, math.ceil(round(clip_length(times) * fps, 6)))


def _nearest(times: list[float], t: float) -> int:
    j = bisect.bisect_left(times, t)
    if j > 0 and (j == len(times) or abs(times[j - 1] - t) <= abs(times[j] - t)):
        j -= 1
    return j


def fit_size(width: int, height: int, max_side: int | None, max_pixels: int | None = None,
             multiple: int = 2) -> tuple[int, int]:
    """Largest size within the bounds that keeps the aspect ratio, in even pixels; never upscales (a side
    shorter than `multiple` keeps its size)."""
    scale = 1.0
    if max_side and max(width, height) > max_side:
        scale = min(scale, max_side / max(width, height))
    if max_pixels and width * height * scale * scale > max_pixels:
        scale = min(scale, math.sqrt(max_pixels / (width * height)))
    w = max(min(width, multiple), int(width * scale) // multiple * multiple)
    h = max(min(height, multiple), int(height * scale) // multiple * multiple)
    return w, h


def decode_frames(path: Path, n_frames: int | None = None, fps: float | None = None, max_frames: int = 0,
                  max_side: int | None = None, max_pixels: int | None = None,
                  stream_index: int | None = None, min_frames: int = 0, fps_mode: str = "spread",
                  reading: str | None = None, skip_nonref: bool = True,
                  frame_threads: bool | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Return (frames[N,H,W,3] uint8 RGB, timestamps[N] seconds, info) for uniform or fixed-rate sampling.
    Frames are turned upright when the container asks for a display rotation (info["rotation"]).
    `reading`: "seek" or "straight" to force one (the frames are the same); None chooses per clip
    (`choose_reading`); info["reading"] says which ran. `skip_nonref`: skip the non-reference frames before
    each target (the same frames, fewer decoded: see `_decode_exact`); info["decoded"] counts the frames the
    decoder produced. `frame_threads`: force FFmpeg's frame threads on or off; None decides from the runs
    between seeks (`use_frame_threads`); info["frame_threads"] says which ran."""
    import av

    with _open(path) as container:
        video = _pick(container, "video", stream_index)
        if video is None:
            if stream_index is not None:
                raise NoVideoStream(path, f"has no video stream with index {stream_index}")
            raise NoVideoStream(path, _describe(path, container).no_video_reason)
        try:
            plan = _frame_plan(container, video)
        except av.error.FFmpegError as exc:
            raise DecodeFailed(path, f"cannot read video packets ({exc})") from None
        if not plan.times:
            raise DecodeFailed(path, "video stream holds no frames")
        targets = (fps_targets(plan.times, fps, max_frames, min_frames, fps_mode) if fps
                   else uniform_targets(plan.times, n_frames or 8))
        width, height = fit_size(video.codec_context.width, video.codec_context.height, max_side, max_pixels)
        wanted = sorted(set(targets))
        reading = reading or choose_reading(plan, wanted)
        if reading not in ("seek", "straight"):
            raise ValueError(f"unknown reading {reading!r}: seek or straight")
        threads = use_frame_threads(plan, wanted, reading) if frame_threads is None else frame_threads
        if threads:
            video.thread_type = "AUTO"
        else:
            video.codec_context.thread_count = 1
        got, turns, decoded = _decode_exact(container, video, plan, wanted, width, height, path,
                                            reading == "straight", skip_nonref)
        frames = np.stack([got[i] for i in targets])
        stamps = np.array([plan.times[i] for i in targets], dtype=np.float64)
        source_w, source_h = video.codec_context.width, video.codec_context.height
        if turns % 2:  # a quarter turn: the picture is seen with its sides swapped
            width, height, source_w, source_h = height, width, source_h, source_w
        info = {"stream": video.index, "source_frames": len(plan.times), "width": width, "height": height,
                "source_width": source_w, "source_height": source_h, "rotation": turns * 90,
                "duration": plan.times[-1] - plan.times[0], "length": clip_length(plan.times), "reading": reading,
                "decoded": decoded, "frame_threads": threads}
        return frames, stamps, info


def _pick(container, kind: str, index: int | None):
    """The stream to decode; the container then skips the other streams' packets (5 ms of a 60 s clip)."""
    import av

    streams = container.streams.video if kind == "video" else container.streams.audio
    if kind == "video":
        streams = [s for s in streams if not _is_cover_art(s)]
    if index is not None:
        streams = [s for s in streams if s.index == index]
    if not streams:
        return None
    for other in container.streams:
        if other.index != streams[0].index:
            other.discard = av.stream.Discard.all
    return streams[0]


def _decode_exact(container, stream, plan: FramePlan, wanted: list[int], width: int, height: int,
                  path, straight: bool, skip: bool = True) -> tuple[dict[int, np.ndarray], int, int]:
    """The wanted frames as RGB arrays turned upright, the quarter turns that took and how many frames were
    decoded to reach them. Straight: decode on from one target to the next, never jumping ahead; else jump
    to a target's keyframe when it lies past the decoder's position.

    Packets shown before the next target are decoded with non-reference frames skipped (FFmpeg's
    skip_frame = NONREF): no other frame is predicted from them, so every frame that is kept decodes exactly
    as before, and H.264 with B-frames decodes about 1.8x faster. Should a target itself be skipped (a codec
    that marks frames otherwise), a one-thread reader notices (the first frame past the target has another
    pts) and reads that clip again without skipping. With frame threads such a decoder can instead put out a
    wrong picture under the target's pts (a forced NONKEY shows it), so there exactness rests on what NONREF
    means in FFmpeg: frames that no other frame references."""
    try:
        return _decode_targets(container, stream, plan, wanted, width, height, path, straight, skip)
    except _TargetSkipped:
        return _decode_targets(container, stream, plan, wanted, width, height, path, straight, False)


class _TargetSkipped(Exception):
    pass


SKIP_BEFORE_TARGET = "NONREF"  # FFmpeg's AVDiscard level for the packets shown before the next target


def _decode_targets(container, stream, plan: FramePlan, wanted: list[int], width: int, height: int,
                    path, straight: bool, skip: bool) -> tuple[dict[int, np.ndarray], int, int]:
    import av

    codec = stream.codec_context
    out: dict[int, np.ndarray] = {}
    turns = decoded = 0
    position = None  # pts of the last frame the decoder produced; None = must seek
    frames = None
    target = None

    def decoded_frames():
        """Frames in presentation order, each packet decoded with skipping set for the current target."""
        for packet in container.demux(stream):
            if packet.size == 0:
                break
            codec.skip_frame = SKIP_BEFORE_TARGET if skip and packet.pts is not None and packet.pts < target else "DEFAULT"
            yield from codec.decode(packet)
        codec.skip_frame = "DEFAULT"
        yield from codec.decode(None)

    try:
        for idx in wanted:
            target = plan.pts[idx]
            key = plan.pts[plan.keyframe_index(idx)]
            behind = position is not None and position < target
            if not behind or (not straight and position < key):
                # The decoder is past the target, or (seeking) before the target's keyframe: jump to the keyframe.
                container.seek(key, stream=stream, backward=True, any_frame=False)
                codec.flush_buffers()
                frames = decoded_frames()
            while True:
                frame = next(frames)
                decoded += 1
                if frame.pts is None:
                    continue
                position = frame.pts
                if frame.pts >= target:
                    break
            if frame.pts != target and skip:
                raise _TargetSkipped
            turns = _quarter_turns(frame.rotation or 0)
            picture = _to_rgb(frame, width, height)
            out[idx] = np.ascontiguousarray(np.rot90(picture, turns)) if turns else picture
    except StopIteration:
        if skip:
            raise _TargetSkipped from None
        raise DecodeFailed(path, f"stream ended before frame at {plan.times[idx]:.3f}s") from None
    except av.error.FFmpegError as exc:
        raise DecodeFailed(path, f"undecodable video stream ({exc})") from None
    finally:
        codec.skip_frame = "DEFAULT"
    return out, turns, decoded


_converters = threading.local()


def _to_rgb(frame, width: int, height: int) -> np.ndarray:
    """The frame as RGB uint8 at width x height. One swscale context per thread, reused across frames (and
    the clips a thread decodes): PyAV otherwise makes one per frame, which costs more (~10 ms at 640x360)
    than the conversion."""
    from av.video.reformatter import VideoReformatter

    converter = getattr(_converters, "rgb", None)
    if converter is None:
        converter = _converters.rgb = VideoReformatter()
    return converter.reformat(frame, format="rgb24", width=width, height=height,
                              interpolation="BILINEAR").to_ndarray()


def decode_audio(path: Path, rate: int = 16000, stream_index: int | None = None) -> np.ndarray:
    """The whole audio stream as mono float32 at `rate`: resampled with every channel kept, then the mean of
    the channels. (FFmpeg's own mono downmix weights a stereo pair by 1/sqrt(2) each, 3 dB louder than the
    mean, and can exceed 1.0.) Raises NoAudioStream when there is none."""
    import av

    with _open(path) as container:
        audio = _pick(container, "audio", stream_index)
        if audio is None:
            raise NoAudioStream(path, "has no audio stream")
        resampler = None
        chunks = []
        try:
            for frame in container.decode(audio):
                if resampler is None:
                    # planar float in the source's own channel layout, in 1 s chunks: array work per small
                    # codec frame cost more than the decoding itself
                    resampler = av.AudioResampler(format="fltp", layout=frame.layout.name, rate=rate, frame_size=rate)
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().mean(axis=0))
            for out in resampler.resample(None) if resampler is not None else ():
                chunks.append(out.to_ndarray().mean(axis=0))
        except av.error.FFmpegError as exc:
            raise DecodeFailed(path, f"undecodable audio stream ({exc})") from None
        if not chunks:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(chunks).astype(np.float32, copy=False)


def _small(frame: np.ndarray, size: int = 64) -> np.ndarray:
    """The frame's three channels as float, box-downscaled to at most size x size."""
    h, w, _ = frame.shape
    fy, fx = max(1, h // size), max(1, w // size)
    img = frame[: h // fy * fy, : w // fx * fx].astype(np.float64)
    return img.reshape(h // fy, fy, w // fx, fx, 3).mean(axis=(1, 3))


def _similarity(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM per colour channel, the lowest counts: a cut between two flat colours of similar luma is a change."""
    return min(ssim(a[..., c], b[..., c]) for c in range(3))


def ssim(a: np.ndarray, b: np.ndarray, window: int = 7) -> float:
    """Mean structural similarity of two grayscale images (box windows; constants of Wang et al. 2004)."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def box(x):
        k = min(window, x.shape[0], x.shape[1])
        c = np.cumsum(np.cumsum(np.pad(x, ((1, 0), (1, 0))), axis=0), axis=1)
        return (c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]) / (k * k)

    mu_a, mu_b = box(a), box(b)
    var_a = box(a * a) - mu_a ** 2
    var_b = box(b * b) - mu_b ** 2
    cov = box(a * b) - mu_a * mu_b
    value = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return float(value.mean())


def decode_keyframes_ssim(path: Path, max_frames: int = 5, threshold: float = 0.6, candidates_fps: float = 2.0,
                          max_candidates: int = 64, max_side: int | None = None, max_pixels: int | None = None,
                          stream_index: int | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Keyframes where the picture changes: a candidate frame (sampled at candidates_fps) becomes a keyframe
    when its SSIM (per colour channel, lowest) against the previous keyframe is below threshold; the first frame always is one. More than
    max_frames keyframes are thinned uniformly. (AURELIA's data-generation script uses SSIM < 0.6, at most 5.)"""
    frames, stamps, info = decode_frames(path, fps=candidates_fps, max_frames=max_candidates, max_side=max_side,
                                         max_pixels=max_pixels, stream_index=stream_index)
    keep = [0]
    last = _small(frames[0])
    for i in range(1, len(frames)):
        current = _small(frames[i])
        if _similarity(last, current) < threshold:
            keep.append(i)
            last = current
    if len(keep) > max_frames:
        keep = [keep[int(round(j))] for j in np.linspace(0, len(keep) - 1, max_frames)]
    info = {**info, "sampler": "ssim", "candidates": len(frames), "keyframes": len(keep)}
    return frames[keep], stamps[keep], info
