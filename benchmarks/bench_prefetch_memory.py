"""Memory with prefetch: peak resident memory of a 4,500-sample run with the handle's prefetch against the
same run without it, and the resident memory at 10%, 50% and 90% of the run (it should stay flat: what is
prepared ahead is bounded by --prefetch). The model sleeps T per request; clips are short and repeat, so
the decoded-media cache serves most of them, as in a long evaluation.

    .venv/bin/python benchmarks/bench_prefetch_memory.py [--samples 4500] [--t-ms 1] [--prefetch 8]

Each run is its own process (peak RSS is per process). Last line:
`memory: samples=... peak_with_mb=... peak_without_mb=... ratio=... with_10_50_90_mb=.../.../...`
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def child(folder: Path, samples: int, t_ms: float, prefetch: int) -> None:
    """One run in this process; prints a JSON line with its memory readings."""
    from bench_pipeline import Plugin

    from aurelia_harness.config import RunConfig
    from aurelia_harness.plugins import discover
    from aurelia_harness.runner import Runner

    manifest = folder / "manifest.jsonl"
    registry = discover(modules=[Plugin(manifest, t_ms / 1000, 8)])
    out = Path(tempfile.mkdtemp(dir=folder))
    readings, done = {}, threading.Event()

    def watch():
        journal = out / "run" / "samples.jsonl"
        while not done.is_set():
            count = sum(1 for _ in open(journal, "rb")) if journal.exists() else 0
            for mark in (0.1, 0.5, 0.9):
                if mark not in readings and count >= mark * samples:
                    readings[mark] = rss_mb()
            time.sleep(0.05)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    cfg = RunConfig(models=["sleeper"], tasks=["pipeline"], strategies=["baseline"], output=out / "run",
                    cache_dir=folder / "cache", progress=False, concurrency=8, batch_size=4, prefetch=prefetch)
    Runner(cfg, registry, log=lambda m: None).run()
    done.set()
    thread.join()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"peak_mb": peak, "at": {str(k): v for k, v in sorted(readings.items())}}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=4500)
    parser.add_argument("--t-ms", type=float, default=1.0)
    parser.add_argument("--prefetch", type=int, default=8)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        folder, samples, t_ms, prefetch = args.child
        child(Path(folder), int(samples), float(t_ms), int(prefetch))
        return
    from aurelia_harness.media.ffmpeg_bin import ffmpeg_path

    folder = Path(tempfile.mkdtemp(prefix="avharness-prefetch-memory-"))
    (folder / "media").mkdir()
    for i in range(10):
        subprocess.run([ffmpeg_path(), "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10:d=4",
                        "-f", "lavfi", "-i", f"sine=frequency={300 + 50 * i}:duration=4", "-c:v", "libx264",
                        "-preset", "ultrafast", "-c:a", "aac", "-shortest", str(folder / "media" / f"c{i}.mp4")],
                       check=True)
    (folder / "manifest.jsonl").write_text("".join(json.dumps(
        {"id": f"q{i}", "question": "Which?", "options": ["a", "b"], "answer": "B",
         "media": [{"kind": "video", "path": f"media/c{i % 10}.mp4"}]}) + "\n" for i in range(args.samples)))
    results = {}
    for label, prefetch in (("warm-up", 0), ("without", 0), ("with", args.prefetch)):
        run = subprocess.run([sys.executable, __file__, "--child", str(folder), str(args.samples), str(args.t_ms),
                              str(prefetch)], capture_output=True, text=True, check=True)
        results[label] = json.loads(run.stdout.strip().splitlines()[-1])
    with_, without = results["with"], results["without"]
    marks = "/".join(f"{with_['at'].get(k, 0):.0f}" for k in ("0.1", "0.5", "0.9"))
    print(f"{args.samples} samples, prefetch {args.prefetch}: peak RSS {with_['peak_mb']:.0f} MB with, "
          f"{without['peak_mb']:.0f} MB without; with prefetch at 10/50/90%: {marks} MB")
    print(f"memory: samples={args.samples} peak_with_mb={with_['peak_mb']:.0f} peak_without_mb={without['peak_mb']:.0f} "
          f"ratio={with_['peak_mb'] / without['peak_mb']:.2f} with_10_50_90_mb={marks}")


if __name__ == "__main__":
    main()
