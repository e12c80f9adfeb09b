"""Loading a 4,500-line manifest and planning 19 models x 2 strategies over it; memory while records stream.

    .venv/bin/python benchmarks/bench_manifest.py [--samples 4500]

Planning: read and check the manifest, build the plan, and compute every model x task x strategy x sample
resume key (what the runner does before any model work). Streaming: a model that answers instantly runs over
all samples while a thread samples the process's RSS; records go to the journal as they finish, so RSS
should stay flat.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _instant import InstantPlugin  # noqa: E402
from aurelia_harness.config import RunConfig  # noqa: E402
from aurelia_harness.journal import record_key  # noqa: E402
from aurelia_harness.plugins import discover  # noqa: E402
from aurelia_harness.runner import Runner, build_plan  # noqa: E402

MODELS = [f"model-{i:02d}" for i in range(19)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=4500)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="avharness-manifest-"))
    manifest = work / "manifest.jsonl"
    (work / "media").mkdir()
    manifest.write_text("".join(json.dumps({
        "id": f"q{i:05d}", "question": f"Which instrument starts first in clip {i}?", "options": ["piano", "violin", "drums"],
        "answer": "ABC"[i % 3], "media": [{"kind": "video", "path": f"media/{i:05d}.mp4"},
                                         {"kind": "audio", "path": f"media/{i:05d}.wav"}],
        "category": "Musical Performances", "reasoning": "step one. step two."}) + "\n" for i in range(args.samples)))
    registry = discover(modules=[InstantPlugin(manifest, MODELS, task="big")])
    cfg = RunConfig(models=MODELS, tasks=["big"], strategies=["baseline", "cot"],
                    output=work / "out", cache_dir=work / "cache", progress=False)
    start = time.perf_counter()
    plan = build_plan(cfg, registry)
    keys = {record_key(c.hash, t.name, s.hash, x.id) for c, t, s, x in plan.items()}
    elapsed = time.perf_counter() - start
    print(f"load {args.samples}-line manifest + plan 19 models x 2 strategies ({len(keys)} work items): {elapsed:.2f} s")

    # streaming: media checks are skipped here (the files are placeholders); one model, instant answers
    import aurelia_harness.runner as runner_module

    runner_module._media_precheck = lambda sample: None
    process = psutil.Process()
    samples, done = [], threading.Event()

    def watch():
        while not done.is_set():
            samples.append(process.memory_info().rss / 2 ** 20)
            time.sleep(0.1)

    thread = threading.Thread(target=watch, daemon=True)
    cfg = RunConfig(models=["model-00"], tasks=["big"], strategies=["baseline"], output=work / "stream",
                    cache_dir=work / "cache", progress=False, concurrency=8)
    from aurelia_harness.report import versions

    versions()  # import torch and transformers before measuring
    thread.start()
    start = time.perf_counter()
    Runner(cfg, registry, log=lambda m: None).run()
    done.set()
    thread.join()
    n = len(samples)
    marks = {f"{p}%": samples[min(n - 1, int(n * p / 100))] for p in (10, 50, 90)}
    print(f"streamed {args.samples} records in {time.perf_counter() - start:.2f} s; RSS MiB at " +
          ", ".join(f"{k} {v:.0f}" for k, v in marks.items()) + f"; max {max(samples):.0f}")


if __name__ == "__main__":
    main()
