"""Harness overhead per sample: the whole runner path (plan, strategy, model handle, scoring, fsynced
journal append, report) around a model that answers instantly.

    .venv/bin/python benchmarks/bench_overhead.py [--samples 2000] [--concurrency 8]

Also reports the share of the time spent in the journal's fsync, measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _instant import InstantPlugin  # noqa: E402
from aurelia_harness.config import RunConfig  # noqa: E402
from aurelia_harness.plugins import discover  # noqa: E402
from aurelia_harness.runner import Runner  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="avharness-overhead-"))
    manifest = work / "manifest.jsonl"
    manifest.write_text("".join(json.dumps({"id": f"q{i}", "question": f"Question {i}?", "options": ["x", "y", "z"],
                                            "answer": "B"}) + "\n" for i in range(args.samples)))
    registry = discover(modules=[InstantPlugin(manifest, ["instant"])])
    fsync_time = [0.0]
    real_fsync = os.fsync

    def counting_fsync(fd):
        start = time.perf_counter()
        real_fsync(fd)
        fsync_time[0] += time.perf_counter() - start

    os.fsync = counting_fsync
    cfg = RunConfig(models=["instant"], tasks=["bench"], strategies=["baseline"], output=work / "out",
                    progress=False, cache_dir=work / "cache", concurrency=args.concurrency)
    start = time.perf_counter()
    result = Runner(cfg, registry, log=lambda m: None).run()
    elapsed = time.perf_counter() - start
    os.fsync = real_fsync
    assert result.results["results"][0]["n"] == args.samples
    per = elapsed / args.samples * 1000
    print(f"{args.samples} samples at concurrency {args.concurrency}: {elapsed:.2f} s, {per:.2f} ms per sample "
          f"({fsync_time[0] / args.samples * 1000:.2f} ms of it in fsync)")


if __name__ == "__main__":
    main()
