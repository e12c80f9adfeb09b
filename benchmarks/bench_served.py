"""The openai-compatible adapter against a loopback server that answers after 100 ms.

    .venv/bin/python benchmarks/bench_served.py [--requests 64] [--delay 0.1]

64 requests, each carrying the same 16-frame clip (10 s, 640x360, with its soundtrack), through the model
handle at 1 and at 16 requests in flight; and the cost of encoding the clip (decode, 16 JPEGs, base64, the
soundtrack as WAV) the first time against reusing the encoding.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from aurelia_harness.cards import ModelCard  # noqa: E402
from aurelia_harness.media import MediaStore, ffmpeg_path  # noqa: E402
from aurelia_harness.models import ModelHandle  # noqa: E402
from aurelia_harness.types import Message, Request, TextPart, VideoPart  # noqa: E402
from avharness_plugins.models.openai_compat import OpenAICompatibleAdapter  # noqa: E402


async def drive(handle, requests, in_flight):
    slots = asyncio.Semaphore(in_flight)

    async def one(r):
        async with slots:
            return await handle.generate(r)

    return await asyncio.gather(*(one(r) for r in requests))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--delay", type=float, default=0.1)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="avharness-served-"))
    clip = work / "clip.mp4"
    subprocess.run([ffmpeg_path(), "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=640x360:r=30:d=10",
                    "-f", "lavfi", "-i", "sine=f=440:d=10", "-c:v", "libx264", "-preset", "veryfast",
                    "-pix_fmt", "yuv420p", "-c:a", "aac", str(clip)], check=True)
    # the server runs in its own process, as a real one would: its JSON parsing must not share our GIL
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "loopback.py"), str(args.delay)],
                            stdout=subprocess.PIPE, text=True)
    url = proc.stdout.readline().strip()
    try:
        def fresh(parallel):
            card = ModelCard(name="served", adapter="openai-compatible", checkpoint="m",
                             options={"base_url": url, "parallel_requests": parallel,
                                      "media": {"frames": 16, "max_side": 448}})
            adapter = OpenAICompatibleAdapter(card, MediaStore(work / "cache"))
            adapter.load()
            return adapter

        request = Request((Message("user", (VideoPart(clip), TextPart("What happens?"))),), max_new_tokens=8)
        adapter = fresh(16)
        start = time.perf_counter()
        body, _ = adapter.body(request)
        first = time.perf_counter() - start
        start = time.perf_counter()
        adapter.body(request)
        again = time.perf_counter() - start
        size = len(str(body)) / 2 ** 20
        print(f"encoding the clip: first {first * 1000:.0f} ms (decode + 16 JPEG + WAV, {size:.1f} MiB of JSON), "
              f"reused {again * 1000:.2f} ms")
        results = {}
        for in_flight in (1, 16):
            adapter = fresh(16)
            adapter.body(request)  # encoded once, as in a run where strategies share the clip
            handle = ModelHandle(adapter)
            start = time.perf_counter()
            replies = asyncio.run(drive(handle, [request] * args.requests, in_flight))
            elapsed = time.perf_counter() - start
            assert all(r.error is None for r in replies)
            results[in_flight] = elapsed
            print(f"{args.requests} requests, {in_flight:2d} in flight: {elapsed:.2f} s "
                  f"({args.requests / elapsed:.1f} requests/s)")
        print(f"speed-up at 16 in flight: {results[1] / results[16]:.1f}x")
    finally:
        proc.terminate()


if __name__ == "__main__":
    main()
