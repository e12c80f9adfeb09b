"""AURELIA's agent loop with slow (server-like) agents: samples must overlap.

    .venv/bin/python benchmarks/bench_aurelia.py [--samples 32] [--sleep 0.05]

Every agent call (reasoner, summarizer, evaluator) and the target call sleep `--sleep` seconds, as a
request to a served model would; the evaluator's first score clears the threshold, so each sample costs
3 agent calls + 1 target call. The same 32 samples run at concurrency 1 and 8, side by side, with agents in
both execution modes of the model handle: parallel requests (API/server adapters) and batches (local
adapters, where one batch of up to 8 requests costs one sleep).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aurelia_harness import hookimpl  # noqa: E402
from aurelia_harness.cards import ModelCard  # noqa: E402
from aurelia_harness.config import RunConfig  # noqa: E402
from aurelia_harness.models import ModelAdapter  # noqa: E402
from aurelia_harness.plugins import discover  # noqa: E402
from aurelia_harness.runner import Runner  # noqa: E402
from aurelia_harness.tasks import ManifestTask  # noqa: E402
from aurelia_harness.types import Reply  # noqa: E402

SLEEP = [0.05]


def reply_for(text: str) -> str:
    if "Reply with one JSON object" in text:
        return json.dumps({"steps": ["look", "listen"], "step_answers": ["red", "two"], "final_answer": "B"})
    if "write a detailed caption" in text:
        return "A red screen and two beeps."
    if "Rate how well" in text:
        return '{"score": 8}'
    return "B"


class ServedAgent(ModelAdapter):
    parallel_requests = 16

    def generate_batch(self, requests):
        time.sleep(SLEEP[0])
        return [Reply(reply_for(r.messages[-1].text), input_tokens=10, output_tokens=5) for r in requests]


class LocalAgent(ServedAgent):
    parallel_requests = 0  # batches: one sleep per batch


class Plugin:
    def __init__(self, manifest):
        self.manifest = manifest

    @hookimpl
    def register_model_adapters(self, register):
        register("served", ServedAgent)
        register("local", LocalAgent)

    @hookimpl
    def register_model_cards(self, register):
        for kind in ("served", "local"):
            register(ModelCard(name=f"{kind}-agent", adapter=kind))
            register(ModelCard(name=f"{kind}-target", adapter=kind, options={"target": True}))

    @hookimpl
    def register_tasks(self, register):
        register(ManifestTask({"name": "bench", "answer_form": "mcq", "data": {"manifest": str(self.manifest)}}))


def once(registry, work: Path, kind: str, concurrency: int, samples: int) -> float:
    agent = f"{kind}-agent"
    cfg = RunConfig(models=[f"{kind}-target"], tasks=["bench"], strategies=["aurelia"], progress=False,
                    output=work / f"{kind}-c{concurrency}", cache_dir=work / "cache", concurrency=concurrency,
                    batch_size=8, strategy_settings={"aurelia": {"reasoner": agent, "summarizer": agent,
                                                                 "evaluator": agent}})
    start = time.perf_counter()
    result = Runner(cfg, registry, log=lambda m: None).run()
    elapsed = time.perf_counter() - start
    row = result.results["results"][0]
    assert row["n"] == samples and row["errors"] == 0 and row["agents"]["calls_per_sample"] == 3
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--sleep", type=float, default=0.05)
    args = parser.parse_args()
    SLEEP[0] = args.sleep
    work = Path(tempfile.mkdtemp(prefix="avharness-aurelia-bench-"))
    manifest = work / "manifest.jsonl"
    manifest.write_text("".join(json.dumps({"id": f"q{i}", "question": f"Question {i}?", "options": ["x", "y"],
                                            "answer": "B"}) + "\n" for i in range(args.samples)))
    registry = discover(modules=[Plugin(manifest)])
    floor = args.samples * 4 * args.sleep
    from aurelia_harness.report import versions

    versions()  # warm-up: the first report imports torch and transformers; keep that out of the timings
    for kind in ("served", "local"):
        t1 = once(registry, work, kind, 1, args.samples)
        t8 = once(registry, work, kind, 8, args.samples)
        print(f"{kind:6} agents, {args.samples} samples x 4 calls of {args.sleep * 1000:.0f} ms: concurrency 1 "
              f"{t1:.2f} s (serial floor {floor:.2f} s), concurrency 8 {t8:.2f} s -> {t1 / t8:.1f}x")


if __name__ == "__main__":
    main()
