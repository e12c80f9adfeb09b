"""replies.py: scores and reasoning read from agents' and judges' replies."""

import json

from aurelia_harness.replies import parse_reasoning, parse_score, rationale


def test_scores_from_json_fences_prose_and_fractions():
    cases = {'```json\n{"score": 8}\n```': 8, "I would rate it 7/10.": 7, "Score: 9": 9, '{"Score": "6"}': 6}
    for text, expected in cases.items():
        assert parse_score(text).score == expected, text
    assert parse_score("eleven out of ten!").score is None
    clamped = parse_score('{"score": 14}')
    assert clamped.score == 10 and "clamped" in clamped.notes[-1]  # said, so a trace shows it


def test_rationale_is_read_when_present():
    assert rationale('{"score": 3, "rationale": "misses the tone"}') == "misses the tone"
    assert rationale("just a number 3") is None


def test_reasoning_keeps_steps_apart_from_answers():
    parsed = parse_reasoning(json.dumps({"steps": ["Look at the first colour", "Listen to the tone"],
                                         "step_answers": ["red", "low"], "final_answer": "B"}))
    assert parsed.ok and parsed.steps == ["Look at the first colour", "Listen to the tone"]
    assert parsed.step_answers == ["red", "low"] and parsed.final_answer == "B"
    assert not parse_reasoning("no structure here at all").ok
