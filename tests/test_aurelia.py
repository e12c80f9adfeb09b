"""AURELIA driven by scripted agent models registered as plugins."""

import json

import pytest

import agents
from agents import AgentScript
from aurelia_harness.config import RunConfig
from aurelia_harness.plugins import discover
from aurelia_harness.replies import parse_reasoning, parse_score
from aurelia_harness.runner import Runner, distill
from aurelia_harness.types import MediaItem, Sample
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


def test_unreadable_scores_are_reasked_and_never_become_a_score(tmp_path, clips):
    AgentScript.reset(raw_scores=["I like it", "still no number", "8/10", "{'Score': 12}"])
    cfg, registry = setup(tmp_path, clips, n=1, threshold=9, max_iterations=2)
    _, recs = run(cfg, registry)
    trace = loop(recs[0])
    it1, it2 = trace["iterations"]
    assert it1["score"] is None and it1["score_parse_failed"] and trace["scores"] == [None, 8]
    assert "evaluator: re-asked" in it1["notes"] and any("parse failure" in n for n in it1["notes"])
    assert it2["score"] == 8 and not it2["score_parse_failed"]
    assert AgentScript.calls("evaluator-s") == 3  # one re-ask in iteration 1, none needed in 2
    # nothing was scored before iteration 2, so the reasoner starts afresh instead of hearing of a score
    reasoner = [t for n, t in AgentScript.seen if n == "reasoner-s"]
    assert "score" not in reasoner[1] and it2["feedback"] is None
    assert trace["chosen"] == 1 and trace["best_score"] == 8
    # the re-ask prompt shows real JSON, not the template's escaped braces
    reask = [t for n, t in AgentScript.seen if n == "evaluator-s"][1]
    assert '{"score": 7}' in reask and "{{" not in reask


def test_a_failed_evaluation_is_never_fed_back_as_a_score(tmp_path, clips):
    AgentScript.reset(raw_scores=['{"score": 4}', "no idea", "none", '{"score": 5}'])
    cfg, registry = setup(tmp_path, clips, n=1, threshold=9, max_iterations=3)
    _, recs = run(cfg, registry)
    trace = loop(recs[0])
    assert trace["scores"] == [4, None, 5] and trace["chosen"] == 2
    reasoner = [t for n, t in AgentScript.seen if n == "reasoner-s"]
    assert "received a score of 4 out of 10" in reasoner[1] and "STEP-1-A" in reasoner[1]
    # after iteration 2's failed evaluation: the last scored steps (iteration 1) with their real score
    assert "received a score of 4 out of 10" in reasoner[2] and "STEP-1-A" in reasoner[2]
    assert "STEP-2-A" not in reasoner[2]
    assert [it["feedback"] for it in trace["iterations"]] == [None, {"iteration": 1, "score": 4},
                                                              {"iteration": 1, "score": 4}]


def test_when_no_evaluation_succeeds_no_reasoning_reaches_the_target(tmp_path, clips):
    AgentScript.reset(raw_scores=["no number here"])
    cfg, registry = setup(tmp_path, clips, n=1, max_iterations=2)
    _, recs = run(cfg, registry)
    trace, answer = loop(recs[0]), answer_step(recs[0])
    assert trace["scores"] == [None, None] and trace["chosen"] is None and trace["best_score"] is None
    assert not answer["with_reasoning"] and "STEP-" not in answer["prompt"]
    AgentScript.reset(raw_scores=["no number here"])
    cfg, registry = setup(tmp_path / "drop", clips, n=1, max_iterations=2, below_threshold="drop")
    _, recs = run(cfg, registry)
    assert recs[0]["error"]["type"] == "below_threshold"
    assert recs[0]["error"]["message"].endswith("the evaluator gave no score")


def test_any_real_score_beats_an_unscored_iteration(tmp_path, clips):
    AgentScript.reset(raw_scores=["?", "?", '{"score": 1}'])
    cfg, registry = setup(tmp_path, clips, n=1, max_iterations=2)
    _, recs = run(cfg, registry)
    trace = loop(recs[0])
    assert trace["scores"] == [None, 1] and trace["chosen"] == 1  # even the lowest real score
    assert "STEP-2-A" in answer_step(recs[0])["prompt"] and "STEP-1-A" not in answer_step(recs[0])["prompt"]


def test_out_of_range_score_is_clamped_and_flagged(tmp_path, clips):
    AgentScript.reset(raw_scores=["```json\n{\"SCORE\": 14}\n```"])
    cfg, registry = setup(tmp_path, clips, n=1)
    _, recs = run(cfg, registry)
    it = loop(recs[0])["iterations"][0]
    assert it["score"] == 10 and any("clamped" in n for n in it["notes"])


LEAKY = "The answer is B. The final answer is B. B. B. B."


def test_unreadable_reasoning_is_reasked_recorded_and_never_shown(tmp_path, clips):
    AgentScript.reset(scores=[4], reasoner_raw=[LEAKY, LEAKY, None])  # iteration 1 twice unreadable, then JSON
    cfg, registry = setup(tmp_path, clips, n=1, max_iterations=2)
    result, recs = run(cfg, registry)
    trace = loop(recs[0])
    it1, it2 = trace["iterations"]
    assert not it1["reasoning_parse_ok"] and it1["steps"] == [] and "reasoner: re-asked" in it1["notes"]
    assert it1["caption"] is None and it1["score"] is None  # not summarized, not scored
    assert [c["role"] for c in it1["calls"]] == ["reasoner", "reasoner"]
    assert AgentScript.calls("summarizer-s") == 1 and AgentScript.calls("reasoner-s") == 3
    summarizer = [t for n, t in AgentScript.seen if n == "summarizer-s"][0]
    assert "answer is B" not in summarizer
    # below the threshold, keep_best: the only readable reasoning goes to the target, the leak never does
    assert trace["chosen"] == 1 and trace["scores"] == [None, 4]
    prompt = answer_step(recs[0])["prompt"]
    assert "STEP-3-A" in prompt and "answer is B" not in prompt
    assert result.results["results"][0]["strategy_summary"]["reasoning_parse_failures"] == 1


def test_when_no_reasoning_can_be_read_the_target_gets_the_plain_question(tmp_path, clips):
    AgentScript.reset(scores=[9], reasoner_raw=LEAKY)
    cfg, registry = setup(tmp_path, clips, n=1, max_iterations=2)
    _, recs = run(cfg, registry)
    trace, answer = loop(recs[0]), answer_step(recs[0])
    assert [it["reasoning_parse_ok"] for it in trace["iterations"]] == [False, False]
    assert trace["chosen"] is None and trace["reasoning_steps"] == []
    assert not answer["with_reasoning"] and "answer is B" not in answer["prompt"]
    assert AgentScript.calls("summarizer-s") == 0 and AgentScript.calls("evaluator-s") == 0
    target = [t for n, t in AgentScript.seen if n == "target-1"]
    assert len(target) == 1 and "answer is B" not in target[0]


def test_steps_never_carry_answers():
    r = parse_reasoning(json.dumps({"steps": [{"step": "Look at the screen", "answer": "red"},
                                              {"description": "Listen for a tone", "result": "a beep"},
                                              "Count the beeps -> 3", "So the answer is B"],
                                    "final_answer": "B"}))
    assert r.ok and r.steps == ["Look at the screen", "Listen for a tone", "Count the beeps"]
    assert r.step_answers == ["red", "a beep", "3", "B"] and r.final_answer == "B"
    # steps that only restate the final answer, or quote a longer one, are dropped
    r = parse_reasoning(json.dumps({"steps": ["Watch the colours", "Red then blue.", "It is the red square first"],
                                    "step_answers": ["red then blue"], "final_answer": "the red square first"}))
    assert r.steps == ["Watch the colours"] and any("dropped" in n for n in r.notes)
    # the released script's Task_1 given as an object of steps with their answers inside
    r = parse_reasoning(json.dumps({"Task_1": {"step_1": {"step": "see", "answer": "A1"},
                                               "step_2": {"step": "hear", "answer": "A2"}}, "Task_3": "A"}))
    assert r.steps == ["see", "hear"] and r.step_answers == ["A1", "A2"] and r.final_answer == "A"


def test_unstructured_reasoning_gives_no_steps():
    r = parse_reasoning(LEAKY)
    assert not r.ok and r.steps == [] and "no structure" in r.notes[0]
    r = parse_reasoning('{"steps": ["The answer is B"], "final_answer": "B"}')  # nothing left once answers go
    assert not r.ok and r.steps == []


def test_numeric_step_keys_are_ordered_by_number():
    steps = {f"step_{n}": f"s{n}" for n in (1, 2, 10, 3)}
    r = parse_reasoning(json.dumps({"steps": steps, "step_answers": {"2": "b", "10": "j", "1": "a"},
                                    "final_answer": "x"}))
    assert r.steps == ["s1", "s2", "s3", "s10"] and r.step_answers == ["a", "b", "j"]


def test_scores_round_half_up():
    assert [parse_score(t).score for t in ('{"score": 6.5}', '{"score": 5.5}', "7.49/10", "Score: 2.5")] == [7, 6, 7, 3]
    assert "rounded half up to 7" in parse_score("6.5").notes[-1]
    assert parse_score("I cannot tell").score is None


def test_early_stop_false_runs_every_iteration_and_takes_the_argmax(tmp_path, clips):
    AgentScript.reset(scores=[3, 7, 5, 9, 4])
    cfg, registry = setup(tmp_path, clips, n=1, threshold=6, early_stop=False)
    _, recs = run(cfg, registry)
    trace = loop(recs[0])
    assert trace["scores"] == [3, 7, 5, 9, 4] and trace["chosen"] == 3 and trace["reached_threshold"]
    assert recs[0]["usage"]["reasoner"]["calls"] == 5
    assert "STEP-4-A" in answer_step(recs[0])["prompt"]
    # `first` picks the first iteration at the threshold from the same reasoning, which is reused, not redone
    AgentScript.reset(scores=[1])
    cfg.strategy_settings["aurelia"]["selection"] = "first"
    cfg.output = tmp_path / "first"
    cfg.output.mkdir()
    (cfg.output / "reasoning.jsonl").write_text((tmp_path / "out" / "reasoning.jsonl").read_text())
    _, recs = run(cfg, registry)
    trace = loop(recs[0])
    assert AgentScript.calls("reasoner-s") == 0 and trace["source"] == "cache"
    assert trace["chosen"] == 1 and "STEP-2-A" in answer_step(recs[0])["prompt"]


def test_the_cache_key_holds_only_what_changes_the_agents_work(tmp_path, clips):
    registry = setup(tmp_path, clips, n=1)[1]
    Aurelia = registry.strategies["aurelia"]
    sample = Sample("s0", "t-mcq", "Which colour comes first?", (MediaItem("video", clips["av"]),), ("red", "blue"))
    base = {**SCRIPTED, "early_stop": False}
    key = Aurelia(base).work_key(sample)
    for setting, value in {"selection": "first", "below_threshold": "drop", "target_receives": "steps_and_answers",
                           "max_new_tokens": 8, "agent_timeout": 5.0, "threshold": 9}.items():
        assert Aurelia({**base, setting: value}).work_key(sample) == key, setting
    for setting, value in {"early_stop": True, "max_iterations": 2, "reasks": 0, "keyframes": "ssim",
                           "max_keyframes": 3, "reasoner_tokens": 9, "summarizer_tokens": 9, "evaluator_tokens": 9,
                           "reasoner": "other"}.items():
        assert Aurelia({**base, setting: value}).work_key(sample) != key, setting
    stopping = Aurelia({**base, "early_stop": True})
    assert Aurelia({**base, "early_stop": True, "threshold": 9}).work_key(sample) != stopping.work_key(sample)
    assert Aurelia({**base, "early_stop": "false"}).settings["early_stop"] is False
    with pytest.raises(ValueError, match="early_stop"):
        Aurelia({**base, "early_stop": "sometimes"})


def test_the_trace_keeps_every_prompt_and_every_replaced_reply(tmp_path, clips):
    AgentScript.reset(raw_scores=["hmm", '{"score": 8}'], reasoner_raw=["rambling", None])
    cfg, registry = setup(tmp_path, clips, n=1)
    _, recs = run(cfg, registry)
    it = loop(recs[0])["iterations"][0]
    assert [(c["role"], c["reask"]) for c in it["calls"]] == [
        ("reasoner", False), ("reasoner", True), ("summarizer", False), ("evaluator", False), ("evaluator", True)]
    assert [c["reply"] for c in it["calls"] if c["reask"] is False][0] == "rambling"
    assert it["calls"][3]["reply"] == "hmm" and it["calls"][4]["reply"] == '{"score": 8}'
    assert "could not be read" in it["calls"][1]["prompt"]
    assert [c["prompt"] for c in it["calls"]] == [t for n, t in AgentScript.seen if n != "target-1"]


def test_reasoning_is_computed_once_for_every_target_model(tmp_path, clips):
    AgentScript.reset(scores=[3, 7])
    cfg, registry = setup(tmp_path, clips, n=3, models=("target-1", "target-2"))
    result, recs = run(cfg, registry)
    assert AgentScript.calls("reasoner-s") == 6  # 3 samples x 2 iterations, for both targets together
    assert AgentScript.calls("target-1") == 3 and AgentScript.calls("target-2") == 3
    sources = {(r["model"], loop(r)["source"]) for r in recs}
    assert sources == {("target-1", "computed"), ("target-2", "cache")}
    for rec in recs:  # reused reasoning keeps its cost in the trace and charges no agent calls again
        assert loop(rec)["reasoning_usage"]["reasoner"]["calls"] == 2
        assert set(rec["usage"]) == ({"reasoner", "summarizer", "evaluator", "target"}
                                     if rec["model"] == "target-1" else {"target"})
    rows = {row["model"]: row["agents"] for row in result.results["results"] if "agents" in row}
    assert rows["target-1"]["calls_per_sample"] == 6 and "target-2" not in rows
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
    counts = distill(cfg, registry, out, "aurelia", log=lambda m: None)
    assert counts == {"samples": 3, "already": 0, "written": 3, "errors": 0}
    lines = [json.loads(l) for l in out.read_text().splitlines()]
    assert {"query", "video_path", "audio_path", "reasoning_steps", "step_answers", "final_answer", "caption",
            "scores"} <= set(lines[0])
    assert distill(cfg, registry, out, "aurelia", log=lambda m: None)["already"] == 3  # resumable
    AgentScript.reset(scores=[1, 1, 1])  # any recomputation would now choose different reasoning
    cfg.output, cfg.reasoning_file = tmp_path / "from-file", out
    _, second = run(cfg, registry)
    assert AgentScript.calls("reasoner-s") == 0
    assert all(set(r["usage"]) == {"target"} and loop(r)["source"] != "computed" for r in second)
    first, second = (sorted(recs, key=lambda r: r["sample_id"]) for recs in (first, second))  # journal order varies
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
    assert recs[0]["error"]["message"] == ("dropped (below_threshold = drop): no readable reasoning reached 6/10 "
                                           "in 1 iteration(s); best score 2/10")


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


def test_drop_leaves_coverage_below_full_and_pairs_on_the_samples_both_answered(tmp_path, clips):
    AgentScript.reset(scores={"Q0": [9], "Q1": [2], "Q2": [8], "Q3": [1]})
    cfg, registry = setup(tmp_path, clips, n=4, strategies=("baseline", "aurelia"), max_iterations=1,
                          below_threshold="drop")
    result, recs = run(cfg, registry)
    rows = {r["strategy"]: r for r in result.results["results"]}
    assert rows["aurelia"]["coverage"] == 0.5 and rows["aurelia"]["errors"] == 2
    assert rows["aurelia"]["error_types"] == {"below_threshold": 2} and rows["baseline"]["coverage"] == 1.0
    dropped = [r for r in recs if r["strategy"] == "aurelia" and r["error"]]
    assert all(loop(r)["scores"] for r in dropped)  # a dropped sample keeps its loop and its cost
    assert all(r["usage"]["reasoner"]["calls"] == 1 for r in dropped)
    pair = next(c for c in result.results["comparisons"] if c["b"] == "aurelia")
    assert pair["n"] == 2 and pair["errors_b"] == {"below_threshold": 2}
