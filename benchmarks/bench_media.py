"""N uniform frames + the soundtrack, side by side in one run: ours against the simplest tools.

    .venv/bin/python benchmarks/bench_media.py [--repeat 3] [--out FILE] [--without torchcodec,lmms-eval]

Clips, generated with ffmpeg into --work (kept there for the next run):
- h264_60s: 60 s 640x360 30 fps H.264 + AAC, x264's default GOP (a keyframe every 250 frames);
- h264_60s_gop2s: the same with a keyframe every 2 s (-g 60);
- vp8_30s: 30 s 1280x720 30 fps VP8 + Vorbis WebM;
- h264_16s_dense: 16 s 640x480 30 fps H.264 without audio: two keyframes, so N frames are dense against them.

For N = 8, 16, 32 frames (RGB uint8 at the source size) plus the soundtrack as 16 kHz mono float32:
- ours: `MediaStore(None).video_and_audio` (no cache): exact frame list, seeking or straight read chosen per
  clip, the soundtrack decoded in a thread beside the frames;
- ours, sound after: `decode.decode_frames` then `decode.decode_audio` (what loading did before);
- ours, no skip, sound after: the same, decoding the non-reference frames before each target too (the
  reading before frames were skipped);
- pyav-all: decode every frame with PyAV, frame threads on as lmms-eval sets them (frame count from the
  header, else a demux pass), converting the N uniform ones, then the same audio decode;
- approx: torchcodec's approximate seeks with its defaults (`VideoDecoder(seek_mode="approximate")
  .get_frames_at`, one FFmpeg thread, faster here than its automatic count), `AudioDecoder(sample_rate=16000,
  num_channels=1)`; where torchcodec is unavailable, the same kind of seeks with PyAV (a target's time from
  the header's frame rate, seek there, decode to it);
- lmms-eval: `read_video(path, num_frm=N)` from the installed lmms-eval package (its default PyAV backend),
  then the same audio decode.
Every loader runs once as a warm-up per (clip, N), then --repeat rounds each run every loader in turn (the
order rotated), so machine load falls on all of them alike; the median of the rounds is reported. Optional
comparators (torchcodec, lmms-eval) that do not import are named as unavailable and left out. Goals (issue
12): ours at most 1.1x the faster of pyav-all and approx; at least 3x faster than lmms-eval at N = 8 on the
60 s clips. Also: a cache hit at N = 32 on the 60 s clip.
"""

from __future__ import annotations

import argparse
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

RATE = 16000
CLIPS = {  # name: (lavfi video source, lavfi audio source or None, encoder arguments)
    "h264_60s.mp4": ("testsrc2=s=640x360:r=30:d=60", "sine=f=440:d=60", ["-c:v", "libx264", "-preset", "veryfast",
                                                                          "-pix_fmt", "yuv420p", "-c:a", "aac"]),
    "h264_60s_gop2s.mp4": ("testsrc2=s=640x360:r=30:d=60", "sine=f=440:d=60",
                           ["-c:v", "libx264", "-preset", "veryfast", "-g", "60", "-pix_fmt", "yuv420p", "-c:a", "aac"]),
    "vp8_30s.webm": ("testsrc2=s=1280x720:r=30:d=30", "sine=f=440:d=30",
                     ["-c:v", "libvpx", "-b:v", "2M", "-deadline", "realtime", "-cpu-used", "8", "-c:a", "libvorbis"]),
    "h264_16s_dense.mp4": ("testsrc2=s=640x480:r=30:d=16", None, ["-c:v", "libx264", "-preset", "veryfast",
                                                                   "-pix_fmt", "yuv420p"]),
}


def make_clips(folder: Path) -> dict[str, Path]:
    for name, (video, audio, args) in CLIPS.items():
        if not (folder / name).exists():
            inputs = ["-f", "lavfi", "-i", video] + (["-f", "lavfi", "-i", audio] if audio else [])
            subprocess.run([ffmpeg_path(), "-loglevel", "error", "-y", *inputs, *args, str(folder / name)], check=True)
    return {name: folder / name for name in CLIPS}


# -- loaders: each returns (frames (N, H, W, 3) uint8, audio samples or None) ------------------------------


def ours(path: Path, n: int):
    clip, track = MediaStore(None).video_and_audio(path, VideoSpec(n_frames=n, max_side=None), RATE)
    return clip.frames, None if track is None else track.samples


def ours_sound_after(path: Path, n: int):
    frames, _, _ = decode.decode_frames(path, n_frames=n)
    return frames, _pyav_audio(path)


def ours_unskipped_sound_after(path: Path, n: int):
    """"ours, sound after" decoding every frame before each target (no skipping of non-reference frames)."""
    frames, _, _ = decode.decode_frames(path, n_frames=n, skip_nonref=False)
    return frames, _pyav_audio(path)


def _pyav_audio(path: Path):
    try:
        return decode.decode_audio(path, RATE)
    except decode.NoAudioStream:
        return None


def pyav_decode_all(path: Path, n: int):
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        count = stream.frames
        if not count:  # WebM keeps no frame count: count the packets, then start over
            count = sum(1 for packet in container.demux(stream) if packet.size)
            container.seek(0)
        wanted = np.round(np.linspace(0, count - 1, n)).astype(int)
        picked = {}
        for i, frame in enumerate(container.decode(stream)):
            if i in wanted:
                picked[i] = frame.to_ndarray(format="rgb24")
    return np.stack([picked[i] for i in wanted]), _pyav_audio(path)


def pyav_approximate(path: Path, n: int):
    """Approximate seeks with PyAV: each target's time from the header's frame rate, no frame list."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = float(stream.average_rate)
        count = stream.frames or int(container.duration / 1_000_000 * rate)
        tb = float(stream.time_base)
        out = []
        for index in np.round(np.linspace(0, count - 1, n)).astype(int):
            target = index / rate
            container.seek(int(target / tb), stream=stream, backward=True)
            last = None
            for frame in container.decode(stream):
                last = frame
                if frame.pts is not None and frame.pts * tb >= target - 0.5 / rate:
                    break
            out.append(last.to_ndarray(format="rgb24"))
    return np.stack(out), _pyav_audio(path)


def torchcodec_approximate(path: Path, n: int):
    from torchcodec.decoders import AudioDecoder, VideoDecoder

    decoder = VideoDecoder(str(path), seek_mode="approximate", dimension_order="NHWC")
    wanted = np.round(np.linspace(0, decoder.metadata.num_frames - 1, n)).astype(int).tolist()
    frames = decoder.get_frames_at(wanted).data.numpy()
    try:
        audio = AudioDecoder(str(path), sample_rate=RATE, num_channels=1).get_all_samples().data.numpy()[0]
    except (ValueError, RuntimeError):  # no audio stream
        audio = None
    return frames, audio


def lmms_eval_loader():
    """lmms-eval's own read_video (not a copy of it), with the same audio decode after it."""
    from lmms_eval.models.model_utils.load_video import read_video

    def lmms_eval(path: Path, n: int):
        return read_video(str(path), num_frm=n), _pyav_audio(path)

    return lmms_eval


def loaders(without: set[str]) -> tuple[dict, dict[str, str]]:
    """The loaders to run, and the comparators left out with the reason."""
    chosen = {"ours": ours, "ours, sound after": ours_sound_after,
              "ours, no skip, sound after": ours_unskipped_sound_after, "pyav-all": pyav_decode_all}
    unavailable = {}
    try:
        if "torchcodec" in without:
            raise ImportError("left out with --without")
        from torchcodec.decoders import VideoDecoder  # noqa: F401  (loads its FFmpeg libraries)

        chosen["approx"] = torchcodec_approximate
    except Exception as exc:  # an ImportError, or its FFmpeg libraries failing to load
        unavailable["torchcodec"] = f"{type(exc).__name__}: {exc}".splitlines()[0][:160]
        chosen["approx"] = pyav_approximate
    try:
        if "lmms-eval" in without:
            raise ImportError("left out with --without")
        chosen["lmms-eval"] = lmms_eval_loader()
    except Exception as exc:
        unavailable["lmms-eval"] = f"{type(exc).__name__}: {exc}".splitlines()[0][:160]
    return chosen, unavailable


def measure(path: Path, n: int, chosen: dict, repeat: int) -> dict:
    """Median seconds per loader (None where it failed, with the error) and how many frames each gave,
    interleaved rounds after a warm-up."""
    times: dict[str, list[float]] = {name: [] for name in chosen}
    errors: dict[str, str] = {}
    given: dict[str, int] = {}
    names = list(chosen)
    for round_ in range(repeat + 1):
        for name in names[round_ % len(names):] + names[: round_ % len(names)]:
            if name in errors:
                continue
            start = time.perf_counter()
            try:
                frames, _ = chosen[name](path, n)
            except Exception as exc:
                errors[name] = f"{type(exc).__name__}: {exc}"[:160]
                continue
            if round_:  # round 0 is the warm-up
                times[name].append(time.perf_counter() - start)
            given[name] = len(frames)
    medians = {name: (statistics.median(t) if t and name not in errors else None) for name, t in times.items()}
    return {"seconds": medians, "errors": errors, "frames_given": given}


def exact(path: Path, n: int) -> tuple[bool, str]:
    """Whether ours gives exactly N frames at the exact times of the uniform targets, and its reading."""
    import av

    frames, stamps, info = decode.decode_frames(path, n_frames=n)
    with av.open(str(path)) as container:
        plan = decode._frame_plan(container, container.streams.video[0])
    expected = [plan.times[i] for i in decode.uniform_targets(plan.times, n)]
    return len(frames) == n and np.array_equal(stamps, expected), info["reading"]


def cache_hit(path: Path, folder: Path, repeat: int) -> dict:
    spec = VideoSpec(n_frames=32, max_side=None)
    MediaStore(folder).video(path, spec)
    hits = []
    for _ in range(max(5, repeat)):
        fresh = MediaStore(folder)  # a new store: nothing memoised but the file hash
        start = time.perf_counter()
        clip = fresh.video(path, spec)
        hits.append(time.perf_counter() - start)
    return {"clip": path.name, "n": 32, "frames_shape": list(clip.frames.shape),
            "hit_ms_median": statistics.median(hits) * 1000}


def ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f}"


def times_x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--frames", default="8,16,32", help="comma-separated N")
    parser.add_argument("--clips", help="comma-separated clip names (default: all four)")
    parser.add_argument("--without", default="", help="comparators to leave out: torchcodec,lmms-eval")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "avharness-bench")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    clips = make_clips(args.work)
    if args.clips:
        clips = {name: clips[name] for name in args.clips.split(",")}
    chosen, unavailable = loaders({w.strip() for w in args.without.split(",") if w.strip()})
    for name, reason in unavailable.items():
        print(f"unavailable: {name} ({reason})", flush=True)
    approx_engine = "pyav" if "torchcodec" in unavailable else "torchcodec"
    rows = []
    for clip, path in clips.items():
        for n in (int(x) for x in args.frames.split(",")):
            result = measure(path, n, chosen, args.repeat)
            is_exact, reading = exact(path, n)
            t = result["seconds"]
            simplest = min((t[k] for k in ("pyav-all", "approx") if t.get(k) is not None), default=None)
            row = {"clip": clip, "n": n, "reading": reading, "exact_n_and_timestamps": is_exact, **result,
                   "ours_over_simplest": t["ours"] / simplest if t["ours"] and simplest else None,
                   "lmms_eval_over_ours": t["lmms-eval"] / t["ours"] if t.get("lmms-eval") and t["ours"] else None}
            rows.append(row)
            print(f"{clip:20} N={n:2} " + "  ".join(f"{k} {ms(v)}" for k, v in t.items())
                  + f"  ({reading}, exact={is_exact}) " + " ".join(f"[{k}: {e}]" for k, e in result["errors"].items())
                  + " ".join(f"[{k} gave {g} frames]" for k, g in result["frames_given"].items() if g != n), flush=True)
    cache = cache_hit(clips.get("h264_60s.mp4", next(iter(clips.values()))), args.work / "cache", args.repeat)
    summary(rows, list(chosen), approx_engine, unavailable, cache)
    report = {"decode": rows, "cache": cache, "approx_engine": approx_engine, "unavailable": unavailable}
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    return report


def summary(rows: list[dict], names: list[str], approx_engine: str, unavailable: dict, cache: dict) -> None:
    print(f"\nmedian ms (approx = {approx_engine}); ours/simplest = ours / min(pyav-all, approx)")
    print("| clip | N | " + " | ".join(names) + " | ours / simplest | lmms-eval / ours | reading | exact |")
    print("|---|---:|" + "---:|" * len(names) + "---:|---:|---|---|")
    for row in rows:
        print(f"| {row['clip']} | {row['n']} | " + " | ".join(ms(row["seconds"].get(k)) for k in names)
              + f" | {times_x(row['ours_over_simplest'])} | {times_x(row['lmms_eval_over_ours'])} | {row['reading']} | "
              f"{'yes' if row['exact_n_and_timestamps'] else 'NO'} |")
    for row in rows:
        for name, given in row["frames_given"].items():
            if given != row["n"]:
                print(f"note: {name} gave {given} frames, not {row['n']}, on {row['clip']} at N={row['n']}")
    worst = max((r["ours_over_simplest"] for r in rows if r["ours_over_simplest"]), default=None)
    lead = [r["lmms_eval_over_ours"] for r in rows if r["n"] == 8 and "60s" in r["clip"] and r["lmms_eval_over_ours"]]
    print(f"cache hit, {cache['clip']} N=32 {tuple(cache['frames_shape'])}: {cache['hit_ms_median']:.1f} ms (median)")
    print(f"goal ours <= 1.1 x simplest: worst {times_x(worst)} -> {'met' if worst and worst <= 1.1 else 'NOT met'}")
    if "lmms-eval" in unavailable:
        print("goal lmms-eval / ours >= 3: not measured (lmms-eval unavailable)")
    elif lead:
        print(f"goal lmms-eval / ours >= 3 at N=8 on the 60 s clips: {', '.join(f'{v:.1f}' for v in lead)} -> "
              f"{'met' if min(lead) >= 3 else 'NOT met'}")
    else:
        print("goal lmms-eval / ours >= 3: not measured (no 60 s clip at N=8 in this run)")


if __name__ == "__main__":
    main()
