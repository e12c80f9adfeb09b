"""Frame + audio loading speed, side by side in one run: ours, lmms-eval's algorithm, the least-decode floor.

    .venv/bin/python benchmarks/bench_media.py [--repeat 3] [--out docs/bench_media.json]

Clips: a generated 60 s 640x360 30 fps H.264 + AAC MP4, a generated 24 s 640x360 30 fps VP8/Vorbis WebM,
and ../shared/media/*.mp4 where present. For N = 8, 16, 32 uniform frames + 16 kHz mono audio:
- ours: aurelia_harness.media.decode (demux for exact frame times, keyframe-aware seeks, swscale to RGB);
- lmms-eval: its published PyAV algorithm re-implemented here (decode every frame of the stream to RGB,
  then pick N with linspace) plus the same audio decode;
- floor: the least decode that yields the exact frames — from each target's keyframe to the target, with
  the frame list known in advance (not timed) and only the targets converted to RGB.
Also: a cache hit at N = 32 on the 60 s clip. Reports the median of --repeat runs and the ratios.
"""

from __future__ import annotations

import argparse
import bisect
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aurelia_harness.media import MediaStore, VideoSpec, decode, ffmpeg_path  # noqa: E402


def make_clips(folder: Path) -> dict[str, Path]:
    clips = {"h264_60s.mp4": folder / "h264_60s.mp4", "vp8_24s.webm": folder / "vp8_24s.webm"}
    if not clips["h264_60s.mp4"].exists():
        subprocess.run([ffmpeg_path(), "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                        "testsrc2=s=640x360:r=30:d=60", "-f", "lavfi", "-i", "sine=f=440:d=60",
                        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac",
                        str(clips["h264_60s.mp4"])], check=True)
    if not clips["vp8_24s.webm"].exists():
        subprocess.run([ffmpeg_path(), "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                        "testsrc2=s=640x360:r=30:d=24", "-f", "lavfi", "-i", "sine=f=440:d=24",
                        "-c:v", "libvpx", "-b:v", "1M", "-deadline", "realtime", "-cpu-used", "8",
                        "-c:a", "libvorbis", str(clips["vp8_24s.webm"])], check=True)
    for name in ("chaplin.mp4", "nasa_13013.mp4"):
        shared = ROOT.parent / "shared" / "media" / name
        if shared.exists():
            clips[name] = shared
    return clips


def ours(path: Path, n: int):
    frames, stamps, _ = decode.decode_frames(path, n_frames=n)
    audio = decode.decode_audio(path, 16000)
    return frames, stamps, audio


def lmms_eval_algorithm(path: Path, n: int):
    """Decode the whole video stream to RGB, then pick n indices with linspace (as lmms-eval's PyAV loader)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    idx = np.linspace(0, len(frames) - 1, n).astype(int)
    picked = np.stack([frames[i] for i in idx])
    audio = decode.decode_audio(path, 16000)
    return picked, idx, audio


def floor_plan(path: Path, n: int):
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        plan = decode._frame_plan(container, stream)
    return plan, sorted(set(decode.uniform_targets(plan.times, n)))


def least_decode(path: Path, plan, targets):
    import av

    out = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        position, it = None, None
        for idx in targets:
            target = plan.pts[idx]
            key = plan.keyframe_pts[bisect.bisect_right(plan.keyframe_pts, target) - 1]
            if position is None or position >= target or position < key:
                container.seek(key, stream=stream, backward=True)
                it = container.decode(stream)
            for frame in it:
                position = frame.pts
                if frame.pts >= target:
                    out.append(frame.to_ndarray(format="rgb24"))
                    break
    audio = decode.decode_audio(path, 16000)
    return out, audio


def timed(fn, *args, repeat=3):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "avharness-bench")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    clips = make_clips(args.work)
    rows = []
    for name, path in clips.items():
        for n in (8, 16, 32):
            t_ours, (frames, stamps, _) = timed(ours, path, n, repeat=args.repeat)
            t_lmms, (picked, _, _) = timed(lmms_eval_algorithm, path, n, repeat=args.repeat)
            plan, targets = floor_plan(path, n)
            t_floor, _ = timed(least_decode, path, plan, targets, repeat=args.repeat)
            exact = len(frames) == n and np.allclose(stamps, [plan.times[i] for i in decode.uniform_targets(plan.times, n)])
            rows.append({"clip": name, "n": n, "ours_s": t_ours, "lmms_eval_s": t_lmms, "floor_s": t_floor,
                         "speedup_vs_lmms": t_lmms / t_ours, "ours_over_floor": t_ours / t_floor,
                         "exact_n_and_timestamps": bool(exact), "source_frames": len(plan.times)})
            print(f"{name:16} N={n:2}  ours {t_ours * 1000:7.1f} ms  lmms-eval {t_lmms * 1000:7.1f} ms "
                  f"({t_lmms / t_ours:4.1f}x)  floor {t_floor * 1000:7.1f} ms (ours/floor {t_ours / t_floor:4.2f})  "
                  f"exact={exact}", flush=True)
    # cache hit: 60 s clip, N = 32
    store = MediaStore(args.work / "cache")
    spec = VideoSpec(n_frames=32, max_side=None)
    store.video(clips["h264_60s.mp4"], spec)
    hits = []
    for _ in range(max(5, args.repeat)):
        fresh = MediaStore(args.work / "cache")  # a new store: nothing memoised but the file hash
        start = time.perf_counter()
        clip = fresh.video(clips["h264_60s.mp4"], spec)
        hits.append(time.perf_counter() - start)
    cache = {"clip": "h264_60s.mp4", "n": 32, "frames_shape": list(clip.frames.shape),
             "hit_ms_median": statistics.median(hits) * 1000}
    print(f"cache hit, 60 s clip, N=32 {tuple(clip.frames.shape)}: {cache['hit_ms_median']:.1f} ms (median)")
    if args.out:
        args.out.write_text(json.dumps({"decode": rows, "cache": cache}, indent=2) + "\n")


if __name__ == "__main__":
    main()
