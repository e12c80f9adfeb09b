"""tasks.py: the manifest reader, answer forms stamped on samples, scoring per form, settings, and the
scoring stage with a judge bound by role."""

import asyncio
import json

import pytest

from aurelia_harness.config import RunConfig
from aurelia_harness.errors import ConfigError
from aurelia_harness.strategy import Context, SettingsError
from aurelia_harness.tasks import ManifestTask, read_manifest
from aurelia_harness.types import Reply


def write(tmp_path, lines):
    path = tmp_path / "manifest.jsonl"
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def test_bad_lines_become_problems_with_their_line_numbers(tmp_path):
    path = write(tmp_path, [{"id": "a", "question": "q", "answer": "x"}, "{not json", {"id": "b", "answer": 1},
                            {"id": "a", "question": "q", "answer": "y"},
                            {"id": "c", "question": "q", "answer": "x", "media": [{"kind": "video", "path": "../up.mp4"}]},
                            {"id": "d", "question": "q", "options": ["r", "g"], "answer": "C"}])
    data = read_manifest(path, "t")
    assert [s.id for s in data.samples] == ["a"]
    problems = {p.where: p.message for p in data.problems}
    assert "not valid JSON" in problems["manifest.jsonl:2"] and "missing field(s): question" in problems["manifest.jsonl:3"]
    assert "duplicate id" in problems["manifest.jsonl:4"] and "leaves the dataset folder" in problems["manifest.jsonl:5"]
    assert "not one of the option letters A, B" in problems["manifest.jsonl:6"]


def test_answer_forms_are_stamped_and_scored_per_form(tmp_path):
    path = write(tmp_path, [{"id": "m", "question": "q", "options": ["red", "blue"], "answer": "b"},
                            {"id": "o", "question": "q", "answer": "three"}])
    task = ManifestTask({"name": "t", "answer_form": "auto", "synonyms": {"3": "three"},
                         "data": {"manifest": str(path)}})
    samples = {s.id: s for s in task.load_samples(RunConfig()).samples}
    assert samples["m"].answer_form == "mcq" and samples["o"].answer_form == "open"
    assert samples["m"].answer == "B"
    right = task.score(samples["m"], "The answer is (B).")
    assert (right.value, right.parsed, right.unparseable) == (1.0, "B", False)
    assert task.score(samples["m"], "I cannot tell from this clip.").unparseable
    assert task.score(samples["o"], "Answer: 3").value == 1.0
    assert not task.is_graded and task.metric == "accuracy"


def test_task_settings_are_checked_and_point_the_task_elsewhere(tmp_path):
    elsewhere = write(tmp_path, [{"id": "z", "question": "q", "answer": "x"}])
    task = ManifestTask({"name": "t", "answer_form": "open", "data": {"manifest": "nowhere.jsonl"}})
    assert task.load_samples(RunConfig(data_root=tmp_path / "none")).problems[0].message.startswith("manifest not found")
    task.configure({"manifest": str(elsewhere)})
    assert [s.id for s in task.load_samples(RunConfig()).samples] == ["z"]
    with pytest.raises(SettingsError, match=r"task 't': unknown setting\(s\) manifets in \[task.t\]; known: answer_judge, judge, manifest"):
        task.configure({"manifets": "x"})
    with pytest.raises(ConfigError, match="a judge needs a judge_rubric file"):
        task.configure({"judge": "some-card"})


class Judge:
    name = "judge-card"

    def __init__(self, *replies):
        self.replies = list(replies)
        self.seen = []

    async def generate(self, request):
        self.seen.append(request)
        return Reply(self.replies.pop(0), 5, 3, 0.1)


def judged_task(tmp_path):
    (tmp_path / "rubric.txt").write_text("References:\n{references}\nCaption to grade: {prediction}\nScore 1-10.")
    path = write(tmp_path, [{"id": "c", "question": "Describe it.", "answer": {"references": ["a red screen"]}}])
    return ManifestTask({"name": "cap", "answer_form": "caption", "metric": "rouge_l", "judge": "judge-card",
                         "judge_rubric": "rubric.txt", "data": {"manifest": str(path)}}, str(tmp_path / "cap.toml"))


def test_the_judge_comes_by_role_and_its_cost_lands_in_the_sample_ledger(tmp_path):
    task = judged_task(tmp_path)
    sample = task.load_samples(RunConfig()).samples[0]
    assert task.roles() == {"judge": "judge-card"} and task.is_graded
    judge = Judge("no idea", '{"score": 8, "rationale": "names the colour"}')
    ctx = Context(models={"judge": judge})
    score = asyncio.run(task.grade(sample, "Answer: a red screen", ctx))
    assert score.value == pytest.approx(0.8) and not score.unparseable
    assert score.detail["judge"]["replies"] == ["no idea", '{"score": 8, "rationale": "names the colour"}']
    assert score.detail["judge"]["rationale"] == "names the colour" and score.detail["judge"]["automatic"] == 1.0
    assert ctx.usage["judge"]["calls"] == 2 and "Caption to grade: a red screen" in judge.seen[0].messages[-1].text


def test_without_its_judge_the_task_scores_automatically_and_says_so(tmp_path):
    task = judged_task(tmp_path)
    sample = task.load_samples(RunConfig()).samples[0]
    ctx = Context()
    score = asyncio.run(task.grade(sample, "a red screen", ctx))
    assert score.value == 1.0 and ctx.notes == ["judge judge-card unavailable: scored with rouge_l"]
    unreadable = asyncio.run(task.grade(sample, "a red screen", Context(models={"judge": Judge("hm", "hmm")})))
    assert unreadable.unparseable and unreadable.value == 0.0


def test_the_answer_judge_reads_only_what_the_rules_could_not_settle(tmp_path):
    path = write(tmp_path, [{"id": "m", "question": "Which sound comes first?", "options": ["a dog", "a car", "a bell"],
                             "answer": "B"}])
    task = ManifestTask({"name": "t", "answer_form": "mcq", "data": {"manifest": str(path)}})
    task.configure({"answer_judge": "reader-card"})
    assert task.roles() == {"answer_judge": "reader-card"}
    sample = task.load_samples(RunConfig()).samples[0]
    reader = Judge("B", "B", "B")
    ctx = Context(models={"answer_judge": reader})
    unsettled = asyncio.run(task.grade(sample, "It is either B or maybe C, hard to say.", ctx))
    assert (unsettled.value, unsettled.parsed, unsettled.detail["rule"]) == (1.0, "B", "answer_judge")
    assert ctx.usage["answer_judge"]["calls"] == 1 and "hard to say" in reader.seen[0].messages[-1].text
    settled = asyncio.run(task.grade(sample, "The answer is A.", ctx))
    refused = asyncio.run(task.grade(sample, "I cannot tell from this clip.", ctx))
    assert settled.parsed == "A" and refused.unparseable and ctx.usage["answer_judge"]["calls"] == 1
    off = asyncio.run(task.grade(sample, "It is either B or maybe C, hard to say.", Context()))
    assert off.unparseable  # off by default: no model bound, no call
