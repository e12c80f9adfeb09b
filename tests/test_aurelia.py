"""AURELIA driven by scripted agent models registered as plugins."""

import json

import pytest

import agents
from agents import AgentScript
from aurelia_harness.config import RunConfig
from aurelia_harness.plugins import discover
from aurelia_harness.runner import Runner, distill
from test_runner import TaskPlugin, mcq, write_manifest

SCRIPTED = {"reasoner": "reasoner-s", "summarizer": "summarizer-s", "evaluator": "evaluator-s"}


def setup(tmp_path, clips, n=3, models=("target-1",), strategies=("aurelia",), **aurelia):
    manifest = write_manifest(tmp_path / "data", clips,
                              [mcq(i, question=f"Q{i}: which colour comes first?") for i in range(n)])
    registry = discover(modules=[agents, TaskPlugin(manifest)])
    cfg = RunConfig(models=list(models), tasks=["t-mcq"], strategies=list(strategies), output=tmp_path / "out",
                    progress=False, cache_dir=tmp_path / "cache",
                    strategy_settings={"aurelia": {**SCRIPTED, "max_iterations": 5, **aurelia}})
    return cfg, registry


def run(cfg, registry):
    result = Runner(cfg, registry, log=lambda m: None).run()
    recs = [json.loads(l) for l in (cfg.output / "samples.jsonl").read_text().splitlines()]
    return result, recs


def loop(record):
    return next(t for t in record["trace"] if t["step"] == "aurelia")


def answer_step(record):
    return next(t for t in record["trace"] if t["step"] == "answer")


def test_stops_at_the_iteration_that_crosses_the_threshold(tmp_path, clips):
    AgentScript.reset(scores=[3, 5, 7, 9])
    cfg, registry = setup(tmp_path, clips, n=2, threshold=6)
    result, recs = run(cfg, registry)
    for rec in recs:
        trace = loop(rec)
        assert trace["scores"] == [3, 5, 7] and trace["chosen"] == 2 and trace["reached_threshold"]
        assert rec["usage"]["reasoner"]["calls"] == 3 and rec["usage"]["summarizer"]["calls"] == 3
        assert rec["usage"]["evaluator"]["calls"] == 3 and rec["usage"]["target"]["calls"] == 1
    row = result.results["results"][0]
    assert row["agents"]["calls_per_sample"] == 9 and row["strategy_summary"]["mean_iterations"] == 3
    assert row["strategy_summary"]["reached_threshold"] == 1.0


def test_never_crossing_runs_every_iteration_and_picks_the_argmax(tmp_path, clips):
    AgentScript.reset(scores=[2, 5, 3, 1, 4])
    cfg, registry = setup(tmp_path, clips, n=1, threshold=6)
    _, recs = run(cfg, registry)
    trace = loop(recs[0])
    assert trace["scores"] == [2, 5, 3, 1, 4] and trace["chosen"] == 1 and not trace["reached_threshold"]
    assert trace["reasoning_steps"] == ["STEP-2-A watch Q0: which colour comes first?", "STEP-2-B listen"]


def test_target_gets_the_chosen_steps_only(tmp_path, clips):
    AgentScript.reset(scores=[4, 8])
    cfg, registry = setup(tmp_path, clips, n=1)
    _, recs = run(cfg, registry)
    prompt = answer_step(recs[0])["prompt"]
    assert "STEP-2-A" in prompt and "STEP-2-B" in prompt and "STEP-1-A" not in prompt
    assert "ANSWER-2" not in prompt and "FINAL-2" not in prompt
    target_prompts = [t for n, t in AgentScript.seen if n == "target-1"]
    assert len(target_prompts) == 1 and "STEP-2-A" in target_prompts[0]


def test_steps_and_answers_for_ablation(tmp_path, clips):
    AgentScript.reset(scores=[8])
    cfg, registry = setup(tmp_path, clips, n=1, target_receives="steps_and_answers")
    _, recs = run(cfg, registry)
    prompt = answer_step(recs[0])["prompt"]
    assert "STEP-1-A" in prompt and "ANSWER-1-A" in prompt and "FINAL-1" not in prompt


def test_feedback_prompts_carry_previous_steps_and_score(tmp_path, clips):
    AgentScript.reset(scores=[3, 7])
    cfg, registry = setup(tmp_path, clips, n=1)
    run(cfg, registry)
    reasoner = [t for n, t in AgentScript.seen if n == "reasoner-s"]
    assert len(reasoner) == 2
    assert "received a score" not in reasoner[0]
    assert "STEP-1-A watch" in reasoner[1] and "received a score of 3 out of 10" in reasoner[1]
    summarizer = [t for n, t in AgentScript.seen if n == "summarizer-s"]
    assert "ANSWER-1-A" in summarizer[0] and "FINAL-1" in summarizer[0]  # all three parts reach the summarizer
    evaluator = [t for n, t in AgentScript.seen if n == "evaluator-s"]
    assert "CAPTION[Q0: which colour comes first?]" in evaluator[0]


def test_unreadable_scores_are_reasked_then_counted_as_lowest(tmp_path, clips):
    AgentScript.reset(raw_scores=["I like it", "still no number", "8/10", "{'Score': 12}"])
    cfg, registry = setup(tmp_path, clips, n=1, threshold=9, max_iterations=2)
    _, recs = run(cfg, registry)
    it1, it2 = loop(recs[0])["iterations"]
    assert it1["score"] == 1 and it1["score_parse_failed"]
    assert "evaluator: re-asked" in it1["notes"] and any("parse failure" in n for n in it1["notes"])
    assert it2["score"] == 8 and not it2["score_parse_failed"]
    assert AgentScript.calls("evaluator-s") == 3  # one re-ask in iteration 1, none needed in 2


def test_out_of_range_score_is_clamped_and_flagged(tmp_path, clips):
    AgentScript.reset(raw_scores=["```json\n{\"SCORE\": 14}\n```"])
    cfg, registry = setup(tmp_path, clips, n=1)
    _, recs = run(cfg, registry)
    it = loop(recs[0])["iterations"][0]
    assert it["score"] == 10 and any("clamped" in n for n in it["notes"])


def test_unstructured_reasoning_is_reasked_and_recorded(tmp_path, clips):
    AgentScript.reset(scores=[8], reasoner_raw="I watched it and it was nice")
    cfg, registry = setup(tmp_path, clips, n=1)
    result, recs = run(cfg, registry)
    it = loop(recs[0])["iterations"][0]
    assert not it["reasoning_parse_ok"] and "reasoner: re-asked" in it["notes"]
    assert AgentScript.calls("reasoner-s") == 2
    assert result.results["results"][0]["strategy_summary"]["reasoning_parse_failures"] == 1


def test_reasoning_is_computed_once_for_every_target_model(tmp_path, clips):
    AgentScript.reset(scores=[3, 7])
    cfg, registry = setup(tmp_path, clips, n=3, models=("target-1", "target-2"))
    result, recs = run(cfg, registry)
    assert AgentScript.calls("reasoner-s") == 6  # 3 samples x 2 iterations, for both targets together
    assert AgentScript.calls("target-1") == 3 and AgentScript.calls("target-2") == 3
    sources = {(r["model"], loop(r)["source"]) for r in recs}
    assert sources == {("target-1", "computed"), ("target-2", "cache")}
    # a rerun with a third setting of the target side reads the output folder's reasoning.jsonl
    AgentScript.reset(scores=[3, 7])
    cfg.strategy_settings["aurelia"]["max_new_tokens"] = 32
    cfg.output = tmp_path / "out2"
    (tmp_path / "out2").mkdir()
    (tmp_path / "out2" / "reasoning.jsonl").write_text((tmp_path / "out" / "reasoning.jsonl").read_text())
    run(cfg, registry)
    assert AgentScript.calls("reasoner-s") == 0


def test_distill_then_run_with_the_file_reproduces_predictions(tmp_path, clips):
    AgentScript.reset(scores=[3, 7])
    cfg, registry = setup(tmp_path, clips, n=3)
    _, first = run(cfg, registry)
    AgentScript.reset(scores=[3, 7])
    out = tmp_path / "reasoning.jsonl"
    counts = distill(cfg, registry, out, log=lambda m: None)
    assert counts == {"samples": 3, "already": 0, "written": 3, "errors": 0}
    lines = [json.loads(l) for l in out.read_text().splitlines()]
    assert {"query", "video_path", "audio_path", "reasoning_steps", "step_answers", "final_answer", "caption",
            "scores"} <= set(lines[0])
    assert distill(cfg, registry, out, log=lambda m: None)["already"] == 3  # resumable
    AgentScript.reset(scores=[1, 1, 1])  # any recomputation would now choose different reasoning
    cfg.output, cfg.reasoning_file = tmp_path / "from-file", out
    _, second = run(cfg, registry)
    assert AgentScript.calls("reasoner-s") == 0
    assert [answer_step(r)["prompt"] for r in second] == [answer_step(r)["prompt"] for r in first]
    assert [r["prediction"] for r in second] == [r["prediction"] for r in first]


def test_below_threshold_fallbacks(tmp_path, clips):
    AgentScript.reset(scores=[2])
    cfg, registry = setup(tmp_path, clips, n=1, max_iterations=1, below_threshold="baseline")
    _, recs = run(cfg, registry)
    prompt = answer_step(recs[0])["prompt"]
    assert "STEP-" not in prompt and "Answer with the letter" in prompt
    AgentScript.reset(scores=[2])
    cfg, registry = setup(tmp_path / "drop", clips, n=1, max_iterations=1, below_threshold="drop")
    _, recs = run(cfg, registry)
    assert recs[0]["error"]["type"] == "below_threshold" and AgentScript.calls("target-1") == 0


def test_an_agent_that_raises_or_hangs_is_a_per_sample_error(tmp_path, clips):
    AgentScript.reset()
    cfg, registry = setup(tmp_path, clips, n=2, summarizer="raises-s")
    _, recs = run(cfg, registry)
    assert all(r["error"]["type"] == "RuntimeError" and "agent exploded" in r["error"]["message"] for r in recs)
    AgentScript.reset()
    cfg, registry = setup(tmp_path / "slow", clips, n=1, reasoner="sleepy-reasoner", agent_timeout=0.3)
    _, recs = run(cfg, registry)
    assert recs[0]["error"]["type"] == "agent_timeout"


def test_an_agent_that_cannot_load_skips_the_strategy_not_the_run(tmp_path, clips):
    AgentScript.reset(scores=[8])
    cfg, registry = setup(tmp_path, clips, n=2, strategies=("baseline", "aurelia"), evaluator="missing-agent")
    logs = []
    result = Runner(cfg, registry, log=logs.append).run()
    assert any("missing-agent" in m and "skipping aurelia" in m for m in logs)
    assert [r["strategy"] for r in result.results["results"]] == ["baseline"]
    assert result.results["model_problems"][0]["role"] == "aurelia.evaluator"


def test_unknown_agent_card_is_a_clear_configuration_error(tmp_path, clips):
    from aurelia_harness.errors import UnknownName

    cfg, registry = setup(tmp_path, clips, n=1, reasoner="reasoner-x")
    with pytest.raises(UnknownName, match="reasoner-s"):
        Runner(cfg, registry, log=lambda m: None).run()
    with pytest.raises(Exception, match="threshold"):
        setup(tmp_path, clips, n=1, threshold=11)[1].strategies["aurelia"]({"threshold": 11})


def test_changing_an_agent_card_changes_the_strategy_identity(tmp_path, clips):
    from aurelia_harness.errors import OutputConflict

    AgentScript.reset(scores=[8])
    cfg, registry = setup(tmp_path, clips, n=1)
    run(cfg, registry)
    cfg.model_overrides = {"evaluator-s": {"note": "another checkpoint"}}
    with pytest.raises(OutputConflict, match="strategy settings"):
        Runner(cfg, registry, log=lambda m: None).run()


def test_summary_reports_cost_and_the_paired_comparison(tmp_path, clips):
    AgentScript.reset(scores=[3, 7])
    cfg, registry = setup(tmp_path, clips, n=3, strategies=("baseline", "aurelia"))
    result, _ = run(cfg, registry)
    comparison = result.results["comparisons"][0]
    assert comparison["a"] == "baseline" and comparison["b"] == "aurelia" and comparison["n"] == 3
    assert comparison["test"] == "mcnemar_exact" and comparison["p_value"] == 1.0
    assert comparison["gain_per_agent_call"] == pytest.approx(0.0)
    summary = (cfg.output / "summary.md").read_text()
    assert "Agent cost per sample" in summary and "Paired with baseline" in summary
