"""What running a model in its own environment costs: the worker round trip per request.

    .venv/bin/python benchmarks/bench_isolated.py [--requests 20] [--frames 16]

The MiniCPM-o adapter drives a worker loading the tests' remote-code checkpoint (tests/remote_code.py: its
`chat` only inspects what it receives), so the time measured is the harness's: media from the decode
cache, written as .npy, the JSON exchange, the worker reading the arrays and making PIL images / float32
audio. Compared side by side with `encode` alone (cache + .npy writing) in the same run; plus the worker's
start (process, torch and transformers imports, model load).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from aurelia_harness.cards import card_from_dict  # noqa: E402
from aurelia_harness.media import MediaStore, ffmpeg_path  # noqa: E402
from aurelia_harness.types import Message, Request, TextPart, VideoPart  # noqa: E402
from avharness_plugins.models.minicpm_o import MiniCPMOAdapter  # noqa: E402
from remote_code import write_fake_omni_checkpoint  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--frames", type=int, default=16)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-isolated-"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ["HF_MODULES_CACHE"] = str(work / "modules")
    os.environ["AVHARNESS_CACHE"] = str(work / "cache")
    clip = work / "clip.mp4"
    subprocess.run([ffmpeg_path(), "-v", "error", "-f", "lavfi", "-i", "testsrc=s=640x360:r=30:d=30", "-f", "lavfi",
                    "-i", "sine=f=440:d=30", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
                    str(clip)], check=True)
    checkpoint = write_fake_omni_checkpoint(work / "checkpoint")
    card = card_from_dict({"name": "bench-minicpm-o", "adapter": "minicpm-o", "checkpoint": str(checkpoint),
                           "trust_remote_code": True, "dtype": "float32",
                           "media": {"frames": args.frames, "max_pixels": 448 * 448},
                           "environment": {"python": sys.executable}})
    adapter = MiniCPMOAdapter(card, MediaStore(work / "media"), "cpu")
    start = time.perf_counter()
    adapter.load()
    started = time.perf_counter() - start
    request = Request((Message("user", (VideoPart(clip), TextPart("What is shown?"))),), max_new_tokens=8)
    assert adapter.generate([request])[0].error is None  # warms the decode cache
    encode, round_trip = [], []
    for _ in range(args.requests):
        with tempfile.TemporaryDirectory() as folder:
            t = time.perf_counter()
            adapter.encode(request, Path(folder))
            encode.append(time.perf_counter() - t)
        t = time.perf_counter()
        reply = adapter.generate([request])[0]
        round_trip.append(time.perf_counter() - t)
        assert reply.error is None
    adapter.close()
    e, r = statistics.median(encode) * 1000, statistics.median(round_trip) * 1000
    print(f"{args.frames} frames of a 30 s 640x360 clip (scaled to <= 448x448) + its soundtrack, "
          f"{args.requests} requests, medians:")
    print(f"  worker start (process, imports, load):  {started:8.2f} s")
    print(f"  encode alone (cache + .npy):            {e:8.1f} ms")
    print(f"  whole request through the worker:       {r:8.1f} ms")
    print(f"  worker round trip beyond encoding:      {r - e:8.1f} ms ({r / e:.1f}x encode)")


if __name__ == "__main__":
    main()
